package cuda

import (
	"dllmbench/compute"
	"dllmbench/internal/cuda"
)

// The optional fusions of package compute. Each gives the results of the
// composed ops that specify it: on the GEMV (≤ gemvMaxRows rows) and skinny
// (≤ skinnyMaxRows) paths bit for bit, since the fused kernels do the same
// arithmetic in the same order and only save launches and reads of x; on
// cuBLAS within the same bounds.

var (
	_ compute.Selector      = (*Backend)(nil)
	_ compute.MatMulAdder   = (*Backend)(nil)
	_ compute.NormFFNer     = (*Backend)(nil)
	_ compute.SwiGLUer      = (*Backend)(nil)
	_ compute.MatMul3er     = (*Backend)(nil)
	_ compute.NormMatMul3er = (*Backend)(nil)
	_ compute.NormSwiGLUer  = (*Backend)(nil)
	_ compute.RoPEStorer    = (*Backend)(nil)

	_ compute.AttentionMatMulAdder = (*Backend)(nil)
)

// MatMulAdd computes dst += x · wᵀ: the GEMV kernel's add epilogue, or
// cuBLAS with beta = 1 and dst as C. dst must not overlap x.
func (b *Backend) MatMulAdd(dst, x, w compute.Tensor) {
	b.checkMatMul("MatMulAdd", dst, x, w)
	overlap("MatMulAdd", dst, x)
	b.matMul("MatMulAdd", x, []proj{{dst, w}}, true)
}

// AttentionMatMulAdd computes dst += Attention(q, …) · wᵀ. Where the
// tensor-core attention takes the call in one chunk, cuBLAS takes the
// product (bfloat16 weights) and one slice of the scratch holds all rows,
// the attention writes its rows in bfloat16 straight into the product's
// input, the bits cast_f32_bf16 would make of att, which is left
// unwritten: the composed ops' results bit for bit without their cast
// kernel and att's float32 round trip. Elsewhere it runs the two ops.
func (b *Backend) AttentionMatMulAdd(dst, att, w, q, kc, vc, qpos, span compute.Tensor, nHeads, nKVHeads int, causal bool) {
	const op = "AttentionMatMulAdd"
	a, ok := b.checkAttention(op, att, q, kc, vc, qpos, span, nHeads, nKVHeads, causal)
	b.checkMatMul(op, dst, att, w)
	for _, t := range []compute.Tensor{att, q, kc, vc} {
		overlap(op, dst, t)
	}
	n, k, m := att.Rows(), att.Cols(), w.Rows()
	if !ok || b.err != nil || m == 0 || w.DType() != compute.BF16 || !b.cublasNormed(n, k, w.DType()) ||
		int64(n)*int64(k)*2 > b.scratch.bytes || b.attnRoute(a) != attnMMA ||
		attnMMASplits(a.n, a.T, a.nHeads, b.attnMMABlocks, b.attnOneChunk) != 1 {
		b.Attention(att, q, kc, vc, qpos, span, nHeads, nKVHeads, causal)
		b.MatMulAdd(dst, att, w)
		return
	}
	b.enter()
	defer b.exit()
	b.gemm(op, b.ptr(op, att), n, k, w.DType(), []gemmOut{{d: b.ptr(op, dst), w: b.ptr(op, w), m: m, add: true}},
		func(d16 cuda.DevPtr, r0, rows int) {
			if r0 != 0 || rows != n {
				panic("cuda: AttentionMatMulAdd: the rows took more than one slice of the scratch")
			}
			a.out16 = d16
			b.attend(a)
		}, nil)
	b.done(op)
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

// MatMulSwiGLU computes dst = silu(x · gateᵀ) ⊙ (x · upᵀ). On the GEMV and
// skinny paths one kernel reads x once for both 16-bit weights and applies
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
	if n <= gemvMaxRows && b.gemvMMA(xp, n, k, gate.DType(), []gemmOut{{d: dp, w: gp, m: m}, {w: upp, m: m}}, gmSwiGLU) {
		b.done(op)
		return
	}
	if n <= gemvMaxRows && gate.DType() != compute.F32 {
		vec := gemvVec(gate.DType(), k, xp) && gp%16 == 0 && upp%16 == 0
		b.launch(&b.k.gemvSwiGLU[slot(gate.DType())][n-1], [3]uint32{uint32(gemvBlocks(gemvSwiGLUCols(n), m)), 1, 1},
			threads256, 0, dev(dp), dev(xp), dev(gp), dev(upp), i32(k), i32(m), i32(boolInt(vec)))
		b.done(op)
		return
	}
	if n <= b.skinnyMax && b.skinny(xp, n, k, gate.DType(), []gemmOut{{d: dp, w: gp, m: m}, {w: upp, m: m}}, skSwiGLU) {
		b.done(op)
		return
	}
	outs := []gemmOut{{d: dp, w: gp, m: m}, {w: upp, m: m, inSlice: true}}
	b.gemm(op, xp, n, k, gate.DType(), outs, nil, b.siluMulAfter(m))
	b.done(op)
}

