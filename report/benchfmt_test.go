package report

import (
	"bufio"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"dllmbench/bench"
)

// benchResult is one result line as golang.org/x/perf/benchfmt reads it.
type benchResult struct {
	config map[string]string // file configuration in effect
	base   string            // name before the first '/', "Benchmark" removed
	parts  map[string]string // sub-benchmark key=value parts
	procs  int               // the "-N" suffix
	iters  int
	values map[string]float64
}

// parseBenchfmt reads text by the rules of the Go benchmark format as
// benchfmt implements them (reader.go, result.go), stricter where benchfmt
// would silently ignore a line: every non-blank line must be a result, a
// configuration or a Unit line.
//   - A line starting "Benchmark" is a result: fields split at white space;
//     the name, an integer iteration count, then value–unit pairs, at least
//     one; values parse as floats.
//   - "key: value": the key starts with a lower-case letter and holds no
//     space or upper-case letter; one or more spaces or tabs follow the
//     colon, or nothing (which deletes the key).
//   - "Unit <unit> key=value…" is unit metadata, returned per unit.
//   - "--- FAIL: Benchmark…", and the lines indented by four spaces under
//     it, are `go test`'s report of a failed benchmark, which benchfmt
//     skips.
//
// A name is split as benchfmt's Name.Parts does: a trailing "-digits" is
// GOMAXPROCS, and '/' starts each sub-benchmark part.
func parseBenchfmt(text string) (results []benchResult, units map[string]map[string]string, err error) {
	config := map[string]string{}
	units = map[string]map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	failure := false // in a failed benchmark's report
	for line := 1; sc.Scan(); line++ {
		l := sc.Text()
		fail := func(format string, args ...any) error {
			return fmt.Errorf("line %d %q: %s", line, l, fmt.Sprintf(format, args...))
		}
		if strings.HasPrefix(l, "--- FAIL: Benchmark") || failure && strings.HasPrefix(l, "    ") {
			failure = true
			continue
		}
		failure = false
		switch {
		case strings.TrimSpace(l) == "":
		case strings.HasPrefix(l, "Benchmark"):
			f := strings.Fields(l[len("Benchmark"):])
			if len(f) < 4 || len(f)%2 != 0 {
				return nil, nil, fail("want name, iterations and value–unit pairs")
			}
			r := benchResult{config: map[string]string{}, parts: map[string]string{}, values: map[string]float64{}}
			for k, v := range config {
				r.config[k] = v
			}
			if r.iters, err = strconv.Atoi(f[1]); err != nil {
				return nil, nil, fail("iterations: %v", err)
			}
			name := f[0]
			if i := strings.LastIndexByte(name, '-'); i >= 0 && i < len(name)-1 && strings.Trim(name[i+1:], "0123456789") == "" {
				r.procs, _ = strconv.Atoi(name[i+1:])
				name = name[:i]
			}
			segs := strings.Split(name, "/")
			r.base = segs[0]
			for _, s := range segs[1:] {
				k, v, found := strings.Cut(s, "=")
				if !found || k == "" || v == "" {
					return nil, nil, fail("name part %q is not key=value", s)
				}
				if _, dup := r.parts[k]; dup {
					return nil, nil, fail("name key %q twice", k)
				}
				r.parts[k] = v
			}
			for i := 2; i < len(f); i += 2 {
				v, err := strconv.ParseFloat(f[i], 64)
				if err != nil {
					return nil, nil, fail("value: %v", err)
				}
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, nil, fail("non-finite value %s", f[i])
				}
				if _, dup := r.values[f[i+1]]; dup {
					return nil, nil, fail("unit %s twice", f[i+1])
				}
				r.values[f[i+1]] = v
			}
			results = append(results, r)
		case strings.HasPrefix(l, "Unit "):
			f := strings.Fields(l)
			if len(f) < 3 {
				return nil, nil, fail("unit line without metadata")
			}
			if units[f[1]] == nil {
				units[f[1]] = map[string]string{}
			}
			for _, kv := range f[2:] {
				k, v, found := strings.Cut(kv, "=")
				if !found || k == "" {
					return nil, nil, fail("want key=value")
				}
				units[f[1]][k] = v
			}
		default:
			key, val, found := strings.Cut(l, ":")
			if !found || key == "" || !unicode.IsLower([]rune(key)[0]) || strings.IndexFunc(key, func(r rune) bool {
				return unicode.IsSpace(r) || unicode.IsUpper(r)
			}) >= 0 {
				return nil, nil, fail("neither a result nor a configuration line")
			}
			if val != "" && val[0] != ' ' && val[0] != '\t' {
				return nil, nil, fail("no space after the colon")
			}
			if val = strings.TrimLeft(val, " \t"); val == "" {
				delete(config, key)
			} else {
				config[key] = val
			}
		}
	}
	return results, units, sc.Err()
}

