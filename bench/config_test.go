package bench

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"dllmbench/config"
)

// defaults is the grid ParseGrid makes of "models: [a]".
func defaults() *Grid {
	return &Grid{
		Models:        []ModelSpec{{ID: "a"}},
		Precision:     "bf16",
		Backend:       "auto",
		Prompts:       PromptSpec{Source: "wikitext", MaxPrompts: 16},
		BatchSizes:    []int{1},
		PromptLengths: []int{128},
		GenLengths:    []int{128},
		Repetitions:   3,
		Warmup:        1,
	}
}

func TestParseGrid(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want func(g *Grid) // changes from defaults()
	}{
		// The smallest grid: every other key takes its default, and
		// diffusion.steps stays empty for Expand.
		{"minimal", "models: [a]\n", func(g *Grid) {}},
		// A model as a mapping, with name and revision.
		{"model mapping", "models:\n  - {id: a, name: A, revision: v1}\n", func(g *Grid) {
			g.Models = []ModelSpec{{ID: "a", Name: "A", Revision: "v1"}}
		}},
		// A bare id with a revision, as fetch and run --model take it.
		{"model at a revision", "models: [org/a@v1]\n", func(g *Grid) {
			g.Models = []ModelSpec{{ID: "org/a", Revision: "v1"}}
		}},
		// A single model mapping stands for a list of one.
		{"single model", "models: {id: a}\n", func(g *Grid) {}},
		// Scalars where lists go are one-element lists, as users write them.
		{"scalar lists", "models: a\nbatch_size: 4\ndiffusion: {steps: 8, cache: dual, threshold: 0.9}\n", func(g *Grid) {
			g.BatchSizes = []int{4}
			g.Diffusion.Steps, g.Diffusion.Cache, g.Diffusion.Threshold = []int{8}, []string{"dual"}, []float64{0.9}
		}},
		// Long precision names become the short ones cells carry.
		{"precision alias", "models: [a]\nprecision: float32\n", func(g *Grid) { g.Precision = "fp32" }},
		// warmup 0 is valid and not replaced by the default 1.
		{"warmup zero", "models: [a]\nwarmup: 0\nrepetitions: 1\n", func(g *Grid) { g.Warmup, g.Repetitions = 0, 1 }},
		// A delay in seconds, whole or not.
		{"delay", "models: [a]\ndelay: 2.5\n", func(g *Grid) { g.Delay = 2.5 }},
		{"delay whole", "models: [a]\ndelay: 30\n", func(g *Grid) { g.Delay = 30 }},
		// Few-shot prompts of a task file, their shots from another.
		{"task", "models: [a]\nprompts: {source: task, path: test.jsonl, shots: 5, shots_path: train.jsonl}\n", func(g *Grid) {
			g.Prompts = PromptSpec{Source: "task", Path: "test.jsonl", MaxPrompts: 16, Shots: 5, ShotsPath: "train.jsonl"}
		}},
		// Zero-shot, written out; the shots' file may then be named.
		{"task zero-shot", "models: [a]\nprompts: {source: task, path: test.jsonl, shots: 0, shots_path: train.jsonl}\n", func(g *Grid) {
			g.Prompts = PromptSpec{Source: "task", Path: "test.jsonl", MaxPrompts: 16, ShotsPath: "train.jsonl"}
		}},
		// Anchors and aliases resolve.
		{"aliases", "models: [a]\nbatch_size: &b [2, 4]\ndiffusion: {block_length: *b}\n", func(g *Grid) {
			g.BatchSizes, g.Diffusion.BlockLength = []int{2, 4}, []int{2, 4}
		}},
		// Every key of every section.
		{"every key", `name: full
models:
  - id: org/m
precision: fp16
backend: cpu
prompts: {source: file, path: p.txt, max_prompts: 2, seed: 7}
batch_size: [1, 2]
prompt_length: [16]
gen_length: [32]
diffusion:
  steps: [4]
  block_length: [8]
  remasking: [random]
  cache: [none, prefix]
  threshold: [1]
  factor: [0.5]
  temperature: 0.5
  cfg_scale: 1.5
autoregressive: {temperature: 0.7, top_k: 50, top_p: 0.95}
repetitions: 5
warmup: 2
seed: 18446744073709551615
hardware_notes: |
  H100
quality: {judge: j, bertscore: true, bertscore_model: roberta-large, bertscore_layer: 12, task: gsm8k.jsonl}
`, func(g *Grid) {
			*g = Grid{Name: "full", Models: []ModelSpec{{ID: "org/m"}}, Precision: "fp16", Backend: "cpu",
				Prompts:    PromptSpec{Source: "file", Path: "p.txt", MaxPrompts: 2, Seed: 7},
				BatchSizes: []int{1, 2}, PromptLengths: []int{16}, GenLengths: []int{32},
				Diffusion: DiffusionAxes{Steps: []int{4}, BlockLength: []int{8}, Remasking: []string{"random"},
					Cache: []string{"none", "prefix"}, Threshold: []float64{1}, Factor: []float64{0.5}, Temperature: 0.5, CFGScale: 1.5},
				Autoregressive: ARSettings{Temperature: 0.7, TopK: 50, TopP: 0.95},
				Repetitions:    5, Warmup: 2, Seed: 1<<64 - 1, HardwareNotes: "H100\n",
				Quality: QualitySpec{Judge: "j", BERTScore: true, Encoder: "roberta-large", Layer: 12, Task: "gsm8k.jsonl"}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseGrid([]byte(tc.yaml), "g.yaml")
			if err != nil {
				t.Fatal(err)
			}
			want := defaults()
			tc.want(want)
			if d := cmp.Diff(want, g, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("grid (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseGridErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []string // the error's lines, in order
	}{
		// Unknown keys at any level, with the closest known key.
		{"unknown keys", "models: [a]\nbatchsize: [1]\ndiffusion:\n  stepz: [4]\n", []string{
			"g.yaml:2: unknown key batchsize (did you mean batch_size?)",
			"g.yaml:4: unknown key diffusion.stepz (did you mean steps?)",
		}},
		// quality.shots built no prompts: refused, with where the shots go.
		{"shots", "models: [a]\nquality:\n  task: gsm8k.jsonl\n  shots: 5\n", []string{
			"g.yaml:4: quality.shots: the shots are the prompts': give prompts: {source: task, path: FILE, shots: N} (quality.task defaults to its file) and leave quality.shots out",
		}},
		// Shots are a task source's, a count ≥ 0; the shots' file is named
		// with a count, and not empty; a task source needs its file.
		{"shots of other sources", "models: [a]\nprompts:\n  source: file\n  path: p.jsonl\n  shots: 2\n  shots_path: t.jsonl\n", []string{
			"g.yaml:5: prompts.shots: only for source task (few-shot prompts of a task file), not file",
			"g.yaml:6: prompts.shots_path: only for source task (few-shot prompts of a task file), not file",
		}},
		{"shots of the default source", "models: [a]\nprompts: {shots: 5}\n", []string{
			"g.yaml:2: prompts.shots: only for source task (few-shot prompts of a task file), not wikitext",
		}},
		{"task shots", "models: [a]\nprompts:\n  source: task\n  path: t.jsonl\n  shots: -1\n", []string{
			"g.yaml:5: prompts.shots: -1 is out of range (want ≥ 0)",
		}},
		{"shots type", "models: [a]\nprompts: {source: task, path: t.jsonl, shots: five}\n", []string{
			`g.yaml:2: prompts.shots: want an integer, have the string "five"`,
		}},
		{"shots file without shots", "models: [a]\nprompts:\n  source: task\n  path: t.jsonl\n  shots_path: train.jsonl\n", []string{
			"g.yaml:5: prompts.shots_path: names the shots' file, but prompts.shots is not given: say how many (0 for zero-shot)",
		}},
		{"empty shots file", "models: [a]\nprompts:\n  source: task\n  path: t.jsonl\n  shots: 5\n  shots_path:\n", []string{
			"g.yaml:6: prompts.shots_path: empty: give the task file the shots are the first problems of, or leave the key out",
		}},
		{"task without path", "models: [a]\nprompts:\n  source: task\n  shots: 5\n", []string{
			"g.yaml:3: prompts.path: missing: source task needs the path of the task file (GSM8K's JSONL)",
		}},
		// A key far from every known one lists them.
		{"unknown key list", "models: [a]\nprompts: {colour: red}\n", []string{
			"g.yaml:2: unknown key prompts.colour (known keys: source, path, max_prompts, seed, shots, shots_path)",
		}},
		// Wrong types: a string in an int list, a mapping for a list, a
		// list for a scalar, a string for a boolean.
		{"types", "models: [a]\nprompt_length: [128, abc]\ngen_length: {a: 1}\nrepetitions: [3]\nquality: {bertscore: yes}\n", []string{
			`g.yaml:2: prompt_length: want an integer, have the string "abc"`,
			"g.yaml:3: gen_length: want a list of integers, have a mapping",
			"g.yaml:4: repetitions: want an integer, have a list",
			`g.yaml:5: quality.bertscore: want true or false, have the string "yes"`,
		}},
		// Empty lists, written out or as a key with no value.
		{"empty lists", "models: [a]\nbatch_size: []\ndiffusion:\n  steps:\n", []string{
			"g.yaml:2: batch_size: empty list: give at least one value or leave the key out",
			"g.yaml:4: diffusion.steps: empty list: give at least one value or leave the key out",
		}},
		// Sizes, counts and lengths out of range; a value listed twice.
		{"delay", "models: [a]\ndelay: -1\n", []string{"g.yaml:2: delay: -1 is out of range (want 0 to 86400 seconds)"}},
		{"delay too long", "models: [a]\ndelay: 1e12\n", []string{"g.yaml:2: delay: 1e+12 is out of range (want 0 to 86400 seconds)"}},
		{"delay type", "models: [a]\ndelay: 5s\n", []string{`g.yaml:2: delay: want a number, have the string "5s"`}},
		{"ranges", "models: [a]\nbatch_size: [0, 4, 4]\nprompt_length: -1\nrepetitions: 0\nwarmup: -1\nprompts: {max_prompts: 0}\nquality: {bertscore_layer: -2}\n", []string{
			"g.yaml:2: batch_size: 0 is out of range (want ≥ 1)",
			"g.yaml:2: batch_size: 4 is listed twice (first on line 2)",
			"g.yaml:3: prompt_length: -1 is out of range (want ≥ 1)",
			"g.yaml:4: repetitions: 0 is out of range (want ≥ 1)",
			"g.yaml:5: warmup: -1 is out of range (want ≥ 0)",
			"g.yaml:6: prompts.max_prompts: 0 is out of range (want ≥ 1)",
			"g.yaml:7: quality.bertscore_layer: -2 is out of range (want ≥ 0)",
		}},
		// The enumerated keys.
		{"enums", "models: [a]\nprecision: bf8\nbackend: rocm\nprompts: {source: web}\ndiffusion: {remasking: lowconf, cache: [none, full]}\n", []string{
			`g.yaml:2: precision: "bf8" is not one of bf16, fp16, fp32 (or bfloat16, float16, float32)`,
			`g.yaml:3: backend: "rocm" is not one of auto, cpu, cuda`,
			`g.yaml:4: prompts.source: "web" is not one of wikitext, file, builtin, task`,
			`g.yaml:5: diffusion.remasking: "lowconf" is not one of low_confidence, random`,
			`g.yaml:5: diffusion.cache: "full" is not one of none, prefix, dual`,
		}},
		// The decoder's numeric settings: threshold in (0, 1], factor > 0,
		// temperatures ≥ 0, top_p in (0, 1], no NaN.
		{"decoder numbers", `models: [a]
diffusion:
  threshold: [0, 1.5, .nan]
  factor: -1
  temperature: -0.5
  cfg_scale: -1
autoregressive: {temperature: -1, top_k: -1, top_p: 0}
`, []string{
			"g.yaml:3: diffusion.threshold: 0 is out of range (want 0 < x ≤ 1)",
			"g.yaml:3: diffusion.threshold: 1.5 is out of range (want 0 < x ≤ 1)",
			"g.yaml:3: diffusion.threshold: want a finite number, have .nan",
			"g.yaml:4: diffusion.factor: -1 is out of range (want > 0)",
			"g.yaml:5: diffusion.temperature: -0.5 is out of range (want ≥ 0)",
			"g.yaml:6: diffusion.cfg_scale: -1 is out of range (want ≥ 0)",
			"g.yaml:7: autoregressive.temperature: -1 is out of range (want ≥ 0)",
			"g.yaml:7: autoregressive.top_k: -1 is out of range (want ≥ 0)",
			"g.yaml:7: autoregressive.top_p: 0 is out of range (want 0 < x ≤ 1)",
		}},
		// Top-k and top-p restrict sampling; at temperature 0 (greedy) they
		// would be ignored, and the cells' top_k and top_p columns would
		// say they applied. Their no-op values stay allowed.
		{"sampling limits without sampling", "models: [a]\nautoregressive:\n  top_k: 50\n  top_p: 0.9\n", []string{
			"g.yaml:3: autoregressive.top_k: 50 restricts sampling: give autoregressive.temperature > 0 too (0 is greedy)",
			"g.yaml:4: autoregressive.top_p: 0.9 restricts sampling: give autoregressive.temperature > 0 too (0 is greedy)",
		}},
		// No models key at all.
		{"no models", "batch_size: 1\n", []string{
			"g.yaml:1: models: missing: a grid needs at least one model",
		}},
		// An empty model list.
		{"empty models", "models: []\n", []string{
			"g.yaml:1: models: empty list: give at least one value or leave the key out",
		}},
		// A model without an id, and two models with one label.
		{"model ids and labels", "models:\n  - name: x\n  - id: a/LLaDA\n  - id: b/LLaDA\n", []string{
			"g.yaml:2: models: a model without an id (a Hugging Face id, a directory or builtin:demo-llama)",
			`g.yaml:4: models: label "LLaDA" is taken by the model on line 3; give one a name`,
		}},
		// A built-in model that does not exist is the grid's mistake, named at its line.
		{"unknown built-in model", "models:\n  - id: builtin:demo-llama\n  - id: builtin:demo-gpt\n", []string{
			`g.yaml:3: models: no built-in model "demo-gpt" (have demo-llama, demo-llada)`,
		}},
		// A prompt file source needs its path.
		{"file without path", "models: [a]\nprompts:\n  source: file\n", []string{
			"g.yaml:3: prompts.path: missing: source file needs the path of the prompt file",
		}},
		// A key given twice, and a merge key.
		{"repeated and merge keys", "models: [a]\nwarmup: 1\nwarmup: 2\n<<: {seed: 1}\n", []string{
			"g.yaml:3: warmup: repeated key (first on line 2)",
			"g.yaml:4: top level: merge keys (<<) are not supported; write the keys out",
		}},
		// Integers too large, and negative seeds.
		{"big integers", "models: [a]\nseed: -1\nwarmup: 99999999999999999999\n", []string{
			"g.yaml:2: seed: -1 is not a non-negative 64-bit integer",
			"g.yaml:3: warmup: want an integer, have the number 99999999999999999999",
		}},
		// The top level must be a mapping.
		{"not a mapping", "- a\n", []string{
			"g.yaml:1: the top level: want a mapping of keys, have a list",
		}},
		// A section that is not a mapping.
		{"section type", "models: [a]\ndiffusion: 4\n", []string{
			"g.yaml:2: diffusion: want a mapping of keys, have the integer 4",
		}},
		// A file with no document.
		{"empty file", "# nothing\n", []string{
			"g.yaml:1: empty grid file: want a mapping with at least a models list",
		}},
		// Two documents.
		{"two documents", "models: [a]\n---\nmodels: [b]\n", []string{
			"g.yaml:2: a second YAML document: a grid file holds one",
		}},
		// A syntax error keeps the library's message and line (the line of
		// the construct it is in).
		{"syntax", "models: [a]\nx: 1\nbatch_size: a: 1\n", []string{
			"g.yaml:3: YAML syntax: mapping values are not allowed in this context",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseGrid([]byte(tc.yaml), "g.yaml")
			if err == nil {
				t.Fatalf("no error; grid %+v", g)
			}
			if g != nil {
				t.Errorf("a grid came back with the error")
			}
			if d := cmp.Diff(tc.want, strings.Split(err.Error(), "\n")); d != "" {
				t.Errorf("error lines (-want +got):\n%s", d)
			}
		})
	}
}

func TestLoadGrid(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "grid.yaml")
	if err := os.WriteFile(path, []byte("models: [a]\nwarmup: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		// Errors name the file as given.
		{"parse error", path, path + ":2: warmup: want an integer, have the string \"x\""},
		// A missing file is an I/O error with the path.
		{"missing", filepath.Join(dir, "none.yaml"), "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadGrid(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func FuzzParseGrid(f *testing.F) {
	for _, s := range []string{
		"models: [a]\n",
		"models:\n  - id: builtin:demo-llama\n  - id: builtin:demo-llada\nbatch_size: [1, 4]\ndiffusion: {steps: [4, 8], cache: [none, dual], threshold: 0.9}\n",
		"models: a\nprompts: {source: file, path: x}\nautoregressive: {top_p: 0.5}\n",
		"models: a\nprompts: {source: task, path: t.jsonl, shots: 2, shots_path: s.jsonl}\n",
		"models: [a]\nbatch_size: &b [1]\nprompt_length: *b\n",
		"models: &m [*m]\n",
		"<<: {}\n",
		"- 1\n",
		"models: [a]\n---\n",
		"models: [a]\nwarmup: 0x10\nseed: 0o17\n",
		"models: {id: [1]}\nquality: {bertscore: 1}\n",
		"!%0A", // a tag that decodes to a newline once split an error line
	} {
		f.Add([]byte(s))
	}
	for _, name := range config.Names() {
		data, _ := config.File(name)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseGrid(data, "f.yaml")
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f.yaml:") {
					t.Fatalf("error line without file:line: %q", line)
				}
			}
			return
		}
		// A grid that parses is complete and valid: Expand can run on it.
		switch {
		case len(g.Models) == 0, len(g.BatchSizes) == 0, len(g.PromptLengths) == 0, len(g.GenLengths) == 0:
			t.Fatalf("empty axis in %+v", g)
		case !slices.Contains([]string{"bf16", "fp16", "fp32"}, g.Precision), g.Repetitions < 1, g.Warmup < 0:
			t.Fatalf("bad settings in %+v", g)
		}
		families := make([]string, len(g.Models))
		for i := range families {
			families[i] = []string{"llama", "llada"}[i%2]
		}
		if len(g.BatchSizes)*len(g.PromptLengths)*len(g.GenLengths) < 1000 {
			Expand(g, families)
		}
	})
}
