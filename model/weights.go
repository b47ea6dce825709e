package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"dllmbench/compute"
	"dllmbench/safetensors"
)

// Layer is one transformer block's weights, each stored as (out, in).
type Layer struct {
	AttnNorm compute.Tensor // (1, Dim)
	WQ       compute.Tensor // (NHeads·HeadDim, Dim)
	WK       compute.Tensor // (NKVHeads·HeadDim, Dim)
	WV       compute.Tensor // (NKVHeads·HeadDim, Dim)
	WO       compute.Tensor // (Dim, NHeads·HeadDim)
	FFNNorm  compute.Tensor // (1, Dim)
	WGate    compute.Tensor // (HiddenDim, Dim)
	WUp      compute.Tensor // (HiddenDim, Dim)
	WDown    compute.Tensor // (Dim, HiddenDim)
}

// Weights are a model's parameters on a backend.
type Weights struct {
	TokEmb compute.Tensor // (VocabSize, Dim)
	Layers []Layer
	Norm   compute.Tensor // (1, Dim)
	Head   compute.Tensor // (VocabSize, Dim); TokEmb when tied
}

// names gives the checkpoint name of each weight for a family.
type names struct {
	tokEmb, norm, head string
	layer              func(i int) [9]string // AttnNorm, WQ, WK, WV, WO, FFNNorm, WGate, WUp, WDown
}

var familyNames = map[Family]names{
	Llama: {
		tokEmb: "model.embed_tokens.weight", norm: "model.norm.weight", head: "lm_head.weight",
		layer: func(i int) [9]string {
			p := fmt.Sprintf("model.layers.%d.", i)
			return [9]string{p + "input_layernorm.weight", p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
				p + "self_attn.v_proj.weight", p + "self_attn.o_proj.weight", p + "post_attention_layernorm.weight",
				p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight", p + "mlp.down_proj.weight"}
		},
	},
	// LLaDA keeps OLMo's names: ff_proj is the gate, up_proj the up
	// projection, ff_out the down projection, attn_out the output
	// projection; the global ff_out is the LM head.
	LLaDA: {
		tokEmb: "model.transformer.wte.weight", norm: "model.transformer.ln_f.weight", head: "model.transformer.ff_out.weight",
		layer: func(i int) [9]string {
			p := fmt.Sprintf("model.transformer.blocks.%d.", i)
			return [9]string{p + "attn_norm.weight", p + "q_proj.weight", p + "k_proj.weight", p + "v_proj.weight",
				p + "attn_out.weight", p + "ff_norm.weight", p + "ff_proj.weight", p + "up_proj.weight", p + "ff_out.weight"}
		},
	},
}

// WeightNames lists a family's checkpoint names, for tools that write
// checkpoints: the embedding, the final norm and the LM head, then per layer
// the attention norm, q, k, v and output projections, the feed-forward norm,
// and the gate, up and down projections.
func WeightNames(f Family, nLayers int) (global [3]string, layers [][9]string) {
	n := familyNames[f]
	global = [3]string{n.tokEmb, n.norm, n.head}
	for i := range nLayers {
		layers = append(layers, n.layer(i))
	}
	return global, layers
}

// LoadOptions adjust loading.
type LoadOptions struct {
	// DType converts every matrix to this type when non-zero; the zero
	// value keeps the stored type (no copy on the CPU backend).
	DType compute.DType
	// CacheDType is the type of the key/value caches of the model's run
	// states, F32 or BF16. The zero value chooses by the weights, as
	// PyTorch keeps a model's cache in the model's dtype: BF16 when they
	// are 16-bit (BF16 or F16, which Attention does not read), F32
	// otherwise.
	CacheDType compute.DType
}

// loader reads tensors from a checkpoint onto a backend, checking shapes.
type loader struct {
	ck  *safetensors.Checkpoint
	b   compute.Backend
	opt LoadOptions
	dir string
}

func (l *loader) matrix(name string, rows, cols int) (compute.Tensor, error) {
	t, ok := l.ck.Tensor(name)
	if !ok {
		return compute.Tensor{}, fmt.Errorf("model: %s: missing tensor %s (want shape [%d %d])", l.dir, name, rows, cols)
	}
	if len(t.Shape) != 2 || t.Shape[0] != rows || t.Shape[1] != cols {
		return compute.Tensor{}, fmt.Errorf("model: %s: tensor %s has shape %v, want [%d %d]", l.dir, name, t.Shape, rows, cols)
	}
	return l.load(t, rows, cols, l.opt.DType)
}

// has reports whether the checkpoint holds the tensor name.
func (l *loader) has(name string) bool {
	_, ok := l.ck.Tensor(name)
	return ok
}

// vector loads a 1-D weight as a 1 × n float32 row: norms are tiny and the
// ops read them in float32.
func (l *loader) vector(name string, n int) (compute.Tensor, error) {
	t, ok := l.ck.Tensor(name)
	if !ok {
		return compute.Tensor{}, fmt.Errorf("model: %s: missing tensor %s (want shape [%d])", l.dir, name, n)
	}
	if len(t.Shape) != 1 || t.Shape[0] != n {
		return compute.Tensor{}, fmt.Errorf("model: %s: tensor %s has shape %v, want [%d]", l.dir, name, t.Shape, n)
	}
	return l.load(t, 1, n, compute.F32)
}

func (l *loader) load(t safetensors.Tensor, rows, cols int, want compute.DType) (compute.Tensor, error) {
	var dt compute.DType
	switch t.DType {
	case safetensors.F32:
		dt = compute.F32
	case safetensors.F16:
		dt = compute.F16
	case safetensors.BF16:
		dt = compute.BF16
	default:
		return compute.Tensor{}, fmt.Errorf("model: %s: tensor %s has dtype %v (supported: F32, F16, BF16)", l.dir, t.Name, t.DType)
	}
	data := t.Data
	if want != 0 && want != dt {
		data = convert(t.Data, dt, want)
		dt = want
	}
	out, err := l.b.Load(dt, rows, cols, data)
	if err != nil {
		return compute.Tensor{}, fmt.Errorf("model: %s: tensor %s: %w", l.dir, t.Name, err)
	}
	return out, nil
}

// convert re-encodes little-endian elements from one float type to another.
func convert(src []byte, from, to compute.DType) []byte {
	n := len(src) / from.Size()
	dst := make([]byte, n*to.Size())
	for i := range n {
		var v float32
		switch from {
		case compute.F32:
			v = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		case compute.BF16:
			v = compute.BF16ToF32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
		case compute.F16:
			v = compute.F16ToF32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
		}
		switch to {
		case compute.F32:
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		case compute.BF16, compute.F16:
			h := compute.F32ToBF16(v)
			if to == compute.F16 {
				h = compute.F32ToF16(v)
			}
			dst[2*i], dst[2*i+1] = byte(h), byte(h>>8)
		}
	}
	return dst
}

// loadWeights reads a model's weights from the safetensors checkpoint in dir.
func loadWeights(dir string, c *Config, b compute.Backend, opt LoadOptions) (*Weights, *safetensors.Checkpoint, error) {
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, nil, fmt.Errorf("model: %s: %w", filepath.Base(dir), err)
		}
		return nil, nil, err
	}
	l := &loader{ck: ck, b: b, opt: opt, dir: dir}
	w, err := l.weights(c)
	if err != nil {
		ck.Close()
		return nil, nil, err
	}
	return w, ck, nil
}

