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

// GumbelNoise is standard Gumbel: mean γ (Euler–Mascheroni), variance
// π²/6, over a key's first columns and over keys.
func TestGumbelNoiseMoments(t *testing.T) {
	const n = 200000
	var s, s2 float64
	for i := range n {
		g := GumbelNoise(uint64(i/1000)*0x1234567, i%1000)
		if math.IsInf(g, 0) || math.IsNaN(g) {
			t.Fatalf("noise %g at %d", g, i)
		}
		s += g
		s2 += g * g
	}
	mean := s / n
	variance := s2/n - mean*mean
	// Standard errors: sqrt(π²/6/n) ≈ 0.0029 for the mean, about 0.012 for the variance.
	if math.Abs(mean-0.5772156649) > 0.015 || math.Abs(variance-math.Pi*math.Pi/6) > 0.06 {
		t.Errorf("mean %.4f, variance %.4f; want 0.5772 and %.4f", mean, variance, math.Pi*math.Pi/6)
	}
}

// GumbelArgmaxRow at temperature T draws from softmax(l/T), never the
// excluded column; at temperature 0 it is the argmax; its probability is
// ArgmaxProbRow's definition for the column it picks.
func TestGumbelArgmaxRow(t *testing.T) {
	row := []float32{1.5, 1, 0, -0.5}
	for _, T := range []float64{1, 0.5} {
		const n = 40000
		counts := make([]float64, len(row))
		for k := range n {
			counts[GumbelArgmaxRow(row, -1, uint64(k)*0x9e3779b97f4a7c15+7, T)]++
		}
		var z float64
		for _, l := range row {
			z += math.Exp(float64(l) / T)
		}
		var chi float64
		for i, l := range row {
			e := math.Exp(float64(l)/T) / z * n
			chi += (counts[i] - e) * (counts[i] - e) / e
		}
		if chi > 16.27 { // chi-square, 3 degrees of freedom, 0.999
			t.Errorf("T=%g: chi-square %.1f, counts %v", T, chi, counts)
		}
	}
	for k := range 1000 {
		if GumbelArgmaxRow(row, 0, uint64(k), 3) == 0 {
			t.Fatal("drew the excluded column")
		}
	}
	if GumbelArgmaxRow(row, -1, 5, 0) != 0 || GumbelArgmaxRow(row, 0, 5, 0) != 1 || GumbelArgmaxRow([]float32{2}, 0, 5, 1) != -1 {
		t.Error("temperature 0 is not the argmax (other than the excluded column)")
	}
	for k := range 50 {
		id, p := GumbelArgmaxProbRow(row, 2, uint64(k), 1)
		var z float64
		for _, l := range row {
			z += math.Exp(float64(l) - 1.5)
		}
		if want := math.Exp(float64(row[id])-1.5) / z; math.Abs(float64(p)-want) > 1e-7*want || float64(p) > want {
			t.Errorf("key %d: id %d p %.9g, want %.9g rounded toward zero", k, id, p, want)
		}
	}
}

// GumbelArgmaxRow rounds the product temperature·g before the sum, as the
// device's kernel does (__dmul_rn then __dadd_rn): a compiler that fuses
// them (arm64, or amd64 built with GOAMD64=v3) must not change the draw.
// Here the two roundings pick different columns.
func TestGumbelArgmaxRowRoundsProduct(t *testing.T) {
	row := []float32{2, 1.5}
	const key = 1
	T := math.Float64frombits(0x3fe8334917af0a79) // ≈ 0.75626
	g0, g1 := GumbelNoise(key, 0), GumbelNoise(key, 1)
	unfused := 0
	if float64(row[1])+float64(T*g1) > float64(row[0])+float64(T*g0) {
		unfused = 1
	}
	fused := 0
	if math.FMA(T, g1, float64(row[1])) > math.FMA(T, g0, float64(row[0])) {
		fused = 1
	}
	if unfused == fused {
		t.Fatalf("the case no longer tells the two roundings apart (noise %v, %v)", g0, g1)
	}
	if got := GumbelArgmaxRow(row, -1, key, T); got != unfused {
		t.Errorf("drew %d, want %d: the product rounded on its own (fused: %d)", got, unfused, fused)
	}
}

// The noise's ends, from keys whose column 0 draws the extreme top 53 bits
// (SplitMix64's output function inverted): all zeros give u = 2^−54, all
// ones u = 1 (the half rounds to even), noise +Inf, and that column wins
// its row whatever its logit. A device's noise is held to the same.
func TestGumbelNoiseEnds(t *testing.T) {
	const lowKey, highKey = 0x73432f078f456359, 0xe2b2decc73c4f72a
	if g, want := GumbelNoise(lowKey, 0), -math.Log(54*math.Ln2); math.Abs(g-want) > 1e-15*math.Abs(want) {
		t.Errorf("top bits 0: noise %v, want %v", g, want)
	}
	if g := GumbelNoise(highKey, 0); !math.IsInf(g, 1) {
		t.Errorf("top bits all ones: noise %v, want +Inf", g)
	}
	row := []float32{-30, 10, 20}
	if id, p := GumbelArgmaxProbRow(row, -1, highKey, 0.5); id != 0 || p != towardZero(math.Exp(-50)/(1+math.Exp(-10)+math.Exp(-50))) {
		t.Errorf("noise +Inf at column 0: drew %d (p %g), want 0", id, p)
	}
	if id, _ := GumbelArgmaxProbRow(row, 0, highKey, 0.5); id == 0 || id < 0 {
		t.Errorf("the excluded column drew (%d) for its noise +Inf", id)
	}
}

// GumbelArgmaxProbRow's edges: the excluded column alone gives −1 and 0;
// the best column excluded gives another with its own probability; one
// column and exclude outside the row is that column, probability 1.
func TestGumbelArgmaxProbRowEdges(t *testing.T) {
	if id, p := GumbelArgmaxProbRow([]float32{3}, 0, 9, 1); id != -1 || p != 0 {
		t.Errorf("only the excluded column: %d, %g", id, p)
	}
	if id, p := GumbelArgmaxProbRow([]float32{3}, 5, 9, 1); id != 0 || p != 1 {
		t.Errorf("one column: %d, %g", id, p)
	}
	row := []float32{0, 50, -1}
	for k := range uint64(100) {
		id, p := GumbelArgmaxProbRow(row, 1, k, 1)
		if id == 1 || id < 0 || p != towardZero(math.Exp(float64(row[id])-50)/(1+math.Exp(-50)+math.Exp(-51))) {
			t.Fatalf("key %d, column 1 excluded: drew %d (p %g)", k, id, p)
		}
	}
}
