// Package model is the transformer both families share: a Hugging Face
// config.json becomes one Config, safetensors weights become one Model, and
// Forward runs it on a step of tokens against a key/value cache.
//
// LLaMA-3 (LlamaForCausalLM) is causal with grouped-query heads; LLaDA
// (LLaDAModelLM) is bidirectional with full heads and predicts masked tokens.
// They differ in weight names, the attention mask and the decoding loop, which
// lives in package decode.
package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Family is the kind of model, which decides the mask and the decoding.
type Family int

const (
	// Llama is a causal language model (LLaMA-3 and its relatives).
	Llama Family = iota + 1
	// LLaDA is a masked-diffusion language model with bidirectional attention.
	LLaDA
)

func (f Family) String() string {
	switch f {
	case Llama:
		return "llama"
	case LLaDA:
		return "llada"
	}
	return fmt.Sprintf("Family(%d)", int(f))
}

// Causal reports whether the family attends only to earlier tokens.
func (f Family) Causal() bool { return f == Llama }

// Config is the shape and constants of a model, whichever family it is.
type Config struct {
	Arch      string // the architecture named in config.json
	Family    Family
	Dim       int // residual stream width (hidden_size, d_model)
	HiddenDim int // feed-forward width (intermediate_size, mlp_hidden_size)
	NLayers   int
	NHeads    int
	NKVHeads  int
	HeadDim   int
	VocabSize int // rows of the embedding and of the LM head
	// TokenizerVocab is the vocabulary the tokenizer may emit (LLaDA's
	// vocab_size); rows past it exist only for alignment.
	TokenizerVocab int
	MaxSeqLen      int
	RopeTheta      float64
	RopeScaling    *RopeScaling // nil: plain RoPE
	NormEps        float32
	Tied           bool // the LM head is the embedding
	BOS            int  // -1 when none
	EOS            []int
	Pad            int // -1 when none
	MaskID         int // LLaDA's mask token; -1 for causal models
	TorchDType     string
}

// RopeScaling is the "llama3" frequency scaling of LLaMA-3.1.
type RopeScaling struct {
	Factor          float64
	LowFreqFactor   float64
	HighFreqFactor  float64
	OriginalMaxPos  int
	AttentionFactor float64 // multiplies cos and sin; 1 for llama3
}

// KVDim is the width of one token's keys (and of its values).
func (c *Config) KVDim() int { return c.NKVHeads * c.HeadDim }

// QDim is the width of one token's queries.
func (c *Config) QDim() int { return c.NHeads * c.HeadDim }

// Params counts the weights.
func (c *Config) Params() int64 {
	d, h, q, kv := int64(c.Dim), int64(c.HiddenDim), int64(c.QDim()), int64(c.KVDim())
	layer := d*q + 2*d*kv + q*d + 3*d*h + 2*d
	n := int64(c.NLayers)*layer + int64(c.VocabSize)*d + d
	if !c.Tied {
		n += int64(c.VocabSize) * d
	}
	return n
}

// IsEOS reports whether id ends generation.
func (c *Config) IsEOS(id int) bool {
	for _, e := range c.EOS {
		if id == e {
			return true
		}
	}
	return false
}

