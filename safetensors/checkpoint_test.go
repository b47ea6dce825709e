package safetensors

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeTensors writes a file with one 4-byte U8 tensor per name.
func writeTensors(t *testing.T, path string, names ...string) {
	t.Helper()
	var w Writer
	for _, n := range names {
		w.Add(n, U8, []int{4}, []byte(n + "xxxx")[:4])
	}
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

func writeText(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenDirErrors(t *testing.T) {
	const idx2 = `{"metadata":{"total_size":8},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}`
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"empty directory", func(*testing.T, string) {},
			"no checkpoint: looked for model.safetensors, model.safetensors.index.json and *.safetensors"},
		// Unrelated files do not count as a checkpoint.
		{"only other files", func(t *testing.T, dir string) { writeText(t, filepath.Join(dir, "config.json"), "{}") },
			"no checkpoint"},
		{"two candidates", func(t *testing.T, dir string) {
			writeTensors(t, filepath.Join(dir, "x.safetensors"), "a")
			writeTensors(t, filepath.Join(dir, "y.safetensors"), "b")
		}, "2 *.safetensors files (x.safetensors, y.safetensors) to choose from"},
		{"missing shard", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexName), idx2)
			writeTensors(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), "a")
		}, `model.safetensors.index.json: shard model-00002-of-00002.safetensors is missing (it should hold tensor "b")`},
		{"tensor not in its shard", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexName), idx2)
			writeTensors(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), "a")
			writeTensors(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), "c")
		}, `model.safetensors.index.json: tensor "b": not found in model-00002-of-00002.safetensors`},
		// The index places b in shard 2 but it sits in shard 1.
		{"tensor in the wrong shard", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexName), idx2)
			writeTensors(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), "a", "b")
			writeTensors(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), "c")
		}, `tensor "b": not found in model-00002-of-00002.safetensors`},
		{"tensor in two shards", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexName), idx2)
			writeTensors(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), "a", "b")
			writeTensors(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), "b")
		}, `safetensors: tensor "b" is in both model-00001-of-00002.safetensors and model-00002-of-00002.safetensors`},
		{"bad shard", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexName), idx2)
			writeTensors(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), "a")
			writeText(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), "short")
		}, `safetensors: model-00002-of-00002.safetensors: file is 5 bytes`},
		{"index not JSON", func(t *testing.T, dir string) { writeText(t, filepath.Join(dir, IndexName), "{\n") },
			"safetensors: model.safetensors.index.json: unexpected end of JSON input"},
		{"index without weight_map", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexName), `{"metadata":{"total_size":0}}`)
		}, "model.safetensors.index.json: weight_map is missing or empty"},
		{"weight_map value not a string", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexName), `{"weight_map":{"a":1}}`)
		}, "model.safetensors.index.json: json: cannot unmarshal"},
		// A shard must sit next to the index, not anywhere on the disk.
		{"shard path escapes", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexName), `{"weight_map":{"a":"../model.safetensors"}}`)
		}, `tensor "a": shard "../model.safetensors" is not a file name`},
		{"shard is a directory", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexName), `{"weight_map":{"a":"sub"}}`)
			os.Mkdir(filepath.Join(dir, "sub"), 0o755)
		}, `safetensors: sub: not a regular file`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			c, err := OpenDir(dir)
			if err == nil {
				c.Close()
				t.Fatalf("OpenDir succeeded, want error containing %q", tc.want)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error\n\t%s\nwant one line containing\n\t%s", msg, tc.want)
			}
		})
	}
}

func TestOpenDirResolution(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to open
		files []string                              // base names opened
		names []string
	}{
		// The directory name holds glob characters, which must not matter.
		{"lone differently named file", func(t *testing.T, dir string) string {
			sub := filepath.Join(dir, "m[1]*")
			os.Mkdir(sub, 0o755)
			writeTensors(t, filepath.Join(sub, "consolidated.safetensors"), "x")
			writeText(t, filepath.Join(sub, "config.json"), "{}")
			return sub
		}, []string{"consolidated.safetensors"}, []string{"x"}},
		// A Hugging Face snapshot links its files to blobs. Before, a link
		// was no *.safetensors file, and the directory no checkpoint.
		{"lone file linked as in a hub snapshot", func(t *testing.T, dir string) string {
			snap := filepath.Join(dir, "snapshot")
			os.Mkdir(snap, 0o755)
			writeTensors(t, filepath.Join(dir, "blob"), "x")
			if err := os.Symlink(filepath.Join("..", "blob"), filepath.Join(snap, "consolidated.safetensors")); err != nil {
				t.Fatal(err)
			}
			return snap
		}, []string{"consolidated.safetensors"}, []string{"x"}},
		// transformers looks for model.safetensors before the index.
		{"single file before index", func(t *testing.T, dir string) string {
			writeTensors(t, filepath.Join(dir, SingleName), "s")
			writeText(t, filepath.Join(dir, IndexName), `{"weight_map":{"a":"gone.safetensors"}}`)
			return dir
		}, []string{SingleName}, []string{"s"}},
		{"file path", func(t *testing.T, dir string) string {
			writeTensors(t, filepath.Join(dir, "a.safetensors"), "p", "q")
			writeTensors(t, filepath.Join(dir, "b.safetensors"), "r")
			return filepath.Join(dir, "b.safetensors")
		}, []string{"b.safetensors"}, []string{"r"}},
		// A shard may hold tensors the index does not list; they are kept.
		{"unlisted tensor", func(t *testing.T, dir string) string {
			writeText(t, filepath.Join(dir, "w.index.json"), `{"weight_map":{"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"}}`)
			writeTensors(t, filepath.Join(dir, "s1.safetensors"), "a", "b")
			writeTensors(t, filepath.Join(dir, "s2.safetensors"), "c", "extra")
			return filepath.Join(dir, "w.index.json")
		}, []string{"s1.safetensors", "s2.safetensors"}, []string{"a", "b", "c", "extra"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c, err := OpenDir(tc.setup(t, dir))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var files []string
			for _, f := range c.Files() {
				files = append(files, filepath.Base(f))
			}
			if diff := cmp.Diff(tc.files, files); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.names, c.Names()); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			for _, n := range tc.names {
				if x, ok := c.Tensor(n); !ok || string(x.Data) != (n + "xxxx")[:4] {
					t.Errorf("tensor %q = %q, %v", n, x.Data, ok)
				}
			}
		})
	}
}

func TestOpenMissing(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "nope.safetensors"))
	if err == nil || !strings.HasPrefix(err.Error(), "safetensors: open ") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a missing file: %v, want a wrapped not-exist error", err)
	}
	_, err = OpenDir(filepath.Join(t.TempDir(), "nodir"))
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenDir of a missing path: %v", err)
	}
}
