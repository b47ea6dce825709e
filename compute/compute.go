// Package compute defines the few tensor operations a transformer forward
// pass needs and the Backend interface that runs them on a device.
//
// Every tensor is a row-major matrix of Rows × Cols elements: weights are
// (out, in), activations (tokens, features), caches (rows × slots, features),
// index vectors (n, 1). Heads are column ranges of a row. Keeping one shape
// keeps every op, kernel and test simple.
//
// Operations are issued in order and may run asynchronously (a GPU queues
// them); Read and Sync wait for them. Variable per-step data (token ids,
// positions, attention spans) always lives in I32 tensors rather than Go
// arguments, so that a device can record a step once and replay it.
//
// Every backend must be row-independent: row i of an op's output depends only
// on row i of its row-wise inputs, computed by the same sequence of floating
// point operations whatever the number of rows. That is what makes a batch
// give bit-identical results to each of its rows run alone.
package compute

import "fmt"

// Tensor is a handle to a Rows × Cols matrix owned by a backend. It is a small
// value: copying it copies the handle, not the data.
type Tensor struct {
	dtype      DType
	rows, cols int
	off        int // element offset of row 0 in buf
	buf        any // backend storage, opaque outside the backend
}

// NewTensor is for backends: it wraps storage buf, whose element off is row 0.
func NewTensor(dt DType, rows, cols int, buf any, off int) Tensor {
	if rows < 0 || cols < 0 || off < 0 {
		panic(fmt.Sprintf("compute: invalid tensor %d×%d at offset %d", rows, cols, off))
	}
	return Tensor{dtype: dt, rows: rows, cols: cols, off: off, buf: buf}
}

func (t Tensor) DType() DType { return t.dtype }
func (t Tensor) Rows() int    { return t.rows }
func (t Tensor) Cols() int    { return t.cols }
func (t Tensor) Len() int     { return t.rows * t.cols }

// Buf and Offset are for backends: the storage and the element offset of row 0.
func (t Tensor) Buf() any    { return t.buf }
func (t Tensor) Offset() int { return t.off }

// Nil reports whether t refers to no storage.
func (t Tensor) Nil() bool { return t.buf == nil }

// Bytes is the size of the tensor's elements in bytes.
func (t Tensor) Bytes() int64 { return int64(t.rows) * int64(t.cols) * int64(t.dtype.Size()) }

// Slice returns rows [lo, hi) of t, sharing its storage.
func (t Tensor) Slice(lo, hi int) Tensor {
	if lo < 0 || hi < lo || hi > t.rows {
		panic(fmt.Sprintf("compute: row slice [%d:%d] of a %d-row tensor", lo, hi, t.rows))
	}
	return Tensor{dtype: t.dtype, rows: hi - lo, cols: t.cols, off: t.off + lo*t.cols, buf: t.buf}
}

// Reshape views t with another number of columns; the element count must stay.
func (t Tensor) Reshape(rows, cols int) Tensor {
	if rows*cols != t.rows*t.cols {
		panic(fmt.Sprintf("compute: reshape %d×%d to %d×%d", t.rows, t.cols, rows, cols))
	}
	return Tensor{dtype: t.dtype, rows: rows, cols: cols, off: t.off, buf: t.buf}
}

func (t Tensor) String() string { return fmt.Sprintf("%v[%d×%d]", t.dtype, t.rows, t.cols) }

