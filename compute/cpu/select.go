package cpu

import "dllmbench/compute"

var _ compute.Selector = (*Backend)(nil)

// ArgmaxProb picks each row's most likely token and its probability, the
// softmax computed in float64 as Fast-dLLM does, rounded toward zero
// (compute.ArgmaxProbRow), rows in parallel.
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
	// Gumbel-max: each row's key (two words), the temperature; nil keys
	// for the argmax.
	keys        []int32
	temperature float64
}

func (t *selectTask) run(lo, hi int) {
	for r := lo; r < hi; r++ {
		row := t.logits[r*t.cols : (r+1)*t.cols]
		var id int
		var p float32
		if t.keys == nil {
			id, p = compute.ArgmaxProbRow(row, t.exclude)
		} else {
			id, p = compute.GumbelArgmaxProbRow(row, t.exclude, compute.Word64(t.keys, r), t.temperature)
		}
		t.ids[r], t.probs[r] = int32(id), p
	}
}

var _ compute.GumbelSelector = (*Backend)(nil)

// GumbelArgmaxProb draws each row's token by Gumbel-max with the row's key
// (compute.GumbelArgmaxProbRow) and gives its probability as ArgmaxProb
// does, rows in parallel.
func (b *Backend) GumbelArgmaxProb(ids, probs, logits, keys compute.Tensor, exclude int, temperature float64) {
	id, p, l, k := i32("GumbelArgmaxProb", ids), f32("GumbelArgmaxProb", probs), f32("GumbelArgmaxProb", logits), i32("GumbelArgmaxProb", keys)
	n := logits.Rows()
	if len(id) != n || len(p) != n || keys.Rows() != n || keys.Cols() != 2 || logits.Cols() == 0 {
		compute.Panicf("GumbelArgmaxProb", "ids %v, probs %v, keys %v for logits %v", ids, probs, keys, logits)
	}
	if !compute.DrawTemperature(temperature) {
		compute.Panicf("GumbelArgmaxProb", "temperature %g: want a finite number > 0", temperature)
	}
	t := &b.sel
	*t = selectTask{ids: id, probs: p, logits: l, cols: logits.Cols(), exclude: exclude, keys: k, temperature: temperature}
	b.pool.For(n, max(1, (1<<12)/logits.Cols()), t)
}

var _ compute.Unmasker = (*Backend)(nil)

// Unmask commits each row's k most probable masked positions of the block:
// first their ranks into picked (every read of the canvas before any
// write), then the commits.
func (b *Backend) Unmask(canvas, picked, ids, probs compute.Tensor, start, k, mask int) {
	cv, pk, id, p := i32("Unmask", canvas), i32("Unmask", picked), i32("Unmask", ids), f32("Unmask", probs)
	B, n := canvas.Rows(), canvas.Cols()
	if B == 0 || len(id)%B != 0 || len(p) != len(id) || picked.Rows() != B || picked.Cols() != k || start < 0 || start+len(id)/B > n {
		compute.Panicf("Unmask", "canvas %v, picked %v, ids %v, probs %v, block from %d, k %d", canvas, picked, ids, probs, start, k)
	}
	bl, m := len(id)/B, int32(mask)
	for r := range B {
		row, pr, ir, prow := cv[r*n+start:r*n+start+bl], pk[r*k:(r+1)*k], id[r*bl:(r+1)*bl], p[r*bl:(r+1)*bl]
		for i := range pr {
			pr[i] = -1
		}
		for j, t := range row {
			if t != m {
				continue
			}
			rank := 0
			for i, u := range row {
				if u == m && (prow[i] > prow[j] || prow[i] == prow[j] && i < j) {
					rank++
				}
			}
			if rank < k {
				pr[rank] = int32(j)
			}
		}
		for _, j := range pr {
			if j >= 0 {
				row[j] = ir[j]
			}
		}
	}
}
