package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"dllmbench/compute"
	"dllmbench/safetensors"
)

// The encoder family: RoBERTa (and XLM-RoBERTa, the same network), whose
// hidden states BERTScore compares. It is a post-LayerNorm transformer with
// biases everywhere, learned absolute positions and bidirectional attention:
//
//	x = LN(word[id] + type[0] + pos[p])
//	x = LN(x + Wo·attend(Wq·x+bq, Wk·x+bk, Wv·x+bv) + bo)   per layer
//	x = LN(x + Wout·gelu(Win·x + bin) + bout)
//
// It needs compute.EncoderOps (LayerNorm, GELU, AddRow), which the CPU and
// CUDA backends have.

// EncoderConfig is the shape of a RoBERTa-style encoder, from the
// config.json of RobertaModel, RobertaForMaskedLM, XLMRobertaModel and the
// like (only the base network is used; heads are ignored).
type EncoderConfig struct {
	Arch       string // the architecture named in config.json
	Dim        int    // hidden_size
	HiddenDim  int    // intermediate_size
	NLayers    int    // num_hidden_layers
	NHeads     int    // num_attention_heads
	HeadDim    int    // Dim / NHeads
	VocabSize  int    // vocab_size
	MaxPos     int    // max_position_embeddings, padding positions included
	TypeVocab  int    // type_vocab_size; every token has type 0
	Pad        int    // pad_token_id: position ids start after it
	NormEps    float32
	TorchDType string
}

// MaxTokens is the longest sequence the position table holds: positions
// run from Pad+1 to MaxPos−1 (512 for roberta-large's 514).
func (c *EncoderConfig) MaxTokens() int { return c.MaxPos - c.Pad - 1 }

// LoadEncoderConfig reads dir/config.json (or a config.json path).
func LoadEncoderConfig(path string) (*EncoderConfig, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "config.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := ParseEncoderConfig(data)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return c, nil
}

// ParseEncoderConfig reads the config.json of a RoBERTa-style encoder.
// Absent keys take RobertaConfig's defaults, except the shapes, which
// must be given.
func ParseEncoderConfig(data []byte) (*EncoderConfig, error) {
	var r rawConfig
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&r); err != nil || r == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	var errs []string
	c := &EncoderConfig{}
	if r.has("architectures") {
		var archs []string
		if err := json.Unmarshal(r["architectures"], &archs); err != nil || len(archs) == 0 {
			errs = append(errs, fmt.Sprintf("architectures: want a list of names, have %s", r["architectures"]))
		} else {
			c.Arch = archs[0]
		}
	}
	mt := r.str("model_type", &errs)
	switch {
	case mt == "roberta" || mt == "xlm-roberta":
	case mt == "" && (strings.HasPrefix(c.Arch, "Roberta") || strings.HasPrefix(c.Arch, "XLMRoberta")):
	default:
		name := c.Arch
		if mt != "" {
			name = "model_type " + mt
		}
		return nil, fmt.Errorf("unsupported encoder %s (supported: roberta, xlm-roberta)", name)
	}
	if c.Arch == "" {
		c.Arch = map[string]string{"roberta": "RobertaModel", "xlm-roberta": "XLMRobertaModel"}[mt]
	}
	c.Dim = r.int("hidden_size", 0, &errs)
	c.HiddenDim = r.int("intermediate_size", 0, &errs)
	c.NLayers = r.int("num_hidden_layers", 0, &errs)
	c.NHeads = r.int("num_attention_heads", 0, &errs)
	c.VocabSize = r.int("vocab_size", 0, &errs)
	c.MaxPos = r.int("max_position_embeddings", 512, &errs)
	c.TypeVocab = r.int("type_vocab_size", 2, &errs)
	c.Pad = r.int("pad_token_id", 1, &errs)
	c.NormEps = float32(r.float("layer_norm_eps", 1e-12, &errs))
	c.TorchDType = r.str("torch_dtype", &errs)
	if c.TorchDType == "" {
		c.TorchDType = r.str("dtype", &errs)
	}
	if act := r.str("hidden_act", &errs); act != "" && act != "gelu" {
		errs = append(errs, fmt.Sprintf("hidden_act %q is not supported (want gelu)", act))
	}
	if pe := r.str("position_embedding_type", &errs); pe != "" && pe != "absolute" {
		errs = append(errs, fmt.Sprintf("position_embedding_type %q is not supported (want absolute)", pe))
	}
	for _, k := range []string{"is_decoder", "add_cross_attention"} {
		if r.bool(k, false, &errs) {
			errs = append(errs, k+" true is not supported")
		}
	}
	if len(errs) == 0 {
		errs = c.validate()
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	c.HeadDim = c.Dim / c.NHeads
	return c, nil
}

