package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BERTScore asked for without its encoder is an error, as a missing judge
// is: one line, exit 1, and the earlier quality_metrics.json (with its
// BERTScore) left as it was. Before, quality logged a skip, advised
// fetching a path from the hub and rewrote the file without BERTScore.
func TestQualityBERTScoreWithoutEncoder(t *testing.T) {
	results := interruptible(t)
	metrics := filepath.Join(results, "raw_data", "quality_metrics.json")
	must(t, os.MkdirAll(filepath.Dir(metrics), 0o755))
	must(t, os.WriteFile(metrics, []byte("earlier metrics\n"), 0o644))
	missing := filepath.Join(t.TempDir(), "nonexistent")
	for _, tc := range []struct {
		name   string
		args   []string
		want   string
		advice bool // 'dllmbench fetch' advised
	}{
		{"a directory that is not there", []string{"--bertscore_model", missing, "--bertscore_layer", "3"}, missing + ": no such directory", false},
		// Not "bert_score has no default layer for it": the directory is not there.
		{"a directory that is not there, without a layer", []string{"--bertscore_model", missing}, missing + ": no such directory", false},
		{"the default encoder, not in the cache", []string{"--compute_bertscore"}, "not in the Hugging Face cache", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary, append([]string{"quality", "--output_dir", results, "--judge", "none", "--backend", "cpu"}, tc.args...)...)
			cmd.Env = append(os.Environ(), "HF_HOME="+t.TempDir(), "HF_HUB_CACHE=", "HUGGINGFACE_HUB_CACHE=", "HF_HUB_OFFLINE=1")
			r := execute(t, cmd)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			if r.code != 1 || !strings.HasPrefix(last, "dllmbench quality: ") || !strings.Contains(last, tc.want) {
				t.Errorf("exit %d, want 1 and a last line saying %q:\n%s", r.code, tc.want, r.stderr)
			}
			if advice := strings.Contains(last, "dllmbench fetch"); advice != tc.advice {
				t.Errorf("fetch advised: %v, want %v: %s", advice, tc.advice, last)
			}
			if b, _ := os.ReadFile(metrics); string(b) != "earlier metrics\n" {
				t.Errorf("quality rewrote %s:\n%.200s", metrics, b)
			}
		})
	}
}
