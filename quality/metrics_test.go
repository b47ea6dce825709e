package quality

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"dllmbench/bench"
	"dllmbench/prompts"
)

func sampleMetrics() *Metrics {
	nan := math.NaN()
	return &Metrics{
		Schema: MetricsSchema, Grids: []string{"default"},
		Judge:     &JudgeInfo{ID: "builtin:demo-llama", Dir: "/c/demo-llama", Arch: "LlamaForCausalLM", ConfigSHA: "ab12", Backend: "cpu"},
		Bootstrap: BootstrapInfo{Resamples: 1000, Level: 0.95, Seed: 0},
		Task:      "gsm8k.jsonl", Failed: 1,
		Cells: []CellMetrics{{
			Key: "k1", Grid: "default", Name: "demo-llada b4 p32 g32 s4 blk32 none", Prompts: 3,
			Cell: bench.Cell{Model: "demo-llada", ModelID: "builtin:demo-llada", Family: "llada", Batch: 4, PromptLen: 32,
				GenLen: 32, Steps: 4, BlockLen: 32, Remasking: "low_confidence", Cache: "none", Threshold: 0.9},
			Cost: Cost{NFE: 4, TokensPerStep: 8, LatencyS: 0.0125, TokensPerS: 1024.5, UsefulPerS: 1000,
				JPerToken: Number(nan)}, // no energy counter
			Perplexity: &Perplexity{PPL: Interval{546.7, 350.2, 881.4}, NLL: 120.5, Tokens: 640, Sequences: 20, Empty: 1, Truncated: 2},
			EOSCut:     true,
			Metrics: map[string]Interval{
				MJudgePPL: {546.7, 350.2, 881.4}, MEntropy: {3.77, 3.6, 3.9}, MBLEU: {12.5, 8, 17.25},
				"distinct_1": {0.5, 0.4, 0.6},
				"distinct_4": {nan, nan, nan}, // sequences too short for 4-grams
				MRepetition:  {0.1, math.Inf(1), nan},
				MTaskStrict:  {0.25, 0, 0.5},
			},
			Notes: []string{"a note"},
		}, {
			Key: "k2", Grid: "default", Name: "demo-llama b1 p32 g32",
			Cell: bench.Cell{Model: "demo-llama", ModelID: "builtin:demo-llama", Family: "llama", Batch: 1, PromptLen: 32, GenLen: 32},
			Cost: Cost{NFE: Number(nan), TokensPerStep: Number(nan), LatencyS: 1, TokensPerS: 2, UsefulPerS: 3, JPerToken: 0.5},
		}},
	}
}

// nanEqual compares floats with NaN equal to NaN, Number included.
var nanEqual = cmp.Options{cmpopts.EquateNaNs(), cmp.Comparer(func(a, b Number) bool {
	return a == b || math.IsNaN(float64(a)) && math.IsNaN(float64(b))
})}

// quality_metrics.json reads back as written, NaN and ±Inf as null (read
// back as NaN), and writing is reproducible byte for byte.
func TestMetricsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := sampleMetrics()
	path, err := WriteMetrics(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "raw_data", "quality_metrics.json"); path != want {
		t.Errorf("written to %s, want %s", path, want)
	}
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(first, []byte(`"energy_j_per_token": null`)) || !bytes.Contains(first, []byte(`"lo": null`)) {
		t.Errorf("non-finite numbers are not null:\n%s", first)
	}
	got, err := ReadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleMetrics()
	want.Cells[0].Metrics[MRepetition] = Interval{0.1, math.NaN(), math.NaN()} // +Inf was written as null
	if d := cmp.Diff(want, got, nanEqual); d != "" {
		t.Errorf("read back (-want +got):\n%s", d)
	}
	if _, err := WriteMetrics(dir, got); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(path)
	if !bytes.Equal(first, again) {
		t.Errorf("rewriting what was read changed the file:\n%s\n---\n%s", first, again)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("raw_data holds %d entries, want only the metrics (no temporary file left)", len(entries))
	}
	// A newer schema is refused.
	newer := bytes.Replace(first, []byte(`"schema_version": 1`), []byte(`"schema_version": 99`), 1)
	if err := os.WriteFile(path, newer, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMetrics(path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("schema 99: %v", err)
	}
}