// Backend allocates tensors and runs the operations on them.
//
// Misuse (mismatched shapes or types) panics with a message naming the op; a
// failure of the device is returned by Sync or Read.
type Backend interface {
	// Name is the backend's short name as records show it: "cpu", "cuda".
	Name() string

	// Alloc returns a new rows × cols tensor of dt with unspecified contents.
	Alloc(dt DType, rows, cols int) Tensor
	// Load returns a tensor holding data, the little-endian bytes of a
	// rows × cols matrix of dt. A host backend may keep a reference to data
	// (memory-mapped weights stay mapped, never copied); a device copies it.
	Load(dt DType, rows, cols int, data []byte) (Tensor, error)
	// Free releases a tensor from Alloc or Load. Freeing is optional on
	// garbage-collected backends and must not be done twice.
	Free(t Tensor)

	// Write copies host values into dst: []float32 for F32, []uint16 for
	// F16 and BF16 (raw bits), []int32 for I32; the length must be dst.Len().
	Write(dst Tensor, src any)
	// Read waits for queued work and copies src into dst, typed as for Write;
	// it returns the first error the device reported.
	Read(dst any, src Tensor) error
	// Sync waits for queued work and returns the first error reported.
	Sync() error

	// Gather copies rows: dst[i] = src[idx[i]], converting to dst's dtype.
	// It is the embedding lookup and the selection of rows for the LM head.
	Gather(dst, src, idx Tensor)
	// Scatter copies rows: dst[idx[i]] = src[i], converting to dst's dtype
	// (to a 16-bit dtype by rounding to nearest, ties to even, as
	// F32ToBF16 and F32ToF16 do). It writes new keys and values into a
	// cache, float32 or bfloat16.
	Scatter(dst, src, idx Tensor)
	// RMSNorm computes dst[i] = src[i] / sqrt(mean(src[i]²) + eps) ⊙ w[0]
	// in float32; w is 1 × cols.
	RMSNorm(dst, src, w Tensor, eps float32)
	// MatMul computes dst = x · wᵀ, with x n × k, w m × k (a weight stored
	// as (out, in)) and dst n × m, accumulating in float32.
	MatMul(dst, x, w Tensor)
	// Add computes dst = a + b elementwise; dst may be a or b.
	Add(dst, a, b Tensor)
	// Lerp computes dst = a + t·(b − a) elementwise in float32, the
	// difference, the product and the sum each rounded on its own (no
	// fused multiply-add); dst may be a or b. It is classifier-free
	// guidance's unconditional + scale·(conditional − unconditional).
	Lerp(dst, a, b Tensor, t float32)
	// SiLUMul computes dst = silu(gate) ⊙ up with silu(z) = z / (1 + e^-z);
	// dst may be gate or up.
	SiLUMul(dst, gate, up Tensor)
	// RoPE rotates x in place, each head of headDim columns in the
	// rotate-half layout: with h = headDim/2, p = pos[i], c = cos[p], s = sin[p],
	// x[j] ← x[j]·c[j] − x[j+h]·s[j] and x[j+h] ← x[j+h]·c[j] + x[j]·s[j]
	// for j < h. cos and sin are tables of maxPos × h.
	RoPE(x, cos, sin, pos Tensor, headDim int)
	// Attention computes scaled dot-product attention of the queries q over
	// a cache. The batch has B = span.Len()/2 rows; q holds B × n query rows
	// (n per batch row) of nHeads × headDim columns; kc and vc hold B × T
	// cache rows of nKVHeads × headDim columns, batch row b owning rows
	// [b·T, (b+1)·T). Query r of batch row b = r / n sees the cache slots j
	// with span[2b] ≤ j < span[2b+1], and if causal also j ≤ qpos[r]. Query
	// head h uses cache head h / (nHeads/nKVHeads). Scores are scaled by
	// 1/sqrt(headDim); a query that sees no slot gets a zero output.
	//
	// q and dst are F32; kc and vc are both F32 or both BF16, a BF16
	// cache's values being the bfloat16 it stores widened exactly to
	// float32. Over a BF16 cache a backend may also round the other
	// operands of its products to bfloat16 (tensor cores do): the
	// conformance suite holds it to the half-precision tolerance there.
	Attention(dst, q, kc, vc, qpos, span Tensor, nHeads, nKVHeads int, causal bool)
}

// Panicf panics with a message naming op. Backends call it only after a
// failed check, so that a check on the hot path costs no allocation.
func Panicf(op string, format string, args ...any) {
	panic("compute: " + op + ": " + fmt.Sprintf(format, args...))
}

// Graph is a recorded sequence of ops that replays on the same tensors.
type Graph interface {
	// Launch replays the ops; like any op it may run asynchronously.
	Launch() error
	// Close releases the graph.
	Close()
}

// Recorder is implemented by backends that can record ops once and replay
// them cheaply (CUDA graphs: a decode step is hundreds of small launches).
// While record runs, ops are captured, not executed; Write, Read and Sync
// must not be called.
type Recorder interface {
	Record(record func()) (Graph, error)
}

// MemoryStats is implemented by backends that account for device memory.
type MemoryStats interface {
	// Memory reports bytes currently allocated through Alloc and Load, their
	// peak since the backend started (or since ResetPeak, see PeakResetter), and the backend's own workspace
	// (library handles, scratch), all in bytes.
	Memory() (allocated, peak, workspace int64)
}

// PeakResetter is implemented by MemoryStats backends whose peak can be
// restarted: after ResetPeak, the peak Memory reports is the bytes
// allocated then, and grows from there. A benchmark resets it before each
// measurement, so that the peak is that measurement's and not the largest
// of everything the backend ran before it.
type PeakResetter interface {
	ResetPeak()
}

