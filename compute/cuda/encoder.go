package cuda

import "dllmbench/compute"

// The encoder ops (compute.EncoderOps) of BERT and RoBERTa, which the
// decoders never use: BERTScore's encoder can run on the GPU. Each is one
// launch in the CPU backend's arithmetic (kernels/elementwise.cu), checked
// against it by the conformance suite.

var _ compute.EncoderOps = (*Backend)(nil)

// LayerNorm normalises each row of src (one block a row). dst may be src;
// otherwise the two must not overlap.
func (b *Backend) LayerNorm(dst, src, w, bias compute.Tensor, eps float32) {
	const op = "LayerNorm"
	if !isF32(dst, src, w, bias) || dst.Rows() != src.Rows() || dst.Cols() != src.Cols() ||
		w.Len() != src.Cols() || bias.Len() != src.Cols() {
		compute.Panicf(op, "dst %v, src %v, weight %v, bias %v", dst, src, w, bias)
	}
	overlapUnlessSame(op, dst, src)
	if src.Rows() == 0 || src.Cols() == 0 || b.err != nil {
		return
	}
	d, x, g, c := b.ptr(op, dst), b.ptr(op, src), b.ptr(op, w), b.ptr(op, bias)
	b.enter()
	defer b.exit()
	b.launch(&b.k.layerNorm, [3]uint32{uint32(src.Rows()), 1, 1}, threads256, 0,
		dev(d), dev(x), dev(g), dev(c), i32(src.Cols()), f32(eps))
	b.done(op)
}

// GELU computes the exact GELU elementwise. dst may be src; otherwise the
// two must not overlap.
func (b *Backend) GELU(dst, src compute.Tensor) {
	const op = "GELU"
	if !isF32(dst, src) || dst.Len() != src.Len() {
		compute.Panicf(op, "dst %v, src %v", dst, src)
	}
	overlapUnlessSame(op, dst, src)
	n := int64(src.Len())
	if n == 0 || b.err != nil {
		return
	}
	d, x := b.ptr(op, dst), b.ptr(op, src)
	b.enter()
	defer b.exit()
	b.launch(&b.k.gelu, blocks1D(n), threads256, 0, dev(d), dev(x), i64(n))
	b.done(op)
}

// AddRow adds the 1 × cols bias to every row of src. dst may be src;
// otherwise the two must not overlap.
func (b *Backend) AddRow(dst, src, bias compute.Tensor) {
	const op = "AddRow"
	if !isF32(dst, src, bias) || dst.Rows() != src.Rows() || dst.Cols() != src.Cols() || bias.Rows() != 1 ||
		bias.Len() != src.Cols() {
		compute.Panicf(op, "dst %v, src %v, bias %v", dst, src, bias)
	}
	overlapUnlessSame(op, dst, src)
	n := int64(src.Len())
	if n == 0 || b.err != nil {
		return
	}
	d, x, c := b.ptr(op, dst), b.ptr(op, src), b.ptr(op, bias)
	b.enter()
	defer b.exit()
	b.launch(&b.k.addRow, blocks1D(n), threads256, 0, dev(d), dev(x), dev(c), i32(src.Cols()), i64(n))
	b.done(op)
}
