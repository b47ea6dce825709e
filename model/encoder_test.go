package model_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dllmbench/compute"
	"dllmbench/compute/computetest"
	"dllmbench/compute/cpu"
	"dllmbench/internal/testbackend"
	"dllmbench/model"
	"dllmbench/safetensors"
)

// tinyEncoder is a random RoBERTa of a few layers with every weight drawn,
// biases and norms included, so that a misplaced bias shows.
type tinyEncoder struct {
	dim, ffn, layers, heads, vocab, maxPos, typeVocab, pad int
	eps                                                    float64
	w                                                      map[string][]float64 // by name, without prefix
}

func newTinyEncoder(seed uint64) *tinyEncoder {
	e := &tinyEncoder{dim: 32, ffn: 48, layers: 3, heads: 4, vocab: 40, maxPos: 20, typeVocab: 1, pad: 1, eps: 1e-5,
		w: map[string][]float64{}}
	rng := rand.New(rand.NewPCG(seed, 7))
	add := func(name string, n int, std, mean float64) {
		v := make([]float64, n)
		for i := range v {
			// Round to float32 now: the checkpoint stores float32.
			v[i] = float64(float32(mean + std*rng.NormFloat64()))
		}
		e.w[name] = v
	}
	d, h := e.dim, e.ffn
	add("embeddings.word_embeddings.weight", e.vocab*d, 1, 0)
	add("embeddings.position_embeddings.weight", e.maxPos*d, 1, 0)
	add("embeddings.token_type_embeddings.weight", e.typeVocab*d, 1, 0)
	add("embeddings.LayerNorm.weight", d, 0.1, 1)
	add("embeddings.LayerNorm.bias", d, 0.1, 0)
	for l := range e.layers {
		p := fmt.Sprintf("encoder.layer.%d.", l)
		for _, m := range []string{"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"} {
			add(p+m+".weight", d*d, 1/math.Sqrt(float64(d)), 0)
			add(p+m+".bias", d, 0.1, 0)
		}
		add(p+"intermediate.dense.weight", h*d, 1/math.Sqrt(float64(d)), 0)
		add(p+"intermediate.dense.bias", h, 0.1, 0)
		add(p+"output.dense.weight", d*h, 1/math.Sqrt(float64(h)), 0)
		add(p+"output.dense.bias", d, 0.1, 0)
		for _, n := range []string{"attention.output.LayerNorm", "output.LayerNorm"} {
			add(p+n+".weight", d, 0.1, 1)
			add(p+n+".bias", d, 0.1, 0)
		}
	}
	return e
}

func (e *tinyEncoder) config() map[string]any {
	return map[string]any{"architectures": []string{"RobertaModel"}, "model_type": "roberta", "hidden_size": e.dim,
		"intermediate_size": e.ffn, "num_hidden_layers": e.layers, "num_attention_heads": e.heads,
		"vocab_size": e.vocab, "max_position_embeddings": e.maxPos, "type_vocab_size": e.typeVocab,
		"pad_token_id": e.pad, "layer_norm_eps": e.eps, "hidden_act": "gelu", "torch_dtype": "float32"}
}

