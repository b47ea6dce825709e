package model

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"dllmbench/compute"
	"dllmbench/internal/testbackend"
)

// BenchmarkDecodeStep splits an autoregressive decode step (one token a
// batch row over 256 cached slots) between the device and the host, on
// the tests' backend (DLLMBENCH_TEST_BACKEND) and the checkpoint
// DLLMBENCH_STEP_MODEL names (on the GPU machine, parity8b.py's
// LLaMA-3-8B of random weights; by default stories260K):
//
//   - graph: the step's ops (m.ops) recorded once and replayed back to back,
//     one wait at the end: what the device spends on a step;
//   - layers: the same without the head (no output rows): graph − layers
//     is the final norm and the head's product;
//   - layer0, layer0x32: the first layer alone, and it 32 times in one
//     graph (its own cache each time): a layer as compute/cuda's
//     BenchmarkLayer times one;
//   - forward: Forward (its inputs written, then the step) back to back;
//   - step: Forward, then ArgmaxTokens, which waits for the ids, as
//     decode.Generate runs a greedy step: what a token costs.
//
// step − graph is the host's share of a token (the writes, the launches,
// the selection and the reads, while the device waits); docs/perf.md
// compares graph with BenchmarkLayer's layers times the layer count.
func BenchmarkDecodeStep(b *testing.B) {
	be, m := stepModel(b)
	// DLLMBENCH_STEP_FILL=0x3c00 (say) sets every 16-bit weight to those
	// bits first: the same step on weights of one repeated value, as the
	// compute/cuda benchmarks fill theirs.
	if f := os.Getenv("DLLMBENCH_STEP_FILL"); f != "" {
		bits, err := strconv.ParseUint(f, 0, 16)
		if err != nil {
			b.Fatalf("DLLMBENCH_STEP_FILL=%s: %v", f, err)
		}
		for _, t := range m.tensors() {
			if t.DType() == compute.BF16 || t.DType() == compute.F16 {
				v := make([]uint16, t.Len())
				for i := range v {
					v[i] = uint16(bits)
				}
				be.Write(t, v)
			}
		}
	}
	T := min(256, m.Config.MaxSeqLen)
	for _, rows := range []int{1, 8} {
		s := m.NewState(rows, 1, T, rows)
		for r := range rows {
			s.Tokens[r], s.Slots[r], s.Pos[r] = int32(1+r), int32(T-1), int32(T-1)
			s.Span[2*r], s.Span[2*r+1] = 0, int32(T)
			s.Out[r] = int32(r)
		}
		// The first Forward writes the inputs and records the step's graph.
		if err := m.Forward(s, 1, rows); err != nil {
			b.Fatal(err)
		}
		if err := be.Sync(); err != nil {
			b.Fatal(err)
		}
		for _, mode := range []string{"graph", "layers", "layer0", "layer0x32", "forward", "step"} {
			b.Run(fmt.Sprintf("B=%d/T=%d/%s", rows, T, mode), func(b *testing.B) {
				nOut, mv := rows, m
				if mode != "graph" {
					nOut = 0
				}
				if mode == "layer0" || mode == "layer0x32" {
					w := *m.Weights
					w.Layers = w.Layers[:1]
					if mode == "layer0x32" {
						w.Layers = make([]Layer, min(32, len(s.kc)))
						for i := range w.Layers {
							w.Layers[i] = m.Weights.Layers[0]
						}
					}
					mc := *m
					mc.Weights, mv = &w, &mc
				}
				ms := 1e3 * replay(b, be, mode == "forward" || mode == "step", func() {
					switch mode {
					case "forward", "step":
						if err := m.Forward(s, 1, rows); err != nil {
							b.Fatal(err)
						}
						if mode == "forward" {
							return
						}
						if _, err := m.ArgmaxTokens(s, rows, -1); err != nil {
							b.Fatal(err)
						}
					default:
						mv.ops(s, 1, nOut)
					}
				})
				b.ReportMetric(ms, "ms/step")
				b.ReportMetric(float64(m.WeightBytes())/(ms*1e-3)/1e9, "GB/s(weights)")
			})
		}
		s.Close()
	}
}

