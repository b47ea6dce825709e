package computetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"dllmbench/compute"
	"dllmbench/compute/cpu"
)

// Tolerance bounds the norm-wise relative error of a backend against the
// CPU backend: F32 when all operands are float32, Half when a weight or a
// stored activation is bfloat16 or half.
type Tolerance struct {
	F32, Half float64
}

// Default is the bound the project holds every backend to.
var Default = Tolerance{F32: 1e-5, Half: 1e-2}

// Run checks every op of b against the CPU backend on random inputs.
func Run(t *testing.T, b compute.Backend, tol Tolerance) {
	s := &suite{b: b, ref: cpu.New(1), tol: tol, rng: rand.New(rand.NewPCG(1, 2))}
	t.Run("MatMul", s.matMul)
	t.Run("RMSNorm", s.rmsNorm)
	t.Run("AddSiLUMul", s.elementwise)
	t.Run("RoPE", s.rope)
	t.Run("GatherScatter", s.gatherScatter)
	t.Run("Attention", s.attention)
	t.Run("ArgmaxProb", s.argmaxProb)
	t.Run("GumbelArgmaxProb", s.gumbel)
	t.Run("Sample", s.sample)
	t.Run("Unmask", s.unmask)
	t.Run("Fusions", s.fusions)
	t.Run("EncoderOps", s.encoder)
}

type suite struct {
	b, ref compute.Backend
	tol    Tolerance
	rng    *rand.Rand
}

