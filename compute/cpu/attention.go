package cpu

import (
	"math"
	"sync/atomic"

	"dllmbench/compute"
)

func (b *Backend) Attention(dst, q, kc, vc, qpos, span compute.Tensor, nHeads, nKVHeads int, causal bool) {
	d, qs, ks, vs := f32("Attention", dst), f32("Attention", q), f32("Attention", kc), f32("Attention", vc)
	qp, sp := i32("Attention", qpos), i32("Attention", span)
	nb := len(sp) / 2
	if nHeads <= 0 || nKVHeads <= 0 || nHeads%nKVHeads != 0 || q.Cols()%nHeads != 0 || len(sp)%2 != 0 || nb == 0 ||
		q.Rows()%nb != 0 || kc.Rows()%nb != 0 {
		compute.Panicf("Attention", "q %v, cache %v, span %v, heads %d/%d", q, kc, span, nHeads, nKVHeads)
	}
	hd := q.Cols() / nHeads
	if kc.Cols() != nKVHeads*hd || vc.Cols() != kc.Cols() || vc.Rows() != kc.Rows() ||
		dst.Rows() != q.Rows() || dst.Cols() != q.Cols() || len(qp) != q.Rows() {
		compute.Panicf("Attention", "dst %v, q %v, k %v, v %v, qpos %v", dst, q, kc, vc, qpos)
	}
	T := kc.Rows() / nb
	for i := 0; i < nb; i++ {
		if sp[2*i] < 0 || sp[2*i] > sp[2*i+1] || int(sp[2*i+1]) > T {
			compute.Panicf("Attention", "span [%d, %d) of batch row %d outside [0, %d]", sp[2*i], sp[2*i+1], i, T)
		}
	}
	// Set the fields one by one: the scratch stays from call to call, and
	// grows only when a longer cache arrives.
	t := &b.attn
	t.dst, t.q, t.k, t.v, t.qpos, t.span = d, qs, ks, vs, qp, sp
	t.n, t.T, t.nh, t.group, t.hd, t.kc = q.Rows()/nb, T, nHeads, nHeads/nKVHeads, hd, kc.Cols()
	t.causal, t.scale = causal, float32(1/math.Sqrt(float64(hd)))
	if len(t.scratch) != b.pool.workers {
		t.scratch = make([][]float32, b.pool.workers)
	}
	for i, s := range t.scratch {
		if len(s) < T {
			t.scratch[i] = make([]float32, T)
		}
	}
	t.next.Store(0)
	b.pool.For(q.Rows()*nHeads, max(1, (1<<15)/max(1, T*hd)), t)
}

// attnTask computes one (query row, head) output per index: the scores of
// the visible slots into scratch, their maximum, the exponentials and their
// sum, and the weighted sum of the value rows, divided by the sum at the
// end. Every step is a fixed sequence of operations over the slots of the
// query's span, so an output does not depend on the batch or the split.
type attnTask struct {
	dst, q, k, v []float32
	qpos, span   []int32
	n, T         int // queries per batch row, cache slots per batch row
	nh, group    int // query heads, query heads per cache head
	hd, kc       int // head size, cache columns
	causal       bool
	scale        float32

	// One score row of T floats per worker; each call of run takes the next.
	scratch [][]float32
	next    atomic.Int32
}

func (t *attnTask) run(lo, hi int) {
	sc := t.scratch[t.next.Add(1)-1]
	hd, qc := t.hd, t.nh*t.hd
	for idx := lo; idx < hi; idx++ {
		r, h := idx/t.nh, idx%t.nh
		row := r / t.n
		s, e := int(t.span[2*row]), int(t.span[2*row+1])
		if t.causal {
			e = min(e, int(t.qpos[r])+1)
		}
		out := t.dst[r*qc+h*hd : r*qc+(h+1)*hd]
		if s >= e || hd == 0 {
			clear(out)
			continue
		}
		// off is the element of slot s's head in the key and value caches.
		off := (row*t.T+s)*t.kc + (h/t.group)*hd
		p := sc[:e-s]
		m := t.scores(p, t.q[r*qc+h*hd:r*qc+(h+1)*hd], off)
		inv := 1 / expSum(p, m)
		// out is cleared only now: dst may be q, each head reading its own.
		clear(out)
		if useAVX2 {
			axpyRowsF32(&out[0], &p[0], &t.v[off], 4*t.kc, len(p), hd, inv)
		} else {
			axpyRowsGo(out, p, t.v[off:], t.kc, inv)
		}
	}
}

// scores computes p[j] = (q · k_j)·scale for the key rows k_j of hd
// elements from element off + j·kc of the key cache, and returns the
// largest: with the assembly kernels, the dot of MatMul's kernels (8 fused
// lanes, a zero-padded fused tail, the tree of sum8), else dotF32.
func (t *attnTask) scores(p, q []float32, off int) float32 {
	hd, kc := t.hd, t.kc
	switch {
	case !useAVX2:
		for j := range p {
			p[j] = dotF32(q, t.k[off+j*kc:off+j*kc+hd]) * t.scale
		}
	case hd%8 == 0:
		return scoresF32(&p[0], &q[0], &t.k[off], 4*kc, len(p), hd/8, t.scale)
	default:
		h8 := hd &^ 7
		var xt, wt [8]float32
		copy(xt[:], q[h8:])
		for j := range p {
			var lanes [8]float32
			kr := off + j*kc
			if h8 > 0 {
				dot1F32(&lanes[0], &q[0], &t.k[kr], h8/8)
			}
			copy(wt[:], t.k[kr+h8:kr+hd])
			fma8(&lanes, &xt, &wt)
			p[j] = sum8(&lanes) * t.scale
		}
	}
	m := float32(math.Inf(-1))
	for _, v := range p {
		m = max(m, v)
	}
	return m
}

// expSum replaces p[j] by e^(p[j]−m) and returns their sum, in eight lanes
// (lane l takes the elements l, l+8, …) added in the tree of sum8.
func expSum(p []float32, m float32) float32 {
	var s [8]float32
	n8 := 0
	if useAVX2 {
		n8 = len(p) &^ 7
		if n8 > 0 {
			expSumF32(&p[0], m, n8/8, &s)
		}
	}
	expSumGo(p[n8:], m, &s)
	return sum8(&s)
}

// expSumGo computes x[i] = e^(x[i]−m) and adds it to sum[i mod 8]: the
// portable softmax exponentials, and the reference of expSumF32.
func expSumGo(x []float32, m float32, sum *[8]float32) {
	for i, v := range x {
		e := expF32(v - m)
		x[i] = e
		sum[i&7] += e
	}
}

// axpyRowsGo computes out[c] += p[j]·v[j·vs+c] for j = 0, 1, … in order,
// then out[c]·scale: the portable value accumulation, and the reference of
// axpyRowsF32.
func axpyRowsGo(out, p, v []float32, vs int, scale float32) {
	for j, pj := range p {
		vr := v[j*vs : j*vs+len(out)]
		for c := range out {
			out[c] += pj * vr[c]
		}
	}
	for c := range out {
		out[c] *= scale
	}
}
