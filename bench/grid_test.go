package bench

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A fixed schedule of more steps than generated tokens is skipped with its
// reason: a step commits at least one token, so the decoder would run
// gen_length steps under the label of more. Threshold cells take their
// steps from the data and stay.
func TestExpandSkipsMoreStepsThanTokens(t *testing.T) {
	g := &Grid{Models: []ModelSpec{{ID: "llada"}}, BatchSizes: []int{1}, PromptLengths: []int{4}, GenLengths: []int{8, 16},
		Diffusion: DiffusionAxes{Steps: []int{4, 8, 16}, BlockLength: []int{8}, Threshold: []float64{0.9}}}
	cells, skipped := Expand(g, []string{"llada"})
	type rule struct {
		Gen, Steps int
		Threshold  float64
	}
	var got []rule
	for _, c := range cells {
		got = append(got, rule{c.GenLen, c.Steps, c.Threshold})
	}
	want := []rule{{8, 4, 0}, {8, 8, 0}, {8, 0, 0.9}, {16, 4, 0}, {16, 8, 0}, {16, 16, 0}, {16, 0, 0.9}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("cells (-want +got):\n%s", d)
	}
	if len(skipped) != 1 || skipped[0].Cell.GenLen != 8 || skipped[0].Cell.Steps != 16 ||
		skipped[0].Reason != "steps 16 exceed gen_length 8: at most one step per generated token" {
		t.Errorf("skipped %+v, want gen_length 8 with 16 steps", skipped)
	}
}
