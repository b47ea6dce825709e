package model_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"dllmbench/internal/testmodel"
	"dllmbench/model"
)

// The real LLaDA-8B-Base config.json (testdata/llada-8b-base, MIT).
func TestLLaDA8BConfig(t *testing.T) {
	c, err := model.LoadConfig("../testdata/llada-8b-base")
	if err != nil {
		t.Fatal(err)
	}
	want := model.Config{Arch: "LLaDAModelLM", Family: model.LLaDA, Dim: 4096, HiddenDim: 12288, NLayers: 32,
		NHeads: 32, NKVHeads: 32, HeadDim: 128, VocabSize: 126464, TokenizerVocab: 126464, MaxSeqLen: 4096,
		RopeTheta: 500000, NormEps: 1e-5, BOS: -1, EOS: []int{126081}, Pad: 126081, MaskID: 126336}
	if d := cmp.Diff(&want, c); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}
	// 8,015,581,184 parameters: model.safetensors.index.json's total_size of
	// 16031162368 bytes over 2 bytes per bf16 weight.
	if got := c.Params(); got != 16031162368/2 {
		t.Errorf("Params = %d, want %d", got, int64(16031162368/2))
	}
}

func TestLlamaConfig(t *testing.T) {
	raw, _ := json.Marshal(testmodel.Llama3_8B().Config())
	c, err := model.ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.Family != model.Llama || c.NKVHeads != 8 || c.HeadDim != 128 || c.KVDim() != 1024 || c.Tied || c.BOS != 128000 {
		t.Errorf("parsed %+v", c)
	}
	// 8,030,261,248 parameters (Llama-3.1-8B's index total_parameters; the
	// shapes are Llama-3-8B's).
	if got := c.Params(); got != 8030261248 {
		t.Errorf("Params = %d, want 8030261248", got)
	}
}

// LLaMA-3.1's llama3 RoPE scaling, and transformers 5's rope_parameters.
func TestRopeScaling(t *testing.T) {
	base := testmodel.Tiny(model.Llama).Config()
	base["max_position_embeddings"] = 1024
	for _, tc := range []struct {
		name  string
		extra map[string]any
		theta float64
	}{
		{"rope_scaling at top level", map[string]any{"rope_theta": 500000.0, "rope_scaling": map[string]any{
			"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}}, 500000},
		{"transformers 5 rope_parameters", map[string]any{"rope_parameters": map[string]any{
			"rope_type": "llama3", "rope_theta": 250000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
			"original_max_position_embeddings": 64}}, 250000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]any{}
			for k, v := range base {
				m[k] = v
			}
			for k, v := range tc.extra {
				m[k] = v
			}
			raw, _ := json.Marshal(m)
			c, err := model.ParseConfig(raw)
			if err != nil {
				t.Fatal(err)
			}
			if c.RopeScaling == nil || c.RopeScaling.Factor != 8 || c.RopeTheta != tc.theta {
				t.Fatalf("scaling %+v theta %g", c.RopeScaling, c.RopeTheta)
			}
			plain := *c
			plain.RopeScaling = nil
			scaled, orig := c.InvFreq(), plain.InvFreq()
			// The highest frequency (wavelength 2π < 64/4) is kept, the lowest
			// (wavelength far above 64) is divided by the factor.
			if scaled[0] != orig[0] {
				t.Errorf("highest frequency changed: %g → %g", orig[0], scaled[0])
			}
			last := len(orig) - 1
			if r := orig[last] / scaled[last]; r < 7.99 || r > 8.01 {
				t.Errorf("lowest frequency ratio %g, want 8", r)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tiny := testmodel.Tiny(model.Llama).Config()
	llada := testmodel.Tiny(model.LLaDA).Config()
	with := func(base map[string]any, k string, v any) string {
		m := map[string]any{}
		for kk, vv := range base {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		raw, _ := json.Marshal(m)
		return string(raw)
	}
	for _, tc := range []struct {
		name, json, want string
	}{
		{"not JSON", `{"hidden_size": `, "not a JSON object"},
		{"unknown architecture", `{"architectures": ["MistralForCausalLM"]}`, "unsupported architecture MistralForCausalLM"},
		{"no family at all", `{"hidden_size": 8}`, "cannot tell the model family"},
		{"heads not a multiple of kv heads", with(tiny, "num_key_value_heads", 3), "not a multiple of 3 key/value heads"},
		{"missing layer count", with(tiny, "num_hidden_layers", nil), "layer count must be positive"},
		{"a string where a number goes", with(tiny, "hidden_size", "64"), "hidden_size: want an integer"},
		{"a count beyond any model", with(tiny, "num_hidden_layers", 1<<62), "num_hidden_layers: 4611686018427387904 is beyond any model's (at most 2^40)"},
		{"unsupported rope scaling", with(tiny, "rope_scaling", map[string]any{"rope_type": "yarn", "factor": 4}), `rope_scaling type "yarn" is not supported`},
		{"llama3 scaling without its keys", with(tiny, "rope_scaling", map[string]any{"rope_type": "llama3"}), "rope_scaling llama3: need factor"},
		{"a bias the engine lacks", with(tiny, "attention_bias", true), "attention_bias true is not supported"},
		{"LLaDA without a mask token", with(llada, "mask_token_id", nil), "mask_token_id is missing"},
		{"LLaDA option not implemented", with(llada, "scale_logits", true), "scale_logits true is not supported"},
		{"LLaDA embedding smaller than vocabulary", with(llada, "embedding_size", 50), "embedding_size 50 is smaller than vocab_size 97"},
	} {
		_, err := model.ParseConfig([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans several lines: %q", tc.name, err)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []map[string]any{testmodel.Tiny(model.Llama).Config(), testmodel.Tiny(model.LLaDA).Config(),
		testmodel.LLaDA8B().Config()} {
		raw, _ := json.Marshal(s)
		f.Add(raw)
	}
	f.Add([]byte(`{"architectures": [], "rope_scaling": {"type": 3}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := model.ParseConfig(data)
		if err == nil && (c.Dim <= 0 || c.NHeads%c.NKVHeads != 0 || c.HeadDim%2 != 0) {
			t.Errorf("accepted an invalid config: %+v", c)
		}
	})
}

// generation_config.json's end-of-sequence ids join config.json's, as
// transformers' generate stops at either (LLaMA-3-8B-Instruct's config
// names 128009, its generation config 128001 and 128009); a broken one is
// an error naming it, and a folder without one keeps config.json's.
func TestGenerationConfigEOS(t *testing.T) {
	raw, _ := json.Marshal(testmodel.Llama3_8B().Config())
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["eos_token_id"] = 128009
	raw, _ = json.Marshal(cfg)
	for _, c := range []struct {
		name, gen string
		eos       []int
		err       string
	}{
		{"no generation config", "", []int{128009}, ""},
		{"a list", `{"bos_token_id": 128000, "eos_token_id": [128001, 128009]}`, []int{128009, 128001}, ""},
		{"one id", `{"eos_token_id": 128008}`, []int{128009, 128008}, ""},
		{"no eos_token_id", `{"temperature": 0.6}`, []int{128009}, ""},
		{"not JSON", `{"eos_token_id": `, nil, "generation_config.json: unexpected end of JSON input"},
		{"not ids", `{"eos_token_id": "</s>"}`, nil, "generation_config.json: eos_token_id: want a token id or a list of them"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if c.gen != "" {
			if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(c.gen), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := model.LoadConfig(dir)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case !slices.Equal(got.EOS, c.eos):
			t.Errorf("%s: EOS %v, want %v", c.name, got.EOS, c.eos)
		}
	}
}