func TestBenchTxt(t *testing.T) {
	b, err := benchBytes(sortRecords(fixture()))
	if err != nil {
		t.Fatal(err)
	}
	results, units, err := parseBenchfmt(string(b))
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	// Every unit we write says which way is better: benchstat knows only
	// its own (ns/op, B/op, …).
	for _, u := range []string{"tok/s", "useful-tok/s", "device-latency-s", "ttft-s", "tpot-s", "step-s", "nfe", "J/tok"} {
		if units[u]["better"] == "" {
			t.Errorf("no Unit line for %s", u)
		}
	}
	// Two repetitions of the AR and the 64-step cells; the threshold cell's
	// first repetition measured nothing finite but its NFE, its second all;
	// the failed cell none.
	if len(results) != 6 {
		t.Fatalf("got %d results, want 6:\n%s", len(results), b)
	}
	byName := map[string][]benchResult{}
	for _, r := range results {
		if r.base != "Cell" || r.iters != 1 {
			t.Errorf("result %+v: want base Cell and 1 iteration", r)
		}
		byName[benchName(cellOf(r))] = append(byName[benchName(cellOf(r))], r)
	}
	tests := []struct {
		name   string // a row's case
		cell   string
		rep    int
		config map[string]string
		values map[string]float64
	}{
		{
			// TTFT 20 ms, 3 more tokens in 30 ms: TPOT 10 ms; 2 J for 4
			// tokens; 50.2 ms by the GPU's clock.
			name: "autoregressive, first repetition",
			cell: "Cell/model=llama/b=1/p=128/g=4", rep: 0,
			config: map[string]string{"goos": "linux", "goarch": "amd64", "pkg": "dllmbench",
				"cpu": "Intel(R) Xeon(R) Platinum 8480+", "backend": "cuda", "device": "NVIDIA H100 80GB HBM3"},
			values: map[string]float64{"ns/op": 5e7, "tok/s": 80, "useful-tok/s": 40, "device-latency-s": 0.0502,
				"ttft-s": 0.02, "tpot-s": 0.01, "J/tok": 0.5, "sm-MHz": 1650},
		},
		{
			// A batch of one whose latency is 50 ms in a repetition of
			// 62.5: ns/op is the batch's (as the records' latency_s),
			// tok/s the repetition's; 3 J for 4 tokens; the SM clock at
			// 1800 MHz.
			name: "autoregressive, second repetition",
			cell: "Cell/model=llama/b=1/p=128/g=4", rep: 1,
			values: map[string]float64{"ns/op": 5e7, "tok/s": 64, "useful-tok/s": 32, "device-latency-s": 0.0502,
				"ttft-s": 0.02, "tpot-s": 0.01, "J/tok": 0.75, "sm-MHz": 1800},
		},
		{
			// Four calls in 100 ms: 25 ms each; no energy counter.
			name: "diffusion with fixed steps",
			cell: "Cell/model=llada/b=1/p=128/g=8/steps=64/blk=32/cache=dual", rep: 0,
			values: map[string]float64{"ns/op": 1e8, "tok/s": 80, "useful-tok/s": 80, "step-s": 0.025, "nfe": 4},
		},
		{
			// Zero time: no ns/op (benchstat would show 0 ns/op apart from
			// sec/op), infinite rates and a NaN energy are left out, the
			// step time of 0 s and the NFE stay.
			name: "diffusion with a threshold, broken timer",
			cell: "Cell/model=llada/b=1/p=128/g=8/thr=0.9/blk=8/cache=none", rep: 0,
			config: map[string]string{"goos": "linux", "goarch": "arm64", "pkg": "dllmbench",
				"cpu": "Neoverse-V2", "backend": "cpu", "device": "cpu"},
			values: map[string]float64{"step-s": 0, "nfe": 1},
		},
		{
			// Two calls in 2 s.
			name: "diffusion with a threshold, second repetition",
			cell: "Cell/model=llada/b=1/p=128/g=8/thr=0.9/blk=8/cache=none", rep: 1,
			values: map[string]float64{"ns/op": 2e9, "tok/s": 4, "useful-tok/s": 4, "step-s": 1, "nfe": 2},
		},
	}
	for _, tt := range tests {
		rs := byName[tt.cell]
		if tt.rep >= len(rs) {
			t.Errorf("%s: %s has %d results", tt.name, tt.cell, len(rs))
			continue
		}
		r := rs[tt.rep]
		if diff := cmp.Diff(tt.values, r.values); diff != "" {
			t.Errorf("%s: values (-want +got):\n%s", tt.name, diff)
		}
		if tt.config != nil {
			if diff := cmp.Diff(tt.config, r.config); diff != "" {
				t.Errorf("%s: configuration (-want +got):\n%s", tt.name, diff)
			}
		}
		if want := map[string]int{"Cell/model=llama/b=1/p=128/g=4": 16}[tt.cell]; want != 0 && r.procs != want {
			t.Errorf("%s: GOMAXPROCS suffix %d, want %d", tt.name, r.procs, want)
		}
	}
}

