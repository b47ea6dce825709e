package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"dllmbench/compute"
)

var dtypes = []compute.DType{compute.F32, compute.BF16, compute.F16}

// withPaths runs f with the assembly kernels (where the CPU has them) and
// with the pure-Go ones.
func withPaths(t *testing.T, f func(t *testing.T)) {
	saved := useAVX2
	defer func() { useAVX2 = saved }()
	for _, asm := range []bool{true, false} {
		if asm && !saved {
			continue
		}
		useAVX2 = asm
		t.Run(fmt.Sprintf("asm=%v", asm), f)
	}
}

// upload makes a rows×cols tensor of dt holding vals rounded to dt.
func upload(b *Backend, dt compute.DType, rows, cols int, vals []float32) compute.Tensor {
	t := b.Alloc(dt, rows, cols)
	if dt == compute.F32 {
		b.Write(t, vals)
		return t
	}
	h := make([]uint16, len(vals))
	for i, v := range vals {
		if dt == compute.BF16 {
			h[i] = compute.F32ToBF16(v)
		} else {
			h[i] = compute.F32ToF16(v)
		}
	}
	b.Write(t, h)
	return t
}

func random(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

// A batch row equals that row run alone, bit for bit, on shapes that leave
// tails everywhere: n around the 4-row tiles and past rowBlock, m around the
// tile widths and colBlock, k around the 8-lane chunks and past kBlock. On
// the assembly path the batch runs in 4×3 tiles and the row alone in the
// one-row kernels, so this checks that both give every output the same
// sequence of operations; threads 1 and 3 check the split.
func TestTilesMatchRowsExactly(t *testing.T) {
	withPaths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		for _, sh := range []struct{ n, k, m int }{
			{4, 1, 3},      // k below one chunk: tails only
			{5, 7, 1},      // one weight row
			{4, 8, 4},      // exactly one tile row, one chunk
			{6, 9, 5},      // tails in n, m and k
			{7, 100, 23},   // a block one short of colBlock
			{9, 513, 25},   // k one past kBlock, m one past colBlock
			{13, 1030, 50}, // k over two kBlocks with a tail
			{67, 40, 49},   // n past rowBlock, m a tile past two colBlocks
		} {
			for _, threads := range []int{1, 3} {
				b := New(threads)
				for _, dt := range dtypes {
					name := fmt.Sprintf("%v/%d×%d·(%d×%d)ᵀ/threads=%d", dt, sh.n, sh.k, sh.m, sh.k, threads)
					x := random(rng, sh.n*sh.k, 1)
					w := upload(b, dt, sh.m, sh.k, random(rng, sh.m*sh.k, 0.1))
					out := b.Alloc(compute.F32, sh.n, sh.m)
					b.MatMul(out, upload(b, compute.F32, sh.n, sh.k, x), w)
					batch := make([]float32, sh.n*sh.m)
					b.Read(batch, out)
					one, row := b.Alloc(compute.F32, 1, sh.m), make([]float32, sh.m)
					for i := range sh.n {
						b.MatMul(one, upload(b, compute.F32, 1, sh.k, x[i*sh.k:(i+1)*sh.k]), w)
						b.Read(row, one)
						for j, v := range row {
							if got := batch[i*sh.m+j]; math.Float32bits(got) != math.Float32bits(v) {
								t.Fatalf("%s: out[%d][%d] = %v in the batch, %v alone", name, i, j, got, v)
							}
						}
					}
				}
				b.Close()
			}
		}
	})
}

// The assembly kernels against the pure-Go ones on every length 0..300 and
// a few long ones: they differ only in rounding (a fused multiply-add per
// lane), so the difference stays within the float32 error bound of two
// sums of k/8+3 terms: 2·(k/8+3)·2⁻²⁴·Σ|x·w|.
func TestKernelsMatchGo(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2+FMA kernels on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	lengths := []int{1000, 4096, 4099, 14336}
	for k := 0; k <= 300; k++ {
		lengths = append(lengths, k)
	}
	for _, dt := range dtypes {
		for _, k := range lengths {
			x, wf := random(rng, k, 1), random(rng, k, 1)
			w16 := make([]uint16, k)
			for i, v := range wf {
				switch dt {
				case compute.BF16:
					w16[i] = compute.F32ToBF16(v)
					wf[i] = compute.BF16ToF32(w16[i])
				case compute.F16:
					w16[i] = compute.F32ToF16(v)
					wf[i] = compute.F16ToF32(w16[i])
				}
			}
			var want float32
			switch dt {
			case compute.F32:
				want = dotF32(x, wf)
			case compute.BF16:
				want = dotBF16(x, w16)
			default:
				want = dotF16(x, w16)
			}
			task := &matmulTask{x: x, n: 1, k: k, m: 1, wdt: dt, w32: wf, w16: w16}
			var acc [8]float32
			task.dotRow(acc[:], 0, 0, 0, 0, 1, k/8)
			if k%8 != 0 {
				task.addTail(&acc, 0, 0)
			}
			got := sum8(&acc)

			var abs float64
			for i := range x {
				abs += math.Abs(float64(x[i]) * float64(wf[i]))
			}
			bound := 2 * float64(k/8+3) * 0x1p-24 * abs
			if d := math.Abs(float64(got) - float64(want)); d > bound {
				t.Errorf("%v k=%d: asm %v, Go %v: difference %.3g over the bound %.3g", dt, k, got, want, d, bound)
			}
		}
	}
}

