package cuda

// Tests and benchmarks on a GPU. Without one they skip with the probe's
// reason, or fail when DLLMBENCH_REQUIRE_GPU=1. Each comparison logs the op,
// the shapes, the relative error, the largest absolute error and the first
// element out of bounds, so that one run on the GPU machine says what is
// wrong.

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"

	"dllmbench/compute"
	"dllmbench/compute/computetest"
	"dllmbench/compute/cpu"
	"dllmbench/internal/cuda"
)

func requireGPU(t testing.TB) {
	t.Helper()
	r := cuda.Probe()
	if r.Err != nil {
		if os.Getenv("DLLMBENCH_REQUIRE_GPU") == "1" {
			t.Fatalf("DLLMBENCH_REQUIRE_GPU=1 but CUDA is unusable:\n%s", r)
		}
		t.Skipf("no usable CUDA: %v", r.Err)
	}
}

func newBackend(t testing.TB) *Backend {
	t.Helper()
	requireGPU(t)
	b, err := New(0)
	if err != nil {
		t.Fatalf("New(0): %v", err)
	}
	b.enableExperimental() // test every kernel, the ones off by default too
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func newCPU(t testing.TB) *cpu.Backend {
	c := cpu.New(0)
	t.Cleanup(c.Close)
	return c
}

// compare checks got against want: norm-wise relative error within tol,
// and reports where it is not.
func compare(t *testing.T, name string, got, want []float32, tol float64) {
	t.Helper()
	w64 := make([]float64, len(want))
	scale := 0.0
	for i, v := range want {
		w64[i] = float64(v)
		scale = max(scale, math.Abs(float64(v)))
	}
	rel, maxAbs := computetest.RelErr(got, w64)
	if rel <= tol {
		t.Logf("%s: relative error %.3g, max abs %.3g", name, rel, maxAbs)
		return
	}
	first := -1
	for i := range got {
		d := math.Abs(float64(got[i]) - w64[i])
		if math.IsNaN(float64(got[i])) || d > 10*tol*scale {
			first = i
			break
		}
	}
	if first < 0 {
		t.Errorf("%s: relative error %.3g (max abs %.3g, |want| ≤ %.3g) exceeds %.1g", name, rel, maxAbs, scale, tol)
		return
	}
	t.Errorf("%s: relative error %.3g (max abs %.3g, |want| ≤ %.3g) exceeds %.1g; first bad element %d of %d: got %v, want %v",
		name, rel, maxAbs, scale, tol, first, len(got), got[first], want[first])
}

func read(t testing.TB, b compute.Backend, x compute.Tensor) []float32 {
	t.Helper()
	return computetest.Download(t, b, x)
}

func TestConformance(t *testing.T) {
	b := newBackend(t)
	t.Logf("device: %+v", b.Device())
	computetest.Run(t, b, computetest.Default)
	if err := b.Sync(); err != nil {
		t.Fatalf("Sync after the suite: %v", err)
	}
}

// The project reports rather than requires batch-invariance on CUDA: the
// GEMV path (≤ 8 rows) and every other kernel are row-independent by
// construction, cuBLAS need not be.
func TestRowAgreement(t *testing.T) {
	b := newBackend(t)
	got := computetest.RowAgreement(t, b)
	t.Logf("batched rows agree bit for bit with rows alone on %.4f of elements", got)
	if got != 1 {
		t.Logf("NOTE: row agreement below 1 (allowed on CUDA, but every op in RowAgreement uses row-independent kernels)")
	}
}

func TestMatMulShapes(t *testing.T) {
	b, c := newBackend(t), newCPU(t)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range []struct {
		dt      compute.DType
		n, k, m int
		why     string
	}{
		{compute.BF16, 1, 4096, 64, "GEMV, four 16-byte chunks in flight per lane"},
		{compute.BF16, 8, 4096, 72, "tensor-core GEMV with the most rows"},
		{compute.BF16, 2, 4096, 1000, "tensor-core GEMV with the fewest rows, m not a multiple of 16"},
		{compute.F16, 4, 96, 300, "tensor-core GEMV, half, three chunks of k"},
		{compute.BF16, 6, 14336, 4100, "tensor-core GEMV, a down projection's k"},
		{compute.F16, 5, 1000, 33, "SIMT GEMV (k not a multiple of 32), lanes leave the unrolled loop at different points"},
		{compute.F32, 3, 4100, 17, "GEMV over float32 weights"},
		{compute.BF16, 2, 2052, 9, "GEMV, k not a multiple of 8: scalar loads"},
		{compute.F16, 7, 14336, 40, "tensor-core GEMV, half, a down projection's k"},
		{compute.BF16, 9, 4096, 256, "skinny with the fewest rows, 8 splits"},
		{compute.F16, 64, 512, 300, "skinny, half, the most rows"},
		{compute.BF16, 40, 1000, 1, "skinny, one output column"},
		{compute.BF16, 65, 512, 300, "cuBLAS with the fewest rows"},
		{compute.F16, 70, 512, 300, "cuBLAS, half"},
		{compute.F32, 33, 4096, 100, "cuBLAS, float32, no TF32"},
		{compute.BF16, 2500, 14336, 8, "cuBLAS over two slices of the scratch"},
		{compute.BF16, 12, 0, 5, "k = 0 gives zeros"},
		{compute.F32, 2, 0, 3, "k = 0 on the GEMV path"},
	} {
		name := fmt.Sprintf("MatMul %v %d×%d·(%d×%d)ᵀ (%s)", s.dt, s.n, s.k, s.m, s.k, s.why)
		xv, wv := computetest.Random(rng, s.n*s.k, 1), computetest.Random(rng, s.m*s.k, 0.1)
		out := b.Alloc(compute.F32, s.n, s.m)
		computetest.Poison(b, out)
		b.MatMul(out, computetest.Upload(b, compute.F32, s.n, s.k, xv), computetest.Upload(b, s.dt, s.m, s.k, wv))
		ref := c.Alloc(compute.F32, s.n, s.m)
		c.MatMul(ref, computetest.Upload(c, compute.F32, s.n, s.k, xv), computetest.Upload(c, s.dt, s.m, s.k, wv))
		tol := 1e-5 // float32 weights, or any weights on the SIMT GEMV, which reads them exactly
		if s.dt != compute.F32 && (s.n > gemvMaxRows || s.n >= b.gmMin && s.k%32 == 0) {
			tol = 1e-2 // the tensor-core GEMV, skinny and cuBLAS multiply x rounded to the weights' 16 bits
		}
		compare(t, name, read(t, b, out), read(t, c, ref), tol)
	}

	// x one element off a 16-byte boundary: the GEMV takes the scalar path.
	const k, m = 4096, 24
	xv, wv := computetest.Random(rng, k+1, 1), computetest.Random(rng, m*k, 0.1)
	big := computetest.Upload(b, compute.F32, 1, k+1, xv)
	x := big.Reshape(k+1, 1).Slice(1, k+1).Reshape(1, k)
	out := b.Alloc(compute.F32, 1, m)
	computetest.Poison(b, out)
	b.MatMul(out, x, computetest.Upload(b, compute.BF16, m, k, wv))
	ref := c.Alloc(compute.F32, 1, m)
	c.MatMul(ref, computetest.Upload(c, compute.F32, 1, k, xv[1:]), computetest.Upload(c, compute.BF16, m, k, wv))
	compare(t, "MatMul BF16 1×4096 with x at a 4-byte offset", read(t, b, out), read(t, c, ref), 1e-5)
}

func TestAttentionShapes(t *testing.T) {
	b, c := newBackend(t), newCPU(t)
	rng := rand.New(rand.NewPCG(7, 8))
	nan := float32(math.NaN())
	for _, s := range []struct {
		name               string
		nb, n, T           int
		heads, kvHeads, hd int
		causal             bool
		span, qpos         []int32 // qpos nil: the last n slots of each row
		hide               bool    // NaN in every slot outside the spans
	}{
		{name: "decode, LLaMA-3 heads, 300 slots", nb: 1, n: 1, T: 300, heads: 32, kvHeads: 8, hd: 128, causal: true, span: []int32{0, 300}},
		{name: "decode batch with left padding", nb: 3, n: 1, T: 77, heads: 8, kvHeads: 2, hd: 64, causal: true,
			span: []int32{5, 77, 0, 77, 40, 77}},
		{name: "causal prefill", nb: 2, n: 40, T: 40, heads: 4, kvHeads: 4, hd: 128, causal: true, span: []int32{0, 40, 3, 40}},
		{name: "diffusion block over a prefix", nb: 1, n: 96, T: 128, heads: 4, kvHeads: 1, hd: 128, causal: false, span: []int32{0, 128}},
		{name: "heads of 256 (shared memory opt-in)", nb: 1, n: 9, T: 50, heads: 2, kvHeads: 1, hd: 256, causal: false, span: []int32{0, 50}},
		{name: "heads of 96", nb: 1, n: 3, T: 70, heads: 2, kvHeads: 2, hd: 96, causal: true, span: []int32{0, 70}},
		{name: "many tiles, a partial last one", nb: 1, n: 5, T: 1000, heads: 2, kvHeads: 1, hd: 64, causal: true, span: []int32{1, 1000}},
		{name: "a causal query before the span sees nothing", nb: 1, n: 2, T: 10, heads: 2, kvHeads: 1, hd: 32, causal: true,
			span: []int32{5, 10}, qpos: []int32{2, 7}},
		{name: "NaN outside the spans is never read", nb: 2, n: 3, T: 20, heads: 4, kvHeads: 2, hd: 64, causal: true,
			span: []int32{4, 20, 0, 12}, qpos: []int32{17, 18, 19, 9, 10, 11}, hide: true},
		{name: "decode over 640 of 4096 slots: 32 splits, most of them empty", nb: 1, n: 1, T: 4096, heads: 8, kvHeads: 2,
			hd: 128, causal: true, span: []int32{0, 640}, qpos: []int32{639}},
		{name: "decode batch, spans of different lengths, 5 splits", nb: 3, n: 2, T: 600, heads: 4, kvHeads: 1, hd: 64,
			causal: true, span: []int32{10, 600, 0, 100, 300, 301}, qpos: []int32{598, 599, 98, 99, 299, 300}, hide: true},
		{name: "splits with a query that sees nothing", nb: 1, n: 2, T: 300, heads: 2, kvHeads: 1, hd: 32, causal: true,
			span: []int32{150, 300}, qpos: []int32{20, 200}},
		// The decode kernel: heads of 64 or 128, at most 4 queries per row.
		{name: "decode kernel: a causal query before the span sees nothing", nb: 1, n: 2, T: 10, heads: 2, kvHeads: 1, hd: 128,
			causal: true, span: []int32{5, 10}, qpos: []int32{2, 7}},
		{name: "decode kernel: splits, queries that see nothing, NaN outside", nb: 2, n: 4, T: 300, heads: 4, kvHeads: 2, hd: 64,
			causal: true, span: []int32{150, 300, 0, 299}, qpos: []int32{20, 200, 250, 299, 5, 100, 200, 298}, hide: true},
		{name: "decode kernel: bidirectional, odd spans, one of one slot", nb: 3, n: 1, T: 517, heads: 4, kvHeads: 4, hd: 128,
			causal: false, span: []int32{0, 517, 100, 101, 3, 400}, hide: true},
		// Its four-query form: up to 32 queries per row.
		{name: "decode4: a LLaDA dual-cache block, 32 queries over 256 slots", nb: 1, n: 32, T: 256, heads: 4, kvHeads: 4, hd: 128,
			causal: false, span: []int32{0, 256}},
		{name: "decode4: causal blocks of 13, padding, NaN outside, 3 splits", nb: 2, n: 13, T: 700, heads: 4, kvHeads: 1, hd: 64,
			causal: true, span: []int32{100, 700, 0, 650}, hide: true},
		{name: "decode4: causal queries before the span see nothing", nb: 1, n: 6, T: 40, heads: 2, kvHeads: 2, hd: 128,
			causal: true, span: []int32{20, 40}, qpos: []int32{5, 15, 19, 20, 30, 39}},
		// The tiled kernel: heads of 64 or 128, at least 64 queries per row.
		{name: "tiled: a LLaDA step, 256 queries over 256 slots, 2 splits", nb: 1, n: 256, T: 256, heads: 4, kvHeads: 1, hd: 128,
			causal: false, span: []int32{0, 256}},
		{name: "tiled: causal prefill, heads of 64, a partial query tile", nb: 2, n: 100, T: 130, heads: 2, kvHeads: 2, hd: 64,
			causal: true, span: []int32{0, 130, 30, 130}},
		{name: "tiled: NaN outside the spans is never read", nb: 2, n: 64, T: 200, heads: 2, kvHeads: 1, hd: 128, causal: true,
			span: []int32{10, 150, 0, 200}, hide: true},
		{name: "tiled: bidirectional, NaN outside, partial last tile", nb: 2, n: 70, T: 150, heads: 2, kvHeads: 2, hd: 128,
			causal: false, span: []int32{7, 140, 0, 1}, hide: true},
		{name: "tiled: queries before the span see nothing, 2 splits", nb: 1, n: 64, T: 200, heads: 2, kvHeads: 1, hd: 128,
			causal: true, span: []int32{100, 200}, qpos: seq(50, 64)},
		{name: "tiled: one split, 256 blocks", nb: 1, n: 1024, T: 300, heads: 16, kvHeads: 4, hd: 64, causal: false,
			span: []int32{0, 300}},
		{name: "tiled: a causal prefill of 512, grouped heads", nb: 1, n: 512, T: 512, heads: 8, kvHeads: 2, hd: 128, causal: true,
			span: []int32{0, 512}},
		{name: "tiled: 16 queries, 3 of 4 warps idle, 4 splits", nb: 2, n: 16, T: 257, heads: 4, kvHeads: 4, hd: 128, causal: false,
			span: []int32{0, 257, 1, 200}, hide: true},
	} {
		rows := s.nb * s.n
		qpos := s.qpos
		if qpos == nil {
			qpos = make([]int32, rows)
			for r := range qpos {
				qpos[r] = int32(s.T - s.n + r%s.n)
			}
		}
		kvc := s.kvHeads * s.hd
		qv := computetest.Random(rng, rows*s.heads*s.hd, 1)
		kv, vv := computetest.Random(rng, s.nb*s.T*kvc, 1), computetest.Random(rng, s.nb*s.T*kvc, 1)
		if s.hide {
			for bi := range s.nb {
				for j := range s.T {
					if j < int(s.span[2*bi]) || j >= int(s.span[2*bi+1]) {
						for d := range kvc {
							kv[(bi*s.T+j)*kvc+d], vv[(bi*s.T+j)*kvc+d] = nan, nan
						}
					}
				}
			}
		}
		for _, cdt := range []compute.DType{compute.F32, compute.BF16} {
			run := func(be compute.Backend) []float32 {
				out := be.Alloc(compute.F32, rows, s.heads*s.hd)
				computetest.Poison(be, out)
				be.Attention(out, computetest.Upload(be, compute.F32, rows, s.heads*s.hd, qv),
					computetest.Upload(be, cdt, s.nb*s.T, kvc, kv), computetest.Upload(be, cdt, s.nb*s.T, kvc, vv),
					computetest.UploadI32(be, qpos), computetest.UploadI32(be, s.span), s.heads, s.kvHeads, s.causal)
				return read(t, be, out)
			}
			name := fmt.Sprintf("Attention %s: %d rows × %d queries, %d slots, heads %d/%d of %d, causal %v, %v caches",
				s.name, s.nb, s.n, s.T, s.heads, s.kvHeads, s.hd, s.causal, cdt)
			// Every kernel widens bfloat16 caches exactly and computes in
			// float32, except the tensor-core one (q and the probabilities
			// rounded to bfloat16).
			tol := 1e-5
			mma := cdt == compute.BF16 && s.n >= b.attnTiledMin && s.n > b.attnDecode4Max && attnTiledIndex(s.hd) >= 0
			if mma {
				tol = 1e-2
			}
			want := run(c)
			got := run(b)
			compare(t, name, got, want, tol)
			if mma { // both forms of the tensor-core kernel, whichever the shape takes
				for _, groups := range []int{1, 2, 4} {
					b.attnMMAGroups = groups
					compare(t, fmt.Sprintf("%s, %d groups of warps", name, groups), run(b), want, tol)
				}
				b.attnMMAGroups = 0
				b.attnOneChunk = 0 // chunks wherever the blocks are few, as for rows of more than attnMMAOneChunk slots
				compare(t, name+", split as a longer row", run(b), want, tol)
				b.attnOneChunk = attnMMAOneChunk
			}
			b.attnCounters = 0 // splits merged by the combine kernel, not in the kernel
			compare(t, name+", no merge counters", run(b), want, tol)
			b.attnCounters = skinnyCounters
			if s.n <= b.attnDecodeMax && (s.heads/s.kvHeads)%attnDecodeGroup == 0 && attnTiledIndex(s.hd) >= 0 {
				// Both forms of the decode kernel, a block per group of
				// heads and per head: the same sums in the same order.
				auto := b.attnGroupBlocks
				b.attnGroupBlocks = 0
				group := run(b)
				b.attnGroupBlocks = math.MaxInt
				compare(t, name+", a block per group of heads", group, want, tol)
				compare(t, name+", a block per group of heads against one per head", group, run(b), 0)
				b.attnGroupBlocks = auto
			}
			if s.n <= b.attnDecode4Max && attnTiledIndex(s.hd) >= 0 { // and on the kernel the decode kernel replaces
				b.attnDecodeMax, b.attnDecode4Max = 0, 0
				if s.n >= b.attnTiledMin && cdt == compute.BF16 {
					tol = 1e-2
				}
				compare(t, name+", without the decode kernel", run(b), want, tol)
				b.attnDecodeMax, b.attnDecode4Max = attnDecodeMaxQueries, attnDecode4Max
			}
		}
	}
}

// With a small scratch, attention's partial states are merged a few batch
// rows at a time and cuBLAS's narrowed x is cut in slices: same results.
func TestSmallScratch(t *testing.T) {
	b, c := newBackend(t), newCPU(t)
	b.scratch.bytes = 40 << 10
	b.attnDecodeChunk = 256 // 4 splits of 1000 slots
	rng := rand.New(rand.NewPCG(13, 14))
	const nb, T, heads, hd = 5, 1000, 8, 64
	span := []int32{0, 1000, 100, 900, 0, 10, 500, 1000, 999, 1000}
	qpos := []int32{999, 899, 9, 999, 999}
	qv := computetest.Random(rng, nb*heads*hd, 1)
	kv, vv := computetest.Random(rng, nb*T*2*hd, 1), computetest.Random(rng, nb*T*2*hd, 1)
	run := func(be compute.Backend) []float32 {
		out := be.Alloc(compute.F32, nb, heads*hd)
		computetest.Poison(be, out)
		be.Attention(out, computetest.Upload(be, compute.F32, nb, heads*hd, qv),
			computetest.Upload(be, compute.F32, nb*T, 2*hd, kv), computetest.Upload(be, compute.F32, nb*T, 2*hd, vv),
			computetest.UploadI32(be, qpos), computetest.UploadI32(be, span), heads, 2, true)
		return read(t, be, out)
	}
	compare(t, "Attention, 5 decode rows merged 4 at a time (4 splits of 256 slots)", run(b), run(c), 1e-5)

	const n, k, m = 100, 512, 70
	xv, wv := computetest.Random(rng, n*k, 1), computetest.Random(rng, m*k, 0.1)
	mm := func(be compute.Backend) []float32 {
		out := be.Alloc(compute.F32, n, m)
		computetest.Poison(be, out)
		be.MatMul(out, computetest.Upload(be, compute.F32, n, k, xv), computetest.Upload(be, compute.BF16, m, k, wv))
		return read(t, be, out)
	}
	compare(t, "MatMul BF16 100×512 in slices of 40 rows", mm(b), mm(c), 1e-2)

	// 32 rows would take the skinny kernel, whose partial sums (4 splits ×
	// 32 × 1024 floats) do not fit: cuBLAS takes them.
	const sn, sm = 32, 1024
	sx, sw := computetest.Random(rng, sn*k, 1), computetest.Random(rng, sm*k, 0.1)
	sk := func(be compute.Backend) []float32 {
		out := be.Alloc(compute.F32, sn, sm)
		computetest.Poison(be, out)
		be.MatMul(out, computetest.Upload(be, compute.F32, sn, k, sx), computetest.Upload(be, compute.BF16, sm, k, sw))
		return read(t, be, out)
	}
	compare(t, "MatMul BF16 32×512·(1024×512)ᵀ: skinny partials past the scratch", sk(b), sk(c), 1e-2)
}

// Every conversion of Gather and Scatter is exact, special values included.
func TestGatherScatterConversions(t *testing.T) {
	b, c := newBackend(t), newCPU(t)
	rng := rand.New(rand.NewPCG(9, 10))
	types := []compute.DType{compute.F32, compute.BF16, compute.F16}
	const rows, cols = 7, 40
	vals := computetest.Random(rng, rows*cols, 1)
	// Half subnormals, values that overflow half, signed zero, infinities.
	copy(vals, []float32{1e-6, -3e-7, 7e4, -1e5, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), 65504, 1.0009765625})
	raw := func(be compute.Backend, x compute.Tensor) []uint32 {
		out := make([]uint32, x.Len())
		switch x.DType() {
		case compute.F32:
			f := make([]float32, x.Len())
			if err := be.Read(f, x); err != nil {
				t.Fatal(err)
			}
			for i, v := range f {
				out[i] = math.Float32bits(v)
			}
		default:
			h := make([]uint16, x.Len())
			if err := be.Read(h, x); err != nil {
				t.Fatal(err)
			}
			for i, v := range h {
				out[i] = uint32(v)
			}
		}
		return out
	}
	for _, st := range types {
		for _, dt := range types {
			for _, gather := range []bool{true, false} {
				op := "Scatter"
				if gather {
					op = "Gather"
				}
				run := func(be compute.Backend) []uint32 {
					src := computetest.Upload(be, st, rows, cols, vals)
					if gather {
						dst := be.Alloc(dt, 5, cols)
						computetest.Poison(be, dst)
						be.Gather(dst, src, computetest.UploadI32(be, []int32{6, 0, 3, 3, 1}))
						return raw(be, dst)
					}
					dst := computetest.Upload(be, dt, 9, cols, computetest.Random(rand.New(rand.NewPCG(1, 1)), 9*cols, 1))
					be.Scatter(dst, src, computetest.UploadI32(be, []int32{8, 0, 2, 5, 1, 7, 3}))
					return raw(be, dst)
				}
				got, want := run(b), run(c)
				for i := range want {
					if got[i] != want[i] {
						t.Errorf("%s %v→%v: element %d of %d is %#x, want %#x", op, st, dt, i, len(want), got[i], want[i])
						break
					}
				}
			}
		}
	}
}

