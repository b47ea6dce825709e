package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"dllmbench/bench"
	"dllmbench/quality"
	"dllmbench/report"
)

// BERTScore asked for without its encoder is an error, as a missing judge
// is: one line, exit 1, and the earlier quality_metrics.json (with its
// BERTScore) left as it was. Before, quality logged a skip, advised
// fetching a path from the hub and rewrote the file without BERTScore.
func TestQualityBERTScoreWithoutEncoder(t *testing.T) {
	results := interruptible(t)
	metrics := filepath.Join(results, "raw_data", "quality_metrics.json")
	must(t, os.MkdirAll(filepath.Dir(metrics), 0o755))
	must(t, os.WriteFile(metrics, []byte("earlier metrics\n"), 0o644))
	missing := filepath.Join(t.TempDir(), "nonexistent")
	for _, tc := range []struct {
		name   string
		args   []string
		want   string
		advice bool // 'dllmbench fetch' advised
	}{
		{"a directory that is not there", []string{"--bertscore_model", missing, "--bertscore_layer", "3"}, missing + ": no such directory", false},
		// Not "bert_score has no default layer for it": the directory is not there.
		{"a directory that is not there, without a layer", []string{"--bertscore_model", missing}, missing + ": no such directory", false},
		{"the default encoder, not in the cache", []string{"--compute_bertscore"}, "in the Hugging Face cache", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary, append([]string{"quality", "--output_dir", results, "--judge", "none", "--backend", "cpu"}, tc.args...)...)
			cmd.Env = append(os.Environ(), "HF_HOME="+t.TempDir(), "HF_HUB_CACHE=", "HUGGINGFACE_HUB_CACHE=", "HF_HUB_OFFLINE=1")
			r := execute(t, cmd)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			if r.code != 1 || !strings.HasPrefix(last, "dllmbench quality: ") || !strings.Contains(last, tc.want) {
				t.Errorf("exit %d, want 1 and a last line saying %q:\n%s", r.code, tc.want, r.stderr)
			}
			if advice := strings.Contains(last, "dllmbench fetch"); advice != tc.advice {
				t.Errorf("fetch advised: %v, want %v: %s", advice, tc.advice, last)
			}
			if b, _ := os.ReadFile(metrics); string(b) != "earlier metrics\n" {
				t.Errorf("quality rewrote %s:\n%.200s", metrics, b)
			}
		})
	}
}

