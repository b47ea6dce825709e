package cuda

// GPU tests of the fusions, of the GEMV kernel's batch invariance, of token
// selection and of the tiled attention kernel. Like gpu_test.go they skip
// without a GPU unless DLLMBENCH_REQUIRE_GPU=1.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"dllmbench/compute"
	"dllmbench/compute/computetest"
	"dllmbench/internal/cuda"
)

// seq is start, start+1, … (n values).
func seq(start, n int) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = int32(start + i)
	}
	return s
}

// bits reads a float tensor's values as exact bit patterns.
func bits(t *testing.T, b compute.Backend, x compute.Tensor) []uint32 {
	t.Helper()
	v := read(t, b, x)
	out := make([]uint32, len(v))
	for i, f := range v {
		out[i] = math.Float32bits(f)
	}
	return out
}

// sameBits reports the first element where got and want differ.
func sameBits(t *testing.T, name string, got, want []uint32) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: element %d of %d is %v, want %v (bit for bit)", name, i, len(want),
				math.Float32frombits(got[i]), math.Float32frombits(want[i]))
			return
		}
	}
}

// On the GEMV and skinny paths each fusion is its composed ops bit for bit;
// on cuBLAS it is within the MatMul bounds of the CPU backend's composed
// ops. The norm fusions are checked the same way, with RMSNorm composed.
func TestFusionsMatchComposed(t *testing.T) {
	b, c := newBackend(t), newCPU(t)
	rng := rand.New(rand.NewPCG(21, 22))
	for _, s := range []struct {
		dt      compute.DType
		n, k, m int
		why     string
	}{
		{compute.BF16, 1, 4096, 77, "decode, m not a multiple of the columns per block"},
		{compute.BF16, 2, 1024, 64, "two rows: the tensor-core GEMV, its down projection too (k = 64)"},
		{compute.BF16, 5, 4096, 130, "five rows: the tensor-core GEMV, m not a multiple of 16; down (k = 130) on the SIMT GEMV"},
		{compute.F16, 8, 2048, 40, "eight rows, half"},
		{compute.BF16, 8, 4096, 96, "eight rows, the tensor-core GEMV throughout"},
		{compute.F16, 3, 96, 1040, "three rows, half, three chunks of k: fewer than the warps"},
		{compute.F32, 3, 1000, 33, "float32 weights (SwiGLU composed in the backend)"},
		{compute.BF16, 4, 1001, 20, "k not a multiple of 8: the scalar loop"},
		{compute.BF16, 20, 512, 96, "skinny, x in three tiles of 8 rows, 4 splits of k"},
		{compute.F16, 33, 1000, 130, "skinny, half, partial tiles of x, k and weight rows"},
		{compute.BF16, 64, 4096, 1100, "skinny, the most rows, 9 block columns × 16 splits"},
		{compute.BF16, 12, 128, 300, "skinny, one tile of k: one split, no partial sums"},
		{compute.BF16, 10, 1004, 64, "k not a multiple of 8: cuBLAS"},
		{compute.BF16, 72, 512, 96, "cuBLAS"},
		{compute.F32, 12, 256, 50, "cuBLAS, float32"},
	} {
		t.Run(fmt.Sprintf("%v n=%d k=%d m=%d", s.dt, s.n, s.k, s.m), func(t *testing.T) {
			t.Logf("%s", s.why)
			xv := computetest.Random(rng, s.n*s.k, 1)
			w1v, w2v := computetest.Random(rng, s.m*s.k, 0.1), computetest.Random(rng, s.m*s.k, 0.1)
			w3v := computetest.Random(rng, 2*s.m*s.k, 0.1)
			wdv := computetest.Random(rng, s.k*s.m, 0.1)
			accv := computetest.Random(rng, s.n*s.m, 1)
			gemv := s.n <= gemvMaxRows
			skinny := !gemv && s.n <= b.skinnyMax && s.dt != compute.F32 && s.k%8 == 0
			ffnCublas := gemv && s.n >= b.ffnCublasMin && s.dt != compute.F32 // NormFFN on cuBLAS's path
			tol := 1e-5
			if s.dt != compute.F32 && (!gemv || s.n >= b.gmMin) {
				tol = 1e-2 // x rounded to 16 bits: cuBLAS, skinny, the tensor-core GEMV
			}
			xrv, gv := computetest.Random(rng, s.n*s.k, 3), computetest.Random(rng, s.k, 1)
			const eps = 1e-5
			// fused runs the fusions on be; composed runs their definition.
			type outs struct{ add, swiglu, q, k, v, nq, nk, nv, nswiglu, ffn compute.Tensor }
			run := func(be compute.Backend, fused bool) outs {
				x := computetest.Upload(be, compute.F32, s.n, s.k, xv)
				xr, g := computetest.Upload(be, compute.F32, s.n, s.k, xrv), computetest.Upload(be, compute.F32, 1, s.k, gv)
				w1, w2 := computetest.Upload(be, s.dt, s.m, s.k, w1v), computetest.Upload(be, s.dt, s.m, s.k, w2v)
				w3 := computetest.Upload(be, s.dt, 2*s.m, s.k, w3v)
				o := outs{add: computetest.Upload(be, compute.F32, s.n, s.m, accv), swiglu: be.Alloc(compute.F32, s.n, s.m),
					q: be.Alloc(compute.F32, s.n, s.m), k: be.Alloc(compute.F32, s.n, s.m), v: be.Alloc(compute.F32, s.n, 2*s.m),
					nq: be.Alloc(compute.F32, s.n, s.m), nk: be.Alloc(compute.F32, s.n, s.m), nv: be.Alloc(compute.F32, s.n, 2*s.m),
					nswiglu: be.Alloc(compute.F32, s.n, s.m)}
				for _, d := range []compute.Tensor{o.swiglu, o.q, o.k, o.v, o.nq, o.nk, o.nv, o.nswiglu} {
					computetest.Poison(be, d)
				}
				xn := be.Alloc(compute.F32, s.n, s.k)
				// NormFFN as the model calls it: dst is the residual x it normalises.
				wd := computetest.Upload(be, s.dt, s.k, s.m, wdv)
				o.ffn = computetest.Upload(be, compute.F32, s.n, s.k, xrv)
				h := be.Alloc(compute.F32, s.n, s.m)
				if fused {
					cb := be.(*Backend)
					cb.MatMulAdd(o.add, x, w1)
					cb.MatMulSwiGLU(o.swiglu, x, w1, w2)
					cb.MatMul3(o.q, o.k, o.v, x, w1, w2, w3)
					cb.NormMatMul3(o.nq, o.nk, o.nv, xn, xr, g, eps, w1, w2, w3)
					cb.NormMatMulSwiGLU(o.nswiglu, xn, xr, g, eps, w1, w2)
					cb.NormFFN(o.ffn, h, xn, o.ffn, g, eps, w1, w2, wd)
					return o
				}
				tmp, u := be.Alloc(compute.F32, s.n, s.m), be.Alloc(compute.F32, s.n, s.m)
				be.MatMul(tmp, x, w1)
				be.Add(o.add, o.add, tmp)
				be.MatMul(tmp, x, w1)
				be.MatMul(u, x, w2)
				be.SiLUMul(o.swiglu, tmp, u)
				be.MatMul(o.q, x, w1)
				be.MatMul(o.k, x, w2)
				be.MatMul(o.v, x, w3)
				be.RMSNorm(xn, xr, g, eps)
				be.MatMul(o.nq, xn, w1)
				be.MatMul(o.nk, xn, w2)
				be.MatMul(o.nv, xn, w3)
				be.MatMul(tmp, xn, w1)
				be.MatMul(u, xn, w2)
				be.SiLUMul(o.nswiglu, tmp, u)
				be.RMSNorm(xn, o.ffn, g, eps)
				be.MatMul(tmp, xn, w1)
				be.MatMul(u, xn, w2)
				be.SiLUMul(h, tmp, u)
				t := be.Alloc(compute.F32, s.n, s.k)
				be.MatMul(t, h, wd)
				be.Add(o.ffn, o.ffn, t)
				return o
			}
			got, comp, ref := run(b, true), run(b, false), run(c, false)
			if gemv && s.dt != compute.F32 {
				// NormFFN on cuBLAS from the GEMV's rows (ffnCublasMin),
				// against the CPU.
				defer func(m int) { b.ffnCublasMin = m }(b.ffnCublasMin)
				b.ffnCublasMin = 1
				compare(t, "NormFFN on cuBLAS against the CPU", read(t, b, run(b, true).ffn), read(t, c, ref.ffn), 1e-2)
			}
			for _, p := range []struct {
				name      string
				g, cp, rf compute.Tensor
			}{
				{"MatMulAdd", got.add, comp.add, ref.add},
				{"MatMulSwiGLU", got.swiglu, comp.swiglu, ref.swiglu},
				{"MatMul3 q", got.q, comp.q, ref.q},
				{"MatMul3 k", got.k, comp.k, ref.k},
				{"MatMul3 v", got.v, comp.v, ref.v},
				{"NormMatMul3 q", got.nq, comp.nq, ref.nq},
				{"NormMatMul3 k", got.nk, comp.nk, ref.nk},
				{"NormMatMul3 v", got.nv, comp.nv, ref.nv},
				{"NormMatMulSwiGLU", got.nswiglu, comp.nswiglu, ref.nswiglu},
				{"NormFFN", got.ffn, comp.ffn, ref.ffn},
			} {
				compare(t, p.name+" against the CPU", read(t, b, p.g), read(t, c, p.rf), tol)
				switch {
				case p.name == "NormFFN" && ffnCublas:
					// cuBLAS's products against the GEMVs': the same 16-bit
					// operands summed in another order, gate and up narrowed
					// to 16 bits, and h narrowed after.
					compare(t, p.name+" (cuBLAS) against the composed ops (GEMVs) on CUDA", read(t, b, p.g), read(t, b, p.cp), tol)
				case p.name == "NormFFN" && !gemv && !skinny && s.dt != compute.F32:
					// On cuBLAS both, but the fusion narrows gate and up to
					// 16 bits as cuBLAS writes them.
					compare(t, p.name+" (gate and up in 16 bits) against the composed ops on CUDA", read(t, b, p.g), read(t, b, p.cp), tol)
				case gemv || skinny:
					sameBits(t, p.name+" against the composed ops on CUDA", bits(t, b, p.g), bits(t, b, p.cp))
				default:
					// cuBLAS: the same products of the same 16-bit operands;
					// only where the residual add happens may differ.
					compare(t, p.name+" against the composed ops on CUDA", read(t, b, p.g), read(t, b, p.cp), 1e-5)
				}
			}
		})
	}
}