// ArgmaxProb picks, for each row of logits, the first column of the
// largest value other than exclude (−1 when there is none) and its softmax
// probability over the whole row (kernels/select.cu): a row over
// ⌈V / selChunk⌉ blocks whose last one merges them, or one block per row.
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
	splits := (V + selChunk - 1) / selChunk
	if b.selSplit && splits > 1 && n <= skinnyCounters && int64(n)*int64(splits)*selStateBytes <= b.scratch.bytes {
		b.launch(&b.k.argmaxProbSplit, [3]uint32{uint32(splits), uint32(n), 1}, [3]uint32{selSplitThreads, 1, 1}, 0,
			dev(ip), dev(pp), dev(lp), i32(V), i32(exclude), i32(boolInt(vec)), i32(selChunk), dev(b.scratch.ptr), dev(b.skCount.ptr))
		b.done(op)
		return
	}
	b.launch(&b.k.argmaxProb, [3]uint32{uint32(n), 1, 1}, [3]uint32{selThreads, 1, 1}, 0,
		dev(ip), dev(pp), dev(lp), i32(V), i32(exclude), i32(boolInt(vec)))
	b.done(op)
}

var _ compute.GumbelSelector = (*Backend)(nil)

// GumbelArgmaxProb draws each row's token by Gumbel-max with its key and
// gives its probability as ArgmaxProb does (kernels/select.cu): a row over
// ⌈V / selChunk⌉ blocks whose last one merges them, rows in groups that
// the scratch and the merge counters hold.
func (b *Backend) GumbelArgmaxProb(ids, probs, logits, keys compute.Tensor, exclude int, temperature float64) {
	n, V := logits.Rows(), logits.Cols()
	if !isF32(logits, probs) || ids.DType() != compute.I32 || keys.DType() != compute.I32 || ids.Rows() != n || ids.Cols() != 1 ||
		probs.Rows() != n || probs.Cols() != 1 || keys.Rows() != n || keys.Cols() != 2 || V == 0 {
		compute.Panicf("GumbelArgmaxProb", "ids %v, probs %v, keys %v for logits %v", ids, probs, keys, logits)
	}
	if !compute.DrawTemperature(temperature) {
		compute.Panicf("GumbelArgmaxProb", "temperature %g: want a finite number > 0", temperature)
	}
	if n == 0 || b.err != nil {
		return
	}
	if exclude < 0 || exclude >= V {
		exclude = -1
	}
	op := "GumbelArgmaxProb"
	splits := (V + selChunk - 1) / selChunk
	b.inRowGroups(op, n, V, int64(splits)*gumPartBytes, func(r0, g int) {
		ip, pp := b.ptr(op, ids.Slice(r0, r0+g)), b.ptr(op, probs.Slice(r0, r0+g))
		lp, kp := b.ptr(op, logits.Slice(r0, r0+g)), b.ptr(op, keys.Slice(r0, r0+g))
		b.launch(&b.k.gumbel, [3]uint32{uint32(splits), uint32(g), 1}, [3]uint32{gumThreads, 1, 1}, 0,
			dev(ip), dev(pp), dev(lp), dev(kp), i32(V), i32(exclude), f64(temperature), i32(selChunk),
			dev(b.scratch.ptr), dev(b.skCount.ptr))
	})
}