// write saves the encoder as a checkpoint directory, names prefixed by
// prefix; skip leaves one tensor out.
func (e *tinyEncoder) write(t *testing.T, prefix, skip string, extra map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	cfg := e.config()
	for k, v := range extra {
		cfg[k] = v
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	var w safetensors.Writer
	for name, v := range e.w {
		if name == skip {
			continue
		}
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(x)))
		}
		shape := []int{len(v)}
		switch {
		case strings.HasSuffix(name, "embeddings.weight"):
			shape = []int{len(v) / e.dim, e.dim}
		case strings.HasSuffix(name, "dense.weight") && strings.Contains(name, "intermediate"):
			shape = []int{e.ffn, e.dim}
		case strings.HasSuffix(name, "output.dense.weight") && !strings.Contains(name, "attention"):
			shape = []int{e.dim, e.ffn}
		case strings.HasSuffix(name, ".weight") && !strings.Contains(name, "LayerNorm"):
			shape = []int{e.dim, e.dim}
		}
		w.Add(prefix+name, safetensors.F32, shape, b)
	}
	if err := w.WriteFile(filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// hidden is the float64 reference: the hidden states of one unpadded
// sequence after each layer, following transformers' RobertaModel.
func (e *tinyEncoder) hidden(ids []int, layer int) [][]float64 {
	d, n := e.dim, len(ids)
	W := e.w
	linear := func(x [][]float64, name string, in, out int) [][]float64 {
		w, b := W[name+".weight"], W[name+".bias"]
		y := make([][]float64, len(x))
		for i, r := range x {
			y[i] = make([]float64, out)
			for o := range out {
				s := b[o]
				for k := range in {
					s += w[o*in+k] * r[k]
				}
				y[i][o] = s
			}
		}
		return y
	}
	norm := func(x [][]float64, name string) [][]float64 {
		for i, r := range x {
			x[i] = computetest.RefLayerNorm(r, W[name+".weight"], W[name+".bias"], d, e.eps)
		}
		return x
	}
	// Positions as create_position_ids_from_input_ids makes them.
	x := make([][]float64, n)
	k := 0
	for i, id := range ids {
		p := e.pad
		if id != e.pad {
			k++
			p += k
		}
		x[i] = make([]float64, d)
		for c := range d {
			x[i][c] = W["embeddings.word_embeddings.weight"][id*d+c] + W["embeddings.token_type_embeddings.weight"][c] +
				W["embeddings.position_embeddings.weight"][p*d+c]
		}
	}
	x = norm(x, "embeddings.LayerNorm")
	hd := d / e.heads
	for l := range layer {
		p := fmt.Sprintf("encoder.layer.%d.", l)
		q := linear(x, p+"attention.self.query", d, d)
		kk := linear(x, p+"attention.self.key", d, d)
		v := linear(x, p+"attention.self.value", d, d)
		att := make([][]float64, n)
		for i := range n {
			att[i] = make([]float64, d)
			for h := range e.heads {
				sc := make([]float64, n)
				m := math.Inf(-1)
				for j := range n {
					for c := range hd {
						sc[j] += q[i][h*hd+c] * kk[j][h*hd+c]
					}
					sc[j] /= math.Sqrt(float64(hd))
					m = max(m, sc[j])
				}
				var sum float64
				for j := range sc {
					sc[j] = math.Exp(sc[j] - m)
					sum += sc[j]
				}
				for j := range n {
					for c := range hd {
						att[i][h*hd+c] += sc[j] / sum * v[j][h*hd+c]
					}
				}
			}
		}
		o := linear(att, p+"attention.output.dense", d, d)
		for i := range o {
			for c := range d {
				o[i][c] += x[i][c]
			}
		}
		x = norm(o, p+"attention.output.LayerNorm")
		f := linear(x, p+"intermediate.dense", d, e.ffn)
		for i := range f {
			f[i] = computetest.RefGELU(f[i])
		}
		o = linear(f, p+"output.dense", e.ffn, d)
		for i := range o {
			for c := range d {
				o[i][c] += x[i][c]
			}
		}
		x = norm(o, p+"output.LayerNorm")
	}
	return x
}

// loadEncoder loads the encoder in dir onto the tests' backend
// (DLLMBENCH_TEST_BACKEND=cuda: the GPU).
func loadEncoder(t *testing.T, dir string) *model.Encoder {
	t.Helper()
	return loadEncoderOn(t, dir, testbackend.Open(t))
}

func loadEncoderOn(t *testing.T, dir string, b compute.Backend) *model.Encoder {
	t.Helper()
	enc, err := model.LoadEncoder(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close() })
	return enc
}

