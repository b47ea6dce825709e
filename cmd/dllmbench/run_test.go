package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"dllmbench/bench"
	"dllmbench/prompts"
)

// killGrid is small enough to finish in seconds and big enough to be killed
// in the middle: 2 AR cells and 6 LLaDA cells on the demo pair.
const killGrid = `name: kill-test
models:
  - id: builtin:demo-llama
  - id: builtin:demo-llada
backend: cpu
prompts:
  source: builtin
  max_prompts: 2
batch_size: [1, 2]
prompt_length: [16]
gen_length: [8]
diffusion:
  steps: [2, 4, 8]
  block_length: [8]
repetitions: 1
warmup: 0
`

// A run killed with SIGKILL while it measures, started again on the same
// folder, measures only the missing cells and never records a cell twice.
func TestRunKilledAndResumed(t *testing.T) {
	dir := t.TempDir()
	grid := filepath.Join(dir, "grid.yaml")
	if err := os.WriteFile(grid, []byte(killGrid), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "results")
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))

	cmd := exec.Command(binary, "run", "--config", grid, "--output_dir", out, "--no-report")
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it as soon as it reports its third cell.
	sc := bufio.NewScanner(stderr)
	cells := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "[") {
			cells++
			if cells == 3 {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
	}
	cmd.Wait()
	before, err := bench.ReadRecords(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) < 3 || len(before) >= 8 {
		t.Fatalf("%d records after the kill, want 3 to 7", len(before))
	}

	again := exec.Command(binary, "run", "--config", grid, "--output_dir", out, "--no-report")
	again.Env = env
	var errb bytes.Buffer
	again.Stderr = &errb
	if err := again.Run(); err != nil {
		t.Fatalf("rerun: %v\n%s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "recorded before") {
		t.Errorf("the rerun reused no cell:\n%s", errb.String())
	}
	all, err := bench.ReadRecords(out)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range all {
		seen[r.Key]++
		if r.Status != "ok" {
			t.Errorf("%s: %s", r.Cell.Name(), r.Error)
		}
	}
	if len(seen) != 8 {
		t.Errorf("%d distinct cells recorded, want 8", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("cell %s recorded %d times", k, n)
		}
	}
}

// onlyRefusal fails unless the refusal is all that a run printed: it
// takes the lock before it loads or logs anything. Before, a refused run
// logged "prompts: …" first.
func onlyRefusal(t *testing.T, r result) {
	t.Helper()
	if r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "dllmbench run: ") {
		t.Errorf("the refused run printed more than its refusal:\n%s%s", r.stdout, r.stderr)
	}
}

// delayedRuns writes killGrid to a temporary folder and returns its
// results folder and a maker of runs of it there, with extra arguments,
// that pause half a second before each cell after the first: a run stays
// busy for seconds after its first cell (the delay is part of a cell's
// key: every run of the maker has it).
func delayedRuns(t *testing.T) (out string, run func(extra ...string) *exec.Cmd) {
	t.Helper()
	dir := t.TempDir()
	grid := filepath.Join(dir, "grid.yaml")
	must(t, os.WriteFile(grid, []byte(killGrid), 0o644))
	out = filepath.Join(dir, "results")
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	return out, func(extra ...string) *exec.Cmd {
		c := exec.Command(binary, append([]string{"run", "--config", grid, "--output_dir", out, "--no-report",
			"--no-quality", "--delay", "0.5"}, extra...)...)
		c.Env = env
		return c
	}
}

// startFirstCell starts run and returns the scanner of its standard error
// once it has printed its first cell's progress line ("[1/…"): from then
// on the run holds its folder.
func startFirstCell(t *testing.T, run *exec.Cmd) *bufio.Scanner {
	t.Helper()
	stderr, err := run.StderrPipe()
	must(t, err)
	must(t, run.Start())
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "[") {
	}
	return sc
}

