package cuda

// Benchmarks of the v3 fusions (norm into the projections, RoPE into the
// cache stores) and of a whole transformer layer as model.ops issues it,
// before (v2: composed norms and stores, cuBLAS from 9 rows, the one-warp
// attention below 64 queries) and after (v3). Every case replays a graph,
// as a decode step does, so that a launch costs what it costs there.

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"dllmbench/compute"
	"dllmbench/compute/computetest"
	"dllmbench/internal/cuda"
)

// fill sets every 32-bit word of the tensors to bits.
func fill(be *Backend, bits uint32, ts ...compute.Tensor) {
	be.enter()
	defer be.exit()
	for _, t := range ts {
		cuda.MemsetD32Async(be.ptr("bench", t), bits, t.Bytes()/4, be.stream)
	}
}

// randomBits is the buffer fillRandom writes from, made at its first use.
var randomBits []uint16

// fillRandom writes bf16 values of random sign and mantissa, magnitudes
// between 1/128 and 1/64, into 16-bit tensors: weights whose bits change
// from one element to the next, as a checkpoint's do. (A tensor core's
// power, and so the clock it keeps, depends on the bits it multiplies:
// one repeated value flatters a compute-bound product.) Every tensor takes
// the same sequence from its start.
func fillRandom(be *Backend, ts ...compute.Tensor) {
	for _, t := range ts {
		if n := t.Len(); n > len(randomBits) {
			randomBits = make([]uint16, n)
			x := uint64(0x9e3779b97f4a7c15)
			for i := range randomBits {
				x = xorshift64(x)
				randomBits[i] = uint16(x)&0x807f | 0x3c00
			}
		}
		be.Write(t, randomBits[:t.Len()])
	}
}

// fillRandomF32 writes float32 values of random sign and magnitudes between
// 1/2 and 1 into float32 tensors: a residual stream whose rows differ, so
// that the products after each norm multiply changing bits, as a model's
// do, where x of one repeated value makes every row of their input the
// same (BenchmarkLayer's default against constant-x: what that flatters).
func fillRandomF32(be *Backend, ts ...compute.Tensor) {
	for _, t := range ts {
		v := make([]float32, t.Len())
		x := uint64(0x2545f4914f6cdd1d)
		for i := range v {
			x = xorshift64(x)
			v[i] = math.Float32frombits(uint32(x)&0x807fffff | 0x3f000000)
		}
		be.Write(t, v)
	}
}

// xorshift64 is the next state of Marsaglia's xorshift64 generator, the
// benchmarks' source of reproducible bits.
func xorshift64(x uint64) uint64 {
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	return x
}

