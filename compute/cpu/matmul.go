package cpu

import (
	"sync/atomic"

	"dllmbench/compute"
)

const (
	// colBlock is how many weight rows one unit of matmul work covers: the
	// block stays in cache while every input row passes over it. It is a
	// multiple of the tile widths 3 and 4.
	colBlock = 24
	// With the assembly kernels, batches of at least tileRows rows run in
	// 4×3 tiles; smaller ones (decoding) pass each row over the weights.
	tileRows = 4
	// rowBlock rows of x share one pass over a weight block; it bounds the
	// lane scratch of a worker to rowBlock·colBlock·8 floats.
	rowBlock = 64
	// kBlock columns of k are done at a time, so that a weight block
	// (colBlock·kBlock weights, 96 KiB in bf16) stays in L2 while the rows
	// of x pass, even for k = 14336. Shorter blocks measured slower: each
	// one costs a store and reload of the lanes.
	kBlock = 2048
)

func (b *Backend) MatMul(dst, x, w compute.Tensor) {
	d, xs := f32("MatMul", dst), f32("MatMul", x)
	n, k, m := x.Rows(), x.Cols(), w.Rows()
	if w.Cols() != k || dst.Rows() != n || dst.Cols() != m {
		compute.Panicf("MatMul", "dst %v = x %v · wᵀ %v", dst, x, w)
	}
	// Set the fields one by one: the scratch stays from call to call.
	t := &b.mm
	t.dst, t.x, t.n, t.k, t.m, t.wdt = d, xs, n, k, m, w.DType()
	t.w32, t.w16 = nil, nil
	switch w.DType() {
	case compute.F32:
		t.w32 = f32("MatMul", w)
	case compute.BF16, compute.F16:
		t.w16 = u16("MatMul", w)
	default:
		compute.Panicf("MatMul", "weight dtype %v", w.DType())
	}
	if useAVX2 && n >= tileRows && t.scratch == nil {
		t.scratch = make([][]float32, b.pool.workers)
		for i := range t.scratch {
			t.scratch[i] = make([]float32, rowBlock*colBlock*8)
		}
	}
	t.next.Store(0)
	blocks := (m + colBlock - 1) / colBlock
	// Aim for at least ~64k multiply-adds per chunk so tiny models stay on
	// one goroutine.
	grain := max(1, (1<<16)/max(1, n*k*colBlock))
	b.pool.For(blocks, grain, t)
}

// matmulTask computes dst = x · wᵀ over a range of column blocks. Each
// output element is computed by one fixed sequence of operations on one row
// of x and one row of w (see dot.go), so its value does not depend on n or
// on how blocks are split.
type matmulTask struct {
	dst, x  []float32
	n, k, m int
	wdt     compute.DType
	w32     []float32
	w16     []uint16

	// One lane scratch (rowBlock, colBlock, 8) per worker for the tiled
	// path, allocated on first use; each call of run takes the next one.
	scratch [][]float32
	next    atomic.Int32
}

func (t *matmulTask) run(lo, hi int) {
	switch {
	case !useAVX2:
		t.runGo(lo, hi)
	case t.n < tileRows:
		t.runRows(lo, hi)
	default:
		t.runTiles(t.scratch[t.next.Add(1)-1], lo, hi)
	}
}