// Write and Read reach the right bytes of views.
func TestWriteReadViews(t *testing.T) {
	b := newBackend(t)
	x := b.Alloc(compute.F32, 4, 5)
	all := make([]float32, 20)
	for i := range all {
		all[i] = float32(i)
	}
	b.Write(x, all)
	mid := make([]float32, 10)
	if err := b.Read(mid, x.Slice(1, 3)); err != nil {
		t.Fatal(err)
	}
	for i, v := range mid {
		if v != float32(5+i) {
			t.Fatalf("rows 1–2 read %v", mid)
		}
	}
	b.Write(x.Slice(3, 4), []float32{-1, -2, -3, -4, -5})
	if err := b.Read(all, x); err != nil {
		t.Fatal(err)
	}
	if all[14] != 14 || all[15] != -1 || all[19] != -5 {
		t.Errorf("after writing row 3: %v", all)
	}
	h := b.Alloc(compute.BF16, 1, 3)
	b.Write(h, []uint16{0x3f80, 0x7fc1, 0x8001})
	hb := make([]uint16, 3)
	if err := b.Read(hb, h); err != nil || hb[0] != 0x3f80 || hb[1] != 0x7fc1 || hb[2] != 0x8001 {
		t.Errorf("bf16 bits came back as %#x (%v)", hb, err)
	}
	ids := computetest.UploadI32(b, []int32{-7, 0, 1 << 30})
	ib := make([]int32, 2)
	if err := b.Read(ib, ids.Slice(1, 3)); err != nil || ib[0] != 0 || ib[1] != 1<<30 {
		t.Errorf("int32 view read %v (%v)", ib[:2], err)
	}
	data := []byte{0, 0, 0xc0, 0x3f, 0, 0, 0x20, 0xc1} // 1.5, -10
	l, err := b.Load(compute.F32, 1, 2, data)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, b, l); got[0] != 1.5 || got[1] != -10 {
		t.Errorf("Load gave %v", got)
	}
	if _, err := b.Load(compute.BF16, 2, 3, make([]byte, 11)); err == nil {
		t.Error("Load accepted 11 bytes for a 2×3 BF16 tensor")
	}
}

