package cuda

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestKernelCacheDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	t.Setenv("DLLMBENCH_KERNEL_CACHE", "")
	if d := KernelCacheDir(); d != "/xdg/dllmbench/kernels" {
		t.Errorf("default: %q", d)
	}
	t.Setenv("DLLMBENCH_KERNEL_CACHE", "/scratch/k")
	if d := KernelCacheDir(); d != "/scratch/k" {
		t.Errorf("set: %q", d)
	}
	t.Setenv("DLLMBENCH_KERNEL_CACHE", "OFF")
	if d := KernelCacheDir(); d != "" {
		t.Errorf("off: %q", d)
	}
}

func TestCubinKey(t *testing.T) {
	opts := compileOptions(9, 0)
	k := cubinKey("src", opts, "13.0")
	for name, other := range map[string]string{
		"source":  cubinKey("src ", opts, "13.0"),
		"options": cubinKey("src", compileOptions(8, 0), "13.0"),
		"nvrtc":   cubinKey("src", opts, "12.8"),
	} {
		if other == k {
			t.Errorf("a different %s gives the same key", name)
		}
	}
	if cubinKey("src", opts, "13.0") != k {
		t.Error("the key is not a function of its inputs")
	}
}

func TestCachedCompile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kernels")
	image := []byte("\x7fELF cubin one")
	compiles := 0
	compile := func() ([]byte, error) { compiles++; return image, nil }

	c, cached, err := cachedCompile(dir, "k", false, compile)
	if err != nil || cached || compiles != 1 || string(c) != string(image) {
		t.Fatalf("first: %q cached=%v compiles=%d err=%v", c, cached, compiles, err)
	}
	c, cached, err = cachedCompile(dir, "k", false, compile)
	if err != nil || !cached || compiles != 1 || string(c) != string(image) {
		t.Fatalf("second: %q cached=%v compiles=%d err=%v", c, cached, compiles, err)
	}
	// fresh compiles again and replaces the file.
	image = []byte("\x7fELF cubin two")
	if c, cached, _ = cachedCompile(dir, "k", true, compile); cached || compiles != 2 || string(c) != string(image) {
		t.Fatalf("fresh: %q cached=%v compiles=%d", c, cached, compiles)
	}
	if c, cached, _ = cachedCompile(dir, "k", false, compile); !cached || string(c) != string(image) {
		t.Fatalf("after fresh: %q cached=%v", c, cached)
	}
	// Something that is not an ELF image is never returned.
	if err := os.WriteFile(filepath.Join(dir, "k.cubin"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, cached, _ = cachedCompile(dir, "k", false, compile); cached || compiles != 3 || string(c) != string(image) {
		t.Fatalf("damaged: %q cached=%v compiles=%d", c, cached, compiles)
	}
	// No temporary file is left behind.
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(names) != 1 || filepath.Base(names[0]) != "k.cubin" {
		t.Errorf("cache folder holds %v", names)
	}
}

func TestCachedCompileErrors(t *testing.T) {
	boom := errors.New("nvrtc: boom")
	if _, _, err := cachedCompile(t.TempDir(), "k", false, func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("compile error: %v", err)
	}
	// An unwritable folder only costs the compilation.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c, cached, err := cachedCompile(filepath.Join(blocker, "kernels"), "k", false, func() ([]byte, error) { return []byte("\x7fELF"), nil })
	if err != nil || cached || string(c) != "\x7fELF" {
		t.Errorf("unwritable cache: %q cached=%v err=%v", c, cached, err)
	}
	// Off: nothing read, nothing written.
	if _, cached, err := cachedCompile("", "k", false, func() ([]byte, error) { return []byte("\x7fELF"), nil }); err != nil || cached {
		t.Errorf("off: cached=%v err=%v", cached, err)
	}
}

// The cache keeps the keepCubins newest cubins: writing one more removes
// the oldest, and the one just written stays. Files it did not name are
// never removed.
func TestCachePrunes(t *testing.T) {
	dir := t.TempDir()
	key := func(i int) string { return fmt.Sprintf("%064x", i) }
	mine := filepath.Join(dir, "mine.cubin") // a user's, older than all
	if err := os.WriteFile(mine, []byte("\x7fELF"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(mine, old.Add(-time.Hour), old.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	for i := range keepCubins {
		n := filepath.Join(dir, key(i)+".cubin")
		if err := os.WriteFile(n, []byte("\x7fELF"), 0o644); err != nil {
			t.Fatal(err)
		}
		// key(0) is the oldest.
		if err := os.Chtimes(n, old.Add(time.Duration(i)*time.Minute), old.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeCubin(dir, key(99), []byte("\x7fELF new")); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	if len(names) != keepCubins+1 || slices.Contains(names, key(0)+".cubin") || !slices.Contains(names, key(99)+".cubin") ||
		!slices.Contains(names, "mine.cubin") {
		t.Errorf("after writing a cubin past %d: %v", keepCubins, names)
	}
}