func (l *loader) weights(c *Config) (*Weights, error) {
	n := familyNames[c.Family]
	// The layer count is the config's: a count past the checkpoint's (a
	// config edited by hand) is named before the layers are allocated,
	// which for a huge count would not fit in memory.
	if last := n.layer(c.NLayers - 1)[1]; !l.has(last) {
		return nil, fmt.Errorf("model: %s: missing tensor %s: the checkpoint holds fewer than the config's %d layers", l.dir, last, c.NLayers)
	}
	w := &Weights{Layers: make([]Layer, c.NLayers)}
	var err error
	if w.TokEmb, err = l.matrix(n.tokEmb, c.VocabSize, c.Dim); err != nil {
		return nil, err
	}
	if w.Norm, err = l.vector(n.norm, c.Dim); err != nil {
		return nil, err
	}
	if c.Tied {
		w.Head = w.TokEmb
	} else if w.Head, err = l.matrix(n.head, c.VocabSize, c.Dim); err != nil {
		return nil, err
	}
	q, kv := c.QDim(), c.KVDim()
	for i := range w.Layers {
		nm := n.layer(i)
		L := &w.Layers[i]
		for _, s := range []struct {
			dst        *compute.Tensor
			name       string
			rows, cols int
		}{
			{&L.WQ, nm[1], q, c.Dim}, {&L.WK, nm[2], kv, c.Dim}, {&L.WV, nm[3], kv, c.Dim}, {&L.WO, nm[4], c.Dim, q},
			{&L.WGate, nm[6], c.HiddenDim, c.Dim}, {&L.WUp, nm[7], c.HiddenDim, c.Dim}, {&L.WDown, nm[8], c.Dim, c.HiddenDim},
		} {
			if *s.dst, err = l.matrix(s.name, s.rows, s.cols); err != nil {
				return nil, err
			}
		}
		if L.AttnNorm, err = l.vector(nm[0], c.Dim); err != nil {
			return nil, err
		}
		if L.FFNNorm, err = l.vector(nm[5], c.Dim); err != nil {
			return nil, err
		}
	}
	return w, nil
}