// LoadConfig reads dir/config.json (or a config.json path), and the
// end-of-sequence ids of generation_config.json beside it, where there is
// one, as transformers' generate stops at either file's.
func LoadConfig(path string) (*Config, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "config.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	gen := filepath.Join(filepath.Dir(path), "generation_config.json")
	if data, err := os.ReadFile(gen); err == nil {
		var r rawConfig
		var errs []string
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("config: %s: %w", gen, err)
		}
		for _, id := range r.ids("eos_token_id", &errs) {
			if !c.IsEOS(id) {
				c.EOS = append(c.EOS, id)
			}
		}
		if len(errs) > 0 {
			return nil, fmt.Errorf("config: %s: %s", gen, strings.Join(errs, "; "))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// rawConfig is every key either family uses; absent keys stay nil.
type rawConfig map[string]json.RawMessage

func (r rawConfig) has(k string) bool {
	v, ok := r[k]
	return ok && string(v) != "null"
}

func (r rawConfig) int(k string, def int, errs *[]string) int {
	if !r.has(k) {
		return def
	}
	var f float64
	if err := json.Unmarshal(r[k], &f); err != nil || f != math.Trunc(f) {
		*errs = append(*errs, fmt.Sprintf("%s: want an integer, have %s", k, r[k]))
		return def
	}
	if math.Abs(f) > 1<<40 {
		*errs = append(*errs, fmt.Sprintf("%s: %s is beyond any model's (at most 2^40)", k, r[k]))
		return def
	}
	return int(f)
}

func (r rawConfig) float(k string, def float64, errs *[]string) float64 {
	if !r.has(k) {
		return def
	}
	var f float64
	if err := json.Unmarshal(r[k], &f); err != nil {
		*errs = append(*errs, fmt.Sprintf("%s: want a number, have %s", k, r[k]))
		return def
	}
	return f
}

func (r rawConfig) bool(k string, def bool, errs *[]string) bool {
	if !r.has(k) {
		return def
	}
	var b bool
	if err := json.Unmarshal(r[k], &b); err != nil {
		*errs = append(*errs, fmt.Sprintf("%s: want true or false, have %s", k, r[k]))
		return def
	}
	return b
}

func (r rawConfig) str(k string, errs *[]string) string {
	if !r.has(k) {
		return ""
	}
	var s string
	if err := json.Unmarshal(r[k], &s); err != nil {
		*errs = append(*errs, fmt.Sprintf("%s: want a string, have %s", k, r[k]))
	}
	return s
}

// ids reads a token id or a list of them (eos_token_id may be either).
func (r rawConfig) ids(k string, errs *[]string) []int {
	if !r.has(k) {
		return nil
	}
	var one int
	if err := json.Unmarshal(r[k], &one); err == nil {
		return []int{one}
	}
	var many []int
	if err := json.Unmarshal(r[k], &many); err != nil {
		*errs = append(*errs, fmt.Sprintf("%s: want a token id or a list of them, have %s", k, r[k]))
	}
	return many
}

// ParseConfig reads a config.json of a supported architecture.
func ParseConfig(data []byte) (*Config, error) {
	var r rawConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if r == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	var errs []string
	arch := ""
	if r.has("architectures") {
		var archs []string
		if err := json.Unmarshal(r["architectures"], &archs); err != nil || len(archs) == 0 {
			errs = append(errs, fmt.Sprintf("architectures: want a list of names, have %s", r["architectures"]))
		} else {
			arch = archs[0]
		}
	}
	mt := r.str("model_type", &errs)
	var c *Config
	switch {
	case arch == "LlamaForCausalLM" || (arch == "" && mt == "llama"):
		c = parseLlama(r, &errs)
	case arch == "LLaDAModelLM" || (arch == "" && mt == "llada"):
		c = parseLLaDA(r, &errs)
	case arch == "" && mt == "":
		return nil, fmt.Errorf("no architectures or model_type: cannot tell the model family")
	default:
		name := arch
		if name == "" {
			name = "model_type " + mt
		}
		return nil, fmt.Errorf("unsupported architecture %s (supported: LlamaForCausalLM, LLaDAModelLM)", name)
	}
	c.Arch = arch
	if c.Arch == "" {
		c.Arch = map[Family]string{Llama: "LlamaForCausalLM", LLaDA: "LLaDAModelLM"}[c.Family]
	}
	c.TorchDType = r.str("torch_dtype", &errs)
	if c.TorchDType == "" {
		c.TorchDType = r.str("dtype", &errs)
	}
	if len(errs) == 0 {
		errs = c.validate()
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return c, nil
}

func parseLlama(r rawConfig, errs *[]string) *Config {
	c := &Config{Family: Llama, MaskID: -1}
	c.Dim = r.int("hidden_size", 0, errs)
	c.HiddenDim = r.int("intermediate_size", 0, errs)
	c.NLayers = r.int("num_hidden_layers", 0, errs)
	c.NHeads = r.int("num_attention_heads", 0, errs)
	c.NKVHeads = r.int("num_key_value_heads", c.NHeads, errs)
	if c.NHeads > 0 {
		c.HeadDim = r.int("head_dim", c.Dim/c.NHeads, errs)
	}
	c.VocabSize = r.int("vocab_size", 0, errs)
	c.TokenizerVocab = c.VocabSize
	c.MaxSeqLen = r.int("max_position_embeddings", 2048, errs)
	c.NormEps = float32(r.float("rms_norm_eps", 1e-6, errs))
	c.Tied = r.bool("tie_word_embeddings", false, errs)
	c.BOS, c.Pad = -1, -1
	if b := r.ids("bos_token_id", errs); len(b) > 0 {
		c.BOS = b[0]
	}
	c.EOS = r.ids("eos_token_id", errs)
	if p := r.ids("pad_token_id", errs); len(p) > 0 {
		c.Pad = p[0]
	}
	if act := r.str("hidden_act", errs); act != "" && act != "silu" {
		*errs = append(*errs, fmt.Sprintf("hidden_act %q is not supported (want silu)", act))
	}
	for _, k := range []string{"attention_bias", "mlp_bias"} {
		if r.bool(k, false, errs) {
			*errs = append(*errs, k+" true is not supported")
		}
	}
	// transformers 5 writes rope_parameters; earlier versions rope_theta and
	// rope_scaling at the top level.
	c.RopeTheta = r.float("rope_theta", 10000, errs)
	scaling := r["rope_scaling"]
	if r.has("rope_parameters") {
		var rp rawConfig
		if err := json.Unmarshal(r["rope_parameters"], &rp); err != nil {
			*errs = append(*errs, fmt.Sprintf("rope_parameters: want an object, have %s", r["rope_parameters"]))
		} else {
			c.RopeTheta = rp.float("rope_theta", c.RopeTheta, errs)
			scaling = r["rope_parameters"]
		}
	}
	c.RopeScaling = parseRopeScaling(scaling, c.MaxSeqLen, errs)
	return c
}

func parseRopeScaling(raw json.RawMessage, maxPos int, errs *[]string) *RopeScaling {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var r rawConfig
	if err := json.Unmarshal(raw, &r); err != nil {
		*errs = append(*errs, fmt.Sprintf("rope_scaling: want an object, have %s", raw))
		return nil
	}
	typ := r.str("rope_type", errs)
	if typ == "" {
		typ = r.str("type", errs)
	}
	switch typ {
	case "", "default":
		return nil
	case "llama3":
		s := &RopeScaling{
			Factor:          r.float("factor", 0, errs),
			LowFreqFactor:   r.float("low_freq_factor", 0, errs),
			HighFreqFactor:  r.float("high_freq_factor", 0, errs),
			OriginalMaxPos:  r.int("original_max_position_embeddings", 0, errs),
			AttentionFactor: r.float("attention_factor", 1, errs),
		}
		if s.Factor <= 0 || s.LowFreqFactor <= 0 || s.HighFreqFactor <= s.LowFreqFactor || s.OriginalMaxPos <= 0 {
			*errs = append(*errs, fmt.Sprintf("rope_scaling llama3: need factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0, have %s", raw))
		}
		return s
	}
	*errs = append(*errs, fmt.Sprintf("rope_scaling type %q is not supported (supported: llama3)", typ))
	return nil
}

func parseLLaDA(r rawConfig, errs *[]string) *Config {
	c := &Config{Family: LLaDA, Tied: false}
	c.Dim = r.int("d_model", 0, errs)
	c.NLayers = r.int("n_layers", 0, errs)
	c.NHeads = r.int("n_heads", 0, errs)
	c.NKVHeads = r.int("n_kv_heads", c.NHeads, errs)
	if mq := r["multi_query_attention"]; r.has("multi_query_attention") && string(mq) == "true" && !r.has("n_kv_heads") {
		c.NKVHeads = 1
	}
	if c.NHeads > 0 {
		c.HeadDim = c.Dim / c.NHeads
	}
	c.HiddenDim = r.int("mlp_hidden_size", r.int("mlp_ratio", 4, errs)*c.Dim, errs)
	c.TokenizerVocab = r.int("vocab_size", 0, errs)
	c.VocabSize = r.int("embedding_size", c.TokenizerVocab, errs)
	c.MaxSeqLen = r.int("max_sequence_length", 4096, errs)
	c.RopeTheta = r.float("rope_theta", 10000, errs)
	c.NormEps = float32(r.float("rms_norm_eps", 1e-5, errs))
	c.Tied = r.bool("weight_tying", false, errs)
	c.MaskID = r.int("mask_token_id", -1, errs)
	c.EOS = r.ids("eos_token_id", errs)
	c.Pad = r.int("pad_token_id", -1, errs)
	c.BOS = r.int("bos_token_id", -1, errs)
	if c.MaskID < 0 {
		*errs = append(*errs, "mask_token_id is missing: a LLaDA model needs it")
	}
	// The options of the OLMo-derived modeling code that this engine does
	// not implement; each must have the value LLaDA-8B uses.
	want := []struct {
		key string
		val string
	}{
		{"block_type", `"llama"`}, {"layer_norm_type", `"rms"`}, {"activation_type", `"silu"`},
		{"include_bias", "false"}, {"include_qkv_bias", "false"}, {"attention_layer_norm", "false"},
		{"scale_logits", "false"}, {"input_emb_norm", "false"}, {"alibi", "false"}, {"rope", "true"},
		{"block_group_size", "1"}, {"bias_for_layer_norm", "false"},
	}
	for _, w := range want {
		if r.has(w.key) && strings.TrimSpace(string(r[w.key])) != w.val {
			*errs = append(*errs, fmt.Sprintf("%s %s is not supported (want %s)", w.key, r[w.key], w.val))
		}
	}
	if r.has("layer_norm_with_affine") && !r.bool("layer_norm_with_affine", true, errs) {
		*errs = append(*errs, "layer_norm_with_affine false is not supported")
	}
	return c
}

func (c *Config) validate() []string {
	var errs []string
	pos := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Sprintf("%s must be positive, have %d", name, v))
		}
	}
	pos("model width", c.Dim)
	pos("feed-forward width", c.HiddenDim)
	pos("layer count", c.NLayers)
	pos("attention heads", c.NHeads)
	pos("key/value heads", c.NKVHeads)
	pos("head width", c.HeadDim)
	pos("vocabulary size", c.VocabSize)
	if len(errs) > 0 {
		return errs
	}
	if c.NHeads%c.NKVHeads != 0 {
		errs = append(errs, fmt.Sprintf("%d attention heads are not a multiple of %d key/value heads", c.NHeads, c.NKVHeads))
	}
	if c.HeadDim%2 != 0 {
		errs = append(errs, fmt.Sprintf("head width %d is odd: RoPE needs pairs", c.HeadDim))
	}
	if c.Family == LLaDA && c.Dim%c.NHeads != 0 {
		errs = append(errs, fmt.Sprintf("d_model %d is not a multiple of n_heads %d", c.Dim, c.NHeads))
	}
	if c.TokenizerVocab > c.VocabSize {
		errs = append(errs, fmt.Sprintf("embedding_size %d is smaller than vocab_size %d", c.VocabSize, c.TokenizerVocab))
	}
	if c.MaskID >= c.VocabSize {
		errs = append(errs, fmt.Sprintf("mask_token_id %d is outside the vocabulary of %d", c.MaskID, c.VocabSize))
	}
	if c.RopeTheta <= 0 {
		errs = append(errs, fmt.Sprintf("rope_theta must be positive, have %g", c.RopeTheta))
	}
	if !(c.NormEps > 0) {
		errs = append(errs, fmt.Sprintf("rms_norm_eps must be positive, have %g", c.NormEps))
	}
	if c.MaxSeqLen <= 0 {
		errs = append(errs, fmt.Sprintf("maximum sequence length must be positive, have %d", c.MaxSeqLen))
	}
	return errs
}
