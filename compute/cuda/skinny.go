package cuda

import (
	"fmt"

	"dllmbench/compute"
	"dllmbench/internal/cuda"
)

// The skinny path of MatMul and its fusions (kernels/skinny.cu): more than
// gemvMaxRows and at most skinnyMaxRows rows of x times 16-bit weights, on
// the tensor cores, each weight read once. A LLaDA dual-cache call runs
// every projection at 32 rows; on cuBLAS each also paid a kernel to narrow
// x first.

const (
	// skinnyMaxRows is the most rows of x that MatMul and the fusions hand
	// to the skinny kernel; more go to cuBLAS. BenchmarkMatMul's skinny and
	// cublas cases at n = 16, 32 and 64 are what decides it.
	skinnyMaxRows = 64
	// skinnyRows, skinnyKT and skinnyThreads mirror SK_ROWS, SK_KT and
	// SK_THREADS: the weight rows of a block, the elements of k in a tile,
	// the threads of a block.
	skinnyRows    = 128
	skinnyKT      = 128
	skinnyThreads = 128
	// skinnyTargetBlocks is how many blocks the splits of k aim at per
	// output: about two per SM of an H100 or H200, where a block keeps
	// 32 KiB of weights in flight. skinnyMaxSplits bounds the partial sums.
	skinnyTargetBlocks = 256
	skinnyMaxSplits    = 16
	// skinnyCounters is the number of per-column counters of the last-block
	// reduction: more than the block columns of any launch with splits
	// (each output then has fewer than skinnyTargetBlocks of them).
	// ArgmaxProb's split kernel uses them too, one per row: both leave
	// them zero.
	skinnyCounters = 4096
)

// skinnyTiles are the tiles of 8 rows of x of the skinny kernels, in the
// order of kernels.skinny: a launch of n rows takes the first that holds n.
var skinnyTiles = [3]int{2, 4, 8}

func skinnyTile(n int) int {
	for i, nt := range skinnyTiles {
		if n <= 8*nt {
			return i
		}
	}
	return -1
}

// skinnySplits is how many blocks share the k tiles of an output's block
// column, and how many tiles each takes: enough blocks for the GPU when m
// is small, each split a whole number of tiles. It depends on m and k
// only, never on the rows of x, so that a row's result does not depend on
// the batch it is in, nor on whether a fusion or the composed ops ran.
func skinnySplits(m, k int) (splits, tilesPerSplit int) {
	cols := (m + skinnyRows - 1) / skinnyRows
	tiles := (k + skinnyKT - 1) / skinnyKT
	s := max(1, min(skinnyMaxSplits, (skinnyTargetBlocks+cols-1)/cols, tiles))
	tilesPerSplit = (tiles + s - 1) / s
	return (tiles + tilesPerSplit - 1) / tilesPerSplit, tilesPerSplit
}

// skinnySeg and skinnyArgs mirror SkinnySeg and SkinnyArgs in
// kernels/skinny.cu, field for field (TestSkinnyTables checks the source).
type skinnySeg struct {
	d, w, part             uint64
	m, splits, tps, blocks int32
}

type skinnyArgs struct {
	seg              [3]skinnySeg
	x, count         uint64
	n, k, mode, nseg int32
}

// The modes of the skinny kernel: SK_PLAIN, SK_ADD, SK_SWIGLU.
const (
	skPlain  = 0
	skAdd    = 1
	skSwiGLU = 2
)

// skinny runs outs (skPlain or skAdd: up to three products of x; skSwiGLU:
// outs[0] the gate with the destination, outs[1] the up weights) on the
// skinny kernel and reports true, or reports false, having done nothing,
// when the kernel cannot take them: weights not 16-bit, k not a multiple of
// 8, an unaligned operand, partial sums larger than the scratch. The caller
// holds the thread (enter) and has checked 0 < n ≤ b.skinnyMax.
func (b *Backend) skinny(x cuda.DevPtr, n, k int, wdt compute.DType, outs []gemmOut, mode int) bool {
	ws, tile := slot(wdt), skinnyTile(n)
	if (wdt != compute.BF16 && wdt != compute.F16) || tile < 0 || k <= 0 || k%8 != 0 || x%16 != 0 || len(outs) > 3 {
		return false
	}
	for _, o := range outs {
		if o.w%16 != 0 {
			return false
		}
	}
	a := b.skArgs
	*a = skinnyArgs{x: uint64(x), count: uint64(b.skCount.ptr), n: int32(n), k: int32(k), mode: int32(mode), nseg: int32(len(outs))}
	var used int64 // bytes of the scratch the partial sums take
	part := func(splits, m int) uint64 {
		used = (used + 255) &^ 255
		p := uint64(b.scratch.ptr) + uint64(used)
		used += int64(splits) * int64(n) * int64(m) * 4
		return p
	}
	blocks, counters := 0, 0
	if mode == skSwiGLU {
		m := outs[0].m
		s, tps := skinnySplits(m, k)
		cols := (m + skinnyRows/2 - 1) / (skinnyRows / 2)
		a.nseg = 1 // the blocks cover columns of both
		a.seg[0] = skinnySeg{d: uint64(outs[0].d), w: uint64(outs[0].w), m: int32(m), splits: int32(s), tps: int32(tps), blocks: int32(cols * s)}
		a.seg[1] = skinnySeg{w: uint64(outs[1].w), m: int32(m), splits: int32(s), tps: int32(tps)}
		if s > 1 {
			a.seg[0].part, a.seg[1].part = part(s, m), part(s, m)
			counters = cols
		}
		blocks = cols * s
	} else {
		for i, o := range outs {
			s, tps := skinnySplits(o.m, k)
			cols := (o.m + skinnyRows - 1) / skinnyRows
			a.seg[i] = skinnySeg{d: uint64(o.d), w: uint64(o.w), m: int32(o.m), splits: int32(s), tps: int32(tps), blocks: int32(cols * s)}
			if s > 1 {
				a.seg[i].part = part(s, o.m)
			}
			counters += cols // counted for every segment: the kernel numbers the columns of all
			blocks += cols * s
		}
	}
	if used > b.scratch.bytes || counters > skinnyCounters {
		return false
	}
	launchStruct(b, &b.k.skinny[ws][tile], [3]uint32{uint32(blocks), 1, 1}, [3]uint32{skinnyThreads, 1, 1}, 0, a)
	return true
}

// skinnyCountersInit zeroes the counters once; the kernel leaves them zero.
func (b *Backend) skinnyCountersInit() error {
	var err error
	if b.skCount, err = b.alloc(skinnyCounters * 4); err != nil {
		return fmt.Errorf("cuda: skinny counters: %w", err)
	}
	if err := cuda.MemsetD32Async(b.skCount.ptr, 0, skinnyCounters, b.stream); err != nil {
		return err
	}
	return b.stream.Synchronize()
}