// HostResident is implemented by backends whose tensors are the host's own
// memory, as the CPU backend's Go slices are: what Alloc takes comes out of
// the machine's memory, where a request beyond it ends the process (Go's
// runtime cannot return it as an error), so a caller checks the size of a
// large request first. A device backend's Alloc failure is an error that
// Sync returns.
type HostResident interface {
	HostResident()
}

// DeviceTimer is implemented by backends that can time queued work with
// the device's own clock (CUDA events), the time GPU benchmarks report next
// to the host's.
//
// The two markers measure the device's timeline, idle time included, not
// its busy time: around work the host waits for at every step, the device
// time matches the host's to within the cost of the markers, and a device
// time well beyond the host's shows queued work that the host's clock
// missed.
type DeviceTimer interface {
	// StartTimer queues a start marker behind the work issued so far and
	// returns without waiting for it. An error (the device refused the
	// marker) leaves the timer stopped.
	StartTimer() error
	// StopTimer queues an end marker, waits for it and returns the device
	// time in seconds between the device reaching the start marker and
	// reaching this one. Like Sync it returns the first error reported
	// since the last Sync or Read, and then no time. The timer is stopped
	// afterwards, whatever it returns.
	//
	// Calls pair: StartTimer while the timer runs, StopTimer while it does
	// not, and either while Record runs, panic.
	StopTimer() (seconds float64, err error)
}

// Marker is implemented by backends that can stamp points of the queued
// work with the device's clock, so that a caller who queues many steps
// before waiting can still time each one.
type Marker interface {
	// Mark queues a marker behind the work issued so far and returns
	// without waiting. It panics while Record runs.
	Mark() error
	// Marks waits for the markers queued since the last Marks and writes
	// into dst, in order, the time in seconds at which the device reached
	// each, counted from the first of them (so dst[0] is 0); it returns
	// their number and forgets them. Like Sync it returns the first error
	// reported since the last Sync or Read, and then no times. dst shorter
	// than the markers panics.
	Marks(dst []float64) (int, error)
}

// The optional interfaces below are fusions: a backend implements them
// when a fused kernel pays, and callers fall back to the composed ops,
// which are their specification.

// Selector picks tokens on the device, so that only ids and probabilities
// cross to the host instead of whole rows of logits.
type Selector interface {
	// ArgmaxProb writes, for each row r of logits (n × V), the column of
	// its largest value into ids[r] (the first on ties; never the column
	// exclude, −1 for none), and into probs[r] the softmax probability of
	// that column over the whole row, computed in float64 and rounded
	// toward zero, so that probs[r] ≥ t for a float32 t exactly when the
	// float64 probability is (a threshold of 1 passes only a probability
	// of exactly 1, as in Fast-dLLM). ids is n × 1 I32, probs n × 1 F32.
	// ArgmaxProbRow is this definition for one row.
	ArgmaxProb(ids, probs, logits Tensor, exclude int)
}

// Unmasker commits a step of masked diffusion on the device, the part of
// LLaDA's low-confidence remasking that follows Selector's picks, so that a
// run of steps whose schedule is fixed needs the host only at its end. Its
// specification is literal; a decoder on a backend without it commits on
// the host.
type Unmasker interface {
	// Unmask takes canvas, B rows of n I32 token ids, and in each row b the
	// block of bl = ids.Len()/B positions from column start. Of the block's
	// positions j holding the token mask it commits the k with the largest
	// probs[b·bl+j], the lower j first on ties (all of them when fewer than k
	// hold it): canvas[b][start+j] = ids[b·bl+j]. picked (B × k I32) gets
	// row b's committed j in that order, −1 past its commits. ids (I32) and
	// probs (F32) are B·bl × 1, as ArgmaxProb writes them for the block.
	Unmask(canvas, picked, ids, probs Tensor, start, k, mask int)
}

// MatMulAdder fuses a projection with the residual add:
// MatMulAdd(dst, x, w) is MatMul(t, x, w) then Add(dst, dst, t).
type MatMulAdder interface {
	MatMulAdd(dst, x, w Tensor)
}

// AttentionMatMulAdder fuses the attention with the output projection
// that reads it: AttentionMatMulAdd(dst, att, w, q, kc, vc, qpos, span,
// nHeads, nKVHeads, causal) is Attention(att, q, kc, vc, qpos, span, nHeads,
// nKVHeads, causal) then MatMul(t, att, w) and Add(dst, dst, t). att is the
// composed ops' intermediate: a backend may leave it unwritten, so its
// contents afterwards are unspecified. dst must not overlap att, q or the
// caches.
type AttentionMatMulAdder interface {
	AttentionMatMulAdd(dst, att, w, q, kc, vc, qpos, span Tensor, nHeads, nKVHeads int, causal bool)
}