// A second run started on a folder that a run is measuring is refused with
// one line and exit 1, writing no records; the first run records every cell
// once. Before, both ran to the end, measured every cell on the same cores
// and the folder held two records of each.
func TestRunRefusesBusyFolder(t *testing.T) {
	out, runs := delayedRuns(t)
	run := func(name string) *exec.Cmd { return runs("--records-name", name) }
	first := run("first")
	sc := startFirstCell(t, first)
	r := execute(t, run("second"))
	// A parent of workers (--devices) reserves the folder as a run does.
	c := run("parent")
	c.Args = append(c.Args, "--devices", "0,1", "--threads", "1")
	parent := execute(t, c)
	for sc.Scan() {
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	for _, r := range []result{r, parent} {
		if r.code != 1 || !strings.Contains(r.stderr, "in use by another run") {
			t.Errorf("second run: exit %d, want 1 and a line saying the folder is in use:\n%s", r.code, r.stderr)
		}
		onlyRefusal(t, r)
	}
	if _, err := os.Stat(filepath.Join(out, "records", "second.jsonl")); err == nil {
		t.Errorf("the refused run wrote a records file")
	}
	// The folder is free once the first run has ended, and holds every
	// cell once.
	if r := execute(t, run("third")); r.code != 0 || !strings.Contains(r.stderr, "measured=0 recorded_before=8") {
		t.Errorf("a run after the first: exit %d, want 0 and every cell recorded before:\n%s", r.code, r.stderr)
	}
	recs, err := bench.ReadRecords(out)
	must(t, err)
	seen := map[string]int{}
	for _, rec := range recs {
		seen[rec.Key]++
	}
	if len(seen) != 8 || len(recs) != 8 {
		t.Errorf("%d records of %d cells, want 8 records of 8 cells", len(recs), len(seen))
	}
}

// A --shard run started on a folder that an array of another shard count
// is measuring is refused with one line naming that count, and exit 1;
// another task of the running array shares the folder. Before, both
// arrays ran: cell 1 is in shard 1 of 2 and in shard 1 of 4, and was
// measured twice under contention.
func TestRunRefusesOtherShardCount(t *testing.T) {
	_, runs := delayedRuns(t)
	run := func(shard string) *exec.Cmd { return runs("--shard", shard) }
	first := run("0/2")
	sc := startFirstCell(t, first)
	r := execute(t, run("1/4"))
	if r.code != 1 || !strings.Contains(r.stderr, "in use by another run, shard 0 of 2") {
		t.Errorf("--shard 1/4 beside --shard 0/2: exit %d, want 1 and a line naming shard 0 of 2:\n%s", r.code, r.stderr)
	}
	onlyRefusal(t, r)
	if r := execute(t, run("1/2")); r.code != 0 {
		t.Errorf("--shard 1/2 beside --shard 0/2: exit %d, want 0:\n%s", r.code, r.stderr)
	}
	for sc.Scan() {
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("--shard 0/2: %v", err)
	}
	// Once the array of 2 has ended, one of 4 runs and finds its cells
	// recorded.
	if r := execute(t, run("1/4")); r.code != 0 || !strings.Contains(r.stderr, "measured=0 recorded_before=2") {
		t.Errorf("--shard 1/4 after the array of 2: exit %d, want 0 and its 2 cells recorded before:\n%s", r.code, r.stderr)
	}
}

// --dry-run lists the cells with estimates and measures nothing; a bad grid
// is one error naming the file and line.
func TestRunDryRunAndGridErrors(t *testing.T) {
	dir := t.TempDir()
	grid := filepath.Join(dir, "grid.yaml")
	os.WriteFile(grid, []byte(killGrid), 0o644)
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	cmd := exec.Command(binary, "run", "--config", grid, "--output_dir", filepath.Join(dir, "out"), "--dry-run")
	cmd.Env = env
	outb, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, outb)
	}
	if !strings.Contains(string(outb), "8 cells") || !strings.Contains(string(outb), "demo-llada b2 p16 g8 s8") {
		t.Errorf("dry run output:\n%s", outb)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "records")); err == nil {
		t.Error("a dry run wrote records")
	}

	// A prompt and generation beyond the demo models' context of 512 is an
	// invalid combination, listed with its reason.
	os.WriteFile(grid, []byte(strings.Replace(killGrid, "prompt_length: [16]", "prompt_length: [16, 600]", 1)), 0o644)
	cmd = exec.Command(binary, "run", "--config", grid, "--dry-run")
	cmd.Env = env
	outb, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(outb), "invalid: demo-llama b1 p600 g8: prompt_length 600 + gen_length 8 exceed the model's context of 512 tokens") ||
		!strings.Contains(string(outb), "8 cells, 8 invalid combinations") {
		t.Errorf("dry run beyond the context: %v\n%s", err, outb)
	}

	bad := strings.Replace(killGrid, "  steps: [2, 4, 8]", "  stepz: [2, 4, 8]", 1)
	os.WriteFile(grid, []byte(bad), 0o644)
	r := dllmbench(t, "", "run", "--config", grid, "--output_dir", filepath.Join(dir, "out"))
	if r.code == 0 || !strings.Contains(r.stderr, "grid.yaml:13") || !strings.Contains(r.stderr, "stepz") {
		t.Errorf("unknown key: code %d, %q", r.code, r.stderr)
	}
	os.WriteFile(grid, []byte(killGrid), 0o644)
	r = dllmbench(t, "", "run", "--config", grid, "--batch_size", "0")
	if r.code != 2 || !strings.Contains(r.stderr, "--batch_size") {
		t.Errorf("bad override: code %d, %q", r.code, r.stderr)
	}
	r = dllmbench(t, "", "run", "--config", grid, "--delay", "-1")
	if r.code != 2 || !strings.Contains(r.stderr, "--delay: -1 is out of range") {
		t.Errorf("negative delay: code %d, %q", r.code, r.stderr)
	}
	// --delay 10 adds the 7 pauses between the 8 cells to the estimate.
	estimate := func(args ...string) float64 {
		cmd := exec.Command(binary, append([]string{"run", "--config", grid, "--dry-run"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("dry run %v: %v\n%s", args, err, out)
		}
		m := regexp.MustCompile(`estimated (\d+) s in all`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no estimate in:\n%s", out)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v
	}
	if d := estimate("--delay", "10") - estimate(); d < 69 || d > 71 {
		t.Errorf("--delay 10 adds %g s to the estimate of 8 cells, want 70", d)
	}
	// A cell cannot take more prompts than the source's 21 documents: a
	// million asked for are estimated as 21 (before: as a million).
	if many, all := estimate("--max_prompts", "1000000", "--delay", "0"), estimate("--max_prompts", "21", "--delay", "0"); many != all || all <= estimate("--delay", "0") {
		t.Errorf("estimates: %g s for a million prompts, %g for the 21 there are, want equal and more than for 2", many, all)
	}
}

// A dry run counts the prompts each prompt length gets as a run cuts them:
// where documents are too short for the long prompt_length, its cells are
// estimated for the prompts there are, with the run's notice. Before, every
// cell was estimated for min(max_prompts, documents). Without the first
// model's tokenizer, the cells keep that count, and the dry run says so.
func TestRunDryRunCountsPrompts(t *testing.T) {
	dir := t.TempDir()
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	// Three documents of some 25 tokens under the demo tokenizer and one of
	// some 100: two prompts of 16+8 tokens, one of 64+8.
	med := "a medium document of some thirty tokens or so, said twice here: a medium document of some thirty tokens."
	file := filepath.Join(dir, "prompts.txt")
	must(t, os.WriteFile(file, []byte(med+"\n"+med+" two\n"+med+" three\n"+strings.Repeat("a longer document, ", 20)+"\n"), 0o644))
	grid := filepath.Join(dir, "grid.yaml")
	writeGrid := func(first string) {
		g := strings.NewReplacer("builtin:demo-llama", first, "prompt_length: [16]", "prompt_length: [16, 64]",
			"batch_size: [1, 2]", "batch_size: [1]", "steps: [2, 4, 8]", "steps: [8]",
			"source: builtin", "source: file\n  path: "+file).Replace(killGrid)
		must(t, os.WriteFile(grid, []byte(g), 0o644))
	}
	writeGrid("builtin:demo-llama")
	run := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(binary, append([]string{"run", "--config", grid, "--output_dir", filepath.Join(dir, "out"), "--no-report", "--no-quality"}, args...)...)
		cmd.Env = env
		r := execute(t, cmd)
		if r.code != 0 {
			t.Fatalf("run %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		return r
	}
	row := func(out, cell string) string {
		t.Helper()
		for l := range strings.Lines(out) {
			if strings.HasPrefix(strings.TrimSpace(l), cell+" ") {
				return strings.TrimSpace(l)
			}
		}
		t.Fatalf("no row of %s in:\n%s", cell, out)
		return ""
	}
	const (
		llada16 = "demo-llada b1 p16 g8 s8 blk8 none"
		llada64 = "demo-llada b1 p64 g8 s8 blk8 none"
		notice  = "prompt_length 64 (gen_length 8): 1 prompt, not the 2 of max_prompts: 3 documents of the source are shorter than 63+8 tokens (or blank) and left out"
	)
	two, one := run("--dry-run").stdout, run("--dry-run", "--max_prompts", "1").stdout
	if strings.Count(two, notice) != 1 || strings.Contains(two, "prompt_length 16") {
		t.Errorf("dry run: want the notice of prompt_length 64 once and none of 16:\n%s", two)
	}
	// p64 gets one prompt of the two asked for: estimated as one; p16 two.
	if a, b := row(two, llada64), row(one, llada64); a != b {
		t.Errorf("p64 with max_prompts 2 is estimated as\n%s\nwant as with 1, for its 1 prompt:\n%s", a, b)
	}
	if a, b := row(two, llada16), row(one, llada16); a == b {
		t.Errorf("p16 is estimated the same for 2 prompts as for 1:\n%s", a)
	}
	// The run says the same.
	if r := run(); !strings.Contains(r.stderr, notice) {
		t.Errorf("run: no notice %q:\n%s", notice, r.stderr)
	}

	// A first model without tokenizer.json (its config only): the cells are
	// estimated for min(max_prompts, documents), and the dry run says why.
	llama, _ := filepath.Glob(filepath.Join(dir, "cache", "dllmbench", "demo-llama-*", "config.json"))
	if len(llama) != 1 {
		t.Fatalf("demo-llama's config: %q", llama)
	}
	bare := filepath.Join(dir, "bare")
	must(t, os.Mkdir(bare, 0o755))
	must(t, os.WriteFile(filepath.Join(bare, "config.json"), []byte(mustRead(t, llama[0])), 0o644))
	writeGrid(bare)
	out := run("--dry-run").stdout
	if strings.Count(out, "every cell is estimated for min(max_prompts, documents) = 2 prompts") != 1 || strings.Contains(out, notice) {
		t.Errorf("dry run without a tokenizer: want one line on the prompts' count and no notice:\n%s", out)
	}
	if a, b := row(out, llada64), row(two, llada64); a == b {
		t.Errorf("without a tokenizer, p64 is estimated for its 1 prompt, want 2:\n%s", a)
	}
}

// A dry run of backend auto (the demo grid's) estimates for the backend the
// run would take: on a machine without a usable GPU, the CPU, said in its
// first line, with the estimates of backend cpu and the cells whose state
// exceeds the machine's memory named. Before, it priced every cell at an
// H100's rates (0 s in all) and named no cell too large.
func TestRunDryRunResolvesAuto(t *testing.T) {
	dir := t.TempDir()
	// No GPU on any machine: CUDA shows no device when
	// CUDA_VISIBLE_DEVICES is empty, and nothing allocates one.
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "CUDA_VISIBLE_DEVICES=",
		"SLURM_STEP_GPUS=", "SLURM_JOB_GPUS=", "GPU_DEVICE_ORDINAL=")
	dry := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, append([]string{"run", "--dry-run"}, args...)...)
		cmd.Env = env
		r := execute(t, cmd)
		if r.code != 0 {
			t.Fatalf("dry run %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	total := func(out string) string {
		m := regexp.MustCompile(`estimated (\d+) s in all \(rough: model shapes and nominal rates of the (\w+) backend\)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no estimate in:\n%s", out)
		}
		return m[1] + " s on " + m[2]
	}
	auto, cpu := dry(), dry("--backend", "cpu")
	if first, _, _ := strings.Cut(auto, "\n"); !strings.HasPrefix(first, "estimates for the CPU (backend auto, no usable GPU: ") {
		t.Errorf("first line %q, want it to name the CPU and why", first)
	}
	if a, c := total(auto), total(cpu); a != c || strings.HasPrefix(a, "0 s") {
		t.Errorf("backend auto estimated %s, backend cpu %s: want the same, not 0", a, c)
	}
	// 40 million rows of the demo LLaDA's state are some 44 TB: too large
	// for any machine, which holds the whole state on the CPU (a GPU run
	// holds only the logits there).
	tooLarge := func(out string) []string { return regexp.MustCompile(`(?m)^too large: .*$`).FindAllString(out, -1) }
	a, c := tooLarge(dry("--batch_size", "40000000")), tooLarge(dry("--batch_size", "40000000", "--backend", "cpu"))
	if len(a) == 0 || !slices.Equal(a, c) {
		t.Errorf("cells too large for the machine, backend auto:\n%s\nbackend cpu:\n%s", strings.Join(a, "\n"), strings.Join(c, "\n"))
	}
}

// 'dllmbench quality' computes BERTScore from stored generations: with a
// local encoder (the tiny RoBERTa of the BERTScore goldens) and its layer
// named, the table gains a BERTScore F1 column and the metrics file its
// intervals; a local encoder without a layer, or a negative layer, is a
// one-line error.
func TestQualityBERTScore(t *testing.T) {
	dir := t.TempDir()
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	promptFile := filepath.Join(dir, "prompts.jsonl")
	os.WriteFile(promptFile, []byte(
		`{"prompt": "Once upon a time there was a little girl who lived in a house by the sea with her mother", "reference": "and her father, who was a fisherman."}`+"\n"+
			`{"prompt": "The cat sat on the mat and looked out of the window at the birds in the garden", "reference": "It wanted to catch one of them."}`+"\n"), 0o644)
	grid := filepath.Join(dir, "grid.yaml")
	os.WriteFile(grid, []byte(`name: bertscore-test
models:
  - id: builtin:demo-llama
backend: cpu
prompts:
  source: file
  path: `+promptFile+`
batch_size: [1]
prompt_length: [8]
gen_length: [4]
repetitions: 1
warmup: 0
`), 0o644)
	out := filepath.Join(dir, "results")
	cmd := exec.Command(binary, "run", "--config", grid, "--output_dir", out, "--no-report", "--no-quality")
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run: %v\n%s", err, b)
	}
	encoder, err := filepath.Abs("../../testdata/golden/bertscore/model")
	if err != nil {
		t.Fatal(err)
	}
	r := dllmbench(t, "", "quality", "--output_dir", out, "--judge", "none", "--backend", "cpu",
		"--bertscore_model", encoder, "--bertscore_layer", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "BERTScore F1") {
		t.Fatalf("quality: code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "raw_data", "quality_metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Cells []struct {
			Metrics map[string]struct{ Value, Lo, Hi float64 } `json:"metrics"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Cells) != 1 {
		t.Fatalf("%d cells in quality_metrics.json", len(m.Cells))
	}
	for _, k := range []string{"bertscore_p", "bertscore_r", "bertscore_f1"} {
		v, ok := m.Cells[0].Metrics[k]
		if !ok || !(v.Value > 0 && v.Value <= 1 && v.Lo <= v.Value && v.Value <= v.Hi) {
			t.Errorf("%s: %+v (present %v)", k, v, ok)
		}
	}

	r = dllmbench(t, "", "quality", "--output_dir", out, "--judge", "none", "--backend", "cpu", "--bertscore_model", encoder)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if last := lines[len(lines)-1]; r.code == 0 || !strings.Contains(last, "no default layer") || !strings.Contains(last, "bertscore_layer") {
		t.Errorf("local encoder without a layer: code %d, %q", r.code, r.stderr)
	}
	r = dllmbench(t, "", "quality", "--output_dir", out, "--bertscore_layer", "-1")
	if r.code != 2 || !strings.Contains(r.stderr, "--bertscore_layer") {
		t.Errorf("negative layer: code %d, %q", r.code, r.stderr)
	}
}

// Mistakes in run's command line are usage errors, found before anything
// is loaded or written: one line, exit 2, no records.
func TestRunUsageErrors(t *testing.T) {
	dir := t.TempDir()
	grid := filepath.Join(dir, "grid.yaml")
	must(t, os.WriteFile(grid, []byte(killGrid), 0o644))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown backend, dry run", []string{"--backend", "bogus", "--dry-run"}, `--backend "bogus": want auto, cpu or cuda`},
		{"unknown backend", []string{"--backend", "bogus"}, `--backend "bogus": want auto, cpu or cuda`},
		{"empty backend", []string{"--backend", ""}, `--backend "": want auto, cpu or cuda`},
		{"records name out of the folder", []string{"--records-name", "../../escape"}, `--records-name "../../escape": want a file name`},
		{"records name in a subfolder", []string{"--records-name", "a/b"}, `--records-name "a/b": want a file name`},
		{"records name with a backslash", []string{"--records-name", `a\b`}, `--records-name "a\\b": want a file name`},
		// --no-measure only ends a run: the flags that pick what to measure are mistakes
		{"no-measure with a shard", []string{"--no-measure", "--shard", "0/2"}, "--no-measure measures nothing: --shard does not apply"},
		{"no-measure dry run", []string{"--no-measure", "--dry-run"}, "--no-measure measures nothing: --dry-run does not apply"},
		{"no-measure retrying", []string{"--no-measure", "--retry-failed"}, "--no-measure measures nothing: --retry-failed does not apply"},
		// Shots are asked before a task's questions: the grid's prompts are not a task's.
		{"shots without a task", []string{"--shots", "2"}, "--shots: shots are asked before the questions of a task: give --task FILE"},
		{"task and prompt file", []string{"--task", "t.jsonl", "--prompt-file", "p.jsonl"}, "--task: and --prompt_file both give the prompts: give one"},
		{"negative shots", []string{"--task", "t.jsonl", "--shots", "-1"}, "--shots: -1 is out of range (want ≥ 0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			cmd := exec.Command(binary, append([]string{"run", "--config", grid, "--output_dir", out, "--no-quality"}, tc.args...)...)
			cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
			r := execute(t, cmd)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("code %d, %q; want code 2 and one line with %q", r.code, r.stderr, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("it wrote %s", out)
			}
		})
	}
}

// A grid whose every cell is invalid fails at once, measured or dry, and
// so does its SLURM submission, with the first reason, and writes nothing.
func TestRunNoValidCell(t *testing.T) {
	dir := t.TempDir()
	grid := filepath.Join(dir, "grid.yaml")
	// LLaDA only: 3 steps cannot be spread over 2 blocks of 16.
	must(t, os.WriteFile(grid, []byte(`name: allbad
models:
  - id: builtin:demo-llada
backend: cpu
prompts:
  source: builtin
  max_prompts: 2
batch_size: [1]
prompt_length: [16]
gen_length: [32]
diffusion:
  steps: [3]
  block_length: [16]
repetitions: 1
warmup: 0
`), 0o644))
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	const want = "grid allbad has no valid cell: demo-llada b1 p16 g32 s3 blk16 none: steps 3 is not a positive multiple of the 2 blocks"
	for _, extra := range [][]string{{"run", "--no-quality", "--dry-run"}, {"run", "--no-quality"}, {"slurm", "submit", "--dry-run"}} {
		out := filepath.Join(t.TempDir(), "out")
		cmd := exec.Command(binary, append(extra, "--config", grid, "--output_dir", out)...)
		cmd.Env = env
		r := execute(t, cmd)
		if r.code != 1 || !strings.Contains(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: code %d, %q; want code 1 and one line with %q", extra, r.code, r.stderr, want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: it wrote %s", extra, out)
		}
	}
}