// graphTime records op into a graph and returns the device time of a replay.
func graphTime(b *testing.B, be *Backend, op func()) float64 {
	g, err := be.Record(op)
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	return gpuTime(b, be, func() {
		if err := g.Launch(); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkNormFusions times NormMatMul3 and NormMatMulSwiGLU against
// RMSNorm followed by MatMul3 or MatMulSwiGLU, on LLaMA-3-8B's shapes at
// decode (batch 1 and 4).
func BenchmarkNormFusions(b *testing.B) {
	const dim, hidden, kvDim = 4096, 14336, 1024
	for _, n := range []int{1, 4} {
		for _, name := range []string{"NormMatMul3/qkv", "NormMatMulSwiGLU/gate-up"} {
			for _, fused := range []bool{true, false} {
				kind := map[bool]string{true: "fused", false: "composed"}[fused]
				b.Run(fmt.Sprintf("%s/n=%d/%s", name, n, kind), func(b *testing.B) {
					be := newBackend(b)
					x, xn, g := be.Alloc(compute.F32, n, dim), be.Alloc(compute.F32, n, dim), be.Alloc(compute.F32, 1, dim)
					fill(be, math.Float32bits(0.01), x, g)
					var op func()
					var bytes int64
					if name == "NormMatMul3/qkv" {
						wq, wk, wv := be.Alloc(compute.BF16, dim, dim), be.Alloc(compute.BF16, kvDim, dim), be.Alloc(compute.BF16, kvDim, dim)
						q, k, v := be.Alloc(compute.F32, n, dim), be.Alloc(compute.F32, n, kvDim), be.Alloc(compute.F32, n, kvDim)
						fill(be, 0x3c003c00, wq, wk, wv)
						bytes = wq.Bytes() + wk.Bytes() + wv.Bytes()
						op = func() {
							if fused {
								be.NormMatMul3(q, k, v, xn, x, g, 1e-5, wq, wk, wv)
							} else {
								be.RMSNorm(xn, x, g, 1e-5)
								be.MatMul3(q, k, v, xn, wq, wk, wv)
							}
						}
					} else {
						gate, up := be.Alloc(compute.BF16, hidden, dim), be.Alloc(compute.BF16, hidden, dim)
						h := be.Alloc(compute.F32, n, hidden)
						fill(be, 0x3c003c00, gate, up)
						bytes = gate.Bytes() + up.Bytes()
						op = func() {
							if fused {
								be.NormMatMulSwiGLU(h, xn, x, g, 1e-5, gate, up)
							} else {
								be.RMSNorm(xn, x, g, 1e-5)
								be.MatMulSwiGLU(h, xn, gate, up)
							}
						}
					}
					sec := graphTime(b, be, op)
					b.ReportMetric(sec*1e6, "µs/op(gpu)")
					b.ReportMetric(float64(bytes)/sec/1e9, "GB/s(weights)")
				})
			}
		}
	}
}

// BenchmarkRoPEStore times RoPEStore against RoPE, RoPE, Scatter, Scatter
// with LLaMA-3-8B's heads (32 of 128, 8 for keys and values) into a
// float32 cache: one token (decode) and a LLaDA block of 32.
func BenchmarkRoPEStore(b *testing.B) {
	const heads, kvHeads, hd, slots, maxPos = 32, 8, 128, 4096, 8192
	for _, n := range []int{1, 32} {
		for _, fused := range []bool{true, false} {
			kind := map[bool]string{true: "fused", false: "composed"}[fused]
			b.Run(fmt.Sprintf("n=%d/%s", n, kind), func(b *testing.B) {
				be := newBackend(b)
				q, k, v := be.Alloc(compute.F32, n, heads*hd), be.Alloc(compute.F32, n, kvHeads*hd), be.Alloc(compute.F32, n, kvHeads*hd)
				kc, vc := be.Alloc(compute.F32, slots, kvHeads*hd), be.Alloc(compute.F32, slots, kvHeads*hd)
				cos, sin := be.Alloc(compute.F32, maxPos, hd/2), be.Alloc(compute.F32, maxPos, hd/2)
				fill(be, math.Float32bits(0.5), q, k, v, cos, sin)
				pos, rows := computetest.UploadI32(be, seq(100, n)), computetest.UploadI32(be, seq(100, n))
				sec := graphTime(b, be, func() {
					if fused {
						be.RoPEStore(q, k, v, kc, vc, rows, cos, sin, pos, hd)
						return
					}
					be.RoPE(q, cos, sin, pos, hd)
					be.RoPE(k, cos, sin, pos, hd)
					be.Scatter(kc, k, rows)
					be.Scatter(vc, v, rows)
				})
				b.ReportMetric(sec*1e6, "µs/op(gpu)")
			})
		}
	}
}

// BenchmarkLayer times one transformer layer of 8B shapes as model.ops
// issues it, with the backend's defaults, with its experimental kernels,
// and (decoding) with the feed-forward block on cuBLAS at every batch
// (ffn-cublas) or on the GEMVs at every batch (ffn-gemv), with the norms,
// RoPEStore or the attention left out, with every weight one repeated
// value (constant-weights, as up to v8) rather than random bits (fillRandom),
// with a cache of random bits (random-cache), with a residual stream of
// one repeated value (constant-x; random values otherwise, fillRandomF32:
// up to v14 every case had one value, which made the LLaDA reference
// layer 9% faster than with random ones, docs/perf.md v15), with the
// tensor-core attention in chunks wherever its blocks are few, however few
// its slots (attention-chunks: up to v15) or in one group of warps a block
// (attention-groups-1), or as 32 layers of their own
// weights and caches in one graph (32-layers, 14 GB; µs/op(gpu) is then a
// layer's, ns/op the graph's):
// LLaMA-3-8B decoding (batch 1, 4 and 8, 256 cached slots per row), a LLaDA-8B
// dual-cache call (a block of 32 over 256 slots, bidirectional) and a
// reference step (256 rows). A whole step is about 32 layers plus the head:
// multiply by 32 to compare with docs/perf.md's per-token times. Each
// case has its model's feed-forward width (LLaMA-3-8B 14336, LLaDA-8B
// 12288; up to v13 the LLaDA cases had LLaMA's, about 10% more work).
func BenchmarkLayer(b *testing.B) {
	for _, c := range []struct {
		name     string
		nb, n, T int
		kvHeads  int
		causal   bool
		hidden   int
	}{
		{"llama/decode/B=1/T=256", 1, 1, 256, 8, true, 14336},
		{"llama/decode/B=4/T=256", 4, 1, 256, 8, true, 14336},
		{"llama/decode/B=8/T=256", 8, 1, 256, 8, true, 14336},
		{"llada/dual-cache/n=32/T=256", 1, 32, 256, 32, false, 12288},
		{"llada/no-cache/n=256/T=256", 1, 256, 256, 32, false, 12288},
	} {
		// The backend as dllmbench runs it; with the kernels that are off by
		// default (skinny, norm-in-GEMV); and as it runs it but with a part
		// of the layer left out: what that part costs in the graph (the
		// layer's numbers are then not a layer's). The feed-forward paths
		// and 32 layers are the decoding cases' only.
		for _, cfg := range []string{"default", "experimental", "ffn-cublas", "ffn-gemv", "without-norms", "without-rope",
			"without-attention", "constant-weights", "32-layers", "random-cache", "constant-x", "attention-chunks", "attention-groups-1", "attention-groups-2"} {
			without := strings.TrimPrefix(cfg, "without-")
			if (strings.HasPrefix(cfg, "ffn-") || cfg == "32-layers") && !c.causal {
				continue
			}
			b.Run(c.name+"/"+cfg, func(b *testing.B) {
				be := newBackend(b)
				if cfg != "experimental" {
					be.skinnyMax, be.normMax, be.gmMin = gemvMaxRows, 0, gemvMMAMinRows
				}
				switch cfg {
				case "ffn-cublas": // the feed-forward block on cuBLAS from one row
					be.ffnCublasMin = 1
				case "ffn-gemv": // the feed-forward block on the GEMVs at every batch
					be.ffnCublasMin = gemvMaxRows + 1
				case "attention-chunks": // the tensor-core attention split wherever its blocks are few
					be.attnOneChunk = 0
				case "attention-groups-1": // the tensor-core attention's blocks in one group of warps
					be.attnMMAGroups = 1
				case "attention-groups-2": // in two groups of four warps (a dual-cache block's before v21)
					be.attnMMAGroups = 2
				}
				const dim, heads, hd, maxPos = 4096, 32, 128, 8192
				hidden := c.hidden
				kvDim, rows := c.kvHeads*hd, c.nb*c.n
				layers := 1
				if cfg == "32-layers" {
					layers = 32
				}
				type layerWeights struct{ wq, wk, wv, wo, wg, wu, wd, kc, vc compute.Tensor }
				ls := make([]layerWeights, layers)
				for i := range ls {
					l := &ls[i]
					l.wq, l.wk, l.wv = be.Alloc(compute.BF16, dim, dim), be.Alloc(compute.BF16, kvDim, dim), be.Alloc(compute.BF16, kvDim, dim)
					l.wo, l.wg, l.wu = be.Alloc(compute.BF16, dim, dim), be.Alloc(compute.BF16, hidden, dim), be.Alloc(compute.BF16, hidden, dim)
					l.wd = be.Alloc(compute.BF16, dim, hidden)
					// the caches as the model keeps them for 16-bit weights
					l.kc, l.vc = be.Alloc(compute.BF16, c.nb*c.T, kvDim), be.Alloc(compute.BF16, c.nb*c.T, kvDim)
					if cfg == "constant-weights" {
						fill(be, 0x3c003c00, l.wq, l.wk, l.wv, l.wo, l.wg, l.wu, l.wd)
					} else {
						fillRandom(be, l.wq, l.wk, l.wv, l.wo, l.wg, l.wu, l.wd)
					}
					if cfg == "random-cache" {
						fillRandom(be, l.kc, l.vc)
					} else {
						fill(be, 0x3c233c23, l.kc, l.vc)
					}
				}
				an, fn := be.Alloc(compute.F32, 1, dim), be.Alloc(compute.F32, 1, dim)
				x, xb := be.Alloc(compute.F32, rows, dim), be.Alloc(compute.F32, rows, dim)
				q, att := be.Alloc(compute.F32, rows, dim), be.Alloc(compute.F32, rows, dim)
				k, v := be.Alloc(compute.F32, rows, kvDim), be.Alloc(compute.F32, rows, kvDim)
				h := be.Alloc(compute.F32, rows, hidden)
				cos, sin := be.Alloc(compute.F32, maxPos, hd/2), be.Alloc(compute.F32, maxPos, hd/2)
				fill(be, math.Float32bits(0.01), an, fn, x, cos, sin)
				if cfg != "constant-x" {
					fillRandomF32(be, x)
				}
				// Each row's new tokens take its last slots; every row sees all T.
				pos, crow, qpos, span := make([]int32, rows), make([]int32, rows), make([]int32, rows), make([]int32, 2*c.nb)
				for r := range rows {
					slot := c.T - c.n + r%c.n
					pos[r], qpos[r], crow[r] = int32(slot), int32(slot), int32(r/c.n*c.T+slot)
				}
				for i := range c.nb {
					span[2*i+1] = int32(c.T)
				}
				pt, ct, qt, st := computetest.UploadI32(be, pos), computetest.UploadI32(be, crow), computetest.UploadI32(be, qpos), computetest.UploadI32(be, span)
				const eps = 1e-5
				layer := func(l *layerWeights) { // model.ops's sequence with every fusion
					wq, wk, wv, wo, wg, wu, wd, kc, vc := l.wq, l.wk, l.wv, l.wo, l.wg, l.wu, l.wd, l.kc, l.vc
					if without == "norms" {
						be.MatMul3(q, k, v, x, wq, wk, wv)
					} else {
						be.NormMatMul3(q, k, v, xb, x, an, eps, wq, wk, wv)
					}
					if without != "rope" {
						be.RoPEStore(q, k, v, kc, vc, ct, cos, sin, pt, hd)
					}
					if without != "attention" {
						be.AttentionMatMulAdd(x, att, wo, q, kc, vc, qt, st, heads, c.kvHeads, c.causal)
					} else {
						be.MatMulAdd(x, att, wo)
					}
					if without == "norms" {
						be.MatMulSwiGLU(h, x, wg, wu)
						be.MatMulAdd(x, h, wd)
					} else {
						be.NormFFN(x, h, xb, x, fn, eps, wg, wu, wd)
					}
				}
				sec := graphTime(b, be, func() {
					for i := range ls {
						layer(&ls[i])
					}
				}) / float64(layers)
				l := &ls[0]
				bytes := l.wq.Bytes() + l.wk.Bytes() + l.wv.Bytes() + l.wo.Bytes() + l.wg.Bytes() + l.wu.Bytes() + l.wd.Bytes()
				b.ReportMetric(sec*1e6, "µs/op(gpu)")
				b.ReportMetric(float64(bytes)/sec/1e9, "GB/s(weights)")
			})
		}
	}
}
