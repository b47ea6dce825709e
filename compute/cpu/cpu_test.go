package cpu_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"dllmbench/compute"
	"dllmbench/compute/computetest"
	"dllmbench/compute/cpu"
)

// The CPU backend against the float64 reference: float32 arithmetic lands
// far under 1e-5 norm-wise (the project's bound for float32 parity).
func TestAgainstFloat64Reference(t *testing.T) {
	b := cpu.New(2)
	defer b.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	check := func(name string, got compute.Tensor, want []float64) {
		t.Helper()
		rel, maxAbs := computetest.RelErr(computetest.Download(t, b, got), want)
		if !(rel < 1e-6) {
			t.Errorf("%s: relative error %.3g (max abs %.3g)", name, rel, maxAbs)
		} else {
			t.Logf("%s: relative error %.3g", name, rel)
		}
	}
	widen := func(v []float32) []float64 {
		out := make([]float64, len(v))
		for i := range v {
			out[i] = float64(v[i])
		}
		return out
	}
	roundTo := func(dt compute.DType, v []float32) []float32 {
		out := make([]float32, len(v))
		for i, x := range v {
			switch dt {
			case compute.BF16:
				out[i] = compute.BF16ToF32(compute.F32ToBF16(x))
			case compute.F16:
				out[i] = compute.F16ToF32(compute.F32ToF16(x))
			default:
				out[i] = x
			}
		}
		return out
	}

	for _, dt := range []compute.DType{compute.F32, compute.BF16, compute.F16} {
		const n, k, m = 5, 300, 70
		x, w := computetest.Random(rng, n*k, 1), roundTo(dt, computetest.Random(rng, m*k, 0.1))
		out := b.Alloc(compute.F32, n, m)
		b.MatMul(out, computetest.Upload(b, compute.F32, n, k, x), computetest.Upload(b, dt, m, k, w))
		check(fmt.Sprintf("MatMul %v", dt), out, computetest.RefMatMul(widen(x), widen(w), n, k, m))
	}

	const rows, cols = 6, 128
	x, g := computetest.Random(rng, rows*cols, 2), computetest.Random(rng, cols, 1)
	norm := b.Alloc(compute.F32, rows, cols)
	b.RMSNorm(norm, computetest.Upload(b, compute.F32, rows, cols, x), computetest.Upload(b, compute.F32, 1, cols, g), 1e-5)
	check("RMSNorm", norm, computetest.RefRMSNorm(widen(x), widen(g), cols, 1e-5))

	u := computetest.Random(rng, rows*cols, 2)
	act := b.Alloc(compute.F32, rows, cols)
	b.SiLUMul(act, computetest.Upload(b, compute.F32, rows, cols, x), computetest.Upload(b, compute.F32, rows, cols, u))
	check("SiLUMul", act, computetest.RefSiLUMul(widen(x), widen(u)))

	const hd, maxPos = 32, 40
	cos, sin := make([]float32, maxPos*hd/2), make([]float32, maxPos*hd/2)
	for i := range cos {
		a := rng.Float64() * 6
		cos[i], sin[i] = float32(math.Cos(a)), float32(math.Sin(a))
	}
	pos := []int32{0, 39, 5, 5, 17, 2}
	xr := computetest.Upload(b, compute.F32, rows, cols, x)
	b.RoPE(xr, computetest.Upload(b, compute.F32, maxPos, hd/2, cos), computetest.Upload(b, compute.F32, maxPos, hd/2, sin),
		computetest.UploadI32(b, pos), hd)
	check("RoPE", xr, computetest.RefRoPE(widen(x), widen(cos), widen(sin), pos, cols, hd))

	for _, causal := range []bool{false, true} {
		const nb, n, slots, heads, kvHeads, hd = 2, 3, 11, 4, 2, 16
		q := computetest.Random(rng, nb*n*heads*hd, 1)
		kv, vv := computetest.Random(rng, nb*slots*kvHeads*hd, 1), computetest.Random(rng, nb*slots*kvHeads*hd, 1)
		qpos := []int32{4, 9, 10, 2, 3, 10}
		span := []int32{1, 11, 0, 9}
		out := b.Alloc(compute.F32, nb*n, heads*hd)
		b.Attention(out, computetest.Upload(b, compute.F32, nb*n, heads*hd, q),
			computetest.Upload(b, compute.F32, nb*slots, kvHeads*hd, kv), computetest.Upload(b, compute.F32, nb*slots, kvHeads*hd, vv),
			computetest.UploadI32(b, qpos), computetest.UploadI32(b, span), heads, kvHeads, causal)
		check(fmt.Sprintf("Attention causal=%v", causal), out,
			computetest.RefAttention(widen(q), widen(kv), widen(vv), qpos, span, nb*n, heads, kvHeads, hd, slots, causal))
	}
}

// Several worker goroutines give bit-identical results to one: each
// element is computed the same way whatever the split.
func TestConformanceThreadsExact(t *testing.T) {
	b := cpu.New(3)
	defer b.Close()
	computetest.Run(t, b, computetest.Tolerance{})
}

func TestRowIndependent(t *testing.T) {
	b := cpu.New(2)
	defer b.Close()
	if got := computetest.RowAgreement(t, b); got != 1 {
		t.Errorf("batched rows agree with rows alone on %.4f of elements, want 1", got)
	}
}

