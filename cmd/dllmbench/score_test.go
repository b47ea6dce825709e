package main

import (
	"os"
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

// A causal model scores the text's first token from the context: with no
// context and a one-token text nothing is scored, which was printed as a
// perplexity of 0. It is a usage error; a context or a second token scores.
func TestScoreCausalNothingToScore(t *testing.T) {
	const model = "../../testdata/stories260K"
	r := dllmbench(t, "", "score", "--model", model, "--ids", "5", "--backend", "cpu")
	if r.code != 2 || !strings.Contains(r.stderr, "no context") || !strings.Contains(r.stderr, "--context") {
		t.Errorf("one token, no context: code %d, stdout %q, stderr %q; want code 2 and a hint to give a context", r.code, r.stdout, r.stderr)
	}
	oneErrorLine(t, r)
	for _, args := range [][]string{{"--ids", "5,6"}, {"--context-ids", "1", "--ids", "5"}} {
		r := dllmbench(t, "", append([]string{"score", "--model", model, "--backend", "cpu", "--format", "json"}, args...)...)
		if r.code != 0 || !strings.Contains(r.stdout, `"scored_tokens":1,`) {
			t.Errorf("%v: code %d, stdout %q, stderr %q; want one token scored", args, r.code, r.stdout, r.stderr)
		}
	}
}