// A run whose grid asks for BERTScore, without its encoder here, skips it
// (quality.bertscore is optional in a run) but keeps the BERTScore that an
// earlier 'dllmbench quality --compute_bertscore' computed, in the cells
// whose generations are still those it scored, and says so once. A cell
// whose generations changed since loses its stale one. Before, the run's
// quality step rewrote quality_metrics.json without any BERTScore.
func TestRunKeepsEarlierBERTScore(t *testing.T) {
	dir := t.TempDir()
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
		"HF_HOME="+t.TempDir(), "HF_HUB_CACHE=", "HUGGINGFACE_HUB_CACHE=", "HF_HUB_OFFLINE=1")
	promptFile := filepath.Join(dir, "prompts.jsonl")
	must(t, os.WriteFile(promptFile, []byte(
		`{"prompt": "Once upon a time there was a little girl who lived in a house by the sea with her mother", "reference": "and her father, who was a fisherman."}`+"\n"+
			`{"prompt": "The cat sat on the mat and looked out of the window at the birds in the garden", "reference": "It wanted to catch one of them."}`+"\n"), 0o644))
	grid := `name: keep-bertscore
models:
  - id: builtin:demo-llama
backend: cpu
prompts:
  source: file
  path: ` + promptFile + `
batch_size: [1, 2]
prompt_length: [8]
gen_length: [4]
repetitions: 1
warmup: 0
`
	gridFile := filepath.Join(dir, "grid.yaml")
	must(t, os.WriteFile(gridFile, []byte(grid), 0o644))
	out := filepath.Join(dir, "results")
	run := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Env = env
		return execute(t, cmd)
	}
	if r := run("run", "--config", gridFile, "--output_dir", out, "--no-report", "--no-quality"); r.code != 0 {
		t.Fatalf("run: %s", r.stderr)
	}
	// A copy of the tests' encoder, to take away before the second run.
	src, err := filepath.Abs("../../testdata/golden/bertscore/model")
	must(t, err)
	encoder := filepath.Join(dir, "encoder")
	must(t, os.MkdirAll(encoder, 0o755))
	files, err := os.ReadDir(src)
	must(t, err)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(src, f.Name()))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(encoder, f.Name()), b, 0o644))
	}
	if r := run("quality", "--output_dir", out, "--judge", "none", "--backend", "cpu",
		"--bertscore_model", encoder, "--bertscore_layer", "2"); r.code != 0 {
		t.Fatalf("quality: %s", r.stderr)
	}
	type intervals = map[string]struct{ Value, Lo, Hi float64 }
	metricsFile := filepath.Join(out, "raw_data", "quality_metrics.json")
	read := func() map[int]intervals { // by batch size, the grid's one axis
		t.Helper()
		b, err := os.ReadFile(metricsFile)
		must(t, err)
		var m struct {
			Cells []struct {
				Cell struct {
					Batch int `json:"batch_size"`
				}
				Metrics intervals
			}
		}
		must(t, json.Unmarshal(b, &m))
		byBatch := map[int]intervals{}
		for _, c := range m.Cells {
			byBatch[c.Cell.Batch] = c.Metrics
		}
		return byBatch
	}
	earlier := read()
	for _, batch := range []int{1, 2} {
		if _, ok := earlier[batch]["bertscore_f1"]; !ok {
			t.Fatalf("batch %d: no BERTScore computed: %v", batch, earlier[batch])
		}
	}

	// The batch-2 cell's generations change, as when its record is
	// measured again: its earlier BERTScore no longer describes them.
	recFiles, err := filepath.Glob(filepath.Join(out, "records", "*.jsonl"))
	must(t, err)
	if len(recFiles) != 1 {
		t.Fatalf("record files %v, want one", recFiles)
	}
	b, err := os.ReadFile(recFiles[0])
	must(t, err)
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec map[string]any
		must(t, json.Unmarshal([]byte(line), &rec))
		if rec["cell"].(map[string]any)["batch_size"].(float64) == 2 {
			rec["texts"] = []string{"a different story", "another one"}
		}
		nb, err := json.Marshal(rec)
		must(t, err)
		lines = append(lines, string(nb))
	}
	must(t, os.WriteFile(recFiles[0], []byte(strings.Join(lines, "\n")+"\n"), 0o644))

	// The same encoder, no longer on the machine.
	must(t, os.Rename(encoder, filepath.Join(dir, "away")))
	must(t, os.WriteFile(gridFile, []byte(grid+`quality:
  judge: none
  bertscore: true
  bertscore_model: `+encoder+`
  bertscore_layer: 2
`), 0o644))
	r := run("run", "--config", gridFile, "--output_dir", out, "--no-report")
	if r.code != 0 {
		t.Fatalf("run with BERTScore unavailable: code %d\n%s", r.code, r.stderr)
	}
	now := read()
	for _, k := range []string{"bertscore_p", "bertscore_r", "bertscore_f1"} {
		if got, ok := now[1][k]; !ok || got != earlier[1][k] {
			t.Errorf("batch 1 %s: %+v (present %v), want the earlier %+v", k, got, ok, earlier[1][k])
		}
		if got, ok := now[2][k]; ok {
			t.Errorf("batch 2 %s: %+v kept, though its generations changed", k, got)
		}
	}
	if _, ok := now[2]["bleu"]; !ok {
		t.Errorf("batch 2: no BLEU: %v", now[2])
	}
	var notes []string
	// The temporary folders are named after the test, BERTScore included.
	for _, line := range strings.Split(strings.ReplaceAll(r.stderr, filepath.Dir(dir), "TMP"), "\n") {
		if strings.Contains(line, "BERTScore") {
			notes = append(notes, line)
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "skipped") || !strings.Contains(notes[0], "kept") {
		t.Errorf("BERTScore lines in the log, want one saying it was skipped and what was kept:\n%s", strings.Join(notes, "\n"))
	}
}