// BenchmarkDiffusionStep splits a LLaDA reference step (no cache, batch 1:
// a prompt and generation of 256 tokens in all, logits for a block of 32)
// between device and host, as BenchmarkDecodeStep splits a decode step, on
// the checkpoint DLLMBENCH_DIFFUSION_MODEL names (parity8b.py's LLaDA-8B;
// skipped when unset): graph, layers (without the head), and step
// (Forward, then SelectTokens as decode.Diffuse's greedy step calls it).
func BenchmarkDiffusionStep(b *testing.B) {
	if os.Getenv("DLLMBENCH_DIFFUSION_MODEL") == "" {
		b.Skip("DLLMBENCH_DIFFUSION_MODEL is not set")
	}
	b.Setenv("DLLMBENCH_STEP_MODEL", os.Getenv("DLLMBENCH_DIFFUSION_MODEL"))
	be, m := stepModel(b)
	const block = 32
	n := min(256, m.Config.MaxSeqLen)
	s := m.NewState(1, n, n, block)
	defer s.Close()
	for i := range n {
		s.Tokens[i], s.Pos[i], s.Slots[i] = int32(1+i%100), int32(i), int32(i)
	}
	s.Span[0], s.Span[1] = 0, int32(n)
	for j := range block {
		s.Out[j] = int32(n - block + j)
	}
	if err := m.Forward(s, n, block); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"graph", "layers", "step"} {
		b.Run(fmt.Sprintf("n=%d/block=%d/%s", n, block, mode), func(b *testing.B) {
			nOut := block
			if mode == "layers" {
				nOut = 0
			}
			ms := 1e3 * replay(b, be, mode == "step", func() {
				if mode != "step" {
					m.ops(s, n, nOut)
					return
				}
				if err := m.Forward(s, n, block); err != nil {
					b.Fatal(err)
				}
				if _, _, err := m.SelectTokens(s, block, m.Config.MaskID); err != nil {
					b.Fatal(err)
				}
			})
			b.ReportMetric(ms, "ms/step")
		})
	}
}

// BenchmarkLayerTensors looks for what makes a decode layer of the model
// slower than compute/cuda's BenchmarkLayer times the same kernels
// (docs/perf.md, CUDA v9: 134 against 121 µs on an H200): on the model and
// backend of BenchmarkDecodeStep, batch 1, it replays the first layer's ops
// (the "layer0" of BenchmarkDecodeStep) with the model's own tensors, and
// with one kind of them replaced by fresh copies of the same values, each
// in a separate allocation as the benchmark allocates its own: the State's
// activations, caches and inputs (state), the RoPE tables (rope), the norm
// weights (norms), the layer's matrices (weights), and all of them (all);
// bench replays compute/cuda's layer (benchLayer) on tensors of its own in
// this process (scripts/gpu/layergap.sh runs it all).
func BenchmarkLayerTensors(b *testing.B) {
	be, m := stepModel(b)
	T := min(256, m.Config.MaxSeqLen)
	s := m.NewState(1, 1, T, 1)
	defer s.Close()
	s.Tokens[0], s.Slots[0], s.Pos[0], s.Span[0], s.Span[1], s.Out[0] = 1, int32(T-1), int32(T-1), 0, int32(T), 0
	if err := m.Forward(s, 1, 1); err != nil {
		b.Fatal(err)
	}
	// dup is a new tensor of t's shape and values.
	var fresh []compute.Tensor
	defer func() {
		for _, t := range fresh {
			be.Free(t)
		}
	}()
	dup := func(t compute.Tensor) compute.Tensor {
		d := be.Alloc(t.DType(), t.Rows(), t.Cols())
		fresh = append(fresh, d)
		var v any
		switch t.DType() {
		case compute.F32:
			v = make([]float32, t.Len())
		case compute.BF16, compute.F16:
			v = make([]uint16, t.Len())
		case compute.I32:
			v = make([]int32, t.Len())
		}
		if err := be.Read(v, t); err != nil {
			b.Fatal(err)
		}
		be.Write(d, v)
		return d
	}
	// newT is a new tensor of 0.01s (float32) or of bf16 values near 1/64.
	newT := func(dt compute.DType, rows, cols int) compute.Tensor {
		t := be.Alloc(dt, rows, cols)
		fresh = append(fresh, t)
		if dt == compute.F32 {
			v := make([]float32, t.Len())
			for i := range v {
				v[i] = 0.01
			}
			be.Write(t, v)
		} else {
			v := make([]uint16, t.Len())
			for i := range v {
				v[i] = uint16(0x3c00 | i&0x7f)
			}
			be.Write(t, v)
		}
		return t
	}
	for _, kind := range []string{"model", "state", "rope", "norms", "weights", "all", "bench"} {
		b.Run(kind, func(b *testing.B) {
			if kind == "bench" {
				benchLayer(b, be, &m.Config, T, newT)
				return
			}
			all := kind == "all"
			st, mc := *s, *m
			w := *m.Weights
			L := w.Layers[0]
			if kind == "state" || all {
				for _, p := range []*compute.Tensor{&st.x, &st.xb, &st.q, &st.att, &st.k, &st.v, &st.h, &st.h2, &st.in} {
					*p = dup(*p)
				}
				st.kc, st.vc = []compute.Tensor{dup(s.kc[0])}, []compute.Tensor{dup(s.vc[0])}
			}
			if kind == "rope" || all {
				mc.ropeCos, mc.ropeSin = dup(m.ropeCos), dup(m.ropeSin)
			}
			if kind == "norms" || all {
				L.AttnNorm, L.FFNNorm = dup(L.AttnNorm), dup(L.FFNNorm)
			}
			if kind == "weights" || all {
				L.WQ, L.WK, L.WV, L.WO = dup(L.WQ), dup(L.WK), dup(L.WV), dup(L.WO)
				L.WGate, L.WUp, L.WDown = dup(L.WGate), dup(L.WUp), dup(L.WDown)
			}
			w.Layers = []Layer{L}
			mc.Weights = &w
			b.ReportMetric(1e6*replay(b, be, false, func() { mc.ops(&st, 1, 0) }), "µs/layer")
		})
	}
}