// runGo is the portable path: one call of a pure-Go dot kernel per output.
func (t *matmulTask) runGo(lo, hi int) {
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

// runRows is decoding and small batches: each row of x passes over the
// weight rows in their stored dtype, four at a time, so that each weight
// byte is read from memory once per call and widened in registers.
func (t *matmulTask) runRows(lo, hi int) {
	m, tail := t.m, t.k&7 != 0
	var acc [colBlock * 8]float32
	for blk := lo; blk < hi; blk++ {
		j0, j1 := blk*colBlock, min((blk+1)*colBlock, m)
		for i := range t.n {
			clear(acc[:])
			t.dotRow(acc[:], i, 0, j0, 0, j1-j0, t.k/8)
			for j := j0; j < j1; j++ {
				lanes := (*[8]float32)(acc[8*(j-j0):])
				if tail {
					t.addTail(lanes, i, j)
				}
				t.dst[i*m+j] = sum8(lanes)
			}
		}
	}
}

// runTiles is prefill and diffusion steps: each weight block is reused by
// every row of x in 4×3 register tiles, widened in registers once per four
// rows. k is split into kBlock columns so that four rows of x stay in L1
// while the block passes, and the block stays in L2 while the rows pass;
// the split changes nothing, the lanes go to scratch and come back exactly.
func (t *matmulTask) runTiles(acc []float32, lo, hi int) {
	n, k, m, k8, tail := t.n, t.k, t.m, t.k&^7, t.k&7 != 0
	const as = colBlock * 8 // floats from one row of lanes to the next
	for blk := lo; blk < hi; blk++ {
		j0, j1 := blk*colBlock, min((blk+1)*colBlock, m)
		c := j1 - j0
		for i0 := 0; i0 < n; i0 += rowBlock {
			i1 := min(i0+rowBlock, n)
			clear(acc[:(i1-i0)*as])
			for kb := 0; kb < k8; kb += kBlock {
				nc := min(kBlock, k8-kb) / 8
				i := i0
				for ; i+4 <= i1; i += 4 {
					x := &t.x[i*k+kb]
					jj := 0
					for ; jj+3 <= c; jj += 3 {
						a, w := &acc[(i-i0)*as+8*jj], (j0+jj)*k+kb
						switch t.wdt {
						case compute.F32:
							tile4x3F32(a, 4*as, x, 4*k, &t.w32[w], 4*k, nc)
						case compute.BF16:
							tile4x3BF16(a, 4*as, x, 4*k, &t.w16[w], 2*k, nc)
						default:
							tile4x3F16(a, 4*as, x, 4*k, &t.w16[w], 2*k, nc)
						}
					}
					for r := i; r < i+4; r++ {
						t.dotRow(acc[(r-i0)*as:], r, kb, j0, jj, c, nc)
					}
				}
				for ; i < i1; i++ {
					t.dotRow(acc[(i-i0)*as:], i, kb, j0, 0, c, nc)
				}
			}
			for i := i0; i < i1; i++ {
				for j := j0; j < j1; j++ {
					lanes := (*[8]float32)(acc[(i-i0)*as+8*(j-j0):])
					if tail {
						t.addTail(lanes, i, j)
					}
					t.dst[i*m+j] = sum8(lanes)
				}
			}
		}
	}
}

// dotRow accumulates nc chunks of row i of x, from column kb, against the
// weight rows j0+[c0, c1) into acc, 8 lanes per weight row from acc[8·c0]:
// four rows at a time, then one.
func (t *matmulTask) dotRow(acc []float32, i, kb, j0, c0, c1, nc int) {
	if nc == 0 {
		return
	}
	k, x := t.k, &t.x[i*t.k+kb]
	c := c0
	for ; c+4 <= c1; c += 4 {
		w := (j0+c)*k + kb
		switch t.wdt {
		case compute.F32:
			dot4F32(&acc[8*c], x, &t.w32[w], 4*k, nc)
		case compute.BF16:
			dot4BF16(&acc[8*c], x, &t.w16[w], 2*k, nc)
		default:
			dot4F16(&acc[8*c], x, &t.w16[w], 2*k, nc)
		}
	}
	for ; c < c1; c++ {
		w := (j0+c)*k + kb
		switch t.wdt {
		case compute.F32:
			dot1F32(&acc[8*c], x, &t.w32[w], nc)
		case compute.BF16:
			dot1BF16(&acc[8*c], x, &t.w16[w], nc)
		default:
			dot1F16(&acc[8*c], x, &t.w16[w], nc)
		}
	}
}

// addTail adds the tail of k mod 8 elements of output (i, j) to its lanes as
// one zero-padded fused chunk.
func (t *matmulTask) addTail(lanes *[8]float32, i, j int) {
	k, k8 := t.k, t.k&^7
	var xt, wt [8]float32
	copy(xt[:], t.x[i*k+k8:(i+1)*k])
	for l := range k - k8 {
		switch e := j*k + k8 + l; t.wdt {
		case compute.F32:
			wt[l] = t.w32[e]
		case compute.BF16:
			wt[l] = compute.BF16ToF32(t.w16[e])
		default:
			wt[l] = compute.F16ToF32(t.w16[e])
		}
	}
	fma8(lanes, &xt, &wt)
}
