// Package testmodel writes small deterministic models in the Hugging Face
// layout (config.json and model.safetensors) for tests: random weights of
// any shape, for either family. (The built-in demo pair is a trained model
// of its own, internal/demo.)
package testmodel

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"dllmbench/compute"
	"dllmbench/model"
	"dllmbench/safetensors"
)

// Spec is the shape of a model to write.
type Spec struct {
	Family                  model.Family
	Dim, Hidden, Layers     int
	Heads, KVHeads, HeadDim int // HeadDim 0: Dim/Heads
	Vocab                   int
	EmbeddingSize           int // LLaDA only: rows of the embedding; 0 means Vocab
	MaxSeq                  int
	Tied                    bool
	RopeTheta               float64
	MaskID                  int   // LLaDA only
	EOS                     []int // default: the last token id
	BOS                     int   // Llama only; default 0
	DType                   safetensors.DType
	// Sparse writes every weight as zeros without storing them (a hole in
	// the file): for memory tests at real sizes.
	Sparse bool
	Seed   uint64
	// Extra config.json keys, merged last.
	Extra map[string]any
}

// Tiny returns a small spec of the family that tests run in milliseconds.
func Tiny(f model.Family) Spec {
	s := Spec{Family: f, Dim: 64, Hidden: 96, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 97, MaxSeq: 256,
		RopeTheta: 10000, DType: safetensors.F32, Seed: 1}
	if f == model.LLaDA {
		s.KVHeads = 4
		s.MaskID = 96
		s.EOS = []int{95}
	}
	return s
}

// Llama3_8B is the exact shape of Meta-Llama-3-8B.
func Llama3_8B() Spec {
	return Spec{Family: model.Llama, Dim: 4096, Hidden: 14336, Layers: 32, Heads: 32, KVHeads: 8, HeadDim: 128,
		Vocab: 128256, MaxSeq: 8192, RopeTheta: 500000, BOS: 128000, EOS: []int{128001}, DType: safetensors.BF16}
}

// LLaDA8B is the exact shape of LLaDA-8B-Base.
func LLaDA8B() Spec {
	return Spec{Family: model.LLaDA, Dim: 4096, Hidden: 12288, Layers: 32, Heads: 32, KVHeads: 32, HeadDim: 128,
		Vocab: 126464, MaxSeq: 4096, RopeTheta: 500000, MaskID: 126336, EOS: []int{126081}, DType: safetensors.BF16}
}

// Config returns the config.json object of the spec, as the family's
// Hugging Face checkpoints write it.
func (s Spec) Config() map[string]any {
	hd := s.HeadDim
	if hd == 0 {
		hd = s.Dim / s.Heads
	}
	eos := s.EOS
	if len(eos) == 0 {
		eos = []int{s.Vocab - 1}
	}
	var c map[string]any
	switch s.Family {
	case model.Llama:
		c = map[string]any{
			"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama",
			"hidden_size": s.Dim, "intermediate_size": s.Hidden, "num_hidden_layers": s.Layers,
			"num_attention_heads": s.Heads, "num_key_value_heads": s.KVHeads, "head_dim": hd,
			"vocab_size": s.Vocab, "max_position_embeddings": s.MaxSeq, "rms_norm_eps": 1e-5,
			"rope_theta": s.RopeTheta, "tie_word_embeddings": s.Tied, "hidden_act": "silu",
			"bos_token_id": s.BOS, "eos_token_id": eos[0], "torch_dtype": dtypeName(s.DType),
		}
	case model.LLaDA:
		emb := s.EmbeddingSize
		if emb == 0 {
			emb = s.Vocab
		}
		c = map[string]any{
			"architectures": []string{"LLaDAModelLM"}, "model_type": "llada",
			"d_model": s.Dim, "mlp_hidden_size": s.Hidden, "n_layers": s.Layers, "n_heads": s.Heads,
			"n_kv_heads": s.KVHeads, "vocab_size": s.Vocab, "embedding_size": emb,
			"max_sequence_length": s.MaxSeq, "rms_norm_eps": 1e-5, "rope_theta": s.RopeTheta,
			"weight_tying": s.Tied, "mask_token_id": s.MaskID, "eos_token_id": eos[0], "pad_token_id": eos[0],
			"block_type": "llama", "layer_norm_type": "rms", "activation_type": "silu", "rope": true,
			"include_bias": false, "include_qkv_bias": false, "alibi": false, "block_group_size": 1,
		}
	default:
		panic(fmt.Sprintf("testmodel: family %v", s.Family))
	}
	for k, v := range s.Extra {
		c[k] = v
	}
	return c
}

