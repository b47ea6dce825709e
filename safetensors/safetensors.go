// Package safetensors reads and writes Hugging Face safetensors checkpoints:
// one model.safetensors file, or shards listed by model.safetensors.index.json.
//
// A file is an 8-byte little-endian header length N, N bytes of JSON
//
//	{"name": {"dtype": "BF16", "shape": [a, b], "data_offsets": [begin, end]}, …,
//	 "__metadata__": {"k": "v"}}
//
// and the data section, in which each tensor occupies [begin, end), row-major
// and little-endian. Reading maps files read-only and validates every header
// as the reference Rust implementation does, so opening a 16 GB checkpoint
// costs its headers only; tensor data is paged in when touched.
package safetensors

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Tensor is one tensor of a checkpoint.
type Tensor struct {
	Name  string
	DType DType
	Shape []int // row-major; [] is a scalar (one element)
	// Data holds product(Shape) × DType.Size() bytes, little-endian, as a
	// slice of the read-only mapping: writing to it faults, and it is invalid
	// after Close. It is aligned to DType.Size() when the header length is a
	// multiple of 8 (as Writer and the reference writers make it). Like any
	// mapping, touching it after the file was truncated raises SIGBUS.
	Data []byte
	File string // path of the file that holds the tensor
}

// Len is the number of elements, product(Shape).
func (t Tensor) Len() int { return len(t.Data) / t.DType.Size() }

// File is one open safetensors file.
type File struct {
	path    string
	buf     []byte   // the mapping of the whole file
	tensors []Tensor // sorted by name
	meta    map[string]string
}

// Open maps the safetensors file at path read-only and validates its header.
// It reads nothing of the data section.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close() // the mapping outlives the descriptor
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	base := filepath.Base(path)
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("safetensors: %s: not a regular file", base)
	}
	if st.Size() < 8 {
		return nil, fmt.Errorf("safetensors: %s: file is %d bytes, too short for the 8-byte header length", base, st.Size())
	}
	if st.Size() > int64(^uint(0)>>1) {
		return nil, fmt.Errorf("safetensors: %s: %d bytes do not fit in this platform's address space", base, st.Size())
	}
	buf, err := mmap(f, int(st.Size()))
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: map: %v", base, err)
	}
	tensors, meta, err := parse(path, buf)
	if err != nil {
		munmap(buf)
		return nil, err
	}
	return &File{path: path, buf: buf, tensors: tensors, meta: meta}, nil
}

// Path is the path the file was opened with.
func (f *File) Path() string { return f.path }

// Tensor looks a tensor up by name, in O(log n). The Shape is the caller's
// to keep; Data is the mapping's (see Tensor).
func (f *File) Tensor(name string) (Tensor, bool) {
	i, ok := slices.BinarySearchFunc(f.tensors, name, func(t Tensor, name string) int {
		return strings.Compare(t.Name, name)
	})
	if !ok {
		return Tensor{}, false
	}
	t := f.tensors[i]
	t.Shape = slices.Clone(t.Shape)
	return t, true
}

// Names lists the tensor names in increasing order.
func (f *File) Names() []string {
	names := make([]string, len(f.tensors))
	for i, t := range f.tensors {
		names[i] = t.Name
	}
	return names
}

// Metadata is a copy of the header's "__metadata__" map, empty when the header
// has none.
func (f *File) Metadata() map[string]string {
	m := maps.Clone(f.meta)
	if m == nil {
		m = map[string]string{}
	}
	return m
}

// Close unmaps the file; every Tensor.Data from it becomes invalid and
// touching one faults. Closing twice is a no-op.
func (f *File) Close() error {
	if f.buf == nil {
		return nil
	}
	buf := f.buf
	f.buf, f.tensors = nil, nil
	if err := munmap(buf); err != nil {
		return fmt.Errorf("safetensors: %s: unmap: %v", filepath.Base(f.path), err)
	}
	return nil
}
