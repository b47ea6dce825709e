// Package cpu is the reference backend: pure Go, multi-threaded, computing in
// float32 from weights kept in their stored dtype. Every faster backend is
// tested against it.
//
// A Backend is used by one goroutine at a time; it spreads each op over its
// worker goroutines itself. Ops allocate nothing.
package cpu

import (
	"fmt"
	"math"
	"runtime"
	"time"
	"unsafe"

	"dllmbench/compute"
)

// Backend runs ops on the host. Storage is []float32 for F32, []uint16 for
// F16 and BF16 (raw bits) and []int32 for I32.
type Backend struct {
	pool *pool

	// One task value per op, reused by every call so that dispatch does not
	// allocate.
	mm    matmulTask
	attn  attnTask
	rows  rowTask
	elems elemTask
	sel   selectTask

	marks []time.Time // since the last Marks
}

var (
	_ compute.Backend      = (*Backend)(nil)
	_ compute.HostResident = (*Backend)(nil)
)

// New returns a backend using threads worker goroutines; threads ≤ 0 means
// one per available CPU (GOMAXPROCS).
func New(threads int) *Backend {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &Backend{pool: newPool(threads)}
}

// Threads is the number of worker goroutines.
func (b *Backend) Threads() int { return b.pool.workers }

func (b *Backend) Name() string { return "cpu" }

// HostResident marks the tensors as host memory (compute.HostResident).
func (b *Backend) HostResident() {}

// Close stops the worker goroutines; the backend must not be used after.
func (b *Backend) Close() { b.pool.close() }

func (b *Backend) Alloc(dt compute.DType, rows, cols int) compute.Tensor {
	n := rows * cols
	switch dt {
	case compute.F32:
		return compute.NewTensor(dt, rows, cols, make([]float32, n), 0)
	case compute.F16, compute.BF16:
		return compute.NewTensor(dt, rows, cols, make([]uint16, n), 0)
	case compute.I32:
		return compute.NewTensor(dt, rows, cols, make([]int32, n), 0)
	}
	panic(fmt.Sprintf("cpu: Alloc of dtype %v", dt))
}

// Load aliases data when it is aligned for dt (memory-mapped weights stay in
// the page cache and are never copied) and copies it otherwise.
func (b *Backend) Load(dt compute.DType, rows, cols int, data []byte) (compute.Tensor, error) {
	n := rows * cols
	if len(data) != n*dt.Size() {
		return compute.Tensor{}, fmt.Errorf("cpu: load %v[%d×%d]: have %d bytes, need %d", dt, rows, cols, len(data), n*dt.Size())
	}
	if n == 0 {
		return b.Alloc(dt, rows, cols), nil
	}
	aligned := uintptr(unsafe.Pointer(&data[0]))%uintptr(dt.Size()) == 0
	if !aligned {
		// Copy into a buffer whose start is aligned for dt.
		cp := make([]byte, len(data)+dt.Size())
		off := (dt.Size() - int(uintptr(unsafe.Pointer(&cp[0]))%uintptr(dt.Size()))) % dt.Size()
		dst := cp[off : off+len(data) : off+len(data)]
		copy(dst, data)
		data = dst
	}
	p := unsafe.Pointer(&data[0])
	var buf any
	switch dt {
	case compute.F32:
		buf = unsafe.Slice((*float32)(p), n)
	case compute.F16, compute.BF16:
		buf = unsafe.Slice((*uint16)(p), n)
	case compute.I32:
		buf = unsafe.Slice((*int32)(p), n)
	default:
		return compute.Tensor{}, fmt.Errorf("cpu: load of dtype %v", dt)
	}
	return compute.NewTensor(dt, rows, cols, buf, 0), nil
}

func (b *Backend) Free(compute.Tensor) {}

func (b *Backend) Sync() error { return nil }

func (b *Backend) Write(dst compute.Tensor, src any) {
	switch s := src.(type) {
	case []float32:
		copy(f32("Write", dst), s[:checkLen("Write", dst, len(s))])
	case []uint16:
		copy(u16("Write", dst), s[:checkLen("Write", dst, len(s))])
	case []int32:
		copy(i32("Write", dst), s[:checkLen("Write", dst, len(s))])
	default:
		compute.Panicf("Write", "unsupported host type %T", src)
	}
}

func (b *Backend) Read(dst any, src compute.Tensor) error {
	switch d := dst.(type) {
	case []float32:
		copy(d[:checkLen("Read", src, len(d))], f32("Read", src))
	case []uint16:
		copy(d[:checkLen("Read", src, len(d))], u16("Read", src))
	case []int32:
		copy(d[:checkLen("Read", src, len(d))], i32("Read", src))
	default:
		compute.Panicf("Read", "unsupported host type %T", dst)
	}
	return nil
}

