package bench

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name string
		bert bool // quality.bertscore in the file
		o    Overrides
		want func(g *Grid) // changes from defaults() with bert; nil when Apply fails
		err  string
	}{
		// No flags: nothing changes.
		{"none", false, Overrides{}, func(g *Grid) {}, ""},
		// The scaffold's "--steps 64 --batch_size 4 --max_prompts 16
		// --compute_bertscore", by value (Set nil).
		{"scaffold flags", false, Overrides{Steps: []int{64}, BatchSizes: []int{4}, MaxPrompts: 16, BERTScore: true}, func(g *Grid) {
			g.Diffusion.Steps, g.BatchSizes, g.Prompts.MaxPrompts, g.Quality.BERTScore = []int{64}, []int{4}, 16, true
		}, ""},
		// --prompt_file switches the source to that file.
		{"prompt file", false, Overrides{PromptFile: "my.jsonl"}, func(g *Grid) {
			g.Prompts.Source, g.Prompts.Path = "file", "my.jsonl"
		}, ""},
		// With Set, a flag not named does not apply even when its field is set.
		{"set filters", false, Overrides{Steps: []int{8}, MaxPrompts: 4, Set: map[string]bool{"max_prompts": true, "output_dir": true}}, func(g *Grid) {
			g.Prompts.MaxPrompts = 4
		}, ""},
		// With Set, --compute_bertscore=false turns BERTScore off.
		{"bertscore off", true, Overrides{Set: map[string]bool{"compute_bertscore": true}}, func(g *Grid) {
			g.Quality.BERTScore = false
		}, ""},
		// With Set, zero values given on the command line are errors, each
		// naming its flag; the grid stays as it was.
		{"zeros given", false, Overrides{Set: map[string]bool{"steps": true, "batch_size": true, "max_prompts": true, "prompt_file": true}}, nil,
			"--steps: no values: give at least one\n--batch_size: no values: give at least one\n--max_prompts: 0 is out of range (want ≥ 1)\n--prompt_file: empty path"},
		// --delay replaces the grid's; --delay=0 given turns it off.
		{"delay", false, Overrides{Delay: 1.5}, func(g *Grid) { g.Delay = 1.5 }, ""},
		{"delay zero given", false, Overrides{Set: map[string]bool{"delay": true}}, func(g *Grid) {}, ""},
		{"bad delay", false, Overrides{Delay: -3}, nil, "--delay: -3 is out of range (want 0 to 86400 seconds)"},
		{"infinite delay", false, Overrides{Delay: math.Inf(1)}, nil, "--delay: want a finite number of seconds, have +Inf"},
		// Out-of-range and repeated values.
		{"bad values", false, Overrides{Steps: []int{16, 0, 16}, BatchSizes: []int{-1}, MaxPrompts: -2}, nil,
			"--steps: 0 is out of range (want ≥ 1)\n--steps: 16 is listed twice\n--batch_size: -1 is out of range (want ≥ 1)\n--max_prompts: -2 is out of range (want ≥ 1)"},
		// The other axes, for a run without a grid file of its own.
		{"axes", false, Overrides{Models: []string{"meta-llama/Meta-Llama-3-8B", " builtin:demo-llada"}, PromptLengths: []int{128, 512},
			GenLengths: []int{64}, BlockLengths: []int{16, 32}, Repetitions: 3}, func(g *Grid) {
			g.Models = []ModelSpec{{ID: "meta-llama/Meta-Llama-3-8B"}, {ID: "builtin:demo-llada"}}
			g.PromptLengths, g.GenLengths, g.Diffusion.BlockLength, g.Repetitions = []int{128, 512}, []int{64}, []int{16, 32}, 3
		}, ""},
		// --warmup 0 is a value: it applies only when given (Set).
		{"warmup zero given", false, Overrides{Set: map[string]bool{"warmup": true}}, func(g *Grid) { g.Warmup = 0 }, ""},
		{"warmup zero by value", false, Overrides{Warmup: 0}, func(g *Grid) {}, ""},
		{"bad axes", false, Overrides{Models: []string{"builtin:nope", "a/llama", "", "b/llama"}, PromptLengths: []int{0},
			GenLengths: []int{8, 8}, Repetitions: -1, Warmup: -2, Set: map[string]bool{"model": true, "prompt_length": true,
				"gen_length": true, "block_length": true, "repetitions": true, "warmup": true}}, nil,
			`--model: no built-in model "nope" (have demo-llama, demo-llada)` + "\n" +
				"--model: a model without an id (a Hugging Face id, a directory or builtin:demo-llama)\n" +
				`--model: a/llama and b/llama are both labelled "llama": name them in a grid file` + "\n" +
				"--prompt_length: 0 is out of range (want ≥ 1)\n--gen_length: 8 is listed twice\n--block_length: no values: give at least one\n" +
				"--repetitions: -1 is out of range (want ≥ 1)\n--warmup: -2 is out of range (want ≥ 0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := defaults()
			g.Quality.BERTScore = tc.bert
			err := g.Apply(tc.o)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Errorf("error %q, want %q", got, tc.err)
			}
			want := defaults()
			want.Quality.BERTScore = tc.bert
			if tc.want != nil {
				tc.want(want)
			}
			if d := cmp.Diff(want, g); d != "" {
				t.Errorf("grid (-want +got):\n%s", d)
			}
		})
	}
}

// TestApplyCopies checks that the grid does not share the caller's slices.
func TestApplyCopies(t *testing.T) {
	g, o := defaults(), Overrides{Steps: []int{8}, BatchSizes: []int{2}}
	if err := g.Apply(o); err != nil {
		t.Fatal(err)
	}
	o.Steps[0], o.BatchSizes[0] = 1, 1
	if g.Diffusion.Steps[0] != 8 || g.BatchSizes[0] != 2 {
		t.Errorf("the grid follows the caller's slices: steps %v, batch %v", g.Diffusion.Steps, g.BatchSizes)
	}
}
