package hub

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dllmbench/hub/hubtest"
)

// client returns a client of the fake hub h with a fresh cache.
func client(t *testing.T, h *hubtest.Hub, token string) *Client {
	c := &Client{Endpoint: h.URL, Cache: t.TempDir(), retryWait: time.Millisecond}
	if token != "" {
		c.token, c.tokenFrom = &token, "the token in HF_TOKEN"
	}
	return c
}

// layout lists what is under the cache but for .locks: "path -> target" for
// a symlink, "path: contents" for a small file, "path: N bytes" for a large
// one.
func layout(t *testing.T, cache string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".locks" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(cache, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, rel+" -> "+target)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if len(b) > 64 {
				out = append(out, fmt.Sprintf("%s: %d bytes", rel, len(b)))
			} else {
				out = append(out, rel+": "+string(b))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
