// Package computetest is the conformance suite every backend runs: each op
// on random inputs against the CPU backend, with outputs poisoned first so an
// element left unwritten fails. It also holds the float64 reference the CPU
// backend itself is checked against.
package computetest

import "math"

// The reference ops below work on host float64 matrices (row-major) and
// follow the doc comments of compute.Backend literally. They are slow and
// obviously right; nothing else should use them.

// RefMatMul returns x·wᵀ for x n×k and w m×k.
func RefMatMul(x []float64, w []float64, n, k, m int) []float64 {
	out := make([]float64, n*m)
	for i := range n {
		for j := range m {
			var s float64
			for c := range k {
				s += x[i*k+c] * w[j*k+c]
			}
			out[i*m+j] = s
		}
	}
	return out
}

// RefRMSNorm normalises each row of x (rows × cols) and scales it by w.
func RefRMSNorm(x, w []float64, cols int, eps float64) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x)/cols; r++ {
		var ss float64
		for c := range cols {
			ss += x[r*cols+c] * x[r*cols+c]
		}
		inv := 1 / math.Sqrt(ss/float64(cols)+eps)
		for c := range cols {
			out[r*cols+c] = x[r*cols+c] * inv * w[c]
		}
	}
	return out
}

// RefSiLUMul returns silu(g)⊙u.
func RefSiLUMul(g, u []float64) []float64 {
	out := make([]float64, len(g))
	for i := range g {
		out[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
	}
	return out
}

// RefRoPE rotates each head of each row of x by the angles at pos.
func RefRoPE(x, cos, sin []float64, pos []int32, cols, headDim int) []float64 {
	out := append([]float64(nil), x...)
	h := headDim / 2
	for r := 0; r < len(x)/cols; r++ {
		p := int(pos[r])
		for o := 0; o < cols; o += headDim {
			for j := range h {
				a, b := x[r*cols+o+j], x[r*cols+o+h+j]
				c, s := cos[p*h+j], sin[p*h+j]
				out[r*cols+o+j] = a*c - b*s
				out[r*cols+o+h+j] = b*c + a*s
			}
		}
	}
	return out
}

// RefAttention computes the attention of compute.Backend.Attention.
func RefAttention(q, k, v []float64, qpos, span []int32, rows, nHeads, nKVHeads, headDim, slots int, causal bool) []float64 {
	nb := len(span) / 2
	n := rows / nb
	qc, kc := nHeads*headDim, nKVHeads*headDim
	group := nHeads / nKVHeads
	out := make([]float64, rows*qc)
	for r := range rows {
		b := r / n
		s, e := int(span[2*b]), int(span[2*b+1])
		if causal {
			e = min(e, int(qpos[r])+1)
		}
		for h := range nHeads {
			if s >= e {
				continue
			}
			kh := h / group
			scores := make([]float64, e-s)
			m := math.Inf(-1)
			for j := s; j < e; j++ {
				var d float64
				for c := range headDim {
					d += q[r*qc+h*headDim+c] * k[(b*slots+j)*kc+kh*headDim+c]
				}
				scores[j-s] = d / math.Sqrt(float64(headDim))
				m = max(m, scores[j-s])
			}
			var l float64
			for i := range scores {
				scores[i] = math.Exp(scores[i] - m)
				l += scores[i]
			}
			for j := s; j < e; j++ {
				p := scores[j-s] / l
				for c := range headDim {
					out[r*qc+h*headDim+c] += p * v[(b*slots+j)*kc+kh*headDim+c]
				}
			}
		}
	}
	return out
}

// RelErr is the norm-wise relative error ‖got − want‖ / ‖want‖ and the
// largest absolute difference; a NaN anywhere gives +Inf.
func RelErr(got []float32, want []float64) (rel, maxAbs float64) {
	if len(got) != len(want) {
		return math.Inf(1), math.Inf(1)
	}
	var num, den float64
	for i := range got {
		g := float64(got[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return math.Inf(1), math.Inf(1)
		}
		d := g - want[i]
		num += d * d
		den += want[i] * want[i]
		maxAbs = max(maxAbs, math.Abs(d))
	}
	if den == 0 {
		return math.Sqrt(num), maxAbs
	}
	return math.Sqrt(num / den), maxAbs
}

// RefUnmask is compute.Unmasker's definition: it returns canvas (B rows of n
// ids) with each row's block from column start committed, and the picks
// (B × k, −1 past a row's commits).
func RefUnmask(canvas, ids []int32, probs []float32, B, start, k int, mask int32) (out, picked []int32) {
	n, bl := len(canvas)/B, len(ids)/B
	out = append([]int32(nil), canvas...)
	picked = make([]int32, B*k)
	for b := range B {
		for r := range k {
			picked[b*k+r] = -1
		}
		// Each masked position's rank: the masked positions ahead of it.
		for j := range bl {
			if canvas[b*n+start+j] != mask {
				continue
			}
			rank := 0
			for i := range bl {
				pi, pj := probs[b*bl+i], probs[b*bl+j]
				if canvas[b*n+start+i] == mask && (pi > pj || pi == pj && i < j) {
					rank++
				}
			}
			if rank < k {
				out[b*n+start+j] = ids[b*bl+j]
				picked[b*k+rank] = int32(j)
			}
		}
	}
	return out, picked
}