// The printed quality table names each cell's prompt and generation
// lengths: cells of one decoder at several lengths (the study grid's
// prompt_length and gen_length) are rows that read apart.
func TestPrintQualityNamesLengths(t *testing.T) {
	cell := func(p, g int, ppl float64) quality.CellMetrics {
		c := bench.Cell{Model: "llama", Family: "llama", Batch: 1, PromptLen: p, GenLen: g}
		return quality.CellMetrics{Cell: c, Cost: quality.Cost{TokensPerS: 100},
			Perplexity: &quality.Perplexity{PPL: quality.Interval{Value: ppl, Lo: ppl - 1, Hi: ppl + 1}}}
	}
	m := &quality.Metrics{Cells: []quality.CellMetrics{cell(128, 128, 10), cell(512, 128, 20), cell(128, 256, 30)}}
	var b strings.Builder
	printQuality(&b, m)
	lines := strings.Split(b.String(), "\n")
	head := strings.Fields(lines[0])
	pi, gi := slices.Index(head, "prompt"), slices.Index(head, "gen")
	if pi < 0 || gi < 0 {
		t.Fatalf("no prompt or gen column in the header %q", lines[0])
	}
	for i, want := range [][2]string{{"128", "128"}, {"512", "128"}, {"128", "256"}} {
		f := strings.Fields(lines[i+1])
		if len(f) <= max(pi, gi) || f[pi] != want[0] || f[gi] != want[1] {
			t.Errorf("row %d %q: want prompt %s and gen %s", i, lines[i+1], want[0], want[1])
		}
	}
}

// The printed quality table names each cell's decoder as the reports do
// (report.Decoder): a weight precision other than bf16 and the sampling
// settings too, so that runs of one grid at two precisions in one folder
// are rows that read apart.
func TestPrintQualityDecoders(t *testing.T) {
	cells := []bench.Cell{
		{Model: "llama", Family: "llama", Batch: 1, Precision: "bf16"},
		{Model: "llama", Family: "llama", Batch: 1, Precision: "fp32"},
		{Model: "llada", Family: "llada", Batch: 1, Steps: 16, BlockLen: 32, Cache: "dual", Remasking: "random", CFGScale: 1,
			Temperature: 0.5, Precision: "fp16"},
	}
	m := &quality.Metrics{}
	for _, c := range cells {
		m.Cells = append(m.Cells, quality.CellMetrics{Cell: c, Cost: quality.Cost{TokensPerS: 100}, TokenUnit: quality.TokenWords})
	}
	m.Cells[0].TokenUnit = quality.TokenIDs // a model without tokenizer.json
	var b strings.Builder
	printQuality(&b, m)
	lines := strings.Split(b.String(), "\n")
	for i, c := range cells {
		want := report.Decoder(c)
		if i+1 >= len(lines) || !strings.Contains(lines[i+1], "  "+want+"  ") {
			t.Errorf("row %d, want decoder %q:\n%s", i, want, b.String())
		}
	}
	// Under the table, what the entropy column counted.
	if want := "entropy: bits per word of the generations; per token id for 1 of the 3 cells (no decoded texts)\n"; !strings.HasSuffix(b.String(), want) {
		t.Errorf("table ends:\n%s\nwant %q", b.String(), want)
	}
}

// Under the table, each column's definition from the file: which variant
// of the reference tool's metric it is.
func TestPrintQualityDefinitions(t *testing.T) {
	c := quality.CellMetrics{Cell: bench.Cell{Model: "llama", Family: "llama", Batch: 1}, TokenUnit: quality.TokenWords,
		Metrics: map[string]quality.Interval{quality.MBLEU: {Value: 20}, quality.MROUGEL: {Value: 0.4}}}
	m := &quality.Metrics{Cells: []quality.CellMetrics{c},
		Definitions: map[string]string{quality.MBLEU: "sacreBLEU's", quality.MROUGEL: "rouge_score's"}}
	var b strings.Builder
	printQuality(&b, m)
	for _, want := range []string{"\nBLEU: sacreBLEU's\n", "\nROUGE-L: rouge_score's\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
