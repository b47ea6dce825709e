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

// MatMul computes dst = x · wᵀ: the GEMV kernel for up to gemvMaxRows rows
// of x, cuBLAS beyond. cuBLAS multiplies 16-bit weights by x narrowed to
// the weights' type (float32 accumulation), and float32 weights with
// CUBLAS_COMPUTE_32F_PEDANTIC, which rules out TF32.
func (b *Backend) MatMul(dst, x, w compute.Tensor) {
	n, k, m := x.Rows(), x.Cols(), w.Rows()
	ws := slot(w.DType())
	if !isF32(dst, x) || ws < 0 || w.Cols() != k || dst.Rows() != n || dst.Cols() != m {
		compute.Panicf("MatMul", "dst %v = x %v · wᵀ %v", dst, x, w)
	}
	if n == 0 || m == 0 {
		return
	}
	if b.err != nil {
		return
	}
	dp, xp, wp := b.ptr("MatMul", dst), b.ptr("MatMul", x), b.ptr("MatMul", w)
	b.enter()
	defer b.exit()
	switch {
	case k == 0:
		if err := cuda.MemsetD32Async(dp, 0, int64(n)*int64(m), b.stream); err != nil {
			b.fail(fmt.Errorf("cuda: MatMul: %w", err))
		}
	case n <= gemvMaxRows:
		chunk := 8 // elements in 16 bytes
		if w.DType() == compute.F32 {
			chunk = 4
		}
		vec := k%chunk == 0 && xp%16 == 0 && wp%16 == 0
		b.launch(&b.k.gemv[ws], [3]uint32{uint32((m + 7) / 8), 1, 1}, threads256, 0,
			dev(dp), dev(xp), dev(wp), i32(n), i32(k), i32(m), i32(boolInt(vec)))
	case w.DType() == compute.F32:
		b.gemmEx(wp, cuda.R32F, xp, dp, n, k, m, cuda.Compute32FPedantic)
	default:
		typ := cuda.R16BF
		if w.DType() == compute.F16 {
			typ = cuda.R16F
		}
		rows := int(min(int64(n), b.scratch.bytes/(2*int64(k))))
		if rows == 0 {
			b.fail(fmt.Errorf("cuda: MatMul: a row of %d columns does not fit the %d-byte scratch", k, b.scratch.bytes))
			return
		}
		for r0 := 0; r0 < n; r0 += rows {
			c := min(rows, n-r0)
			cnt := int64(c) * int64(k)
			b.launch(&b.k.cast[ws], blocks1D(cnt), threads256, 0,
				dev(b.scratch.ptr), dev(xp+cuda.DevPtr(int64(r0)*int64(k)*4)), i64(cnt))
			b.gemmEx(wp, typ, b.scratch.ptr, dp+cuda.DevPtr(int64(r0)*int64(m)*4), c, k, m, cuda.Compute32F)
		}
	}
	b.done("MatMul")
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

// gemmEx computes the n × m float32 d = x · wᵀ with x and w of type typ.
// In cuBLAS's column-major terms, w (m × k row-major) is a k × m matrix
// used transposed with lda = k, x is k × n with ldb = k, and d is m × n
// with ldc = m.
func (b *Backend) gemmEx(w cuda.DevPtr, typ cuda.DataType, x, d cuda.DevPtr, n, k, m int, ct cuda.ComputeType) {
	b.pin.Pin(b.scal)
	err := b.blas.GemmEx(cuda.OpT, cuda.OpN, m, n, k, unsafe.Pointer(&b.scal[0]), w, typ, k, x, typ, k,
		unsafe.Pointer(&b.scal[1]), d, cuda.R32F, m, ct, cuda.GemmDefault)
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

// Attention is one kernel for every shape (see kernels/attention.cu), its
// slots split over several blocks when a batch row has few queries.
// Spans are device data: they are clamped to the cache rather than checked.
func (b *Backend) Attention(dst, q, kc, vc, qpos, span compute.Tensor, nHeads, nKVHeads int, causal bool) {
	nb := span.Len() / 2
	if !isF32(dst, q, kc, vc) || qpos.DType() != compute.I32 || span.DType() != compute.I32 ||
		nHeads <= 0 || nKVHeads <= 0 || nHeads%nKVHeads != 0 || q.Cols()%nHeads != 0 || span.Len()%2 != 0 ||
		nb == 0 || q.Rows()%nb != 0 || kc.Rows()%nb != 0 {
		compute.Panicf("Attention", "q %v, cache %v, span %v, heads %d/%d", q, kc, span, nHeads, nKVHeads)
	}
	hd := q.Cols() / nHeads
	if kc.Cols() != nKVHeads*hd || vc.Cols() != kc.Cols() || vc.Rows() != kc.Rows() ||
		dst.Rows() != q.Rows() || dst.Cols() != q.Cols() || qpos.Len() != q.Rows() {
		compute.Panicf("Attention", "dst %v, q %v, k %v, v %v, qpos %v", dst, q, kc, vc, qpos)
	}
	if hd > attnMaxHeadDim {
		compute.Panicf("Attention", "head dim %d above the kernel's %d", hd, attnMaxHeadDim)
	}
	n, T := q.Rows()/nb, kc.Rows()/nb
	if n == 0 || hd == 0 {
		return
	}
	if b.err != nil {
		return
	}
	shared := attnSharedBytes(hd)
	if shared > b.attnShared {
		b.fail(fmt.Errorf("cuda: Attention with heads of %d needs %d bytes of shared memory, the device gives %d",
			hd, shared, b.attnShared))
		return
	}
	op := "Attention"
	d, qp, kp, vp := b.ptr(op, dst), b.ptr(op, q), b.ptr(op, kc), b.ptr(op, vc)
	pp, sp := b.ptr(op, qpos), b.ptr(op, span)
	scale := float32(1 / math.Sqrt(float64(hd)))
	splits := attnSplits(n, T)
	b.enter()
	defer b.exit()
	grid := [3]uint32{uint32((n + 7) / 8 * splits), uint32(nHeads), uint32(nb)}
	args := func(b0 int) []uint64 { // the parameters for batch rows from b0 on
		qOff, kOff := cuda.DevPtr(b0*n*q.Cols()*4), cuda.DevPtr(b0*T*kc.Cols()*4)
		return []uint64{dev(d + qOff), dev(qp + qOff), dev(kp + kOff), dev(vp + kOff), dev(pp + cuda.DevPtr(b0*n*4)),
			dev(sp + cuda.DevPtr(b0*2*4)), i32(n), i32(T), i32(nHeads), i32(nHeads / nKVHeads), i32(hd),
			i32(boolInt(causal)), f32(scale), dev(b.scratch.ptr), i32(splits)}
	}
	if splits == 1 {
		b.launch(&b.k.attention, grid, threads256, shared, args(0)...)
		b.done("Attention")
		return
	}
	// The partial states of a group of batch rows fill the scratch at most;
	// each group is merged before the next one reuses it.
	perRow := int64(n) * int64(nHeads) * int64(splits) * int64(hd+2) * 4
	group := int(max(1, min(int64(nb), b.scratch.bytes/perRow)))
	for b0 := 0; b0 < nb; b0 += group {
		rows := min(group, nb-b0)
		grid[2] = uint32(rows)
		b.launch(&b.k.attention, grid, threads256, shared, args(b0)...)
		b.launch(&b.k.attnCombine, [3]uint32{uint32(rows * n * nHeads), 1, 1}, [3]uint32{128, 1, 1}, 0,
			dev(d+cuda.DevPtr(b0*n*q.Cols()*4)), dev(b.scratch.ptr), i32(nHeads), i32(hd), i32(splits))
	}
	b.done("Attention")
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
