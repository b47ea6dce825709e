package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"dllmbench/bench"
	"dllmbench/compute/device"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestWrite writes the fixture's report into a temporary directory and
// checks each file's shape and a few cells.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, fixture()); err != nil {
		t.Fatal(err)
	}

	// raw_metrics.csv: a header and one row per cell (the older attempt of
	// the failed cell is gone), in report order.
	f, err := os.Open(filepath.Join(dir, "raw_data", "raw_metrics.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("got %d CSV rows, want a header and 4 cells", len(rows))
	}
	head := rows[0]
	// 26 cell columns, 14 known metrics and one more ×2, 6 columns of each
	// of the 4 pooled metrics, 9 memory columns, 2 rates and 3 energy
	// columns.
	if len(head) != 26+15*2+4*6+9+5 {
		t.Errorf("got %d columns: %v", len(head), head)
	}
	wantStart := []string{"key", "status", "error", "grid", "model", "model_id", "family", "backend", "device",
		"batch_size", "prompt_length", "prompt_tokens_mean", "prompt_count", "gen_length", "steps", "block_length", "remasking", "cache",
		"threshold", "factor", "cfg_scale", "temperature", "top_k", "top_p", "precision", "repetitions", "latency_s_mean", "latency_s_std",
		"device_latency_s_mean", "device_latency_s_std"}
	if diff := cmp.Diff(wantStart, head[:len(wantStart)]); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	byKey := map[string][]string{}
	var order []string
	for _, r := range rows[1:] {
		if len(r) != len(head) {
			t.Errorf("row %s has %d cells, header %d", r[0], len(r), len(head))
		}
		byKey[r[0]] = r
		order = append(order, r[0])
	}
	// llada before llama; within llada batch 1 before 64, fixed steps before
	// a threshold.
	if diff := cmp.Diff([]string{"diff1", "thr1", "fail1", "ar1"}, order); diff != "" {
		t.Errorf("row order (-want +got):\n%s", diff)
	}
	cells := []struct {
		name, key, column, want string
	}{
		{"the backend used, not the one asked for", "ar1", "backend", "cuda"},
		{"AR cells have no steps", "ar1", "steps", ""},
		{"AR cells have no step time", "ar1", "step_time_s_mean", ""},
		{"mean tok/s", "ar1", "tokens_per_s_mean", "72"},
		{"TTFT in seconds", "ar1", "ttft_s_mean", "0.02"},
		{"mean ITL over repetitions", "ar1", "itl_s_mean", "0.01"},
		{"ITL gaps of every repetition, pooled", "ar1", "itl_s_pooled_n", "6"},
		{"pooled ITL p99", "ar1", "itl_s_pooled_p99", "0.01"},
		{"diffusion cells have no ITL", "diff1", "itl_s_mean", ""},
		{"nor a pooled one", "diff1", "itl_s_pooled_n", ""},
		{"failed cells have no ITL", "fail1", "itl_s_pooled_p99", ""},
		{"latency by the GPU's clock", "ar1", "device_latency_s_mean", "0.0502"},
		{"a backend without a device timer leaves it empty", "diff1", "device_latency_s_mean", ""},
		{"repetitions", "ar1", "repetitions", "2"},
		{"weights in bytes", "ar1", "mem_weights_bytes", "16060522496"},
		{"energy: mean joules per repetition", "ar1", "energy_j", "2.5"},
		{"energy source", "ar1", "energy_source", "nvml"},
		{"no energy note where there is energy", "ar1", "energy_note", ""},
		{"the prompts' mean length", "ar1", "prompt_tokens_mean", "128"},
		{"the prompts the cell ran", "ar1", "prompt_count", "1"},
		{"diffusion cells have no TTFT", "diff1", "ttft_s_mean", ""},
		{"steps", "diff1", "steps", "64"},
		{"threshold off", "diff1", "threshold", ""},
		{"tokens per step", "diff1", "tokens_per_step_mean", "2"},
		{"threshold", "thr1", "threshold", "0.9"},
		{"infinite mean", "thr1", "tokens_per_s_mean", "+Inf"},
		{"NaN std", "thr1", "tokens_per_s_std", "NaN"},
		{"an unknown metric gets columns", "thr1", "quality_ppl_mean", "NaN"},
		{"NaN rate", "thr1", "gb_per_s", "NaN"},
		{"NaN energy", "thr1", "energy_j", "NaN"},
		{"failed status", "fail1", "status", "failed"},
		{"the whole error", "fail1", "error", "cuda: out of memory | allocating 2.0 GiB\nat decode.Diffuse"},
		{"failed cells have no metrics", "fail1", "latency_s_mean", ""},
		{"failed cells ran no repetition", "fail1", "repetitions", "0"},
	}
	for _, c := range cells {
		i, found := col[c.column]
		if !found {
			t.Errorf("%s: no column %s", c.name, c.column)
			continue
		}
		if got := byKey[c.key][i]; got != c.want {
			t.Errorf("%s: %s[%s] = %q, want %q", c.name, c.key, c.column, got, c.want)
		}
	}

	// records_summary.json: one object per cell, without prompts and
	// outputs, null for non-finite numbers.
	b, err := os.ReadFile(filepath.Join(dir, "raw_data", "records_summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum []map[string]any
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatalf("records_summary.json: %v", err)
	}
	if len(sum) != 4 {
		t.Fatalf("got %d summaries, want 4", len(sum))
	}
	for _, s := range sum {
		for _, k := range []string{"prompts", "outputs", "texts", "repetitions_detail"} {
			if _, has := s[k]; has {
				t.Errorf("summary %v has %s", s["key"], k)
			}
		}
		for _, k := range []string{"cell", "key", "status", "stats", "memory", "roofline", "env"} {
			if _, has := s[k]; !has {
				t.Errorf("summary %v lacks %s", s["key"], k)
			}
		}
	}
	thr := sum[1]
	if thr["key"] != "thr1" {
		t.Fatalf("second summary is %v, want thr1", thr["key"])
	}
	tps := thr["stats"].(map[string]any)[bench.MTokensPerS].(map[string]any)
	if tps["mean"] != nil || tps["std"] != nil || tps["n"] != 2.0 {
		t.Errorf("tokens_per_s of thr1 = %v, want null mean and std, n 2", tps)
	}
	if dev, has := sum[3]["stats"].(map[string]any)[bench.MDeviceLatency].(map[string]any); sum[3]["key"] != "ar1" || !has || dev["mean"] != 0.0502 {
		t.Errorf("summary %v: %s = %v, want a mean of 0.0502", sum[3]["key"], bench.MDeviceLatency, dev)
	}
	if itl, has := sum[3]["pooled"].(map[string]any)[bench.MITL].(map[string]any); !has || itl["n"] != 6.0 || itl["p99"] != 0.01 {
		t.Errorf("summary %v: pooled %s = %v, want 6 gaps and a p99 of 0.01", sum[3]["key"], bench.MITL, itl)
	}
	if p, _ := sum[0]["pooled"].(map[string]any); len(p) != 1 || p[bench.MLatency] == nil {
		t.Errorf("summary %v has pooled %v, want its latencies alone", sum[0]["key"], p)
	}
	if _, has := thr["stats"].(map[string]any)[bench.MDeviceLatency]; has {
		t.Errorf("thr1, on the CPU, has %s", bench.MDeviceLatency)
	}
	if roof := thr["roofline"].(map[string]any); roof["gb_per_s"] != nil || roof["tflop_per_s"] != nil {
		t.Errorf("roofline of thr1 = %v, want nulls", roof)
	}
	if sum[2]["error"] != failedRecord().Error {
		t.Errorf("failed summary error = %v", sum[2]["error"])
	}
	// How many prompts a cell ran and where they came from stay.
	if src, _ := sum[3]["prompt_source"].(map[string]any); sum[3]["prompt_count"] != 1.0 || src["sha256"] != arRecord().PromptSource.SHA256 {
		t.Errorf("summary %v: prompt_count %v, prompt_source %v; want 1 and the record's", sum[3]["key"], sum[3]["prompt_count"], src)
	}
	if strings.Contains(string(b), "secret prompt") {
		t.Error("records_summary.json holds a prompt")
	}

	// bench.txt: parsed in TestBenchTxt; here only that it is there.
	if b, err := os.ReadFile(filepath.Join(dir, "bench.txt")); err != nil || !bytes.HasPrefix(b, []byte("goos: linux\n")) {
		t.Errorf("bench.txt: %v\n%s", err, b)
	}

	// Rebuilding in place replaces the files and leaves no temporaries.
	if err := Write(dir, fixture()[:1]); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*", ".*"))
	left2, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left)+len(left2) > 0 {
		t.Errorf("temporary files left: %v %v", left, left2)
	}
}

