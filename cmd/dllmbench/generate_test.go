package main

import (
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
