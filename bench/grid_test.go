package bench

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"dllmbench/model"
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

// A cell whose prompt and generation do not fit its model's context is
// skipped with its reason, per model: the decoders refuse prompt + gen
// beyond max_position_embeddings, but only once the model is loaded. A
// cell that just fits stays.
func TestExpandModelsSkipsBeyondContext(t *testing.T) {
	g := &Grid{Models: []ModelSpec{{ID: "short"}, {ID: "long"}}, BatchSizes: []int{1}, PromptLengths: []int{384, 512},
		GenLengths: []int{128}}
	cfgs := []*model.Config{{Family: model.Llama, MaxSeqLen: 512}, {Family: model.LLaDA, MaxSeqLen: 4096}}
	cells, skipped := ExpandModels(g, cfgs)
	type cell struct {
		Model     string
		PromptLen int
	}
	var got []cell
	for _, c := range cells {
		got = append(got, cell{c.Model, c.PromptLen})
	}
	want := []cell{{"short", 384}, {"long", 384}, {"long", 512}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("cells (-want +got):\n%s", d)
	}
	if len(skipped) != 1 || skipped[0].Cell.Model != "short" || skipped[0].Cell.PromptLen != 512 ||
		skipped[0].Reason != "prompt_length 512 + gen_length 128 exceed the model's context of 512 tokens" {
		t.Errorf("skipped %+v, want short's p512 g128", skipped)
	}
}