func dtypeName(d safetensors.DType) string {
	switch d {
	case safetensors.BF16:
		return "bfloat16"
	case safetensors.F16:
		return "float16"
	}
	return "float32"
}

// Write writes config.json and model.safetensors of a random model to dir.
// Matrices are normal with standard deviation 1/√in so activations stay of
// order one; norms are near one.
func Write(dir string, s Spec) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg, err := json.MarshalIndent(s.Config(), "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		return err
	}
	c, err := model.ParseConfig(cfg)
	if err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	rng := rand.New(rand.NewPCG(s.Seed, 42))
	var w safetensors.Writer
	mat := func(name string, rows, cols int) {
		w.Add(name, s.DType, []int{rows, cols}, s.values(rng, rows*cols, 1/math.Sqrt(float64(cols)), 0))
	}
	vec := func(name string, n int) {
		w.Add(name, s.DType, []int{n}, s.values(rng, n, 0.1, 1))
	}
	global, layers := model.WeightNames(c.Family, c.NLayers)
	mat(global[0], c.VocabSize, c.Dim)
	vec(global[1], c.Dim)
	if !c.Tied {
		mat(global[2], c.VocabSize, c.Dim)
	}
	q, kv := c.QDim(), c.KVDim()
	for _, l := range layers {
		vec(l[0], c.Dim)
		mat(l[1], q, c.Dim)
		mat(l[2], kv, c.Dim)
		mat(l[3], kv, c.Dim)
		mat(l[4], c.Dim, q)
		vec(l[5], c.Dim)
		mat(l[6], c.HiddenDim, c.Dim)
		mat(l[7], c.HiddenDim, c.Dim)
		mat(l[8], c.Dim, c.HiddenDim)
	}
	return w.WriteFile(filepath.Join(dir, "model.safetensors"))
}

// values returns n little-endian elements of s.DType drawn from
// N(mean, std²), or nil (zeros, stored as a hole) for a sparse spec.
func (s Spec) values(rng *rand.Rand, n int, std, mean float64) []byte {
	if s.Sparse {
		return nil
	}
	size := s.DType.Size()
	out := make([]byte, n*size)
	for i := range n {
		v := float32(mean + std*rng.NormFloat64())
		switch s.DType {
		case safetensors.F32:
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		case safetensors.BF16:
			binary.LittleEndian.PutUint16(out[2*i:], compute.F32ToBF16(v))
		case safetensors.F16:
			binary.LittleEndian.PutUint16(out[2*i:], compute.F32ToF16(v))
		default:
			panic(fmt.Sprintf("testmodel: dtype %v", s.DType))
		}
	}
	return out
}

// Load writes s to a temporary folder of t and loads it on b; the model is
// closed when t ends.
func Load(t testing.TB, s Spec, b compute.Backend) *model.Model {
	t.Helper()
	dir := t.TempDir()
	if err := Write(dir, s); err != nil {
		t.Fatal(err)
	}
	return LoadDir(t, dir, b, model.LoadOptions{})
}

// LoadDir loads the checkpoint in dir on b with opt, failing t on an
// error; the model is closed when t ends.
func LoadDir(t testing.TB, dir string, b compute.Backend, opt model.LoadOptions) *model.Model {
	t.Helper()
	m, err := model.Load(dir, b, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// MustState fails tb on NewState's error and returns the state:
// testmodel.MustState(t)(m.NewState(…)).
func MustState(tb testing.TB) func(*model.State, error) *model.State {
	return func(s *model.State, err error) *model.State {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
}
