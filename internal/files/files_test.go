package files

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A folder whose name holds pattern characters is listed as any other:
// filepath.Glob finds nothing in it.
func TestGlobLiteralFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run[1]*?")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"b.jsonl", "a.jsonl", "c.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")}
	if got := Glob(dir, "*.jsonl"); !slices.Equal(got, want) {
		t.Errorf("Glob = %q, want %q", got, want)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.jsonl")); len(m) != 0 {
		t.Errorf("filepath.Glob found %q: the test no longer shows the difference", m)
	}
	if got := Glob(filepath.Join(dir, "absent"), "*"); got != nil {
		t.Errorf("Glob of a missing folder = %q, want none", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("a malformed pattern did not panic")
		}
	}()
	Glob(dir, "[")
}