const (
	// gumThreads is GUM_THREADS in kernels/select.cu.
	gumThreads = 256
	// gumPartBytes is sizeof(GumPart): a block's partial state.
	gumPartBytes = 40
)

var _ compute.Unmasker = (*Backend)(nil)

// Unmask commits each row's k most probable masked positions of the block
// (kernels/select.cu): a block of threads per row, whose ranks take
// 4 bytes of shared memory per position of the block.
func (b *Backend) Unmask(canvas, picked, ids, probs compute.Tensor, start, k, mask int) {
	B, n := canvas.Rows(), canvas.Cols()
	if canvas.DType() != compute.I32 || picked.DType() != compute.I32 || ids.DType() != compute.I32 || !isF32(probs) ||
		B == 0 || ids.Len()%B != 0 || probs.Len() != ids.Len() || picked.Rows() != B || picked.Cols() != k ||
		start < 0 || start+ids.Len()/B > n {
		compute.Panicf("Unmask", "canvas %v, picked %v, ids %v, probs %v, block from %d, k %d", canvas, picked, ids, probs, start, k)
	}
	bl := ids.Len() / B
	if bl > unmaskMaxBlock {
		compute.Panicf("Unmask", "a block of %d positions (at most %d)", bl, unmaskMaxBlock)
	}
	if b.err != nil || k == 0 {
		return
	}
	op := "Unmask"
	cp, pp, ip, prp := b.ptr(op, canvas), b.ptr(op, picked), b.ptr(op, ids), b.ptr(op, probs)
	threads := uint32(min(1024, (max(bl, k)+31)/32*32))
	b.enter()
	defer b.exit()
	b.launch(&b.k.unmask, [3]uint32{uint32(B), 1, 1}, [3]uint32{threads, 1, 1}, 4*bl,
		dev(cp), dev(pp), dev(ip), dev(prp), i32(n), i32(start), i32(bl), i32(k), i32(mask))
	b.done(op)
}

// unmaskMaxBlock is the longest block Unmask takes: its ranks fill the 48
// KiB of shared memory a kernel gets without opting in.
const unmaskMaxBlock = 12 << 10

const (
	// selThreads is SEL_THREADS in kernels/select.cu.
	selThreads = 1024
	// selSplitThreads is SEL2_THREADS: argmax_prob_split_f32's block.
	selSplitThreads = 256
	// selChunk is the columns a block of argmax_prob_split_f32 takes
	// (16 per thread): a LLaMA-3 row of 128,256 logits is 32 blocks.
	selChunk = 4096
	// selStateBytes is sizeof(SelState): its partial states go to the
	// scratch, its counters are the skinny kernel's (both leave them zero).
	selStateBytes = 24
)

// gemvNormMaxRows mirrors GEMV_NORM_ROWS in kernels/gemv.cu: the most rows
// of x the GEMV kernels that normalise x themselves take. Their n·k floats
// of shared memory are 64 KiB at n = 4 and k = 4096, three blocks per SM;
// more rows would leave too few loads in flight.
const gemvNormMaxRows = 4

// normFused reports whether the gemv_norm kernels take n rows of k columns
// times weights of dt (weights not 16-byte aligned take the scalar loads,
// as on the composed path).
func (b *Backend) normFused(n, k int, dt compute.DType) bool {
	// Only where the composed products take the SIMT GEMV (its arithmetic).
	simt := n < b.gmMin || k%32 != 0
	return n >= 1 && n <= b.normMax && simt && k > 0 && is16(dt) &&
		int64(n)*int64(k)*4 <= int64(b.normShared)
}