func checkLen(op string, t compute.Tensor, n int) int {
	if n != t.Len() {
		compute.Panicf(op, "host slice has %d elements, tensor %v has %d", n, t, t.Len())
	}
	return n
}

// f32, u16 and i32 return a tensor's elements, panicking on a dtype mismatch.
func f32(op string, t compute.Tensor) []float32 {
	s, ok := t.Buf().([]float32)
	if !ok || t.DType() != compute.F32 {
		compute.Panicf(op, "want an F32 cpu tensor, have %v", t)
	}
	return s[t.Offset() : t.Offset()+t.Len()]
}

func u16(op string, t compute.Tensor) []uint16 {
	s, ok := t.Buf().([]uint16)
	if !ok {
		compute.Panicf(op, "want an F16 or BF16 cpu tensor, have %v", t)
	}
	return s[t.Offset() : t.Offset()+t.Len()]
}

func i32(op string, t compute.Tensor) []int32 {
	s, ok := t.Buf().([]int32)
	if !ok || t.DType() != compute.I32 {
		compute.Panicf(op, "want an I32 cpu tensor, have %v", t)
	}
	return s[t.Offset() : t.Offset()+t.Len()]
}

// rowRef is a typed view of any float tensor, for ops that convert.
type rowRef struct {
	dt   compute.DType
	cols int
	f    []float32
	h    []uint16
}

func ref(op string, t compute.Tensor) rowRef {
	r := rowRef{dt: t.DType(), cols: t.Cols()}
	switch t.DType() {
	case compute.F32:
		r.f = f32(op, t)
	case compute.F16, compute.BF16:
		r.h = u16(op, t)
	default:
		compute.Panicf(op, "want a float tensor, have %v", t)
	}
	return r
}

// copyRow copies row si of src into row di of dst, converting the dtype.
func copyRow(dst rowRef, di int, src rowRef, si int) {
	c := dst.cols
	switch {
	case dst.dt == src.dt && dst.dt == compute.F32:
		copy(dst.f[di*c:(di+1)*c], src.f[si*c:(si+1)*c])
	case dst.dt == src.dt:
		copy(dst.h[di*c:(di+1)*c], src.h[si*c:(si+1)*c])
	case dst.dt == compute.F32:
		d, s := dst.f[di*c:(di+1)*c], src.h[si*c:(si+1)*c]
		if src.dt == compute.BF16 {
			for k := range d {
				d[k] = compute.BF16ToF32(s[k])
			}
		} else {
			for k := range d {
				d[k] = compute.F16ToF32(s[k])
			}
		}
	default:
		for k := 0; k < c; k++ {
			var v float32
			switch src.dt {
			case compute.F32:
				v = src.f[si*c+k]
			case compute.BF16:
				v = compute.BF16ToF32(src.h[si*c+k])
			default:
				v = compute.F16ToF32(src.h[si*c+k])
			}
			if dst.dt == compute.BF16 {
				dst.h[di*c+k] = compute.F32ToBF16(v)
			} else {
				dst.h[di*c+k] = compute.F32ToF16(v)
			}
		}
	}
}

func (b *Backend) Gather(dst, src, idx compute.Tensor) {
	b.gatherScatter("Gather", dst, src, idx, true)
}

func (b *Backend) Scatter(dst, src, idx compute.Tensor) {
	b.gatherScatter("Scatter", dst, src, idx, false)
}

func (b *Backend) gatherScatter(op string, dst, src, idx compute.Tensor, gather bool) {
	ix := i32(op, idx)
	d, s := ref(op, dst), ref(op, src)
	if dst.Cols() != src.Cols() {
		compute.Panicf(op, "dst %v and src %v differ in columns", dst, src)
	}
	n, limit := dst.Rows(), src.Rows()
	if !gather {
		n, limit = src.Rows(), dst.Rows()
	}
	if len(ix) != n {
		compute.Panicf(op, "%d indices for %d rows", len(ix), n)
	}
	for i, r := range ix {
		if r < 0 || int(r) >= limit {
			compute.Panicf(op, "index %d out of range [0, %d)", r, limit)
		}
		if gather {
			copyRow(d, i, s, int(r))
		} else {
			copyRow(d, int(r), s, i)
		}
	}
}

func (b *Backend) RMSNorm(dst, src, w compute.Tensor, eps float32) {
	d, x, g := f32("RMSNorm", dst), f32("RMSNorm", src), f32("RMSNorm", w)
	if dst.Rows() != src.Rows() || dst.Cols() != src.Cols() || len(g) != src.Cols() {
		compute.Panicf("RMSNorm", "dst %v, src %v, weight %v", dst, src, w)
	}
	t := &b.rows
	*t = rowTask{kind: rowRMSNorm, dst: d, x: x, w: g, cols: src.Cols(), eps: eps}
	b.pool.For(src.Rows(), max(1, 1<<14/max(1, src.Cols())), t)
}

