package main

import (
	"encoding/json"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
)

// scoreLLaDA is a LLaDA model with a tokenizer for score's tests.
const scoreLLaDA = "../../testdata/golden/engine/llada-tiny"

// oneErrorLine fails the test unless stderr ends in one "dllmbench …"
// error line with no Go panic or runtime trace.
func oneErrorLine(t *testing.T, r result) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "dllmbench") || strings.Contains(r.stderr, "goroutine") {
		t.Errorf("stderr is not one clean error line: %q", r.stderr)
	}
}

// A batch of Monte-Carlo samples whose run state cannot fit the machine is
// one error line and exit 1, not Go's out-of-memory fatal error.
func TestScoreStateTooLarge(t *testing.T) {
	if _, err := os.Stat("/proc/meminfo"); err != nil {
		t.Skip("the machine's memory is unknown here (no /proc/meminfo)")
	}
	r := dllmbench(t, "", "score", "--model", scoreLLaDA, "--ids", "5", "--mc-samples", "100000000",
		"--batch-size", "100000000", "--backend", "cpu")
	if r.code != 1 || !strings.Contains(r.stderr, "GiB, the machine has") {
		t.Errorf("code %d, stderr %q; want code 1 and what the state needs", r.code, r.stderr)
	}
	oneErrorLine(t, r)
}