// The GEMV kernels compute each row of x with the same operations whatever
// the number of rows: the SIMT GEMV gives a batch of n, bit for bit, its
// rows run alone; the tensor-core GEMV (16-bit weights, 2 to 8 rows) gives
// a row the same bits in every batch it takes.
func TestGEMVBatchInvariance(t *testing.T) {
	b := newBackend(t)
	rng := rand.New(rand.NewPCG(23, 24))
	gmMin := b.gmMin
	defer func() { b.gmMin = gmMin }()
	for _, dt := range []compute.DType{compute.BF16, compute.F16, compute.F32} {
		const k, m = 2048, 77
		w := computetest.Upload(b, dt, m, k, computetest.Random(rng, m*k, 0.1))
		xv := computetest.Random(rng, gemvMaxRows*k, 1)
		x := computetest.Upload(b, compute.F32, gemvMaxRows, k, xv)
		for _, mma := range []bool{false, true} {
			if mma && (dt == compute.F32 || gmMin > gemvMaxRows) {
				continue // float32 weights, or a device without the tensor-core GEMV
			}
			first, kind := 1, "SIMT"
			b.gmMin = gemvMaxRows + 1
			if mma {
				first, kind, b.gmMin = 2, "tensor-core", 2
			}
			// The reference: each row in the smallest batch the kernel takes.
			want := make([][]uint32, gemvMaxRows)
			for r := range gemvMaxRows {
				r0 := min(r, gemvMaxRows-first)
				out := b.Alloc(compute.F32, first, m)
				b.MatMul(out, x.Slice(r0, r0+first), w)
				want[r] = bits(t, b, out)[(r-r0)*m : (r-r0+1)*m]
			}
			for n := first + 1; n <= gemvMaxRows; n++ {
				out := b.Alloc(compute.F32, n, m)
				b.MatMul(out, x.Slice(0, n), w)
				got := bits(t, b, out)
				for r := range n {
					sameBits(t, fmt.Sprintf("%v, %s GEMV: row %d of a batch of %d against a batch of %d", dt, kind, r, n, first), got[r*m:(r+1)*m], want[r])
				}
				if dt != compute.F32 {
					sw := b.Alloc(compute.F32, n, m)
					b.MatMulSwiGLU(sw, x.Slice(0, n), w, w)
					r0 := n - first
					few := b.Alloc(compute.F32, first, m)
					b.MatMulSwiGLU(few, x.Slice(r0, n), w, w)
					sameBits(t, fmt.Sprintf("%v, %s GEMV: SwiGLU, last row of a batch of %d", dt, kind, n), bits(t, b, sw)[(n-1)*m:], bits(t, b, few)[(first-1)*m:])
				}
			}
		}
	}
}

