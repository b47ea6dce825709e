package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

// pattern is n bytes that differ from their neighbours, so that a misplaced
// tensor shows.
func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + seed*7 + 1)
	}
	return b
}

func TestRoundTripDTypes(t *testing.T) {
	var w Writer
	w.Metadata = map[string]string{"format": "pt", "note": `<&> "quoted"`}
	var want []Tensor
	path := filepath.Join(t.TempDir(), "all.safetensors")
	for d := Bool; d <= U64; d++ {
		// Shapes of odd sizes, so that alignment depends on the layout.
		for i, shape := range [][]int{{3}, {2, 3}, {}, {0, 4}} {
			name := d.String() + "." + string(rune('a'+i))
			n := d.Size()
			for _, s := range shape {
				n *= s
			}
			data := pattern(n, int(d)*4+i)
			w.Add(name, d, shape, data)
			want = append(want, Tensor{Name: name, DType: d, Shape: shape, Data: data, File: path})
		}
	}
	f := writeAndOpen(t, &w, path)
	names := f.Names()
	if len(names) != len(want) {
		t.Fatalf("%d tensors, want %d", len(names), len(want))
	}
	for _, wt := range want {
		got, ok := f.Tensor(wt.Name)
		if !ok {
			t.Errorf("tensor %q missing", wt.Name)
			continue
		}
		if wt.Shape == nil {
			wt.Shape = []int{}
		}
		if diff := cmp.Diff(wt, got); diff != "" {
			t.Errorf("tensor %q (-want +got):\n%s", wt.Name, diff)
		}
		// The layout puts every tensor at a multiple of its element size;
		// the mapping is page-aligned, so addresses are aligned too.
		if len(got.Data) > 0 && uintptr(unsafe.Pointer(&got.Data[0]))%uintptr(got.DType.Size()) != 0 {
			t.Errorf("tensor %q of %v at unaligned address %p", got.Name, got.DType, &got.Data[0])
		}
		if got.Len()*got.DType.Size() != len(got.Data) {
			t.Errorf("tensor %q: Len %d for %d bytes", got.Name, got.Len(), len(got.Data))
		}
	}
	if diff := cmp.Diff(w.Metadata, f.Metadata()); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestReferenceBytes compares the writer's output with the byte vectors of
// the reference implementation's tests test_serialization and test_empty
// (huggingface/safetensors safetensors/src/tensor.rs).
func TestReferenceBytes(t *testing.T) {
	f32s := func(xs ...float32) []byte {
		var b []byte
		for _, x := range xs {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
		return b
	}
	tests := []struct {
		name string
		w    func(*Writer)
		want []byte
	}{
		{"attn.0 F32 [1,2,3]", func(w *Writer) { w.Add("attn.0", F32, []int{1, 2, 3}, f32s(0, 1, 2, 3, 4, 5)) },
			append(append(binary.LittleEndian.AppendUint64(nil, 64),
				`{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`...),
				f32s(0, 1, 2, 3, 4, 5)...)},
		// test_serialization_forced_alignement: seven spaces align the data.
		{"attn0 F32 [1,1,2,3]", func(w *Writer) { w.Add("attn0", F32, []int{1, 1, 2, 3}, f32s(0, 1, 2, 3, 4, 5)) },
			append(append(binary.LittleEndian.AppendUint64(nil, 72),
				`{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       `...),
				f32s(0, 1, 2, 3, 4, 5)...)},
		{"empty", func(*Writer) {}, []byte("\x08\x00\x00\x00\x00\x00\x00\x00{}      ")},
		{"empty with metadata", func(w *Writer) { w.Metadata = map[string]string{"framework": "pt"} },
			append(binary.LittleEndian.AppendUint64(nil, 40), `{"__metadata__":{"framework":"pt"}}     `...)},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w Writer
			tc.w(&w)
			path := filepath.Join(dir, "ref.safetensors")
			if err := w.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("file\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// TestLayout checks the order of the data section: larger elements first,
// then by name, whatever the Add order.
func TestLayout(t *testing.T) {
	var w Writer
	w.Add("z8", U8, []int{1}, []byte{1})
	w.Add("a8", I8, []int{3}, []byte{2, 2, 2})
	w.Add("b16", BF16, []int{1}, []byte{3, 3})
	w.Add("c64", F64, []int{1}, pattern(8, 4))
	w.Add("a32", F32, []int{1}, pattern(4, 5))
	f := writeAndOpen(t, &w, filepath.Join(t.TempDir(), "l.safetensors"))
	base := uintptr(unsafe.Pointer(&f.buf[0]))
	want := map[string]uintptr{"c64": 0, "a32": 8, "b16": 12, "a8": 14, "z8": 17}
	hdr := uintptr(8 + binary.LittleEndian.Uint64(f.buf))
	for name, off := range want {
		x, _ := f.Tensor(name)
		if got := uintptr(unsafe.Pointer(&x.Data[0])) - base - hdr; got != off {
			t.Errorf("tensor %q at data offset %d, want %d", name, got, off)
		}
	}
}

func TestAddPanics(t *testing.T) {
	tests := []struct {
		name string
		add  func(*Writer)
		want string
	}{
		// The zero DType is not a type.
		{"invalid dtype", func(w *Writer) { w.Add("a", 0, []int{1}, nil) }, `safetensors: Add "a": invalid DType(0)`},
		{"negative dimension", func(w *Writer) { w.Add("a", F32, []int{2, -1}, nil) }, `safetensors: Add "a": negative dimension in shape [2 -1]`},
		{"short data", func(w *Writer) { w.Add("a", BF16, []int{2, 3}, make([]byte, 11)) }, `safetensors: Add "a": 11 bytes of data, shape [2 3] of BF16 needs 12`},
		// Empty non-nil data is not "zeros": it must match the shape too.
		{"empty data", func(w *Writer) { w.Add("a", U8, []int{1}, []byte{}) }, `0 bytes of data, shape [1] of U8 needs 1`},
		{"byte count overflow", func(w *Writer) { w.Add("a", F64, []int{1 << 31, 1 << 31, 4}, nil) }, `overflows the byte count`},
		// The header keeps this key for the metadata map.
		{"reserved name", func(w *Writer) { w.Add("__metadata__", U8, nil, nil) }, `safetensors: Add: invalid tensor name "__metadata__"`},
		{"invalid UTF-8 name", func(w *Writer) { w.Add("a\xff", U8, nil, nil) }, `invalid tensor name "a\xff"`},
		{"name twice", func(w *Writer) { w.Add("a", U8, nil, nil); w.Add("a", F32, nil, nil) }, `safetensors: Add "a": name added twice`},
		{"invalid UTF-8 metadata", func(w *Writer) {
			w.Metadata = map[string]string{"k": "\xff"}
			w.WriteFile(filepath.Join(t.TempDir(), "never"))
		}, `safetensors: Metadata "k": "\xff": not UTF-8`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, tc.want) {
					t.Errorf("panic %v, want one containing %q", r, tc.want)
				}
			}()
			var w Writer
			tc.add(&w)
		})
	}
}

// shardWriter is a checkpoint of 10 BF16 tensors of 64 bytes each, added in
// an order unlike their names.
func shardWriter() *Writer {
	w := &Writer{Metadata: map[string]string{"format": "pt"}}
	for i := range 10 {
		name := "layers." + string(rune('a'+(i*3)%10)) + ".weight"
		w.Add(name, BF16, []int{4, 8}, pattern(64, i))
	}
	return w
}

func TestWriteDirSharded(t *testing.T) {
	dir := t.TempDir()
	w := shardWriter()
	// An earlier single-file write must not shadow the shards.
	writeTensors(t, filepath.Join(dir, SingleName), "stale")
	// 200 bytes fit three 64-byte tensors: shards of 3, 3, 3 and 1.
	if err := w.WriteDir(dir, 200); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, IndexName))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Metadata  map[string]int64
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	if idx.Metadata["total_size"] != 640 {
		t.Errorf("total_size %d, want 640", idx.Metadata["total_size"])
	}
	wantMap := map[string]string{}
	for i, x := range w.tensors {
		wantMap[x.name] = []string{
			"model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
			"model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors",
		}[i/3]
	}
	if diff := cmp.Diff(wantMap, idx.WeightMap); diff != "" {
		t.Errorf("weight_map (-want +got):\n%s", diff)
	}
	if isFile(filepath.Join(dir, SingleName)) {
		t.Error("sharded WriteDir also wrote model.safetensors")
	}

	// The directory and the index file open the same checkpoint.
	for _, path := range []string{dir, filepath.Join(dir, IndexName)} {
		c, err := OpenDir(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Files()) != 4 {
			t.Errorf("OpenDir(%s): %d files, want 4", path, len(c.Files()))
		}
		checkCheckpoint(t, c, w, dir, wantMap)
		if diff := cmp.Diff(map[string]string{"format": "pt"}, c.Metadata()); diff != "" {
			t.Errorf("metadata (-want +got):\n%s", diff)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriteDirSingle(t *testing.T) {
	for _, budget := range []int64{0, 640} { // no limit; exactly enough
		dir := t.TempDir()
		w := shardWriter()
		// An earlier sharded write leaves an index that must go.
		if err := w.WriteDir(dir, 100); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteDir(dir, budget); err != nil {
			t.Fatal(err)
		}
		if isFile(filepath.Join(dir, IndexName)) {
			t.Errorf("budget %d: wrote an index for one shard", budget)
		}
		c, err := OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		wantMap := map[string]string{}
		for _, x := range w.tensors {
			wantMap[x.name] = SingleName
		}
		checkCheckpoint(t, c, w, dir, wantMap)
		c.Close()
	}
}

// checkCheckpoint compares every tensor of c with what w added, and its file
// with wantFile.
func checkCheckpoint(t *testing.T, c *Checkpoint, w *Writer, dir string, wantFile map[string]string) {
	t.Helper()
	if len(c.Names()) != len(w.tensors) {
		t.Errorf("%d names, want %d", len(c.Names()), len(w.tensors))
	}
	for _, x := range w.tensors {
		want := Tensor{Name: x.name, DType: x.dtype, Shape: x.shape, Data: x.data, File: filepath.Join(dir, wantFile[x.name])}
		got, ok := c.Tensor(x.name)
		if !ok {
			t.Errorf("tensor %q missing", x.name)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("tensor %q (-want +got):\n%s", x.name, diff)
		}
	}
	if _, ok := c.Tensor("absent"); ok {
		t.Error(`Tensor("absent") found`)
	}
}

// TestZeroTensors checks that nil data reads back as zeros between tensors
// with data, and at the end of the file.
func TestZeroTensors(t *testing.T) {
	var w Writer
	w.Add("a", F32, []int{1024}, pattern(4096, 1))
	w.Add("b", F32, []int{3000}, nil)
	w.Add("c", F32, []int{1}, pattern(4, 2))
	w.Add("d", F32, []int{5000}, nil)
	f := writeAndOpen(t, &w, filepath.Join(t.TempDir(), "z.safetensors"))
	for _, name := range []string{"b", "d"} {
		x, _ := f.Tensor(name)
		if !bytes.Equal(x.Data, make([]byte, len(x.Data))) {
			t.Errorf("tensor %q is not all zero", name)
		}
	}
	if c, _ := f.Tensor("c"); !bytes.Equal(c.Data, pattern(4, 2)) {
		t.Errorf("tensor c = %v", c.Data)
	}
}

// writeAndOpen writes w to path and opens it until the test ends.
func writeAndOpen(t *testing.T, w *Writer, path string) *File {
	t.Helper()
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