func (b *Backend) checkNorm(op string, xn, x, g compute.Tensor) {
	if !isF32(xn, x, g) || xn.Rows() != x.Rows() || xn.Cols() != x.Cols() || g.Len() != x.Cols() {
		compute.Panicf(op, "xn %v, x %v, weight %v", xn, x, g)
	}
}

// cublasNormed says that the norm fusions over n rows of k columns with
// weights of type dt take cuBLAS, normalising x straight to 16 bits in the
// scratch (rmsnorm_bf16/_f16: the bits of RMSNorm then the cast cuBLAS's
// path makes) and leaving xn unwritten: one kernel and a float32 row
// written and read again fewer per projection group.
func (b *Backend) cublasNormed(n, k int, dt compute.DType) bool {
	return n > max(gemvMaxRows, b.skinnyMax) && k > 0 && is16(dt)
}

// is16 says that dt is one of the 16-bit float types.
func is16(dt compute.DType) bool { return dt == compute.BF16 || dt == compute.F16 }

// siluMulAfter is the epilogue of a gate product (outs[0], in place) and
// an up product (outs[1]) of m columns on cuBLAS: silu(gate)·up.
func (b *Backend) siluMulAfter(m int) gemmAfter {
	return func(r0, rows int, s []gemmOut) {
		cnt := int64(rows) * int64(m)
		b.launch(&b.k.siluMul, blocks1D((cnt+3)/4), threads256, 0, dev(s[0].d), dev(s[0].d), dev(s[1].d), i64(cnt))
	}
}

// normGemm runs outs on cuBLAS over RMSNorm(x, g) narrowed in the scratch
// (cublasNormed), then after for each slice of rows, as gemm does. The
// caller has checked the shapes.
func (b *Backend) normGemm(op string, x, g compute.Tensor, eps float32, dt compute.DType, outs []gemmOut,
	after gemmAfter) {
	if b.err != nil || len(outs) == 0 {
		return
	}
	n, k := x.Rows(), x.Cols()
	xp, gp := b.ptr(op, x), b.ptr(op, g)
	kn := &b.k.rmsNormTo[slot(dt)]
	b.enter()
	defer b.exit()
	b.gemm(op, xp, n, k, dt, outs, func(dst cuda.DevPtr, r0, rows int) {
		b.launch(kn, [3]uint32{uint32(rows), 1, 1}, threads256, 0, dev(dst), dev(xp+cuda.DevPtr(int64(r0)*int64(k)*4)),
			dev(gp), i32(k), f32(eps))
	}, after)
	b.done(op)
}

