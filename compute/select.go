package compute

import "math"

// ArgmaxProbRow is Selector's ArgmaxProb for one row of logits, computed on
// the host: the first column of the row's largest value other than exclude
// (−1 for none), and that column's softmax probability over the whole row
// in float64, rounded toward zero. Backends without a fused selection, and
// the CPU backend's, use it.
func ArgmaxProbRow(row []float32, exclude int) (id int, p float32) {
	best := -1
	m := float32(math.Inf(-1))
	for i, v := range row {
		m = max(m, v) // the softmax is over the whole row
		if i != exclude && (best < 0 || v > row[best]) {
			best = i
		}
	}
	if best < 0 {
		return -1, 0
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - float64(m))
	}
	return best, towardZero(math.Exp(float64(row[best])-float64(m)) / s)
}

// towardZero rounds a non-negative p to float32 toward zero.
func towardZero(p float64) float32 {
	f := float32(p)
	if float64(f) > p {
		f = math.Nextafter32(f, 0)
	}
	return f
}