func TestArgmaxProbShapes(t *testing.T) {
	b := newBackend(t)
	rng := rand.New(rand.NewPCG(25, 26))
	inf := float32(math.Inf(-1))
	for _, c := range []struct {
		name       string
		rows, cols int
		exclude    int
		offset     int // logits start this many floats into their buffer: unaligned rows
		prepare    func(v []float32, cols int)
	}{
		{name: "LLaMA-3's vocabulary, one row", rows: 1, cols: 128256, exclude: -1},
		{name: "LLaDA's vocabulary, the mask token excluded", rows: 4, cols: 126464, exclude: 126336,
			prepare: func(v []float32, cols int) { v[126336] = 1000 }},
		{name: "one column, excluded: no token", rows: 2, cols: 1, exclude: 0},
		{name: "an exclude outside the row is none", rows: 2, cols: 50, exclude: 50},
		{name: "ties far apart go to the first", rows: 3, cols: 70000, exclude: -1, prepare: func(v []float32, cols int) {
			for r := range 3 {
				v[r*cols+69000], v[r*cols+5+r], v[r*cols+40000] = 40, 40, 40
			}
		}},
		{name: "-inf everywhere but two", rows: 2, cols: 9000, exclude: 3, prepare: func(v []float32, cols int) {
			for i := range v {
				v[i] = inf
			}
			v[3], v[8000] = 5, 2
			v[cols+100], v[cols+101] = -1, -1
		}},
		{name: "a row of -inf only", rows: 1, cols: 300, exclude: -1, prepare: func(v []float32, cols int) {
			for i := range v {
				v[i] = inf
			}
		}},
		{name: "unaligned rows: the scalar loop", rows: 3, cols: 4099, exclude: 7, offset: 1},
		{name: "aligned start, odd length", rows: 2, cols: 1001, exclude: -1},
	} {
		vals := computetest.Random(rng, c.rows*c.cols, 3)
		if c.prepare != nil {
			c.prepare(vals, c.cols)
		}
		all := computetest.Upload(b, compute.F32, 1, c.offset+c.rows*c.cols, append(make([]float32, c.offset), vals...))
		lg := all.Reshape(c.offset+c.rows*c.cols, 1).Slice(c.offset, c.offset+c.rows*c.cols).Reshape(c.rows, c.cols)
		// Each row over several blocks (from selChunk columns on), and in one.
		for _, split := range []bool{true, false} {
			b.selSplit = split
			for rep := range 2 { // twice: the split kernel's counters are back to zero
				ids, probs := b.Alloc(compute.I32, c.rows, 1), b.Alloc(compute.F32, c.rows, 1)
				computetest.Poison(b, probs)
				b.ArgmaxProb(ids, probs, lg, c.exclude)
				gotIDs, gotP := make([]int32, c.rows), read(t, b, probs)
				if err := b.Read(gotIDs, ids); err != nil {
					t.Fatal(err)
				}
				for r := range c.rows {
					id, p32 := compute.ArgmaxProbRow(vals[r*c.cols:(r+1)*c.cols], c.exclude)
					p := float64(p32)
					// A row of −inf only: the definition divides 0 by 0, so only the id counts.
					if gotIDs[r] != int32(id) || !math.IsNaN(p) && !(math.Abs(float64(gotP[r])-p) <= 1e-6*p+1e-12) {
						t.Errorf("%s (split %v, run %d), row %d: got id %d p %.9g, want id %d p %.9g", c.name, split, rep+1, r, gotIDs[r], gotP[r], id, p)
					}
				}
			}
		}
		b.selSplit = true
	}
}