// TestBenchTxtFailed: a failed cell has no result line, but is not
// dropped in silence: it ends the file as `go test` reports a failed
// benchmark, its error under it, which benchfmt (and so benchstat) skips.
func TestBenchTxtFailed(t *testing.T) {
	b, err := benchBytes(sortRecords(fixture()))
	if err != nil {
		t.Fatal(err)
	}
	want := "\n\n--- FAIL: BenchmarkCell/model=llada/b=64/p=128/g=8/steps=8/blk=8/cache=prefix-16\n" +
		"    cuda: out of memory | allocating 2.0 GiB\n    at decode.Diffuse\n"
	if !strings.HasSuffix(string(b), want) {
		t.Errorf("bench.txt does not end with the failed cell %q:\n%s", want, b)
	}
	if strings.Count(string(b), "--- FAIL") != 1 {
		t.Errorf("want one failure (the older attempt is gone):\n%s", b)
	}
	// Only failures: no configuration or Unit lines, and nothing benchfmt
	// reads as a result.
	b, err = benchBytes([]bench.Record{failedRecord()})
	if err != nil {
		t.Fatal(err)
	}
	if results, _, err := parseBenchfmt(string(b)); err != nil || len(results) != 0 || !strings.HasPrefix(string(b), "--- FAIL: ") {
		t.Errorf("results %v, error %v:\n%s", results, err, b)
	}
}

