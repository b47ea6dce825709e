package model

import (
	"math"

	"dllmbench/compute"
)

// hostSelector is compute.Selector's definition run on the host, for
// backends without the fusion: it reads the logits back and writes the
// picks into the State's tensors.
type hostSelector struct {
	m *Model
	s *State
}

func (h hostSelector) ArgmaxProb(ids, probs, logits compute.Tensor, exclude int) {
	n, V := logits.Rows(), logits.Cols()
	lg := h.s.host[:n*V]
	if err := h.m.b.Read(lg, logits); err != nil {
		// The error stays with the backend; the next Read reports it.
		return
	}
	for r := range n {
		row := lg[r*V : (r+1)*V]
		best, mx := -1, float32(math.Inf(-1))
		for i, v := range row {
			mx = max(mx, v)
			if i != exclude && (best < 0 || v > row[best]) {
				best = i
			}
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v) - float64(mx))
		}
		h.s.selIDs[r], h.s.selProbs[r] = int32(best), float32(math.Exp(float64(row[best])-float64(mx))/sum)
	}
	h.m.b.Write(ids, h.s.selIDs[:n])
	h.m.b.Write(probs, h.s.selProbs[:n])
}