// The tiled kernels' result for a batch row does not depend on the other
// rows of the batch: the float32 one's, and the tensor-core one's over
// bfloat16 caches (whose splits and groups of warps depend on a row's
// shape only).
func TestAttentionTiledRowIndependence(t *testing.T) {
	b := newBackend(t)
	rng := rand.New(rand.NewPCG(27, 28))
	const nb, n, T, heads, kvHeads, hd = 3, 96, 400, 4, 2, 128
	span := []int32{0, 400, 150, 380, 0, 64}
	qpos := make([]int32, nb*n)
	for r := range qpos {
		qpos[r] = int32(T - n + r%n)
	}
	cols, kvc := heads*hd, kvHeads*hd
	qv := computetest.Random(rng, nb*n*cols, 1)
	kv, vv := computetest.Random(rng, nb*T*kvc, 1), computetest.Random(rng, nb*T*kvc, 1)
	for _, cdt := range []compute.DType{compute.F32, compute.BF16} {
		for _, causal := range []bool{false, true} {
			out := b.Alloc(compute.F32, nb*n, cols)
			b.Attention(out, computetest.Upload(b, compute.F32, nb*n, cols, qv), computetest.Upload(b, cdt, nb*T, kvc, kv),
				computetest.Upload(b, cdt, nb*T, kvc, vv), computetest.UploadI32(b, qpos), computetest.UploadI32(b, span),
				heads, kvHeads, causal)
			batch := bits(t, b, out)
			for r := range nb {
				one := b.Alloc(compute.F32, n, cols)
				b.Attention(one, computetest.Upload(b, compute.F32, n, cols, qv[r*n*cols:(r+1)*n*cols]),
					computetest.Upload(b, cdt, T, kvc, kv[r*T*kvc:(r+1)*T*kvc]),
					computetest.Upload(b, cdt, T, kvc, vv[r*T*kvc:(r+1)*T*kvc]),
					computetest.UploadI32(b, qpos[r*n:(r+1)*n]), computetest.UploadI32(b, span[2*r:2*r+2]), heads, kvHeads, causal)
				sameBits(t, fmt.Sprintf("%v caches, causal %v, batch row %d against the row alone", cdt, causal, r),
					batch[r*n*cols:(r+1)*n*cols], bits(t, b, one))
			}
		}
	}
}

