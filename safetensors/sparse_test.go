//go:build linux

package safetensors

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestSparseLlama3 writes a zero Meta-Llama-3-8B checkpoint (16 GB of BF16)
// as holes, in 5 GB shards as transformers does, and opens it without
// touching the data.
func TestSparseLlama3(t *testing.T) {
	dir := t.TempDir()
	w := Writer{Metadata: map[string]string{"format": "pt"}}
	norm := pattern(2*4096, 3)
	for _, x := range llama3Tensors() {
		var data []byte
		if x.name == "model.norm.weight" {
			data = norm
		}
		w.Add(x.name, BF16, x.shape, data)
	}
	if err := w.WriteDir(dir, 5_000_000_000); err != nil {
		t.Fatal(err)
	}

	raw, err := os.ReadFile(filepath.Join(dir, IndexName))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Metadata struct {
			TotalSize int64 `json:"total_size"`
		}
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	// total_size of meta-llama/Meta-Llama-3-8B's model.safetensors.index.json
	// on the Hugging Face Hub: 8 030 261 248 parameters × 2 bytes.
	if idx.Metadata.TotalSize != 16_060_522_496 {
		t.Errorf("total_size %d, want 16060522496", idx.Metadata.TotalSize)
	}

	// The file sizes of meta-llama/Meta-Llama-3-8B's four shards on the Hub:
	// the same split and byte-identical headers give the same sizes.
	shards := map[string]int64{
		"model-00001-of-00004.safetensors": 4_976_698_672,
		"model-00002-of-00004.safetensors": 4_999_802_720,
		"model-00003-of-00004.safetensors": 4_915_916_176,
		"model-00004-of-00004.safetensors": 1_168_138_808,
	}
	for _, s := range idx.WeightMap {
		if _, ok := shards[s]; !ok {
			t.Fatalf("weight_map names shard %q", s)
		}
	}
	var size, alloc int64
	for s, want := range shards {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(dir, s), &st); err != nil {
			t.Fatal(err)
		}
		if st.Size != want {
			t.Errorf("%s: %d bytes, want %d", s, st.Size, want)
		}
		size += st.Size
		alloc += st.Blocks * 512 // st_blocks counts 512-byte units
	}
	// Header, one norm vector and file-system slack: well under a megabyte.
	if alloc > 1<<20 {
		t.Errorf("shards allocate %d bytes on disk for %d bytes of file; want holes", alloc, size)
	}

	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := len(c.Names()); n != 291 {
		t.Errorf("%d tensors, want 291", n)
	}
	emb, _ := c.Tensor("model.embed_tokens.weight")
	if len(emb.Data) != 128256*4096*2 || emb.Data[len(emb.Data)/2] != 0 {
		t.Errorf("embedding: %d bytes, middle byte %d", len(emb.Data), emb.Data[len(emb.Data)/2])
	}
	if got, _ := c.Tensor("model.norm.weight"); !bytes.Equal(got.Data, norm) {
		t.Error("model.norm.weight does not read back")
	}
}