// Mistakes that a run would find only late fail a dry run, and a run
// before it measures, with one line naming them: a missing prompt file,
// and a quality section whose judge or task file does not exist (quality
// runs after every measurement). --no-quality leaves the quality section
// unchecked.
func TestRunChecksInputs(t *testing.T) {
	dir := t.TempDir()
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	task, err := filepath.Abs("../../testdata/tasks/gsm8k-mini.jsonl")
	must(t, err)
	for _, tc := range []struct {
		name, from, to string // killGrid with from replaced by to
		want           string
	}{
		{"missing prompt file", "  source: builtin\n", "  source: file\n  path: missing.txt\n",
			"prompts: open missing.txt: no such file or directory"},
		{"misspelt built-in judge", "warmup: 0\n", "warmup: 0\nquality:\n  judge: builtin:demo-llamma\n",
			`quality: judge builtin:demo-llamma: demo: no built-in model "demo-llamma"`},
		{"missing task file", "warmup: 0\n", "warmup: 0\nquality:\n  task: gsm8k_tset.jsonl\n",
			"quality: task: open gsm8k_tset.jsonl: no such file or directory"},
		// More shots than a task file of 50 problems gives each question.
		{"too many shots", "  source: builtin\n", "  source: task\n  path: " + task + "\n  shots: 50\n",
			"prompts: 50 shots, but " + task + " has 50 problems and a question is never its own shot: at most 49 from it"},
	} {
		grid := filepath.Join(dir, "grid.yaml")
		must(t, os.WriteFile(grid, []byte(strings.Replace(killGrid, tc.from, tc.to, 1)), 0o644))
		for _, extra := range [][]string{{"--dry-run"}, nil} {
			out := filepath.Join(t.TempDir(), "out")
			cmd := exec.Command(binary, append([]string{"run", "--config", grid, "--output_dir", out}, extra...)...)
			cmd.Env, cmd.Dir = env, dir
			r := execute(t, cmd)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("%s %v: code %d, %q; want code 1 and one line with %q", tc.name, extra, r.code, r.stderr, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s %v: it wrote %s", tc.name, extra, out)
			}
		}
	}
	// Without the quality step its section is not checked.
	grid := filepath.Join(dir, "grid.yaml")
	must(t, os.WriteFile(grid, []byte(killGrid+"quality:\n  judge: builtin:demo-llamma\n"), 0o644))
	cmd := exec.Command(binary, "run", "--config", grid, "--dry-run", "--no-quality")
	cmd.Env, cmd.Dir = env, dir
	if r := execute(t, cmd); r.code != 0 {
		t.Errorf("--no-quality: code %d, %q", r.code, r.stderr)
	}
}