// RoPEStore is RoPE, RoPE, Scatter, Scatter bit for bit, into caches of
// each type, with LLaMA-3's heads; a position outside the tables leaves its
// row unrotated and a cache row out of range is not written, on both.
func TestRoPEStoreMatchesComposed(t *testing.T) {
	b := newBackend(t)
	rng := rand.New(rand.NewPCG(29, 30))
	const heads, kvHeads, maxPos, slots = 32, 8, 300, 64
	for _, c := range []struct {
		name      string
		hd        int // 128: four items a thread; 12: one
		pos, rows []int32
	}{
		{"decode", 128, []int32{17}, []int32{40}},
		{"a block of 5, one position past the tables, one row past the cache", 128, []int32{3, 299, 300, 7, 8}, []int32{0, 63, 5, 64, 9}},
		{"heads of 12 (one item a thread)", 12, []int32{3, 299, 300, 7, 8}, []int32{0, 63, 5, 64, 9}},
	} {
		hd := c.hd
		cos, sin := computetest.Random(rng, maxPos*hd/2, 1), computetest.Random(rng, maxPos*hd/2, 1)
		for _, cdt := range []compute.DType{compute.F32, compute.BF16, compute.F16} {
			n := len(c.pos)
			qv, kv, vv := computetest.Random(rng, n*heads*hd, 1), computetest.Random(rng, n*kvHeads*hd, 1), computetest.Random(rng, n*kvHeads*hd, 1)
			cache := computetest.Random(rng, slots*kvHeads*hd, 1)
			run := func(fused bool) [4][]uint32 {
				q, k := computetest.Upload(b, compute.F32, n, heads*hd, qv), computetest.Upload(b, compute.F32, n, kvHeads*hd, kv)
				v := computetest.Upload(b, compute.F32, n, kvHeads*hd, vv)
				kc, vc := computetest.Upload(b, cdt, slots, kvHeads*hd, cache), computetest.Upload(b, cdt, slots, kvHeads*hd, cache)
				ct, st := computetest.Upload(b, compute.F32, maxPos, hd/2, cos), computetest.Upload(b, compute.F32, maxPos, hd/2, sin)
				pos, rows := computetest.UploadI32(b, c.pos), computetest.UploadI32(b, c.rows)
				if fused {
					b.RoPEStore(q, k, v, kc, vc, rows, ct, st, pos, hd)
				} else {
					b.RoPE(q, ct, st, pos, hd)
					b.RoPE(k, ct, st, pos, hd)
					b.Scatter(kc, k, rows)
					b.Scatter(vc, v, rows)
				}
				return [4][]uint32{bits(t, b, q), bits(t, b, k), bits(t, b, kc), bits(t, b, vc)}
			}
			got, want := run(true), run(false)
			for i, name := range []string{"q", "k", "key cache", "value cache"} {
				sameBits(t, fmt.Sprintf("%s, %v cache: %s", c.name, cdt, name), got[i], want[i])
			}
		}
	}
}