// --cfg-scale takes a finite number ≥ 0: NaN, a negative scale or +Inf is
// a usage error (exit 2), once silently scored as 0; a valid scale scores.
func TestScoreCFGScale(t *testing.T) {
	for _, scale := range []string{"NaN", "-1", "-0.5", "+Inf"} {
		r := dllmbench(t, "", "score", "--model", scoreLLaDA, "--ids", "5,6", "--mc-samples", "4", "--batch-size", "2",
			"--cfg-scale", scale, "--backend", "cpu")
		if r.code != 2 || !strings.Contains(r.stderr, "want a finite number ≥ 0") {
			t.Errorf("--cfg-scale %s: code %d, stderr %q; want code 2", scale, r.code, r.stderr)
		}
		oneErrorLine(t, r)
	}
	r := dllmbench(t, "", "score", "--model", scoreLLaDA, "--ids", "5,6", "--mc-samples", "4", "--batch-size", "2",
		"--cfg-scale", "1.5", "--backend", "cpu", "--format", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"method":"monte-carlo bound"`) {
		t.Errorf("--cfg-scale 1.5: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// A causal model predicts a text without context from the prefix token, as
// lm-evaluation-harness's loglikelihood does for an empty context: BOS
// (stories260K's is 1), every token of the text scored, a one-token text
// too, which was an error, and a text of two tokens scored one. A text that
// starts with BOS is predicted from that BOS; BOS alone leaves nothing to
// score, a usage error.
func TestScoreCausalNoContext(t *testing.T) {
	const model = "../../testdata/stories260K"
	for _, tc := range []struct {
		ids, ctx, scored string
	}{
		{"5", `"context_ids":[1],`, `"scored_tokens":1,`},
		{"5,6", `"context_ids":[1],`, `"scored_tokens":2,`},
		{"1,5", `"context_ids":[1],`, `"scored_tokens":1,`},
	} {
		r := dllmbench(t, "", "score", "--model", model, "--backend", "cpu", "--format", "json", "--ids", tc.ids)
		if r.code != 0 || !strings.Contains(r.stdout, tc.ctx) || !strings.Contains(r.stdout, tc.scored) {
			t.Errorf("--ids %s: code %d, stdout %q, stderr %q; want %s and %s", tc.ids, r.code, r.stdout, r.stderr, tc.ctx, tc.scored)
		}
	}
	// Given as the context, BOS scores the same.
	a := dllmbench(t, "", "score", "--model", model, "--backend", "cpu", "--ids", "5,6")
	b := dllmbench(t, "", "score", "--model", model, "--backend", "cpu", "--context-ids", "1", "--ids", "5,6")
	if a.code != 0 || a.stdout != b.stdout {
		t.Errorf("no context:\n%s\nBOS as context:\n%s", a.stdout, b.stdout)
	}
	r := dllmbench(t, "", "score", "--model", model, "--ids", "1", "--backend", "cpu")
	if r.code != 2 || !strings.Contains(r.stderr, "nothing to score") || !strings.Contains(r.stderr, "--context") {
		t.Errorf("BOS alone: code %d, stdout %q, stderr %q; want code 2 and a hint to give a context", r.code, r.stdout, r.stderr)
	}
	oneErrorLine(t, r)
}

// scoreJSON runs score with --format json and decodes its result.
func scoreJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	r := dllmbench(t, "", append([]string{"score", "--backend", "cpu", "--format", "json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("%v: code %d, stderr %q", args, r.code, r.stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("%v: %v in %q", args, err, r.stdout)
	}
	return m
}

// The context's trailing whitespace belongs to the text, as
// lm-evaluation-harness's _encode_pair moves it: "directed by " + "Thomas"
// scores what "directed by" + " Thomas" does. The space was scored as a
// token of its own before the text, a tokenization the model never saw.
// The same holds for LLaDA (eval_llada.py's _encode_pair).
func TestScoreTrailingSpaceMoves(t *testing.T) {
	for _, tc := range []struct{ model, extra string }{
		{"builtin:demo-llama", ""},
		{"builtin:demo-llada", "--mc-samples=8"},
	} {
		args := func(ctx, text string) []string {
			a := []string{"--model", tc.model, "--context", ctx, "--text", text}
			if tc.extra != "" {
				a = append(a, tc.extra, "--batch-size=8")
			}
			return a
		}
		a := scoreJSON(t, args("The film was directed by ", "Thomas J. Wright")...)
		b := scoreJSON(t, args("The film was directed by", " Thomas J. Wright")...)
		for _, k := range []string{"context_ids", "ids", "nll"} {
			if !reflect.DeepEqual(a[k], b[k]) {
				t.Errorf("%s: %s %v with the space in the context, %v in the text", tc.model, k, a[k], b[k])
			}
		}
	}
}

// Without a context a text longer than the model's context (the demo's 512
// tokens) is scored in lm-evaluation-harness's rolling windows, every token
// once; it was an error. With a context, a text that long is a usage error
// that names the rolling windows; a context too long is cut from the left
// with a warning.
func TestScoreLongText(t *testing.T) {
	long := strings.Repeat("The song was released as a single in the United States . ", 60)
	m := scoreJSON(t, "--model", "builtin:demo-llama", "--text", long)
	ids, _ := m["ids"].([]any)
	if n, _ := m["scored_tokens"].(float64); len(ids) <= 512 || int(n) != len(ids) || m["windows"].(float64) < 2 {
		t.Errorf("%d tokens: %v scored in %v windows", len(ids), m["scored_tokens"], m["windows"])
	}
	r := dllmbench(t, "", "score", "--model", "builtin:demo-llama", "--backend", "cpu", "--context", "Once", "--text", long)
	if r.code != 2 || !strings.Contains(r.stderr, "rolling windows") {
		t.Errorf("long text after a context: code %d, stderr %q", r.code, r.stderr)
	}
	oneErrorLine(t, r)
	r = dllmbench(t, "", "score", "--model", "builtin:demo-llama", "--backend", "cpu", "--format", "json", "--context", long, "--text", " The end")
	if r.code != 0 || !strings.Contains(r.stdout, `"truncated_tokens":`) || !strings.Contains(r.stderr, "were cut") {
		t.Errorf("long context: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// LLaDA's bound has no windows: too long is a usage error, before the
	// model is loaded.
	r = dllmbench(t, "", "score", "--model", "builtin:demo-llada", "--backend", "cpu", "--text", long, "--mc-samples", "1", "--batch-size", "1")
	if r.code != 2 || !strings.Contains(r.stderr, "more than") {
		t.Errorf("LLaDA, long text: code %d, stderr %q", r.code, r.stderr)
	}
	oneErrorLine(t, r)
}

// Given --text, lm-evaluation-harness's perplexity units over the text as
// given: word_perplexity exp(nll/words) with words = len(re.split(r"\s+",
// text)) (Task.count_words), byte_perplexity exp(nll/bytes) and
// bits_per_byte nll/bytes/ln 2 (lm_eval/api/metrics.py); a perplexity that
// overflows is null, where encoding/json failed.
func TestScoreUnits(t *testing.T) {
	const text = " Thomas J. Wright ,  who"
	m := scoreJSON(t, "--model", "builtin:demo-llama", "--context", "The film was directed by", "--text", text)
	nll := m["nll"].(float64)
	const words, bytes = 6.0, float64(len(text)) // Python: len(re.split(r"\s+", text)) == 6
	for k, want := range map[string]float64{
		"words": words, "bytes": bytes,
		"perplexity":      math.Exp(nll / m["scored_tokens"].(float64)),
		"word_perplexity": math.Exp(nll / words), "byte_perplexity": math.Exp(nll / bytes),
		"bits_per_byte": nll / bytes / math.Ln2,
	} {
		if got, _ := m[k].(float64); math.Abs(got-want) > 1e-9*want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if _, ok := m["is_greedy"].(bool); !ok {
		t.Errorf("no is_greedy in %v", m)
	}
	m = scoreJSON(t, "--model", "builtin:demo-llama", "--ids", "51,257")
	if _, ok := m["word_perplexity"]; ok {
		t.Errorf("token ids have no words: %v", m)
	}
	// One word of 420 letters: its perplexity overflows a float64.
	m = scoreJSON(t, "--model", "builtin:demo-llama", "--text", strings.Repeat("qzxjvkw", 60))
	if v, ok := m["word_perplexity"]; !ok || v != nil {
		t.Errorf("word_perplexity %v, want null", v)
	}
}

// --check-greedy adds LLaDA's is_greedy (eval_llada.py's
// suffix_greedy_prediction); a causal model reports it always, and the flag
// is a usage error there, as the bound's other flags are.
func TestScoreCheckGreedy(t *testing.T) {
	m := scoreJSON(t, "--model", scoreLLaDA, "--ids", "5,6", "--mc-samples", "2", "--batch-size", "2", "--check-greedy")
	if _, ok := m["is_greedy"].(bool); !ok {
		t.Errorf("--check-greedy: no is_greedy in %v", m)
	}
	m = scoreJSON(t, "--model", scoreLLaDA, "--ids", "5,6", "--mc-samples", "2", "--batch-size", "2")
	if _, ok := m["is_greedy"]; ok {
		t.Errorf("is_greedy without --check-greedy: %v", m)
	}
	r := dllmbench(t, "", "score", "--model", "builtin:demo-llama", "--ids", "5", "--check-greedy", "--backend", "cpu")
	if r.code != 2 || !strings.Contains(r.stderr, "LLaDA") {
		t.Errorf("causal --check-greedy: code %d, stderr %q", r.code, r.stderr)
	}
	oneErrorLine(t, r)
}