// report and plot given record files write into ./results only when told
// to (--output_dir) or when ./results has no records besides them: its
// outputs would no longer be those of its records.
func TestReportInputsKeepResults(t *testing.T) {
	e := newEnv(t, failGrid)
	for _, out := range []string{"results", "other"} {
		if r := e.run(t, nil, "run", "--config", "grid.yaml", "--output_dir", out, "--no-quality", "--records-name", out); r.code != 1 {
			t.Fatalf("run into %s: code %d, want 1 (one cell fails)\n%s", out, r.code, r.stderr)
		}
	}
	csv := filepath.Join(e.dir, "results", "raw_data", "raw_metrics.csv")
	before, err := os.ReadFile(csv)
	must(t, err)
	for _, c := range []string{"report", "plot"} {
		r := e.run(t, nil, c, "other/records/other.jsonl")
		if r.code != 2 || !strings.Contains(r.stderr, "results holds records that are not among the inputs") ||
			!strings.Contains(r.stderr, "give --output_dir") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s of other records: code %d, %q; want code 2 and one line", c, r.code, r.stderr)
		}
		if after, err := os.ReadFile(csv); err != nil || !bytes.Equal(before, after) {
			t.Errorf("%s of other records changed results/raw_data/raw_metrics.csv (%v)", c, err)
		}
		// Its own records, or --output_dir, are what the user asked for.
		for _, args := range [][]string{{"results/records/results.jsonl"}, {"results"}, {"--output_dir", "merged", "other", "results"}} {
			if r := e.run(t, nil, append([]string{c}, args...)...); r.code != 0 {
				t.Errorf("%s %v: code %d, %s", c, args, r.code, r.stderr)
			}
		}
	}
}

