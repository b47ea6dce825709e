package safetensors

import (
	"encoding/binary"
	"math"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// stories260K is the real checkpoint of testdata/stories260K (README.md
// there gives its provenance): dim 64, hidden 172, 5 layers, 8 heads, 4 KV
// heads, vocabulary 512, tied embeddings, F32.
const stories260K = "../testdata/stories260K"

func TestStories260K(t *testing.T) {
	c, err := OpenDir(stories260K)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// 1 embedding, 9 tensors per layer, the final norm; no lm_head (tied).
	if n := len(c.Names()); n != 1+5*9+1 {
		t.Errorf("%d tensors, want 47", n)
	}
	if diff := cmp.Diff(map[string]string{"format": "pt"}, c.Metadata()); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	// Shapes follow from config.json: HF stores Linear weights as (out, in).
	shapes := map[string][]int{
		"model.embed_tokens.weight":                      {512, 64},
		"model.norm.weight":                              {64},
		"model.layers.0.input_layernorm.weight":          {64},
		"model.layers.0.self_attn.q_proj.weight":         {64, 64},
		"model.layers.0.self_attn.k_proj.weight":         {32, 64}, // 4 KV heads × head dim 8
		"model.layers.4.self_attn.v_proj.weight":         {32, 64},
		"model.layers.2.mlp.gate_proj.weight":            {172, 64},
		"model.layers.3.mlp.down_proj.weight":            {64, 172},
		"model.layers.1.post_attention_layernorm.weight": {64},
	}
	for name, shape := range shapes {
		x, ok := c.Tensor(name)
		if !ok {
			t.Errorf("tensor %q missing", name)
			continue
		}
		if x.DType != F32 || !cmp.Equal(x.Shape, shape) {
			t.Errorf("tensor %q: %v %v, want F32 %v", name, x.DType, x.Shape, shape)
		}
	}
	for l := range 5 {
		for _, s := range []string{"input_layernorm", "post_attention_layernorm", "mlp.up_proj", "self_attn.o_proj"} {
			if _, ok := c.Tensor("model.layers." + strconv.Itoa(l) + "." + s + ".weight"); !ok {
				t.Errorf("layer %d: %s missing", l, s)
			}
		}
	}

	// Values read independently with Python's struct module at the header's
	// offsets; the embedding's first three also open llama2.c's
	// stories260K.bin (after its 7-int32 header), which this file converts.
	values := []struct {
		name  string
		index int
		want  float32
	}{
		{"model.embed_tokens.weight", 0, -0.29474878311157227},
		{"model.embed_tokens.weight", 1, 0.5618956089019775},
		{"model.embed_tokens.weight", 2, 0.1754225343465805},
		{"model.embed_tokens.weight", 512*64 - 1, -0.424032598733902},
		{"model.norm.weight", 0, 2.4583089351654053},
		{"model.norm.weight", 63, 1.7077769041061401},
		{"model.layers.4.self_attn.v_proj.weight", 0, 0.056523118168115616},
		{"model.layers.4.self_attn.v_proj.weight", 2047, 0.08836912363767624},
	}
	for _, v := range values {
		x, _ := c.Tensor(v.name)
		got := math.Float32frombits(binary.LittleEndian.Uint32(x.Data[4*v.index:]))
		if got != v.want {
			t.Errorf("%s[%d] = %v, want %v", v.name, v.index, got, v.want)
		}
	}
}
