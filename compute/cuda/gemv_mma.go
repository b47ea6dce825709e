package cuda

import (
	"dllmbench/compute"
	"dllmbench/internal/cuda"
)

// The tensor-core GEMV (kernels/gemv_mma.cu): 2 to gemvMaxRows rows of x
// times 16-bit weights, each weight read once and multiplied on the tensor
// cores with x rounded to 16 bits. The SIMT GEMV keeps x in float32 and
// makes n multiply-adds per weight, which at n = 8 no longer keeps up with
// the weights (docs/perf.md, CUDA v4: 971 tok/s at batch 8 against
// gpt-fast's 1329).

// The modes of gemv_mma: GM_PLAIN, GM_ADD, GM_SWIGLU.
const (
	gmPlain  = 0
	gmAdd    = 1
	gmSwiGLU = 2
)

// gemvMMATiles are the tiles of 16 weight rows a block of gemv_mma takes,
// in the order of kernels.gemvMMA. SwiGLU launches take two (one of gate,
// one of up); the others take b.gmTiles.
var gemvMMATiles = [2]int{1, 2}

// gemvMMA runs outs (gmPlain or gmAdd: up to three products of x; gmSwiGLU:
// outs[0] the gate with the destination, outs[1] the up weights) on the
// tensor-core GEMV and reports true, or reports false, having done
// nothing, when it does not take them: fewer than b.gmMin rows, weights not
// 16-bit, k not a multiple of 32, an unaligned operand. The caller holds
// the thread (enter) and has checked 0 < n ≤ gemvMaxRows.
func (b *Backend) gemvMMA(x cuda.DevPtr, n, k int, wdt compute.DType, outs []gemmOut, mode int) bool {
	ws := slot(wdt)
	if n < b.gmMin || ws < 1 || k <= 0 || k%32 != 0 || x%16 != 0 || len(outs) > 3 {
		return false
	}
	var d, w [3]cuda.DevPtr
	var m [3]int
	for i, o := range outs {
		if o.w%16 != 0 {
			return false
		}
		d[i], w[i], m[i] = o.d, o.w, o.m
	}
	tiles := b.gmTiles
	blocks := 0
	if mode == gmSwiGLU {
		tiles = 2
		blocks = (m[0] + 15) / 16
	} else {
		for _, o := range outs {
			blocks += (o.m + 16*tiles - 1) / (16 * tiles)
		}
	}
	b.launch(&b.k.gemvMMA[ws][tiles-1], [3]uint32{uint32(blocks), 1, 1}, threads256, 0,
		dev(d[0]), dev(d[1]), dev(d[2]), dev(x), dev(w[0]), dev(w[1]), dev(w[2]),
		i32(m[0]), i32(m[1]), i32(m[2]), i32(k), i32(n), i32(mode))
	return true
}

const (
	// gemvMMAMinRows is the fewest rows of x that take the tensor-core
	// GEMV; fewer take the SIMT GEMV. BenchmarkMatMul's gemv and mma1
	// cases on LLaMA-3-8B's up (4096 → 14336), down and o shapes (H200s,
	// docs/perf.md, CUDA v5): at n = 2 and 4 the SIMT GEMV (27.5, 28.7,
	// 7.8 µs at n = 2), at n = 6 the tensor cores (34.2, 37.3, 10.9 against
	// 36.1, 38.6, 13.7), at n = 8 more so (36.7, 37.7, 11.0 against 44.9,
	// 47.0, 16.3). n = 5 was not measured.
	gemvMMAMinRows = 6
	// gemvMMADefaultTiles is the tiles of 16 weight rows a plain block
	// takes: one gives LLaMA-3-8B's 4096-row projections 256 blocks; two
	// were slower on the down and o projections (41.4 and 12.3 µs against
	// 37.7 and 11.0 at n = 8) and 1% faster on the up projection.
	gemvMMADefaultTiles = 1
)
