package cpu

import "dllmbench/compute"

// colBlock is how many weight rows one unit of matmul work covers: the block
// stays in cache while every input row passes over it.
const colBlock = 16

func (b *Backend) MatMul(dst, x, w compute.Tensor) {
	d, xs := f32("MatMul", dst), f32("MatMul", x)
	n, k, m := x.Rows(), x.Cols(), w.Rows()
	if w.Cols() != k || dst.Rows() != n || dst.Cols() != m {
		compute.Panicf("MatMul", "dst %v = x %v · wᵀ %v", dst, x, w)
	}
	t := &b.mm
	*t = matmulTask{dst: d, x: xs, n: n, k: k, m: m, wdt: w.DType()}
	switch w.DType() {
	case compute.F32:
		t.w32 = f32("MatMul", w)
	case compute.BF16, compute.F16:
		t.w16 = u16("MatMul", w)
	default:
		compute.Panicf("MatMul", "weight dtype %v", w.DType())
	}
	blocks := (m + colBlock - 1) / colBlock
	// Aim for at least ~64k multiply-adds per chunk so tiny models stay on
	// one goroutine.
	grain := max(1, (1<<16)/max(1, n*k*colBlock))
	b.pool.For(blocks, grain, t)
}

// matmulTask computes dst = x · wᵀ over a range of column blocks. Each
// output element is one call of a dot kernel on one row of x and one row of
// w, so its value does not depend on n or on how blocks are split.
type matmulTask struct {
	dst, x  []float32
	n, k, m int
	wdt     compute.DType
	w32     []float32
	w16     []uint16
}

func (t *matmulTask) run(lo, hi int) {
	k, m := t.k, t.m
	for blk := lo; blk < hi; blk++ {
		j0, j1 := blk*colBlock, min((blk+1)*colBlock, m)
		for i := 0; i < t.n; i++ {
			xi := t.x[i*k : (i+1)*k]
			out := t.dst[i*m : (i+1)*m]
			switch t.wdt {
			case compute.F32:
				for j := j0; j < j1; j++ {
					out[j] = dotF32(xi, t.w32[j*k:(j+1)*k])
				}
			case compute.BF16:
				for j := j0; j < j1; j++ {
					out[j] = dotBF16(xi, t.w16[j*k:(j+1)*k])
				}
			case compute.F16:
				for j := j0; j < j1; j++ {
					out[j] = dotF16(xi, t.w16[j*k:(j+1)*k])
				}
			}
		}
	}
}
