package model

import (
	"fmt"
	"math"
	"testing"

	"dllmbench/compute"
	"dllmbench/compute/computetest"
	"dllmbench/compute/cpu"
)

// On a backend without the Selector fusion the host picks tokens by the
// fusion's definition: the first largest logit other than the excluded
// one, and its probability over the whole row rounded toward zero, so
// that a threshold of 1 passes only a certain token there too.
func TestHostSelectorIsTheDefinition(t *testing.T) {
	b := cpu.New(1)
	t.Cleanup(b.Close)
	m := loadOn(t, deviceBackend{b}, 0) // hides the CPU backend's Selector
	if _, ok := m.Backend().(compute.Selector); ok {
		t.Fatal("the wrapped backend still selects")
	}
	V := m.Config.VocabSize
	s := mustState(t)(m.NewState(1, 1, 1, 3))
	defer s.Close()
	vals := make([]float32, 3*V)
	for i := range vals {
		vals[i] = -1000 // e^-1000 is 0 in double
	}
	// Row 0: p = 1/(1 + 7·e^-20) ≈ 1 − 1.44e-8, which rounds to 1 to nearest.
	for i := range 8 {
		vals[i] = -20
	}
	vals[3] = 0
	vals[V+5] = 0 // row 1: certain, p exactly 1
	// Row 2: the excluded column is the largest; two others tie after it.
	vals[2*V+1], vals[2*V+4], vals[2*V+9] = 3, 2, 2
	m.b.Write(s.logits, vals)
	ids, probs, err := m.SelectTokens(s, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id int32
		p  float32
	}{{3, math.Nextafter32(1, 0)}, {5, 1}, {4, float32(1 / (math.E + 2))}}
	for r, w := range want {
		exact := r < 2 // rows 0 and 1 test the rounding; row 2 the choice
		if ids[r] != w.id || exact && probs[r] != w.p || math.Abs(float64(probs[r]-w.p)) > 1e-7 {
			t.Errorf("row %d: id %d p %.9g, want id %d p %.9g", r, ids[r], probs[r], w.id, w.p)
		}
	}
}

// SampleTokens and SelectTokensGumbel on a backend that does neither draw
// on the host by compute.SampleRow and GumbelArgmaxProbRow, each row with
// its own bits, and write the draws to the backend as a device would.
func TestSampleTokensOnTheHost(t *testing.T) {
	b := cpu.New(1)
	t.Cleanup(b.Close)
	m := loadOn(t, deviceBackend{b}, 0) // hides the CPU backend's GumbelSelector
	if _, ok := m.Backend().(compute.GumbelSelector); ok {
		t.Fatal("the wrapped backend still draws")
	}
	V := m.Config.VocabSize
	s := mustState(t)(m.NewState(1, 1, 1, 3))
	defer s.Close()
	vals := make([]float32, 3*V)
	for i := range vals {
		vals[i] = float32(math.Sin(float64(i))) * 4
	}
	m.b.Write(s.logits, vals)
	p := compute.SampleParams{Temperature: 0.8, TopK: 40, TopP: 0.9}
	for _, bits := range [][]uint64{{1 << 62, 3 << 61, 1<<64 - 1}, {0, 12345 << 20, 1 << 63}} {
		ids, err := m.SampleTokens(s, 3, p, bits)
		if err != nil {
			t.Fatal(err)
		}
		var sc compute.SampleScratch
		for r := range 3 {
			if want := compute.SampleRow(vals[r*V:(r+1)*V], bits[r], p, &sc); int(ids[r]) != want {
				t.Errorf("bits %#x: row %d drew %d, want %d", bits[r], r, ids[r], want)
			}
		}
		// The draws reached the backend's tensor.
		got := make([]int32, 3)
		if err := m.b.Read(got, s.selIDt); err != nil || got[0] != ids[0] || got[2] != ids[2] {
			t.Errorf("the backend holds %v (%v), the call returned %v", got, err, ids)
		}
		gids, gprobs, err := m.SelectTokensGumbel(s, 3, 5, 0.7, bits)
		if err != nil {
			t.Fatal(err)
		}
		for r := range 3 {
			if id, p := compute.GumbelArgmaxProbRow(vals[r*V:(r+1)*V], 5, bits[r], 0.7); int(gids[r]) != id || gprobs[r] != p {
				t.Errorf("Gumbel-max, key %#x: row %d drew %d (p %g), want %d (p %g)", bits[r], r, gids[r], gprobs[r], id, p)
			}
		}
	}
	computetest.MustPanic(t, "temperature 0", "compute: SampleTokens: temperature 0", func() {
		m.SampleTokens(s, 1, compute.SampleParams{}, []uint64{0})
	})
	computetest.MustPanic(t, "more rows than the state's", "model: SampleTokens of 4 rows", func() {
		m.SampleTokens(s, 4, p, make([]uint64, 4))
	})
	// The host's fallback refuses what a device's GumbelSelector refuses,
	// rather than drawing the argmax or worse.
	for _, T := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		computetest.MustPanic(t, fmt.Sprintf("Gumbel-max at temperature %g", T), "model: SelectTokensGumbel: temperature", func() {
			m.SelectTokensGumbel(s, 1, 5, T, []uint64{0})
		})
	}
}