func (c *EncoderConfig) validate() []string {
	var errs []string
	for _, v := range []struct {
		name string
		v    int
	}{{"hidden_size", c.Dim}, {"intermediate_size", c.HiddenDim}, {"num_hidden_layers", c.NLayers},
		{"num_attention_heads", c.NHeads}, {"vocab_size", c.VocabSize}, {"type_vocab_size", c.TypeVocab}} {
		if v.v <= 0 {
			errs = append(errs, fmt.Sprintf("%s must be positive, have %d", v.name, v.v))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	if c.Dim%c.NHeads != 0 {
		errs = append(errs, fmt.Sprintf("hidden_size %d is not a multiple of num_attention_heads %d", c.Dim, c.NHeads))
	}
	if c.Pad < 0 || c.Pad >= c.VocabSize {
		errs = append(errs, fmt.Sprintf("pad_token_id %d is outside the vocabulary of %d", c.Pad, c.VocabSize))
	}
	if c.MaxTokens() < 1 {
		errs = append(errs, fmt.Sprintf("max_position_embeddings %d leaves no position after pad_token_id %d", c.MaxPos, c.Pad))
	}
	if !(c.NormEps > 0) {
		errs = append(errs, fmt.Sprintf("layer_norm_eps must be positive, have %g", c.NormEps))
	}
	return errs
}

// EncoderLayer is one post-LayerNorm block's weights, matrices stored as
// (out, in), biases and norms as 1 × n float32 rows.
type EncoderLayer struct {
	WQ, WK, WV compute.Tensor // (Dim, Dim)
	BQ, BK, BV compute.Tensor // (1, Dim)
	WO         compute.Tensor // (Dim, Dim)
	BO         compute.Tensor // (1, Dim)
	AttnNormW  compute.Tensor // (1, Dim) attention.output.LayerNorm
	AttnNormB  compute.Tensor // (1, Dim)
	WIn        compute.Tensor // (HiddenDim, Dim) intermediate.dense
	BIn        compute.Tensor // (1, HiddenDim)
	WOut       compute.Tensor // (Dim, HiddenDim) output.dense
	BOut       compute.Tensor // (1, Dim)
	FFNNormW   compute.Tensor // (1, Dim) output.LayerNorm
	FFNNormB   compute.Tensor // (1, Dim)
}

// EncoderWeights are an encoder's parameters on a backend.
type EncoderWeights struct {
	TokEmb   compute.Tensor // (VocabSize, Dim)
	PosEmb   compute.Tensor // (MaxPos, Dim)
	TypeEmb  compute.Tensor // (TypeVocab, Dim)
	EmbNormW compute.Tensor // (1, Dim)
	EmbNormB compute.Tensor // (1, Dim)
	Layers   []EncoderLayer
}

// Encoder is a loaded encoder on a backend.
type Encoder struct {
	Config  EncoderConfig
	Weights *EncoderWeights
	b       compute.Backend
	enc     compute.EncoderOps
	ck      *safetensors.Checkpoint // kept open: the CPU backend reads weights from its mapping
}

// LoadEncoder reads dir/config.json and the safetensors checkpoint in dir
// onto b, which must implement compute.EncoderOps. Weight names are
// RobertaModel's, with or without the "roberta." prefix of the models with
// a head (RobertaForMaskedLM); the heads and the pooler are not loaded.
func LoadEncoder(dir string, b compute.Backend) (*Encoder, error) {
	ops, ok := b.(compute.EncoderOps)
	if !ok {
		return nil, fmt.Errorf("model: the %s backend lacks the encoder ops (compute.EncoderOps): run the encoder on the cpu or cuda backend", b.Name())
	}
	c, err := LoadEncoderConfig(dir)
	if err != nil {
		return nil, err
	}
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("model: %s: %w", filepath.Base(dir), err)
		}
		return nil, err
	}
	l := &loader{ck: ck, b: b, dir: dir}
	w, err := l.encoderWeights(c)
	if err != nil {
		ck.Close()
		return nil, err
	}
	return &Encoder{Config: *c, Weights: w, b: b, enc: ops, ck: ck}, nil
}