// A recorded graph replays the ops on whatever the inputs hold at launch,
// with the results of running the ops directly.
func TestGraph(t *testing.T) {
	b := newBackend(t)
	rng := rand.New(rand.NewPCG(11, 12))
	const vocab, dim, hidden, heads, hd, T = 50, 256, 512, 4, 64, 16
	const n = 3   // tokens per step: the GEMV path
	const nb = 20 // rows of the batched matmuls: the skinny path (its split-k counters reset for each replay), and
	const nc = 72 // the cuBLAS path
	emb := computetest.Upload(b, compute.BF16, vocab, dim, computetest.Random(rng, vocab*dim, 1))
	g := computetest.Upload(b, compute.F32, 1, dim, computetest.Random(rng, dim, 1))
	w1 := computetest.Upload(b, compute.BF16, hidden, dim, computetest.Random(rng, hidden*dim, 0.1))
	w2 := computetest.Upload(b, compute.F16, hidden, dim, computetest.Random(rng, hidden*dim, 0.1))
	kc := computetest.Upload(b, compute.F32, T, dim, computetest.Random(rng, T*dim, 1))
	vc := computetest.Upload(b, compute.F32, T, dim, computetest.Random(rng, T*dim, 1))
	ids, qpos, span := b.Alloc(compute.I32, n, 1), b.Alloc(compute.I32, n, 1), b.Alloc(compute.I32, 2, 1)
	xin := b.Alloc(compute.F32, nb, dim)
	x, xb, att := b.Alloc(compute.F32, n, dim), b.Alloc(compute.F32, n, dim), b.Alloc(compute.F32, n, dim)
	h1, h2, big := b.Alloc(compute.F32, n, hidden), b.Alloc(compute.F32, n, hidden), b.Alloc(compute.F32, nb, hidden)
	xc, bigc := b.Alloc(compute.F32, nc, dim), b.Alloc(compute.F32, nc, hidden)
	ops := func() {
		b.Gather(x, emb, ids)
		b.RMSNorm(xb, x, g, 1e-5)
		b.MatMul(h1, xb, w1)
		b.MatMul(h2, xb, w2)
		b.SiLUMul(h1, h1, h2)
		b.MatMul(big, xin, w1)
		b.MatMul(bigc, xc, w2)
		b.Scatter(kc, xb, qpos)
		b.Attention(att, xb, kc, vc, qpos, span, heads, heads, true)
		b.Add(att, att, x)
	}
	inputs := func(step int) {
		r := rand.New(rand.NewPCG(uint64(step), 99))
		b.Write(ids, []int32{int32(r.IntN(vocab)), int32(r.IntN(vocab)), int32(r.IntN(vocab))})
		p := int32(4 + step)
		b.Write(qpos, []int32{p, p + 1, p + 2})
		b.Write(span, []int32{int32(step % 3), p + 3})
		b.Write(xin, computetest.Random(r, nb*dim, 1))
		b.Write(xc, computetest.Random(r, nc*dim, 1))
	}
	outs := []compute.Tensor{h1, big, bigc, att}
	snapshot := func() [][]float32 {
		var s [][]float32
		for _, o := range outs {
			s = append(s, read(t, b, o))
		}
		return s
	}
	inputs(0)
	gr, err := b.Record(func() {
		ops()
		computetest.MustPanic(t, "Write while recording", "Record", func() { b.Write(ids, []int32{0, 0, 0}) })
	})
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	defer gr.Close()
	for step := range 3 {
		// The cache changes under the graph too: reset it to the same state
		// before each of the two runs.
		kv := computetest.Random(rand.New(rand.NewPCG(uint64(step), 7)), T*dim, 1)
		inputs(step)
		b.Write(kc, kv)
		if err := gr.Launch(); err != nil {
			t.Fatalf("step %d: Launch: %v", step, err)
		}
		replayed := snapshot()
		b.Write(kc, kv)
		ops()
		direct := snapshot()
		for i := range outs {
			compare(t, fmt.Sprintf("graph step %d, output %d (%v)", step, i, outs[i]), replayed[i], direct[i], 1e-6)
		}
	}

	// A function that panics while recording leaves the backend usable.
	func() {
		defer func() { recover() }()
		b.Record(func() { b.Add(x, x, x); panic("in record") })
	}()
	b.Add(x, x, x)
	if err := b.Sync(); err != nil {
		t.Errorf("after a panic in Record: %v", err)
	}
}

