package cpu

import (
	"math"
	"sync"

	"dllmbench/compute"
)

var _ compute.EncoderOps = (*Backend)(nil)

const (
	encLayerNorm = iota
	encGELU
	encAddRow
)

// encoderTask is LayerNorm or AddRow over a range of rows, or GELU over a
// range of elements.
type encoderTask struct {
	kind   int
	dst, x []float32
	w, b   []float32 // LayerNorm's weight and bias; AddRow's bias is b
	cols   int
	eps    float32
}

// The Backend keeps one task value per op so that dispatch allocates
// nothing; the encoder ops, which the decoder families never use, keep
// theirs in a pool instead, which is as cheap once warm.
var encoderTasks = sync.Pool{New: func() any { return new(encoderTask) }}

func (b *Backend) runEncoder(t encoderTask, n, grain int) {
	p := encoderTasks.Get().(*encoderTask)
	*p = t
	b.pool.For(n, grain, p)
	*p = encoderTask{} // a pooled task must not keep the tensors alive
	encoderTasks.Put(p)
}

func (b *Backend) LayerNorm(dst, src, w, bias compute.Tensor, eps float32) {
	d, x := f32("LayerNorm", dst), f32("LayerNorm", src)
	g, c := f32("LayerNorm", w), f32("LayerNorm", bias)
	if dst.Rows() != src.Rows() || dst.Cols() != src.Cols() || len(g) != src.Cols() || len(c) != src.Cols() {
		compute.Panicf("LayerNorm", "dst %v, src %v, weight %v, bias %v", dst, src, w, bias)
	}
	b.runEncoder(encoderTask{kind: encLayerNorm, dst: d, x: x, w: g, b: c, cols: src.Cols(), eps: eps},
		src.Rows(), max(1, 1<<14/max(1, src.Cols())))
}

func (b *Backend) GELU(dst, src compute.Tensor) {
	d, x := f32("GELU", dst), f32("GELU", src)
	if len(d) != len(x) {
		compute.Panicf("GELU", "dst %v, src %v", dst, src)
	}
	b.runEncoder(encoderTask{kind: encGELU, dst: d, x: x}, len(d), 1<<12)
}

func (b *Backend) AddRow(dst, src, bias compute.Tensor) {
	d, x, c := f32("AddRow", dst), f32("AddRow", src), f32("AddRow", bias)
	if dst.Rows() != src.Rows() || dst.Cols() != src.Cols() || bias.Rows() != 1 || len(c) != src.Cols() {
		compute.Panicf("AddRow", "dst %v, src %v, bias %v", dst, src, bias)
	}
	b.runEncoder(encoderTask{kind: encAddRow, dst: d, x: x, b: c, cols: src.Cols()},
		src.Rows(), max(1, 1<<15/max(1, src.Cols())))
}

func (t *encoderTask) run(lo, hi int) {
	c := t.cols
	switch t.kind {
	case encLayerNorm:
		for i := lo; i < hi; i++ {
			layerNormRow(t.dst[i*c:(i+1)*c], t.x[i*c:(i+1)*c], t.w, t.b, t.eps)
		}
	case encGELU:
		d, x := t.dst[lo:hi], t.x[lo:hi]
		for i, v := range x {
			// In float64, then rounded: within an ulp of PyTorch's float32
			// erf form. erfc keeps the far negative tail, where 1 + erf
			// cancels to zero.
			d[i] = float32(0.5 * float64(v) * math.Erfc(-float64(v)/math.Sqrt2))
		}
	case encAddRow:
		for i := lo; i < hi; i++ {
			d, x := t.dst[i*c:(i+1)*c], t.x[i*c:(i+1)*c]
			for k, v := range x {
				d[k] = v + t.b[k]
			}
		}
	}
}

// layerNormRow normalises one row as PyTorch's layer_norm does: the mean,
// then the biased variance of the float32 deviations, both summed in
// float64 and rounded to float32, then (x − μ)·rstd·w + b in float32. d may
// be x: x is read whole before d is written, element k before d[k].
func layerNormRow(d, x, w, b []float32, eps float32) {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	mean := float32(s / float64(len(x)))
	var ss float64
	for _, v := range x {
		dv := float64(v - mean)
		ss += dv * dv
	}
	rstd := float32(1 / math.Sqrt(float64(float32(ss/float64(len(x)))+eps)))
	for k, v := range x {
		d[k] = (v-mean)*rstd*w[k] + b[k]
	}
}