// TestWriteBadQuality: a quality_metrics.json that cannot be read fails the
// report before it writes anything, so that the folder's files stay those
// of one report, and the error says how to mend it.
func TestWriteBadQuality(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "raw_data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, QualityFile), []byte("{broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Write(dir, fixture())
	if err == nil || !strings.Contains(err.Error(), QualityFile) || !strings.Contains(err.Error(), "dllmbench quality") {
		t.Errorf("Write with a broken %s: %v; want an error naming it and 'dllmbench quality'", QualityFile, err)
	}
	var written []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, QualityFile) {
			written = append(written, p)
		}
		return err
	})
	if len(written) > 0 {
		t.Errorf("a failed Write wrote %v", written)
	}
}

// TestWriteNothing: no records still make valid, empty files.
func TestWriteNothing(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "raw_data", "records_summary.json"))
	if strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("summary of no records = %q, want []", b)
	}
	var md bytes.Buffer
	if err := Markdown(&md, nil); err != nil || strings.Count(md.String(), "\n") != 2 {
		t.Errorf("Markdown of no records: %v\n%s", err, md.String())
	}
}

// TestMarshalFinite checks that marshalFinite writes what encoding/json
// writes wherever encoding/json can, and null where it cannot.
func TestMarshalFinite(t *testing.T) {
	type inner struct {
		X float64 `json:"x"`
	}
	type embedded struct {
		E int `json:"e"`
	}
	type sample struct {
		embedded
		F     float64            `json:"f"`
		F32   float32            `json:"f32"`
		Omit  float64            `json:"omit,omitempty"`
		P     *float64           `json:"p"`
		Nil   *inner             `json:"nil"`
		S     []float64          `json:"s"`
		NilS  []int              `json:"nil_s"`
		M     map[string]inner   `json:"m"`
		IntM  map[int]string     `json:"int_m"`
		Bytes []byte             `json:"bytes"`
		Time  time.Time          `json:"time"`
		Any   any                `json:"any"`
		Skip  string             `json:"-"`
		Plain string             // no tag: the field name
		Arr   [2]float64         `json:"arr"`
		Deep  map[string][]inner `json:"deep,omitempty"`
		priv  int
	}
	full := sample{embedded: embedded{3}, F: 1.5, F32: 0.1, P: ptr(2.0), S: []float64{1, 2},
		M: map[string]inner{"b": {1}, "a": {2}}, IntM: map[int]string{2: "two"}, Bytes: []byte("hi"),
		Time: t0, Any: inner{4}, Skip: "x", Plain: "p<&>", Arr: [2]float64{1, 2}, priv: 1}
	nan, inf := math.NaN(), math.Inf(-1)
	tests := []struct {
		name string
		v    any
		want string // "" : as encoding/json writes it
	}{
		{"every kind a record uses, finite", full, ""},
		{"zero values", sample{}, ""},
		{"the fixture's finite records", []bench.Record{arRecord(), diffRecord(), failedRecord()}, ""},
		{"an environment with a GPU", gpuEnv, ""},
		{"NaN and -Inf become null", inner{nan}, `{"x":null}`},
		{"in slices, maps and pointers", sample{S: []float64{nan, 1}, M: map[string]inner{"a": {inf}}, P: ptr(nan), Any: nan},
			`{"e":0,"f":0,"f32":0,"omit":null,"p":null,"nil":null,"s":[null,1],"nil_s":null,"m":{"a":{"x":null}},` +
				`"int_m":null,"bytes":null,"time":"0001-01-01T00:00:00Z","any":null,"Plain":"","arr":[0,0]}`},
		{"a NaN stat", map[string]bench.Stat{"m": {Mean: nan, N: 1}}, `{"m":{"mean":null,"std":0,"median":0,"min":0,"max":0,"n":1}}`},
		{"a NaN power limit", device.GPU{PowerLimitW: nan}, `{"name":"","uuid":"","driver":"","cuda":"","compute_capability":"","memory_bytes":0,"power_limit_w":null}`},
	}
	// The NaN case of "in slices, …" has omit: NaN is not empty.
	tests[5].v = func() sample { s := tests[5].v.(sample); s.Omit = nan; return s }()
	for _, tt := range tests {
		got, err := marshalFinite(tt.v)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		want := tt.want
		if want == "" {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatalf("%s: encoding/json: %v", tt.name, err)
			}
			want = string(b)
		}
		if string(got) != want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, want)
		}
	}
}

