package model_test

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
	"dllmbench/compute/computetest"
	"dllmbench/decode"
	"dllmbench/internal/testbackend"
	"dllmbench/internal/testmodel"
	"dllmbench/model"
	"dllmbench/safetensors"
)

// goldenDir holds the reference outputs made by scripts/golden/engine_goldens.py
// with PyTorch in float32 (TF32 off): see testdata/golden/README.md.
const goldenDir = "../testdata/golden/engine"

func goldenModel(t *testing.T, name string) (*model.Model, string) {
	t.Helper()
	dir := filepath.Join(goldenDir, name)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("golden %s missing: %v (regenerate with scripts/golden/engine_goldens.py)", name, err)
	}
	return testmodel.LoadDir(t, dir, testbackend.Open(t), model.LoadOptions{}), dir
}

// readLogits returns the F32 tensors of a golden logits file.
func readLogits(t *testing.T, path string) map[string][]float64 {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]float64{}
	for _, n := range f.Names() {
		tn, _ := f.Tensor(n)
		v := make([]float64, tn.Len())
		for i := range v {
			v[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(tn.Data[4*i:])))
		}
		out[n] = v
	}
	return out
}

// forwardLogits runs Forward on the state's inputs, n tokens a row, and
// returns a copy of its nOut rows of logits.
func forwardLogits(t *testing.T, m *model.Model, s *model.State, n, nOut int) []float32 {
	t.Helper()
	if err := m.Forward(s, n, nOut); err != nil {
		t.Fatal(err)
	}
	lg, err := m.Logits(s, nOut)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), lg...)
}

// logitsOf runs the whole sequence through the model and returns every
// position's logits.
func logitsOf(t *testing.T, m *model.Model, ids []int) []float32 {
	t.Helper()
	n := len(ids)
	s := testmodel.MustState(t)(m.NewState(1, n, n, n))
	for i, id := range ids {
		s.Tokens[i], s.Pos[i], s.Slots[i], s.Out[i] = int32(id), int32(i), int32(i), int32(i)
	}
	s.Span[0], s.Span[1] = 0, int32(n)
	return forwardLogits(t, m, s, n, n)
}

type llamaGolden struct {
	Prompts [][]int `json:"prompts"`
	Greedy  []struct {
		Prompt    []int   `json:"prompt"`
		Generated []int   `json:"generated"`
		MinGap    float64 `json:"min_top2_gap"`
	} `json:"greedy"`
}

