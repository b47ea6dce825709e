// Package cuda binds the NVIDIA libraries the CUDA backend needs — the driver
// (libcuda), cuBLAS, NVRTC and NVML — from a CGO_ENABLED=0 binary through
// purego. Each library has its own file; each C function is bound in one
// table entry under its C prototype. Libraries are found at run time, so one
// static binary runs on machines with or without a GPU: Probe says what was
// found, what was tried and why it failed.
//
// Memory rules, as for cgo: a pointer to a single Go value that C reads or
// writes only during the call (an out-parameter) needs nothing more: purego
// keeps it alive and the Go heap does not move. Buffers and arrays of
// pointers handed to C (copies, kernel parameters, option lists) are pinned
// with runtime.Pinner for the call and unpinned before the pinner is
// dropped: a dropped pinner that still holds pins makes the runtime panic.
//
// The driver keeps the current context per OS thread. Callers that use a
// context (every memory, stream, module and launch call) must hold their
// goroutine on its thread (runtime.LockOSThread) and make the context
// current on it first.
package cuda

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// Error is a failed call into one of the libraries.
type Error struct {
	Lib  string // "cuda", "cublas", "nvrtc" or "nvml"
	Code int    // the library's status code
	Name string // the code's name, as the library spells it where it can
	Call string // the C function that failed
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s: %s (%d)", e.Lib, e.Call, e.Name, e.Code)
}

// OutOfMemory reports whether the call failed for lack of device memory.
func (e *Error) OutOfMemory() bool {
	switch e.Lib {
	case "cuda":
		return e.Code == 2 // CUDA_ERROR_OUT_OF_MEMORY
	case "cublas":
		return e.Code == 3 // CUBLAS_STATUS_ALLOC_FAILED
	case "nvrtc":
		return e.Code == 1 // NVRTC_ERROR_OUT_OF_MEMORY
	}
	return false
}

// Attempt is one try at loading a library file.
type Attempt struct {
	Path string // a soname for the loader to resolve, or a file path
	Err  string // empty when the library loaded
}

// Library is what the search for one library found.
type Library struct {
	Name     string    // short name: "cuda", "cublas", "nvrtc", "nvml"
	Path     string    // the name or path that loaded; empty if none did
	Version  string    // as the library reports it, once loaded
	Attempts []Attempt // every file tried, in order
	Searched []string  // folders searched that held no candidate
	Err      error     // why the library is unusable; nil when loaded
}

// MarshalJSON writes Err as its message, empty when the library loaded
// (as Attempt.Err): an error value marshals as {}, which lost every reason
// in 'dllmbench env --json'.
func (l Library) MarshalJSON() ([]byte, error) {
	type fields Library // Library's fields without this method
	return json.Marshal(struct {
		fields
		Err string // shadows the error
	}{fields(l), errText(l.Err)})
}

// errText is err's message, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// fn is one C function to bind: fptr points at a Go func variable.
type fn struct {
	fptr     any
	name     string
	optional bool // a missing optional symbol leaves the variable nil
}

// library is a loaded shared object and the state of its loading.
type library struct {
	info   Library
	handle uintptr
}

// Environment lookups, replaceable in tests.
type searchEnv struct {
	getenv func(string) string
	glob   func(string) []string // matches, sorted, of existing files or folders
	exists func(string) bool
	home   string
}

func osEnv() searchEnv {
	home, _ := os.UserHomeDir()
	return searchEnv{
		getenv: os.Getenv,
		glob: func(p string) []string {
			m, _ := filepath.Glob(p)
			return m
		},
		exists: func(p string) bool { _, err := os.Stat(p); return err == nil },
		home:   home,
	}
}

// driverDirs are the folders where the driver's own libraries (libcuda,
// libnvidia-ml) live besides what the loader finds: they must come from the
// installed driver, never from a toolkit.
func driverDirs(e searchEnv) []string {
	dirs := splitPath(e.getenv("LD_LIBRARY_PATH"))
	return append(dirs, "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/local/nvidia/lib64", "/usr/lib/wsl/lib")
}

