package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Report is what Verify found wrong with a snapshot.
type Report struct {
	Dir     string   // the snapshot directory
	Missing []string // expected files that are absent, or whose blob is gone; sorted
	Corrupt []string // files whose blob does not hash to its name; sorted
}

// OK reports whether nothing is missing or corrupt.
func (r Report) OK() bool { return len(r.Missing) == 0 && len(r.Corrupt) == 0 }

// Verify checks the cached snapshot of a repository at revision ("" means
// main) without touching the network. It expects the files in want and every
// shard named by a *.safetensors.index.json in the snapshot, and re-hashes
// every file whose blob is named by a sha256 (an LFS file). The error is for
// a snapshot that is not there (wrapping ErrNotCached) or cannot be read;
// what is wrong inside it goes to the Report, or for ctx's end, which stops
// the hashing (a checkpoint takes a minute), ctx's error.
func (c *Client) Verify(ctx context.Context, k Kind, repoID, revision string, want []string) (Report, error) {
	r, err := newRepository(k, repoID)
	if err != nil {
		return Report{}, err
	}
	dir, err := c.snapshot(r, revision)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Dir: dir}
	fail := func(err error) (Report, error) { return Report{}, fmt.Errorf("hub: %s: verify: %w", r, err) }

	var have []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		have = append(have, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return fail(err)
	}

	expect := slices.Clone(want)
	for _, f := range have {
		if !strings.HasSuffix(f, ".safetensors.index.json") {
			continue
		}
		shards, err := indexShards(filepath.Join(dir, filepath.FromSlash(f)))
		if errors.Is(err, fs.ErrNotExist) {
			continue // a link to a removed blob, missing below
		}
		if err != nil {
			return fail(fmt.Errorf("%s: %w", f, err))
		}
		for _, s := range shards {
			expect = append(expect, path.Join(path.Dir(f), s))
		}
	}
	for _, f := range expect {
		if err := checkPath(f); err != nil {
			return fail(err)
		}
		if !slices.Contains(have, f) {
			rep.Missing = append(rep.Missing, f)
		}
	}

	for _, f := range have {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			rep.Missing = append(rep.Missing, f) // a link to a removed blob
			continue
		}
		// Only a link says which blob a file is; copies (HF_HUB_DISABLE_SYMLINKS)
		// cannot be checked.
		target, err := os.Readlink(p)
		if err != nil || !isSHA256(filepath.Base(target)) {
			continue
		}
		ok, err := c.hasSHA256(ctx, p, f, filepath.Base(target))
		if err != nil {
			return fail(err)
		}
		if !ok {
			rep.Corrupt = append(rep.Corrupt, f)
		}
	}
	slices.Sort(rep.Missing)
	rep.Missing = slices.Compact(rep.Missing)
	slices.Sort(rep.Corrupt)
	return rep, nil
}

// hasSHA256 reports whether the file at p, the repository's file, has the
// given sha256.
func (c *Client) hasSHA256(ctx context.Context, p, file, sum string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	h := sha256.New()
	if err := hashFrom(ctx, h, f, func(n int64) { c.report(file, n, fi.Size()) }); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == sum, nil
}

// hashFrom writes what r holds to h, calling report (when set) with the
// bytes hashed so far after each read. It stops with ctx's error once ctx
// is done: a shard of gigabytes takes seconds to hash, and Ctrl-C must not
// wait for every shard.
func hashFrom(ctx context.Context, h hash.Hash, r io.Reader, report func(n int64)) error {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		k, err := r.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		if k > 0 && report != nil {
			report(n)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// indexShards returns the files a safetensors index maps tensors to, as
// {"weight_map": {"tensor name": "model-00001-of-00004.safetensors", ...}}.
func indexShards(p string) ([]string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, err
	}
	var shards []string
	for _, s := range idx.WeightMap {
		if err := checkPath(s); err != nil {
			return nil, fmt.Errorf("weight_map names %v", err)
		}
		shards = append(shards, s)
	}
	slices.Sort(shards)
	return slices.Compact(shards), nil
}
