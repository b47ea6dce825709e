package model_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dllmbench/compute/cpu"
	"dllmbench/decode"
	"dllmbench/internal/testbackend"
	"dllmbench/internal/testmodel"
	"dllmbench/model"
	"dllmbench/safetensors"
)

// stories260K (testdata/stories260K, MIT) is a real pretrained tiny LLaMA
// with tied embeddings and grouped heads. Its published llama2.c greedy
// sample from BOS, which HF transformers also reproduces 199/199, is the
// first end-to-end check of the causal path.
func TestStories260KGreedy(t *testing.T) {
	var ref struct {
		BOS int   `json:"bos_id"`
		IDs []int `json:"generated_ids"`
	}
	raw, err := os.ReadFile("../testdata/stories260K/greedy_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	m := testmodel.LoadDir(t, "../testdata/stories260K", testbackend.Open(t), model.LoadOptions{})
	s := testmodel.MustState(t)(decode.ARState(m, 1, 1, len(ref.IDs), 0))
	res, err := decode.Generate(m, s, [][]int{{ref.BOS}}, decode.AROptions{MaxNew: len(ref.IDs), IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	same := 0
	for i, id := range res.IDs[0] {
		if id == ref.IDs[i] {
			same++
		}
	}
	if same != len(ref.IDs) {
		t.Errorf("greedy sample matches %d/%d tokens\ngot  %v\nwant %v", same, len(ref.IDs), res.IDs[0], ref.IDs)
	}
	if res.NFE != len(ref.IDs) {
		t.Errorf("NFE = %d, want %d (one prefill, then one call per token)", res.NFE, len(ref.IDs))
	}
}

// Missing and mis-shaped tensors are one clear error naming the tensor.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	spec := testmodel.Tiny(model.Llama)
	if err := testmodel.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	rewrite := func(t *testing.T, drop, reshape string) string {
		out := t.TempDir()
		var w safetensors.Writer
		for _, n := range ck.Names() {
			tn, _ := ck.Tensor(n)
			switch n {
			case drop:
				continue
			case reshape:
				w.Add(n, tn.DType, []int{tn.Shape[1], tn.Shape[0]}, tn.Data)
			default:
				w.Add(n, tn.DType, tn.Shape, tn.Data)
			}
		}
		if err := w.WriteFile(filepath.Join(out, "model.safetensors")); err != nil {
			t.Fatal(err)
		}
		cfg, _ := os.ReadFile(filepath.Join(dir, "config.json"))
		os.WriteFile(filepath.Join(out, "config.json"), cfg, 0o644)
		return out
	}
	b := cpu.New(1)
	defer b.Close()
	for _, tc := range []struct {
		name, drop, reshape, want string
	}{
		{"missing tensor", "model.layers.1.mlp.up_proj.weight", "", "missing tensor model.layers.1.mlp.up_proj.weight (want shape [96 64])"},
		{"transposed tensor", "", "model.layers.0.self_attn.k_proj.weight", "tensor model.layers.0.self_attn.k_proj.weight has shape [64 32], want [32 64]"},
		{"missing head of an untied model", "lm_head.weight", "", "missing tensor lm_head.weight"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := model.Load(rewrite(t, tc.drop, tc.reshape), b, model.LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := model.Load(t.TempDir(), b, model.LoadOptions{}); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("empty directory: error %v, want one naming config.json", err)
	}
	// A config of more layers than the checkpoint holds fails before the
	// layers are allocated: before, a huge count panicked in makeslice or
	// ran out of memory.
	for _, n := range []int{3, 1 << 40} {
		out := rewrite(t, "", "")
		var cfg map[string]any
		raw, _ := os.ReadFile(filepath.Join(out, "config.json"))
		if err := json.Unmarshal(raw, &cfg); err != nil {
			t.Fatal(err)
		}
		cfg["num_hidden_layers"] = n
		raw, _ = json.Marshal(cfg)
		if err := os.WriteFile(filepath.Join(out, "config.json"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		want := "the checkpoint holds fewer than the config's"
		if _, err := model.Load(out, b, model.LoadOptions{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%d layers: error %v, want one containing %q", n, err, want)
		}
	}
}

// A decode step allocates nothing once the state is set up, and
// ArgmaxTokens picks SelectTokens's tokens.
func TestForwardAllocatesNothing(t *testing.T) {
	b := cpu.New(2)
	defer b.Close()
	m, err := model.Load("../testdata/stories260K", b, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := testmodel.MustState(t)(m.NewState(1, 1, 16, 1))
	s.Span[0], s.Span[1] = 0, 1
	step := func() {
		s.Tokens[0], s.Pos[0], s.Slots[0] = 1, 0, 0
		if err := m.Forward(s, 1, 1); err != nil {
			t.Fatal(err)
		}
		greedy, err := m.ArgmaxTokens(s, 1, -1)
		if err != nil {
			t.Fatal(err)
		}
		id := greedy[0]
		ids, probs, err := m.SelectTokens(s, 1, -1)
		if err != nil {
			t.Fatal(err)
		}
		if ids[0] != id || !(probs[0] > 0 && probs[0] <= 1) {
			t.Fatalf("ArgmaxTokens picked %d, SelectTokens %d with probability %v", id, ids[0], probs[0])
		}
	}
	step()
	if a := testing.AllocsPerRun(20, step); a != 0 {
		t.Errorf("a decode step allocates %.1f times", a)
	}
}