// TestBenchTxtPromptMean: a cell whose prompts' mean length is off its
// prompt length by the table's rule (bench.PromptLengthOff) keeps its name,
// which benchstat matches between runs, and carries the mean as a
// "tok/prompt" value on each of its lines; benchstat is told the count is
// exact.
func TestBenchTxtPromptMean(t *testing.T) {
	tests := []struct {
		name    string
		length  int
		prompts []int // each prompt's tokens
		want    float64
		has     bool
	}{
		{"as asked", 128, []int{128}, 0, false},
		// A WikiText cut may fall a few tokens short (a split character).
		{"within 10%", 128, []int{120, 128}, 0, false},
		// A prompt file's prompts, kept whole.
		{"prompt file shorter than asked", 600, []int{30, 36}, 33, true},
		{"longer than asked", 100, []int{111, 112}, 111.5, true},
	}
	var recs []bench.Record
	for i, tt := range tests {
		r := arRecord()
		r.Key = fmt.Sprint("ar", i)
		r.Cell.PromptLen = tt.length
		r.Cell.GenLen = 4 + i // one name per row
		r.Prompts = nil
		for _, n := range tt.prompts {
			r.Prompts = append(r.Prompts, bench.PromptRecord{IDs: tokenIDs(n)})
		}
		recs = append(recs, r)
	}
	b, err := benchBytes(sortRecords(recs))
	if err != nil {
		t.Fatal(err)
	}
	results, units, err := parseBenchfmt(string(b))
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if diff := cmp.Diff(map[string]string{"assume": "exact"}, units["tok/prompt"]); diff != "" {
		t.Errorf("Unit tok/prompt (-want +got):\n%s", diff)
	}
	for i, tt := range tests {
		n := 0
		for _, r := range results {
			if r.parts["g"] != strconv.Itoa(4+i) {
				continue
			}
			n++
			if want := strconv.Itoa(tt.length); r.parts["p"] != want {
				t.Errorf("%s: name has p=%s, want p=%s", tt.name, r.parts["p"], want)
			}
			got, has := r.values["tok/prompt"]
			if has != tt.has || got != tt.want {
				t.Errorf("%s: tok/prompt %v (present %v), want %v (present %v)", tt.name, got, has, tt.want, tt.has)
			}
			// The other values are the cell's as before.
			if r.values["tok/s"] == 0 || r.values["ns/op"] != 5e7 {
				t.Errorf("%s: values %v", tt.name, r.values)
			}
		}
		if n != 2 { // a line per repetition
			t.Errorf("%s: %d lines, want 2:\n%s", tt.name, n, b)
		}
	}
}

// cellOf rebuilds the naming fields of a cell from a parsed name, to look
// results up by benchName.
func cellOf(r benchResult) bench.Cell {
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	atof := func(s string) float64 { x, _ := strconv.ParseFloat(s, 64); return x }
	c := bench.Cell{Model: r.parts["model"], Family: "llama", Batch: atoi(r.parts["b"]), PromptLen: atoi(r.parts["p"]),
		GenLen: atoi(r.parts["g"]), Steps: atoi(r.parts["steps"]), Threshold: atof(r.parts["thr"]),
		Factor: atof(r.parts["fac"]), BlockLen: atoi(r.parts["blk"]), Cache: r.parts["cache"]}
	if _, ok := r.parts["blk"]; ok {
		c.Family = "llada"
	}
	return c
}