// The skinny kernel computes each row of x with the same operations
// whatever the number of rows it takes (9 to 64), and its split-k counters
// are back to zero after each launch, so that a graph replays it.
func TestSkinnyBatchInvariance(t *testing.T) {
	b := newBackend(t)
	if b.skinnyMax <= gemvMaxRows {
		t.Skip("no skinny kernel before sm_80")
	}
	rng := rand.New(rand.NewPCG(31, 32))
	const k, m = 4096, 1100 // 16 splits of k: the last-block reduction
	for _, dt := range []compute.DType{compute.BF16, compute.F16} {
		w := computetest.Upload(b, dt, m, k, computetest.Random(rng, m*k, 0.1))
		u := computetest.Upload(b, dt, m, k, computetest.Random(rng, m*k, 0.1))
		x := computetest.Upload(b, compute.F32, skinnyMaxRows, k, computetest.Random(rng, skinnyMaxRows*k, 1))
		full, fullSw := b.Alloc(compute.F32, skinnyMaxRows, m), b.Alloc(compute.F32, skinnyMaxRows, m)
		b.MatMul(full, x, w)
		b.MatMulSwiGLU(fullSw, x, w, u)
		want, wantSw := bits(t, b, full), bits(t, b, fullSw)
		for _, c := range []struct{ r0, n int }{{0, 9}, {5, 16}, {20, 17}, {31, 33}, {0, 64}} {
			out, sw := b.Alloc(compute.F32, c.n, m), b.Alloc(compute.F32, c.n, m)
			b.MatMul(out, x.Slice(c.r0, c.r0+c.n), w)
			b.MatMulSwiGLU(sw, x.Slice(c.r0, c.r0+c.n), w, u)
			name := fmt.Sprintf("%v: rows %d…%d of a batch of 64 against a batch of %d", dt, c.r0, c.r0+c.n-1, c.n)
			sameBits(t, name, bits(t, b, out), want[c.r0*m:(c.r0+c.n)*m])
			sameBits(t, name+", SwiGLU", bits(t, b, sw), wantSw[c.r0*m:(c.r0+c.n)*m])
		}
		out := b.Alloc(compute.F32, 32, m)
		g, err := b.Record(func() { b.MatMul(out, x.Slice(0, 32), w) })
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			computetest.Poison(b, out)
			if err := g.Launch(); err != nil {
				t.Fatal(err)
			}
			sameBits(t, fmt.Sprintf("%v: replay %d of a recorded launch", dt, i+1), bits(t, b, out), want[:32*m])
		}
		g.Close()
	}
}

// Three projections of one shape on cuBLAS (LLaDA's q, k and v beyond the
// GEMV and skinny paths) run as one batched product: the same results as
// each alone, also when the scratch cuts x in slices of rows (each slice
// rewrites the pointer arrays).
func TestMatMul3Batched(t *testing.T) {
	b, c := newBackend(t), newCPU(t)
	rng := rand.New(rand.NewPCG(25, 26))
	for _, s := range []struct {
		dt      compute.DType
		n, k, m int
		scratch int64
	}{
		{compute.BF16, 72, 512, 96, 0},
		{compute.F16, 100, 256, 64, 0},
		{compute.BF16, 90, 512, 96, 40 << 10}, // 40 rows a slice: three slices
	} {
		name := fmt.Sprintf("%v n=%d k=%d m=%d", s.dt, s.n, s.k, s.m)
		if s.scratch > 0 {
			b.scratch.bytes = s.scratch
			name += fmt.Sprintf(", scratch %d B", s.scratch)
		}
		xv, gv := computetest.Random(rng, s.n*s.k, 1), computetest.Random(rng, s.k, 1)
		wv := [3][]float32{computetest.Random(rng, s.m*s.k, 0.1), computetest.Random(rng, s.m*s.k, 0.1), computetest.Random(rng, s.m*s.k, 0.1)}
		run := func(be compute.Backend, fused bool) [6][]float32 {
			x, g := computetest.Upload(be, compute.F32, s.n, s.k, xv), computetest.Upload(be, compute.F32, 1, s.k, gv)
			var w, d, nd [3]compute.Tensor
			for i := range w {
				w[i] = computetest.Upload(be, s.dt, s.m, s.k, wv[i])
				d[i], nd[i] = be.Alloc(compute.F32, s.n, s.m), be.Alloc(compute.F32, s.n, s.m)
				computetest.Poison(be, d[i])
				computetest.Poison(be, nd[i])
			}
			xn := be.Alloc(compute.F32, s.n, s.k)
			const eps = 1e-5
			if fused {
				cb := be.(*Backend)
				cb.MatMul3(d[0], d[1], d[2], x, w[0], w[1], w[2])
				cb.NormMatMul3(nd[0], nd[1], nd[2], xn, x, g, eps, w[0], w[1], w[2])
			} else {
				be.RMSNorm(xn, x, g, eps)
				for i := range w {
					be.MatMul(d[i], x, w[i])
					be.MatMul(nd[i], xn, w[i])
				}
			}
			var out [6][]float32
			for i := range 3 {
				out[i], out[3+i] = read(t, be, d[i]), read(t, be, nd[i])
			}
			return out
		}
		got, comp, ref := run(b, true), run(b, false), run(c, false)
		for i := range got {
			what := fmt.Sprintf("%s: %s output %d", name, map[bool]string{false: "MatMul3", true: "NormMatMul3"}[i >= 3], i%3+1)
			compare(t, what+" against the CPU", got[i], ref[i], 1e-2)
			compare(t, what+" against each projection alone on CUDA", got[i], comp[i], 1e-5)
		}
		b.scratch.bytes = scratchBytes
	}
}

