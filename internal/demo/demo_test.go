package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dllmbench/model"
)

func TestDirWritesLoadableModels(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	for _, n := range Names() {
		dir, err := Dir(Prefix + n)
		if err != nil {
			t.Fatal(err)
		}
		c, err := model.LoadConfig(dir)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]model.Family{"demo-llama": model.Llama, "demo-llada": model.LLaDA}[n]
		if c.Family != want {
			t.Errorf("%s: family %v", n, c.Family)
		}
		if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
			t.Errorf("%s: %v", n, err)
		}
		again, err := Dir(Prefix + n)
		if err != nil || again != dir {
			t.Errorf("second call: %q, %v; want %q", again, err, dir)
		}
	}
	if _, err := Dir("builtin:nope"); err == nil || !strings.Contains(err.Error(), "demo-llama") {
		t.Errorf("unknown model: %v", err)
	}
	if !strings.Contains(string(Prompts()), `"reference"`) {
		t.Error("prompts have no references")
	}
}

// A cache folder that cannot be written (a file here, which stops even
// root) fails with the model, the folder and the way out.
func TestDirUnwritableCache(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cache")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CACHE_HOME", file)
	_, err := Dir("builtin:demo-llama")
	if err == nil || !strings.Contains(err.Error(), "demo: unpacking builtin:demo-llama into "+file) ||
		!strings.Contains(err.Error(), "set XDG_CACHE_HOME") {
		t.Errorf("Dir with the cache a file: %v", err)
	}
}
