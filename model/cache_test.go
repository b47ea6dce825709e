package model_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dllmbench/compute"
	"dllmbench/compute/computetest"
	"dllmbench/compute/cpu"
	"dllmbench/internal/testbackend"
	"dllmbench/internal/testmodel"
	"dllmbench/model"
	"dllmbench/safetensors"
)

// The caches follow the weights unless LoadOptions.CacheDType says
// otherwise, and State.Memory counts them at their element size.
func TestCacheDType(t *testing.T) {
	b := cpu.New(1)
	defer b.Close()
	for _, c := range []struct {
		name    string
		stored  safetensors.DType
		opt     model.LoadOptions
		want    compute.DType
		wantErr string
	}{
		{"float32 weights", safetensors.F32, model.LoadOptions{}, compute.F32, ""},
		{"bf16 weights", safetensors.BF16, model.LoadOptions{}, compute.BF16, ""},
		{"fp16 weights: Attention reads no fp16 cache", safetensors.F16, model.LoadOptions{}, compute.BF16, ""},
		{"float32 weights loaded as bf16 (--precision bf16)", safetensors.F32, model.LoadOptions{DType: compute.BF16}, compute.BF16, ""},
		{"bf16 weights loaded as float32", safetensors.BF16, model.LoadOptions{DType: compute.F32}, compute.F32, ""},
		{"a bf16 cache forced on float32 weights", safetensors.F32, model.LoadOptions{CacheDType: compute.BF16}, compute.BF16, ""},
		{"a float32 cache forced on bf16 weights", safetensors.BF16, model.LoadOptions{CacheDType: compute.F32}, compute.F32, ""},
		{"an fp16 cache", safetensors.BF16, model.LoadOptions{CacheDType: compute.F16}, 0, "a key/value cache of F16 (want F32 or BF16)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := testmodel.Tiny(model.Llama)
			spec.DType = c.stored
			dir := t.TempDir()
			if err := testmodel.Write(dir, spec); err != nil {
				t.Fatal(err)
			}
			m, err := model.Load(dir, b, c.opt)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if got := m.CacheDType(); got != c.want {
				t.Errorf("CacheDType %v, want %v", got, c.want)
			}
			const B, T = 2, 5
			s := testmodel.MustState(t)(m.NewState(B, 3, T, 1))
			defer s.Close()
			cache, _ := s.Memory()
			cfg := &m.Config
			if want := int64(2 * cfg.NLayers * B * T * cfg.KVDim() * c.want.Size()); cache != want {
				t.Errorf("cache of %d bytes, want %d", cache, want)
			}
		})
	}
}

// The float32 golden models with a bfloat16 cache, and loaded with weights
// in bfloat16 or float16 (--precision): the logits stay within the half
// tolerance of PyTorch's float32 forward, and differ from the float32
// model's (so the cache or the weights are what they are said to be).
func TestGoldensInHalfPrecision(t *testing.T) {
	b := testbackend.Open(t)
	variants := []struct {
		name string
		opt  model.LoadOptions
	}{
		{"float32", model.LoadOptions{}},
		{"a bf16 cache", model.LoadOptions{CacheDType: compute.BF16}},
		{"bf16 weights", model.LoadOptions{DType: compute.BF16}},
		{"fp16 weights", model.LoadOptions{DType: compute.F16}},
	}
	for _, name := range []string{"llama-gqa", "llama-tied", "llama31-scaled", "llada-tiny"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(goldenDir, name)
			var g struct {
				Prompts     [][]int `json:"prompts"`
				LogitInputs [][]int `json:"logit_inputs"`
			}
			raw, err := os.ReadFile(filepath.Join(dir, "golden.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &g); err != nil {
				t.Fatal(err)
			}
			inputs, key := g.Prompts, "prompt%d"
			if len(g.LogitInputs) > 0 {
				inputs, key = g.LogitInputs, "input%d"
			}
			want := readLogits(t, filepath.Join(dir, "logits.safetensors"))
			logits := make([][][]float32, len(variants))
			for v, vr := range variants {
				m, err := model.Load(dir, b, vr.opt)
				if err != nil {
					t.Fatal(err)
				}
				if dt := vr.opt.DType; dt != 0 && m.Weights.Layers[0].WQ.DType() != dt {
					t.Errorf("%s: weights of %v", vr.name, m.Weights.Layers[0].WQ.DType())
				}
				for _, in := range inputs {
					logits[v] = append(logits[v], logitsOf(t, m, in))
				}
				m.Close()
			}
			for v, vr := range variants[1:] {
				for i := range inputs {
					rel, maxAbs := computetest.RelErr(logits[v+1][i], want[fmt.Sprintf(key, i)])
					t.Logf("input %d: relative error %.2e (max abs %.2e) with %s", i, rel, maxAbs, vr.name)
					if !(rel <= computetest.Default.Half) {
						t.Errorf("input %d: relative error %.3g with %s exceeds %g", i, rel, vr.name, computetest.Default.Half)
					}
					if fmt.Sprint(logits[0][i]) == fmt.Sprint(logits[v+1][i]) {
						t.Errorf("input %d: %s gives the float32 model's logits", i, vr.name)
					}
				}
			}
		})
	}
}
