package cpu

import (
	"math"

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
	t := &b.attn
	*t = attnTask{dst: d, q: qs, k: ks, v: vs, qpos: qp, span: sp, n: q.Rows() / nb, T: T,
		nh: nHeads, group: nHeads / nKVHeads, hd: hd, causal: causal, scale: float32(1 / math.Sqrt(float64(hd)))}
	b.pool.For(q.Rows()*nHeads, max(1, (1<<15)/max(1, T*hd)), t)
}

// attnTask computes one (query row, head) output per index, in two passes
// over the visible slots: the maximum score, then the normalised sum. It
// recomputes the scores rather than storing them, so it needs no scratch.
type attnTask struct {
	dst, q, k, v []float32
	qpos, span   []int32
	n, T         int // queries per batch row, cache slots per batch row
	nh, group    int // query heads, query heads per cache head
	hd           int
	causal       bool
	scale        float32
}

func (t *attnTask) run(lo, hi int) {
	hd, qc, kc := t.hd, t.nh*t.hd, t.nh/t.group*t.hd
	for idx := lo; idx < hi; idx++ {
		r, h := idx/t.nh, idx%t.nh
		row := r / t.n
		s, e := int(t.span[2*row]), int(t.span[2*row+1])
		if t.causal {
			e = min(e, int(t.qpos[r])+1)
		}
		qv := t.q[r*qc+h*hd : r*qc+(h+1)*hd]
		out := t.dst[r*qc+h*hd : r*qc+(h+1)*hd]
		clear(out)
		if s >= e {
			continue
		}
		base, kh := row*t.T, (h/t.group)*hd
		m := float32(math.Inf(-1))
		for j := s; j < e; j++ {
			kr := (base + j) * kc
			m = max(m, dotF32(qv, t.k[kr+kh:kr+kh+hd])*t.scale)
		}
		var l float32
		for j := s; j < e; j++ {
			kr := (base + j) * kc
			p := float32(math.Exp(float64(dotF32(qv, t.k[kr+kh:kr+kh+hd])*t.scale - m)))
			l += p
			vr := t.v[kr+kh : kr+kh+hd]
			for c := range out {
				out[c] += p * vr[c]
			}
		}
		inv := 1 / l
		for c := range out {
			out[c] *= inv
		}
	}
}