// Random returns n normal values, scaled.
func Random(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

// Upload makes a rows×cols tensor of dt on b holding vals (rounded to dt).
func Upload(b compute.Backend, dt compute.DType, rows, cols int, vals []float32) compute.Tensor {
	t := b.Alloc(dt, rows, cols)
	switch dt {
	case compute.F32:
		b.Write(t, vals)
	case compute.BF16, compute.F16:
		h := make([]uint16, len(vals))
		for i, v := range vals {
			if dt == compute.BF16 {
				h[i] = compute.F32ToBF16(v)
			} else {
				h[i] = compute.F32ToF16(v)
			}
		}
		b.Write(t, h)
	default:
		panic(fmt.Sprintf("computetest: Upload of %v", dt))
	}
	return t
}

// UploadI32 makes an n×1 I32 tensor.
func UploadI32(b compute.Backend, vals []int32) compute.Tensor {
	t := b.Alloc(compute.I32, len(vals), 1)
	b.Write(t, vals)
	return t
}

// Download reads any float tensor as float32.
func Download(tb testing.TB, b compute.Backend, t compute.Tensor) []float32 {
	tb.Helper()
	out := make([]float32, t.Len())
	switch t.DType() {
	case compute.F32:
		if err := b.Read(out, t); err != nil {
			tb.Fatalf("Read: %v", err)
		}
	case compute.BF16, compute.F16:
		h := make([]uint16, t.Len())
		if err := b.Read(h, t); err != nil {
			tb.Fatalf("Read: %v", err)
		}
		for i, v := range h {
			if t.DType() == compute.BF16 {
				out[i] = compute.BF16ToF32(v)
			} else {
				out[i] = compute.F16ToF32(v)
			}
		}
	default:
		tb.Fatalf("Download of %v", t.DType())
	}
	return out
}

// Poison fills a float tensor with NaN so unwritten elements show.
func Poison(b compute.Backend, t compute.Tensor) {
	nan := float32(math.NaN())
	v := make([]float32, t.Len())
	for i := range v {
		v[i] = nan
	}
	switch t.DType() {
	case compute.F32:
		b.Write(t, v)
	case compute.BF16, compute.F16:
		h := make([]uint16, t.Len())
		for i := range h {
			h[i] = 0x7fc0 // a NaN in both bf16 and half
		}
		b.Write(t, h)
	}
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// pair holds the same tensor on the backend under test and on the reference.
type pair struct{ got, want compute.Tensor }

func (s *suite) upload(dt compute.DType, rows, cols int, vals []float32) pair {
	return pair{Upload(s.b, dt, rows, cols, vals), Upload(s.ref, dt, rows, cols, vals)}
}

func (s *suite) uploadI32(vals []int32) pair {
	return pair{UploadI32(s.b, vals), UploadI32(s.ref, vals)}
}

func (s *suite) output(dt compute.DType, rows, cols int) pair {
	p := pair{s.b.Alloc(dt, rows, cols), s.ref.Alloc(dt, rows, cols)}
	Poison(s.b, p.got)
	return p
}

// compare checks got against want within tol and reports the error.
func (s *suite) compare(t *testing.T, name string, out pair, tol float64) {
	t.Helper()
	got, want := Download(t, s.b, out.got), Download(t, s.ref, out.want)
	rel, maxAbs := RelErr(got, widen(want))
	if !(rel <= tol) {
		t.Errorf("%s: relative error %.3g (max abs %.3g) exceeds %.1g", name, rel, maxAbs, tol)
	}
}

func (s *suite) tolFor(dts ...compute.DType) float64 {
	for _, d := range dts {
		if d != compute.F32 {
			return s.tol.Half
		}
	}
	return s.tol.F32
}

func (s *suite) matMul(t *testing.T) {
	for _, dt := range []compute.DType{compute.F32, compute.BF16, compute.F16} {
		for _, sh := range []struct{ n, k, m int }{
			{1, 64, 32},   // one token, as in decoding
			{3, 100, 17},  // odd sizes that leave kernel tails
			{8, 256, 130}, // a small batch over several column blocks
			{33, 72, 5},   // many rows, few outputs
		} {
			x := s.upload(compute.F32, sh.n, sh.k, Random(s.rng, sh.n*sh.k, 1))
			w := s.upload(dt, sh.m, sh.k, Random(s.rng, sh.m*sh.k, 0.1))
			out := s.output(compute.F32, sh.n, sh.m)
			s.b.MatMul(out.got, x.got, w.got)
			s.ref.MatMul(out.want, x.want, w.want)
			s.compare(t, fmt.Sprintf("%v %d×%d·(%d×%d)ᵀ", dt, sh.n, sh.k, sh.m, sh.k), out, s.tolFor(dt))
		}
	}
}

func (s *suite) rmsNorm(t *testing.T) {
	for _, sh := range []struct{ rows, cols int }{{1, 64}, {5, 100}, {17, 512}} {
		x := s.upload(compute.F32, sh.rows, sh.cols, Random(s.rng, sh.rows*sh.cols, 3))
		w := s.upload(compute.F32, 1, sh.cols, Random(s.rng, sh.cols, 1))
		out := s.output(compute.F32, sh.rows, sh.cols)
		s.b.RMSNorm(out.got, x.got, w.got, 1e-5)
		s.ref.RMSNorm(out.want, x.want, w.want, 1e-5)
		s.compare(t, fmt.Sprintf("%d×%d", sh.rows, sh.cols), out, s.tol.F32)
	}
}

func (s *suite) elementwise(t *testing.T) {
	for _, n := range []int{1, 7, 1000, 70000} {
		a := s.upload(compute.F32, 1, n, Random(s.rng, n, 2))
		c := s.upload(compute.F32, 1, n, Random(s.rng, n, 2))
		sum := s.output(compute.F32, 1, n)
		s.b.Add(sum.got, a.got, c.got)
		s.ref.Add(sum.want, a.want, c.want)
		s.compare(t, fmt.Sprintf("Add %d", n), sum, s.tol.F32)
		prod := s.output(compute.F32, 1, n)
		s.b.SiLUMul(prod.got, a.got, c.got)
		s.ref.SiLUMul(prod.want, a.want, c.want)
		s.compare(t, fmt.Sprintf("SiLUMul %d", n), prod, s.tol.F32)
		// Lerp rounds each operation on its own on every backend: the same
		// bits, in place over b as guidance runs it.
		g := s.upload(compute.F32, 1, n, Random(s.rng, n, 2))
		s.b.Lerp(g.got, a.got, g.got, 2.5)
		s.ref.Lerp(g.want, a.want, g.want, 2.5)
		s.compare(t, fmt.Sprintf("Lerp %d", n), g, 0)
	}
}

func (s *suite) rope(t *testing.T) {
	const rows, heads, hd, maxPos = 7, 3, 16, 50
	cos, sin := make([]float32, maxPos*hd/2), make([]float32, maxPos*hd/2)
	for i := range cos {
		a := s.rng.Float64() * 2 * math.Pi
		cos[i], sin[i] = float32(math.Cos(a)), float32(math.Sin(a))
	}
	pos := make([]int32, rows)
	for i := range pos {
		pos[i] = int32(s.rng.IntN(maxPos))
	}
	c, sn, p := s.upload(compute.F32, maxPos, hd/2, cos), s.upload(compute.F32, maxPos, hd/2, sin), s.uploadI32(pos)
	x := s.upload(compute.F32, rows, heads*hd, Random(s.rng, rows*heads*hd, 1))
	s.b.RoPE(x.got, c.got, sn.got, p.got, hd)
	s.ref.RoPE(x.want, c.want, sn.want, p.want, hd)
	s.compare(t, "RoPE", x, s.tol.F32)
}

func (s *suite) gatherScatter(t *testing.T) {
	for _, c := range []struct{ src, dst compute.DType }{
		{compute.BF16, compute.F32}, // embedding lookup from bf16 weights
		{compute.F32, compute.F32},
		{compute.F32, compute.BF16}, // keys into a bf16 cache
		{compute.F16, compute.F32},
	} {
		const rows, cols, n = 20, 24, 6
		src := s.upload(c.src, rows, cols, Random(s.rng, rows*cols, 1))
		idx := s.uploadI32([]int32{3, 0, 19, 3, 7, 11})
		g := s.output(c.dst, n, cols)
		s.b.Gather(g.got, src.got, idx.got)
		s.ref.Gather(g.want, src.want, idx.want)
		s.compare(t, fmt.Sprintf("Gather %v→%v", c.src, c.dst), g, 0)

		small := s.upload(c.src, n, cols, Random(s.rng, n*cols, 1))
		dst := s.upload(c.dst, rows, cols, Random(s.rng, rows*cols, 1))
		sidx := s.uploadI32([]int32{5, 1, 19, 0, 8, 2})
		s.b.Scatter(dst.got, small.got, sidx.got)
		s.ref.Scatter(dst.want, small.want, sidx.want)
		s.compare(t, fmt.Sprintf("Scatter %v→%v", c.src, c.dst), dst, 0)
	}
}

// attention checks Attention over float32 and bfloat16 caches; the cache
// is uploaded in its dtype to both backends, so both read the same rounded
// values. The cases of 64 queries and more, with head sizes of 64 and 128,
// are a GPU's tiled (tensor-core) kernels' shapes.
func (s *suite) attention(t *testing.T) {
	for _, c := range []struct {
		name               string
		nb, n, slots       int
		heads, kvHeads, hd int
		causal             bool
		span               []int32
	}{
		{"decode one row", 1, 1, 9, 4, 2, 16, true, []int32{0, 9}},
		{"causal batch with left padding", 2, 4, 10, 4, 2, 16, true, []int32{3, 10, 0, 10}},
		{"bidirectional full heads", 2, 5, 8, 3, 3, 8, false, []int32{0, 8, 2, 8}},
		{"a row that sees nothing", 2, 2, 6, 2, 1, 8, false, []int32{0, 6, 4, 4}},
		{"prefix of the cache only", 1, 3, 12, 2, 2, 32, false, []int32{0, 7}},
		// A prefill of 80 queries per row over spans starting past 0, one
		// ending before the last queries' positions.
		{"causal GQA prefill, hd 64", 2, 80, 96, 4, 2, 64, true, []int32{5, 96, 0, 90}},
		{"causal GQA prefill, hd 128", 1, 64, 64, 8, 2, 128, true, []int32{3, 64}},
		// A diffusion step: every query sees the whole span, except in a
		// batch row whose span is empty.
		{"bidirectional block with a row that sees nothing, hd 64", 2, 64, 70, 2, 1, 64, false, []int32{0, 70, 9, 9}},
	} {
		for _, cdt := range []compute.DType{compute.F32, compute.BF16} {
			t.Run(fmt.Sprintf("%s/%v cache", c.name, cdt), func(t *testing.T) {
				rows := c.nb * c.n
				qpos := make([]int32, rows)
				for r := range qpos {
					qpos[r] = int32(c.slots - c.n + r%c.n) // queries are the last n slots
				}
				q := s.upload(compute.F32, rows, c.heads*c.hd, Random(s.rng, rows*c.heads*c.hd, 1))
				k := s.upload(cdt, c.nb*c.slots, c.kvHeads*c.hd, Random(s.rng, c.nb*c.slots*c.kvHeads*c.hd, 1))
				v := s.upload(cdt, c.nb*c.slots, c.kvHeads*c.hd, Random(s.rng, c.nb*c.slots*c.kvHeads*c.hd, 1))
				qp, sp := s.uploadI32(qpos), s.uploadI32(c.span)
				out := s.output(compute.F32, rows, c.heads*c.hd)
				s.b.Attention(out.got, q.got, k.got, v.got, qp.got, sp.got, c.heads, c.kvHeads, c.causal)
				s.ref.Attention(out.want, q.want, k.want, v.want, qp.want, sp.want, c.heads, c.kvHeads, c.causal)
				s.compare(t, fmt.Sprintf("%s, %v cache", c.name, cdt), out, s.tolFor(cdt))
			})
		}
	}
}

// gumbel checks the GumbelSelector against its definition on the host
// (compute.GumbelArgmaxProbRow): the same column for the same keys, and
// the probability within the bound ArgmaxProb is held to.
func (s *suite) gumbel(t *testing.T) {
	sel, ok := s.b.(compute.GumbelSelector)
	if !ok {
		t.Skip("the backend draws diffusion's tokens on the host")
	}
	for _, c := range []struct {
		rows, cols, exclude int
		T, scale            float64
	}{
		{1, 10, -1, 1, 1},
		{3, 4099, 7, 0.5, 3},
		{33, 126464, 126336, 1, 3},   // LLaDA's vocabulary and mask id, a block of rows
		{4, 126464, 126336, 2, 0.02}, // nearly flat: the noise decides
		{2, 1<<17 + 5, 3, 1, 2},      // 33 blocks: a lane of the merge takes two
	} {
		vals := Random(s.rng, c.rows*c.cols, c.scale)
		if c.exclude >= 0 {
			vals[c.exclude] = 100 // the excluded column would win
		}
		keys := make([]uint64, c.rows)
		words := make([]int32, 2*c.rows)
		for r := range keys {
			keys[r] = s.rng.Uint64()
			if r == 0 && c.cols == 10 {
				keys[r] = 0xe2b2decc73c4f72a // column 0's noise is +Inf (compute's TestGumbelNoiseEnds)
			}
			compute.PutWord64(words, r, keys[r])
		}
		lg := Upload(s.b, compute.F32, c.rows, c.cols, vals)
		kt := s.b.Alloc(compute.I32, c.rows, 2)
		s.b.Write(kt, words)
		ids, probs := s.b.Alloc(compute.I32, c.rows, 1), s.b.Alloc(compute.F32, c.rows, 1)
		Poison(s.b, probs)
		sel.GumbelArgmaxProb(ids, probs, lg, kt, c.exclude, c.T)
		gotIDs, gotP := make([]int32, c.rows), Download(t, s.b, probs)
		if err := s.b.Read(gotIDs, ids); err != nil {
			t.Fatal(err)
		}
		for r := range c.rows {
			id, p := compute.GumbelArgmaxProbRow(vals[r*c.cols:(r+1)*c.cols], c.exclude, keys[r], c.T)
			if int(gotIDs[r]) != id || !(math.Abs(float64(gotP[r]-p)) <= 1e-6*float64(p)+1e-12) {
				t.Errorf("%d×%d T=%g, row %d: got id %d p %.9g, want id %d p %.9g", c.rows, c.cols, c.T, r, gotIDs[r], gotP[r], id, p)
			}
		}
		for _, x := range []compute.Tensor{lg, kt, ids, probs} {
			s.b.Free(x)
		}
	}
}

// sample checks the Sampler against its definition on the host
// (compute.SampleRow): the same column for the same bits, on rows of
// every width a row of blocks splits at, with ties, nearly flat rows
// (random weights: top-p keeps most of the vocabulary) and peaked ones,
// at both ends of the uniform.
func (s *suite) sample(t *testing.T) {
	smp, ok := s.b.(compute.Sampler)
	if !ok {
		t.Skip("the backend samples on the host")
	}
	levels := []float32{-2, -1, float32(math.Copysign(0, -1)), 0, 0.5, 1, 3}
	var sc compute.SampleScratch
	for _, c := range []struct {
		name       string
		rows, cols int
		scale      float64 // 0: ties, from a few levels
	}{
		{"one column", 2, 1, 1},
		{"ties", 4, 300, 0},
		{"one block and one column", 3, 4097, 2},
		{"LLaDA's vocabulary, nearly flat", 3, 126464, 0.02},
		{"LLaMA-3's vocabulary, peaked", 5, 128256, 4},
		{"LLaMA-3's vocabulary, ties", 2, 128256, 0},
		{"past 2^20 columns: the draw walks the blocks 256 at a time", 1, 1<<20 + 4099, 1},
	} {
		vals := Random(s.rng, c.rows*c.cols, c.scale)
		if c.scale == 0 {
			for i := range vals {
				vals[i] = levels[s.rng.IntN(len(levels))]
			}
		}
		lg := Upload(s.b, compute.F32, c.rows, c.cols, vals)
		ids, bitsT := s.b.Alloc(compute.I32, c.rows, 1), s.b.Alloc(compute.I32, c.rows, 2)
		for _, p := range []compute.SampleParams{
			{Temperature: 1}, {Temperature: 0.7, TopK: 1}, {Temperature: 1, TopK: 50}, {Temperature: 1.3, TopK: c.cols},
			{Temperature: 1, TopP: 0.9}, {Temperature: 0.6, TopP: 0.3}, {Temperature: 1, TopK: 200, TopP: 0.95}, {Temperature: 2, TopP: 1},
			{Temperature: 1, TopK: c.cols - 1}, {Temperature: 1, TopP: 1e-9}, // ties at the k-th; top-p keeps one column
		} {
			for trial := range 4 {
				bits := make([]uint64, c.rows)
				words := make([]int32, 2*c.rows)
				for r := range bits {
					switch {
					case trial == 0 && r == 0:
						bits[r] = 0
					case trial == 0 && r == 1:
						bits[r] = 1<<64 - 1
					default:
						bits[r] = s.rng.Uint64()
					}
					compute.PutWord64(words, r, bits[r])
				}
				s.b.Write(bitsT, words)
				poison := make([]int32, c.rows)
				for r := range poison {
					poison[r] = -7
				}
				s.b.Write(ids, poison)
				smp.Sample(ids, lg, bitsT, p)
				got := make([]int32, c.rows)
				if err := s.b.Read(got, ids); err != nil {
					t.Fatal(err)
				}
				for r := range c.rows {
					if want := compute.SampleRow(vals[r*c.cols:(r+1)*c.cols], bits[r], p, &sc); int(got[r]) != want {
						t.Errorf("%s, %+v, row %d, bits %#x: drew %d, the definition %d", c.name, p, r, bits[r], got[r], want)
					}
				}
				// The same draw again: a Sampler's sums run in a fixed
				// order, so a seed gives the same tokens from run to run.
				s.b.Write(ids, poison)
				smp.Sample(ids, lg, bitsT, p)
				again := make([]int32, c.rows)
				if err := s.b.Read(again, ids); err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(again) != fmt.Sprint(got) {
					t.Errorf("%s, %+v: drew %v, then %v from the same logits and bits", c.name, p, got, again)
				}
			}
		}
		s.b.Free(lg)
		s.b.Free(ids)
		s.b.Free(bitsT)
	}
}

// argmaxProb checks the Selector fusion against its definition computed on
// the host in float64.
func (s *suite) argmaxProb(t *testing.T) {
	sel, ok := s.b.(compute.Selector)
	if !ok {
		t.Skip("the backend picks tokens on the host")
	}
	for _, c := range []struct {
		rows, cols, exclude int
	}{
		{1, 10, -1},     // one row
		{5, 1000, -1},   // several rows, a vocabulary-sized row
		{3, 4099, 7},    // an excluded column
		{33, 126464, 2}, // LLaDA's vocabulary, a block of rows
	} {
		vals := Random(s.rng, c.rows*c.cols, 3)
		// Make the excluded column the largest of row 0, and put a tie in
		// row 1, so both rules are exercised.
		if c.exclude >= 0 {
			vals[c.exclude] = 100
		}
		if c.rows > 1 {
			vals[c.cols+1], vals[c.cols+c.cols/2] = 50, 50
		}
		lg := Upload(s.b, compute.F32, c.rows, c.cols, vals)
		ids, probs := s.b.Alloc(compute.I32, c.rows, 1), s.b.Alloc(compute.F32, c.rows, 1)
		Poison(s.b, probs)
		sel.ArgmaxProb(ids, probs, lg, c.exclude)
		gotIDs, gotP := make([]int32, c.rows), Download(t, s.b, probs)
		if err := s.b.Read(gotIDs, ids); err != nil {
			t.Fatal(err)
		}
		for r := range c.rows {
			row := vals[r*c.cols : (r+1)*c.cols]
			best, m := -1, math.Inf(-1)
			for i, v := range row {
				m = max(m, float64(v))
				if i != c.exclude && (best < 0 || v > row[best]) {
					best = i
				}
			}
			var sum float64
			for _, v := range row {
				sum += math.Exp(float64(v) - m)
			}
			want := math.Exp(float64(row[best])-m) / sum
			if int(gotIDs[r]) != best || !(math.Abs(float64(gotP[r])-want) <= 1e-6*math.Max(want, 1e-30)+1e-12) {
				t.Errorf("%d×%d exclude %d, row %d: got id %d p %.9g, want id %d p %.9g", c.rows, c.cols, c.exclude, r, gotIDs[r], gotP[r], best, want)
			}
		}
	}

	// Rounding toward zero: a probability of 1 − 1.2e-8, which rounds to
	// 1 to nearest, stays below 1, and only an exact 1 (every other term
	// below double's resolution) gives 1, so that a threshold of 1 passes
	// only that (Fast-dLLM compares in float64).
	const cols = 8
	vals := make([]float32, 2*cols)
	for i := range vals {
		vals[i] = -20 // row 0: p = 1/(1 + 7·e^-20) ≈ 1 − 1.44e-8
	}
	vals[3] = 0
	for i := cols; i < 2*cols; i++ {
		vals[i] = -1000 // row 1: e^-1000 is 0 in double
	}
	vals[cols+5] = 0
	lg := Upload(s.b, compute.F32, 2, cols, vals)
	ids, probs := s.b.Alloc(compute.I32, 2, 1), s.b.Alloc(compute.F32, 2, 1)
	Poison(s.b, probs)
	sel.ArgmaxProb(ids, probs, lg, -1)
	gotIDs, gotP := make([]int32, 2), Download(t, s.b, probs)
	if err := s.b.Read(gotIDs, ids); err != nil {
		t.Fatal(err)
	}
	if gotIDs[0] != 3 || gotP[0] != math.Nextafter32(1, 0) {
		t.Errorf("near-certain row: got id %d p %.9g, want id 3 p %.9g (1 − 1.44e-8 toward zero)", gotIDs[0], gotP[0], math.Nextafter32(1, 0))
	}
	if gotIDs[1] != 5 || gotP[1] != 1 {
		t.Errorf("certain row: got id %d p %.9g, want id 5 p 1", gotIDs[1], gotP[1])
	}
}

// unmask checks the Unmasker against its definition (RefUnmask): rows
// with ties, with fewer masked positions than k, with none, and blocks of
// LLaDA's 32 and of a whole 1024-token generation.
func (s *suite) unmask(t *testing.T) {
	um, ok := s.b.(compute.Unmasker)
	if !ok {
		t.Skip("the backend commits diffusion steps on the host")
	}
	const mask = 7
	for _, c := range []struct {
		B, n, start, bl, k int
	}{
		{1, 8, 3, 4, 1},
		{3, 40, 8, 32, 2},
		{2, 64, 32, 32, 32}, // every position of a masked block
		{2, 20, 4, 16, 20},  // k past the block
		{1, 1100, 76, 1024, 5},
	} {
		canvas := make([]int32, c.B*c.n)
		ids := make([]int32, c.B*c.bl)
		probs := make([]float32, c.B*c.bl)
		for b := range c.B {
			for i := range c.n {
				canvas[b*c.n+i] = int32(s.rng.IntN(5))
				if i >= c.start && i < c.start+c.bl && (b == 0 || s.rng.IntN(3) > 0) {
					canvas[b*c.n+i] = mask
				}
			}
			for j := range c.bl {
				ids[b*c.bl+j] = int32(100 + b*c.bl + j)
				// Few distinct values, so that ties are common.
				probs[b*c.bl+j] = float32(s.rng.IntN(4)) / 4
			}
		}
		if c.B > 1 { // a row with no masked position
			for i := c.start; i < c.start+c.bl; i++ {
				canvas[(c.B-1)*c.n+i] = 1
			}
		}
		cv := UploadI32(s.b, canvas)
		picked := UploadI32(s.b, make([]int32, c.B*c.k))
		s.b.Write(picked, slices.Repeat([]int32{-99}, c.B*c.k))
		um.Unmask(cv.Reshape(c.B, c.n), picked.Reshape(c.B, c.k), UploadI32(s.b, ids), Upload(s.b, compute.F32, len(probs), 1, probs),
			c.start, c.k, mask)
		gotC, gotP := make([]int32, len(canvas)), make([]int32, c.B*c.k)
		if err := s.b.Read(gotC, cv); err != nil {
			t.Fatal(err)
		}
		if err := s.b.Read(gotP, picked); err != nil {
			t.Fatal(err)
		}
		wantC, wantP := RefUnmask(canvas, ids, probs, c.B, c.start, c.k, mask)
		for _, r := range []struct {
			what      string
			got, want []int32
		}{{"canvas", gotC, wantC}, {"picked", gotP, wantP}} {
			for i := range r.got {
				if r.got[i] != r.want[i] {
					t.Errorf("B=%d n=%d start=%d bl=%d k=%d: %s[%d] = %d, want %d", c.B, c.n, c.start, c.bl, c.k, r.what, i, r.got[i], r.want[i])
					break
				}
			}
		}
	}
}

// fusions checks each fused op a backend implements against the composed
// ops on the reference backend, at a few rows (a decoding batch), at 20 (a
// block of tokens) and at 72 (a prompt).
func (s *suite) fusions(t *testing.T) {
	for _, n := range []int{3, 20, 72} {
		s.projFusions(t, n)
	}
	s.ropeStore(t)
}

func (s *suite) projFusions(t *testing.T, n int) {
	const k, m = 200, 70
	for _, dt := range []compute.DType{compute.F32, compute.BF16} {
		x := s.upload(compute.F32, n, k, Random(s.rng, n*k, 1))
		w1 := s.upload(dt, m, k, Random(s.rng, m*k, 0.1))
		w2 := s.upload(dt, m, k, Random(s.rng, m*k, 0.1))
		w3 := s.upload(dt, 2*m, k, Random(s.rng, 2*m*k, 0.1))
		if f, ok := s.b.(compute.MatMulAdder); ok {
			acc := Random(s.rng, n*m, 1)
			out := s.upload(compute.F32, n, m, acc)
			f.MatMulAdd(out.got, x.got, w1.got)
			tmp := s.ref.Alloc(compute.F32, n, m)
			s.ref.MatMul(tmp, x.want, w1.want)
			s.ref.Add(out.want, out.want, tmp)
			s.compare(t, fmt.Sprintf("MatMulAdd %v", dt), out, s.tolFor(dt))
		}
		if f, ok := s.b.(compute.SwiGLUer); ok {
			out := s.output(compute.F32, n, m)
			f.MatMulSwiGLU(out.got, x.got, w1.got, w2.got)
			g, u := s.ref.Alloc(compute.F32, n, m), s.ref.Alloc(compute.F32, n, m)
			s.ref.MatMul(g, x.want, w1.want)
			s.ref.MatMul(u, x.want, w2.want)
			s.ref.SiLUMul(out.want, g, u)
			s.compare(t, fmt.Sprintf("MatMulSwiGLU %v", dt), out, s.tolFor(dt))
		}
		if f, ok := s.b.(compute.MatMul3er); ok {
			d1, d2, d3 := s.output(compute.F32, n, m), s.output(compute.F32, n, m), s.output(compute.F32, n, 2*m)
			f.MatMul3(d1.got, d2.got, d3.got, x.got, w1.got, w2.got, w3.got)
			s.ref.MatMul(d1.want, x.want, w1.want)
			s.ref.MatMul(d2.want, x.want, w2.want)
			s.ref.MatMul(d3.want, x.want, w3.want)
			for i, d := range []pair{d1, d2, d3} {
				s.compare(t, fmt.Sprintf("MatMul3 %v n=%d output %d", dt, n, i+1), d, s.tolFor(dt))
			}
		}
		// The norm fusions: x at a scale RMSNorm changes, xn's contents
		// unspecified afterwards (so not compared).
		xr := s.upload(compute.F32, n, k, Random(s.rng, n*k, 3))
		g := s.upload(compute.F32, 1, k, Random(s.rng, k, 1))
		const eps = 1e-5
		if f, ok := s.b.(compute.NormMatMul3er); ok {
			xn := s.output(compute.F32, n, k)
			d1, d2, d3 := s.output(compute.F32, n, m), s.output(compute.F32, n, m), s.output(compute.F32, n, 2*m)
			f.NormMatMul3(d1.got, d2.got, d3.got, xn.got, xr.got, g.got, eps, w1.got, w2.got, w3.got)
			s.ref.RMSNorm(xn.want, xr.want, g.want, eps)
			s.ref.MatMul(d1.want, xn.want, w1.want)
			s.ref.MatMul(d2.want, xn.want, w2.want)
			s.ref.MatMul(d3.want, xn.want, w3.want)
			for i, d := range []pair{d1, d2, d3} {
				s.compare(t, fmt.Sprintf("NormMatMul3 %v n=%d output %d", dt, n, i+1), d, s.tolFor(dt))
			}
		}
		if f, ok := s.b.(compute.NormSwiGLUer); ok {
			xn, out := s.output(compute.F32, n, k), s.output(compute.F32, n, m)
			f.NormMatMulSwiGLU(out.got, xn.got, xr.got, g.got, eps, w1.got, w2.got)
			gt, u := s.ref.Alloc(compute.F32, n, m), s.ref.Alloc(compute.F32, n, m)
			s.ref.RMSNorm(xn.want, xr.want, g.want, eps)
			s.ref.MatMul(gt, xn.want, w1.want)
			s.ref.MatMul(u, xn.want, w2.want)
			s.ref.SiLUMul(out.want, gt, u)
			s.compare(t, fmt.Sprintf("NormMatMulSwiGLU %v n=%d", dt, n), out, s.tolFor(dt))
		}
		if f, ok := s.b.(compute.NormFFNer); ok {
			// As a model calls it: dst is the residual x it normalises.
			wd := s.upload(dt, k, m, Random(s.rng, k*m, 0.1))
			res := s.upload(compute.F32, n, k, Random(s.rng, n*k, 3))
			xn, h := s.output(compute.F32, n, k), s.output(compute.F32, n, m)
			f.NormFFN(res.got, h.got, xn.got, res.got, g.got, eps, w1.got, w2.got, wd.got)
			gt, u, d := s.ref.Alloc(compute.F32, n, m), s.ref.Alloc(compute.F32, n, m), s.ref.Alloc(compute.F32, n, k)
			s.ref.RMSNorm(xn.want, res.want, g.want, eps)
			s.ref.MatMul(gt, xn.want, w1.want)
			s.ref.MatMul(u, xn.want, w2.want)
			s.ref.SiLUMul(h.want, gt, u)
			s.ref.MatMul(d, h.want, wd.want)
			s.ref.Add(res.want, res.want, d)
			s.compare(t, fmt.Sprintf("NormFFN %v n=%d", dt, n), res, s.tolFor(dt))
		}
	}
}

// ropeStore checks compute.RoPEStorer against RoPE and Scatter on the
// reference, into float32 and bfloat16 caches, with a repeated position
// and cache rows in no order.
func (s *suite) ropeStore(t *testing.T) {
	f, ok := s.b.(compute.RoPEStorer)
	if !ok {
		return
	}
	const rows, heads, kvHeads, hd, maxPos, slots = 5, 4, 2, 16, 40, 12
	cos, sin := make([]float32, maxPos*hd/2), make([]float32, maxPos*hd/2)
	for i := range cos {
		a := s.rng.Float64() * 2 * math.Pi
		cos[i], sin[i] = float32(math.Cos(a)), float32(math.Sin(a))
	}
	c, sn := s.upload(compute.F32, maxPos, hd/2, cos), s.upload(compute.F32, maxPos, hd/2, sin)
	pos := s.uploadI32([]int32{0, 7, 39, 7, 22})
	crow := s.uploadI32([]int32{11, 0, 5, 6, 1})
	for _, cdt := range []compute.DType{compute.F32, compute.BF16} {
		q := s.upload(compute.F32, rows, heads*hd, Random(s.rng, rows*heads*hd, 1))
		k := s.upload(compute.F32, rows, kvHeads*hd, Random(s.rng, rows*kvHeads*hd, 1))
		v := s.upload(compute.F32, rows, kvHeads*hd, Random(s.rng, rows*kvHeads*hd, 1))
		kc := s.upload(cdt, slots, kvHeads*hd, Random(s.rng, slots*kvHeads*hd, 1))
		vc := s.upload(cdt, slots, kvHeads*hd, Random(s.rng, slots*kvHeads*hd, 1))
		f.RoPEStore(q.got, k.got, v.got, kc.got, vc.got, crow.got, c.got, sn.got, pos.got, hd)
		s.ref.RoPE(q.want, c.want, sn.want, pos.want, hd)
		s.ref.RoPE(k.want, c.want, sn.want, pos.want, hd)
		s.ref.Scatter(kc.want, k.want, crow.want)
		s.ref.Scatter(vc.want, v.want, crow.want)
		for _, o := range []struct {
			name string
			p    pair
		}{{"q", q}, {"k", k}, {"key cache", kc}, {"value cache", vc}} {
			s.compare(t, fmt.Sprintf("RoPEStore into a %v cache: %s", cdt, o.name), o.p, s.tolFor(cdt)) // exact for float32
		}
	}
}