// Ops on the hot path allocate nothing.
func TestNoAllocations(t *testing.T) {
	b := cpu.New(2)
	defer b.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	const n, k, m = 4, 256, 512
	x := computetest.Upload(b, compute.F32, n, k, computetest.Random(rng, n*k, 1))
	w := computetest.Upload(b, compute.BF16, m, k, computetest.Random(rng, m*k, 1))
	out := b.Alloc(compute.F32, n, m)
	g := computetest.Upload(b, compute.F32, 1, k, computetest.Random(rng, k, 1))
	kc := computetest.Upload(b, compute.F32, 2*8, k, computetest.Random(rng, 2*8*k, 1))
	kcb := computetest.Upload(b, compute.BF16, 2*8, k, computetest.Random(rng, 2*8*k, 1))
	qpos, span := computetest.UploadI32(b, []int32{6, 7, 6, 7}), computetest.UploadI32(b, []int32{0, 8, 2, 8})
	idx := computetest.UploadI32(b, []int32{1, 0, 3, 2})
	ops := map[string]func(){
		"MatMul":                      func() { b.MatMul(out, x, w) },
		"RMSNorm":                     func() { b.RMSNorm(x, x, g, 1e-5) },
		"Add":                         func() { b.Add(out, out, out) },
		"SiLUMul":                     func() { b.SiLUMul(out, out, out) },
		"Gather":                      func() { b.Gather(x, w.Slice(0, 4).Reshape(4, k), idx) },
		"Attention":                   func() { b.Attention(x, x, kc, kc, qpos, span, 4, 4, true) },
		"Attention over a bf16 cache": func() { b.Attention(x, x, kcb, kcb, qpos, span, 4, 4, true) },
		"Scatter into a bf16 cache":   func() { b.Scatter(kcb, x, idx) },
	}
	for name, op := range ops {
		if a := testing.AllocsPerRun(20, op); a != 0 {
			t.Errorf("%s allocates %.1f times per call", name, a)
		}
	}
}

func TestLoadChecksSize(t *testing.T) {
	b := cpu.New(1)
	defer b.Close()
	if _, err := b.Load(compute.BF16, 2, 3, make([]byte, 11)); err == nil {
		t.Error("Load accepted 11 bytes for a 2×3 BF16 tensor")
	}
	// An odd offset forces a copy; the values must survive it.
	raw := make([]byte, 1+4*3)
	for i, v := range []float32{1.5, -2, 3.25} {
		u := math.Float32bits(v)
		raw[1+4*i], raw[2+4*i], raw[3+4*i], raw[4+4*i] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	tn, err := b.Load(compute.F32, 1, 3, raw[1:])
	if err != nil {
		t.Fatal(err)
	}
	got := computetest.Download(t, b, tn)
	if got[0] != 1.5 || got[1] != -2 || got[2] != 3.25 {
		t.Errorf("unaligned load gave %v", got)
	}
}

func BenchmarkMatMul(b *testing.B) {
	for _, c := range []struct {
		dt      compute.DType
		n, k, m int
	}{
		// One LLaMA-3-8B-sized projection slice (k = dim) at the batch sizes
		// of decoding (1), small batches (4, 16) and prefill or diffusion
		// steps (64, 256).
		{compute.BF16, 1, 4096, 1024},
		{compute.BF16, 4, 4096, 1024},
		{compute.BF16, 16, 4096, 1024},
		{compute.BF16, 64, 4096, 1024},
		{compute.BF16, 256, 4096, 1024},
		{compute.F16, 1, 4096, 1024},
		{compute.F16, 64, 4096, 1024},
		{compute.F32, 1, 4096, 1024},
		{compute.F32, 64, 4096, 1024},
	} {
		b.Run(fmt.Sprintf("%v/n=%d/k=%d/m=%d", c.dt, c.n, c.k, c.m), func(b *testing.B) {
			be := cpu.New(0)
			defer be.Close()
			rng := rand.New(rand.NewPCG(1, 2))
			x := computetest.Upload(be, compute.F32, c.n, c.k, computetest.Random(rng, c.n*c.k, 1))
			w := computetest.Upload(be, c.dt, c.m, c.k, computetest.Random(rng, c.m*c.k, 1))
			out := be.Alloc(compute.F32, c.n, c.m)
			for b.Loop() {
				be.MatMul(out, x, w)
			}
			flops := 2 * float64(c.n*c.k*c.m)
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(float64(w.Bytes())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s(weights)")
		})
	}
}

// BenchmarkMemoryBandwidth reads a 1 GiB buffer with one goroutine per
// CPU: the ceiling of weight-streaming decode on this machine (decode reads
// weights; it writes almost nothing).
func BenchmarkMemoryBandwidth(b *testing.B) {
	const n = 1 << 30
	buf := make([]uint64, n/8)
	for i := range buf {
		buf[i] = uint64(i)
	}
	workers := runtime.GOMAXPROCS(0)
	sums := make([]uint64, workers)
	for b.Loop() {
		var wg sync.WaitGroup
		chunk := len(buf) / workers
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var s0, s1, s2, s3 uint64
				part := buf[w*chunk : (w+1)*chunk]
				for i := 0; i+4 <= len(part); i += 4 {
					s0 += part[i]
					s1 += part[i+1]
					s2 += part[i+2]
					s3 += part[i+3]
				}
				sums[w] = s0 + s1 + s2 + s3
			}()
		}
		wg.Wait()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s(read)")
}

// Marks gives one time per Mark since the last call, the first 0, in order.
func TestMarks(t *testing.T) {
	b := cpu.New(1)
	defer b.Close()
	times := make([]float64, 4)
	for run := range 2 {
		for range 3 {
			if err := b.Mark(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
		n, err := b.Marks(times)
		if err != nil || n != 3 || times[0] != 0 || !(times[1] >= 1e-3 && times[2]-times[1] >= 1e-3) {
			t.Errorf("run %d: %d times %v (error %v), want 3 a millisecond apart from 0", run, n, times[:n], err)
		}
	}
	b.Mark()
	b.Mark()
	computetest.MustPanic(t, "Marks into too few", "compute: Marks: 2 markers for 1 times", func() { b.Marks(times[:1]) })
}
