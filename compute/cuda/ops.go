package cuda

import (
	"fmt"
	"math"
	"unsafe"

	"dllmbench/compute"
	"dllmbench/internal/cuda"
)

// Every op checks its arguments (panicking on misuse, with the CPU
// backend's messages), skips the device while an error waits for Sync or
// Read, and queues its kernels.

var threads256 = [3]uint32{256, 1, 1}

func isF32(ts ...compute.Tensor) bool {
	for _, t := range ts {
		if t.DType() != compute.F32 {
			return false
		}
	}
	return true
}

// MatMul computes dst = x · wᵀ: for up to gemvMaxRows rows of x the GEMV
// kernel (from gemvMMAMinRows rows of 16-bit weights its tensor-core form),
// the skinny kernel (16-bit weights) up to skinnyMaxRows, cuBLAS beyond.
// The tensor-core GEMV, the skinny kernel and cuBLAS multiply 16-bit weights by x
// narrowed to the weights' type (float32 accumulation); cuBLAS multiplies
// float32 weights with CUBLAS_COMPUTE_32F_PEDANTIC, which rules out TF32.
func (b *Backend) MatMul(dst, x, w compute.Tensor) {
	b.checkMatMul("MatMul", dst, x, w)
	b.matMul("MatMul", x, []proj{{dst, w}}, false)
}

// proj is one product of a fused launch: d = x · wᵀ.
type proj struct{ d, w compute.Tensor }

func (b *Backend) checkMatMul(op string, dst, x, w compute.Tensor) {
	n, k, m := x.Rows(), x.Cols(), w.Rows()
	if !isF32(dst, x) || slot(w.DType()) < 0 || w.Cols() != k || dst.Rows() != n || dst.Cols() != m {
		compute.Panicf(op, "dst %v = x %v · wᵀ %v", dst, x, w)
	}
}

// overlap panics when dst shares bytes with x: the kernels read x while
// they write dst.
func overlap(op string, dst, x compute.Tensor) {
	if dst.Buf() != x.Buf() || dst.Len() == 0 || x.Len() == 0 {
		return
	}
	size := int64(dst.DType().Size())
	d0, x0 := int64(dst.Offset())*size, int64(x.Offset())*int64(x.DType().Size())
	if d0 < x0+x.Bytes() && x0 < d0+dst.Bytes() {
		compute.Panicf(op, "dst %v overlaps x %v", dst, x)
	}
}

// matMul computes each ps[i].d = x · ps[i].wᵀ (+ ps[i].d if add), in one
// GEMV launch for up to gemvMaxRows rows when the weights share a dtype,
// in one skinny launch up to b.skinnyMax rows, and on cuBLAS (x narrowed
// once for all of them) beyond. The caller has checked the shapes.
func (b *Backend) matMul(op string, x compute.Tensor, ps []proj, add bool) {
	n, k := x.Rows(), x.Cols()
	if n == 0 || b.err != nil {
		return
	}
	wdt := ps[0].w.DType()
	for _, p := range ps[1:] {
		if p.w.DType() != wdt { // mixed weights: one launch each
			for _, p := range ps {
				b.matMul(op, x, []proj{p}, add)
			}
			return
		}
	}
	xp := b.ptr(op, x)
	outs := make([]gemmOut, 0, 3)
	for _, p := range ps {
		if p.w.Rows() > 0 {
			outs = append(outs, gemmOut{d: b.ptr(op, p.d), w: b.ptr(op, p.w), m: p.w.Rows(), add: add})
		}
	}
	if len(outs) == 0 {
		return
	}
	gm := gmPlain
	if add {
		gm = gmAdd
	}
	b.enter()
	defer b.exit()
	switch {
	case k == 0:
		if add {
			break // dst += 0
		}
		for _, o := range outs {
			if err := cuda.MemsetD32Async(o.d, 0, int64(n)*int64(o.m), b.stream); err != nil {
				b.fail(fmt.Errorf("cuda: %s: %w", op, err))
			}
		}
	case n <= b.gemvMax && b.gemvMMA(xp, n, k, wdt, outs, gm):
	case n <= b.gemvMax:
		ws := slot(wdt)
		vec := gemvVec(wdt, k, xp)
		var segs [3]gemmOut
		for i, o := range outs {
			segs[i] = o
			vec = vec && o.w%16 == 0
		}
		blocks := 0
		for _, o := range outs {
			blocks += gemvBlocks(gemvCols(n), o.m)
		}
		kern := &b.k.gemv[ws][n-1]
		if n == 1 && ws > 0 && blocks <= gemvDeepBlocksPerSM*b.info.SMs {
			kern = &b.k.gemvDeep[ws]
		}
		b.launch(kern, [3]uint32{uint32(blocks), 1, 1}, threads256, 0,
			dev(segs[0].d), dev(segs[1].d), dev(segs[2].d), dev(xp), dev(segs[0].w), dev(segs[1].w), dev(segs[2].w),
			i32(segs[0].m), i32(segs[1].m), i32(segs[2].m), i32(k), i32(boolInt(add)), i32(boolInt(vec)))
	default:
		mode := skPlain
		if add {
			mode = skAdd
		}
		if n > b.skinnyMax || !b.skinny(xp, n, k, wdt, outs, mode) {
			b.gemm(op, xp, n, k, wdt, outs, nil, nil)
		}
	}
	b.done(op)
}

