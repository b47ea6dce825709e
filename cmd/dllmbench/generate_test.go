package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Sampling parameters that are not numbers a sampler can use are usage
// errors, caught before the model loads: NaN compares false with every
// bound, and an infinite temperature samples uniformly.
func TestGenerateSamplingFlags(t *testing.T) {
	for _, tc := range []struct {
		flag, value string
	}{
		{"--temperature", "NaN"},
		{"--temperature", "Inf"},
		{"--temperature", "-Inf"},
		{"--temperature", "-1"},
		{"--top-p", "NaN"},
		{"--top-p", "Inf"},
		{"--top-p", "0"},
		{"--top-p", "1.5"},
		{"--top-k", "-1"},
	} {
		r := dllmbench(t, "", "generate", "--model", "../../testdata/stories260K", "--prompt-ids", "1", "--gen-length", "2",
			"--backend", "cpu", tc.flag, tc.value)
		if r.code != 2 || !strings.Contains(r.stderr, "--temperature must be finite") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s %s: code %d, %q; want code 2 and one line", tc.flag, tc.value, r.code, r.stderr)
		}
	}
}

// Top-k and top-p restrict sampling: at temperature 0 (greedy) they would
// be ignored without a word, as transformers' generate ignores them without
// do_sample (with a warning), so they are refused; with a temperature, or
// at their no-op values, they run.
func TestGenerateGreedyRefusesSamplingFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		fail bool
	}{
		{[]string{"--top-k", "5"}, true},
		{[]string{"--top-p", "0.9"}, true},
		{[]string{"--top-k", "5", "--top-p", "0.9", "--temperature", "0.7"}, false},
		{[]string{"--top-k", "0", "--top-p", "1"}, false}, // no restriction: greedy stays greedy
	} {
		args := append([]string{"generate", "--model", "../../testdata/stories260K", "--prompt-ids", "1", "--gen-length", "2",
			"--backend", "cpu"}, tc.args...)
		r := dllmbench(t, "", args...)
		const want = "--top-k and --top-p restrict sampling: give --temperature > 0 too (0 is greedy)"
		if tc.fail && (r.code != 2 || !strings.Contains(r.stderr, want) || strings.Count(r.stderr, "\n") != 1) {
			t.Errorf("%v: code %d, %q; want code 2 and %q", tc.args, r.code, r.stderr, want)
		}
		if !tc.fail && r.code != 0 {
			t.Errorf("%v: code %d, %q", tc.args, r.code, r.stderr)
		}
	}
}

// generate and score take the built-in models as grids do (before: "not a
// Hugging Face ID"), and name the ones there are for an unknown name.
func TestGenerateBuiltin(t *testing.T) {
	env := append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir())
	run := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Env = env
		return execute(t, cmd)
	}
	r := run("generate", "--model", "builtin:demo-llada", "--prompt-ids", "1,2,3", "--gen-length", "4", "--steps", "4",
		"--backend", "cpu", "--format", "json")
	var g struct {
		OutputIDs []int `json:"output_ids"`
		NFE       int   `json:"nfe"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &g) != nil || len(g.OutputIDs) != 4 || g.NFE != 4 {
		t.Errorf("generate on builtin:demo-llada: code %d, %+v\n%s%s", r.code, g, r.stdout, r.stderr)
	}
	if r := run("score", "--model", "builtin:demo-llama", "--text", "The cat sat on the mat.", "--backend", "cpu"); r.code != 0 ||
		!strings.Contains(r.stdout, "perplexity") {
		t.Errorf("score on builtin:demo-llama: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run("generate", "--model", "builtin:nope", "--prompt-ids", "1"); r.code != 1 ||
		!strings.Contains(r.stderr, `no built-in model "nope" (have demo-llama, demo-llada)`) {
		t.Errorf("unknown built-in model: code %d, %q", r.code, r.stderr)
	}
}
