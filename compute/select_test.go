package compute

import (
	"math"
	"testing"
)

// ArgmaxProbRow: the first of tied maxima, never the excluded column (−1
// when it is the only one), and a probability over the whole row rounded
// toward zero.
func TestArgmaxProbRow(t *testing.T) {
	for _, c := range []struct {
		name    string
		row     []float32
		exclude int
		id      int
		p       float64 // within 1e-7 where tol, else exactly
		tol     bool
	}{
		{"first of a tie", []float32{0, 1, 1}, -1, 1, 1 / (2 + math.Exp(-1)), true},
		{"the excluded maximum", []float32{0, 9, 1, 1}, 1, 2, math.Exp(-8) / (1 + math.Exp(-9) + 2*math.Exp(-8)), true},
		{"only the excluded column", []float32{5}, 0, -1, 0, false},
		{"near-certain, toward zero", []float32{0, -20, -20}, -1, 0, float64(math.Nextafter32(1, 0)), false},
		{"certain", []float32{0, -1000}, -1, 0, 1, false},
	} {
		id, p := ArgmaxProbRow(c.row, c.exclude)
		if id != c.id || c.tol && math.Abs(float64(p)-c.p) > 1e-7*c.p || !c.tol && float64(p) != c.p {
			t.Errorf("%s: id %d p %.9g, want id %d p %.9g", c.name, id, p, c.id, c.p)
		}
	}
}