// Tiny random LlamaForCausalLM models saved by transformers: grouped-query
// heads with an untied head, tied embeddings, and LLaMA-3.1's llama3 RoPE
// scaling with head_dim ≠ hidden/heads. Logits within 1e-5 (norm-wise) of
// transformers' float32 forward; greedy continuations equal.
func TestLlamaGoldens(t *testing.T) {
	for _, name := range []string{"llama-gqa", "llama-tied", "llama31-scaled"} {
		t.Run(name, func(t *testing.T) {
			m, dir := goldenModel(t, name)
			var g llamaGolden
			raw, err := os.ReadFile(filepath.Join(dir, "golden.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &g); err != nil {
				t.Fatal(err)
			}
			want := readLogits(t, filepath.Join(dir, "logits.safetensors"))
			for i, p := range g.Prompts {
				rel, maxAbs := computetest.RelErr(logitsOf(t, m, p), want[fmt.Sprintf("prompt%d", i)])
				t.Logf("prompt %d (%d tokens): relative error %.2e, max abs %.2e", i, len(p), rel, maxAbs)
				if !(rel <= 1e-5) {
					t.Errorf("prompt %d: logits relative error %.3g exceeds 1e-5", i, rel)
				}
			}
			for i, gr := range g.Greedy {
				if gr.MinGap < 1e-3 {
					t.Logf("greedy %d: reference top-2 gap %.1e is below 1e-3; not compared", i, gr.MinGap)
					continue
				}
				s := testmodel.MustState(t)(decode.ARState(m, 1, len(gr.Prompt), len(gr.Generated), 0))
				res, err := decode.Generate(m, s, [][]int{gr.Prompt}, decode.AROptions{MaxNew: len(gr.Generated), IgnoreEOS: true})
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(res.IDs[0]) != fmt.Sprint(gr.Generated) {
					t.Errorf("greedy %d:\n got %v\nwant %v", i, res.IDs[0], gr.Generated)
				}
			}
		})
	}
}

// LLaDAGolden is the reference data of the tiny trained LLaDA.
type LLaDAGolden struct {
	MaskID      int     `json:"mask_id"`
	LogitInputs [][]int `json:"logit_inputs"`
}

// The tiny LLaDA built with the official modeling code and trained on tiny
// Shakespeare: logits of partly masked inputs within 1e-5.
func TestLLaDALogitsGolden(t *testing.T) {
	m, dir := goldenModel(t, "llada-tiny")
	var g LLaDAGolden
	raw, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if g.MaskID != m.Config.MaskID {
		t.Fatalf("golden mask id %d, config %d", g.MaskID, m.Config.MaskID)
	}
	want := readLogits(t, filepath.Join(dir, "logits.safetensors"))
	for i, in := range g.LogitInputs {
		rel, maxAbs := computetest.RelErr(logitsOf(t, m, in), want[fmt.Sprintf("input%d", i)])
		t.Logf("input %d (%d tokens): relative error %.2e, max abs %.2e", i, len(in), rel, maxAbs)
		if !(rel <= 1e-5) {
			t.Errorf("input %d: logits relative error %.3g exceeds 1e-5", i, rel)
		}
	}
}

// A draw from a real model's logits on the test backend (the device's
// sampler under DLLMBENCH_TEST_BACKEND=cuda) is the host's definition on
// the same logits read back, for every kind of truncation and 64 draws a
// row; logits of a model, unlike random ones, are peaked, with a long tail.
func TestSampleTokensMatchTheDefinition(t *testing.T) {
	m, _ := goldenModel(t, "llama-gqa")
	prompts := [][]int{{1, 5, 9, 2}, {1, 7, 3, 3}, {1, 2, 4, 8}}
	B, n := len(prompts), len(prompts[0])
	s := testmodel.MustState(t)(m.NewState(B, n, n, B))
	defer s.Close()
	for b, p := range prompts {
		for i, id := range p {
			r := b*n + i
			s.Tokens[r], s.Pos[r], s.Slots[r] = int32(id), int32(i), int32(i)
		}
		s.Span[2*b], s.Span[2*b+1] = 0, int32(n)
		s.Out[b] = int32(b*n + n - 1)
	}
	logits := forwardLogits(t, m, s, n, B)
	V := m.Config.VocabSize
	rng := rand.New(rand.NewPCG(5, 6))
	var sc compute.SampleScratch
	bits := make([]uint64, B)
	for _, p := range []compute.SampleParams{
		{Temperature: 1}, {Temperature: 0.8, TopK: 5}, {Temperature: 1, TopP: 0.9}, {Temperature: 1.5, TopK: 20, TopP: 0.5},
	} {
		for range 64 {
			for r := range bits {
				bits[r] = rng.Uint64()
			}
			ids, err := m.SampleTokens(s, B, p, bits)
			if err != nil {
				t.Fatal(err)
			}
			for r := range B {
				if want := compute.SampleRow(logits[r*V:(r+1)*V], bits[r], p, &sc); int(ids[r]) != want {
					t.Errorf("%+v, row %d, bits %#x: drew %d, the definition %d", p, r, bits[r], ids[r], want)
				}
			}
		}
	}
}

// A Gumbel-max draw from a real LLaDA's logits on the test backend (the
// device's under DLLMBENCH_TEST_BACKEND=cuda) is the host's definition on
// the same logits read back: the same ids, never the mask, and the
// probabilities ArgmaxProb's bound allows.
func TestSelectTokensGumbelMatchTheDefinition(t *testing.T) {
	m, _ := goldenModel(t, "llada-tiny")
	mask := m.Config.MaskID
	n := 12
	s := testmodel.MustState(t)(m.NewState(1, n, n, n))
	defer s.Close()
	for i := range n {
		id := int32(mask)
		if i < 4 {
			id = int32(3 + 5*i)
		}
		s.Tokens[i], s.Pos[i], s.Slots[i], s.Out[i] = id, int32(i), int32(i), int32(i)
	}
	s.Span[0], s.Span[1] = 0, int32(n)
	logits := forwardLogits(t, m, s, n, n)
	V := m.Config.VocabSize
	rng := rand.New(rand.NewPCG(7, 8))
	keys := make([]uint64, n)
	for _, T := range []float64{0.3, 1, 4} {
		for range 16 {
			for r := range keys {
				keys[r] = rng.Uint64()
			}
			ids, probs, err := m.SelectTokensGumbel(s, n, mask, T, keys)
			if err != nil {
				t.Fatal(err)
			}
			for r := range n {
				id, p := compute.GumbelArgmaxProbRow(logits[r*V:(r+1)*V], mask, keys[r], T)
				if int(ids[r]) != id || id == mask || !(math.Abs(float64(probs[r]-p)) <= 1e-6*float64(p)+1e-12) {
					t.Errorf("T=%g, row %d, key %#x: drew %d (p %.9g), the definition %d (p %.9g)", T, r, keys[r], ids[r], probs[r], id, p)
				}
			}
		}
	}
}

// GuideLogits combines a call's conditional rows with their
// unconditional twins on the backend, bit for bit as the host does it in
// float32 (each operation rounded on its own).
func TestGuideLogits(t *testing.T) {
	m, _ := goldenModel(t, "llada-tiny")
	const n = 6
	s := testmodel.MustState(t)(m.NewState(2, n, n, 2*n))
	defer s.Close()
	for r := range 2 * n {
		id := int32(m.Config.MaskID)
		if r%n < 2 && r < n { // the conditional row sees a prompt, the unconditional masks
			id = int32(7 + r)
		}
		s.Tokens[r], s.Pos[r], s.Slots[r], s.Out[r] = id, int32(r%n), int32(r%n), int32(r)
	}
	s.Span[0], s.Span[1], s.Span[2], s.Span[3] = 0, n, 0, n
	lg := forwardLogits(t, m, s, n, 2*n)
	V := m.Config.VocabSize
	want := make([]float32, n*V)
	for i := range want {
		c, u := lg[i], lg[n*V+i]
		want[i] = u + float32(2.5*(c-u))
	}
	m.GuideLogits(s, n, 2.5)
	got, err := m.Logits(s, n)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logit %d: %g, want %g", i, got[i], want[i])
		}
	}
}