// TestMarkdown compares the table of the fixture with
// testdata/markdown.golden; go test ./report -update rewrites it.
func TestMarkdown(t *testing.T) {
	var buf bytes.Buffer
	if err := Markdown(&buf, fixture()); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "markdown.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("Markdown (-golden +got):\n%s", diff)
	}
	// Every row has as many columns as the header, whatever its content.
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	for _, l := range lines {
		if n := strings.Count(strings.ReplaceAll(l, `\|`, ""), "|"); n != len(mdColumns)+1 {
			t.Errorf("row with %d separators: %s", n, l)
		}
	}
}

func TestDecoder(t *testing.T) {
	tests := []struct {
		name string
		cell bench.Cell
		want string
	}{
		{"greedy AR", bench.Cell{Family: "llama"}, "AR greedy"},
		{"sampled AR", bench.Cell{Family: "llama", Temperature: 0.7, TopK: 40, TopP: 0.9}, "AR T=0.7 / top-k 40 / top-p 0.9"},
		{"fixed steps", bench.Cell{Family: "llada", Steps: 64, BlockLen: 32, Cache: "dual", Remasking: "low_confidence"},
			"steps 64 / blk 32 / dual"},
		{"threshold", bench.Cell{Family: "llada", Threshold: 0.9, BlockLen: 32, Cache: "none", Remasking: "low_confidence"},
			"thr 0.9 / blk 32 / none"},
		{"factor", bench.Cell{Family: "llada", Factor: 1, BlockLen: 32, Cache: "prefix"}, "fac 1 / blk 32 / prefix"},
		// Settings away from LLaDA's defaults are shown; no cache is "none".
		{"random remasking, CFG, temperature", bench.Cell{Family: "llada", Steps: 128, BlockLen: 128, Remasking: "random",
			CFGScale: 1, Temperature: 0.5}, "steps 128 / blk 128 / none / random / cfg 1 / T=0.5"},
		// A precision other than bf16 is shown, as bench.txt names it: a
		// folder with runs at two precisions has rows that read apart.
		{"fp32 AR", bench.Cell{Family: "llama", Precision: "fp32"}, "AR greedy / fp32"},
		{"bf16 AR", bench.Cell{Family: "llama", Precision: "bf16"}, "AR greedy"},
		{"fp16 diffusion", bench.Cell{Family: "llada", Steps: 64, BlockLen: 32, Cache: "dual", Remasking: "low_confidence",
			Precision: "fp16"}, "steps 64 / blk 32 / dual / fp16"},
	}
	for _, tt := range tests {
		if got := Decoder(tt.cell); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// The prompt column shows the length the cell asked for and, where its
// prompts' mean token count differs from it by more than 10%, that mean:
// prompts with their own references are kept whole when shorter, and the
// table must not say 600 for prompts of 33 tokens.
func TestPromptColumn(t *testing.T) {
	prompts := func(lengths ...int) []bench.PromptRecord {
		var ps []bench.PromptRecord
		for _, n := range lengths {
			ps = append(ps, bench.PromptRecord{IDs: tokenIDs(n)})
		}
		return ps
	}
	tests := []struct {
		name    string
		length  int
		prompts []bench.PromptRecord
		want    string
	}{
		{"as asked", 128, prompts(128, 128), "128"},
		// A WikiText cut may fall a few tokens short (a split character).
		{"within 10%", 128, prompts(120, 128), "128"},
		{"prompt file shorter than asked", 600, prompts(30, 36), "600 (33)"},
		{"longer than asked", 100, prompts(111), "100 (111)"},
		// A cell that failed before its prompts were encoded has none.
		{"no prompts", 600, nil, "600"},
	}
	for _, tt := range tests {
		r := bench.Record{Cell: bench.Cell{PromptLen: tt.length}, Prompts: tt.prompts}
		if got := promptLength(r); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
	// In the table, the column of a cell measured on short prompts.
	r := arRecord()
	r.Cell.PromptLen = 600
	r.Prompts = prompts(33)
	var buf bytes.Buffer
	if err := Markdown(&buf, []bench.Record{r}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "| 600 (33) |") {
		t.Errorf("table without the prompts' length:\n%s", buf.String())
	}
	// And in the HTML report's quality table, whose cell has its record.
	qm := &QualityMetrics{Cells: []Quality{{Key: r.Key, Cell: r.Cell, Metrics: map[string]Interval{"bleu": {Value: 0.5}}}}}
	buf.Reset()
	if err := HTML(&buf, []bench.Record{r}, qm, Figures{}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	q := strings.Index(page, ">BLEU</th>")
	if q < 0 || !strings.Contains(page[q:], ">600 (33)<") {
		t.Error("the HTML quality table without the prompts' length")
	}
}

func TestNumbers(t *testing.T) {
	stats := map[string]bench.Stat{
		"big":   {Mean: 2368.8, Std: 93.24, N: 5},
		"mid":   {Mean: 185.93, Std: 0.42, N: 5},
		"small": {Mean: 0.012345, Std: 0.0001, N: 5},
		"one":   {Mean: 38.51, N: 1},
		"count": {Mean: 64, N: 3},
		"neg0":  {Mean: -0.00001, N: 2},
		"nan":   {Mean: math.NaN(), Std: math.Inf(1), N: 2},
	}
	tests := []struct {
		name, got, want string
	}{
		// Four significant digits; the std takes the mean's decimals.
		{"large mean", meanStd(stats, "big"), "2369 ± 93"},
		{"three-digit mean", meanStd(stats, "mid"), "185.9 ± 0.4"},
		{"small mean", meanStd(stats, "small"), "0.01235 ± 0.00010"},
		{"one repetition has no std", meanStd(stats, "one"), "38.51"},
		{"missing metric", meanStd(stats, "absent"), "-"},
		{"non-finite", meanStd(stats, "nan"), "NaN ± +Inf"},
		{"scaled to ms", mean(stats, "small", 1e3), "12.35"},
		{"whole counts without decimals", count(stats, "count"), "64"},
		{"other counts with one", count(stats, "mid"), "185.9"},
		{"tokens per step: two decimals", fixed(stats, "count", 2), "64.00"},
		{"no negative zero", round(-0.00001, 2), "0.00"},
		{"at most six decimals", mean(stats, "neg0", 1), "-0.000010"},
		{"GiB", iec(17 << 30), "17.0 GiB"},
		{"MiB", iec(512 << 20), "512 MiB"},
		{"KiB", iec(1536), "1.50 KiB"},
		{"bytes", iec(100), "100 B"},
		{"none", iec(0), "-"},
		{"first line of an error", firstLine("a\nb", 10), "a…"},
		{"long error", firstLine("abcdefghij", 5), "abcd…"},
		{"short error", firstLine(" oom ", 5), "oom"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

// TestPeakMemory: the allocator's peak where there is one, else NVML's,
// else the process's peak resident memory, else the sum of allocations.
func TestPeakMemory(t *testing.T) {
	tests := []struct {
		name string
		m    bench.Memory
		want int64
	}{
		{"GPU allocator", bench.Memory{DevicePeak: 3, NVMLProcess: 4, ProcessPeak: 5}, 3},
		{"NVML only", bench.Memory{NVMLProcess: 4, ProcessPeak: 5}, 4},
		{"CPU", bench.Memory{ProcessPeak: 5, Weights: 1}, 5},
		{"allocations only", bench.Memory{Weights: 1, Cache: 2, Activations: 3, Workspace: 4}, 10},
	}
	for _, tt := range tests {
		if got := peakMemory(tt.m); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}

// raw_metrics.csv carries a record's energy note, and its prompts' mean
// length where they fall short of the cell's.
func TestCSVNoteAndPromptTokens(t *testing.T) {
	r := arRecord()
	r.EnergyNote = "the repetitions took 0.05 s together"
	r.Prompts = []bench.PromptRecord{{IDs: make([]int, 30)}, {IDs: make([]int, 36)}}
	rows := csvRows(t, []bench.Record{r})
	got := map[string]string{}
	for i, h := range rows[0] {
		got[h] = rows[1][i]
	}
	if got["energy_note"] != r.EnergyNote || got["prompt_tokens_mean"] != "33" || got["prompt_length"] != strconv.Itoa(r.Cell.PromptLen) {
		t.Errorf("energy_note %q, prompt_tokens_mean %q, prompt_length %q", got["energy_note"], got["prompt_tokens_mean"], got["prompt_length"])
	}
}

// TestSummaryRecordFields: records_summary.json keeps what a record says
// besides its prompts, outputs and repetitions (README: "its record
// without the prompts, generations and per-batch timings"): why a cell has
// no energy, which raw_metrics.csv and report.html show too, and the pause
// before it.
func TestSummaryRecordFields(t *testing.T) {
	r := diffRecord()
	r.EnergyNote = "the nvml energy counter, which moves every 100ms, needs 1s"
	r.PausedS = 30
	b, err := summaryBytes([]bench.Record{r, arRecord()})
	if err != nil {
		t.Fatal(err)
	}
	var sum []map[string]any
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if sum[0]["energy_note"] != r.EnergyNote || sum[0]["paused_s"] != 30.0 {
		t.Errorf("energy_note %v, paused_s %v; want the record's", sum[0]["energy_note"], sum[0]["paused_s"])
	}
	for _, k := range []string{"energy_note", "paused_s"} {
		if _, has := sum[1][k]; has {
			t.Errorf("%s without one in the record: %v", k, sum[1][k])
		}
	}
}

// TestCSVSettings: every decoding setting of a cell has its column, so
// that the rows of grids that differ only in classifier-free guidance or
// in sampling, merged in one folder, can be told apart (the table's
// decoder column names them: "cfg 1.5", "top-k 40 / top-p 0.9"); a setting
// that is off is empty.
func TestCSVSettings(t *testing.T) {
	cfg, sampled := diffRecord(), arRecord()
	cfg.Cell.CFGScale = 1.5
	sampled.Cell.Temperature, sampled.Cell.TopK, sampled.Cell.TopP = 0.7, 40, 0.9
	rows := csvRows(t, []bench.Record{cfg, sampled, arRecord()})
	got := make([]map[string]string, len(rows)-1)
	for i, row := range rows[1:] {
		got[i] = map[string]string{}
		for j, h := range rows[0] {
			if slices.Contains([]string{"cfg_scale", "temperature", "top_k", "top_p"}, h) {
				got[i][h] = row[j]
			}
		}
	}
	want := []map[string]string{
		{"cfg_scale": "1.5", "temperature": "0", "top_k": "", "top_p": ""},
		{"cfg_scale": "", "temperature": "0.7", "top_k": "40", "top_p": "0.9"},
		{"cfg_scale": "", "temperature": "0", "top_k": "", "top_p": ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
}

// TestCSVFailedPartial: a cell that failed in its second repetition keeps
// the first in its record (bench's runner appends each repetition as it
// ends), with the energy it measured; its row has no measurement, as a
// failed row has none, and the partial energy is not shown as the cell's.
func TestCSVFailedPartial(t *testing.T) {
	r := failedRecord()
	r.Reps = arRecord().Reps[:1] // 2 J, by NVML
	r.Prompts = arRecord().Prompts
	rows := csvRows(t, []bench.Record{r})
	if len(rows) != 2 || len(rows[1]) != len(rows[0]) {
		t.Fatalf("want a header and one row of its length: %q", rows)
	}
	for i, h := range rows[0] {
		if got := rows[1][i]; got != "" && !slices.Contains(cellColumns, h) {
			t.Errorf("failed cell: %s = %q, want it empty", h, got)
		}
	}
}

// raw_metrics.csv gives each pooled metric (bench.Record.Pooled) a column
// per field of its summary, TTFT, TPOT, ITL and latency first and any other
// after them, apart from its mean and std over repetitions; a record
// without one leaves them empty.
func TestCSVPooled(t *testing.T) {
	r := arRecord()
	r.Pooled = map[string]bench.Dist{
		"a_s":      {N: 7},
		bench.MITL: {N: 6, Mean: 1, Std: 2, Median: 3, P90: 4, P99: 5},
	}
	rows := csvRows(t, []bench.Record{r, diffRecord()})
	var pooled []string
	ar, diff := map[string]string{}, map[string]string{}
	for i, h := range rows[0] {
		if strings.Contains(h, "_pooled_") {
			pooled = append(pooled, h)
		}
		ar[h], diff[h] = rows[1][i], rows[2][i]
	}
	var want []string
	for _, m := range []string{"ttft_s", "tpot_s", "itl_s", "latency_s", "a_s"} {
		for _, c := range []string{"n", "mean", "std", "median", "p90", "p99"} {
			want = append(want, m+"_pooled_"+c)
		}
	}
	if d := cmp.Diff(want, pooled); d != "" {
		t.Fatalf("pooled columns (-want +got):\n%s", d)
	}
	for i, v := range []string{"6", "1", "2", "3", "4", "5"} {
		if h := want[12+i]; ar[h] != v {
			t.Errorf("%s = %q, want %q", h, ar[h], v)
		}
	}
	if ar["a_s_pooled_n"] != "7" {
		t.Errorf("a_s_pooled_n = %q, want 7", ar["a_s_pooled_n"])
	}
	for _, h := range want[:12] {
		if ar[h] != "" || diff[h] != "" {
			t.Errorf("%s = %q, %q, want empty where the record has no such pool", h, ar[h], diff[h])
		}
	}
	if diff["latency_s_pooled_n"] != "2" || diff["itl_s_pooled_n"] != "" {
		t.Errorf("diffusion record: latency_s_pooled_n %q, itl_s_pooled_n %q, want 2 and empty", diff["latency_s_pooled_n"], diff["itl_s_pooled_n"])
	}
	if ar["itl_s_mean"] != "0.01" {
		t.Errorf("itl_s_mean = %q, want the mean over repetitions, 0.01", ar["itl_s_mean"])
	}
}

// A cell measured on two kinds of GPU is one key with two records, of which
// every output keeps one: Overwritten names it and both machines. The same
// cell measured again on the same kind (a failed attempt, a later success)
// and a failure elsewhere are not counted.
func TestOverwritten(t *testing.T) {
	h200 := arRecord()
	h200.Started = t0.Add(time.Hour)
	h200.Env.GPU = &device.GPU{Name: "NVIDIA H200"}
	again := diffRecord()
	again.Started = t0.Add(time.Hour)
	elsewhere := thrRecord()
	elsewhere.Status, elsewhere.Env.GPU = "failed", &device.GPU{Name: "NVIDIA H200"}
	cells, machines := Overwritten(append(fixture(), h200, again, elsewhere))
	want := []string{"NVIDIA H100 80GB HBM3 (cuda)", "NVIDIA H200 (cuda)"}
	if cells != 1 || !slices.Equal(machines, want) {
		t.Errorf("Overwritten: %d cells on %q, want 1 on %q", cells, machines, want)
	}
	if cells, machines := Overwritten(fixture()); cells != 0 || machines != nil {
		t.Errorf("Overwritten of one machine's records: %d cells on %q, want none", cells, machines)
	}
}

// Records of one cell under two keys (a grid's repetitions changed between
// two runs into one folder) are two rows that read the same: Repeated
// counts the cell once; one key's records, however many, are one row.
func TestRepeated(t *testing.T) {
	if n := Repeated(fixture()); n != 0 {
		t.Errorf("Repeated of one run's records: %d, want 0", n)
	}
	other := arRecord()
	other.Key = "ar1-five-repetitions"
	if n := Repeated(append(fixture(), other, arRecord())); n != 1 {
		t.Errorf("Repeated with the AR cell under a second key: %d, want 1", n)
	}
}

// csvRows is raw_metrics.csv of recs, parsed: its header, then a row a cell.
func csvRows(t *testing.T, recs []bench.Record) [][]string {
	t.Helper()
	b, err := csvBytes(recs)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
