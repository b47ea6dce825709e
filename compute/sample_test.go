package compute

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// sampleByDefinition is SampleRow written out from its definition with a
// full sort: the kept set, then the inverse transform over it in id order.
func sampleByDefinition(row []float32, bits uint64, p SampleParams) int {
	n := len(row)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case row[a] > row[b]:
			return -1
		case row[a] < row[b]:
			return 1
		}
		return 0
	})
	w := func(i int) float64 {
		return math.Exp(float64(row[i])/p.Temperature - float64(row[order[0]])/p.Temperature)
	}
	kept := order
	if p.TopK > 0 && p.TopK < n {
		kth := row[order[p.TopK-1]]
		kept = nil
		for _, i := range order {
			if row[i] >= kth {
				kept = append(kept, i)
			}
		}
	}
	if p.TopP > 0 && p.TopP < 1 {
		var total float64
		for _, i := range kept {
			total += w(i)
		}
		var acc float64
		for r, i := range kept {
			if acc += w(i); acc >= p.TopP*total {
				kept = kept[:r+1]
				break
			}
		}
	}
	ids := slices.Clone(kept)
	slices.Sort(ids)
	var sum float64
	for _, i := range ids {
		sum += w(i)
	}
	u := float64(bits&(1<<53-1)) / (1 << 53)
	var acc float64
	for _, i := range ids {
		if acc += w(i); acc > u*sum {
			return i
		}
	}
	return ids[len(ids)-1]
}

// SampleRow draws what its definition draws, for rows with many ties
// (values from a few levels, −0 beside 0) and every kind of truncation.
func TestSampleRowMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	levels := []float32{-2, -1, float32(math.Copysign(0, -1)), 0, 0.5, 1, 1, 3}
	var sc SampleScratch
	draws := 0
	for trial := range 400 {
		n := 1 + rng.IntN(300)
		row := make([]float32, n)
		for i := range row {
			if trial%2 == 0 {
				row[i] = levels[rng.IntN(len(levels))]
			} else {
				row[i] = float32(rng.NormFloat64() * 2)
			}
		}
		for _, p := range []SampleParams{
			{1, 0, 0}, {0.5, 1, 0}, {2, 3, 0}, {1, n - 1, 0}, {1, n, 0},
			{1, 0, 0.3}, {0.7, 0, 0.9}, {1, 5, 0.5}, {1.5, 2, 0.99}, {1, 0, 1},
		} {
			for _, bits := range []uint64{0, 1<<64 - 1, rng.Uint64(), rng.Uint64(), rng.Uint64()} {
				got, want := SampleRow(row, bits, p, &sc), sampleByDefinition(row, bits, p)
				if got != want {
					t.Fatalf("row %v, %+v, bits %#x: drew %d, the definition %d", row, p, bits, got, want)
				}
				draws++
			}
		}
	}
	t.Logf("%d draws agree", draws)
}

// The uniform's ends: bits 0 draw the first kept column, all ones the last.
func TestSampleRowEnds(t *testing.T) {
	row := []float32{0, 5, 1, 5, -3, 4}
	var sc SampleScratch
	for _, c := range []struct {
		p           SampleParams
		first, last int
	}{
		{SampleParams{1, 0, 0}, 0, 5},
		{SampleParams{1, 3, 0}, 1, 5}, // 5, 5, 4
		// The two 5s hold 2 of 2.39 (e^0 each), past 0.6 of it; one alone does not.
		{SampleParams{1, 0, 0.6}, 1, 3},
	} {
		if got := SampleRow(row, 0, c.p, &sc); got != c.first {
			t.Errorf("%+v, bits 0: drew %d, want %d", c.p, got, c.first)
		}
		if got := SampleRow(row, 1<<64-1, c.p, &sc); got != c.last {
			t.Errorf("%+v, bits all ones: drew %d, want %d", c.p, got, c.last)
		}
	}
}

func TestSampleParamsCheck(t *testing.T) {
	for _, p := range []SampleParams{{0, 0, 0}, {-1, 0, 0}, {math.NaN(), 0, 0}, {math.Inf(1), 0, 0}, {1, -1, 0}, {1, 0, 1.5}, {1, 0, math.NaN()}} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "compute: SampleRow: temperature") {
					t.Errorf("%+v: panic %v", p, r)
				}
			}()
			var sc SampleScratch
			SampleRow([]float32{1}, 0, p, &sc)
		}()
	}
}