func TestMemoryAccounting(t *testing.T) {
	b := newBackend(t)
	a0, p0, ws := b.Memory()
	wantWS := int64(scratchBytes) + skinnyCounters*4 + gemmPtrsBytes + ptrTableEntries*72
	if cuda.HasSetWorkspace() {
		wantWS += blasWorkspaceBytes
	}
	if ws != wantWS {
		t.Errorf("workspace %d bytes, want %d", ws, wantWS)
	}
	x := b.Alloc(compute.F32, 1000, 1000)
	y := b.Alloc(compute.BF16, 3, 5)
	a1, p1, _ := b.Memory()
	if a1-a0 != 4_000_000+30 || p1 < a1 {
		t.Errorf("after allocating 4,000,030 bytes: allocated %d → %d, peak %d", a0, a1, p1)
	}
	b.Free(x)
	b.Free(y)
	a2, p2, _ := b.Memory()
	if a2 != a0 || p2 != p1 || p0 > p1 {
		t.Errorf("after freeing: allocated %d (want %d), peak %d (want %d)", a2, a0, p2, p1)
	}
	computetest.MustPanic(t, "Free twice", "was freed", func() { b.Free(x) })
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	b.enter()
	free, total, err := cuda.MemGetInfo()
	b.exit()
	t.Logf("device memory: %d MiB free of %d MiB (%v); backend workspace %d MiB", free>>20, total>>20, err, ws>>20)
}

