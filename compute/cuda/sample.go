package cuda

import (
	"fmt"

	"dllmbench/compute"
)

var _ compute.Sampler = (*Backend)(nil)

// Sample draws a column of each row of logits (kernels/sample.cu): a row
// over ⌈V / sampleChunk⌉ blocks, in passes whose last block decides, two
// launches at temperature alone, four more for top-k and seven more for
// top-p (those after the pass that isolates the boundary's column return
// at once). Rows share the scratch and the merge counters in groups.
func (b *Backend) Sample(ids, logits, bits compute.Tensor, p compute.SampleParams) {
	n, V := logits.Rows(), logits.Cols()
	if !isF32(logits) || ids.DType() != compute.I32 || bits.DType() != compute.I32 || ids.Rows() != n || ids.Cols() != 1 ||
		bits.Rows() != n || bits.Cols() != 2 || V == 0 || V > compute.SampleMaxCols {
		compute.Panicf("Sample", "ids %v, bits %v for logits %v", ids, bits, logits)
	}
	p.Check("Sample")
	if n == 0 || b.err != nil {
		return
	}
	topK, topP := p.TopK, p.TopP
	if topK >= V {
		topK = 0
	}
	if topP >= 1 {
		topP = 0
	}
	op := "Sample"
	blocks := (V + sampleChunk - 1) / sampleChunk
	rowBytes := sampleRowBytes(blocks)
	b.inRowGroups(op, n, V, rowBytes, func(r0, g int) {
		ip, lp, bp := b.ptr(op, ids.Slice(r0, r0+g)), b.ptr(op, logits.Slice(r0, r0+g)), b.ptr(op, bits.Slice(r0, r0+g))
		pass := func(k int) {
			b.launch(&b.k.sample, [3]uint32{uint32(blocks), uint32(g), 1}, [3]uint32{sampleThreads, 1, 1}, 0,
				dev(ip), dev(lp), dev(bp), dev(b.scratch.ptr), dev(b.skCount.ptr), i32(V), i64(rowBytes), i32(k),
				f64(p.Temperature), i32(topK), f64(topP))
		}
		pass(0)
		if topK > 0 {
			for k := 1; k <= 4; k++ {
				pass(k)
			}
		}
		if topP > 0 {
			for k := 5; k <= 11; k++ {
				pass(k)
			}
		}
		pass(12)
	})
}

const (
	// sampleThreads and sampleChunk are SMP_THREADS and SMP_CHUNK in
	// kernels/sample.cu: a block's threads and the columns it takes.
	sampleThreads = 256
	sampleChunk   = 4096
)

// inRowGroups runs a draw's launches, f, over n rows of V columns in groups
// of rows [r0, r0+g): as many rows at once as the merge counters count and
// the scratch holds, rowBytes of it a row. A row the scratch cannot hold
// fails the backend, and nothing runs.
func (b *Backend) inRowGroups(op string, n, V int, rowBytes int64, f func(r0, g int)) {
	group := int(min(int64(skinnyCounters), b.scratch.bytes/rowBytes))
	if group == 0 {
		b.fail(fmt.Errorf("cuda: %s: a row of %d columns needs %d bytes of scratch, more than the %d-byte scratch",
			op, V, rowBytes, b.scratch.bytes))
		return
	}
	b.enter()
	defer b.exit()
	for r0 := 0; r0 < n; r0 += group {
		f(r0, min(group, n-r0))
	}
	b.done(op)
}

// sampleRowBytes is a row's scratch for rows of the given blocks: its
// state (64 bytes), a histogram of 256 weights (each three 64-bit parts)
// and counts, and each block's weight, last column and largest logit, in
// 64-byte units.
func sampleRowBytes(blocks int) int64 {
	return (64 + 28*256 + 16*int64(blocks) + 63) / 64 * 64
}