// NormMatMul3 computes xn = RMSNorm(x, g), then di = xn · wiᵀ. Up to
// gemvNormMaxRows rows with 16-bit weights of one dtype, one GEMV launch
// normalises x in each block's shared memory and leaves xn unwritten;
// otherwise it runs RMSNorm into xn, then MatMul3. No output may overlap x
// or xn.
func (b *Backend) NormMatMul3(d1, d2, d3, xn, x, g compute.Tensor, eps float32, w1, w2, w3 compute.Tensor) {
	const op = "NormMatMul3"
	b.checkNorm(op, xn, x, g)
	ps := []proj{{d1, w1}, {d2, w2}, {d3, w3}}
	for _, p := range ps {
		b.checkMatMul(op, p.d, xn, p.w)
		overlap(op, p.d, xn)
		overlap(op, p.d, x)
	}
	n, k := x.Rows(), x.Cols()
	sameTypes := w2.DType() == w1.DType() && w3.DType() == w1.DType()
	if sameTypes && b.cublasNormed(n, k, w1.DType()) {
		var outs []gemmOut
		for _, p := range ps {
			if p.w.Rows() > 0 {
				outs = append(outs, gemmOut{d: b.ptr(op, p.d), w: b.ptr(op, p.w), m: p.w.Rows()})
			}
		}
		b.normGemm(op, x, g, eps, w1.DType(), outs, nil)
		return
	}
	if !b.normFused(n, k, w1.DType()) || !sameTypes {
		b.RMSNorm(xn, x, g, eps)
		b.matMul(op, xn, ps, false)
		return
	}
	if b.err != nil || w1.Rows()+w2.Rows()+w3.Rows() == 0 {
		return
	}
	var segs [3]gemmOut
	vec := k%8 == 0
	blocks := 0
	for i, p := range ps {
		if p.w.Rows() > 0 {
			segs[i] = gemmOut{d: b.ptr(op, p.d), w: b.ptr(op, p.w), m: p.w.Rows()}
			vec = vec && segs[i].w%16 == 0
			blocks += gemvBlocks(gemvCols(n), segs[i].m)
		}
	}
	xp, gp := b.ptr(op, x), b.ptr(op, g)
	b.enter()
	defer b.exit()
	b.launch(&b.k.gemvNorm[slot(w1.DType())][n-1], [3]uint32{uint32(blocks), 1, 1}, threads256, n*k*4,
		dev(segs[0].d), dev(segs[1].d), dev(segs[2].d), dev(xp), dev(gp), f32(eps), dev(segs[0].w), dev(segs[1].w),
		dev(segs[2].w), i32(segs[0].m), i32(segs[1].m), i32(segs[2].m), i32(k), i32(boolInt(vec)))
	b.done(op)
}

// NormMatMulSwiGLU computes xn = RMSNorm(x, g), then dst = silu(xn · gateᵀ)
// ⊙ (xn · upᵀ): one GEMV launch that leaves xn unwritten, as NormMatMul3
// does, or RMSNorm into xn, then MatMulSwiGLU. dst must not overlap x or xn.
func (b *Backend) NormMatMulSwiGLU(dst, xn, x, g compute.Tensor, eps float32, gate, up compute.Tensor) {
	const op = "NormMatMulSwiGLU"
	b.checkNorm(op, xn, x, g)
	b.checkMatMul(op, dst, xn, gate)
	if up.DType() != gate.DType() || up.Rows() != gate.Rows() || up.Cols() != gate.Cols() {
		compute.Panicf(op, "gate %v and up %v differ", gate, up)
	}
	overlap(op, dst, xn)
	overlap(op, dst, x)
	n, k, m := x.Rows(), x.Cols(), gate.Rows()
	if m > 0 && b.cublasNormed(n, k, gate.DType()) {
		outs := []gemmOut{{d: b.ptr(op, dst), w: b.ptr(op, gate), m: m}, {w: b.ptr(op, up), m: m, inSlice: true}}
		b.normGemm(op, x, g, eps, gate.DType(), outs, b.siluMulAfter(m))
		return
	}
	if !b.normFused(n, k, gate.DType()) {
		b.RMSNorm(xn, x, g, eps)
		b.MatMulSwiGLU(dst, xn, gate, up)
		return
	}
	if b.err != nil || m == 0 {
		return
	}
	dp, xp, gp, wg, wu := b.ptr(op, dst), b.ptr(op, x), b.ptr(op, g), b.ptr(op, gate), b.ptr(op, up)
	vec := k%8 == 0 && wg%16 == 0 && wu%16 == 0
	b.enter()
	defer b.exit()
	b.launch(&b.k.gemvSwiGLUNorm[slot(gate.DType())][n-1], [3]uint32{uint32(gemvBlocks(gemvSwiGLUCols(n), m)), 1, 1},
		threads256, n*k*4, dev(dp), dev(xp), dev(gp), f32(eps), dev(wg), dev(wu), i32(k), i32(m), i32(boolInt(vec)))
	b.done(op)
}