// --records-name names the records file with or without its .jsonl: before,
// a name given with it made NAME.jsonl.jsonl.
func TestRunRecordsNameWithExtension(t *testing.T) {
	e := newEnv(t, strings.Replace(failGrid, "batch_size: [1, 2147483648]", "batch_size: [1]", 1))
	if r := e.run(t, nil, "run", "--config", "grid.yaml", "--output_dir", "out", "--no-quality", "--no-report", "--records-name", "mine.jsonl"); r.code != 0 {
		t.Fatalf("run: code %d\n%s", r.code, r.stderr)
	}
	got, _ := filepath.Glob(filepath.Join(e.dir, "out", "records", "*.jsonl"))
	if want := []string{filepath.Join(e.dir, "out", "records", "mine.jsonl")}; !slices.Equal(got, want) {
		t.Errorf("records files %q, want %q", got, want)
	}
}

// Records of one cell from two machines merge into one row (a cell's key is
// its settings), so report and plot say which machines were merged over;
// one machine's records, however many files, say nothing.
func TestReportNamesOverwrittenMachines(t *testing.T) {
	e := newEnv(t, strings.Replace(failGrid, "batch_size: [1, 2147483648]", "batch_size: [1]", 1)) // its cell that runs
	if r := e.run(t, nil, "run", "--config", "grid.yaml", "--output_dir", "a", "--no-quality", "--records-name", "a"); r.code != 0 {
		t.Fatalf("run: code %d\n%s", r.code, r.stderr)
	}
	// The same records as another CPU measured them.
	b, err := os.ReadFile(filepath.Join(e.dir, "a", "records", "a.jsonl"))
	must(t, err)
	var rec, first map[string]any
	must(t, json.Unmarshal(bytes.TrimSpace(b), &rec))
	must(t, json.Unmarshal(bytes.TrimSpace(b), &first))
	rec["env"].(map[string]any)["cpu"] = "Other CPU"
	other, err := json.Marshal(rec)
	must(t, err)
	must(t, os.MkdirAll(filepath.Join(e.dir, "b"), 0o755))
	must(t, os.WriteFile(filepath.Join(e.dir, "b", "b.jsonl"), append(other, '\n'), 0o644))
	for _, c := range []string{"report", "plot"} {
		r := e.run(t, nil, c, "--output_dir", "m", "a/records/a.jsonl", "b/b.jsonl")
		if r.code != 0 || !strings.Contains(r.stderr, "1 cell was measured on more than one machine (") ||
			!strings.Contains(r.stderr, ", Other CPU (cpu)); the outputs show each one's newest only") {
			t.Errorf("%s of two machines' records: code %d, %q", c, r.code, r.stderr)
		}
		if r := e.run(t, nil, c, "--output_dir", "m", "a/records/a.jsonl", "a"); r.code != 0 || strings.Contains(r.stderr, "machine") ||
			strings.Contains(r.stderr, "more than one row") {
			t.Errorf("%s of one machine's records: code %d, %q", c, r.code, r.stderr)
		}
	}
	// The same cell under another key (as a grid of other repetitions
	// gives) is a second row that reads the same: report says so.
	rec["key"], rec["env"].(map[string]any)["cpu"] = "another-key", first["env"].(map[string]any)["cpu"]
	again, err := json.Marshal(rec)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(e.dir, "b", "b.jsonl"), append(again, '\n'), 0o644))
	if r := e.run(t, nil, "report", "--output_dir", "m", "a/records/a.jsonl", "b/b.jsonl"); r.code != 0 ||
		!strings.Contains(r.stderr, "1 cell is in more than one row that reads the same") || strings.Contains(r.stderr, "machine") {
		t.Errorf("report of one cell under two keys: code %d, %q", r.code, r.stderr)
	}
}