// benchLayer replays compute/cuda's BenchmarkLayer decode layer (batch 1,
// T slots) in this process: its op sequence on tensors of its own.
func benchLayer(b *testing.B, be compute.Backend, c *Config, T int, newT func(compute.DType, int, int) compute.Tensor) {
	_, a := be.(compute.NormMatMul3er)
	_, r := be.(compute.RoPEStorer)
	_, m := be.(compute.MatMulAdder)
	_, f := be.(compute.NormFFNer)
	if !a || !r || !m || !f {
		b.Skip("the backend lacks the fused ops compute/cuda's BenchmarkLayer issues")
	}
	dim, kv, hid := c.Dim, c.KVDim(), c.HiddenDim
	wq, wk, wv, wo := newT(compute.BF16, c.QDim(), dim), newT(compute.BF16, kv, dim), newT(compute.BF16, kv, dim), newT(compute.BF16, dim, c.QDim())
	wg, wu, wd := newT(compute.BF16, hid, dim), newT(compute.BF16, hid, dim), newT(compute.BF16, dim, hid)
	an, fn := newT(compute.F32, 1, dim), newT(compute.F32, 1, dim)
	x, xb, q, att := newT(compute.F32, 1, dim), newT(compute.F32, 1, dim), newT(compute.F32, 1, c.QDim()), newT(compute.F32, 1, c.QDim())
	k, v, h := newT(compute.F32, 1, kv), newT(compute.F32, 1, kv), newT(compute.F32, 1, hid)
	kc, vc := newT(compute.BF16, T, kv), newT(compute.BF16, T, kv)
	cos, sin := newT(compute.F32, c.MaxSeqLen, c.HeadDim/2), newT(compute.F32, c.MaxSeqLen, c.HeadDim/2)
	i32 := func(vals ...int32) compute.Tensor {
		t := be.Alloc(compute.I32, len(vals), 1)
		be.Write(t, vals)
		return t
	}
	pt, ct, qt, st := i32(int32(T-1)), i32(int32(T-1)), i32(int32(T-1)), i32(0, int32(T))
	defer func() {
		for _, t := range []compute.Tensor{pt, ct, qt, st} {
			be.Free(t)
		}
	}()
	layer := func() {
		be.(compute.NormMatMul3er).NormMatMul3(q, k, v, xb, x, an, c.NormEps, wq, wk, wv)
		be.(compute.RoPEStorer).RoPEStore(q, k, v, kc, vc, ct, cos, sin, pt, c.HeadDim)
		be.Attention(att, q, kc, vc, qt, st, c.NHeads, c.NKVHeads, true)
		be.(compute.MatMulAdder).MatMulAdd(x, att, wo)
		be.(compute.NormFFNer).NormFFN(x, h, xb, x, fn, c.NormEps, wg, wu, wd)
	}
	b.ReportMetric(1e6*replay(b, be, false, layer), "µs/layer")
}

// stepModel loads the checkpoint DLLMBENCH_STEP_MODEL names (by default
// stories260K) on the tests' backend.
func stepModel(b *testing.B) (compute.Backend, *Model) {
	dir := os.Getenv("DLLMBENCH_STEP_MODEL")
	if dir == "" {
		dir = "../testdata/stories260K"
	}
	be := testbackend.Open(b)
	m, err := Load(dir, be, LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return be, m
}

// replay times ops: recorded once where the backend records graphs
// (unless direct), run once, then b.N times back to back with one wait at
// the end. It returns the seconds a run takes.
func replay(b *testing.B, be compute.Backend, direct bool, ops func()) float64 {
	run := ops
	if rec, ok := be.(compute.Recorder); ok && !direct {
		g, err := rec.Record(ops)
		if err != nil {
			b.Fatal(err)
		}
		defer g.Close()
		run = func() {
			if err := g.Launch(); err != nil {
				b.Fatal(err)
			}
		}
	}
	run()
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		run()
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	return b.Elapsed().Seconds() / float64(b.N)
}