// RoPEStore rotates q and k (in place) and stores k and v into rows of the
// caches, in one launch (kernels/elementwise.cu, rope_store). Shapes the
// kernel does not take (caches of two types or sizes, overlapping
// operands) and misuse go to the composed ops, which also give misuse its
// messages. Positions and cache rows are device data: as with RoPE and
// Scatter, a position outside the tables leaves its row unrotated and a
// cache row out of range is not written.
func (b *Backend) RoPEStore(q, k, v, kc, vc, rows, cos, sin, pos compute.Tensor, headDim int) {
	n := q.Rows()
	fits := isF32(q, k, v, cos, sin) && slot(kc.DType()) >= 0 && vc.DType() == kc.DType() && vc.Rows() == kc.Rows() &&
		rows.DType() == compute.I32 && pos.DType() == compute.I32 && headDim > 0 && headDim%2 == 0 &&
		k.Rows() == n && v.Rows() == n && rows.Len() == n && pos.Len() == n &&
		q.Cols()%headDim == 0 && k.Cols()%headDim == 0 && v.Cols() == k.Cols() && kc.Cols() == k.Cols() && vc.Cols() == k.Cols() &&
		cos.Cols() == headDim/2 && sin.Cols() == headDim/2 && sin.Rows() == cos.Rows() &&
		q.Buf() != k.Buf() && q.Buf() != v.Buf() && k.Buf() != v.Buf() &&
		kc.Buf() != q.Buf() && kc.Buf() != k.Buf() && kc.Buf() != v.Buf() && vc.Buf() != q.Buf() && vc.Buf() != k.Buf() && vc.Buf() != v.Buf()
	if !fits {
		b.RoPE(q, cos, sin, pos, headDim)
		b.RoPE(k, cos, sin, pos, headDim)
		b.Scatter(kc, k, rows)
		b.Scatter(vc, v, rows)
		return
	}
	per := q.Cols()/2 + k.Cols()/2 + k.Cols() // items of a row: blocks along x, rows along y
	if n == 0 || per == 0 || b.err != nil {
		return
	}
	const op = "RoPEStore"
	qp, kp, vp, kcp, vcp := b.ptr(op, q), b.ptr(op, k), b.ptr(op, v), b.ptr(op, kc), b.ptr(op, vc)
	rp, cp, sp, pp := b.ptr(op, rows), b.ptr(op, cos), b.ptr(op, sin), b.ptr(op, pos)
	// Four items a thread where four never straddle a head or a tensor and
	// every operand takes 16-byte loads.
	vec := headDim%8 == 0 && k.Cols()%4 == 0
	for _, p := range []cuda.DevPtr{qp, kp, vp, kcp, vcp, cp, sp} {
		vec = vec && p%16 == 0
	}
	items := per
	if vec {
		items = per / 4
	}
	b.enter()
	defer b.exit()
	grid := [3]uint32{uint32(min((items+255)/256, 1<<16)), uint32(min(n, 65535)), 1}
	b.launch(&b.k.ropeStore[slot(kc.DType())], grid, threads256, 0, dev(qp), dev(kp), dev(vp), dev(kcp), dev(vcp),
		dev(rp), dev(cp), dev(sp), dev(pp), i32(n), i32(q.Cols()), i32(k.Cols()), i32(headDim), i32(cos.Rows()), i32(kc.Rows()),
		i32(boolInt(vec)))
	b.done(op)
}

// ffnCublasMinRows is the fewest rows of x whose NormFFN takes cuBLAS's
// path even where the GEMVs could take them. On LLaMA-3-8B's shapes the
// block on cuBLAS made a decode layer faster from 4 rows and slower at 1
// (docs/perf.md, CUDA v9; BenchmarkLayer's ffn-cublas and ffn-gemv
// configurations on GPU-d553a0ee: B = 1 125.5 against 121.6 µs on the
// GEMVs, B = 4 134.0 against 149.0, B = 8 147.7 against 172.4): the fused
// SwiGLU GEMV slows as rows are added, cuBLAS's products hardly do.
const ffnCublasMinRows = 4

