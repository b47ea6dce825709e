package cpu_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"dllmbench/compute"
	"dllmbench/compute/computetest"
	"dllmbench/compute/cpu"
)

func widen64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// The encoder ops against their float64 definitions.
func TestEncoderOpsAgainstFloat64(t *testing.T) {
	b := cpu.New(2)
	defer b.Close()
	rng := rand.New(rand.NewPCG(11, 12))
	for _, sh := range []struct{ rows, cols int }{
		{1, 1},     // a single element: zero variance, the output is the bias
		{4, 7},     // odd width
		{9, 1024},  // RoBERTa-large's width
		{2, 40000}, // rows longer than a chunk
	} {
		n := sh.rows * sh.cols
		x := computetest.Random(rng, n, 2)
		for i := range x {
			x[i] += 5 // a mean far from zero: centring in float32 must not lose it
		}
		w, bias := computetest.Random(rng, sh.cols, 1), computetest.Random(rng, sh.cols, 1)
		xt := computetest.Upload(b, compute.F32, sh.rows, sh.cols, x)
		wt := computetest.Upload(b, compute.F32, 1, sh.cols, w)
		bt := computetest.Upload(b, compute.F32, 1, sh.cols, bias)
		out := b.Alloc(compute.F32, sh.rows, sh.cols)
		for _, c := range []struct {
			name string
			run  func()
			want []float64
			tol  float64
		}{
			// float32 storage rounds at 6e-8; the sums in float64 add nothing.
			{"LayerNorm", func() { b.LayerNorm(out, xt, wt, bt, 1e-5) },
				computetest.RefLayerNorm(widen64(x), widen64(w), widen64(bias), sh.cols, 1e-5), 1e-6},
			{"GELU", func() { b.GELU(out, xt) }, computetest.RefGELU(widen64(x)), 1e-7},
			{"AddRow", func() { b.AddRow(out, xt, bt) }, computetest.RefAddRow(widen64(x), widen64(bias)), 1e-7},
		} {
			computetest.Poison(b, out)
			c.run()
			rel, maxAbs := computetest.RelErr(computetest.Download(t, b, out), c.want)
			if !(rel < c.tol) {
				t.Errorf("%s %d×%d: relative error %.3g (max abs %.3g), want < %g", c.name, sh.rows, sh.cols, rel, maxAbs, c.tol)
			}
		}
	}
}

// GELU at points whose values are known: Φ(0) = 1/2, Φ(±∞) ∈ {0, 1}, and
// GELU(1) = Φ(1) = 0.8413447460685429 (the standard normal CDF at 1, as
// tables give it), so the erf form is used and not the tanh one
// (0.8411919906082768 at 1); far in the negative tail the value is
// −10·Φ(−10) = −7.6198530241605e-23, not zero.
func TestGELUValues(t *testing.T) {
	b := cpu.New(1)
	defer b.Close()
	in := []float32{0, 1, -1, 10, -10, float32(math.Inf(1))}
	want := []float32{0, 0.8413447460685429, -0.15865525393145707, 10, -7.6198530241605e-23, float32(math.Inf(1))}
	x := computetest.Upload(b, compute.F32, 1, len(in), in)
	b.GELU(x, x)
	got := computetest.Download(t, b, x)
	for i := range in {
		if got[i] != want[i] {
			t.Errorf("GELU(%g) = %.9g, want %.9g", in[i], got[i], want[i])
		}
	}
}

// Each row of a batch is bit-identical to that row alone.
func TestEncoderOpsRowIndependent(t *testing.T) {
	b := cpu.New(3)
	defer b.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	const rows, cols = 13, 300
	x := computetest.Random(rng, rows*cols, 1)
	w := computetest.Upload(b, compute.F32, 1, cols, computetest.Random(rng, cols, 1))
	bias := computetest.Upload(b, compute.F32, 1, cols, computetest.Random(rng, cols, 1))
	ops := map[string]func(dst, src compute.Tensor){
		"LayerNorm": func(d, s compute.Tensor) { b.LayerNorm(d, s, w, bias, 1e-5) },
		"GELU":      func(d, s compute.Tensor) { b.GELU(d, s) },
		"AddRow":    func(d, s compute.Tensor) { b.AddRow(d, s, bias) },
	}
	for name, op := range ops {
		all := b.Alloc(compute.F32, rows, cols)
		op(all, computetest.Upload(b, compute.F32, rows, cols, x))
		batch := computetest.Download(t, b, all)
		for r := range rows {
			one := b.Alloc(compute.F32, 1, cols)
			op(one, computetest.Upload(b, compute.F32, 1, cols, x[r*cols:(r+1)*cols]))
			for i, v := range computetest.Download(t, b, one) {
				if v != batch[r*cols+i] {
					t.Fatalf("%s: row %d element %d: %v in the batch, %v alone", name, r, i, batch[r*cols+i], v)
				}
			}
		}
	}
}

func TestEncoderOpsNoAllocations(t *testing.T) {
	b := cpu.New(2)
	defer b.Close()
	rng := rand.New(rand.NewPCG(1, 3))
	const n, k = 8, 1024
	x := computetest.Upload(b, compute.F32, n, k, computetest.Random(rng, n*k, 1))
	g := computetest.Upload(b, compute.F32, 1, k, computetest.Random(rng, k, 1))
	ops := map[string]func(){
		"LayerNorm": func() { b.LayerNorm(x, x, g, g, 1e-5) },
		"GELU":      func() { b.GELU(x, x) },
		"AddRow":    func() { b.AddRow(x, x, g) },
	}
	for name, op := range ops {
		op() // warm the task pool
		if a := testing.AllocsPerRun(20, op); a != 0 {
			t.Errorf("%s allocates %.1f times per call", name, a)
		}
	}
}

// Mismatched shapes panic with a message naming the op.
func TestEncoderOpsMisuse(t *testing.T) {
	b := cpu.New(1)
	defer b.Close()
	x, y := b.Alloc(compute.F32, 2, 8), b.Alloc(compute.F32, 2, 6)
	row8, row6 := b.Alloc(compute.F32, 1, 8), b.Alloc(compute.F32, 1, 6)
	ids := b.Alloc(compute.I32, 2, 8)
	for _, c := range []struct {
		op  string
		run func()
	}{
		{"LayerNorm", func() { b.LayerNorm(x, y, row8, row8, 1e-5) }}, // dst and src differ
		{"LayerNorm", func() { b.LayerNorm(x, x, row6, row8, 1e-5) }}, // weight too short
		{"LayerNorm", func() { b.LayerNorm(x, x, row8, row6, 1e-5) }}, // bias too short
		{"GELU", func() { b.GELU(x, y) }},                             // lengths differ
		{"GELU", func() { b.GELU(ids, ids) }},                         // not float32
		{"AddRow", func() { b.AddRow(x, x, row6) }},                   // bias too short
		{"AddRow", func() { b.AddRow(x, x, x) }},                      // bias of two rows
	} {
		func() {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.HasPrefix(msg, "compute: "+c.op+": ") {
					t.Errorf("%s misuse: panic %q, want one naming the op", c.op, msg)
				}
			}()
			c.run()
		}()
	}
}