// AttentionMatMulAdd is Attention then MatMulAdd bit for bit, on both of
// its paths: where the tensor-core attention runs in one chunk and cuBLAS
// takes the product, the attention writes the product's bfloat16 input
// itself and att stays as it was (poisoned here: the test sees which path
// ran); elsewhere the two ops run and att holds the attention.
func TestAttentionMatMulAddMatchesComposed(t *testing.T) {
	b, c := newBackend(t), newCPU(t)
	rng := rand.New(rand.NewPCG(31, 32))
	for _, s := range []struct {
		name           string
		nb, n, T       int
		heads, kv, hd  int
		m              int
		cdt, wdt       compute.DType
		causal         bool
		blocks, groups int // b.attnMMABlocks, b.attnMMAGroups for the call (b.attnOneChunk 0: the blocks alone decide)
		fused          bool
	}{
		{"two rows of 96 causal queries, one chunk, one group", 2, 96, 200, 4, 2, 128, 300, compute.BF16, compute.BF16, true, 1, 1, true},
		{"the same, two groups", 2, 96, 200, 4, 2, 128, 300, compute.BF16, compute.BF16, true, 1, 2, true},
		{"the same, four groups of two warps", 2, 96, 200, 4, 2, 128, 300, compute.BF16, compute.BF16, true, 1, 4, true},
		{"a dual-cache block: 32 queries, bidirectional, four groups by the rule", 1, 32, 256, 8, 8, 128, 200, compute.BF16, compute.BF16, false, 1, 0, true},
		{"bidirectional, heads of 64, a slot range past the queries", 1, 130, 300, 6, 6, 64, 200, compute.BF16, compute.BF16, false, 1, 0, true},
		{"split in chunks: the two ops", 2, 96, 200, 4, 2, 128, 300, compute.BF16, compute.BF16, true, attnMMABlocks, 0, false},
		{"float32 caches: the two ops", 1, 96, 200, 4, 2, 128, 300, compute.F32, compute.BF16, true, 1, 0, false},
		{"half weights: the two ops", 1, 96, 200, 4, 2, 128, 300, compute.BF16, compute.F16, true, 1, 0, false},
		{"rows for the skinny kernel: the two ops", 1, 40, 200, 4, 2, 128, 300, compute.BF16, compute.BF16, true, 1, 0, false},
	} {
		t.Run(s.name, func(t *testing.T) {
			defer func(bl, g, oc, sk int) {
				b.attnMMABlocks, b.attnMMAGroups, b.attnOneChunk, b.skinnyMax = bl, g, oc, sk
			}(b.attnMMABlocks, b.attnMMAGroups, b.attnOneChunk, b.skinnyMax)
			b.attnMMABlocks, b.attnMMAGroups, b.attnOneChunk = s.blocks, s.groups, 0
			if s.n <= 32 { // a dual-cache block's product on cuBLAS, as by default, not on the skinny kernel
				b.skinnyMax = gemvMaxRows
			}
			rows, cols, kvc := s.nb*s.n, s.heads*s.hd, s.kv*s.hd
			qv := computetest.Random(rng, rows*cols, 1)
			kv, vv := computetest.Random(rng, s.nb*s.T*kvc, 1), computetest.Random(rng, s.nb*s.T*kvc, 1)
			wv, xv := computetest.Random(rng, s.m*cols, 0.1), computetest.Random(rng, rows*s.m, 1)
			qpos, span := make([]int32, rows), make([]int32, 2*s.nb)
			for r := range rows {
				qpos[r] = int32(s.T - s.n + r%s.n)
			}
			for i := range s.nb {
				span[2*i], span[2*i+1] = int32(10*i), int32(s.T-5*i)
			}
			run := func(be compute.Backend, fused bool) (x, att compute.Tensor) {
				x, att = computetest.Upload(be, compute.F32, rows, s.m, xv), be.Alloc(compute.F32, rows, cols)
				computetest.Poison(be, att)
				q, w := computetest.Upload(be, compute.F32, rows, cols, qv), computetest.Upload(be, s.wdt, s.m, cols, wv)
				kc, vc := computetest.Upload(be, s.cdt, s.nb*s.T, kvc, kv), computetest.Upload(be, s.cdt, s.nb*s.T, kvc, vv)
				qp, sp := computetest.UploadI32(be, qpos), computetest.UploadI32(be, span)
				if fused {
					be.(*Backend).AttentionMatMulAdd(x, att, w, q, kc, vc, qp, sp, s.heads, s.kv, s.causal)
				} else {
					be.Attention(att, q, kc, vc, qp, sp, s.heads, s.kv, s.causal)
					if cb, ok := be.(*Backend); ok {
						cb.MatMulAdd(x, att, w) // the product the fusion runs
					} else {
						t := be.Alloc(compute.F32, rows, s.m)
						be.MatMul(t, att, w)
						be.Add(x, x, t)
					}
				}
				return x, att
			}
			gx, gatt := run(b, true)
			cx, catt := run(b, false)
			rx, _ := run(c, false)
			sameBits(t, "dst against Attention then MatMulAdd", bits(t, b, gx), bits(t, b, cx))
			compare(t, "dst against the CPU", read(t, b, gx), read(t, c, rx), 1e-2)
			got := bits(t, b, gatt)
			if s.fused {
				nan := math.Float32bits(float32(math.NaN()))
				for i, v := range got {
					if v != nan {
						t.Fatalf("att[%d] = %v written: the fused path did not run", i, math.Float32frombits(v))
					}
				}
			} else {
				sameBits(t, "att against Attention", got, bits(t, b, catt))
			}
		})
	}
}