func TestBenchName(t *testing.T) {
	tests := []struct {
		name string
		cell bench.Cell
		want string
	}{
		// The example of the task: benchstat's key=value sub-benchmark parts.
		{"fixed steps", bench.Cell{Model: "llada", Family: "llada", Batch: 1, PromptLen: 128, GenLen: 128, Steps: 64,
			BlockLen: 32, Remasking: "low_confidence", Cache: "dual", Precision: "bf16"},
			"Cell/model=llada/b=1/p=128/g=128/steps=64/blk=32/cache=dual"},
		// Autoregressive cells have no decoder parts when greedy.
		{"greedy AR", bench.Cell{Model: "llama", Family: "llama", Batch: 8, PromptLen: 512, GenLen: 256},
			"Cell/model=llama/b=8/p=512/g=256"},
		// Sampling settings and a precision other than bf16 are part of the name.
		{"sampled AR in fp16", bench.Cell{Model: "llama", Family: "llama", Batch: 1, PromptLen: 1, GenLen: 2,
			Temperature: 0.7, TopK: 40, TopP: 0.9, Precision: "fp16"},
			"Cell/model=llama/b=1/p=1/g=2/temp=0.7/topk=40/topp=0.9/prec=fp16"},
		// Threshold, random remasking and CFG; a model label with a space,
		// a slash and an '=' cannot split the name.
		{"odd label", bench.Cell{Model: "my model/v=2", Family: "llada", Batch: 1, PromptLen: 1, GenLen: 32,
			Factor: 1, BlockLen: 32, Remasking: "random", Cache: "none", CFGScale: 1.5},
			"Cell/model=my_model_v_2/b=1/p=1/g=32/fac=1/blk=32/cache=none/remask=random/cfg=1.5"},
		// An empty label still makes a key=value part.
		{"no label", bench.Cell{Family: "llama", Batch: 1, PromptLen: 1, GenLen: 1}, "Cell/model=_/b=1/p=1/g=1"},
	}
	for _, tt := range tests {
		if got := benchName(tt.cell); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
		// Every name parses back into its parts.
		line := "Benchmark" + benchName(tt.cell) + "-4 1 1 ns/op"
		if _, _, err := parseBenchfmt(line); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestBenchFloat(t *testing.T) {
	tests := []struct {
		x    float64
		want string
	}{
		{5e7, "50000000"},                // ns/op: plain digits
		{1234567890123, "1234570000000"}, // six significant digits
		{0.1 + 0.2, "0.3"},               // no binary noise
		{1.5e-7, "0.00000015"},           // small, still no exponent
		{0, "0"},
	}
	for _, tt := range tests {
		if got := benchFloat(tt.x); got != tt.want {
			t.Errorf("benchFloat(%g) = %s, want %s", tt.x, got, tt.want)
		}
	}
}

// TestBenchConfigChanges checks that configuration lines are repeated
// when the machine changes and that an empty value clears a key.
func TestBenchConfigChanges(t *testing.T) {
	a, b := arRecord(), arRecord()
	b.Key, b.Env.CPU, b.Env.Device = "other", "AMD EPYC 9654", ""
	out, err := benchBytes(sortRecords([]bench.Record{a, b}))
	if err != nil {
		t.Fatal(err)
	}
	results, _, err := parseBenchfmt(string(out))
	if err != nil {
		t.Fatal(err)
	}
	cpus := map[string]int{}
	for _, r := range results {
		cpus[r.config["cpu"]+"|"+r.config["device"]]++
	}
	want := map[string]int{"AMD EPYC 9654|": 2, "Intel(R) Xeon(R) Platinum 8480+|NVIDIA H100 80GB HBM3": 2}
	if diff := cmp.Diff(want, cpus); diff != "" {
		t.Errorf("results per machine (-want +got):\n%s\n%s", diff, out)
	}
}

// FuzzBenchName: whatever a grid names its model, the result line parses
// and the model's part is the label made safe.
func FuzzBenchName(f *testing.F) {
	f.Add("llada", 0.9, "Intel(R) Xeon(R)")
	f.Add("a b/c=d-8", 0.0, "")
	f.Add("\xff\u2028x", 1e-300, "cpu\nname")
	f.Fuzz(func(t *testing.T, label string, thr float64, cpu string) {
		r := diffRecord()
		r.Cell.Model, r.Cell.Threshold, r.Env.CPU = label, thr, cpu
		b, err := benchBytes([]bench.Record{r})
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(b) {
			t.Fatalf("not UTF-8: %q", b)
		}
		results, _, err := parseBenchfmt(string(b))
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		if len(results) != len(r.Reps) {
			t.Fatalf("got %d results, want %d:\n%s", len(results), len(r.Reps), b)
		}
		if got := results[0].parts["model"]; got != nameValue(label) || results[0].procs != 16 {
			t.Errorf("model part %q and procs %d, want %q and 16", got, results[0].procs, nameValue(label))
		}
	})
}

// A repetition of one generated token has no tpot-s, as its record has no
// tpot_s: 0 s would read as a measurement to benchstat.
func TestRepValuesOneToken(t *testing.T) {
	rp := bench.Rep{TotalS: 0.02, TokensPerS: 100, UsefulTokensPerS: 100, Batches: []bench.BatchMeasure{
		{Rows: 1, LatencyS: 0.01, TTFTS: 0.01, TokenTimesS: []float64{0.01}, NFE: 1, Generated: 1, Useful: 1},
		{Rows: 1, LatencyS: 0.01, TTFTS: 0.01, TokenTimesS: []float64{0.01}, NFE: 1, Generated: 1, Useful: 1},
	}}
	for _, v := range repValues(false, rp) {
		if v.unit == "tpot-s" {
			t.Errorf("tpot-s %g for one token per sequence, want none", v.value)
		}
	}
}