// SwiGLUer fuses the gated feed-forward input: MatMulSwiGLU(dst, x, gate,
// up) is MatMul(g, x, gate), MatMul(u, x, up), then SiLUMul(dst, g, u).
type SwiGLUer interface {
	MatMulSwiGLU(dst, x, gate, up Tensor)
}

// MatMul3er fuses three projections of the same input (queries, keys and
// values): MatMul3(d1, d2, d3, x, w1, w2, w3) is MatMul(di, x, wi) for each i.
type MatMul3er interface {
	MatMul3(d1, d2, d3, x, w1, w2, w3 Tensor)
}

// EncoderOps are the ops of a post-LayerNorm encoder with biases (BERT,
// RoBERTa), which the decoder families never use. Their specification is
// literal: there is no composed fallback, and a model that needs them
// refuses a backend without them. The CPU and CUDA backends have them.
type EncoderOps interface {
	// LayerNorm computes dst[i] = (src[i] − μ) / sqrt(σ² + eps) ⊙ w[0] + b[0]
	// with μ and σ² the mean and the biased variance of row i, rounded to
	// float32; w and b are 1 × cols. dst may be src.
	LayerNorm(dst, src, w, b Tensor, eps float32)
	// GELU computes dst = x·Φ(x) = x/2·(1 + erf(x/√2)) elementwise: the exact
	// form (transformers' "gelu"), not the tanh approximation. dst may be src.
	GELU(dst, src Tensor)
	// AddRow computes dst[i] = src[i] + bias[0] for every row i: a 1 × cols
	// bias broadcast over the rows. dst may be src.
	AddRow(dst, src, bias Tensor)
}

// RoPEStorer fuses the rotation of a step's new queries and keys with their
// store into the cache: RoPEStore(q, k, v, kc, vc, rows, cos, sin, pos,
// headDim) is RoPE(q, cos, sin, pos, headDim), RoPE(k, cos, sin, pos,
// headDim), Scatter(kc, k, rows), Scatter(vc, v, rows). k is rotated in
// place as RoPE leaves it. q, k and v are F32; the caches are F32 or BF16,
// the stored keys and values rounded as Scatter rounds them. q, k and v
// must not overlap one another or the caches.
type RoPEStorer interface {
	RoPEStore(q, k, v, kc, vc, rows, cos, sin, pos Tensor, headDim int)
}

// NormMatMul3er fuses the normalisation before the attention with the
// three projections that read it: NormMatMul3(d1, d2, d3, xn, x, g, eps,
// w1, w2, w3) is RMSNorm(xn, x, g, eps) then MatMul(di, xn, wi) for each i.
// xn is the composed ops' intermediate: a backend may leave it unwritten,
// so its contents afterwards are unspecified and the caller passes a
// tensor that nothing else reads before it is written again.
type NormMatMul3er interface {
	NormMatMul3(d1, d2, d3, xn, x, g Tensor, eps float32, w1, w2, w3 Tensor)
}

// NormFFNer fuses a whole gated feed-forward block after its
// normalisation: NormFFN(dst, h, xn, x, g, eps, gate, up, down) is
// RMSNorm(xn, x, g, eps), MatMul(a, xn, gate), MatMul(u, xn, up),
// SiLUMul(h, a, u), then MatMul(t, h, down) and Add(dst, dst, t). xn and h
// are the composed ops' intermediates: a backend may leave them unwritten,
// so their contents afterwards are unspecified. dst may be x (the residual
// stream); otherwise no two operands may overlap.
type NormFFNer interface {
	NormFFN(dst, h, xn, x, g Tensor, eps float32, gate, up, down Tensor)
}

// NormSwiGLUer fuses the normalisation before the feed-forward with its
// gated input: NormMatMulSwiGLU(dst, xn, x, g, eps, gate, up) is
// RMSNorm(xn, x, g, eps), MatMul(a, xn, gate), MatMul(u, xn, up), then
// SiLUMul(dst, a, u). As in NormMatMul3, xn's contents afterwards are
// unspecified.
type NormSwiGLUer interface {
	NormMatMulSwiGLU(dst, xn, x, g Tensor, eps float32, gate, up Tensor)
}