// A batched product's pointer arrays come from the pointer table: one
// entry per set of operands, uploaded before the first eager call reads it
// and, for a recorded call, when the recording ends; a full table falls
// back to set_ptrs3 while a graph lives and starts over when none does.
// Every product is checked against MatMul of each weight alone.
func TestBatchedPointerTable(t *testing.T) {
	b := newBackend(t)
	if !cuda.HasGemmBatchedEx() {
		t.Skip("cuBLAS has no cublasGemmBatchedEx")
	}
	rng := rand.New(rand.NewPCG(33, 34))
	const n, k, m = 72, 512, 96 // above the skinny kernel's rows: cuBLAS
	xv := computetest.Random(rng, n*k, 1)
	x := computetest.Upload(b, compute.F32, n, k, xv)
	var w [3]compute.Tensor
	for i := range w {
		w[i] = computetest.Upload(b, compute.BF16, m, k, computetest.Random(rng, m*k, 0.1))
	}
	var d [4][3]compute.Tensor // four sets of outputs: four sets of pointers
	for s := range d {
		for i := range d[s] {
			d[s][i] = b.Alloc(compute.F32, n, m)
		}
	}
	want := func() [3][]float32 {
		var out [3][]float32
		for i := range w {
			one := b.Alloc(compute.F32, n, m)
			b.MatMul(one, x, w[i])
			out[i] = read(t, b, one)
			b.Free(one)
		}
		return out
	}
	ref := want()
	run := func(s int) { b.MatMul3(d[s][0], d[s][1], d[s][2], x, w[0], w[1], w[2]) }
	check := func(what string, s int) {
		t.Helper()
		for i := range w {
			compare(t, fmt.Sprintf("%s: output %d", what, i+1), read(t, b, d[s][i]), ref[i], 1e-5)
		}
		for i := range d[s] {
			computetest.Poison(b, d[s][i])
		}
	}
	entries := func(what string, want int) {
		t.Helper()
		if got := len(b.ptrs.host); got != want || b.ptrs.sent != got {
			t.Errorf("%s: %d entries, %d uploaded; want %d, all uploaded", what, got, b.ptrs.sent, want)
		}
	}
	e0 := len(b.ptrs.host)
	run(0)
	check("first call", 0)
	run(0)
	check("the same operands again", 0)
	entries("one set", e0+1)
	run(1)
	check("other outputs", 1)
	entries("two sets", e0+2)

	g, err := b.Record(func() { run(2) })
	if err != nil {
		t.Fatal(err)
	}
	entries("after a recording of a third set", e0+3)
	for round := range 2 {
		if err := g.Launch(); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("replay %d", round), 2)
		xv = computetest.Random(rng, n*k, 1)
		b.Write(x, xv)
		ref = want()
	}

	// Full while a graph lives: set_ptrs3, recorded and eager, and nothing
	// is overwritten.
	b.ptrs.cap = len(b.ptrs.host)
	g2, err := b.Record(func() { run(3) })
	if err != nil {
		t.Fatal(err)
	}
	if err := g2.Launch(); err != nil {
		t.Fatal(err)
	}
	check("recorded with the table full", 3)
	if err := g.Launch(); err != nil {
		t.Fatal(err)
	}
	check("the first graph after", 2)
	g2.Close()
	run(3)
	check("eager with the table full and a graph alive", 3)
	entries("with the table full", e0+3)
	g.Close()

	// With no graph alive a full table starts over when a new set comes.
	b.ptrs.cap = 1
	for _, s := range []int{3, 0, 1, 0} {
		run(s)
		check(fmt.Sprintf("a table of one entry, outputs %d", s), s)
		entries("a table of one entry", 1)
	}
}
