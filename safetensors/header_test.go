package safetensors

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// file assembles a safetensors file by hand: the little-endian length of hdr,
// hdr itself and data zero bytes.
func file(hdr string, data int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	b = append(b, hdr...)
	return append(b, make([]byte, data)...)
}

// withLength is a file whose length field says n, followed by rest.
func withLength(n uint64, rest string) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, n), rest...)
}

// badFiles are malformed files and the part of the error each must give.
var badFiles = []struct {
	name string
	file []byte
	want string
}{
	// Too short to hold the 8-byte length.
	{"empty", nil, "file is 0 bytes, too short for the 8-byte header length"},
	{"seven bytes", []byte("\x02\x00\x00\x00\x00\x00\x00"), "file is 7 bytes, too short"},
	// The reference refuses headers over MAX_HEADER_SIZE = 100_000_000.
	{"header over 100 MB", withLength(100_000_001, "{}"), "header length 100000001 exceeds the limit of 100000000 bytes"},
	// A length near 2^64 must not wrap when 8 is added to it.
	{"header length 2^64-1", withLength(1<<64-1, "{}"), "exceeds the limit"},
	{"header past end of file", withLength(100, "{}"), "header length 100 runs past the end of the 10-byte file"},
	{"zero header length", withLength(0, ""), "header does not start with '{'"},
	{"invalid UTF-8", file("{\"a\xff\":{}}", 0), "header is not valid UTF-8"},
	// The reference (0.4+) requires the first byte to be '{', even before spaces.
	{"leading space", file(` {}`, 0), "header does not start with '{'"},
	{"array header", file(`[]`, 0), "header does not start with '{'"},
	{"syntax error", file(`{]`, 0), "header: invalid JSON at byte 1"},
	{"truncated JSON", file(`{"a":`, 0), "header: invalid JSON"},
	{"unterminated object", file(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}`, 4), "header: invalid JSON"},
	// Only whitespace may follow the object (serde_json::from_str).
	{"trailing data", file(`{}x`, 0), "data after the object"},
	{"two objects", file(`{}{}`, 0), "data after the object"},
	{"entry not an object", file(`{"a":1}`, 0), `tensor "a": want an object, got a number`},
	{"entry is null", file(`{"a":null}`, 0), `tensor "a": want an object, got null`},
	{"unknown dtype", file(`{"a":{"dtype":"F4","shape":[],"data_offsets":[0,1]}}`, 1), `tensor "a": unknown dtype "F4"`},
	// serde matches enum variants case-sensitively.
	{"lower-case dtype", file(`{"a":{"dtype":"bf16","shape":[1],"data_offsets":[0,2]}}`, 2), `unknown dtype "bf16"`},
	{"dtype not a string", file(`{"a":{"dtype":3,"shape":[1],"data_offsets":[0,2]}}`, 2), `tensor "a": dtype: want a string`},
	{"missing dtype", file(`{"a":{"shape":[1],"data_offsets":[0,2]}}`, 2), `tensor "a": missing field "dtype"`},
	{"missing shape", file(`{"a":{"dtype":"F16","data_offsets":[0,2]}}`, 2), `tensor "a": missing field "shape"`},
	{"missing offsets", file(`{"a":{"dtype":"F16","shape":[1]}}`, 2), `tensor "a": missing field "data_offsets"`},
	// encoding/json would match "DTYPE" to a struct field; the header must not.
	{"field name case", file(`{"a":{"DTYPE":"F16","shape":[1],"data_offsets":[0,2]}}`, 2), `missing field "dtype"`},
	{"duplicate field", file(`{"a":{"dtype":"F16","dtype":"F32","shape":[1],"data_offsets":[0,2]}}`, 2), `tensor "a": duplicate field "dtype"`},
	{"negative dimension", file(`{"a":{"dtype":"F16","shape":[-1],"data_offsets":[0,2]}}`, 2), `tensor "a": shape: want a list of non-negative integers`},
	{"fractional dimension", file(`{"a":{"dtype":"F16","shape":[1.5],"data_offsets":[0,2]}}`, 2), `shape: want a list of non-negative integers`},
	{"dimension beyond uint64", file(`{"a":{"dtype":"F16","shape":[18446744073709551616],"data_offsets":[0,2]}}`, 2), `shape: want a list`},
	{"null shape", file(`{"a":{"dtype":"F16","shape":null,"data_offsets":[0,2]}}`, 2), `shape: want a list of non-negative integers`},
	{"shape not a list", file(`{"a":{"dtype":"F16","shape":"1","data_offsets":[0,2]}}`, 2), `shape: want a list`},
	{"three offsets", file(`{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2,4]}}`, 2), `tensor "a": data_offsets: want [begin, end], got 3 values`},
	{"one offset", file(`{"a":{"dtype":"F16","shape":[1],"data_offsets":[2]}}`, 2), `got 1 values`},
	{"negative offset", file(`{"a":{"dtype":"F16","shape":[1],"data_offsets":[-2,0]}}`, 2), `data_offsets: want [begin, end] of non-negative integers`},
	{"reversed offsets", file(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}`, 4), `tensor "a": data offsets [4, 0) end before they begin`},
	// The example of the package brief: 20 BF16 elements need 40 bytes.
	{"size mismatch", file(`{"model.layers.3.mlp.up_proj.weight":{"dtype":"BF16","shape":[4,5],"data_offsets":[0,100]}}`, 100),
		`tensor "model.layers.3.mlp.up_proj.weight": data offsets [0, 100) hold 100 bytes, shape [4 5] of BF16 needs 40`},
	// 2^32 × 2^32 overflows before the 0 is reached, as in the reference's fold.
	{"element count overflow", file(`{"a":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}`, 0), `tensor "a": shape [4294967296 4294967296 0] of U8: byte count overflows 64 bits`},
	{"byte count overflow", file(`{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}`, 0), `byte count overflows 64 bits`},
	// Valid for the reference (usize), but a Go length cannot hold it.
	{"dimension beyond int", file(`{"a":{"dtype":"U8","shape":[0,18446744073709551615],"data_offsets":[0,0]}}`, 0), `does not fit in an int`},
	{"duplicate tensor", file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, 2), `duplicate tensor "a"`},
	{"duplicate metadata", file(`{"__metadata__":{},"__metadata__":{}}`, 0), `duplicate __metadata__`},
	{"metadata value not a string", file(`{"__metadata__":{"n":1}}`, 0), `__metadata__: want an object of strings to strings`},
	{"metadata not an object", file(`{"__metadata__":"pt"}`, 0), `__metadata__: want an object`},
	{"gap at start", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), `tensor "a": data offsets [4, 8) leave bytes [0, 4) of the data section unused`},
	{"gap between", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, 12),
		`tensor "b": data offsets [8, 12) leave a gap after tensor "a" ending at 4`},
	{"overlap", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12),
		`tensor "b": data offsets [4, 12) overlap tensor "a" at [0, 8)`},
	// Two tensors aliasing the same bytes are an overlap too.
	{"shared bytes", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4), `overlap tensor "a" at [0, 4)`},
	// A zero-length tensor inside another's bytes.
	{"empty tensor inside another", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}`, 8), `tensor "e": data offsets [4, 4) overlap tensor "a"`},
	{"data section too long", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 8), `tensor "a": data ends at 4, but the data section holds 8 bytes`},
	{"data section too short", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4), `tensor "a": data ends at 8, but the data section holds 4 bytes`},
	{"data without tensors", file(`{}`, 8), `no tensors, but the data section holds 8 bytes`},
}

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range badFiles {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "bad.safetensors")
			if err := os.WriteFile(path, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(path)
			if err == nil {
				f.Close()
				t.Fatalf("Open succeeded, want error containing %q", tc.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "safetensors: bad.safetensors: ") || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error\n\t%s\nwant one line starting with the file name and containing\n\t%s", msg, tc.want)
			}
		})
	}
}

// goodFiles are valid files, including the edge cases the reference accepts.
var goodFiles = []struct {
	name    string
	file    []byte
	tensors []Tensor // sorted by name; File is set by the test
	meta    map[string]string
}{
	// The reference writer's output for no tensors: "{}" and six spaces.
	{"empty", file(`{}      `, 0), []Tensor{}, map[string]string{}},
	{"metadata only", file(`{"__metadata__":{"format":"pt"}}`, 0), []Tensor{}, map[string]string{"format": "pt"}},
	// __metadata__ is an Option in the reference: null is None.
	{"null metadata", file(`{"__metadata__":null}`, 0), []Tensor{}, map[string]string{}},
	{"zero-element tensor", file(`{"a":{"dtype":"BF16","shape":[0,5],"data_offsets":[0,0]}}`, 0),
		[]Tensor{{Name: "a", DType: BF16, Shape: []int{0, 5}, Data: []byte{}}}, map[string]string{}},
	// An empty shape is a scalar of one element.
	{"scalar", file(`{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, 4),
		[]Tensor{{Name: "s", DType: F32, Shape: []int{}, Data: make([]byte, 4)}}, map[string]string{}},
	// Zero-length tensors may share offsets with their neighbours.
	{"empty tensors between", file(`{"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"e":{"dtype":"U8","shape":[0],"data_offsets":[2,2]},`+
		`"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"z":{"dtype":"U8","shape":[0],"data_offsets":[4,4]}}`, 4),
		[]Tensor{
			{Name: "a", DType: U8, Shape: []int{2}, Data: make([]byte, 2)},
			{Name: "b", DType: U8, Shape: []int{2}, Data: make([]byte, 2)},
			{Name: "e", DType: U8, Shape: []int{0}, Data: []byte{}},
			{Name: "z", DType: U8, Shape: []int{0}, Data: []byte{}},
		}, map[string]string{}},
	// The reference ignores unknown entry fields; padding may be any length
	// of whitespace and the header length need not be a multiple of 8.
	{"unknown field and odd padding", file(`{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8],"extra":{"x":[1]}}}`+" \n\t ", 8),
		[]Tensor{{Name: "a", DType: I64, Shape: []int{1}, Data: make([]byte, 8)}}, map[string]string{}},
	// The format allows an empty name.
	{"empty name", file(`{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 1),
		[]Tensor{{Name: "", DType: U8, Shape: []int{1}, Data: []byte{0}}}, map[string]string{}},
	// The dimension only overflows when folded in the other order.
	{"large dimensions after a zero", file(`{"a":{"dtype":"U8","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}`, 0),
		[]Tensor{{Name: "a", DType: U8, Shape: []int{0, 1 << 32, 1 << 32}, Data: []byte{}}}, map[string]string{}},
}

func TestParseGood(t *testing.T) {
	for _, tc := range goodFiles {
		t.Run(tc.name, func(t *testing.T) {
			got, meta, err := parse("good.safetensors", tc.file)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(tc.tensors)
			for i := range want {
				want[i].File = "good.safetensors"
			}
			if meta == nil {
				meta = map[string]string{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("tensors (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.meta, meta); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDataIsTheFile checks that tensor data are slices of the file itself at
// the header's offsets, not copies.
func TestDataIsTheFile(t *testing.T) {
	buf := file(`{"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]},"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}`, 5)
	start := len(buf) - 5
	copy(buf[start:], "hello")
	ts, _, err := parse("x", buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(ts[0].Data) != "hel" || string(ts[1].Data) != "lo" {
		t.Fatalf("data %q %q, want \"hel\" \"lo\"", ts[0].Data, ts[1].Data)
	}
	if &ts[0].Data[0] != &buf[start] || &ts[1].Data[0] != &buf[start+3] {
		t.Error("tensor data are copies, want slices of the buffer")
	}
	// Capacity is capped so that append cannot write into the mapping.
	if cap(ts[0].Data) != 3 {
		t.Errorf("cap(Data) = %d, want 3", cap(ts[0].Data))
	}
}

// TestParseManyTensors parses a header of 20000 tensors, written in an order
// (by name) unlike their numeric order, with zero-length tensors among them.
func TestParseManyTensors(t *testing.T) {
	var w Writer
	want := map[string]int{} // name → bytes
	for i := range 20000 {
		name := "t" + strconv.Itoa((i*7919)%20000) // 7919 is prime: a permutation
		w.Add(name, F16, []int{i % 3}, nil)
		want[name] = 2 * (i % 3)
	}
	buf := encode(&w)
	ts, _, err := parse("many", buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 20000 {
		t.Fatalf("%d tensors, want 20000", len(ts))
	}
	f := &File{tensors: ts}
	for name, n := range want {
		if x, ok := f.Tensor(name); !ok || len(x.Data) != n {
			t.Fatalf("Tensor(%q) = %d bytes, %v; want %d bytes", name, len(x.Data), ok, n)
		}
	}
}

// encode is WriteFile to memory, with nil data as zeros.
func encode(w *Writer) []byte {
	order := slices.Clone(w.tensors)
	slices.SortFunc(order, func(a, b wtensor) int {
		if a.dtype.Size() != b.dtype.Size() {
			return b.dtype.Size() - a.dtype.Size()
		}
		return strings.Compare(a.name, b.name)
	})
	hdr, total := header(order, w.Metadata)
	var b bytes.Buffer
	b.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))))
	b.Write(hdr)
	for _, t := range order {
		if t.data == nil {
			b.Write(make([]byte, t.size))
		} else {
			b.Write(t.data)
		}
	}
	if int64(b.Len()) != int64(8+len(hdr))+total {
		panic("encode: length mismatch")
	}
	return b.Bytes()
}

// FuzzParseHeader checks that no input panics, that every error is one line,
// and that whatever parses is consistent and survives a rewrite.
func FuzzParseHeader(f *testing.F) {
	for _, tc := range badFiles {
		f.Add(tc.file)
	}
	for _, tc := range goodFiles {
		f.Add(tc.file)
	}
	var w Writer
	w.Metadata = map[string]string{"format": "pt"}
	w.Add("w", BF16, []int{2, 3}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	w.Add("b", F64, []int{1}, nil)
	w.Add("flag", Bool, []int{}, []byte{1})
	f.Add(encode(&w))

	f.Fuzz(func(t *testing.T, buf []byte) {
		ts, meta, err := parse("fuzz.safetensors", buf)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		n := binary.LittleEndian.Uint64(buf)
		var sum int
		for i, x := range ts {
			if i > 0 && ts[i-1].Name >= x.Name {
				t.Fatalf("names not strictly increasing: %q, %q", ts[i-1].Name, x.Name)
			}
			elems := 1
			for _, d := range x.Shape {
				elems *= d
			}
			if len(x.Data) != elems*x.DType.Size() {
				t.Fatalf("tensor %q: %d bytes for shape %v of %v", x.Name, len(x.Data), x.Shape, x.DType)
			}
			sum += len(x.Data)
		}
		if sum != len(buf)-8-int(n) {
			t.Fatalf("tensors hold %d bytes, data section is %d", sum, len(buf)-8-int(n))
		}

		// Rewrite through the writer and parse again: same tensors.
		var w Writer
		w.Metadata = meta
		for _, x := range ts {
			w.Add(x.Name, x.DType, x.Shape, x.Data)
		}
		again, meta2, err := parse("fuzz.safetensors", encode(&w))
		if err != nil {
			t.Fatalf("rewritten file does not parse: %v", err)
		}
		if diff := cmp.Diff(ts, again); diff != "" {
			t.Fatalf("rewrite changed tensors (-before +after):\n%s", diff)
		}
		if len(meta) != len(meta2) {
			t.Fatalf("rewrite changed metadata: %v, %v", meta, meta2)
		}
	})
}