func (b *Backend) Add(dst, a, c compute.Tensor) {
	d, x, y := f32("Add", dst), f32("Add", a), f32("Add", c)
	if len(d) != len(x) || len(d) != len(y) {
		compute.Panicf("Add", "dst %v, a %v, b %v", dst, a, c)
	}
	t := &b.elems
	*t = elemTask{silu: false, dst: d, a: x, b: y}
	b.pool.For(len(d), 1<<15, t)
}

func (b *Backend) Lerp(dst, a, c compute.Tensor, t float32) {
	d, x, y := f32("Lerp", dst), f32("Lerp", a), f32("Lerp", c)
	if len(d) != len(x) || len(d) != len(y) {
		compute.Panicf("Lerp", "dst %v, a %v, b %v", dst, a, c)
	}
	for i := range d {
		// The conversion rounds the product: Go may not fuse it into the sum.
		d[i] = x[i] + float32(t*(y[i]-x[i]))
	}
}

func (b *Backend) SiLUMul(dst, gate, up compute.Tensor) {
	d, g, u := f32("SiLUMul", dst), f32("SiLUMul", gate), f32("SiLUMul", up)
	if len(d) != len(g) || len(d) != len(u) {
		compute.Panicf("SiLUMul", "dst %v, gate %v, up %v", dst, gate, up)
	}
	t := &b.elems
	*t = elemTask{silu: true, dst: d, a: g, b: u}
	b.pool.For(len(d), 1<<13, t)
}

// elemTask is Add or SiLUMul over a range of elements.
type elemTask struct {
	silu      bool
	dst, a, b []float32
}

func (t *elemTask) run(lo, hi int) {
	d, a, b := t.dst[lo:hi], t.a[lo:hi], t.b[lo:hi]
	if !t.silu {
		for i := range d {
			d[i] = a[i] + b[i]
		}
		return
	}
	// The kernel and siluMulGo give the same bits, so where a chunk ends
	// changes nothing.
	n8 := 0
	if useAVX2 {
		n8 = len(d) &^ 7
		if n8 > 0 {
			siluMulF32(&d[0], &a[0], &b[0], n8/8)
		}
	}
	siluMulGo(d[n8:], a[n8:], b[n8:])
}

func (b *Backend) RoPE(x, cos, sin, pos compute.Tensor, headDim int) {
	xs, c, s, p := f32("RoPE", x), f32("RoPE", cos), f32("RoPE", sin), i32("RoPE", pos)
	if headDim <= 0 || headDim%2 != 0 || x.Cols()%headDim != 0 || cos.Cols() != headDim/2 ||
		sin.Cols() != headDim/2 || sin.Rows() != cos.Rows() || len(p) != x.Rows() {
		compute.Panicf("RoPE", "x %v, cos %v, sin %v, pos %v, headDim %d", x, cos, sin, pos, headDim)
	}
	for _, q := range p {
		if q < 0 || int(q) >= cos.Rows() {
			compute.Panicf("RoPE", "position %d outside the table of %d", q, cos.Rows())
		}
	}
	t := &b.rows
	*t = rowTask{kind: rowRoPE, dst: xs, x: c, w: s, pos: p, cols: x.Cols(), headDim: headDim}
	b.pool.For(x.Rows(), max(1, 1<<14/max(1, x.Cols())), t)
}

const (
	rowRMSNorm = iota
	rowRoPE
)

// rowTask is an op applied row by row: RMSNorm or RoPE.
type rowTask struct {
	kind      int
	dst, x, w []float32 // RoPE: dst is x, x the cos table, w the sin table
	pos       []int32
	cols      int
	headDim   int
	eps       float32
}

func (t *rowTask) run(lo, hi int) {
	c := t.cols
	switch t.kind {
	case rowRMSNorm:
		for i := lo; i < hi; i++ {
			x, d := t.x[i*c:(i+1)*c], t.dst[i*c:(i+1)*c]
			var ss float64
			for _, v := range x {
				ss += float64(v) * float64(v)
			}
			// As the references do it: the mean in float32, then rsqrt(mean+eps),
			// then weight × (x × scale).
			inv := float32(1 / math.Sqrt(float64(float32(ss/float64(c))+t.eps)))
			for k, v := range x {
				d[k] = t.w[k] * (v * inv)
			}
		}
	case rowRoPE:
		h := t.headDim / 2
		for i := lo; i < hi; i++ {
			p := int(t.pos[i])
			cs, sn := t.x[p*h:(p+1)*h], t.w[p*h:(p+1)*h]
			row := t.dst[i*c : (i+1)*c]
			for o := 0; o < c; o += t.headDim {
				x1, x2 := row[o:o+h], row[o+h:o+2*h]
				for j := range h {
					a, b := x1[j], x2[j]
					x1[j] = a*cs[j] - b*sn[j]
					x2[j] = b*cs[j] + a*sn[j]
				}
			}
		}
	}
}
