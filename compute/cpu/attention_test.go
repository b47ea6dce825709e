package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"dllmbench/compute"
)

// ulpErr is |got − want| in units of the float32 spacing at want; under the
// smallest normal float32 the spacing is that of subnormals, 2⁻¹⁴⁹.
func ulpErr(got float32, want float64) float64 {
	if math.IsInf(want, 0) || want > math.MaxFloat32 {
		if math.IsInf(float64(got), 1) {
			return 0
		}
		return math.Inf(1)
	}
	a := math.Abs(want)
	spacing := 0x1p-149
	if a >= 0x1p-126 {
		_, e := math.Frexp(a) // a = f·2^e, f in [0.5, 1)
		spacing = math.Ldexp(1, e-24)
	}
	return math.Abs(float64(got)-want) / spacing
}

// eachArg calls f with float32 arguments spread over [lo, hi]: every
// stride-th bit pattern of each sign, so every binade is sampled evenly.
func eachArg(lo, hi float32, stride uint32, f func(x float32)) {
	for u := uint64(0); u <= uint64(math.Float32bits(hi)); u += uint64(stride) {
		f(math.Float32frombits(uint32(u)))
	}
	for u := uint64(0x80000000); u <= uint64(math.Float32bits(lo)); u += uint64(stride) {
		f(math.Float32frombits(uint32(u)))
	}
}

// expStride samples one float32 in 331 (about 7 million arguments); with 1
// the test covers all 2.3·10⁹ float32 of the ranges in a few minutes.
var expStride uint32 = 331