// Close frees what is still allocated; the tensors then refuse any use.
func TestCloseFrees(t *testing.T) {
	requireGPU(t)
	b, err := New(0)
	if err != nil {
		t.Fatal(err)
	}
	x := b.Alloc(compute.F32, 1000, 1000)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if a, _, _ := b.Memory(); a != 0 {
		t.Errorf("%d bytes still allocated after Close", a)
	}
	computetest.MustPanic(t, "a tensor after Close", "was freed", func() { b.Add(x, x, x) })
}

// Ops issued from goroutines that move between OS threads, on two backends
// at once, find their context: each call makes it current on its thread.
func TestGoroutines(t *testing.T) {
	requireGPU(t)
	errs := make(chan error, 2)
	for g := range 2 {
		go func() {
			b, err := New(0)
			if err != nil {
				errs <- err
				return
			}
			defer b.Close()
			x := computetest.Upload(b, compute.F32, 1, 3, []float32{1, 2, float32(g)})
			got := make([]float32, 3)
			for i := range 200 {
				b.Add(x, x, x)
				runtime.Gosched()
				if i%20 == 0 {
					if err := b.Read(got, x); err != nil {
						errs <- fmt.Errorf("goroutine %d, step %d: %w", g, i, err)
						return
					}
					_ = make([]byte, 1<<20) // some garbage, for the scheduler to move us
				}
			}
			if err := b.Read(got, x); err != nil {
				errs <- err
				return
			}
			if got[0] != float32(math.Pow(2, 200)) && !math.IsInf(float64(got[0]), 1) {
				errs <- fmt.Errorf("goroutine %d: x[0] = %v after 200 doublings", g, got[0])
				return
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// Running out of memory is reported by Sync and leaves the backend usable.
func TestOutOfMemory(t *testing.T) {
	b := newBackend(t)
	huge := b.Alloc(compute.F32, 1<<28, 1<<10) // 1 TiB
	err := b.Sync()
	var ce *cuda.Error
	if !errors.As(err, &ce) || !ce.OutOfMemory() {
		t.Fatalf("Sync after a 1 TiB Alloc returned %v, want an out-of-memory *cuda.Error", err)
	}
	t.Logf("reported: %v", err)
	x := computetest.Upload(b, compute.F32, 1, 4, []float32{1, 2, 3, 4})
	b.Add(x, x, x)
	if got := read(t, b, x); got[3] != 8 {
		t.Errorf("after the failure, Add gave %v", got)
	}
	computetest.MustPanic(t, "using the failed tensor", "comes from an Alloc that failed", func() { b.Add(huge, huge, huge) })
}

// gpuTime runs op once to warm up, then as b.Loop asks, and returns the
// device time per run measured by events around the loop. It reports that
// time as ns/op too: the host's clock stops when the last op is queued,
// before the device has run the queue (up to about a thousand graph
// launches), so the framework's own ns/op runs short by the queue's depth
// (121.7 µs for a decode layer whose device time is 135.6; docs/perf.md,
// CUDA v10).
func gpuTime(b *testing.B, be *Backend, op func()) float64 {
	op()
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	be.enter()
	start, err1 := cuda.NewEvent(cuda.EventDefault)
	end, err2 := cuda.NewEvent(cuda.EventDefault)
	be.exit()
	if err := errors.Join(err1, err2); err != nil {
		b.Fatal(err)
	}
	defer start.Destroy()
	defer end.Destroy()
	runs := 0
	be.enter()
	start.Record(be.stream)
	be.exit()
	for b.Loop() {
		op()
		runs++
	}
	be.enter()
	end.Record(be.stream)
	err := end.Synchronize()
	ms, err3 := cuda.ElapsedTime(start, end)
	be.exit()
	if err := errors.Join(err, err3, be.Sync()); err != nil {
		b.Fatal(err)
	}
	sec := float64(ms) / 1e3 / float64(runs)
	b.ReportMetric(sec*1e9, "ns/op")
	return sec
}

// BenchmarkMatMul times MatMul on LLaMA-3-8B's and LLaDA-8B's shapes. The
// cases with a path name force it: from 9 to 64 rows the skinny kernel
// against cuBLAS, which decides skinnyMaxRows.
func BenchmarkMatMul(b *testing.B) {
	type mmCase struct {
		dt      compute.DType
		n, k, m int
		path    string // "skinny", "cublas", "gemv" (SIMT), "mma1" or "mma2" (tensor-core GEMV, tiles per block) forces that path; "" takes MatMul's choice
	}
	cases := []mmCase{
		{compute.BF16, 1, 4096, 14336, ""},   // a LLaMA-3-8B up projection at decode: GEMV
		{compute.BF16, 2, 4096, 14336, ""},   // the same at batch 2, 4 and 8: should cost about what batch 1 does
		{compute.BF16, 4, 4096, 14336, ""},   //
		{compute.BF16, 8, 4096, 14336, ""},   //
		{compute.BF16, 1, 14336, 4096, ""},   // the down projection at decode (x of 56 KiB per row)
		{compute.BF16, 8, 14336, 4096, ""},   //
		{compute.BF16, 1, 4096, 128256, ""},  // the LM head (1.05 GB)
		{compute.BF16, 2048, 4096, 4096, ""}, // a prefill or diffusion step: cuBLAS
		{compute.BF16, 8192, 8192, 8192, ""}, // the ceiling G of issue 5 (cuBLAS bf16 GEMM 8192³)
		{compute.F32, 256, 4096, 4096, ""},   // float32 weights, no TF32
		{compute.BF16, 32, 4096, 126464, ""}, // LLaDA's head over a block of 32: skinny, one split
		{compute.BF16, 256, 4096, 4096, ""},  // a LLaDA-8B reference step (256 rows): q, k, v, o
		{compute.BF16, 256, 4096, 12288, ""}, // its gate and up
		{compute.BF16, 256, 12288, 4096, ""}, // its down
	}
	// Small batches on the SIMT GEMV, the tensor-core GEMV with one tile of
	// 16 rows per block (MatMul's choice) and with two: this decides
	// gemvMMAMinRows and gemvMMADefaultTiles.
	for _, n := range []int{2, 4, 6, 8} {
		for _, km := range [][2]int{{4096, 14336}, {14336, 4096}, {4096, 4096}} {
			for _, path := range []string{"gemv", "mma1", "mma2", "cublas"} {
				cases = append(cases, mmCase{compute.BF16, n, km[0], km[1], path})
			}
		}
	}
	// A LLaDA block of 32 tokens (a dual-cache call), half of it, and a
	// batch of 64, through the up and down projections, both ways.
	for _, n := range []int{16, 32, 64} {
		for _, km := range [][2]int{{4096, 14336}, {14336, 4096}} {
			for _, path := range []string{"skinny", "cublas"} {
				cases = append(cases, mmCase{compute.BF16, n, km[0], km[1], path})
			}
		}
	}
	for _, c := range cases {
		name := fmt.Sprintf("%v/n=%d/k=%d/m=%d", c.dt, c.n, c.k, c.m)
		if c.path != "" {
			name += "/" + c.path
		}
		b.Run(name, func(b *testing.B) {
			be := newBackend(b)
			switch c.path {
			case "skinny":
				if be.skinnyMax < c.n {
					b.Skip("no skinny kernel on this device")
				}
			case "cublas":
				be.skinnyMax, be.gemvMax = 0, 0
			case "gemv":
				be.gmMin = gemvMaxRows + 1
			case "mma1", "mma2":
				if be.gmMin > c.n {
					b.Skip("no tensor-core GEMV on this device")
				}
				be.gmTiles = int(c.path[3] - '0')
			}
			x := be.Alloc(compute.F32, c.n, c.k)
			w := be.Alloc(c.dt, c.m, c.k)
			be.enter()
			cuda.MemsetD32Async(be.ptr("bench", x), math.Float32bits(0.01), int64(x.Len()), be.stream)
			cuda.MemsetD32Async(be.ptr("bench", w), 0x3c003c00, w.Bytes()/4, be.stream) // 1.0 in half, small in bf16
			be.exit()
			out := be.Alloc(compute.F32, c.n, c.m)
			sec := gpuTime(b, be, func() { be.MatMul(out, x, w) })
			b.ReportMetric(sec*1e6, "µs/op(gpu)")
			b.ReportMetric(float64(w.Bytes())/sec/1e9, "GB/s(weights)")
			b.ReportMetric(2*float64(c.n)*float64(c.k)*float64(c.m)/sec/1e12, "TFLOP/s")
		})
	}
}

func BenchmarkAttention(b *testing.B) {
	type attnCase struct {
		name               string
		nb, n, T           int
		heads, kvHeads, hd int
		causal             bool
	}
	var chunks []attnCase
	for _, c := range []struct{ nb, T int }{{1, 256}, {8, 256}, {1, 1024}, {8, 2048}, {1, 4096}} {
		for _, chunk := range []int{32, 64, 128, 256} {
			name := fmt.Sprintf("decode/B=%d/T=%d/chunk=%d/bf16", c.nb, c.T, chunk)
			chunks = append(chunks, attnCase{name, c.nb, 1, c.T, 32, 8, 128, true})
		}
	}
	for _, c := range append([]attnCase{
		{"decode/T=4096", 1, 1, 4096, 32, 8, 128, true},
		{"decode/T=4096/warp", 1, 1, 4096, 32, 8, 128, true},
		{"decode/T=4096/chunk=128", 1, 1, 4096, 32, 8, 128, true},
		{"decode/T=256", 1, 1, 256, 32, 8, 128, true},
		{"decode/T=256/warp", 1, 1, 256, 32, 8, 128, true},
		{"decode/T=256/chunk=128", 1, 1, 256, 32, 8, 128, true},
		{"decode/T=512", 1, 1, 512, 32, 8, 128, true},
		{"decode/T=512/chunk=512", 1, 1, 512, 32, 8, 128, true},
		{"decode/B=4/T=256", 4, 1, 256, 32, 8, 128, true},
		{"decode/B=4/T=256/chunk=128", 4, 1, 256, 32, 8, 128, true},
		{"decode/B=8/T=2048", 8, 1, 2048, 32, 8, 128, true},
		{"decode/B=8/T=2048/warp", 8, 1, 2048, 32, 8, 128, true},
		{"diffusion/n=1024/T=1024", 1, 1024, 1024, 32, 8, 128, false},      // the tiled kernel
		{"diffusion/MHA/n=1024/T=1024", 1, 1024, 1024, 32, 32, 128, false}, // LLaDA-8B's heads
		{"diffusion/MHA/n=256/T=256", 1, 256, 256, 32, 32, 128, false},     // a LLaDA step without cache: 2 splits
		{"prefill/n=128/T=128", 1, 128, 128, 32, 8, 128, true},             // LLaMA-3's prompt: tiled, causal
		// A LLaDA dual-cache block (32 queries) over 256 and 1024 slots, and
		// half a block, on each kernel: this decides attnTiledMinQueries.
		{"block/MHA/n=32/T=256", 1, 32, 256, 32, 32, 128, false},
		{"block/MHA/n=32/T=1024", 1, 32, 1024, 32, 32, 128, false},
		{"block/MHA/n=16/T=256", 1, 16, 256, 32, 32, 128, false},
		{"block/MHA/n=32/T=256/tiled", 1, 32, 256, 32, 32, 128, false},
		{"block/MHA/n=32/T=256/warp", 1, 32, 256, 32, 32, 128, false},
		{"block/MHA/n=32/T=1024/tiled", 1, 32, 1024, 32, 32, 128, false},
		{"block/MHA/n=32/T=1024/warp", 1, 32, 1024, 32, 32, 128, false},
		{"block/MHA/n=16/T=256/tiled", 1, 16, 256, 32, 32, 128, false},
		{"block/MHA/n=16/T=256/warp", 1, 16, 256, 32, 32, 128, false},
		// bfloat16 caches: the tensor-core kernel from 16 queries on, the
		// decode kernels widening bfloat16 below.
		{"prefill/n=2048/T=2048", 1, 2048, 2048, 32, 8, 128, true},
		{"prefill/n=2048/T=2048/bf16", 1, 2048, 2048, 32, 8, 128, true},
		{"prefill/n=128/T=128/bf16", 1, 128, 128, 32, 8, 128, true},
		{"diffusion/MHA/n=256/T=256/bf16", 1, 256, 256, 32, 32, 128, false},
		{"diffusion/MHA/n=256/T=256/bf16/blocks=256", 1, 256, 256, 32, 32, 128, false}, // two chunks and their combine
		{"diffusion/MHA/n=256/T=256/bf16/groups=1", 1, 256, 256, 32, 32, 128, false},   // one group of warps
		{"prefill/n=2048/T=2048/bf16/groups=2", 1, 2048, 2048, 32, 8, 128, true},
		// One group against two where two is the default: alone, one group
		// is faster since the softmax went to base 2 (12.0 against 13.9 µs at
		// 256 queries), but LLaDA's layer and step are slower with it
		// (docs/perf.md, v14), so two stay.
		{"prefill/n=128/T=128/bf16/groups=1", 1, 128, 128, 32, 8, 128, true},
		{"block/MHA/n=32/T=1024/bf16/blocks=256", 1, 32, 1024, 32, 32, 128, false},
		{"block/MHA/n=32/T=256/bf16", 1, 32, 256, 32, 32, 128, false},
		{"block/MHA/n=32/T=256/bf16/blocks=128", 1, 32, 256, 32, 32, 128, false}, // in four chunks, as up to v15
		{"block/MHA/n=32/T=256/bf16/groups=1", 1, 32, 256, 32, 32, 128, false},   // one chunk, one group of warps
		{"block/MHA/n=32/T=256/bf16/groups=2", 1, 32, 256, 32, 32, 128, false},   // two groups of four (before v21)
		{"block/MHA/n=32/T=1024/bf16", 1, 32, 1024, 32, 32, 128, false},
		{"decode/T=256/bf16", 1, 1, 256, 32, 8, 128, true},
		{"decode/T=4096/bf16", 1, 1, 4096, 32, 8, 128, true},
		{"decode/B=8/T=2048/bf16", 8, 1, 2048, 32, 8, 128, true},
		// attnDecodeChunk and attnDecodeGroup: chunks of 32 to 256 slots,
		// and a block per head (g1) instead of per group of four.
		{"decode/T=256/g1/bf16", 1, 1, 256, 32, 8, 128, true},
		{"decode/T=256/g4/bf16", 1, 1, 256, 32, 8, 128, true},
		{"decode/B=8/T=256/g1/bf16", 8, 1, 256, 32, 8, 128, true},
		{"decode/B=8/T=256/g4/bf16", 8, 1, 256, 32, 8, 128, true},
		{"decode/B=8/T=256/bf16", 8, 1, 256, 32, 8, 128, true},
		{"decode/T=1024/bf16", 1, 1, 1024, 32, 8, 128, true},
	}, chunks...) {
		b.Run(c.name, func(b *testing.B) {
			be := newBackend(b)
			switch {
			case strings.Contains(c.name, "/g1/"): // a block per head
				be.attnGroupBlocks = math.MaxInt
			case strings.Contains(c.name, "/g4/"): // a block per group of heads
				be.attnGroupBlocks = 0
			}
			switch {
			case strings.HasSuffix(c.name, "/tiled"):
				be.attnTiledMin, be.attnDecodeMax, be.attnDecode4Max = 1, 0, 0
			case strings.HasSuffix(c.name, "/warp"):
				be.attnTiledMin, be.attnDecodeMax, be.attnDecode4Max = math.MaxInt, 0, 0
			case strings.Contains(c.name, "/chunk="):
				fmt.Sscanf(after(c.name, "/chunk="), "%d", &be.attnDecodeChunk)
			case strings.Contains(c.name, "/groups="): // the tensor-core kernel's groups of warps
				fmt.Sscanf(after(c.name, "/groups="), "%d", &be.attnMMAGroups)
			case strings.Contains(c.name, "/blocks="): // the tensor-core kernel splits calls of fewer blocks (256: v10's plan), however few slots
				fmt.Sscanf(after(c.name, "/blocks="), "%d", &be.attnMMABlocks)
				be.attnOneChunk = 0
			}
			rows, kvc := c.nb*c.n, c.kvHeads*c.hd
			cdt := compute.F32
			if strings.Contains(c.name, "/bf16") {
				cdt = compute.BF16
			}
			q := be.Alloc(compute.F32, rows, c.heads*c.hd)
			kc, vc := be.Alloc(cdt, c.nb*c.T, kvc), be.Alloc(cdt, c.nb*c.T, kvc)
			be.enter()
			for _, x := range []compute.Tensor{q, kc, vc} {
				v := math.Float32bits(0.01)
				if x.DType() == compute.BF16 {
					v = 0x3c233c23 // two bfloat16 0.00995
				}
				cuda.MemsetD32Async(be.ptr("bench", x), v, x.Bytes()/4, be.stream)
			}
			be.exit()
			qpos, span := make([]int32, rows), make([]int32, 2*c.nb)
			for r := range qpos {
				qpos[r] = int32(c.T - c.n + r%c.n)
			}
			for i := range c.nb {
				span[2*i+1] = int32(c.T)
			}
			out := be.Alloc(compute.F32, rows, c.heads*c.hd)
			qp, sp := computetest.UploadI32(be, qpos), computetest.UploadI32(be, span)
			// In a graph, as the model runs it: launched one by one, an
			// attention of a few µs would time the host's launches.
			sec := graphTime(b, be, func() { be.Attention(out, q, kc, vc, qp, sp, c.heads, c.kvHeads, c.causal) })
			b.ReportMetric(sec*1e6, "µs/op(gpu)")
			b.ReportMetric(float64(kc.Bytes()+vc.Bytes())/sec/1e9, "GB/s(cache)")
			flops := 4 * float64(rows) * float64(c.T) * float64(c.heads*c.hd)
			if c.causal && c.n > 1 { // the last n slots: query i sees T−n+i+1 of them
				flops = 4 * float64(c.nb) * float64(c.heads*c.hd) * (float64(c.n)*float64(c.T-c.n) + float64(c.n)*float64(c.n+1)/2)
			}
			b.ReportMetric(flops/sec/1e12, "TFLOP/s")
		})
	}
}

// after is what follows key in name (key must be there).
func after(name, key string) string { return name[strings.Index(name, key)+len(key):] }

// BenchmarkFusions times each fusion against its composed ops on LLaMA-3-8B
// shapes: GB/s counts the weights read once.
func BenchmarkFusions(b *testing.B) {
	const dim, hidden, kvDim = 4096, 14336, 1024
	for _, n := range []int{1, 4, 8, 32, 256} {
		for _, c := range []struct {
			name  string
			k     int
			ms    []int // rows of each weight
			fused func(be *Backend, x compute.Tensor, d, w []compute.Tensor)
			comp  func(be *Backend, x compute.Tensor, d, w []compute.Tensor)
		}{
			{"MatMul3/qkv", dim, []int{dim, kvDim, kvDim},
				func(be *Backend, x compute.Tensor, d, w []compute.Tensor) {
					be.MatMul3(d[0], d[1], d[2], x, w[0], w[1], w[2])
				},
				func(be *Backend, x compute.Tensor, d, w []compute.Tensor) {
					be.MatMul(d[0], x, w[0])
					be.MatMul(d[1], x, w[1])
					be.MatMul(d[2], x, w[2])
				}},
			{"MatMulAdd/down", hidden, []int{dim},
				func(be *Backend, x compute.Tensor, d, w []compute.Tensor) { be.MatMulAdd(d[0], x, w[0]) },
				func(be *Backend, x compute.Tensor, d, w []compute.Tensor) {
					be.MatMul(d[1], x, w[0]) // d[1] is the scratch output
					be.Add(d[0], d[0], d[1])
				}},
			{"MatMulSwiGLU/gate-up", dim, []int{hidden, hidden},
				func(be *Backend, x compute.Tensor, d, w []compute.Tensor) { be.MatMulSwiGLU(d[0], x, w[0], w[1]) },
				func(be *Backend, x compute.Tensor, d, w []compute.Tensor) {
					be.MatMul(d[0], x, w[0])
					be.MatMul(d[1], x, w[1])
					be.SiLUMul(d[0], d[0], d[1])
				}},
		} {
			for _, fused := range []bool{true, false} {
				kind := "composed"
				if fused {
					kind = "fused"
				}
				b.Run(fmt.Sprintf("%s/n=%d/%s", c.name, n, kind), func(b *testing.B) {
					be := newBackend(b)
					x := be.Alloc(compute.F32, n, c.k)
					var ws, ds []compute.Tensor
					var bytes int64
					for _, m := range c.ms {
						w := be.Alloc(compute.BF16, m, c.k)
						ws = append(ws, w)
						ds = append(ds, be.Alloc(compute.F32, n, m))
						bytes += w.Bytes()
					}
					if len(ds) == 1 {
						ds = append(ds, be.Alloc(compute.F32, n, c.ms[0]))
					}
					be.enter()
					cuda.MemsetD32Async(be.ptr("bench", x), math.Float32bits(0.01), int64(x.Len()), be.stream)
					for _, w := range ws {
						cuda.MemsetD32Async(be.ptr("bench", w), 0x3c003c00, w.Bytes()/4, be.stream)
					}
					for _, d := range ds {
						cuda.MemsetD32Async(be.ptr("bench", d), 0, int64(d.Len()), be.stream)
					}
					be.exit()
					op := c.comp
					if fused {
						op = c.fused
					}
					// Replayed from a graph, as a decode step is, so that the
					// composed ops' extra launches cost what they cost there.
					g, err := be.Record(func() { op(be, x, ds, ws) })
					if err != nil {
						b.Fatal(err)
					}
					defer g.Close()
					sec := gpuTime(b, be, func() {
						if err := g.Launch(); err != nil {
							b.Fatal(err)
						}
					})
					b.ReportMetric(sec*1e6, "µs/op(gpu)")
					b.ReportMetric(float64(bytes)/sec/1e9, "GB/s(weights)")
					b.ReportMetric(2*float64(n)*float64(bytes/2)/sec/1e12, "TFLOP/s")
				})
			}
		}
	}
}

// BenchmarkArgmaxProb picks tokens from rows of LLaDA's 126,464 logits:
// one row (a decode step), a block of 32, a canvas of 128.
func BenchmarkArgmaxProb(b *testing.B) {
	const vocab = 126464
	for _, c := range []struct {
		rows  int
		split bool
	}{{1, true}, {1, false}, {8, true}, {8, false}, {32, true}, {32, false}, {128, true}} {
		rows := c.rows
		b.Run(fmt.Sprintf("rows=%d/V=%d/split=%v", rows, vocab, c.split), func(b *testing.B) {
			be := newBackend(b)
			be.selSplit = c.split
			lg := be.Alloc(compute.F32, rows, vocab)
			be.enter()
			cuda.MemsetD32Async(be.ptr("bench", lg), math.Float32bits(0.5), int64(lg.Len()), be.stream)
			be.exit()
			ids, probs := be.Alloc(compute.I32, rows, 1), be.Alloc(compute.F32, rows, 1)
			sec := gpuTime(b, be, func() { be.ArgmaxProb(ids, probs, lg, 126336) })
			b.ReportMetric(sec*1e6, "µs/op(gpu)")
			b.ReportMetric(float64(lg.Bytes())/sec/1e9, "GB/s(logits)")
		})
	}
}

// BenchmarkDraw times the device's draws over random logits (LLaDA's and
// LLaMA-3's vocabularies): Gumbel-max for a sampled diffusion block
// (GumbelArgmaxProb, temperature 1) and a sampled autoregressive row
// (Sample at temperature 1, and with top-k 200 and top-p 0.95), next to
// the greedy ArgmaxProb of the same rows.
func BenchmarkDraw(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		op          string
		rows, vocab int
	}{
		{"argmax", 32, 126464}, {"gumbel", 32, 126464}, {"gumbel", 1, 126464},
		{"argmax", 8, 128256}, {"sample", 1, 128256}, {"sample", 8, 128256}, {"sample-kp", 1, 128256}, {"sample-kp", 8, 128256},
	} {
		b.Run(fmt.Sprintf("%s/rows=%d/V=%d", c.op, c.rows, c.vocab), func(b *testing.B) {
			be := newBackend(b)
			lg := computetest.Upload(be, compute.F32, c.rows, c.vocab, computetest.Random(rng, c.rows*c.vocab, 0.5))
			ids, probs, keys := be.Alloc(compute.I32, c.rows, 1), be.Alloc(compute.F32, c.rows, 1), be.Alloc(compute.I32, c.rows, 2)
			words := make([]int32, 2*c.rows)
			for i := range words {
				words[i] = int32(rng.Uint32())
			}
			be.Write(keys, words)
			sec := gpuTime(b, be, func() {
				switch c.op {
				case "argmax":
					be.ArgmaxProb(ids, probs, lg, 126336)
				case "gumbel":
					be.GumbelArgmaxProb(ids, probs, lg, keys, 126336, 1)
				case "sample":
					be.Sample(ids, lg, keys, compute.SampleParams{Temperature: 1})
				case "sample-kp":
					be.Sample(ids, lg, keys, compute.SampleParams{Temperature: 0.8, TopK: 200, TopP: 0.95})
				}
			})
			b.ReportMetric(sec*1e6, "µs/op(gpu)")
		})
	}
}

// BenchmarkCopy copies 4 GiB device to device: the card's practical
// bandwidth, counting the bytes read and written.
func BenchmarkCopy(b *testing.B) {
	be := newBackend(b)
	const bytes = 4 << 30
	src, dst := be.Alloc(compute.F32, 1<<20, 1<<10), be.Alloc(compute.F32, 1<<20, 1<<10)
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	sp, dp := be.ptr("bench", src), be.ptr("bench", dst)
	sec := gpuTime(b, be, func() {
		be.enter()
		if err := cuda.MemcpyDtoDAsync(dp, sp, bytes, be.stream); err != nil {
			be.fail(err)
		}
		be.exit()
	})
	b.ReportMetric(2*bytes/sec/1e9, "GB/s(rd+wr)")
}

// BenchmarkLaunch measures one small op issued from Go, and the same op in
// a graph of 100.
func BenchmarkLaunch(b *testing.B) {
	be := newBackend(b)
	x := be.Alloc(compute.F32, 1, 256)
	b.Run("direct", func(b *testing.B) {
		sec := gpuTime(b, be, func() { be.Add(x, x, x) })
		b.ReportMetric(sec*1e6, "µs/op(gpu)")
	})
	b.Run("graph100", func(b *testing.B) {
		g, err := be.Record(func() {
			for range 100 {
				be.Add(x, x, x)
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		defer g.Close()
		sec := gpuTime(b, be, func() {
			if err := g.Launch(); err != nil {
				b.Fatal(err)
			}
		})
		b.ReportMetric(sec*1e6/100, "µs/op(gpu)")
	})
}
