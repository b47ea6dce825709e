package cuda

import (
	"dllmbench/compute"
)

// The optional fusions of package compute. Each gives the results of the
// composed ops that specify it: on the GEMV path (≤ gemvMaxRows rows) bit
// for bit, since the fused kernels do the same arithmetic in the same order
// and only save launches and reads of x; on cuBLAS within the same bounds.

var (
	_ compute.Selector    = (*Backend)(nil)
	_ compute.MatMulAdder = (*Backend)(nil)
	_ compute.SwiGLUer    = (*Backend)(nil)
	_ compute.MatMul3er   = (*Backend)(nil)
)

// MatMulAdd computes dst += x · wᵀ: the GEMV kernel's add epilogue, or
// cuBLAS with beta = 1 and dst as C. dst must not overlap x.
func (b *Backend) MatMulAdd(dst, x, w compute.Tensor) {
	b.checkMatMul("MatMulAdd", dst, x, w)
	overlap("MatMulAdd", dst, x)
	b.matMul("MatMulAdd", x, []proj{{dst, w}}, true)
}

// MatMul3 computes d1 = x · w1ᵀ, d2 = x · w2ᵀ, d3 = x · w3ᵀ: one GEMV launch
// over the three weights, or three GEMMs on x narrowed once. No output may
// overlap x.
func (b *Backend) MatMul3(d1, d2, d3, x, w1, w2, w3 compute.Tensor) {
	ps := []proj{{d1, w1}, {d2, w2}, {d3, w3}}
	for _, p := range ps {
		b.checkMatMul("MatMul3", p.d, x, p.w)
		overlap("MatMul3", p.d, x)
	}
	b.matMul("MatMul3", x, ps, false)
}

// MatMulSwiGLU computes dst = silu(x · gateᵀ) ⊙ (x · upᵀ). On the GEMV path
// one kernel reads x once for both 16-bit weights and applies
// silu_mul_f32's expression; on cuBLAS the gate product goes to dst, the
// up product to the scratch, slice by slice, and the SiLUMul kernel
// combines them. dst must not overlap x.
func (b *Backend) MatMulSwiGLU(dst, x, gate, up compute.Tensor) {
	b.checkMatMul("MatMulSwiGLU", dst, x, gate)
	if up.DType() != gate.DType() || up.Rows() != gate.Rows() || up.Cols() != gate.Cols() {
		compute.Panicf("MatMulSwiGLU", "gate %v and up %v differ", gate, up)
	}
	overlap("MatMulSwiGLU", dst, x)
	n, k, m := x.Rows(), x.Cols(), gate.Rows()
	if n == 0 || m == 0 || b.err != nil {
		return
	}
	if k == 0 { // silu(0) · 0
		b.matMul("MatMulSwiGLU", x, []proj{{dst, gate}}, false)
		return
	}
	op := "MatMulSwiGLU"
	if n <= gemvMaxRows && gate.DType() == compute.F32 {
		// No fused kernel for float32 weights (small test models): gate
		// and up in one GEMV launch, up into the scratch, then SiLUMul.
		u := compute.NewTensor(compute.F32, n, m, &b.scratch, 0)
		if u.Bytes() <= b.scratch.bytes {
			b.matMul(op, x, []proj{{dst, gate}, {u, up}}, false)
			b.SiLUMul(dst, dst, u)
			return
		}
	}
	dp, xp, gp, upp := b.ptr(op, dst), b.ptr(op, x), b.ptr(op, gate), b.ptr(op, up)
	b.enter()
	defer b.exit()
	if n <= gemvMaxRows && gate.DType() != compute.F32 {
		vec := gemvVec(gate.DType(), k, xp) && gp%16 == 0 && upp%16 == 0
		b.launch(&b.k.gemvSwiGLU[slot(gate.DType())][n-1], [3]uint32{uint32(gemvBlocks(gemvSwiGLUCols(n), m)), 1, 1},
			threads256, 0, dev(dp), dev(xp), dev(gp), dev(upp), i32(k), i32(m), i32(boolInt(vec)))
		b.done(op)
		return
	}
	outs := []gemmOut{{d: dp, w: gp, m: m}, {w: upp, m: m, inSlice: true}}
	b.gemm(op, xp, n, k, gate.DType(), outs, func(r0, rows int, s []gemmOut) {
		g := s[0].d
		cnt := int64(rows) * int64(m)
		b.launch(&b.k.siluMul, blocks1D(cnt), threads256, 0, dev(g), dev(g), dev(s[1].d), i64(cnt))
	})
	b.done(op)
}

// ArgmaxProb picks, for each row of logits, the first column of the
// largest value other than exclude (−1 when there is none) and its softmax
// probability over the whole row, one block per row (kernels/select.cu).
func (b *Backend) ArgmaxProb(ids, probs, logits compute.Tensor, exclude int) {
	n, V := logits.Rows(), logits.Cols()
	if !isF32(logits, probs) || ids.DType() != compute.I32 || ids.Len() != n || probs.Len() != n || V == 0 {
		compute.Panicf("ArgmaxProb", "ids %v, probs %v for logits %v", ids, probs, logits)
	}
	if n == 0 || b.err != nil {
		return
	}
	op := "ArgmaxProb"
	ip, pp, lp := b.ptr(op, ids), b.ptr(op, probs), b.ptr(op, logits)
	if exclude < 0 || exclude >= V {
		exclude = -1
	}
	vec := V%4 == 0 && lp%16 == 0
	b.enter()
	defer b.exit()
	b.launch(&b.k.argmaxProb, [3]uint32{uint32(n), 1, 1}, [3]uint32{selThreads, 1, 1}, 0,
		dev(ip), dev(pp), dev(lp), i32(V), i32(exclude), i32(boolInt(vec)))
	b.done(op)
}

// selThreads is SEL_THREADS in kernels/select.cu.
const selThreads = 1024
