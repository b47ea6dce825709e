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
		// --task gives few-shot prompts of a task file, --shots their shots.
		{"task", false, Overrides{Task: "t.jsonl"}, func(g *Grid) { g.Prompts.Source, g.Prompts.Path = "task", "t.jsonl" }, ""},
		{"task and shots", false, Overrides{Task: "t.jsonl", Shots: 5}, func(g *Grid) {
			g.Prompts.Source, g.Prompts.Path, g.Prompts.Shots = "task", "t.jsonl", 5
		}, ""},
		// --shots_path names the file of the shots.
		{"task, shots and their file", false, Overrides{Task: "t.jsonl", Shots: 5, ShotsPath: "train.jsonl"}, func(g *Grid) {
			g.Prompts.Source, g.Prompts.Path, g.Prompts.Shots, g.Prompts.ShotsPath = "task", "t.jsonl", 5, "train.jsonl"
		}, ""},
		{"shots file without shots", false, Overrides{Task: "t.jsonl", ShotsPath: "train.jsonl"}, nil,
			"--shots_path: no shots to take from it: give --shots N"},
		{"shots file without a task", false, Overrides{Shots: 2, ShotsPath: "train.jsonl"}, nil,
			"--shots: shots are asked before the questions of a task: give --task FILE (or a grid of prompts: {source: task})\n" +
				"--shots_path: shots are asked before the questions of a task: give --task FILE (or a grid of prompts: {source: task})"},
		{"empty shots file", false, Overrides{Task: "t.jsonl", Shots: 1, Set: map[string]bool{"task": true, "shots": true, "shots_path": true}}, nil,
			"--shots_path: empty path"},
		// Shots without a task are asked before no question.
		{"shots without a task", false, Overrides{Shots: 2}, nil,
			"--shots: shots are asked before the questions of a task: give --task FILE (or a grid of prompts: {source: task})"},
		{"shots of a prompt file", false, Overrides{PromptFile: "p.jsonl", Shots: 2}, nil,
			"--shots: shots are asked before the questions of a task: give --task FILE (or a grid of prompts: {source: task})"},
		{"task and prompt file", false, Overrides{PromptFile: "p.jsonl", Task: "t.jsonl"}, nil, "--task: and --prompt_file both give the prompts: give one"},
		{"bad task flags", false, Overrides{Shots: -1, Set: map[string]bool{"task": true, "shots": true}}, nil,
			"--task: empty path\n--shots: -1 is out of range (want ≥ 0)"},
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
		{"axes", false, Overrides{Models: []string{"meta-llama/Meta-Llama-3-8B", " builtin:demo-llada", "GSAI-ML/LLaDA-8B-Base@v2"}, PromptLengths: []int{128, 512},
			GenLengths: []int{64}, BlockLengths: []int{16, 32}, Repetitions: 3}, func(g *Grid) {
			g.Models = []ModelSpec{{ID: "meta-llama/Meta-Llama-3-8B"}, {ID: "builtin:demo-llada"}, {ID: "GSAI-ML/LLaDA-8B-Base", Revision: "v2"}}
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

// On a grid of task prompts, --shots (0 too) replaces its shots, --task its
// file and not its shots, --prompt_file the source and its shots; accuracy
// is scored against the prompts' task file unless quality.task names one.
func TestApplyTaskGrid(t *testing.T) {
	const grid = "models: [a]\nprompts: {source: task, path: test.jsonl, shots: 5, shots_path: train.jsonl}\n"
	for _, tc := range []struct {
		name    string
		quality string // the grid's quality section, if any
		o       Overrides
		want    PromptSpec
		task    string // QualityTask
	}{
		// The grid alone: quality.task defaults to the prompts' file.
		{"grid", "", Overrides{}, PromptSpec{Source: "task", Path: "test.jsonl", MaxPrompts: 16, Shots: 5, ShotsPath: "train.jsonl"}, "test.jsonl"},
		// --shots 0 is zero-shot, not the flag left out.
		{"zero shots", "", Overrides{Set: map[string]bool{"shots": true}},
			PromptSpec{Source: "task", Path: "test.jsonl", MaxPrompts: 16, ShotsPath: "train.jsonl"}, "test.jsonl"},
		// --task replaces the file, and quality.task follows it.
		{"task", "", Overrides{Task: "other.jsonl", Shots: 3},
			PromptSpec{Source: "task", Path: "other.jsonl", MaxPrompts: 16, Shots: 3, ShotsPath: "train.jsonl"}, "other.jsonl"},
		// unless the grid names its own.
		{"grid's quality task", "quality: {task: mine.jsonl}\n", Overrides{Task: "other.jsonl"},
			PromptSpec{Source: "task", Path: "other.jsonl", MaxPrompts: 16, Shots: 5, ShotsPath: "train.jsonl"}, "mine.jsonl"},
		// A prompt file has no shots, and no task to score.
		{"prompt file", "", Overrides{PromptFile: "p.jsonl"}, PromptSpec{Source: "file", Path: "p.jsonl", MaxPrompts: 16}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseGrid([]byte(grid+tc.quality), "g.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Apply(tc.o); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, g.Prompts); d != "" {
				t.Errorf("prompts (-want +got):\n%s", d)
			}
			if got := g.QualityTask(); got != tc.task {
				t.Errorf("quality task %q, want %q", got, tc.task)
			}
		})
	}
	// --task on a grid of other prompts makes them the task's and scores
	// them against it.
	g := defaults()
	if err := g.Apply(Overrides{Task: "t.jsonl", Shots: 2}); err != nil || g.QualityTask() != "t.jsonl" {
		t.Errorf("--task t.jsonl --shots 2: %v, quality task %q", err, g.QualityTask())
	}
}