// gemvDeepBlocksPerSM bounds the grids that take the n = 1 GEMV kernel with
// twice the loads in flight (gemv_*_n1_deep): with at most four blocks of
// eight warps per SM (m = 4096 on 132 SMs: 512 blocks) the plain kernel
// leaves DRAM idle; with many more (m = 14336, the LM head) the deep one is
// 7–10% slower (H200, BenchmarkMatMul).
const gemvDeepBlocksPerSM = 4

// gemvCols mirrors GEMV_COLS in kernels/gemv.cu: the output columns a warp
// of the GEMV kernel computes for n rows of x. Keep the two the same.
func gemvCols(n int) int {
	switch n {
	case 1:
		return 1
	case 2:
		return 2
	}
	return 4
}

// gemvWarps is GEMV_WARPS: warps per block of the GEMV kernel.
const gemvWarps = 8

// gemvSwiGLUCols mirrors SWIGLU_COLS in kernels/gemv.cu: the columns of
// gate and up a warp of the SwiGLU kernel computes.
func gemvSwiGLUCols(n int) int {
	if n <= 2 {
		return 1
	}
	return 2
}

// gemvBlocks is the number of GEMV blocks for m columns at cols per warp.
func gemvBlocks(cols, m int) int {
	per := gemvWarps * cols
	return (m + per - 1) / per
}