// A run without a grid file of its own: --model and the axes' flags
// replace the embedded grid's, and the records say so.
func TestRunModelAndAxesFlags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "results")
	r := dllmbench(t, "", "run", "--model", "builtin:demo-llama", "--prompt-length", "12,20", "--gen-length", "6",
		"--batch-size", "1", "--repetitions", "1", "--warmup", "0", "--max-prompts", "1", "--backend", "cpu",
		"--output_dir", out, "--no-quality", "--no-report")
	if r.code != 0 {
		t.Fatalf("code %d: %s", r.code, r.stderr)
	}
	recs, err := bench.ReadRecords(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rec := range recs {
		got = append(got, fmt.Sprintf("%s p%d g%d b%d reps %d", rec.Cell.ModelID, rec.Cell.PromptLen, rec.Cell.GenLen, rec.Cell.Batch, len(rec.Reps)))
	}
	slices.Sort(got)
	if want := []string{"builtin:demo-llama p12 g6 b1 reps 1", "builtin:demo-llama p20 g6 b1 reps 1"}; !slices.Equal(got, want) {
		t.Errorf("cells %q, want %q", got, want)
	}
	// Without --config the prompts are WikiText-103's, not the demo pair's.
	for _, rec := range recs {
		if rec.PromptSource == nil || rec.PromptSource.Source != "wikitext" {
			t.Errorf("%s: prompts from %+v, want wikitext", rec.Cell.Name(), rec.PromptSource)
		}
	}
}