func flat(rows [][]float32) []float32 {
	var out []float32
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// Every layer of a padded batch against the float64 reference of each
// sequence alone.
func TestEncoderAgainstFloat64(t *testing.T) {
	te := newTinyEncoder(1)
	enc := loadEncoder(t, te.write(t, "", "", nil))
	batch := [][]int{
		{0, 5, 9, 33, 2},
		{0, 7, 2},
		{0, 12, 1, 30, 39, 4, 8, 2}, // the pad id inside a sequence: position pad, yet attended
		{0, 2},
	}
	for layer := 0; layer <= te.layers; layer++ {
		got, err := enc.Hidden(batch, layer)
		if err != nil {
			t.Fatal(err)
		}
		for r, ids := range batch {
			if len(got[r]) != len(ids) {
				t.Fatalf("layer %d row %d: %d states for %d tokens", layer, r, len(got[r]), len(ids))
			}
			var want []float64
			for _, v := range te.hidden(ids, layer) {
				want = append(want, v...)
			}
			rel, maxAbs := computetest.RelErr(flat(got[r]), want)
			if !(rel < 1e-6) {
				t.Errorf("layer %d row %d: relative error %.3g (max abs %.3g)", layer, r, rel, maxAbs)
			}
		}
	}
}

// Padding changes nothing: each row of a batch is bit-identical to the
// row alone. On the CPU backend, whose kernels compute each row by itself:
// cuBLAS may pick another algorithm for another number of rows.
func TestEncoderBatchEqualsAlone(t *testing.T) {
	te := newTinyEncoder(2)
	b := cpu.New(2)
	t.Cleanup(b.Close)
	enc := loadEncoderOn(t, te.write(t, "", "", nil), b)
	batch := [][]int{{0, 3, 4, 5, 6, 7, 8, 9, 2}, {0, 10, 2}, {}, {0, 11, 12, 13, 2}}
	got, err := enc.Hidden(batch, te.layers)
	if err != nil {
		t.Fatal(err)
	}
	for r, ids := range batch {
		alone, err := enc.Hidden([][]int{ids}, te.layers)
		if err != nil {
			t.Fatal(err)
		}
		a, g := flat(alone[0]), flat(got[r])
		if len(a) != len(g) {
			t.Fatalf("row %d: %d values in the batch, %d alone", r, len(g), len(a))
		}
		for i := range a {
			if a[i] != g[i] {
				t.Fatalf("row %d element %d: %v in the batch, %v alone", r, i, g[i], a[i])
			}
		}
	}
}

// RobertaForMaskedLM checkpoints prefix every name with "roberta.".
func TestEncoderPrefixedNames(t *testing.T) {
	te := newTinyEncoder(3)
	plain := loadEncoder(t, te.write(t, "", "", nil))
	prefixed := loadEncoder(t, te.write(t, "roberta.", "", map[string]any{"architectures": []string{"RobertaForMaskedLM"}}))
	ids := [][]int{{0, 20, 21, 2}}
	a, err := plain.Hidden(ids, 2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := prefixed.Hidden(ids, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range flat(a[0]) {
		if flat(b[0])[i] != v {
			t.Fatalf("prefixed checkpoint differs at %d", i)
		}
	}
	if prefixed.Config.Arch != "RobertaForMaskedLM" {
		t.Errorf("Arch = %q", prefixed.Config.Arch)
	}
}

func TestEncoderPositions(t *testing.T) {
	te := newTinyEncoder(4)
	enc := loadEncoder(t, te.write(t, "", "", nil))
	// pad 1: real tokens count from 2, pad tokens stay at 1.
	got := enc.Positions([]int{0, 7, 1, 8, 2, 1})
	want := []int{2, 3, 1, 4, 5, 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Positions = %v, want %v", got, want)
	}
	if n := enc.Config.MaxTokens(); n != te.maxPos-te.pad-1 {
		t.Errorf("MaxTokens = %d, want %d", n, te.maxPos-te.pad-1)
	}
}

func TestEncoderErrors(t *testing.T) {
	te := newTinyEncoder(5)
	dir := te.write(t, "", "", nil)
	enc := loadEncoder(t, dir)
	long := make([]int, enc.Config.MaxTokens()+1)
	for _, c := range []struct {
		name  string
		ids   [][]int
		layer int
		want  string
	}{
		{"layer too deep", [][]int{{0, 2}}, te.layers + 1, "layer 4 outside [0, 3]"},
		{"negative layer", [][]int{{0, 2}}, -1, "layer -1 outside"},
		{"too long", [][]int{long}, 1, "exceeds the 18 its positions allow"},
		{"token outside the vocabulary", [][]int{{0, 40, 2}}, 1, "token 40 outside the vocabulary of 40"},
	} {
		if _, err := enc.Hidden(c.ids, c.layer); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if got, err := enc.Hidden([][]int{{}, {}}, 1); err != nil || len(got) != 2 || len(got[0]) != 0 {
		t.Errorf("empty rows: %v, %v", got, err)
	}

	// Loading errors name what is wrong.
	for _, c := range []struct {
		name string
		dir  string
		b    compute.Backend
		want string
	}{
		{"missing weight", te.write(t, "", "encoder.layer.2.output.dense.bias", nil), nil,
			"missing tensor encoder.layer.2.output.dense.bias"},
		{"other activation", te.write(t, "", "", map[string]any{"hidden_act": "gelu_new"}), nil, `hidden_act "gelu_new" is not supported`},
		{"relative positions", te.write(t, "", "", map[string]any{"position_embedding_type": "relative_key"}), nil,
			`position_embedding_type "relative_key" is not supported`},
		{"a decoder", te.write(t, "", "", map[string]any{"model_type": "llama"}), nil, "unsupported encoder model_type llama"},
		{"heads do not divide", te.write(t, "", "", map[string]any{"num_attention_heads": 5}), nil, "not a multiple of"},
		{"a backend without encoder ops", dir, noEncoderOps{cpu.New(1)}, "lacks the encoder ops"},
	} {
		b := c.b
		if b == nil {
			b = cpu.New(1)
		}
		if _, err := model.LoadEncoder(c.dir, b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// noEncoderOps is a backend with the base op set only.
type noEncoderOps struct{ compute.Backend }
