package model

import (
	"testing"

	"dllmbench/compute/computetest"
	"dllmbench/internal/testbackend"
)

// loadStories loads stories260K on the tests' backend, closed when t ends
// (testmodel.LoadDir's work: that package imports this one).
func loadStories(t *testing.T) *Model {
	t.Helper()
	m, err := Load("../testdata/stories260K", testbackend.Open(t), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// A call whose output rows come nOut/B from each batch row in order runs
// its last layer on those rows only past the attention (callShape.pruned);
// its logits are those of the same rows of a call that computes every row.
func TestPrunedLastLayer(t *testing.T) {
	m := loadStories(t)
	const B, n = 2, 7
	rows, V := B*n, m.Config.VocabSize
	s := mustState(t)(m.NewState(B, n, 16, rows))
	defer s.Close()
	for r := range B {
		for i := range n {
			k := r*n + i
			s.Tokens[k], s.Pos[k], s.Slots[k] = int32(1+(5*k)%300), int32(i), int32(i)
		}
		s.Span[2*r], s.Span[2*r+1] = 0, n
	}
	logits := func(out []int32) []float32 {
		copy(s.Out, out)
		if err := m.Forward(s, n, len(out)); err != nil {
			t.Fatal(err)
		}
		l, err := m.Logits(s, len(out))
		if err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), l...)
	}
	all := make([]int32, rows)
	for i := range all {
		all[i] = int32(i)
	}
	full := logits(all)
	for _, c := range []struct {
		name   string
		out    []int32
		pruned bool
	}{
		{"the last two rows of each batch row", []int32{5, 6, 12, 13}, true},
		{"one row of each batch row", []int32{0, 9}, true},
		{"all rows", all, false},
		{"rows out of batch order", []int32{12, 13, 5, 6}, false},
		{"three rows over two batch rows", []int32{1, 2, 8}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			copy(s.Out, c.out)
			if key := s.shape(n, len(c.out), len(m.Weights.Layers)); key.pruned != c.pruned {
				t.Fatalf("pruned = %v, want %v", key.pruned, c.pruned)
			}
			got := logits(c.out)
			for i, r := range c.out {
				want := make([]float64, V)
				for j := range want {
					want[j] = float64(full[int(r)*V+j])
				}
				if rel, _ := computetest.RelErr(got[i*V:(i+1)*V], want); rel > 1e-5 {
					t.Errorf("output %d (row %d): relative error %.2e against the call of every row", i, r, rel)
				}
			}
		})
	}
}