// expF32 against math.Exp over the arguments softmax needs, [−104, 0], and
// those the sigmoid of SiLU needs, up to 89 where e^x overflows. The bound
// of 2 ulp is the brief's; Cephes documents ~1 ulp for this polynomial.
func TestExpAccuracy(t *testing.T) {
	for _, c := range []struct {
		name   string
		lo, hi float32
		bound  float64
	}{
		{"softmax [-104, 0]", -104, 0, 2},
		{"sigmoid (0, 89]", -0, 89, 2},
	} {
		var worst float64
		var at float32
		eachArg(c.lo, c.hi, expStride, func(x float32) {
			if e := ulpErr(expF32(x), math.Exp(float64(x))); e > worst || math.IsNaN(e) {
				worst, at = e, x
			}
		})
		t.Logf("%s: max error %.3f ulp at x = %v", c.name, worst, at)
		if !(worst <= c.bound) {
			t.Errorf("%s: error %.3f ulp at x = %v (e^x = %v, got %v) exceeds %v ulp",
				c.name, worst, at, math.Exp(float64(at)), expF32(at), c.bound)
		}
	}
	for _, c := range []struct {
		x, want float32
	}{
		{float32(math.Inf(-1)), 0},
		{-1e30, 0},
		{-104, 0},
		{0, 1},
		{float32(math.Copysign(0, -1)), 1},
		{89, float32(math.Inf(1))},
		{1e30, float32(math.Inf(1))},
		{float32(math.Inf(1)), float32(math.Inf(1))},
	} {
		if got := expF32(c.x); got != c.want {
			t.Errorf("expF32(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if got := expF32(float32(math.NaN())); !math.IsNaN(float64(got)) {
		t.Errorf("expF32(NaN) = %v", got)
	}
}

// silu(g)·u against float64, and its limits: a very negative g gives 0, a
// very positive g gives g·u, never a NaN. Under g = −88.7228, e^−g overflows
// float32 and silu(g) is 0 instead of a value under 10⁻³⁶, as it was with
// math.Exp rounded to float32.
func TestSiLUAccuracy(t *testing.T) {
	var worst float64
	var at float32
	eachArg(-200, 200, 997, func(g float32) {
		want := float64(g) / (1 + math.Exp(-float64(g)))
		got := siluMul1(g, 1)
		if g < -88.7229 { // −ln(MaxFloat32) = −88.72284
			if got != 0 {
				t.Errorf("silu(%v) = %v, want 0 once e^-g overflows", g, got)
			}
			return
		}
		if e := ulpErr(got, want); e > worst {
			worst, at = e, g
		}
	})
	t.Logf("silu on [-88.7228, 200]: max error %.3f ulp at g = %v", worst, at)
	if !(worst <= 4) {
		t.Errorf("silu: error %.3f ulp at g = %v exceeds 4 ulp", worst, at)
	}
	for _, c := range []struct{ g, u, want float32 }{
		{-1e30, 3, 0},
		{-200, 3, 0},
		{200, 3, 600},
		{1e30, 0.5, 5e29},
		{0, 7, 0},
	} {
		if got := siluMul1(c.g, c.u); got != c.want {
			t.Errorf("silu(%v)·%v = %v, want %v", c.g, c.u, got, c.want)
		}
	}
}

// The exp and SiLU kernels give expF32's bits lane for lane.
func TestExpKernelsExact(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2+FMA kernels on this CPU or build")
	}
	var xs []float32
	eachArg(-300, 300, 4099, func(x float32) { xs = append(xs, x) })
	xs = append(xs, float32(math.Inf(-1)), float32(math.Inf(1)), 88.72, -103.3, -87.4, 0)
	for len(xs)%8 != 0 {
		xs = append(xs, 1)
	}
	for _, m := range []float32{0, 3.5, -20} {
		got, want := append([]float32(nil), xs...), append([]float32(nil), xs...)
		var gotSum, wantSum [8]float32
		expSumF32(&got[0], m, len(got)/8, &gotSum)
		expSumGo(want, m, &wantSum)
		for i, x := range xs {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("e^(%v - %v): kernel %v, expF32 %v", x, m, got[i], want[i])
			}
		}
		if gotSum != wantSum {
			t.Fatalf("m = %v: kernel sums %v, Go %v", m, gotSum, wantSum)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	up := random(rng, len(xs), 2)
	got := make([]float32, len(xs))
	siluMulF32(&got[0], &xs[0], &up[0], len(xs)/8)
	for i, g := range xs {
		if want := siluMul1(g, up[i]); math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Fatalf("silu(%v)·%v: kernel %v, siluMul1 %v", g, up[i], got[i], want)
		}
	}
}

// scoresF32 gives every key row the bits of dot1F32 and sum8 (and so of the
// tail path of Attention's scores), whether the row falls in a block of
// eight, four or one; the key rows are ks apart, as heads in a cache row.
func TestScoresKernelExact(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2+FMA kernels on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const scale = 0.17677669
	for _, nc := range []int{1, 2, 4, 5, 16} {
		for rows := 0; rows <= 21; rows++ {
			hd, kc := 8*nc, 8*nc*3
			q, k := random(rng, hd, 1), random(rng, max(1, rows)*kc, 1)
			got := make([]float32, rows+1)
			got[rows] = 42 // the kernel must not write past rows
			m := scoresF32(&got[0], &q[0], &k[hd], 4*kc, rows, nc, scale)
			wantMax := float32(math.Inf(-1))
			for j := range rows {
				var lanes [8]float32
				dot1F32(&lanes[0], &q[0], &k[j*kc+hd], nc)
				want := sum8(&lanes) * scale
				if math.Float32bits(got[j]) != math.Float32bits(want) {
					t.Fatalf("nc=%d rows=%d: score %d is %v, dot1F32 gives %v", nc, rows, j, got[j], want)
				}
				wantMax = max(wantMax, want)
			}
			if m != wantMax {
				t.Fatalf("nc=%d rows=%d: maximum %v, want %v", nc, rows, m, wantMax)
			}
			if got[rows] != 42 {
				t.Fatalf("nc=%d rows=%d: wrote past the last row", nc, rows)
			}
		}
	}
}

// axpyRowsF32 gives each column the same sequence of fused multiply-adds in
// whatever column block it falls (64, 32, 8 or 1 wide), and stays within
// the rounding bound of the pure-Go axpyRowsGo, which rounds the product
// and the sum separately where Go does not fuse them.
func TestAxpyKernel(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2+FMA kernels on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 7, 8, 9, 31, 32, 33, 40, 63, 64, 65, 100, 128, 131} {
		for _, rows := range []int{0, 1, 2, 5, 9} {
			vs := n + 3
			p, v, start := random(rng, max(1, rows), 1), random(rng, max(1, rows)*vs, 1), random(rng, n+1, 1)
			const scale = 0.3
			got := append([]float32(nil), start...)
			axpyRowsF32(&got[0], &p[0], &v[0], 4*vs, rows, n, scale)
			if got[n] != start[n] {
				t.Fatalf("n=%d rows=%d: wrote past column n", n, rows)
			}
			want := append([]float32(nil), start[:n]...)
			axpyRowsGo(want, p[:rows], v, vs, scale)
			for c := range n {
				one := start[c]
				axpyRowsF32(&one, &p[0], &v[c], 4*vs, rows, 1, scale)
				if math.Float32bits(one) != math.Float32bits(got[c]) {
					t.Fatalf("n=%d rows=%d: column %d is %v in a block, %v alone", n, rows, c, got[c], one)
				}
				abs := math.Abs(float64(start[c]))
				for j := range rows {
					abs += math.Abs(float64(p[j]) * float64(v[j*vs+c]))
				}
				if d, bound := math.Abs(float64(got[c]-want[c])), scale*float64(2*rows+3)*0x1p-24*abs; d > bound {
					t.Errorf("n=%d rows=%d col %d: kernel %v, Go %v: difference %.3g over %.3g", n, rows, c, got[c], want[c], d, bound)
				}
			}
		}
	}
}