// SampleRow's edges, each pinned by hand: what every device's draw must
// give too.
func TestSampleRowEdges(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	const ones uint64 = 1<<64 - 1
	var sc SampleScratch
	for _, c := range []struct {
		name        string
		row         []float32
		p           SampleParams
		first, last int // bits 0 and all ones
	}{
		{"one column", []float32{7}, SampleParams{1, 0, 0}, 0, 0},
		{"one column, top-k and top-p", []float32{7}, SampleParams{0.1, 5, 1e-9}, 0, 0},
		{"one column, top-k 1", []float32{7}, SampleParams{1, 1, 0.5}, 0, 0},
		// Equal weights: top-p 0.5 of 5 is reached at the third, by id.
		{"all equal, top-p", []float32{2, 2, 2, 2, 2}, SampleParams{1, 0, 0.5}, 0, 2},
		{"all equal, top-k keeps the ties", []float32{2, 2, 2, 2, 2}, SampleParams{1, 1, 0}, 0, 4},
		// The largest logit twice: top-p that small keeps its lower id.
		{"tiny top-p", []float32{0, 1, 2, 4, 3, 4}, SampleParams{1, 0, 1e-9}, 3, 3},
		{"top-k 1, ties at the top", []float32{0, 4, 4, 1}, SampleParams{1, 1, 0}, 1, 2},
		{"top-k 2, ties at the k-th", []float32{3, 1, 2, 2, 0}, SampleParams{1, 2, 0}, 0, 3},
		{"top-k V−1", []float32{3, 1, 2, 2, 0}, SampleParams{1, 4, 0}, 0, 3},
		{"top-k V", []float32{3, 1, 2, 2, 0}, SampleParams{1, 5, 0}, 0, 4},
		{"top-k above V", []float32{3, 1, 2, 2, 0}, SampleParams{1, 9, 0}, 0, 4},
		// −0 and 0 are one logit: ties for top-k, the lower id first for top-p.
		{"−0 and 0, top-k 1", []float32{negZero, 0, -1}, SampleParams{1, 1, 0}, 0, 1},
		{"−0 and 0, tiny top-p", []float32{negZero, 0, -1}, SampleParams{1, 0, 1e-9}, 0, 0},
		{"0 and −0, tiny top-p", []float32{0, negZero, -1}, SampleParams{1, 0, 1e-9}, 0, 0},
		// A weight of 0 (e^−1000) is never drawn, at either end.
		{"weights of 0 around", []float32{-1000, 0, -1000}, SampleParams{1, 0, 0}, 1, 1},
	} {
		if got := SampleRow(c.row, 0, c.p, &sc); got != c.first {
			t.Errorf("%s: %v %+v, bits 0: drew %d, want %d", c.name, c.row, c.p, got, c.first)
		}
		if got := SampleRow(c.row, ones, c.p, &sc); got != c.last {
			t.Errorf("%s: %v %+v, bits all ones: drew %d, want %d", c.name, c.row, c.p, got, c.last)
		}
		// Only the low 53 bits count: the top 11 alone are u = 0.
		if got := SampleRow(c.row, ones&^(1<<53-1), c.p, &sc); got != c.first {
			t.Errorf("%s: %v %+v, only the top 11 bits: drew %d, want %d", c.name, c.row, c.p, got, c.first)
		}
	}
}

// A temperature so small that logit/T overflows leaves weights NaN
// (∞ − ∞): the draw is then meaningless, but it must not crash. SampleRow
// falls back as a device does when no sum reaches its target: top-p keeps
// every column top-k keeps, and the draw is the last kept column.
func TestSampleRowOverflowingTemperature(t *testing.T) {
	var sc SampleScratch
	row := []float32{1, 2, -3}
	for _, p := range []SampleParams{{1e-310, 0, 0}, {1e-310, 0, 0.5}, {1e-310, 2, 0.5}, {1e-310, 2, 0}} {
		want := 2
		if p.TopK == 2 {
			want = 1
		}
		for _, bits := range []uint64{0, 1 << 63} {
			if got := SampleRow(row, bits, p, &sc); got != want {
				t.Errorf("%+v, bits %#x: drew %d, want %d", p, bits, got, want)
			}
		}
	}
}

// Word64 reads what PutWord64 stored: both halves, sign bits included.
func TestWord64(t *testing.T) {
	words := make([]int32, 4)
	for _, u := range []uint64{0, 1, 1<<32 - 1, 1 << 63, 0x8000000180000001, 1<<64 - 1} {
		PutWord64(words, 1, u)
		if got := Word64(words, 1); got != u || words[0] != 0 || words[1] != 0 {
			t.Errorf("%#x: read %#x, words %v", u, got, words)
		}
	}
}
