package cpu

import (
	"math"
	"sync/atomic"

	"dllmbench/compute"
)

// Attention reads a float32 or a bfloat16 cache. A bfloat16 cache is widened
// (exactly) a key and value head at a time into per-worker scratch, where the
// float32 kernels read it: the output is that of a float32 cache holding the
// widened values, bit for bit.
func (b *Backend) Attention(dst, q, kc, vc, qpos, span compute.Tensor, nHeads, nKVHeads int, causal bool) {
	d, qs := f32("Attention", dst), f32("Attention", q)
	qp, sp := i32("Attention", qpos), i32("Attention", span)
	if kc.DType() != vc.DType() || (kc.DType() != compute.F32 && kc.DType() != compute.BF16) {
		compute.Panicf("Attention", "caches k %v and v %v: want both F32 or both BF16", kc, vc)
	}
	var ks, vs []float32
	var kh, vh []uint16
	if kc.DType() == compute.F32 {
		ks, vs = f32("Attention", kc), f32("Attention", vc)
	} else {
		kh, vh = u16("Attention", kc), u16("Attention", vc)
	}
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
	t.dst, t.q, t.k, t.v, t.kh, t.vh, t.qpos, t.span = d, qs, ks, vs, kh, vh, qp, sp
	t.n, t.T, t.nh, t.nkv, t.group, t.hd, t.kc = q.Rows()/nb, T, nHeads, nKVHeads, nHeads/nKVHeads, hd, kc.Cols()
	t.causal, t.scale = causal, float32(1/math.Sqrt(float64(hd)))
	if len(t.scratch) != b.pool.workers {
		t.scratch = make([]attnScratch, b.pool.workers)
	}
	for i := range t.scratch {
		w := &t.scratch[i]
		if len(w.p) < T {
			w.p = make([]float32, T)
		}
		if kh != nil && len(w.k) < T*hd {
			w.k, w.v = make([]float32, T*hd), make([]float32, T*hd)
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
//
// The indices run over (batch row, cache head, query, head of the group),
// the last fastest, so that the outputs reading one cache head follow one
// another: a bfloat16 head is widened once for all of them in a chunk.
type attnTask struct {
	dst, q, k, v []float32
	kh, vh       []uint16 // the caches instead of k and v when they are bfloat16
	qpos, span   []int32
	n, T         int // queries per batch row, cache slots per batch row
	nh, nkv      int // query heads, cache heads
	group        int // query heads per cache head
	hd, kc       int // head size, cache columns
	causal       bool
	scale        float32

	// One scratch per worker; each call of run takes the next.
	scratch []attnScratch
	next    atomic.Int32
}

// attnScratch is a worker's scratch: a score row of T floats and, for a
// bfloat16 cache, one key and one value head of T slots widened, hd apart.
type attnScratch struct {
	p, k, v []float32
}

func (t *attnTask) run(lo, hi int) {
	w := &t.scratch[t.next.Add(1)-1]
	hd, qc := t.hd, t.nh*t.hd
	// The bfloat16 cache head widened into w.k and w.v: batch row wRow,
	// cache head wHead, slots [ws, we) (ws is the span's start, the same for
	// every query of the row).
	wRow, wHead, we := -1, -1, 0
	for idx := lo; idx < hi; idx++ {
		g, rest := idx%t.group, idx/t.group
		i, rest := rest%t.n, rest/t.n
		kvh, row := rest%t.nkv, rest/t.nkv
		r, h := row*t.n+i, kvh*t.group+g
		s, e := int(t.span[2*row]), int(t.span[2*row+1])
		if t.causal {
			e = min(e, int(t.qpos[r])+1)
		}
		out := t.dst[r*qc+h*hd : r*qc+(h+1)*hd]
		if s >= e || hd == 0 {
			clear(out)
			continue
		}
		// k and v hold the key and value rows of slots s, s+1, …, ks
		// elements apart.
		var k, v []float32
		ks := t.kc
		if t.kh == nil {
			off := (row*t.T+s)*t.kc + kvh*hd
			k, v = t.k[off:], t.v[off:]
		} else {
			if row != wRow || kvh != wHead {
				wRow, wHead, we = row, kvh, s
			}
			for ; we < e; we++ {
				src, dst := (row*t.T+we)*t.kc+kvh*hd, (we-s)*hd
				widenBF16(w.k[dst:dst+hd], t.kh[src:src+hd])
				widenBF16(w.v[dst:dst+hd], t.vh[src:src+hd])
			}
			k, v, ks = w.k, w.v, hd
		}
		p := w.p[:e-s]
		m := t.scores(p, t.q[r*qc+h*hd:r*qc+(h+1)*hd], k, ks)
		inv := 1 / expSum(p, m)
		// out is cleared only now: dst may be q, each head reading its own.
		clear(out)
		if useAVX2 {
			axpyRowsF32(&out[0], &p[0], &v[0], 4*ks, len(p), hd, inv)
		} else {
			axpyRowsGo(out, p, v, ks, inv)
		}
	}
}

// widenBF16 sets dst[i] to the bfloat16 src[i], exactly. It is a hot spot
// of Attention on a bfloat16 cache.
func widenBF16(dst []float32, src []uint16) {
	src = src[:len(dst)]
	n8 := 0
	if useAVX2 {
		n8 = len(dst) &^ 7
		if n8 > 0 {
			widenBF16F32(&dst[0], &src[0], n8/8)
		}
	}
	for i, h := range src[n8:] {
		dst[n8+i] = compute.BF16ToF32(h)
	}
}

// scores computes p[j] = (q · k_j)·scale for the key rows k_j of hd
// elements from element j·ks of k, and returns the largest: with the
// assembly kernels, the dot of MatMul's kernels (8 fused lanes, a
// zero-padded fused tail, the tree of sum8), else dotF32.
func (t *attnTask) scores(p, q, k []float32, ks int) float32 {
	hd := t.hd
	switch {
	case !useAVX2:
		for j := range p {
			p[j] = dotF32(q, k[j*ks:j*ks+hd]) * t.scale
		}
	case hd%8 == 0:
		return scoresF32(&p[0], &q[0], &k[0], 4*ks, len(p), hd/8, t.scale)
	default:
		h8 := hd &^ 7
		var xt, wt [8]float32
		copy(xt[:], q[h8:])
		for j := range p {
			var lanes [8]float32
			kr := j * ks
			if h8 > 0 {
				dot1F32(&lanes[0], &q[0], &k[kr], h8/8)
			}
			copy(wt[:], k[kr+h8:kr+hd])
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
