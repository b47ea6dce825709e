package computetest

import (
	"math/rand/v2"
	"testing"

	"dllmbench/compute"
)

// RowAgreement runs MatMul, RMSNorm and Attention (over a float32 and a
// bfloat16 cache) on a batch and on each of its rows alone, and returns the
// fraction of output elements that are bit-identical. A backend that is row-independent, as compute requires,
// returns 1.
func RowAgreement(t *testing.T, b compute.Backend) float64 {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	var same, total int
	count := func(batch []float32, row []float32, r int) {
		c := len(row)
		for i := range row {
			total++
			if batch[r*c+i] == row[i] {
				same++
			}
		}
	}
	const n, k, m = 6, 96, 40
	x := Random(rng, n*k, 1)
	for _, dt := range []compute.DType{compute.F32, compute.BF16} {
		w := Upload(b, dt, m, k, Random(rng, m*k, 0.1))
		out := b.Alloc(compute.F32, n, m)
		b.MatMul(out, Upload(b, compute.F32, n, k, x), w)
		batch := Download(t, b, out)
		for r := range n {
			one := b.Alloc(compute.F32, 1, m)
			b.MatMul(one, Upload(b, compute.F32, 1, k, x[r*k:(r+1)*k]), w)
			count(batch, Download(t, b, one), r)
		}
	}
	{
		g := Upload(b, compute.F32, 1, k, Random(rng, k, 1))
		out := b.Alloc(compute.F32, n, k)
		b.RMSNorm(out, Upload(b, compute.F32, n, k, x), g, 1e-5)
		batch := Download(t, b, out)
		for r := range n {
			one := b.Alloc(compute.F32, 1, k)
			b.RMSNorm(one, Upload(b, compute.F32, 1, k, x[r*k:(r+1)*k]), g, 1e-5)
			count(batch, Download(t, b, one), r)
		}
	}
	for _, cdt := range []compute.DType{compute.F32, compute.BF16} {
		// Two batch rows with left padding: row 0 has 3 padding slots.
		const nb, q, slots, heads, hd = 2, 2, 7, 2, 16
		qv := Random(rng, nb*q*heads*hd, 1)
		kv := Random(rng, nb*slots*heads*hd, 1)
		vv := Random(rng, nb*slots*heads*hd, 1)
		span := []int32{3, slots, 0, slots}
		qpos := []int32{5, 6, 5, 6}
		out := b.Alloc(compute.F32, nb*q, heads*hd)
		b.Attention(out, Upload(b, compute.F32, nb*q, heads*hd, qv), Upload(b, cdt, nb*slots, heads*hd, kv),
			Upload(b, cdt, nb*slots, heads*hd, vv), UploadI32(b, qpos), UploadI32(b, span), heads, heads, true)
		batch := Download(t, b, out)
		for row := range nb {
			cols := heads * hd
			one := b.Alloc(compute.F32, q, cols)
			b.Attention(one, Upload(b, compute.F32, q, cols, qv[row*q*cols:(row+1)*q*cols]),
				Upload(b, cdt, slots, cols, kv[row*slots*cols:(row+1)*slots*cols]),
				Upload(b, cdt, slots, cols, vv[row*slots*cols:(row+1)*slots*cols]),
				UploadI32(b, qpos[row*q:(row+1)*q]), UploadI32(b, span[2*row:2*row+2]), heads, heads, true)
			got := Download(t, b, one)
			for i := range q {
				count(batch, got[i*cols:(i+1)*cols], row*q+i)
			}
		}
	}
	return float64(same) / float64(total)
}