// toolkitDirs are the folders searched for toolkit libraries (cuBLAS,
// NVRTC) in order: LD_LIBRARY_PATH, CUDA_HOME and CUDA_PATH, the toolkits
// under /usr/local, then the nvidia wheels of Python environments.
func toolkitDirs(e searchEnv) []string {
	dirs := splitPath(e.getenv("LD_LIBRARY_PATH"))
	for _, v := range []string{"CUDA_HOME", "CUDA_PATH"} {
		if root := e.getenv(v); root != "" {
			dirs = append(dirs, filepath.Join(root, "lib64"))
			dirs = append(dirs, e.glob(filepath.Join(root, "targets", "*", "lib"))...)
		}
	}
	dirs = append(dirs, e.glob("/usr/local/cuda*/targets/*/lib")...)
	dirs = append(dirs, e.glob("/usr/local/cuda*/lib64")...)
	var sites []string
	for _, p := range []string{"/usr/lib/python3*/site-packages", "/usr/lib/python3*/dist-packages",
		"/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages"} {
		sites = append(sites, e.glob(p)...)
	}
	if e.home != "" {
		sites = append(sites, e.glob(filepath.Join(e.home, ".local", "lib", "python3*", "site-packages"))...)
	}
	for _, v := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if root := e.getenv(v); root != "" {
			sites = append(sites, e.glob(filepath.Join(root, "lib", "python3*", "site-packages"))...)
		}
	}
	sites = append(sites, e.glob("/opt/*/.venv/lib/python3*/site-packages")...)
	sites = append(sites, e.glob("/opt/*/lib/python3*/site-packages")...) // conda at /opt/conda
	for _, s := range sites {
		dirs = append(dirs, e.glob(filepath.Join(s, "nvidia", "*", "lib"))...)
	}
	return dirs
}

func splitPath(s string) []string {
	var out []string
	for _, d := range strings.Split(s, ":") {
		if d != "" {
			out = append(out, d)
		}
	}
	return out
}

// candidates lists what to try for a library, best first: for each soname
// in order, the soname itself (the loader's own search), then that file in
// each folder that has it. Folders named stubs hold link-time stubs that
// fail at run time, and are never used. It also returns the folders that
// held none of the names.
func candidates(sonames []string, dirs []string, e searchEnv) (paths, searched []string) {
	seenDir := map[string]bool{}
	var clean []string
	for _, d := range dirs {
		d = filepath.Clean(d)
		if seenDir[d] || isStubs(d) {
			continue
		}
		seenDir[d] = true
		clean = append(clean, d)
	}
	used := map[string]bool{}
	for _, name := range sonames {
		paths = append(paths, name)
		for _, d := range clean {
			p := filepath.Join(d, name)
			if e.exists(p) && !slices.Contains(paths, p) {
				paths = append(paths, p)
				used[d] = true
			}
		}
	}
	for _, d := range clean {
		if !used[d] {
			searched = append(searched, d)
		}
	}
	return paths, searched
}

func isStubs(dir string) bool {
	for _, part := range strings.Split(filepath.ToSlash(dir), "/") {
		if part == "stubs" {
			return true
		}
	}
	return false
}

// load opens the first candidate that loads and binds fns from it. deps
// names libraries to load from the same folder first (libcublasLt for
// libcublas), since a toolkit folder is not always on the loader's path.
func load(short string, sonames []string, dirs []string, deps func(dir string) []string, fns []fn) *library {
	l := &library{info: Library{Name: short}}
	paths, searched := candidates(sonames, dirs, osEnv())
	l.info.Searched = searched
	for _, p := range paths {
		if dir := filepath.Dir(p); deps != nil && strings.Contains(p, "/") {
			for _, d := range deps(dir) {
				// A failure here shows up as the library's own failure below.
				_, _ = purego.Dlopen(d, purego.RTLD_NOW|purego.RTLD_GLOBAL)
			}
		}
		h, err := purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			l.info.Attempts = append(l.info.Attempts, Attempt{Path: p, Err: err.Error()})
			continue
		}
		if missing := bind(h, fns); len(missing) > 0 {
			l.info.Attempts = append(l.info.Attempts, Attempt{Path: p, Err: "missing symbols: " + strings.Join(missing, ", ")})
			continue
		}
		l.info.Attempts = append(l.info.Attempts, Attempt{Path: p})
		l.info.Path, l.handle = p, h
		return l
	}
	l.info.Err = fmt.Errorf("%s: no usable library among %s", short, strings.Join(sonames, ", "))
	return l
}

// bind resolves every function of fns in h. It binds nothing unless every
// required symbol is present, and returns the missing required names.
func bind(h uintptr, fns []fn) (missing []string) {
	syms := make([]uintptr, len(fns))
	for i, f := range fns {
		s, err := purego.Dlsym(h, f.name)
		if err != nil || s == 0 {
			if !f.optional {
				missing = append(missing, f.name)
			}
			continue
		}
		syms[i] = s
	}
	if len(missing) > 0 {
		return missing
	}
	for i, f := range fns {
		if syms[i] != 0 {
			purego.RegisterFunc(f.fptr, syms[i])
		}
	}
	return nil
}

// goString copies a NUL-terminated C string.
func goString(p *byte) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// cString returns the Go string in a NUL-terminated buffer b.
func cString(b []byte) string {
	if i := slices.Index(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
