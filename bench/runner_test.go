package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"dllmbench/compute/device"
	"dllmbench/model"
)

// demoGrid is a small grid on the built-in demo pair.
func demoGrid() *Grid {
	return &Grid{
		Name:          "test",
		Models:        []ModelSpec{{ID: "builtin:demo-llama"}, {ID: "builtin:demo-llada"}},
		Precision:     "",
		Backend:       "cpu",
		Prompts:       PromptSpec{Source: "builtin", MaxPrompts: 3},
		BatchSizes:    []int{1, 2},
		PromptLengths: []int{16},
		GenLengths:    []int{8},
		Diffusion: DiffusionAxes{Steps: []int{4, 8}, BlockLength: []int{8}, Cache: []string{"none", "dual"},
			Threshold: []float64{0.9}},
		Repetitions: 2,
		Warmup:      1,
	}
}

func runOpts(dir string) Options {
	return Options{OutputDir: dir, Device: device.Options{Backend: "cpu", Threads: 2}}
}

// A run measures every cell once; a second run over the same directory
// measures nothing; records keep what quality needs.
func TestRunRecordsAndResumes(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	g := demoGrid()
	var progress bytes.Buffer
	o := runOpts(dir)
	o.Progress = &progress
	sum, err := Run(context.Background(), g, o)
	if err != nil {
		t.Fatal(err)
	}
	// 2 AR cells (batch 1, 2) + 2 batch sizes × 2 caches × 3 rules
	// (steps 4, steps 8, threshold 0.9) = 14 LLaDA cells.
	if sum.Cells != 14 || sum.Measured != 14 || sum.Failed != 0 || sum.Reused != 0 {
		t.Fatalf("summary %+v", sum)
	}
	recs, err := ReadRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 14 {
		t.Fatalf("%d records", len(recs))
	}
	keys := map[string]bool{}
	for _, r := range recs {
		if keys[r.Key] {
			t.Errorf("key %s recorded twice", r.Key)
		}
		keys[r.Key] = true
		if r.Status != "ok" {
			t.Errorf("%s: %s", r.Cell.Name(), r.Error)
			continue
		}
		if len(r.Prompts) != 3 || len(r.Outputs) != 3 || len(r.Reps) != 2 {
			t.Errorf("%s: %d prompts, %d outputs, %d repetitions", r.Cell.Name(), len(r.Prompts), len(r.Outputs), len(r.Reps))
		}
		for i, out := range r.Outputs {
			if len(out) != 8 {
				t.Errorf("%s: output %d has %d ids, want 8", r.Cell.Name(), i, len(out))
			}
		}
		for _, p := range r.Prompts {
			if p.Reference == "" || len(p.IDs) == 0 {
				t.Errorf("%s: prompt without reference or ids: %+v", r.Cell.Name(), p)
			}
		}
		st := r.Stats[MTokensPerS]
		if st.N != 2 || !(st.Mean > 0) {
			t.Errorf("%s: tokens/s %+v", r.Cell.Name(), st)
		}
		if r.Cell.Diffusion() {
			if _, ok := r.Stats[MStepTime]; !ok {
				t.Errorf("%s: no step time", r.Cell.Name())
			}
			// Fixed steps: NFE per batch is the step count.
			if r.Cell.Steps > 0 && r.Stats[MNFE].Mean != float64(r.Cell.Steps) {
				t.Errorf("%s: NFE %v", r.Cell.Name(), r.Stats[MNFE].Mean)
			}
		} else if r.Stats[MTTFT].Mean <= 0 || r.Stats[MTPOT].Mean <= 0 {
			t.Errorf("%s: TTFT %v, TPOT %v", r.Cell.Name(), r.Stats[MTTFT], r.Stats[MTPOT])
		}
		if r.Memory.Weights <= 0 || r.Memory.Cache <= 0 || r.Env.Backend != "cpu" || r.Model.ConfigSHA == "" {
			t.Errorf("%s: memory %+v, env backend %q", r.Cell.Name(), r.Memory, r.Env.Backend)
		}
		// The demo's stored bf16 weights keep a bf16 cache.
		if r.Model.WeightDT != "BF16" || r.Model.CacheDT != "BF16" {
			t.Errorf("%s: weights %q, cache %q, want BF16 and BF16", r.Cell.Name(), r.Model.WeightDT, r.Model.CacheDT)
		}
	}
	// Both models saw the same prompt texts.
	texts := map[string]bool{}
	for _, r := range recs {
		texts[r.Prompts[0].Text] = true
	}
	if len(texts) != 1 {
		t.Errorf("models saw different prompts: %v", texts)
	}
	if !strings.Contains(progress.String(), "[14/14") {
		t.Errorf("progress lines: %q", progress.String())
	}

	files := func() []string {
		entries, err := os.ReadDir(filepath.Join(dir, "records"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	before := files()
	again, err := Run(context.Background(), g, runOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	if again.Measured != 0 || again.Reused != 14 {
		t.Errorf("second run: %+v", again)
	}
	// It recorded nothing, and leaves no file: every rerun left an empty one.
	if d := cmp.Diff(before, files()); d != "" || again.Records != "" {
		t.Errorf("a run that measured nothing changed the records folder (-before +after), records %q:\n%s", again.Records, d)
	}
	// A different definition (fewer repetitions) is not reused, and the
	// run says so before it measures the cells again: a resume with a
	// setting changed by mistake measured the whole sweep again unsaid.
	g.Repetitions = 1
	g.Models = g.Models[:1]
	o = runOpts(dir)
	var notes []string
	o.Notice = func(s string) { notes = append(notes, s) }
	third, err := Run(context.Background(), g, o)
	if err != nil {
		t.Fatal(err)
	}
	if third.Measured != 2 || third.Reused != 0 {
		t.Errorf("changed repetitions: %+v", third)
	}
	if !slices.ContainsFunc(notes, func(s string) bool {
		return strings.HasPrefix(s, "2 cells (demo-llama b1 p16 g8 first) are recorded in "+dir+" under another key")
	}) {
		t.Errorf("no notice of the cells measured again under another key: %q", notes)
	}
}

// A fresh output folder may hold other JSONL files (a prompt or task
// file): they are not records, and the run neither reads them nor fails.
func TestRunIntoFolderWithOtherJSONL(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	task := []byte(`{"question": "1+1?", "answer": "#### 2"}` + "\n")
	if err := os.WriteFile(filepath.Join(dir, "task.jsonl"), task, 0o644); err != nil {
		t.Fatal(err)
	}
	g := demoGrid()
	g.Models = g.Models[:1] // the two AR cells
	sum, err := Run(context.Background(), g, runOpts(dir))
	if err != nil || sum.Measured != 2 {
		t.Fatalf("%+v, %v; want both cells measured", sum, err)
	}
}

// A run killed mid-write leaves a torn last line: the next run ignores it
// and measures that cell again; a cell that cannot run is recorded as
// failed and the sweep goes on.
func TestRunTornLineAndFailedCell(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	g := demoGrid()
	g.Models = g.Models[1:]       // LLaDA only
	g.Diffusion = DiffusionAxes{} // steps and blocks default to the generation length
	// A run state of 2³¹ rows is more than model.NewState takes on any
	// machine. (A generation beyond the context is an invalid
	// combination, never measured.)
	g.BatchSizes = []int{1, 1 << 31}
	g.GenLengths = []int{8}
	sum, err := Run(context.Background(), g, runOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Measured != 2 || sum.Failed != 1 {
		t.Fatalf("summary %+v", sum)
	}
	recs, _ := ReadRecords(dir)
	var failed *Record
	for i := range recs {
		if recs[i].Status == "failed" {
			failed = &recs[i]
		}
	}
	if failed == nil || !strings.Contains(failed.Error, "a run state of 2147483648 rows") {
		t.Fatalf("failed record: %+v", failed)
	}
	// Tear the last line as a kill -9 during the write would.
	f := sum.Records
	data, _ := os.ReadFile(f)
	lines := bytes.SplitAfter(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	torn := append(bytes.Join(lines[:len(lines)-1], nil), lines[len(lines)-1][:40]...)
	if err := os.WriteFile(f, torn, 0o644); err != nil {
		t.Fatal(err)
	}
	recs, err = ReadRecords(dir)
	if err != nil || len(recs) != 1 {
		t.Fatalf("after tearing: %d records, %v", len(recs), err)
	}
	again, err := Run(context.Background(), g, runOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	if again.Measured != 1 || again.Reused != 1 {
		t.Errorf("rerun after a torn line: %+v", again)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "records", "*.jsonl"))
	if len(files) != 2 {
		t.Errorf("%d record files, want one per process", len(files))
	}
	all, _ := ReadRecords(dir)
	if n := len(Latest(all)); n != 2 {
		t.Errorf("%d distinct cells after merging, want 2", n)
	}
	// The failed cell is a result: a rerun reuses it, unless asked to
	// retry it (it fails again here, and the ok cell is still reused).
	if again, err = Run(context.Background(), g, runOpts(dir)); err != nil || again.Measured != 0 || again.Reused != 2 {
		t.Errorf("rerun: %+v, %v; want both cells reused", again, err)
	}
	retry := runOpts(dir)
	retry.RetryFailed = true
	var notices []string
	retry.Notice = func(s string) { notices = append(notices, s) }
	if again, err = Run(context.Background(), g, retry); err != nil || again.Measured != 1 || again.Failed != 1 || again.Reused != 1 {
		t.Errorf("rerun retrying failed cells: %+v, %v; want the failed one measured again, the other reused", again, err)
	}
	for _, n := range notices {
		if strings.Contains(n, "under another key") {
			t.Errorf("a retried cell is said to be recorded under another key: %s", n)
		}
	}
}

// A batch whose run state cannot fit the machine fails its cell with one
// line saying so, allocating nothing, and the sweep goes on: the run that
// found it (batch_size 100000000) died of Go's out-of-memory fatal error,
// which no recover catches.
func TestRunHugeBatchFailsItsCell(t *testing.T) {
	if model.MachineMemory() == 0 {
		t.Skip("the machine's memory is unknown here (no /proc/meminfo)")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	g := demoGrid()
	g.BatchSizes = []int{100_000_000, 1}
	g.PromptLengths, g.GenLengths = []int{8}, []int{8}
	g.Diffusion = DiffusionAxes{Steps: []int{8}, BlockLength: []int{8}, Cache: []string{"none"}}
	g.Repetitions, g.Warmup = 1, 0
	var progress bytes.Buffer
	o := runOpts(dir)
	o.Progress = &progress
	sum, err := Run(context.Background(), g, o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Measured != 4 || sum.Failed != 2 {
		t.Fatalf("summary %+v, want 4 cells measured of which the 2 of batch 10⁸ failed", sum)
	}
	recs, err := ReadRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		switch {
		case r.Cell.Batch == 1 && r.Status != "ok":
			t.Errorf("%s: %s %s", r.Cell.Name(), r.Status, r.Error)
		case r.Cell.Batch > 1 && (r.Status != "failed" || !strings.Contains(r.Error, "GiB, the machine has") ||
			strings.Contains(r.Error, "panic")):
			t.Errorf("%s: %s %q, want failed: needs X GiB, the machine has Y GiB", r.Cell.Name(), r.Status, r.Error)
		}
	}
	if !strings.Contains(progress.String(), "FAILED: model: a run state of 100000000 rows") {
		t.Errorf("progress: %q", progress.String())
	}
}

// Cancelling abandons the cell in flight: nothing half-measured is written.
// With a delay the run pauses before every cell it measures but the first,
// never before one it reuses, and a pause cut short by cancelling ends the
// run; the delay is part of the key.
func TestRunDelay(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	g := demoGrid()
	g.Models = g.Models[:1] // the two AR cells
	g.Delay = 0.25
	var pauses []time.Duration
	o := runOpts(dir)
	o.Sleep = func(_ context.Context, d time.Duration) error { pauses = append(pauses, d); return nil }
	if sum, err := Run(context.Background(), g, o); err != nil || sum.Measured != 2 {
		t.Fatalf("%+v, %v", sum, err)
	}
	if want := []time.Duration{250 * time.Millisecond}; !slices.Equal(pauses, want) {
		t.Errorf("pauses %v, want %v", pauses, want)
	}
	recs, err := ReadRecords(dir)
	if err != nil || len(recs) != 2 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	if p0, p1 := recs[0].PausedS, recs[1].PausedS; p0+p1 != 0.25 || p0*p1 != 0 {
		t.Errorf("records paused %g and %g s; want one 0.25 s and the other not at all", p0, p1)
	}
	pauses = nil
	if sum, err := Run(context.Background(), g, o); err != nil || sum.Reused != 2 || len(pauses) != 0 {
		t.Errorf("resumed: %+v, %v, pauses %v; want both cells reused without a pause", sum, err, pauses)
	}
	g.BatchSizes = []int{1, 2, 4}
	ctx, cancel := context.WithCancel(context.Background())
	o.Sleep = func(ctx context.Context, d time.Duration) error { cancel(); return sleep(ctx, time.Hour) }
	g.Delay = 1 // a new key: every cell is measured again
	sum, err := Run(ctx, g, o)
	if err != context.Canceled || sum.Measured != 1 {
		t.Errorf("cancelled during the pause: %+v, %v; want one cell measured and context.Canceled", sum, err)
	}
}

func TestRunCancelled(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, demoGrid(), runOpts(dir))
	if err == nil {
		t.Fatal("a cancelled run returned no error")
	}
	recs, _ := ReadRecords(dir)
	if len(recs) != 0 {
		t.Errorf("%d records after cancelling before the first cell", len(recs))
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "records", "*.jsonl")); len(m) != 0 {
		t.Errorf("a run that recorded nothing left %q", m)
	}
}

// Prompts with references (the builtin ones, about 33 tokens) are kept
// whole when shorter than the cell's length: the run says so once for
// that length, through Notice, and not for a length they reach.
func TestRunNoticesShortPrompts(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	g := demoGrid()
	g.Models = g.Models[:1]
	g.BatchSizes, g.PromptLengths, g.Repetitions, g.Warmup = []int{1, 2}, []int{16, 200}, 1, 0
	o := runOpts(t.TempDir())
	var notes []string
	o.Notice = func(s string) { notes = append(notes, s) }
	if _, err := Run(context.Background(), g, o); err != nil {
		t.Fatal(err)
	}
	var short []string
	for _, n := range notes {
		if strings.Contains(n, "average") {
			short = append(short, n)
		}
	}
	want := regexp.MustCompile(`^prompt_length 200 \(gen_length 8\): the prompts average (\d+) tokens, since prompts with references are kept whole when shorter; tables show 200 \((\d+)\)$`)
	if len(short) != 1 || !want.MatchString(short[0]) {
		t.Fatalf("notices %q, want one for prompt_length 200", notes)
	}
	m := want.FindStringSubmatch(short[0])
	if n, _ := strconv.Atoi(m[1]); m[1] != m[2] || n < 2 || n >= 180 {
		t.Errorf("mean length %s, table %s: want the same, short of 200", m[1], m[2])
	}
}

// A source that gives fewer prompts than max_prompts, as a prompt file
// whose lines are too short for prompt_length + gen_length tokens, is not
// cut short in silence: the run says how many prompts the cells of that
// length get and how many documents it left out.
func TestRunNoticesFewPrompts(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	file := filepath.Join(t.TempDir(), "prompts.txt")
	long := strings.Repeat("a longer document, ", 20)
	if err := os.WriteFile(file, []byte("short\n"+long+"\ntiny\n"+long+"again\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := demoGrid()
	g.Models, g.Prompts = g.Models[:1], PromptSpec{Source: "file", Path: file, MaxPrompts: 4}
	g.BatchSizes, g.Repetitions, g.Warmup = []int{1}, 1, 0
	o := runOpts(t.TempDir())
	var notes []string
	o.Notice = func(s string) { notes = append(notes, s) }
	if _, err := Run(context.Background(), g, o); err != nil {
		t.Fatal(err)
	}
	want := "prompt_length 16 (gen_length 8): 2 prompts, not the 4 of max_prompts: 2 documents of the source are shorter than 15+8 tokens (or blank) and left out"
	if !slices.Contains(notes, want) {
		t.Errorf("notices %q, want %q", notes, want)
	}
	recs, err := ReadRecords(o.OutputDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || len(recs[0].Prompts) != 2 {
		t.Errorf("%d records, the first with %d prompts; want one with 2", len(recs), len(recs[0].Prompts))
	}
}

// A row's useful tokens end at its first end-of-sequence token, though the
// cell generates past it: each demo model with one of its own generated
// tokens made its EOS counts, per batch, the tokens before that token's
// first place in each row, and its useful tok/s falls below its tok/s.
func TestRunUsefulStopsAtEOS(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	for _, id := range []string{"builtin:demo-llama", "builtin:demo-llada"} {
		t.Run(id, func(t *testing.T) {
			src, err := Locate(ModelSpec{ID: id})
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "model")
			if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
				t.Fatal(err)
			}
			g := demoGrid()
			g.Models = []ModelSpec{{ID: dir}}
			g.BatchSizes, g.Repetitions, g.Warmup = []int{2}, 1, 0
			g.Prompts.MaxPrompts = 4 // two whole batches: no filling row
			g.Diffusion = DiffusionAxes{Steps: []int{8}, BlockLength: []int{8}, Cache: []string{"none"}}
			run := func() Record {
				t.Helper()
				out := t.TempDir()
				if _, err := Run(context.Background(), g, runOpts(out)); err != nil {
					t.Fatal(err)
				}
				recs, err := ReadRecords(filepath.Join(out, "records"))
				if err != nil || len(recs) != 1 || recs[0].Status != "ok" {
					t.Fatalf("records %v, %v", recs, err)
				}
				return recs[0]
			}
			before := run()
			eos := before.Outputs[0][3] // generated, not first
			cfg := filepath.Join(dir, "config.json")
			raw, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			re := regexp.MustCompile(`"eos_token_id":\s*[0-9]+`)
			if !re.Match(raw) {
				t.Fatalf("%s has no eos_token_id", cfg)
			}
			if err := os.WriteFile(cfg, re.ReplaceAll(raw, []byte(`"eos_token_id": `+strconv.Itoa(eos))), 0o644); err != nil {
				t.Fatal(err)
			}
			after := run()
			if d := cmp.Diff(before.Outputs, after.Outputs); d != "" {
				t.Fatalf("the outputs changed with the EOS (-before +after):\n%s", d)
			}
			want, gen := 0, 0
			for _, ids := range after.Outputs {
				if i := slices.Index(ids, eos); i >= 0 {
					want += i
				} else {
					want += len(ids)
				}
				gen += len(ids)
			}
			useful, generated := 0, 0
			for _, b := range after.Reps[0].Batches {
				useful += b.Useful
				generated += b.Generated
			}
			if useful != want || generated != gen || want >= gen {
				t.Errorf("useful %d of %d generated; want %d of %d", useful, generated, want, gen)
			}
			if u, all := after.Stats[MUsefulPerS].Mean, after.Stats[MTokensPerS].Mean; !(u > 0 && u < all) {
				t.Errorf("useful tok/s %g, tok/s %g: want 0 < useful < all", u, all)
			}
		})
	}
}