// The kernel shapes agree bit for bit: dot4* with four dot1* calls, and
// tile4x3* with twelve, on lanes that start non-zero as they do from the
// second kBlock on.
func TestKernelShapesAgree(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2+FMA kernels on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	const k, nc = 40, 5
	x := random(rng, 4*k, 1)
	w32 := random(rng, 4*k, 1)
	w16 := make([]uint16, 4*k)
	start := random(rng, 12*8, 1)
	same := func(name string, got, want []float32) {
		t.Helper()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: lane %d is %v, want %v", name, i, got[i], want[i])
			}
		}
	}
	for _, dt := range dtypes {
		for i, v := range w32 {
			if dt == compute.F16 {
				w16[i] = compute.F32ToF16(v)
			} else {
				w16[i] = compute.F32ToBF16(v)
			}
		}
		// one runs output (i, j) alone, its lanes at acc[8·(3i+j)].
		one := func(acc []float32, i, j int) {
			switch dt {
			case compute.F32:
				dot1F32(&acc[8*(3*i+j)], &x[i*k], &w32[j*k], nc)
			case compute.BF16:
				dot1BF16(&acc[8*(3*i+j)], &x[i*k], &w16[j*k], nc)
			default:
				dot1F16(&acc[8*(3*i+j)], &x[i*k], &w16[j*k], nc)
			}
		}

		four, want := make([]float32, 32), make([]float32, 32)
		copy(four, start)
		copy(want, start)
		switch dt {
		case compute.F32:
			dot4F32(&four[0], &x[0], &w32[0], 4*k, nc)
		case compute.BF16:
			dot4BF16(&four[0], &x[0], &w16[0], 2*k, nc)
		default:
			dot4F16(&four[0], &x[0], &w16[0], 2*k, nc)
		}
		for j := range 4 {
			one(want, 0, j)
		}
		same(fmt.Sprintf("dot4%v", dt), four, want)

		tile, want := make([]float32, 12*8), make([]float32, 12*8)
		copy(tile, start)
		copy(want, start)
		switch dt {
		case compute.F32:
			tile4x3F32(&tile[0], 3*8*4, &x[0], 4*k, &w32[0], 4*k, nc)
		case compute.BF16:
			tile4x3BF16(&tile[0], 3*8*4, &x[0], 4*k, &w16[0], 2*k, nc)
		default:
			tile4x3F16(&tile[0], 3*8*4, &x[0], 4*k, &w16[0], 2*k, nc)
		}
		for i := range 4 {
			for j := range 3 {
				one(want, i, j)
			}
		}
		same(fmt.Sprintf("tile4x3%v", dt), tile, want)
	}
}

// The kernels on cache-resident data: the ceiling MatMul works towards.
func BenchmarkKernels(b *testing.B) {
	if !useAVX2 {
		b.Skip("no AVX2+FMA kernels on this CPU or build")
	}
	const k, nc = 512, 64
	rng := rand.New(rand.NewPCG(1, 2))
	x, w32 := random(rng, 4*k, 1), random(rng, 4*k, 0.1)
	w16 := make([]uint16, 4*k)
	for i, v := range w32 {
		w16[i] = compute.F32ToBF16(v)
	}
	acc := make([]float32, 12*8)
	for _, c := range []struct {
		name string
		macs int
		f    func()
	}{
		{"dot4BF16", 4 * k, func() { dot4BF16(&acc[0], &x[0], &w16[0], 2*k, nc) }},
		{"dot4F32", 4 * k, func() { dot4F32(&acc[0], &x[0], &w32[0], 4*k, nc) }},
		{"tile4x3BF16", 12 * k, func() { tile4x3BF16(&acc[0], 3*8*4, &x[0], 4*k, &w16[0], 2*k, nc) }},
		{"tile4x3F16", 12 * k, func() { tile4x3F16(&acc[0], 3*8*4, &x[0], 4*k, &w16[0], 2*k, nc) }},
		{"tile4x3F32", 12 * k, func() { tile4x3F32(&acc[0], 3*8*4, &x[0], 4*k, &w32[0], 4*k, nc) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.f()
			}
			b.ReportMetric(2*float64(c.macs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