// Attention on the assembly path against the pure-Go one, on head sizes
// with and without a tail of hd mod 8 and spans that leave every block
// remainder: they differ by roundings only.
func TestAttentionPathsAgree(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2+FMA kernels on this CPU or build")
	}
	defer func() { useAVX2 = true }()
	rng := rand.New(rand.NewPCG(7, 8))
	b := New(2)
	defer b.Close()
	for _, hd := range []int{3, 8, 12, 32, 72, 128} {
		for _, causal := range []bool{false, true} {
			const nb, n, slots, heads, kvHeads = 2, 5, 23, 4, 2
			q := upload(b, compute.F32, nb*n, heads*hd, random(rng, nb*n*heads*hd, 1))
			k := upload(b, compute.F32, nb*slots, kvHeads*hd, random(rng, nb*slots*kvHeads*hd, 1))
			v := upload(b, compute.F32, nb*slots, kvHeads*hd, random(rng, nb*slots*kvHeads*hd, 1))
			qpos := b.Alloc(compute.I32, nb*n, 1)
			b.Write(qpos, []int32{3, 9, 14, 21, 22, 0, 1, 8, 16, 22})
			span := b.Alloc(compute.I32, nb, 2)
			b.Write(span, []int32{2, 23, 0, 19})
			var outs [2][]float32
			for i, asm := range []bool{true, false} {
				useAVX2 = asm
				out := b.Alloc(compute.F32, nb*n, heads*hd)
				b.Attention(out, q, k, v, qpos, span, heads, kvHeads, causal)
				outs[i] = make([]float32, out.Len())
				b.Read(outs[i], out)
			}
			var num, den float64
			for i := range outs[0] {
				d := float64(outs[0][i] - outs[1][i])
				num, den = num+d*d, den+float64(outs[1][i])*float64(outs[1][i])
			}
			name := fmt.Sprintf("hd=%d causal=%v", hd, causal)
			if rel := math.Sqrt(num / den); !(rel < 1e-6) {
				t.Errorf("%s: assembly and Go differ by %.3g", name, rel)
			}
		}
	}
}

