package computetest

import (
	"fmt"
	"math"
	"testing"

	"dllmbench/compute"
)

// RefLayerNorm normalises each row of x (rows × cols) to zero mean and unit
// biased variance, then scales it by w and shifts it by b.
func RefLayerNorm(x, w, b []float64, cols int, eps float64) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x)/cols; r++ {
		row := x[r*cols : (r+1)*cols]
		var mean, v float64
		for _, e := range row {
			mean += e
		}
		mean /= float64(cols)
		for _, e := range row {
			v += (e - mean) * (e - mean)
		}
		inv := 1 / math.Sqrt(v/float64(cols)+eps)
		for c, e := range row {
			out[r*cols+c] = (e-mean)*inv*w[c] + b[c]
		}
	}
	return out
}

// RefGELU returns x·Φ(x) = x/2·(1 + erf(x/√2)) elementwise.
func RefGELU(x []float64) []float64 {
	out := make([]float64, len(x))
	for i, e := range x {
		out[i] = e / 2 * (1 + math.Erf(e/math.Sqrt2))
	}
	return out
}

// RefAddRow adds the row bias to every row of x.
func RefAddRow(x, bias []float64) []float64 {
	out := make([]float64, len(x))
	for i, e := range x {
		out[i] = e + bias[i%len(bias)]
	}
	return out
}

// encoder checks the compute.EncoderOps of a backend that has them against
// the reference backend, in place and out of place.
func (s *suite) encoder(t *testing.T) {
	enc, ok := s.b.(compute.EncoderOps)
	if !ok {
		t.Skip("the backend has no encoder ops")
	}
	ref, ok := s.ref.(compute.EncoderOps)
	if !ok {
		t.Fatal("the reference backend has no encoder ops")
	}
	for _, sh := range []struct{ rows, cols int }{
		{1, 64},    // one token
		{5, 100},   // odd width
		{17, 1024}, // RoBERTa-large's width, several rows per chunk
		{3, 4096},  // its feed-forward width
	} {
		n := sh.rows * sh.cols
		// An offset mean as well as a spread, so that the centring matters.
		vals := Random(s.rng, n, 3)
		for i := range vals {
			vals[i] += 2
		}
		x := s.upload(compute.F32, sh.rows, sh.cols, vals)
		w := s.upload(compute.F32, 1, sh.cols, Random(s.rng, sh.cols, 1))
		bias := s.upload(compute.F32, 1, sh.cols, Random(s.rng, sh.cols, 1))

		out := s.output(compute.F32, sh.rows, sh.cols)
		enc.LayerNorm(out.got, x.got, w.got, bias.got, 1e-5)
		ref.LayerNorm(out.want, x.want, w.want, bias.want, 1e-5)
		s.compare(t, fmt.Sprintf("LayerNorm %d×%d", sh.rows, sh.cols), out, s.tol.F32)

		out = s.output(compute.F32, sh.rows, sh.cols)
		enc.GELU(out.got, x.got)
		ref.GELU(out.want, x.want)
		s.compare(t, fmt.Sprintf("GELU %d×%d", sh.rows, sh.cols), out, s.tol.F32)

		out = s.output(compute.F32, sh.rows, sh.cols)
		enc.AddRow(out.got, x.got, bias.got)
		ref.AddRow(out.want, x.want, bias.want)
		s.compare(t, fmt.Sprintf("AddRow %d×%d", sh.rows, sh.cols), out, s.tol.F32)

		// In place, as the encoder calls them: AddRow, GELU, LayerNorm on
		// the same tensor.
		in := s.upload(compute.F32, sh.rows, sh.cols, vals)
		enc.AddRow(in.got, in.got, bias.got)
		enc.GELU(in.got, in.got)
		enc.LayerNorm(in.got, in.got, w.got, bias.got, 1e-5)
		ref.AddRow(in.want, in.want, bias.want)
		ref.GELU(in.want, in.want)
		ref.LayerNorm(in.want, in.want, w.want, bias.want, 1e-5)
		s.compare(t, fmt.Sprintf("in place %d×%d", sh.rows, sh.cols), in, s.tol.F32)
	}
}