func (l *loader) encoderWeights(c *EncoderConfig) (*EncoderWeights, error) {
	prefix := ""
	if _, ok := l.ck.Tensor("roberta.embeddings.word_embeddings.weight"); ok {
		prefix = "roberta."
	}
	w := &EncoderWeights{Layers: make([]EncoderLayer, c.NLayers)}
	type load struct {
		dst        *compute.Tensor
		name       string
		rows, cols int // rows 0: a vector of cols
	}
	loads := []load{
		{&w.TokEmb, "embeddings.word_embeddings.weight", c.VocabSize, c.Dim},
		{&w.PosEmb, "embeddings.position_embeddings.weight", c.MaxPos, c.Dim},
		{&w.TypeEmb, "embeddings.token_type_embeddings.weight", c.TypeVocab, c.Dim},
		{&w.EmbNormW, "embeddings.LayerNorm.weight", 0, c.Dim},
		{&w.EmbNormB, "embeddings.LayerNorm.bias", 0, c.Dim},
	}
	for i := range w.Layers {
		L, p := &w.Layers[i], fmt.Sprintf("encoder.layer.%d.", i)
		loads = append(loads,
			load{&L.WQ, p + "attention.self.query.weight", c.Dim, c.Dim},
			load{&L.BQ, p + "attention.self.query.bias", 0, c.Dim},
			load{&L.WK, p + "attention.self.key.weight", c.Dim, c.Dim},
			load{&L.BK, p + "attention.self.key.bias", 0, c.Dim},
			load{&L.WV, p + "attention.self.value.weight", c.Dim, c.Dim},
			load{&L.BV, p + "attention.self.value.bias", 0, c.Dim},
			load{&L.WO, p + "attention.output.dense.weight", c.Dim, c.Dim},
			load{&L.BO, p + "attention.output.dense.bias", 0, c.Dim},
			load{&L.AttnNormW, p + "attention.output.LayerNorm.weight", 0, c.Dim},
			load{&L.AttnNormB, p + "attention.output.LayerNorm.bias", 0, c.Dim},
			load{&L.WIn, p + "intermediate.dense.weight", c.HiddenDim, c.Dim},
			load{&L.BIn, p + "intermediate.dense.bias", 0, c.HiddenDim},
			load{&L.WOut, p + "output.dense.weight", c.Dim, c.HiddenDim},
			load{&L.BOut, p + "output.dense.bias", 0, c.Dim},
			load{&L.FFNNormW, p + "output.LayerNorm.weight", 0, c.Dim},
			load{&L.FFNNormB, p + "output.LayerNorm.bias", 0, c.Dim},
		)
	}
	for _, ld := range loads {
		var err error
		if ld.rows == 0 {
			*ld.dst, err = l.vector(prefix+ld.name, ld.cols)
		} else {
			*ld.dst, err = l.matrix(prefix+ld.name, ld.rows, ld.cols)
		}
		if err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Backend is the backend the encoder runs on.
func (e *Encoder) Backend() compute.Backend { return e.b }

// Close frees the weights on the backend and unmaps the checkpoint; the
// encoder must not be used after.
func (e *Encoder) Close() error {
	if e.ck == nil {
		return nil
	}
	for _, t := range e.Weights.tensors() {
		e.b.Free(t)
	}
	err := e.ck.Close()
	e.ck = nil
	return err
}

// Positions returns RoBERTa's position ids of a sequence (transformers'
// create_position_ids_from_input_ids): the k-th token that is not the pad
// token has position Pad+k, and a pad token has position Pad.
func (e *Encoder) Positions(ids []int) []int {
	pos := make([]int, len(ids))
	k := 0
	for i, id := range ids {
		pos[i] = e.Config.Pad
		if id != e.Config.Pad {
			k++
			pos[i] += k
		}
	}
	return pos
}

// encoderRun is the memory of one Hidden call: B rows padded to L tokens.
type encoderRun struct {
	x, xb, q, k, v, att compute.Tensor // (B·L, Dim)
	kc, vc              compute.Tensor // (B·L, Dim) keys and values, batch row b at rows [b·L, (b+1)·L)
	h                   compute.Tensor // (B·L, HiddenDim)
	ids, pos, typ       compute.Tensor // (B·L, 1) I32
	rows, slots         compute.Tensor // (B·L, 1) I32 cache rows and query positions
	span                compute.Tensor // (2·B, 1) I32
}

func (r *encoderRun) tensors() []compute.Tensor {
	return []compute.Tensor{r.x, r.xb, r.q, r.k, r.v, r.att, r.kc, r.vc, r.h, r.ids, r.pos, r.typ, r.rows, r.slots, r.span}
}

// Hidden runs the encoder on a batch of token sequences (each with its
// special tokens, e.g. <s> … </s>) and returns, for each sequence, the
// hidden state of each of its tokens after layer (transformers'
// hidden_states[layer]: 0 is the embeddings' output, NLayers the last
// layer's). Sequences of different lengths are padded on the right with
// the pad token, as transformers pads them, and padding is never attended,
// so each sequence gets what it gets alone; padding positions are not
// returned. The result is out[row][token][feature], one host allocation.
func (e *Encoder) Hidden(ids [][]int, layer int) ([][][]float32, error) {
	c := &e.Config
	if layer < 0 || layer > c.NLayers {
		return nil, fmt.Errorf("model: encoder layer %d outside [0, %d]", layer, c.NLayers)
	}
	B, L := len(ids), 0
	for _, s := range ids {
		L = max(L, len(s))
	}
	if L > c.MaxTokens() {
		return nil, fmt.Errorf("model: encoder input of %d tokens exceeds the %d its positions allow", L, c.MaxTokens())
	}
	out := make([][][]float32, B)
	if L == 0 {
		for i := range out {
			out[i] = [][]float32{}
		}
		return out, nil
	}
	n := B * L
	tok, pos, typ := make([]int32, n), make([]int32, n), make([]int32, n)
	rows, slots, span := make([]int32, n), make([]int32, n), make([]int32, 2*B)
	for b, s := range ids {
		for _, id := range s {
			if id < 0 || id >= c.VocabSize {
				return nil, fmt.Errorf("model: encoder input row %d: token %d outside the vocabulary of %d", b, id, c.VocabSize)
			}
		}
		p := e.Positions(s)
		for j := range L {
			i := b*L + j
			tok[i], pos[i], rows[i], slots[i] = int32(c.Pad), int32(c.Pad), int32(i), int32(j)
			if j < len(s) {
				tok[i], pos[i] = int32(s[j]), int32(p[j])
			}
		}
		span[2*b], span[2*b+1] = 0, int32(len(s))
	}

	be := e.b
	r := &encoderRun{}
	for _, t := range []*compute.Tensor{&r.x, &r.xb, &r.q, &r.k, &r.v, &r.att, &r.kc, &r.vc} {
		*t = be.Alloc(compute.F32, n, c.Dim)
	}
	r.h = be.Alloc(compute.F32, n, c.HiddenDim)
	for _, t := range []*compute.Tensor{&r.ids, &r.pos, &r.typ, &r.rows, &r.slots} {
		*t = be.Alloc(compute.I32, n, 1)
	}
	r.span = be.Alloc(compute.I32, 2*B, 1)
	defer func() {
		for _, t := range r.tensors() {
			be.Free(t)
		}
	}()
	be.Write(r.ids, tok)
	be.Write(r.pos, pos)
	be.Write(r.typ, typ)
	be.Write(r.rows, rows)
	be.Write(r.slots, slots)
	be.Write(r.span, span)
	e.forward(r, layer)

	host := make([]float32, n*c.Dim)
	if err := be.Read(host, r.x); err != nil {
		return nil, fmt.Errorf("model: reading encoder states: %w", err)
	}
	for b, s := range ids {
		out[b] = make([][]float32, len(s))
		for j := range s {
			o := (b*L + j) * c.Dim
			out[b][j] = host[o : o+c.Dim : o+c.Dim]
		}
	}
	return out, nil
}

// forward issues the ops up to layer on inputs already on the backend.
func (e *Encoder) forward(r *encoderRun, layer int) {
	c, b, enc, w := &e.Config, e.b, e.enc, e.Weights
	// Embeddings, summed in transformers' order: (word + type) + position.
	b.Gather(r.x, w.TokEmb, r.ids)
	b.Gather(r.xb, w.TypeEmb, r.typ)
	b.Add(r.x, r.x, r.xb)
	b.Gather(r.xb, w.PosEmb, r.pos)
	b.Add(r.x, r.x, r.xb)
	enc.LayerNorm(r.x, r.x, w.EmbNormW, w.EmbNormB, c.NormEps)

	qkv, _ := b.(compute.MatMul3er)
	for l := range layer {
		L := &w.Layers[l]
		// Self-attention: x = LN(x + Wo·attend(q, k, v) + bo).
		if qkv != nil {
			qkv.MatMul3(r.q, r.k, r.v, r.x, L.WQ, L.WK, L.WV)
		} else {
			b.MatMul(r.q, r.x, L.WQ)
			b.MatMul(r.k, r.x, L.WK)
			b.MatMul(r.v, r.x, L.WV)
		}
		enc.AddRow(r.q, r.q, L.BQ)
		enc.AddRow(r.k, r.k, L.BK)
		enc.AddRow(r.v, r.v, L.BV)
		// The cache layout is the decoder's (batch row b owns rows
		// [b·L, (b+1)·L)); with right padding the token rows already have
		// it, so the scatter is a copy, kept so the ops stay the decoder's.
		b.Scatter(r.kc, r.k, r.rows)
		b.Scatter(r.vc, r.v, r.rows)
		b.Attention(r.att, r.q, r.kc, r.vc, r.slots, r.span, c.NHeads, c.NHeads, false)
		b.MatMul(r.xb, r.att, L.WO)
		enc.AddRow(r.xb, r.xb, L.BO)
		b.Add(r.xb, r.xb, r.x)
		enc.LayerNorm(r.x, r.xb, L.AttnNormW, L.AttnNormB, c.NormEps)
		// Feed-forward: x = LN(x + Wout·gelu(Win·x + bin) + bout).
		b.MatMul(r.h, r.x, L.WIn)
		enc.AddRow(r.h, r.h, L.BIn)
		enc.GELU(r.h, r.h)
		b.MatMul(r.xb, r.h, L.WOut)
		enc.AddRow(r.xb, r.xb, L.BOut)
		b.Add(r.xb, r.xb, r.x)
		enc.LayerNorm(r.x, r.xb, L.FFNNormW, L.FFNNormB, c.NormEps)
	}
}

// WeightBytes is the size of the encoder's weights on the backend.
func (e *Encoder) WeightBytes() int64 {
	var n int64
	for _, t := range e.Weights.tensors() {
		n += t.Bytes()
	}
	return n
}

func (w *EncoderWeights) tensors() []compute.Tensor {
	ts := []compute.Tensor{w.TokEmb, w.PosEmb, w.TypeEmb, w.EmbNormW, w.EmbNormB}
	for _, L := range w.Layers {
		ts = append(ts, L.WQ, L.WK, L.WV, L.BQ, L.BK, L.BV, L.WO, L.BO, L.AttnNormW, L.AttnNormB,
			L.WIn, L.BIn, L.WOut, L.BOut, L.FFNNormW, L.FFNNormB)
	}
	return ts
}