// A bfloat16 cache gives the bits of a float32 cache holding its values
// widened, on both paths, with and without a head-size tail, for GQA
// groups of 1 and 4, causal or not, with spans that start past 0 and a
// batch row that sees nothing.
func TestAttentionBF16CacheExact(t *testing.T) {
	withPaths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		b := New(3)
		defer b.Close()
		for _, hd := range []int{3, 8, 12, 32, 72, 128} {
			for _, kvHeads := range []int{4, 1} {
				for _, causal := range []bool{false, true} {
					const nb, n, slots, heads = 3, 5, 23, 4
					kv, vv := random(rng, nb*slots*kvHeads*hd, 1), random(rng, nb*slots*kvHeads*hd, 1)
					for i := range kv { // the values a bfloat16 cache holds
						kv[i] = compute.BF16ToF32(compute.F32ToBF16(kv[i]))
						vv[i] = compute.BF16ToF32(compute.F32ToBF16(vv[i]))
					}
					q := upload(b, compute.F32, nb*n, heads*hd, random(rng, nb*n*heads*hd, 1))
					qpos := b.Alloc(compute.I32, nb*n, 1)
					b.Write(qpos, []int32{3, 9, 14, 21, 22, 0, 1, 8, 16, 22, 5, 6, 7, 8, 9})
					span := b.Alloc(compute.I32, nb, 2)
					b.Write(span, []int32{2, 23, 0, 19, 7, 7})
					var outs [2][]float32
					for i, dt := range []compute.DType{compute.F32, compute.BF16} {
						k, v := upload(b, dt, nb*slots, kvHeads*hd, kv), upload(b, dt, nb*slots, kvHeads*hd, vv)
						out := b.Alloc(compute.F32, nb*n, heads*hd)
						b.Attention(out, q, k, v, qpos, span, heads, kvHeads, causal)
						outs[i] = make([]float32, out.Len())
						b.Read(outs[i], out)
					}
					for i := range outs[0] {
						if math.Float32bits(outs[0][i]) != math.Float32bits(outs[1][i]) {
							t.Fatalf("hd=%d kv=%d causal=%v: element %d is %v from a bf16 cache, %v from f32",
								hd, kvHeads, causal, i, outs[1][i], outs[0][i])
						}
					}
				}
			}
		}
	})
}

// The widening kernel gives BF16ToF32's bits for every bfloat16, NaNs,
// infinities and subnormals included, and leaves a tail to the Go loop.
func TestWidenBF16(t *testing.T) {
	withPaths(t, testWidenBF16)
}

func testWidenBF16(t *testing.T) {
	src := make([]uint16, 1<<16+5)
	for i := range src {
		src[i] = uint16(i)
	}
	dst := make([]float32, len(src)+1)
	dst[len(src)] = 42
	widenBF16(dst[:len(src)], src)
	for i, h := range src {
		if math.Float32bits(dst[i]) != math.Float32bits(compute.BF16ToF32(h)) {
			t.Fatalf("bf16 %#04x widened to %#08x, want %#08x", h, math.Float32bits(dst[i]), math.Float32bits(compute.BF16ToF32(h)))
		}
	}
	if dst[len(src)] != 42 {
		t.Fatal("widenBF16 wrote past its destination")
	}
}

// Caches of two dtypes, or of a dtype Attention does not read, panic.
func TestAttentionCacheDTypes(t *testing.T) {
	b := New(1)
	defer b.Close()
	q := b.Alloc(compute.F32, 1, 8)
	qpos, span := b.Alloc(compute.I32, 1, 1), b.Alloc(compute.I32, 1, 2)
	b.Write(span, []int32{0, 2})
	for _, c := range []struct {
		name string
		k, v compute.DType
	}{
		{"f32 keys, bf16 values", compute.F32, compute.BF16},
		{"bf16 keys, f32 values", compute.BF16, compute.F32},
		{"f16 caches", compute.F16, compute.F16},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("%s: no panic", c.name)
				} else if s := fmt.Sprint(r); !strings.Contains(s, "compute: Attention: ") {
					t.Errorf("%s: panic %q does not name the op", c.name, s)
				}
			}()
			b.Attention(b.Alloc(compute.F32, 1, 8), q, b.Alloc(c.k, 2, 8), b.Alloc(c.v, 2, 8), qpos, span, 1, 1, true)
		}()
	}
}
