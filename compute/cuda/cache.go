package cuda

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"dllmbench/internal/files"
)

// The kernel cache keeps the cubins NVRTC compiled, one file per
// (source, options, NVRTC version), so that only a process's first run on a
// machine pays the compilation (15–30 s for the whole program). Each file is
// written whole under a temporary name and renamed into place, so readers
// never see half a cubin; one that still fails to load is compiled again and
// replaced (cubinFor).
//
// DLLMBENCH_KERNEL_CACHE names the folder, or turns the cache off with
// "off"; by default it is $XDG_CACHE_HOME/dllmbench/kernels (on Linux,
// ~/.cache/dllmbench/kernels). A folder that cannot be made or written only
// costs the compilation: the cache is an optimisation, never an error. It
// keeps the keepCubins most recently written cubins (each build of
// dllmbench, NVRTC release and architecture has its own, about 2 MB).

// KernelCacheDir is the folder of the kernel cache, or "" when it is off or
// has no home.
func KernelCacheDir() string {
	switch v := os.Getenv("DLLMBENCH_KERNEL_CACHE"); {
	case strings.EqualFold(v, "off"):
		return ""
	case v != "":
		return v
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "dllmbench", "kernels")
}

// cubinKey names a compilation's output: every input that changes the
// machine code is hashed.
func cubinKey(src string, options []string, nvrtcVersion string) string {
	h := sha256.New()
	fmt.Fprintf(h, "nvrtc %s\n", nvrtcVersion)
	for _, o := range options {
		fmt.Fprintf(h, "option %s\n", o)
	}
	h.Write([]byte(src))
	return hex.EncodeToString(h.Sum(nil))
}

// elfMagic starts every cubin.
var elfMagic = []byte("\x7fELF")

// readCubin returns the cached cubin of key, if the folder holds one.
func readCubin(dir, key string) ([]byte, bool) {
	if dir == "" {
		return nil, false
	}
	c, err := os.ReadFile(filepath.Join(dir, key+".cubin"))
	if err != nil || !bytes.HasPrefix(c, elfMagic) {
		return nil, false
	}
	return c, true
}

// writeCubin stores cubin as key's file. Errors are returned for tests and
// ignored by the backend.
func writeCubin(dir, key string, cubin []byte) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, key+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(cubin)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, key+".cubin"))
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	pruneCubins(dir, keepCubins)
	return nil
}

// keepCubins is how many cubins the kernel cache keeps.
const keepCubins = 8

// pruneCubins removes all but the keep most recently modified cubins the
// cache wrote in dir (named by a key: 64 hex digits; a user's own files in
// a folder DLLMBENCH_KERNEL_CACHE names are left alone), ties broken by
// name, ignoring errors: another process may be pruning too.
func pruneCubins(dir string, keep int) {
	var names []string
	for _, n := range files.Glob(dir, "*.cubin") {
		if isKey(strings.TrimSuffix(filepath.Base(n), ".cubin")) {
			names = append(names, n)
		}
	}
	if len(names) <= keep {
		return
	}
	type entry struct {
		name string
		mod  int64
	}
	var es []entry
	for _, n := range names {
		if fi, err := os.Stat(n); err == nil {
			es = append(es, entry{n, fi.ModTime().UnixNano()})
		}
	}
	slices.SortFunc(es, func(a, b entry) int { // newest first
		return cmp.Or(cmp.Compare(b.mod, a.mod), strings.Compare(a.name, b.name))
	})
	for _, e := range es[min(keep, len(es)):] {
		os.Remove(e.name)
	}
}

// isKey says that s is a cubinKey: 64 lowercase hex digits.
func isKey(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
