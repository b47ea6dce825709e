package cpu

import (
	"math"

	"dllmbench/compute"
)

var _ compute.Selector = (*Backend)(nil)

// ArgmaxProb picks each row's most likely token and its probability, the
// softmax computed in float64 as Fast-dLLM does.
func (b *Backend) ArgmaxProb(ids, probs, logits compute.Tensor, exclude int) {
	id, p, l := i32("ArgmaxProb", ids), f32("ArgmaxProb", probs), f32("ArgmaxProb", logits)
	if len(id) != logits.Rows() || len(p) != logits.Rows() || logits.Cols() == 0 {
		compute.Panicf("ArgmaxProb", "ids %v, probs %v for logits %v", ids, probs, logits)
	}
	t := &b.sel
	*t = selectTask{ids: id, probs: p, logits: l, cols: logits.Cols(), exclude: exclude}
	b.pool.For(logits.Rows(), max(1, (1<<15)/logits.Cols()), t)
}

// selectTask is ArgmaxProb over a range of rows.
type selectTask struct {
	ids     []int32
	probs   []float32
	logits  []float32
	cols    int
	exclude int
}

func (t *selectTask) run(lo, hi int) {
	for r := lo; r < hi; r++ {
		row := t.logits[r*t.cols : (r+1)*t.cols]
		best := -1
		m := float32(math.Inf(-1))
		for i, v := range row {
			if i == t.exclude {
				continue
			}
			if best < 0 || v > row[best] {
				best = i
			}
			m = max(m, v)
		}
		if t.exclude >= 0 && t.exclude < len(row) {
			m = max(m, row[t.exclude]) // the softmax is over the whole row
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - float64(m))
		}
		t.ids[r] = int32(best)
		t.probs[r] = float32(math.Exp(float64(row[best])-float64(m)) / s)
	}
}
