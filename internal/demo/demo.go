// Package demo ships dllmbench's built-in model pair in the binary: a tiny
// LLaMA (causal) and a tiny LLaDA (masked diffusion) of about the same size,
// trained on the same WikiText-103 text with one shared tokenizer by
// scripts/golden/train_demo.py (files/recipe.json has the recipe and the
// final losses), and the held-out prompts they were not trained on.
//
// The grid names them "builtin:demo-llama" and "builtin:demo-llada"; Dir
// writes them out once to the user's cache so they load like any Hugging
// Face checkpoint (memory-mapped safetensors).
package demo

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

//go:embed files
var files embed.FS

// Prefix marks a built-in model id in a grid.
const Prefix = "builtin:"

// Names lists the built-in models.
func Names() []string { return []string{"demo-llama", "demo-llada"} }

// IsBuiltin reports whether id names a built-in model.
func IsBuiltin(id string) bool { return strings.HasPrefix(id, Prefix) }

// Prompts returns the held-out prompts as JSONL ({"prompt", "reference"}).
func Prompts() []byte {
	b, err := files.ReadFile("files/prompts.jsonl")
	if err != nil {
		panic("demo: " + err.Error())
	}
	return b
}

// Dir returns a directory holding the built-in model id ("builtin:NAME"),
// writing it under the user's cache directory on first use (or under the
// temporary directory when there is no cache directory). The directory's
// name carries a hash of the files, so a new binary never reads stale ones.
func Dir(id string) (string, error) {
	name := strings.TrimPrefix(id, Prefix)
	src := "files/" + name
	entries, err := fs.ReadDir(files, src)
	if err != nil {
		return "", fmt.Errorf("demo: no built-in model %q (have %s)", name, strings.Join(Names(), ", "))
	}
	h := sha256.New()
	for _, e := range entries {
		b, _ := files.ReadFile(src + "/" + e.Name())
		h.Write([]byte(e.Name()))
		h.Write(b)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "dllmbench", name+"-"+hex.EncodeToString(h.Sum(nil))[:12])
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err == nil {
		return dir, nil
	}
	// Write into a fresh sibling and rename, so a concurrent or killed
	// writer never leaves a half-written model behind.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", unpackError(id, dir, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), name+".tmp-")
	if err != nil {
		return "", unpackError(id, dir, err)
	}
	defer os.RemoveAll(tmp)
	for _, e := range entries {
		b, _ := files.ReadFile(src + "/" + e.Name())
		if err := os.WriteFile(filepath.Join(tmp, e.Name()), b, 0o644); err != nil {
			return "", unpackError(id, dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "model.safetensors")); statErr == nil {
			return dir, nil // another process won the race
		}
		return "", unpackError(id, dir, err)
	}
	return dir, nil
}

// unpackError is why a built-in model could not be written into dir, with
// the way out: its files go into the user's cache folder.
func unpackError(id, dir string, err error) error {
	return fmt.Errorf("demo: unpacking %s into %s: %w (set XDG_CACHE_HOME to a folder you can write)", id, dir, err)
}