// record is a measured cell with hand-made generations.
func record(key, grid string, c bench.Cell, outputs [][]int, texts, refs []string) bench.Record {
	r := bench.Record{Key: key, Grid: grid, Cell: c, Status: "ok", Outputs: outputs, Texts: texts,
		Model: bench.ModelInfo{ID: c.ModelID, ConfigSHA: "cfg-" + c.Model},
		Stats: map[string]bench.Stat{bench.MNFE: {Mean: 16, N: 2}, bench.MTokensPerS: {Mean: 250, N: 2},
			bench.MLatency: {Mean: 0.5, N: 2}, bench.MUsefulPerS: {Mean: 200, N: 2}}}
	for i := range outputs {
		r.Prompts = append(r.Prompts, bench.PromptRecord{Text: "Question: q" + string(rune('a'+i)) + "?\nAnswer:", Reference: refs[i]})
	}
	return r
}

// Compute without a judge: model-free metrics of ok cells only, in a stable
// order, with cost from the statistics and the notes of what is missing.
func TestComputeModelFree(t *testing.T) {
	t.Setenv("HF_HOME", t.TempDir()) // the records' models are nowhere: no EOS ids
	llada := bench.Cell{Model: "m-llada", ModelID: "nowhere/m-llada", Family: "llada", Batch: 2, GenLen: 4, BlockLen: 4, Cache: "none"}
	s8, s2 := llada, llada
	s8.Steps, s2.Steps = 8, 2
	outs := [][]int{{1, 2, 3, 4}, {5, 5, 5, 5}}
	texts := []string{"the cat sat down", "#### 4"}
	refs := []string{"the cat sat down", "it is 4 #### 4"}
	failed := record("f", "g2", s2, nil, nil, nil)
	failed.Status = "failed"
	recs := []bench.Record{
		record("b", "g1", s8, outs, texts, refs),
		failed,
		record("a", "g1", s2, outs, texts, []string{"", ""}), // no references
	}
	task := filepath.Join(t.TempDir(), "task.jsonl")
	os.WriteFile(task, []byte(`{"question": "qa?", "answer": "x\n#### 7"}`+"\n"+`{"question": "qb?", "answer": "y\n#### 4"}`+"\n"), 0o644)
	m, err := Compute(context.Background(), recs, Options{Task: task})
	if err != nil {
		t.Fatal(err)
	}
	if m.Judge != nil || !strings.Contains(m.JudgeNote, "no causal model") {
		t.Errorf("judge %+v, note %q", m.Judge, m.JudgeNote)
	}
	if m.Failed != 1 || len(m.Cells) != 2 || !cmp.Equal(m.Grids, []string{"g1", "g2"}) {
		t.Fatalf("failed %d, %d cells, grids %v", m.Failed, len(m.Cells), m.Grids)
	}
	// Steps 2 before steps 8, whatever the records' order.
	if m.Cells[0].Key != "a" || m.Cells[1].Key != "b" {
		t.Errorf("order %s, %s; want a, b", m.Cells[0].Key, m.Cells[1].Key)
	}
	a, b := m.Cells[0], m.Cells[1]
	for _, name := range []string{MBLEU, MROUGEL} {
		if _, has := a.Metrics[name]; has {
			t.Errorf("a has %s without references", name)
		}
	}
	if _, has := b.Metrics[MJudgePPL]; has || b.Perplexity != nil {
		t.Errorf("perplexity %v: want none", b.Perplexity)
	}
	// Token metrics count the texts' 13a words, not the ids (which would
	// give 1 bit and 5/8): "the cat sat down" and "# # # # 4". Unigram
	// entropy: 2 bits and H(4/5, 1/5); distinct-1: 6 words of 9.
	h := -(0.8*math.Log2(0.8) + 0.2*math.Log2(0.2))
	if e, d := b.Metrics[MEntropy].Value, b.Metrics[MDistinct+"1"].Value; math.Abs(e-(2+h)/2) > 1e-15 || d != 6.0/9 ||
		b.TokenUnit != TokenWords || !b.EOSCut {
		t.Errorf("entropy %v, distinct-1 %v over %q (EOS cut %v); want %v, 6/9 over words, cut", e, d, b.TokenUnit, b.EOSCut, (2+h)/2)
	}
	// Mean ROUGE-L F: 1 for the identical pair, ROUGEL's own for the other.
	if got, want := b.Metrics[MROUGEL].Value, (1+ROUGEL(texts[1], refs[1]).F)/2; math.Abs(got-want) > 1e-15 {
		t.Errorf("ROUGE-L %v, want %v", got, want)
	}
	if got := b.Metrics[MBLEU]; got != ScoreTexts(texts, refs, Bootstrap{}).BLEU {
		t.Errorf("BLEU %+v, want ScoreTexts'", got)
	}
	// Task: qb's answer 4 is right, qa's (7) is not.
	if s, f := b.Metrics[MTaskStrict].Value, b.Metrics[MTaskFlexible].Value; s != 0.5 || f != 0.5 {
		t.Errorf("task accuracy %v, %v; want 0.5", s, f)
	}
	if len(b.Metrics) != 10 {
		t.Errorf("metrics %v: want judge-free ten", b.Metrics)
	}
	// The file defines each metric its cells have, and no other.
	if got, want := slices.Sorted(maps.Keys(m.Definitions)), slices.Sorted(maps.Keys(b.Metrics)); !cmp.Equal(got, want) {
		t.Errorf("definitions of %v, want of %v", got, want)
	}
	want := Cost{NFE: 16, TokensPerStep: Number(math.NaN()), LatencyS: 0.5, TokensPerS: 250, UsefulPerS: 200,
		JPerToken: Number(math.NaN())}
	if d := cmp.Diff(want, b.Cost, nanEqual); d != "" {
		t.Errorf("cost (-want +got):\n%s", d)
	}
	if b.ModelConfigSHA != "cfg-m-llada" || b.Grid != "g1" || b.Prompts != 2 {
		t.Errorf("cell identity %q %q %d", b.ModelConfigSHA, b.Grid, b.Prompts)
	}
	if !strings.Contains(strings.Join(a.Notes, ";"), "reference") {
		t.Errorf("notes of a: %q", a.Notes)
	}

	// Without decoded texts the token metrics count the model's ids, whole
	// outputs where its config (the EOS ids) is nowhere: log2 4 = 2 bits and
	// 0 bits; distinct-1 5/8; and say so.
	m, err = Compute(context.Background(), []bench.Record{record("c", "g1", s8, outs, nil, refs)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := m.Cells[0]
	if e, d := c.Metrics[MEntropy].Value, c.Metrics[MDistinct+"1"].Value; e != 1 || d != 5.0/8 || c.TokenUnit != TokenIDs || c.EOSCut {
		t.Errorf("without texts: entropy %v, distinct-1 %v over %q (EOS cut %v); want 1, 5/8 over ids, not cut", e, d, c.TokenUnit, c.EOSCut)
	}
	if notes := strings.Join(c.Notes, ";"); !strings.Contains(notes, "token metrics over the model's token ids") || !strings.Contains(notes, "EOS included") {
		t.Errorf("notes without texts: %q", notes)
	}
}

func TestMatchProblems(t *testing.T) {
	probs := []prompts.Problem{{Question: "What is 2+2?", Answer: "x\n#### 4"}, {Question: "And 3+3?", Answer: "y\n#### 6"}}
	few, _ := prompts.FewShot(probs, 1, "And 3+3?")
	ps := []bench.PromptRecord{
		{Text: "What is 2+2?"}, // the question itself
		{Text: few},            // a few-shot prompt ending in it
		{Text: "unrelated", Reference: "y\n#### 6"}, // its reference is the answer
		{Text: "unrelated"},                         // no match
	}
	got, missing := matchProblems(ps, probs)
	if missing != 1 || got[0] != probs[0] || got[1] != probs[1] || got[2] != probs[1] {
		t.Errorf("matched %v, %d missing", got, missing)
	}
}

// A run cuts a reference longer than gen_length to its first tokens, so a
// prompt whose reference is the start of one problem's answer asks that
// problem; the start of two answers asks neither.
func TestMatchProblemsCutReference(t *testing.T) {
	probs := []prompts.Problem{{Question: "q1", Answer: "She has 3 apples.\n#### 3"}, {Question: "q2", Answer: "She has 30 pears.\n#### 30"}, {Question: "q3", Answer: "He runs.\n#### 1"}}
	ps := []bench.PromptRecord{
		{Text: "Q: q2\nA:", Reference: "She has 30"}, // the start of q2's answer alone
		{Text: "Q: q3\nA:", Reference: "He runs."},   // of q3's
		{Text: "Q: q1\nA:", Reference: "She has 3"},  // of q1's and q2's: neither
	}
	got, missing := matchProblems(ps, probs)
	if want := []prompts.Problem{probs[1], probs[2], {}}; missing != 1 || !cmp.Equal(got, want) {
		t.Errorf("matched %v, %d missing; want %v, 1 missing", got, missing, want)
	}
}

// A cancelled Compute returns the context's error and no metrics: cancelled
// before it starts, and cancelled in the middle of bootstraps that would
// otherwise run for minutes (as `dllmbench quality --resamples 20000000`
// did, deaf to Ctrl-C).
func TestComputeCancelled(t *testing.T) {
	t.Setenv("HF_HOME", t.TempDir()) // no model config: no EOS lookup
	c := bench.Cell{Model: "m-llada", ModelID: "nowhere/m-llada", Family: "llada", Batch: 2, GenLen: 4, BlockLen: 4, Cache: "none", Steps: 2}
	// 200 prompts make each resample cost microseconds.
	var outs [][]int
	var texts, refs []string
	for i := range 200 {
		outs = append(outs, []int{i, i + 1, i + 2, i})
		texts, refs = append(texts, "the cat sat on the mat"), append(refs, "a cat sat on a mat")
	}
	recs := []bench.Record{record("a", "g", c, outs, texts, refs), record("b", "g", c, outs, texts, refs)}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if m, err := Compute(ctx, recs, Options{Judge: NoJudge}); !errors.Is(err, context.Canceled) || m != nil {
		t.Errorf("cancelled before the start: %v, %v; want no metrics and context.Canceled", m, err)
	}

	// A million resamples of 200 items per interval, about ten intervals a
	// cell: tens of seconds; the cancel comes 50 ms in.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(50*time.Millisecond, cancel)
	type result struct {
		m   *Metrics
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		m, err := Compute(ctx, recs, Options{Judge: NoJudge, Bootstrap: Bootstrap{Resamples: 1_000_000}})
		done <- result{m, err}
	}()
	select {
	case r := <-done:
		if !errors.Is(r.err, context.Canceled) || r.m != nil {
			t.Errorf("cancelled in the middle: %v, %v; want no metrics and context.Canceled", r.m, r.err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("returned %v after the start, %v after the cancel", d, d-50*time.Millisecond)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Compute still running 10 s after its context was cancelled")
	}
}

// Each metric is defined by the reference tool's call and options, and
// BERTScore's by its encoder's settings.
func TestDefine(t *testing.T) {
	bs := &BERTScoreEncoder{ID: "roberta-large", Layer: 17}
	rescaled := &BERTScoreEncoder{ID: "roberta-large", Layer: 17, Baseline: &RobertaLarge17}
	for _, tc := range []struct {
		name string
		bs   *BERTScoreEncoder
		want []string // in the definition
	}{
		{MJudgePPL, nil, []string{"exp(Σ NLL / Σ tokens)", "after its prompt"}},
		{MBLEU, nil, []string{"sacreBLEU corpus_bleu", "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp"}},
		{MROUGEL, nil, []string{"rouge_score RougeScorer(['rougeL']) F-measure", "no stemming", "not rougeLsum", "mean"}},
		{MBERTScoreP, bs, []string{"bert_score precision", "roberta-large, layer 17, no idf, not rescaled"}},
		{MBERTScoreR, bs, []string{"bert_score recall"}},
		{MBERTScoreF1, rescaled, []string{"bert_score F1", "rescaled with baseline P 0.83150584, R 0.8314941, F 0.83122575"}},
		{MEntropy, nil, []string{"unigram entropy in bits", "13a"}},
		{MDistinct + "2", nil, []string{"distinct 2-grams / all 2-grams", "no interval"}},
		{MRepetition, nil, []string{"seq-rep-4", "4-grams"}},
		{MTaskStrict, nil, []string{"strict-match", "'#### '"}},
		{MTaskFlexible, nil, []string{"flexible-extract", "last number"}},
	} {
		d := define(tc.name, tc.bs)
		for _, w := range tc.want {
			if !strings.Contains(d, w) {
				t.Errorf("%s: %q lacks %q", tc.name, d, w)
			}
		}
	}
	if d := define("nonsense", nil); d != "" {
		t.Errorf("an unknown metric defined as %q", d)
	}
}