// gemvVec reports whether the GEMV kernel may load x and 16-byte chunks of
// weights of dtype dt whole: k a multiple of the chunk and x aligned (the
// caller also checks each weight's address).
func gemvVec(dt compute.DType, k int, x cuda.DevPtr) bool {
	chunk := 8 // elements in 16 bytes
	if dt == compute.F32 {
		chunk = 4
	}
	return k%chunk == 0 && x%16 == 0
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

// gemmOut is one product of a cuBLAS call: d = x · wᵀ with w m × k, or
// d += x · wᵀ with add. With inSlice, d is not an output tensor but
// scratch that gemm places for each slice of rows (the caller's after
// function reads it). With narrow, d is written in the weights' 16-bit
// type, not float32 (for an epilogue that narrows its result anyway; not
// with add).
type gemmOut struct {
	d, w    cuda.DevPtr
	m       int
	add     bool
	inSlice bool
	narrow  bool
}

// size is the bytes of one element of d.
func (o gemmOut) size() int64 {
	if o.narrow {
		return 2
	}
	return 4
}

// gemmAfter is an epilogue of gemm, run after each slice's products on
// rows [r0, r0+rows) with the slice's outputs.
type gemmAfter func(r0, rows int, outs []gemmOut)

// gemm computes the products outs on cuBLAS in slices of rows of x: for
// 16-bit weights x is narrowed once per slice into the scratch, followed by
// the inSlice outputs; after, if set, runs after each slice's GEMMs with
// the inSlice outputs' d pointing at their scratch. The caller holds the
// thread (enter).
//
// narrow, if set, writes the 16-bit x of rows [r0, r0+rows) to dst in place
// of the cast (the norm fusions normalise straight into it).
func (b *Backend) gemm(op string, x cuda.DevPtr, n, k int, wdt compute.DType, outs []gemmOut,
	narrow func(dst cuda.DevPtr, r0, rows int), after gemmAfter) {
	ws := slot(wdt)
	typ, ct := cuda.R16BF, cuda.Compute32F
	switch wdt {
	case compute.F16:
		typ = cuda.R16F
	case compute.F32:
		typ, ct = cuda.R32F, cuda.Compute32FPedantic
	}
	narrowed := wdt != compute.F32
	if narrow != nil && !narrowed {
		panic("cuda: gemm: a narrowing prologue for float32 weights")
	}
	var perRow, slack int64
	if narrowed {
		perRow = 2 * int64(k)
	}
	for _, o := range outs {
		if o.narrow && (!narrowed || o.add) {
			panic("cuda: gemm: a narrowed output of float32 weights, or added to")
		}
		if o.inSlice {
			perRow += o.size() * int64(o.m)
			slack = 256 // each scratch output starts 256-byte aligned
		}
	}
	rows := n
	if perRow > 0 {
		rows = int(min(int64(n), (b.scratch.bytes-slack*int64(len(outs)))/perRow))
	}
	if rows <= 0 {
		b.fail(fmt.Errorf("cuda: %s: a row of %d columns does not fit the %d-byte scratch", op, k, b.scratch.bytes))
		return
	}
	slice := make([]gemmOut, len(outs))
	for r0 := 0; r0 < n; r0 += rows {
		c := min(rows, n-r0)
		xin := x + cuda.DevPtr(int64(r0)*int64(k)*4)
		next := b.scratch.ptr
		if narrowed {
			cnt := int64(c) * int64(k)
			if narrow != nil {
				narrow(next, r0, c)
			} else {
				b.launch(&b.k.cast[ws], blocks1D((cnt+3)/4), threads256, 0, dev(next), dev(xin), i64(cnt))
			}
			xin = next
			next += cuda.DevPtr(2 * cnt)
		}
		for i, o := range outs {
			slice[i] = o
			if o.inSlice {
				next = (next + 255) &^ 255
				slice[i].d = next
				next += cuda.DevPtr(int64(c) * int64(o.m) * o.size())
			} else {
				slice[i].d = o.d + cuda.DevPtr(int64(r0)*int64(o.m)*o.size())
			}
		}
		if narrowed && batchable(slice) {
			// Projections of one shape (LLaDA's q, k and v; gate and up):
			// one batched product, two or three times the blocks of each
			// alone, so cuBLAS needs no split of k and its reduction.
			var w, d [3]cuda.DevPtr
			for i, o := range slice {
				w[i], d[i] = o.w, o.d
			}
			b.gemmBatched(len(slice), w, xin, d, typ, outType(slice[0], typ), c, k, slice[0].m, ct)
		} else {
			for _, o := range slice {
				b.gemmEx(o.w, typ, xin, o.d, outType(o, typ), c, k, o.m, ct, o.add)
			}
		}
		if after != nil {
			after(r0, c, slice)
		}
	}
}

// outType is the cuBLAS type of o's d, given the weights' typ.
func outType(o gemmOut, typ cuda.DataType) cuda.DataType {
	if o.narrow {
		return typ
	}
	return cuda.R32F
}

// batchable says that outs are two or three products of one shape and
// output type that gemmBatched can run as one: cuBLAS has the batched
// call, and none adds.
func batchable(outs []gemmOut) bool {
	if len(outs) < 2 || len(outs) > 3 || !cuda.HasGemmBatchedEx() {
		return false
	}
	for _, o := range outs {
		if o.m != outs[0].m || o.add || o.narrow != outs[0].narrow {
			return false
		}
	}
	return true
}

// gemmBatched computes count (2 or 3) n × m products d[i] = x · w[i]ᵀ (d
// of type dtyp) as gemmEx computes each, in one batched cuBLAS call whose
// pointer arrays are the pointer table's entry for these operands
// (ptrs.go), or, with the table full, written to b.gemmPtrs by set_ptrs3
// first (in the stream, so that a graph replays them).
func (b *Backend) gemmBatched(count int, w [3]cuda.DevPtr, x cuda.DevPtr, d [3]cuda.DevPtr, typ, dtyp cuda.DataType, n, k, m int,
	ct cuda.ComputeType) {
	xs := [3]cuda.DevPtr{x, x, x}
	for i := count; i < 3; i++ {
		xs[i] = 0
	}
	p := b.ptrLookup(ptrSet{w[0], w[1], w[2], xs[0], xs[1], xs[2], d[0], d[1], d[2]})
	if p == 0 {
		p = b.gemmPtrs.ptr
		b.launch(&b.k.setPtrs3, [3]uint32{1, 1, 1}, [3]uint32{32, 1, 1}, 0, dev(p), dev(w[0]), dev(w[1]), dev(w[2]),
			dev(xs[0]), dev(xs[1]), dev(xs[2]), dev(d[0]), dev(d[1]), dev(d[2]))
	}
	b.pin.Pin(b.scal)
	err := b.blas.GemmBatchedEx(cuda.OpT, cuda.OpN, m, n, k, unsafe.Pointer(&b.scal[0]), p, typ, k, p+24, typ, k,
		unsafe.Pointer(&b.scal[1]), p+48, dtyp, m, count, ct, cuda.GemmDefault)
	b.pin.Unpin()
	if err != nil {
		b.fail(fmt.Errorf("cuda: %d batched products %d×%d·(%d×%d)ᵀ: %w", count, n, k, m, k, err))
	}
}

// gemmEx computes the n × m d = x · wᵀ (d += x · wᵀ with add) with x and w
// of type typ and d of type dtyp (float32 but for a narrowed gemmOut). In
// cuBLAS's column-major terms, w (m × k row-major) is a k × m matrix used
// transposed with lda = k, x is k × n with ldb = k, and d is m × n with
// ldc = m.
func (b *Backend) gemmEx(w cuda.DevPtr, typ cuda.DataType, x, d cuda.DevPtr, dtyp cuda.DataType, n, k, m int, ct cuda.ComputeType, add bool) {
	beta := &b.scal[1] // 0
	if add {
		beta = &b.scal[0] // 1
	}
	b.pin.Pin(b.scal)
	err := b.blas.GemmEx(cuda.OpT, cuda.OpN, m, n, k, unsafe.Pointer(&b.scal[0]), w, typ, k, x, typ, k,
		unsafe.Pointer(beta), d, dtyp, m, ct, cuda.GemmDefault)
	b.pin.Unpin()
	if err != nil {
		b.fail(fmt.Errorf("cuda: MatMul %d×%d·(%d×%d)ᵀ: %w", n, k, m, k, err))
	}
}

func (b *Backend) RMSNorm(dst, src, w compute.Tensor, eps float32) {
	if !isF32(dst, src, w) || dst.Rows() != src.Rows() || dst.Cols() != src.Cols() || w.Len() != src.Cols() {
		compute.Panicf("RMSNorm", "dst %v, src %v, weight %v", dst, src, w)
	}
	if src.Rows() == 0 || src.Cols() == 0 {
		return
	}
	if b.err != nil {
		return
	}
	d, x, g := b.ptr("RMSNorm", dst), b.ptr("RMSNorm", src), b.ptr("RMSNorm", w)
	b.enter()
	defer b.exit()
	b.launch(&b.k.rmsNorm, [3]uint32{uint32(src.Rows()), 1, 1}, threads256, 0, dev(d), dev(x), dev(g), i32(src.Cols()), f32(eps))
	b.done("RMSNorm")
}

func (b *Backend) Add(dst, a, c compute.Tensor) {
	if !isF32(dst, a, c) || dst.Len() != a.Len() || dst.Len() != c.Len() {
		compute.Panicf("Add", "dst %v, a %v, b %v", dst, a, c)
	}
	b.elementwise("Add", &b.k.add, dst, a, c)
}

func (b *Backend) Lerp(dst, a, c compute.Tensor, t float32) {
	if !isF32(dst, a, c) || dst.Len() != a.Len() || dst.Len() != c.Len() {
		compute.Panicf("Lerp", "dst %v, a %v, b %v", dst, a, c)
	}
	n := int64(dst.Len())
	if n == 0 || b.err != nil {
		return
	}
	d, p, q := b.ptr("Lerp", dst), b.ptr("Lerp", a), b.ptr("Lerp", c)
	b.enter()
	defer b.exit()
	b.launch(&b.k.lerp, blocks1D(n), threads256, 0, dev(d), dev(p), dev(q), f32(t), i64(n))
	b.done("Lerp")
}

func (b *Backend) SiLUMul(dst, gate, up compute.Tensor) {
	if !isF32(dst, gate, up) || dst.Len() != gate.Len() || dst.Len() != up.Len() {
		compute.Panicf("SiLUMul", "dst %v, gate %v, up %v", dst, gate, up)
	}
	b.elementwise("SiLUMul", &b.k.siluMul, dst, gate, up)
}

func (b *Backend) elementwise(op string, k *kernel, dst, x, y compute.Tensor) {
	n := int64(dst.Len())
	if n == 0 {
		return
	}
	if b.err != nil {
		return
	}
	d, p, q := b.ptr(op, dst), b.ptr(op, x), b.ptr(op, y)
	b.enter()
	defer b.exit()
	b.launch(k, blocks1D(n), threads256, 0, dev(d), dev(p), dev(q), i64(n))
	b.done(op)
}

// RoPE rotates x in place. Positions are device data: one outside the
// tables leaves its row unrotated rather than panicking as on the CPU.
func (b *Backend) RoPE(x, cos, sin, pos compute.Tensor, headDim int) {
	if !isF32(x, cos, sin) || pos.DType() != compute.I32 || headDim <= 0 || headDim%2 != 0 ||
		x.Cols()%headDim != 0 || cos.Cols() != headDim/2 || sin.Cols() != headDim/2 || sin.Rows() != cos.Rows() ||
		pos.Len() != x.Rows() {
		compute.Panicf("RoPE", "x %v, cos %v, sin %v, pos %v, headDim %d", x, cos, sin, pos, headDim)
	}
	pairs := int64(x.Rows()) * int64(x.Cols()/2)
	if pairs == 0 {
		return
	}
	if b.err != nil {
		return
	}
	xp, cp, sp, pp := b.ptr("RoPE", x), b.ptr("RoPE", cos), b.ptr("RoPE", sin), b.ptr("RoPE", pos)
	b.enter()
	defer b.exit()
	b.launch(&b.k.rope, blocks1D(pairs), threads256, 0, dev(xp), dev(cp), dev(sp), dev(pp),
		i32(x.Rows()), i32(x.Cols()), i32(headDim), i32(cos.Rows()))
	b.done("RoPE")
}

// Gather copies dst[i] = src[idx[i]]; an index out of range leaves its row
// unwritten (indices are device data).
func (b *Backend) Gather(dst, src, idx compute.Tensor) {
	b.copyRows("Gather", dst, src, idx, true)
}

// Scatter copies dst[idx[i]] = src[i]; an index out of range writes nothing.
func (b *Backend) Scatter(dst, src, idx compute.Tensor) {
	b.copyRows("Scatter", dst, src, idx, false)
}

func (b *Backend) copyRows(op string, dst, src, idx compute.Tensor, gather bool) {
	ds, ss := slot(dst.DType()), slot(src.DType())
	n, limit := dst.Rows(), src.Rows()
	if !gather {
		n, limit = src.Rows(), dst.Rows()
	}
	if ds < 0 || ss < 0 || idx.DType() != compute.I32 || dst.Cols() != src.Cols() || idx.Len() != n {
		compute.Panicf(op, "dst %v, src %v, %d indices %v", dst, src, idx.Len(), idx)
	}
	if n == 0 || dst.Cols() == 0 {
		return
	}
	if b.err != nil {
		return
	}
	d, sp, ip := b.ptr(op, dst), b.ptr(op, src), b.ptr(op, idx)
	b.enter()
	defer b.exit()
	b.launch(&b.k.copyRows[ss][ds], [3]uint32{uint32(n), 1, 1}, threads256, 0, dev(d), dev(sp), dev(ip),
		i32(dst.Cols()), i32(limit), i32(boolInt(gather)))
	b.done(op)
}

// Attention runs, for heads of 64 or 128, the decode kernel (one query of
// one head, or of a group of heads, per block, which merges its own
// splits) up to b.attnDecodeMax queries per batch row, its four-query form
// up to b.attnDecode4Max, from b.attnTiledMin on the tiled kernel
// (kernels/attention_tiled.cu, float32 caches) or the tensor-core one
// (kernels/attention_mma.cu, bfloat16 caches), and the one-warp-per-query
// kernel (kernels/attention.cu) otherwise; each splits a row's slots over
// several blocks when there are few blocks. The caches are float32 or
// bfloat16; every kernel but the tensor-core one widens bfloat16 exactly
// and computes in float32. Spans are device data: they are clamped to the
// cache rather than checked.
func (b *Backend) Attention(dst, q, kc, vc, qpos, span compute.Tensor, nHeads, nKVHeads int, causal bool) {
	a, ok := b.checkAttention("Attention", dst, q, kc, vc, qpos, span, nHeads, nKVHeads, causal)
	if !ok || b.err != nil {
		return
	}
	b.attend(a)
}

// checkAttention checks an Attention call's operands (panicking on misuse)
// and returns its shape; ok is false for a call with nothing to compute.
func (b *Backend) checkAttention(op string, dst, q, kc, vc, qpos, span compute.Tensor, nHeads, nKVHeads int,
	causal bool) (a attnCall, ok bool) {
	nb := span.Len() / 2
	cs := cacheSlot(kc.DType())
	if !isF32(dst, q) || cs < 0 || vc.DType() != kc.DType() || qpos.DType() != compute.I32 || span.DType() != compute.I32 ||
		nHeads <= 0 || nKVHeads <= 0 || nHeads%nKVHeads != 0 || q.Cols()%nHeads != 0 || span.Len()%2 != 0 ||
		nb == 0 || q.Rows()%nb != 0 || kc.Rows()%nb != 0 {
		compute.Panicf(op, "q %v, cache %v, span %v, heads %d/%d", q, kc, span, nHeads, nKVHeads)
	}
	hd := q.Cols() / nHeads
	if kc.Cols() != nKVHeads*hd || vc.Cols() != kc.Cols() || vc.Rows() != kc.Rows() ||
		dst.Rows() != q.Rows() || dst.Cols() != q.Cols() || qpos.Len() != q.Rows() {
		compute.Panicf(op, "dst %v, q %v, k %v, v %v, qpos %v", dst, q, kc, vc, qpos)
	}
	if hd > attnMaxHeadDim {
		compute.Panicf(op, "head dim %d above the kernel's %d", hd, attnMaxHeadDim)
	}
	n, T := q.Rows()/nb, kc.Rows()/nb
	a = attnCall{dst: dst, q: q, kc: kc, vc: vc, qpos: qpos, span: span,
		nb: nb, n: n, T: T, nHeads: nHeads, nKVHeads: nKVHeads, hd: hd, causal: causal}
	return a, n > 0 && hd > 0
}

// The kernels an Attention call can take, as attnRoute chooses.
const (
	attnGeneric = iota // attention_f32/_bf16: any shape, dynamic shared memory
	attnDecode         // few queries a row: the decode kernels, which merge their own splits
	attnTiled          // many queries over a float32 cache
	attnMMA            // many queries over a bfloat16 cache: the tensor cores
)

// attnRoute is the kernel that takes a checked call.
func (b *Backend) attnRoute(a attnCall) int {
	t := attnTiledIndex(a.hd)
	aligned := b.ptr("Attention", a.q)%16 == 0 && b.ptr("Attention", a.kc)%16 == 0 && b.ptr("Attention", a.vc)%16 == 0
	decode := t >= 0 && aligned && (a.n <= b.attnDecodeMax || a.n <= b.attnDecode4Max)
	tiled := !decode && t >= 0 && a.n >= b.attnTiledMin && a.T > 0 && aligned && b.ptr("Attention", a.dst)%16 == 0
	cs := cacheSlot(a.kc.DType())
	switch {
	case tiled && cs == 0 && b.attnTiledOK[t]:
		return attnTiled
	case tiled && cs == 1 && b.attnMMAOK[t]: // mma.sync from sm_80 on, with its shared memory
		return attnMMA
	case decode:
		return attnDecode
	}
	return attnGeneric
}

// attend runs a checked call on the kernel attnRoute chooses. With a.out16
// set the route is attnMMA in one chunk (the caller checked), and the
// kernel writes bfloat16 rows there instead of a.dst.
func (b *Backend) attend(a attnCall) {
	t, cs := attnTiledIndex(a.hd), cacheSlot(a.kc.DType())
	n, T, nHeads := a.n, a.T, a.nHeads
	route := b.attnRoute(a)
	if a.out16 != 0 && route != attnMMA {
		panic("cuda: attend: bfloat16 rows asked of a kernel without them")
	}
	switch route {
	case attnTiled:
		b.attnLaunch(&b.k.attnTiled[t], attnTiledThreads, attnTiledSharedBytes(a.hd), attnTiledQueries,
			attnTiledSplits(n, T, nHeads), a)
	case attnMMA:
		splits := attnMMASplits(n, T, nHeads, b.attnMMABlocks, b.attnOneChunk)
		if a.out16 != 0 && splits != 1 {
			panic("cuda: attend: bfloat16 rows asked of a call in several chunks")
		}
		a.mma = true
		k, threads, queries := b.attnMMAForm(t, attnMMAGroups(n, nHeads, splits, b.attnMMAGroups))
		b.attnLaunch(k, threads, attnMMASharedBytes(a.hd), queries, splits, a)
	case attnDecode: // no dynamic shared memory; the kernel merges its splits
		splits := attnDecodeSplits(T, b.attnDecodeChunk)
		k, perBlock := &b.k.attnDecode[cs][t], 1
		switch {
		case n > b.attnDecodeMax:
			k, perBlock = &b.k.attnDecode4[cs][t], 4
		case attnDecodeGrouped(a.nb, n, nHeads, a.nKVHeads, splits, b.attnGroupBlocks):
			k, a.blockHeads = &b.k.attnDecodeG4[cs][t], attnDecodeGroup
		}
		a.merge = true
		b.attnLaunch(k, 256, 0, perBlock, splits, a)
	default:
		shared := attnSharedBytes(a.hd)
		if shared > b.attnShared {
			b.fail(fmt.Errorf("cuda: Attention with heads of %d needs %d bytes of shared memory, the device gives %d",
				a.hd, shared, b.attnShared))
			return
		}
		b.attnLaunch(&b.k.attention[cs], 256, shared, 8, attnSplits(n, T), a)
	}
}

// attnCall is an Attention call's operands and shape, checked by Attention.
type attnCall struct {
	dst, q, kc, vc, qpos, span     compute.Tensor
	nb, n, T, nHeads, nKVHeads, hd int
	causal                         bool
	merge                          bool        // the kernel merges its splits itself, over the skinny counters (the decode kernels)
	blockHeads                     int         // heads a block takes (0: one)
	mma                            bool        // a tensor-core kernel: its last parameter is out16
	out16                          cuda.DevPtr // with mma and one chunk: bfloat16 rows written here, not to dst
}

// attnLaunch runs attention kernel k (threads a block, shared bytes of
// dynamic shared memory, perBlock queries a block) over the batch rows of
// a with each row's slots in splits chunks, and, when there are several,
// merges them: in the kernel (a.merge: the kernel takes a counter per
// column of blocks as its last parameter, and a null one leaves the
// merge to the combine kernel, as when a batch row has more columns than
// there are counters) or with the combine kernel. A group of batch rows
// at a time, whose partial states fill the scratch at most (and whose
// columns have a counter each), each group merged before the next one
// reuses it. One batch row's must fit, since fewer splits would make a
// row's results depend on the scratch size.
func (b *Backend) attnLaunch(k *kernel, threads, shared, perBlock, splits int, a attnCall) {
	const op = "Attention"
	d, qp, kp, vp := b.ptr(op, a.dst), b.ptr(op, a.q), b.ptr(op, a.kc), b.ptr(op, a.vc)
	pp, sp := b.ptr(op, a.qpos), b.ptr(op, a.span)
	n, T, nh, hd := a.n, a.T, a.nHeads, a.hd
	scale := float32(1 / math.Sqrt(float64(hd)))
	perRow := int64(n) * int64(nh) * int64(splits) * int64(hd+2) * 4
	if splits > 1 && perRow > b.scratch.bytes {
		b.fail(fmt.Errorf("cuda: Attention: the partial states of a batch row (%d bytes) exceed the %d-byte scratch", perRow, b.scratch.bytes))
		return
	}
	bh := max(1, a.blockHeads)
	columns := int64((n+perBlock-1)/perBlock) * int64(nh/bh) // block columns of a batch row
	group, inKernel := attnGroups(a.nb, splits, perRow, b.scratch.bytes, columns, b.attnCounters, a.merge)
	count := b.skCount.ptr
	if !inKernel {
		count = 0
	}
	b.enter()
	defer b.exit()
	grid := [3]uint32{uint32((n + perBlock - 1) / perBlock * splits), uint32(nh / bh), 1}
	block := [3]uint32{uint32(threads), 1, 1}
	for b0 := 0; b0 < a.nb; b0 += group {
		rows := min(group, a.nb-b0)
		grid[2] = uint32(rows)
		qOff, kOff := cuda.DevPtr(b0*n*a.q.Cols()*4), cuda.DevPtr(b0*T*a.kc.Cols()*a.kc.DType().Size())
		args := []uint64{dev(d + qOff), dev(qp + qOff), dev(kp + kOff), dev(vp + kOff), dev(pp + cuda.DevPtr(b0*n*4)),
			dev(sp + cuda.DevPtr(b0*2*4)), i32(n), i32(T), i32(nh), i32(nh / a.nKVHeads), i32(hd),
			i32(boolInt(a.causal)), f32(scale), dev(b.scratch.ptr), i32(splits)}
		if a.merge {
			args = append(args, dev(count))
		}
		if a.mma {
			out16 := a.out16
			if out16 != 0 {
				out16 += qOff / 2
			}
			args = append(args, dev(out16))
		}
		b.launch(k, grid, block, shared, args...)
		if splits > 1 && count == 0 {
			b.launch(&b.k.attnCombine, [3]uint32{uint32(rows * n * nh), 1, 1}, [3]uint32{128, 1, 1}, 0,
				dev(d+qOff), dev(b.scratch.ptr), i32(nh), i32(hd), i32(splits))
		}
	}
	b.done(op)
}

// attnGroups is how attnLaunch cuts nb batch rows into launches: group
// rows a launch, whose partial states (perRow bytes a row) fit the scratch
// and, when the kernel merges its splits (inKernel), whose block columns
// have a counter each. With one split there is nothing to merge: one
// launch. A kernel that could merge but has more columns a row than there
// are counters leaves the merge to the combine kernel.
func attnGroups(nb, splits int, perRow, scratch, columns int64, counters int, merge bool) (group int, inKernel bool) {
	if splits == 1 {
		return nb, false
	}
	g := max(1, min(int64(nb), scratch/perRow))
	if merge && columns <= int64(counters) {
		return int(min(g, int64(counters)/columns)), true
	}
	return int(g), false
}

// attnDecodeSplits is how many chunks of at least chunk slots (at most
// attnDecodeMaxSplits) the decode kernel cuts a row's T cache slots in: a
// function of the row's shape only.
func attnDecodeSplits(T, chunk int) int {
	return max(1, min(attnDecodeMaxSplits, (T+chunk-1)/chunk))
}

// attnDecodeGrouped says whether the decode kernel takes the query heads of
// a cache head together (attention_decodeg4_*): where they come in groups of
// attnDecodeGroup and a block per head would make at least groupBlocks
// blocks. It may depend on the batch: both forms give the same bits.
func attnDecodeGrouped(nb, n, nHeads, nKVHeads, splits, groupBlocks int) bool {
	return (nHeads/nKVHeads)%attnDecodeGroup == 0 && int64(nb)*int64(n)*int64(nHeads)*int64(splits) >= int64(groupBlocks)
}

// attnSplits is how many blocks share the slots of a query: with at least
// 8 queries per batch row there are blocks enough, and one takes them all;
// with fewer (decoding) the cache of T slots per row is cut in up to 32
// chunks of at least 128 slots. It depends on the shape of a batch row
// only, never on the number of rows: row-independence.
func attnSplits(n, T int) int {
	if n >= 8 {
		return 1
	}
	return max(1, min(32, (T+127)/128))
}

// attnDecodeMaxQueries is the most queries per batch row that take the
// decode kernel (kernels/attention.cu: attention_decode_*), which gives each
// query a block of its own: from a few queries on, the one-warp kernel's
// blocks share each staged tile among eight of them.
const attnDecodeMaxQueries = 4

// attnDecode4Max is the most queries per batch row that take the decode
// kernel's four-query form (attention_decode4_*), which reads each key and
// value row once for four queries; from attnTiledMinQueries on, the tiled
// kernel. On an H200 (BenchmarkAttention block/MHA/…, 32 heads of 128) the
// four-query form took 17.6 µs for 16 queries over 256 slots (tiled 19.6,
// one-warp 44.7) but 21.7 for 32 (tiled 20.6) and 87 for 32 over 1024
// slots (tiled 45: each block reads the head's whole cache), so it takes
// the queries the one-warp kernel took, 5 to 15.
const attnDecode4Max = attnTiledMinQueries - 1

// attnDecodeGroup is how many query heads of one cache head (grouped-query
// attention, as LLaMA-3's four) a block of the decode kernel takes
// (attention_decodeg4_*) once there are attnDecodeGroupBlocksPerSM blocks
// of one head per SM: it reads each key and value row once for the four
// and runs a quarter of the blocks, each with four times the arithmetic. A
// query's sums are the one-head kernel's, in the same order, so the choice
// may depend on the batch: the bits do not. On an H200 (GPU-4a166b7b,
// BenchmarkAttention decode/…/bf16, 32 heads of 128, 8 kv heads, 256 slots
// in 4 chunks) one row took 7.1 µs a head a block and 10.9 four heads a
// block; 8 rows 15.7 and 12.8.
const (
	attnDecodeGroup            = 4
	attnDecodeGroupBlocksPerSM = 4
)

// attnDecodeChunk is the fewest slots of a row a block of the decode
// kernel takes: a cache of T slots is split in up to attnDecodeMaxSplits
// chunks of at least this many (ATT_DU-slot steps of eight warps: 64
// slots are two steps), and the last block of a split merges them. Like
// attnSplits, it depends on the shape of a batch row only. While a second
// kernel merged the splits, 256 slots were best on an H200; merged in the
// kernel (GPU-4a166b7b, BenchmarkAttention decode/B=…/T=…/chunk=…/bf16,
// four heads a block): 1 row over 256 slots 10.8, 11.1, 14.9, 19.3 µs for
// chunks of 32, 64, 128, 256 (a head a block and 64: 7.1); 8 rows over 256
// 21.1, 12.5, 15.0, 19.6; 1 over 1024 23.2, 16.8, 16.9, 23.0; 8 over 2048
// 97.6, 97.6, 79.5, 66.4; 1 over 4096 29.6, 29.5, 29.8, 28.3.
const (
	attnDecodeChunk     = 64
	attnDecodeMaxSplits = 16
)

// attnTiledHeads are the head sizes of the tiled attention kernel, in the
// order of kernels.attnTiled.
var attnTiledHeads = [2]int{64, 128}

// attnTiledMinQueries is the fewest queries per batch row that take the
// tiled kernel. Its blocks take 64 queries, so from 16 to 63 some of its
// four warps idle, but each active warp computes a 16-query × 64-slot tile
// from registers where the one-warp kernel reads two shared operands per
// multiply-add and stages 32 slots at a time without overlap; with slots
// split in chunks of 64 (attnTiledSplits) a LLaDA block of 32 queries over
// 256 slots has 128 blocks. BenchmarkAttention's block/… cases time both
// kernels at 16 and 32 queries.
const attnTiledMinQueries = 16

func attnTiledIndex(hd int) int {
	for i, h := range attnTiledHeads {
		if h == hd {
			return i
		}
	}
	return -1
}

// attnTiledQueries and attnTiledThreads are the queries and threads of a
// block of both tiled kernels: ATT2_Q and ATT2_THREADS, and AM_Q and the
// threads of a group of four warps of the tensor-core kernel.
const (
	attnTiledQueries = 64
	attnTiledThreads = 128
)

// attnTiledSharedBytes is the tiled kernel's dynamic shared memory: Q, K and
// V tiles of 64 rows of hd floats, P (64 × 64 floats) and 64 ends.
func attnTiledSharedBytes(hd int) int { return (3*64*hd+64*64)*4 + 64*4 }

// attnMMASharedBytes is the tensor-core kernel's dynamic shared memory:
// two stages of a K and a V tile of 64 slots of hd bfloat16, rows padded
// by 8 (kernels/attention_mma.cu).
func attnMMASharedBytes(hd int) int { return 2 * 2 * 64 * (hd + 8) * 2 }

// attnTiledBlocks is the blocks per batch row that the tiled attention
// kernels split a query's slots to reach: two per SM of an H100 or H200.
// The tensor-core kernel splits only calls of fewer than attnMMABlocks
// blocks, about one per SM, over more than attnMMAOneChunk slots, and
// those to attnTiledBlocks: LLaDA's step
// over 256 tokens (128 blocks) took 35.4 µs in two chunks and their
// combine, 20.3 µs in one, while a dual-cache block of 32 queries over
// 1024 slots (32 blocks) took 21.6 µs in eight chunks and 23.5 in four
// (docs/perf.md, v11).
const (
	attnTiledBlocks = 256
	attnMMABlocks   = 128
)

// attnRowBlocks is the blocks of a batch row of n queries and nHeads heads
// in the tiled and tensor-core kernels, one chunk each.
func attnRowBlocks(n, nHeads int) int { return (n + attnTiledQueries - 1) / attnTiledQueries * nHeads }

// attnMMAForm is the tensor-core attention kernel of heads t (attnTiledIndex)
// with groups groups of warps, its threads and its queries a block
// (kernels/attention_mma.cu's ATTENTION_MMA lines: NG groups of WQ warps
// take 16·WQ queries): one or two groups of four warps, 64 queries; four
// of two, 32.
func (b *Backend) attnMMAForm(t, groups int) (k *kernel, threads, queries int) {
	switch groups {
	case 1:
		return &b.k.attnMMA[t], attnTiledThreads, attnTiledQueries
	case 2:
		return &b.k.attnMMA2[t], 2 * attnTiledThreads, attnTiledQueries
	case 4:
		return &b.k.attnMMA4[t], 4 * 64, 32
	}
	panic(fmt.Sprintf("cuda: a tensor-core attention of %d groups of warps", groups))
}

// attnMMAGroups is the groups of warps of a tensor-core attention block:
// for a batch row in one chunk of fewer than attnTiledBlocks blocks, whose
// SMs would hold four warps each at batch 1, four groups of two warps
// (attention_mma4_*, each over a quarter of every tile) for rows of at most
// 32 queries, two of four (attention_mma2_*, each over half) for longer
// ones; one group otherwise. force (1, 2 or 4; 0 for none) overrides it.
// Like the splits it depends on the shape of a batch row only, so that a
// row gets the same bits in any batch.
// On GPU-bd0d0263 (docs/perf.md, v11) two groups took LLaDA's 256 queries
// from 20.3 to 18.7 µs and a 128-token prefill from 12.2 to 11.6, and a
// 2048-token prefill from 419 to 483 µs, a 32-query block over 1024 slots
// in eight chunks from 21.9 to 28.6. Since the softmax went to base 2
// (v14, GPU-73b1c4c7) one group is faster alone (256 queries 13.9 → 12.0
// µs, a 128-token prefill 9.2 → 8.3), but LLaDA's layer is not (206.2 →
// 207.6 µs) nor its step (`BenchmarkDiffuse` 8.01 and 8.20 → 8.27 and 8.29
// ms): two groups stay.
func attnMMAGroups(n, nHeads, splits, force int) int {
	if force != 0 {
		return force
	}
	if splits == 1 && attnRowBlocks(n, nHeads) < attnTiledBlocks {
		if n <= 32 {
			return 4
		}
		return 2
	}
	return 1
}

// attnMMASplits is attnTiledSplits for the tensor-core kernel: one chunk
// from full blocks a batch row on, and for rows of at most oneChunk slots,
// whose one chunk takes the fused path of AttentionMatMulAdd (no merge of
// chunks, no float32 rows cast for the product).
func attnMMASplits(n, T, nHeads, full, oneChunk int) int {
	if attnRowBlocks(n, nHeads) >= full || T <= oneChunk {
		return 1
	}
	return attnTiledSplits(n, T, nHeads)
}

// attnMMAOneChunk is the most slots of a batch row that the tensor-core
// kernel takes in one chunk however few its blocks (attnMMASplits), as a
// LLaDA dual-cache block of 32 queries over 256 slots (32 blocks). Alone
// its four chunks are faster (11.6 against 12.3 µs), but in one chunk the
// attention writes the output projection's bfloat16 input itself, and the
// dual-cache layer went from 196.2 to 193.7 µs (docs/perf.md, v15,
// GPU-82bc70b0, an H100, three rounds alike). Longer rows stay in chunks,
// not measured in one: over 1024 slots the same block took 21.6 µs in
// eight chunks and 23.5 in four (v11), so fewer chunks cost more there.
const attnMMAOneChunk = 256

// attnTiledSplits is how many blocks share the slots of a query in the
// tiled and tensor-core kernels: enough for about attnTiledBlocks blocks
// per batch row, each chunk at least 128 slots (64, one tile, below 64 queries,
// where a block has fewer queries to keep busy), at most 32. Like
// attnSplits it depends on the shape of a batch row only.
func attnTiledSplits(n, T, nHeads int) int {
	blocks := attnRowBlocks(n, nHeads)
	chunk := 128
	if n < 64 {
		chunk = 64
	}
	return max(1, min(32, (T+chunk-1)/chunk, (attnTiledBlocks+blocks-1)/blocks))
}
