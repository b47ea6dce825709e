package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"path/filepath"
	"slices"
	"unicode/utf8"
)

// maxHeader is the reference implementation's limit on the header length
// (MAX_HEADER_SIZE = 100_000_000 in safetensors/src/tensor.rs); a larger
// header is taken as a corrupt or hostile file rather than parsed.
const maxHeader = 100_000_000

// entry is one tensor of a header, before its data is located.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end uint64 // relative to the data section
}

// parse validates a whole safetensors file held in buf and returns its tensors
// sorted by name, each Data a slice of buf, and its "__metadata__" map (nil
// when absent). path names the file in errors and in Tensor.File.
//
// The rules are the reference implementation's: 8-byte little-endian header
// length N ≤ 100 MB within the file; N bytes of UTF-8 JSON, an object starting
// with '{'; each entry has a known dtype, a shape of non-negative integers and
// data_offsets [begin, end] with begin ≤ end and end − begin =
// product(shape) × size (overflow is an error); sorted by offset the tensors
// tile the data section [0, len(buf)−8−N) exactly. Field names match exactly
// and a repeated field is an error, as with serde; a repeated tensor name is
// an error too, where serde_json would keep one of them silently.
//
// The work is O(n log n) in the number of tensors: two sorts, no quadratic scan.
func parse(path string, buf []byte) ([]Tensor, map[string]string, error) {
	base := filepath.Base(path)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("safetensors: %s: "+format, append([]any{base}, args...)...)
	}
	if len(buf) < 8 {
		return nil, nil, fail("file is %d bytes, too short for the 8-byte header length", len(buf))
	}
	n := binary.LittleEndian.Uint64(buf)
	if n > maxHeader {
		return nil, nil, fail("header length %d exceeds the limit of %d bytes", n, maxHeader)
	}
	if n > uint64(len(buf)-8) {
		return nil, nil, fail("header length %d runs past the end of the %d-byte file", n, len(buf))
	}
	hdr, data := buf[8:8+n], buf[8+n:]
	if !utf8.Valid(hdr) {
		return nil, nil, fail("header is not valid UTF-8")
	}
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, nil, fail("header does not start with '{'")
	}

	entries, meta, err := decodeHeader(hdr)
	if err != nil {
		return nil, nil, fail("%v", err)
	}

	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.name, b.name) })
	for i := 1; i < len(entries); i++ {
		if entries[i].name == entries[i-1].name {
			return nil, nil, fail("duplicate tensor %q", entries[i].name)
		}
	}

	// Sorted by (begin, end), as the reference does, so that zero-length
	// tensors sharing an offset with a neighbour still tile.
	byOffset := make([]*entry, len(entries))
	for i := range entries {
		byOffset[i] = &entries[i]
	}
	slices.SortFunc(byOffset, func(a, b *entry) int {
		if c := cmp.Compare(a.begin, b.begin); c != 0 {
			return c
		}
		return cmp.Compare(a.end, b.end)
	})
	var at uint64
	for i, e := range byOffset {
		switch {
		case e.begin > at && i == 0:
			return nil, nil, fail("tensor %q: data offsets [%d, %d) leave bytes [0, %d) of the data section unused", e.name, e.begin, e.end, e.begin)
		case e.begin > at:
			return nil, nil, fail("tensor %q: data offsets [%d, %d) leave a gap after tensor %q ending at %d", e.name, e.begin, e.end, byOffset[i-1].name, at)
		case e.begin < at:
			p := byOffset[i-1]
			return nil, nil, fail("tensor %q: data offsets [%d, %d) overlap tensor %q at [%d, %d)", e.name, e.begin, e.end, p.name, p.begin, p.end)
		}
		at = e.end
	}
	if at != uint64(len(data)) {
		if len(byOffset) == 0 {
			return nil, nil, fail("no tensors, but the data section holds %d bytes", len(data))
		}
		last := byOffset[len(byOffset)-1]
		return nil, nil, fail("tensor %q: data ends at %d, but the data section holds %d bytes", last.name, at, len(data))
	}

	tensors := make([]Tensor, len(entries))
	for i, e := range entries {
		b, end := int(e.begin), int(e.end) // both ≤ len(data) now
		tensors[i] = Tensor{Name: e.name, DType: e.dtype, Shape: e.shape, Data: data[b:end:end], File: path}
	}
	return tensors, meta, nil
}