// NormFFN is a gated feed-forward block with its residual add:
// NormMatMulSwiGLU(h, xn, x, g, eps, gate, up), then MatMulAdd(dst, h,
// down). On cuBLAS (cublasNormed) each slice of rows that fits the scratch
// is normalised straight to 16 bits and multiplied by gate and up in one
// batched product that writes them in the weights' 16-bit type, as
// PyTorch's 16-bit Linear does; silu(gate)·up, computed in float32 from
// those, is narrowed to 16 bits (silu_mul16_bf16/_f16) for the down
// projection. Against the composed ops, which keep gate and up in float32,
// that rounds them once more (a relative 2⁻⁹ in bfloat16), for half the
// products' writes and the epilogue's reads (docs/perf.md, v11); h's
// memory serves as scratch. Elsewhere it runs the two ops. dst may be x
// (the residual stream) or must not overlap it.
func (b *Backend) NormFFN(dst, h, xn, x, g compute.Tensor, eps float32, gate, up, down compute.Tensor) {
	const op = "NormFFN"
	b.checkNorm(op, xn, x, g)
	b.checkMatMul(op, h, xn, gate)
	b.checkMatMul(op, dst, h, down)
	if up.DType() != gate.DType() || up.Rows() != gate.Rows() || up.Cols() != gate.Cols() {
		compute.Panicf(op, "gate %v and up %v differ", gate, up)
	}
	for _, t := range []compute.Tensor{x, xn, dst} {
		overlap(op, h, t)
	}
	overlap(op, dst, xn)
	overlapUnlessSame(op, dst, x)
	n, k, m, d := x.Rows(), x.Cols(), gate.Rows(), down.Rows()
	// From b.ffnCublasMin rows (ffnCublasMinRows) the GEMVs' rows take
	// cuBLAS too.
	cublas := b.cublasNormed(n, k, gate.DType()) ||
		n >= b.ffnCublasMin && n <= gemvMaxRows && k > 0 && is16(gate.DType())
	if m == 0 || down.DType() != gate.DType() || !cublas {
		b.NormMatMulSwiGLU(h, xn, x, g, eps, gate, up)
		b.MatMulAdd(dst, h, down)
		return
	}
	if b.err != nil || n == 0 || d == 0 {
		return
	}
	dt := gate.DType()
	typ := cuda.R16BF
	if dt == compute.F16 {
		typ = cuda.R16F
	}
	ks, hp, dp, wd := &b.k.siluMul16[slot(dt)], b.ptr(op, h), b.ptr(op, dst), b.ptr(op, down)
	// gate (into h's memory) and up (into the scratch), both written in 16
	// bits, in one batched product over x normalised to 16 bits; then
	// silu(gate)·up narrowed to 16 bits over up, and the down product
	// added to dst.
	outs := []gemmOut{{d: hp, w: b.ptr(op, gate), m: m, narrow: true}, {w: b.ptr(op, up), m: m, inSlice: true, narrow: true}}
	b.normGemm(op, x, g, eps, dt, outs, func(r0, rows int, s []gemmOut) {
		cm := int64(rows) * int64(m)
		b.launch(ks, blocks1D((cm+7)/8), threads256, 0, dev(s[1].d), dev(s[0].d), dev(s[1].d), i64(cm))
		b.gemmEx(wd, typ, s[1].d, dp+cuda.DevPtr(int64(r0)*int64(d)*4), cuda.R32F, rows, m, d, cuda.Compute32F, true)
	})
}

// overlapUnlessSame panics when dst shares bytes with x without being x
// itself: the ops that may work in place.
func overlapUnlessSame(op string, dst, x compute.Tensor) {
	if !sameTensor(dst, x) {
		overlap(op, dst, x)
	}
}

// sameTensor says that a and b are the same elements of the same buffer.
func sameTensor(a, b compute.Tensor) bool {
	return a.Buf() == b.Buf() && a.Offset() == b.Offset() && a.Len() == b.Len() && a.DType() == b.DType()
}
