package quality

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dllmbench/bench"
	"dllmbench/compute/cpu"
	"dllmbench/decode"
	"dllmbench/model"
)

func TestGenPerplexity(t *testing.T) {
	e := math.Exp
	tests := []struct {
		name                  string
		seqs                  []SeqNLL
		want, lo, hi          float64
		sequences, tok, empty int
	}{
		// Every sequence at 2 nats a token: every resample is e², whatever it draws.
		{"equal rates", []SeqNLL{{2, 1}, {4, 2}, {6, 3}}, e(2), e(2), e(2), 3, 6, 0},
		// Token-weighted: (1+9)/(1+3) = 2.5 nats, not the mean of the rates 1
		// and 3. Of two items a resample draws both copies of one item with
		// probability 1/4 each, so the 2.5% and 97.5% quantiles are the
		// extremes e¹ and e³.
		{"ratio of sums", []SeqNLL{{1, 1}, {9, 3}}, e(2.5), e(1), e(3), 2, 4, 0},
		// An empty generation is counted, not scored; resamples of it alone
		// have no value and are left out.
		{"empty", []SeqNLL{{1, 1}, {0, 0}}, e(1), e(1), e(1), 1, 1, 1},
		// Nothing to score: no value, no interval.
		{"all empty", []SeqNLL{{0, 0}, {0, 0}}, math.NaN(), math.NaN(), math.NaN(), 0, 0, 2},
	}
	same := func(a, b float64) bool { return math.IsNaN(a) && math.IsNaN(b) || math.Abs(a-b) <= 1e-12*math.Abs(b) }
	for _, tt := range tests {
		p := GenPerplexity(tt.seqs, Bootstrap{Seed: 7})
		if !same(p.PPL.Value, tt.want) || !same(p.PPL.Lo, tt.lo) || !same(p.PPL.Hi, tt.hi) {
			t.Errorf("%s: PPL %v [%v, %v], want %v [%v, %v]", tt.name, p.PPL.Value, p.PPL.Lo, p.PPL.Hi, tt.want, tt.lo, tt.hi)
		}
		if p.Sequences != tt.sequences || p.Tokens != tt.tok || p.Empty != tt.empty {
			t.Errorf("%s: %d sequences, %d tokens, %d empty; want %d, %d, %d", tt.name, p.Sequences, p.Tokens, p.Empty,
				tt.sequences, tt.tok, tt.empty)
		}
	}
}

// The bootstrap of the ratio agrees with the interval a direct resampling
// loop gives for the same draws: the statistic sees whole sequences.
func TestGenPerplexityInterval(t *testing.T) {
	seqs := make([]SeqNLL, 40)
	for i := range seqs {
		seqs[i] = SeqNLL{NLL: float64(i%7) + 0.5*float64(i%3), Tokens: 1 + i%5}
	}
	b := Bootstrap{Seed: 3}
	p := GenPerplexity(seqs, b)
	want := b.Interval(len(seqs), func(idx []int) float64 {
		var n, k float64
		for _, i := range idx {
			n += seqs[i].NLL
			k += float64(seqs[i].Tokens)
		}
		return math.Exp(n / k)
	})
	if p.PPL != want {
		t.Errorf("PPL %+v, want %+v", p.PPL, want)
	}
	if !(p.PPL.Lo < p.PPL.Value && p.PPL.Value < p.PPL.Hi) {
		t.Errorf("interval %+v does not hold its value", p.PPL)
	}
}