// decodeHeader reads the header object entry by entry, so that duplicate
// names are seen (encoding/json into a map would keep the last silently).
func decodeHeader(hdr []byte) ([]entry, map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if err := expectDelim(dec, '{'); err != nil {
		return nil, nil, err
	}
	var (
		entries []entry
		meta    map[string]string
		hasMeta bool
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, jsonError(err)
		}
		name, ok := tok.(string)
		if !ok { // the decoder returns keys as strings; guard regardless
			return nil, nil, fmt.Errorf("header: object key %v is not a string", tok)
		}
		if name == "__metadata__" {
			if hasMeta {
				return nil, nil, errors.New("duplicate __metadata__")
			}
			hasMeta = true
			if err := dec.Decode(&meta); err != nil {
				if isSyntax(err) {
					return nil, nil, jsonError(err)
				}
				return nil, nil, errors.New("__metadata__: want an object of strings to strings")
			}
			continue
		}
		e, err := decodeEntry(dec)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %v", name, err)
		}
		e.name = name
		entries = append(entries, e)
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, nil, err
	}
	// Spaces pad the header to a multiple of 8; anything else after the
	// object is not JSON.
	rest := hdr[dec.InputOffset():]
	if len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
		return nil, nil, fmt.Errorf("header: invalid JSON: data after the object at byte %d", dec.InputOffset())
	}
	return entries, meta, nil
}

// decodeEntry reads one {"dtype": …, "shape": […], "data_offsets": [b, e]}
// and checks it on its own; unknown fields are skipped, as the reference does.
func decodeEntry(dec *json.Decoder) (entry, error) {
	var e entry
	if err := expectDelim(dec, '{'); err != nil {
		return e, err
	}
	var (
		dtype         string
		shape, offset []uint64
		have          [3]bool
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return e, jsonError(err)
		}
		key, _ := tok.(string)
		var dst any
		var want string
		field := -1
		switch key {
		case "dtype":
			field, dst, want = 0, &dtype, "a string"
		case "shape":
			field, dst, want = 1, &shape, "a list of non-negative integers"
		case "data_offsets":
			field, dst, want = 2, &offset, "[begin, end] of non-negative integers"
		default:
			dst = new(json.RawMessage)
		}
		if field >= 0 {
			if have[field] {
				return e, fmt.Errorf("duplicate field %q", key)
			}
			have[field] = true
		}
		if err := dec.Decode(dst); err != nil {
			if isSyntax(err) {
				return e, jsonError(err)
			}
			return e, fmt.Errorf("%s: want %s", key, want)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return e, err
	}
	for i, k := range [3]string{"dtype", "shape", "data_offsets"} {
		if !have[i] {
			return e, fmt.Errorf("missing field %q", k)
		}
	}

	dt, ok := parseDType(dtype)
	if !ok {
		return e, fmt.Errorf("unknown dtype %q", dtype)
	}
	if shape == nil { // null; [] decodes to an empty, non-nil slice
		return e, errors.New("shape: want a list of non-negative integers")
	}
	if len(offset) != 2 {
		return e, fmt.Errorf("data_offsets: want [begin, end], got %d values", len(offset))
	}
	begin, end := offset[0], offset[1]
	if begin > end {
		return e, fmt.Errorf("data offsets [%d, %d) end before they begin", begin, end)
	}
	need, ok := byteSize(dt, shape)
	if !ok {
		return e, fmt.Errorf("shape %v of %v: byte count overflows 64 bits", shape, dt)
	}
	if end-begin != need {
		return e, fmt.Errorf("data offsets [%d, %d) hold %d bytes, shape %v of %v needs %d", begin, end, end-begin, shape, dt, need)
	}
	dims := make([]int, len(shape))
	for i, d := range shape {
		// Only reachable with a zero elsewhere in the shape; Go lengths are ints.
		if d > math.MaxInt {
			return e, fmt.Errorf("shape %v: dimension %d does not fit in an int", shape, d)
		}
		dims[i] = int(d)
	}
	e.dtype, e.shape, e.begin, e.end = dt, dims, begin, end
	return e, nil
}

// expectDelim reads the next token and requires it to be the delimiter d.
func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonError(err)
	}
	if tok != d {
		what := "an object"
		if d == '}' {
			what = "the end of an object"
		}
		return fmt.Errorf("want %s, got %s", what, describe(tok))
	}
	return nil
}

// describe names a JSON token for an error message, briefly.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(v))
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// jsonError turns a decoder error into one line with the byte offset in the
// header where it has one.
func jsonError(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("header: invalid JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("header: invalid JSON: unexpected end")
	}
	return fmt.Errorf("header: invalid JSON: %v", err)
}

// byteSize is product(shape) × dt.Size(). The product is folded left to right
// with checked multiplication, as the reference does, so that the same shapes
// overflow: [2^32, 2^32, 0] does, [0, 2^32, 2^32] does not. ok is false on
// overflow.
func byteSize[T int | uint64](dt DType, shape []T) (n uint64, ok bool) {
	n = 1
	for _, d := range shape {
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 {
			return 0, false
		}
		n = lo
	}
	hi, n := bits.Mul64(n, uint64(dt.Size()))
	return n, hi == 0
}