// Few-shot task prompts from the command line, as lm-eval's --tasks gsm8k
// --num_fewshot 2: each prompt is a problem of the task file after two
// others, cut to its last tokens where longer than the prompt length,
// with the answer's start as its reference; the records name the source,
// and the quality step scores accuracy against the task file with no
// further flag.
func TestRunTaskFewShot(t *testing.T) {
	dir := t.TempDir()
	task, err := filepath.Abs("../../testdata/tasks/gsm8k-mini.jsonl")
	must(t, err)
	problems, err := prompts.LoadProblems(task)
	must(t, err)
	out := filepath.Join(dir, "results")
	// The longest question is 207 tokens of the demo tokenizer, the
	// shortest 2-shot prompt 346 (bench's TestCutPromptsTask).
	args := []string{"run", "--model", "builtin:demo-llama", "--task", task, "--shots", "2", "--prompt-length", "256", "--gen-length", "8",
		"--max-prompts", "2", "--repetitions", "1", "--warmup", "0", "--backend", "cpu", "--output_dir", out, "--no-report"}
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	r := execute(t, cmd)
	if r.code != 0 {
		t.Fatalf("code %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "task: file "+task+", 2 shots from its own problems: 50 of 50 documents") {
		t.Errorf("the run does not name its prompts:\n%s", r.stderr)
	}
	recs, err := bench.ReadRecords(out)
	must(t, err)
	if len(recs) == 0 {
		t.Fatal("no records")
	}
	for _, rec := range recs {
		ps := rec.PromptSource
		if ps == nil || ps.Source != "task" || ps.Path != task || ps.Shots == nil || *ps.Shots != 2 || ps.ShotsPath != "" || len(ps.SHA256) != 64 {
			t.Errorf("%s: prompt source %+v, want the task file with 2 shots", rec.Cell.Name(), ps)
		}
		if len(rec.Prompts) != 2 {
			t.Fatalf("%s: %d prompts, want 2", rec.Cell.Name(), len(rec.Prompts))
		}
		for _, p := range rec.Prompts {
			i := slices.IndexFunc(problems, func(q prompts.Problem) bool { return strings.HasPrefix(q.Answer, p.Reference) })
			if i < 0 || p.Reference == "" {
				t.Fatalf("%s: reference %q is the start of no answer", rec.Cell.Name(), p.Reference)
			}
			full, err := prompts.FewShot(problems, 2, problems[i].Question)
			must(t, err)
			if !strings.HasSuffix(full, p.Text) || p.Text == full || !strings.HasSuffix(p.Text, "Question: "+problems[i].Question+"\nAnswer:") {
				t.Errorf("%s: prompt %q; want the last tokens of the 2-shot prompt\n%q", rec.Cell.Name(), p.Text, full)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "raw_data", "quality_metrics.json"))
	must(t, err)
	var m struct {
		Task  string `json:"task"`
		Cells []struct {
			Name    string                                     `json:"name"`
			Metrics map[string]struct{ Value, Lo, Hi float64 } `json:"metrics"`
		} `json:"cells"`
	}
	must(t, json.Unmarshal(b, &m))
	if m.Task != task || len(m.Cells) != len(recs) {
		t.Errorf("quality_metrics.json: task %q and %d cells, want %q and %d", m.Task, len(m.Cells), task, len(recs))
	}
	for _, c := range m.Cells {
		for _, k := range []string{"task_strict", "task_flexible"} {
			if v, ok := c.Metrics[k]; !ok || v.Value < 0 || v.Value > 1 {
				t.Errorf("%s: %s %+v (present %v)", c.Name, k, v, ok)
			}
		}
	}
	if !strings.Contains(r.stdout, "accuracy strict [95%]") {
		t.Errorf("the printed quality table has no accuracy:\n%s", r.stdout)
	}
	// quality alone scores the records' task file again, without --task.
	cmd = exec.Command(binary, "quality", "--output_dir", out, "--backend", "cpu")
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	if r := execute(t, cmd); r.code != 0 || !strings.Contains(r.stdout, "accuracy strict [95%]") {
		t.Errorf("quality without --task: code %d, %s\n%s", r.code, r.stderr, r.stdout)
	}
	b, err = os.ReadFile(filepath.Join(out, "raw_data", "quality_metrics.json"))
	must(t, err)
	must(t, json.Unmarshal(b, &m))
	if m.Task != task {
		t.Errorf("quality without --task scored task %q, want the records' %q", m.Task, task)
	}

	// A task file of fewer problems than max_prompts: the run says how
	// many prompts the cells get. The dry run reads it too.
	small := filepath.Join(dir, "small.jsonl")
	must(t, os.WriteFile(small, []byte(strings.Join(strings.SplitAfter(mustRead(t, task), "\n")[:3], "")), 0o644))
	for _, dry := range []bool{true, false} {
		args := []string{"run", "--model", "builtin:demo-llama", "--task", small, "--shots", "1", "--prompt-length", "64", "--gen-length", "4",
			"--max-prompts", "5", "--batch-size", "1", "--repetitions", "1", "--warmup", "0", "--backend", "cpu",
			"--output_dir", filepath.Join(dir, "small"), "--no-report", "--no-quality"}
		if dry {
			args = append(args, "--dry-run")
		}
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
		r := execute(t, cmd)
		switch {
		case r.code != 0:
			t.Errorf("dry run %v: code %d: %s", dry, r.code, r.stderr)
		case dry && !strings.Contains(r.stdout, "demo-llama b1 p64 g4"):
			t.Errorf("dry run: %s", r.stdout)
		case !dry && !strings.Contains(r.stderr, "prompt_length 64 (gen_length 4): 3 prompts, not the 5 of max_prompts: the prompt source has 3 documents"):
			t.Errorf("no notice of the 3 prompts:\n%s", r.stderr)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return string(b)
}
