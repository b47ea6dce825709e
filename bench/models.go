package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"dllmbench/hub"
	"dllmbench/internal/demo"
	"dllmbench/internal/files"
	"dllmbench/model"
	"dllmbench/tokenizer"
)

// resolved is a grid model found on disk, with what identifies its version.
type resolved struct {
	spec ModelSpec
	dir  string
	cfg  *model.Config
	tok  *tokenizer.Tokenizer // nil when the directory has no tokenizer.json
	info ModelInfo
}

// resolveModels finds every model of the grid and reads its config and
// tokenizer (weights are loaded later, one model at a time).
func resolveModels(g *Grid, hc *hub.Client) ([]*resolved, error) {
	var out []*resolved
	for _, spec := range g.Models {
		dir, rev, err := locate(spec, hc)
		if err != nil {
			return nil, err
		}
		cfg, err := model.LoadConfig(dir)
		if err != nil {
			return nil, err
		}
		r := &resolved{spec: spec, dir: dir, cfg: cfg}
		if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err == nil {
			if r.tok, err = tokenizer.Load(dir); err != nil {
				return nil, err
			}
		}
		r.info = ModelInfo{ID: spec.ID, Dir: dir, Revision: rev, Arch: cfg.Arch, Params: cfg.Params()}
		r.info.ConfigSHA = FileSHA(filepath.Join(dir, "config.json"))
		r.info.TokSHA = FileSHA(filepath.Join(dir, "tokenizer.json"))
		out = append(out, r)
	}
	return out, nil
}

// Locate returns the directory of a grid model without loading anything
// (built-in models are written to the cache; hub models must be there).
func Locate(spec ModelSpec) (string, error) {
	dir, _, err := locate(spec, nil)
	return dir, err
}

// locate returns a model's directory and, for hub models, the snapshot
// commit it resolved to.
func locate(spec ModelSpec, hc *hub.Client) (dir, revision string, err error) {
	switch {
	case demo.IsBuiltin(spec.ID):
		dir, err = demo.Dir(spec.ID)
		return dir, "builtin", err
	case isDir(spec.ID):
		return spec.ID, "", nil
	}
	if hc == nil {
		if hc, err = hub.New(hub.Options{Offline: true}); err != nil {
			return "", "", err
		}
	}
	rev := spec.Revision
	if rev == "" {
		rev = "main"
	}
	dir, err = hc.Snapshot(hub.Model, spec.ID, rev)
	if errors.Is(err, hub.ErrNotCached) {
		return "", "", fmt.Errorf("bench: model %s: %w (pre-fetch it with: dllmbench fetch --model %s)", spec.ID, err, spec.ID)
	}
	if err != nil {
		// A path to nothing or a malformed ID: fetching would not help, and
		// the hub's error names the model.
		return "", "", err
	}
	return dir, filepath.Base(dir), nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// fileSHA is the sha256 of a file, or "" when it cannot be read.
func FileSHA(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// revisionKey identifies a model's version for cell keys: the hub snapshot,
// the config and the tokenizer, and the sizes of its weight files.
func (r *resolved) revisionKey() string {
	var sizes []string
	for _, f := range files.Glob(r.dir, "*.safetensors") {
		if st, err := os.Stat(f); err == nil {
			sizes = append(sizes, fmt.Sprintf("%s:%d", filepath.Base(f), st.Size()))
		}
	}
	return strings.Join(append([]string{r.info.Revision, r.info.ConfigSHA, r.info.TokSHA}, sizes...), "|")
}