func demoJudge(t *testing.T) *Judge {
	t.Helper()
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	j, err := LoadJudge("builtin:demo-llama", cpu.New(2), model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// Score is CausalScore of the re-tokenized continuation after the prompt
// with its BOS.
func TestJudgeScore(t *testing.T) {
	j := demoJudge(t)
	if j.Info.ConfigSHA == "" || j.Info.TokSHA == "" || j.Info.Arch != "LlamaForCausalLM" {
		t.Errorf("judge info %+v", j.Info)
	}
	prompt, cont := "The film was directed by", " Thomas J. Wright , who"
	ctx, text := j.tok.Encode(prompt, true), j.tok.Encode(cont, false)
	if bos, ok := j.tok.BOS(); !ok || ctx[0] != bos {
		t.Fatalf("context %v does not start with BOS", ctx)
	}
	s, err := decode.ScoreState(j.m, 1, len(ctx)+len(text), 0)
	if err != nil {
		t.Fatal(err)
	}
	lp, err := decode.CausalScore(j.m, s, ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	for _, v := range lp {
		want -= v
	}
	got, cut, err := j.Score(prompt, cont)
	if err != nil || cut {
		t.Fatalf("Score: %v, truncated %v", err, cut)
	}
	if got.Tokens != len(text) || math.Abs(got.NLL-want) > 1e-9*want {
		t.Errorf("Score = %+v, want {%v %d}", got, want, len(text))
	}
	if s, _, err := j.Score(prompt, ""); err != nil || s != (SeqNLL{}) {
		t.Errorf("empty continuation: %+v, %v; want {0 0}", s, err)
	}
}

// A prompt too long for the judge's window is cut from the left, BOS kept,
// and every continuation token is still scored.
func TestJudgeScoreTruncates(t *testing.T) {
	j := demoJudge(t)
	cont := " the second season of the series"
	long := strings.Repeat("The song was released as a single . ", 80)
	n := len(j.tok.Encode(long, true))
	if n <= j.m.Config.MaxSeqLen {
		t.Fatalf("prompt of %d tokens fits the window of %d: make it longer", n, j.m.Config.MaxSeqLen)
	}
	s, cut, err := j.Score(long, cont)
	if err != nil || !cut {
		t.Fatalf("Score: %v, truncated %v", err, cut)
	}
	if want := len(j.tok.Encode(cont, false)); s.Tokens != want || !(s.NLL > 0) {
		t.Errorf("Score = %+v, want %d tokens scored", s, want)
	}
	p, err := j.Perplexity([]string{long, "A"}, []string{cont, ""}, Bootstrap{})
	if err != nil || p.Truncated != 1 || p.Empty != 1 || p.Sequences != 1 {
		t.Errorf("Perplexity = %+v, %v", p, err)
	}
}

// The judge must be causal and have a tokenizer.
func TestLoadJudgeRefuses(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	_, err := LoadJudge("builtin:demo-llada", cpu.New(1), model.LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "causal") {
		t.Errorf("LLaDA as judge: %v", err)
	}
	// A causal config without tokenizer.json: nothing to re-tokenize with.
	dir, err := bench.Locate(bench.ModelSpec{ID: "builtin:demo-llama"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	bare := t.TempDir()
	if err := os.WriteFile(filepath.Join(bare, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadJudge(bare, cpu.New(1), model.LoadOptions{}); err == nil || !strings.Contains(err.Error(), "tokenizer.json") {
		t.Errorf("judge without a tokenizer: %v", err)
	}
}

// Check finds a misnamed judge or task file before anything is measured,
// offline and without weights; what Compute would take passes.
func TestCheck(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HF_HUB_CACHE", t.TempDir()) // an empty cache: no hub model is there
	dir := t.TempDir()
	task := filepath.Join(dir, "task.jsonl")
	if err := os.WriteFile(task, []byte(`{"question": "1+1?", "answer": "#### 2"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.jsonl")
	if err := os.WriteFile(broken, []byte("not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		o    Options
		want string // in the error; "" for none
	}{
		// Nothing named: the records' first causal model, no task.
		{"defaults", Options{}, ""},
		{"no judge", Options{Judge: NoJudge}, ""},
		{"builtin judge and a task file", Options{Judge: "builtin:demo-llama", Task: task}, ""},
		// A typo in the built-in name.
		{"unknown builtin", Options{Judge: "builtin:demo-llamma"}, `quality: judge builtin:demo-llamma: demo: no built-in model "demo-llamma"`},
		// A hub id not in the cache: the hub is not asked.
		{"hub id not cached", Options{Judge: "meta-llama/Meta-Llama-3-8B"}, "dllmbench fetch --model meta-llama/Meta-Llama-3-8B"},
		{"diffusion judge", Options{Judge: "builtin:demo-llada"}, "needs a causal model"},
		{"missing task", Options{Task: filepath.Join(dir, "gsm8k_tset.jsonl")}, "quality: task: open " + filepath.Join(dir, "gsm8k_tset.jsonl")},
		{"task not JSONL", Options{Task: broken}, "quality: task: " + broken},
	} {
		err := Check(tc.o)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: a multi-line error %q", tc.name, err)
		}
	}
}

// A judge whose tokenizer adds no BOS (GPT-2's kind) scores a continuation
// without prompt from its BOS token, every token of it, as
// lm-evaluation-harness's loglikelihood does for an empty context
// (prefix_token_id); its first token was left unscored.
func TestJudgeScoreNoPromptPrefix(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	src, err := bench.Locate(bench.ModelSpec{ID: "builtin:demo-llama"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"config.json", "model.safetensors", "tokenizer_config.json", "tokenizer.json"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "tokenizer.json" {
			var tj map[string]any
			if err := json.Unmarshal(b, &tj); err != nil {
				t.Fatal(err)
			}
			tj["post_processor"] = nil // no template: Encode adds no BOS
			if b, err = json.Marshal(tj); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	j, err := LoadJudge(dir, cpu.New(2), model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	const cont = "The film was directed by Thomas"
	if ids := j.tok.Encode("", true); len(ids) != 0 {
		t.Fatalf("the tokenizer still adds %v", ids)
	}
	bos, ok := j.tok.BOS()
	if !ok {
		t.Fatal("no BOS in tokenizer_config.json")
	}
	text := j.tok.Encode(cont, false)
	s := testmodelState(t, j, len(text)+1)
	lp, err := decode.CausalScore(j.m, s, []int{bos}, text)
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	for _, v := range lp {
		want -= v
	}
	got, _, err := j.Score("", cont)
	if err != nil || got.Tokens != len(text) || math.Abs(got.NLL-want) > 1e-9*want {
		t.Errorf("Score = %+v, %v; want {%v %d}", got, err, want, len(text))
	}
}

func testmodelState(t *testing.T, j *Judge, n int) *model.State {
	t.Helper()
	s, err := decode.ScoreState(j.m, 1, n, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Prompt and continuation may hold one token more than the judge's context:
// the last token is predicted, never run on, so nothing is cut (it was).
func TestJudgeScoreContextPlusOne(t *testing.T) {
	j := demoJudge(t)
	L := j.m.Config.MaxSeqLen
	const cont = " the second season of the series"
	text := j.tok.Encode(cont, false)
	prompt := ""
	for k := 0; k < 2*L && prompt == ""; k++ {
		p := "The song" + strings.Repeat(" .", k)
		if len(j.tok.Encode(p, true))+len(text) == L+1 {
			prompt = p
		}
	}
	if prompt == "" {
		t.Fatalf("no prompt of %d tokens", L+1-len(text))
	}
	s, cut, err := j.Score(prompt, cont)
	if err != nil || cut || s.Tokens != len(text) {
		t.Errorf("L+1 tokens: %+v, truncated %v, %v; want %d tokens, nothing cut", s, cut, err, len(text))
	}
	if _, cut, err := j.Score(prompt+" .", cont); err != nil || !cut {
		t.Errorf("L+2 tokens: truncated %v, %v; want cut", cut, err)
	}
}

// A continuation that fills the judge's context on its own is scored whole,
// in lm-evaluation-harness's rolling windows after the prompt's BOS, its
// prompt dropped (truncated); its tokens past the context were left
// unscored.
func TestJudgeScoreRolling(t *testing.T) {
	j := demoJudge(t)
	L := j.m.Config.MaxSeqLen
	cont := strings.Repeat(" The song was released as a single .", 80)
	text := j.tok.Encode(cont, false)
	if len(text) <= L+1 {
		t.Fatalf("continuation of %d tokens fits the window of %d: make it longer", len(text), L)
	}
	bos, ok := j.tok.BOS()
	if !ok {
		t.Fatal("the demo judge has no BOS")
	}
	want, err := decode.LoglikelihoodRolling(context.Background(), j.m, testmodelState(t, j, L), bos, text)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		prompt string
		cut    bool
	}{
		{"The film was directed by", true},
		{"", false}, // predicted from the prefix token: no prompt to cut
	} {
		got, cut, err := j.Score(tc.prompt, cont)
		if err != nil || got.Tokens != len(text) || math.Abs(got.NLL-want.NLL()) > 1e-9*want.NLL() {
			t.Errorf("prompt %q: Score = %+v, %v; want {%v %d}", tc.prompt, got, err, want.NLL(), len(text))
		}
		if cut != tc.cut {
			t.Errorf("prompt %q: truncated %v, want %v", tc.prompt, cut, tc.cut)
		}
	}
}
