package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"unicode/utf8"
)

// Writer collects tensors and writes them as a safetensors file or a sharded
// checkpoint. The zero Writer is ready to use.
type Writer struct {
	// Metadata is written as the header's "__metadata__" map (transformers
	// writes {"format": "pt"}); nil or empty writes none.
	Metadata map[string]string

	tensors []wtensor // in Add order, which WriteDir keeps when sharding
	names   map[string]bool
}

type wtensor struct {
	name  string
	dtype DType
	shape []int
	size  int64  // bytes
	data  []byte // nil: all zero, written as a hole
}

// Add appends a tensor. data is product(shape) × dt.Size() little-endian
// bytes, kept (not copied) until the file is written; nil data means all
// zeros and costs no disk blocks, which is how tests make a 16 GB checkpoint.
// Add panics on an invalid dtype, a negative dimension, a byte count that
// overflows, data of the wrong length, a repeated or non-UTF-8 name, or the
// reserved name "__metadata__".
func (w *Writer) Add(name string, dt DType, shape []int, data []byte) {
	if !dt.valid() {
		panic(fmt.Sprintf("safetensors: Add %q: invalid DType(%d)", name, uint8(dt)))
	}
	if name == "__metadata__" || !utf8.ValidString(name) {
		panic(fmt.Sprintf("safetensors: Add: invalid tensor name %q", name))
	}
	if w.names[name] {
		panic(fmt.Sprintf("safetensors: Add %q: name added twice", name))
	}
	if slices.ContainsFunc(shape, func(d int) bool { return d < 0 }) {
		panic(fmt.Sprintf("safetensors: Add %q: negative dimension in shape %v", name, shape))
	}
	size, ok := byteSize(dt, shape)
	if !ok || size > math.MaxInt64 {
		panic(fmt.Sprintf("safetensors: Add %q: shape %v of %v overflows the byte count", name, shape, dt))
	}
	if data != nil && uint64(len(data)) != size {
		panic(fmt.Sprintf("safetensors: Add %q: %d bytes of data, shape %v of %v needs %d", name, len(data), shape, dt, size))
	}
	if w.names == nil {
		w.names = map[string]bool{}
	}
	w.names[name] = true
	w.tensors = append(w.tensors, wtensor{name: name, dtype: dt, shape: slices.Clone(shape), size: int64(size), data: data})
}

// WriteFile writes the tensors as one safetensors file at path. The header is
// padded with spaces to a multiple of 8 bytes and the tensors are laid out by
// decreasing element size, then by name, as the reference writer does, so
// that each starts at a multiple of its element size. Zero tensors become a
// hole in the file, not written bytes.
func (w *Writer) WriteFile(path string) error {
	checkMeta(w.Metadata)
	return writeFile(path, w.tensors, w.Metadata)
}

// WriteDir writes the tensors into dir, created if needed, as transformers'
// save_pretrained does: tensors in Add order fill a shard until the next
// would take it past shardBytes of data (a larger tensor gets a shard of its
// own); the shards are model-00001-of-0000N.safetensors and
// model.safetensors.index.json maps every tensor to its shard, with
// metadata.total_size the sum of tensor bytes. If everything fits in one
// shard, or shardBytes ≤ 0, it writes model.safetensors alone. Each shard's
// header carries Metadata. A model.safetensors or index left in dir from an
// earlier write of the other form is removed, so that OpenDir finds this one.
func (w *Writer) WriteDir(dir string, shardBytes int64) error {
	checkMeta(w.Metadata)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	var shards [][]wtensor
	var used int64
	for _, t := range w.tensors {
		if len(shards) == 0 || (shardBytes > 0 && used+t.size > shardBytes && used > 0) {
			shards = append(shards, nil)
			used = 0
		}
		shards[len(shards)-1] = append(shards[len(shards)-1], t)
		used += t.size
	}
	stale := filepath.Join(dir, SingleName)
	if len(shards) <= 1 {
		stale = filepath.Join(dir, IndexName)
	}
	if err := os.Remove(stale); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("safetensors: %w", err)
	}
	if len(shards) <= 1 {
		return writeFile(filepath.Join(dir, SingleName), w.tensors, w.Metadata)
	}
	var idx struct {
		Metadata struct {
			TotalSize int64 `json:"total_size"`
		} `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	idx.WeightMap = map[string]string{}
	for i, shard := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		if err := writeFile(filepath.Join(dir, name), shard, w.Metadata); err != nil {
			return err
		}
		for _, t := range shard {
			idx.WeightMap[t.name] = name
			idx.Metadata.TotalSize += t.size
		}
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		panic(err) // a struct of a map of strings always marshals
	}
	if err := os.WriteFile(filepath.Join(dir, IndexName), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

func checkMeta(m map[string]string) {
	for k, v := range m {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			panic(fmt.Sprintf("safetensors: Metadata %q: %q: not UTF-8", k, v))
		}
	}
}

// writeFile lays out ts, writes header and data, and leaves zero tensors as
// holes: the file is extended with Truncate and only non-nil data is written.
func writeFile(path string, ts []wtensor, meta map[string]string) (err error) {
	order := slices.Clone(ts)
	slices.SortFunc(order, func(a, b wtensor) int {
		if c := cmp.Compare(b.dtype.Size(), a.dtype.Size()); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	hdr, total := header(order, meta)
	start := int64(8 + len(hdr))

	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("safetensors: %w", cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if err := f.Truncate(start + total); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
	if _, err := f.WriteAt(append(n[:], hdr...), 0); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	at := start
	for _, t := range order {
		if t.data != nil && t.size > 0 {
			if _, err := f.WriteAt(t.data, at); err != nil {
				return fmt.Errorf("safetensors: %w", err)
			}
		}
		at += t.size
	}
	return nil
}

// header renders the JSON header for tensors in file order, metadata first,
// padded with spaces to a multiple of 8; it also returns the data length.
// The output matches the reference writer byte for byte, except that metadata
// keys are sorted and U+2028 and U+2029 are escaped.
func header(order []wtensor, meta map[string]string) ([]byte, int64) {
	var b bytes.Buffer
	b.WriteByte('{')
	if len(meta) > 0 {
		b.WriteString(`"__metadata__":{`)
		for i, k := range slices.Sorted(maps.Keys(meta)) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(&b, k)
			b.WriteByte(':')
			writeString(&b, meta[k])
		}
		b.WriteByte('}')
	}
	var at int64
	for i, t := range order {
		if i > 0 || len(meta) > 0 {
			b.WriteByte(',')
		}
		writeString(&b, t.name)
		fmt.Fprintf(&b, `:{"dtype":"%s","shape":[`, t.dtype)
		for j, d := range t.shape {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprint(&b, d)
		}
		if at+t.size < at {
			panic(fmt.Sprintf("safetensors: tensor %q: data section size overflows int64", t.name))
		}
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, at, at+t.size)
		at += t.size
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes(), at
}

// writeString writes s as a JSON string; unlike json.Marshal it leaves <, >
// and & alone, as serde_json does.
func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err) // strings always encode
	}
	b.Truncate(b.Len() - 1) // Encode's newline
}
