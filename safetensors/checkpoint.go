package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The file names Hugging Face gives a checkpoint in a model directory.
const (
	SingleName = "model.safetensors"
	IndexName  = "model.safetensors.index.json"
)

// Checkpoint is a model's weights: one safetensors file or a set of shards.
type Checkpoint struct {
	files   []*File
	tensors map[string]Tensor
	names   []string // sorted
	meta    map[string]string
}

// OpenDir opens the checkpoint at path, which is
//   - a directory holding model.safetensors (taken first, as transformers
//     does), or model.safetensors.index.json and the shards it lists, or else
//     exactly one *.safetensors file;
//   - an index file (any *.json), whose shards sit next to it;
//   - a single *.safetensors file.
//
// Each shard is opened once. A missing shard, a tensor the index places in a
// shard that lacks it, and a tensor found in two shards are errors. Tensors a
// shard holds but the index omits are kept.
func OpenDir(path string) (*Checkpoint, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.IsDir() {
		if strings.HasSuffix(path, ".json") {
			return openIndex(path)
		}
		return openFiles([]string{path})
	}
	single := filepath.Join(path, SingleName)
	if isFile(single) {
		return openFiles([]string{single})
	}
	index := filepath.Join(path, IndexName)
	if isFile(index) {
		return openIndex(index)
	}
	// Not filepath.Glob: the directory name may hold pattern characters.
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	var found []string
	for _, e := range ents {
		// isFile follows links: a hub snapshot's files link to its blobs.
		if strings.HasSuffix(e.Name(), ".safetensors") && isFile(filepath.Join(path, e.Name())) {
			found = append(found, e.Name())
		}
	}
	switch len(found) {
	case 1:
		return openFiles([]string{filepath.Join(path, found[0])})
	case 0:
		return nil, fmt.Errorf("safetensors: %s: no checkpoint: looked for %s, %s and *.safetensors", path, SingleName, IndexName)
	}
	return nil, fmt.Errorf("safetensors: %s: no %s or %s, and %d *.safetensors files (%s) to choose from", path, SingleName, IndexName, len(found), strings.Join(found, ", "))
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// index is the part of model.safetensors.index.json that locates tensors;
// its "metadata" (total_size) is informative only and not checked.
type index struct {
	WeightMap map[string]string `json:"weight_map"`
}

func openIndex(path string) (*Checkpoint, error) {
	base := filepath.Base(path)
	raw, err := readLimited(path, maxHeader)
	if err != nil {
		return nil, err
	}
	var idx index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("safetensors: %s: %v", base, oneLine(err))
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("safetensors: %s: weight_map is missing or empty", base)
	}
	dir := filepath.Dir(path)
	names := slices.Sorted(maps.Keys(idx.WeightMap))
	listed := map[string]string{} // shard → its first tensor, for errors
	for _, name := range names {
		shard := idx.WeightMap[name]
		// A shard is a file beside the index, never a path elsewhere.
		if shard == "" || shard == "." || shard == ".." || strings.ContainsAny(shard, `/\`) {
			return nil, fmt.Errorf("safetensors: %s: tensor %q: shard %q is not a file name", base, name, shard)
		}
		if _, ok := listed[shard]; !ok {
			listed[shard] = name
		}
	}
	var shards []string
	for _, shard := range slices.Sorted(maps.Keys(listed)) {
		p := filepath.Join(dir, shard)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("safetensors: %s: shard %s is missing (it should hold tensor %q)", base, shard, listed[shard])
		}
		shards = append(shards, p)
	}
	c, err := openFiles(shards)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		shard := idx.WeightMap[name]
		t, ok := c.tensors[name]
		if !ok || filepath.Base(t.File) != shard {
			c.Close()
			return nil, fmt.Errorf("safetensors: %s: tensor %q: not found in %s", base, name, shard)
		}
	}
	return c, nil
}

// readLimited reads a small file, refusing one larger than limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("safetensors: %s: %d bytes, more than the %d-byte limit", filepath.Base(path), st.Size(), limit)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return b, nil
}

// oneLine keeps an error message on one line.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// openFiles opens each path and merges their tensors; on any error it closes
// what it opened.
func openFiles(paths []string) (*Checkpoint, error) {
	c := &Checkpoint{tensors: map[string]Tensor{}, meta: map[string]string{}}
	for _, p := range paths {
		f, err := Open(p)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.files = append(c.files, f)
		for _, t := range f.tensors {
			if prev, dup := c.tensors[t.Name]; dup {
				c.Close()
				return nil, fmt.Errorf("safetensors: tensor %q is in both %s and %s", t.Name, filepath.Base(prev.File), filepath.Base(t.File))
			}
			c.tensors[t.Name] = t
		}
		// Shards usually repeat the same map ({"format": "pt"}); on a
		// conflict the first shard in name order wins.
		for k, v := range f.meta {
			if _, ok := c.meta[k]; !ok {
				c.meta[k] = v
			}
		}
	}
	c.names = slices.Sorted(maps.Keys(c.tensors))
	return c, nil
}

// Tensor looks a tensor up by name. The Shape is the caller's to keep; Data
// is the mapping's (see Tensor).
func (c *Checkpoint) Tensor(name string) (Tensor, bool) {
	t, ok := c.tensors[name]
	t.Shape = slices.Clone(t.Shape)
	return t, ok
}

// Names lists the tensor names of all files in increasing order.
func (c *Checkpoint) Names() []string { return slices.Clone(c.names) }

// Metadata is the union of the files' "__metadata__" maps (the first file in
// name order wins a conflicting key); it is a copy.
func (c *Checkpoint) Metadata() map[string]string { return maps.Clone(c.meta) }

// Files lists the paths of the files opened, in name order.
func (c *Checkpoint) Files() []string {
	paths := make([]string, len(c.files))
	for i, f := range c.files {
		paths[i] = f.path
	}
	return paths
}

// Close unmaps every file; all Tensor.Data from the checkpoint become
// invalid. It returns the first error.
func (c *Checkpoint) Close() error {
	var first error
	for _, f := range c.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	c.files, c.tensors, c.names = nil, nil, nil
	return first
}
