package model

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"dllmbench/compute"
	icuda "dllmbench/internal/cuda"
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
//     decode.Generate runs a greedy step: what a token costs;
//   - sample, sample-kp: Forward, then SampleTokens, as decode.Generate
//     runs a sampled step (temperature 1; temperature 0.8, top-k 200 and
//     top-p 0.95), drawn on the device where the backend samples;
//   - sample-host: Forward, the logits read back and drawn from on the
//     host (compute.SampleRow at temperature 1), as every sampled step
//     ran before the device sampled;
//   - step-nvml: step while another goroutine reads NVML's energy counter
//     back to back, 1 ms apart, as the harness follows it during a GPU
//     cell's repetitions (bench's energyTimeline); skipped without NVML.
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
		s := mustState(b)(m.NewState(rows, 1, T, rows))
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
		bits := make([]uint64, rows)
		var sc compute.SampleScratch
		for _, mode := range []string{"graph", "layers", "layer0", "layer0x32", "forward", "step", "step-nvml", "sample", "sample-kp", "sample-host"} {
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
				if mode == "step-nvml" {
					defer pollEnergy(b)()
				}
				hostWaits := mode != "graph" && mode != "layers" && mode != "layer0" && mode != "layer0x32"
				ms := 1e3 * replay(b, be, hostWaits, func() {
					switch mode {
					case "forward", "step", "step-nvml", "sample", "sample-kp", "sample-host":
						if err := m.Forward(s, 1, rows); err != nil {
							b.Fatal(err)
						}
						for r := range bits {
							bits[r] = bits[r]*6364136223846793005 + 1442695040888963407
						}
						p := compute.SampleParams{Temperature: 1}
						var err error
						switch mode {
						case "step", "step-nvml":
							_, err = m.ArgmaxTokens(s, rows, -1)
						case "sample-kp":
							p = compute.SampleParams{Temperature: 0.8, TopK: 200, TopP: 0.95}
							fallthrough
						case "sample":
							_, err = m.SampleTokens(s, rows, p, bits)
						case "sample-host":
							var lg []float32
							if lg, err = m.Logits(s, rows); err == nil {
								V := m.Config.VocabSize
								for r := range rows {
									compute.SampleRow(lg[r*V:(r+1)*V], bits[r], p, &sc)
								}
							}
						}
						if err != nil {
							b.Fatal(err)
						}
					default:
						mv.ops(s, s.shape(1, nOut, len(mv.Weights.Layers)))
					}
				})
				b.ReportMetric(ms, "ms/step")
				b.ReportMetric(float64(m.WeightBytes())/(ms*1e-3)/1e9, "GB/s(weights)")
			})
		}
		s.Close()
	}
}

// pollEnergy reads the first GPU's NVML energy counter back to back, 1 ms
// apart, on a goroutine until the returned function is called; it skips
// the benchmark where NVML does not load.
func pollEnergy(b *testing.B) (stop func()) {
	if err := icuda.NVMLInit(); err != nil {
		b.Skipf("no NVML: %v", err)
	}
	d, err := icuda.NVMLDeviceByIndex(0)
	if err != nil {
		b.Skipf("no NVML device 0: %v", err)
	}
	done, ended := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-done:
				ended <- n
				return
			case <-time.After(time.Millisecond):
			}
			if _, err := d.TotalEnergy(); err == nil {
				n++
			}
		}
	}()
	return func() {
		close(done)
		b.Logf("%d readings of the energy counter", <-ended)
	}
}

// BenchmarkDiffusionStep splits a LLaDA reference step (no cache, batch 1:
// a prompt and generation of 256 tokens in all, logits for a block of 32)
// between device and host, as BenchmarkDecodeStep splits a decode step, on
// the checkpoint DLLMBENCH_DIFFUSION_MODEL names (parity8b.py's LLaDA-8B;
// skipped when unset): graph (the step, its last layer on the block's 32
// rows past the attention), layers (every layer on all rows, without the
// head), launch (the graph Forward recorded, replayed without its input
// writes), sync (launch, then a wait for it: the device drained at every
// step), forward (Forward back to back), forward-sync (Forward, then a
// wait), select-sync (Forward, the device's token selection, a wait),
// argmax (Forward, then ArgmaxTokens: the ids' read) and step (Forward,
// then SelectTokens as decode.Diffuse's greedy step calls it: the ids' and
// the probabilities' reads), gumbel (Forward, then SelectTokensGumbel at
// temperature 1 as a sampled step calls it) and gumbel-host (Forward, the
// block's logits read back and drawn from on the host by
// compute.GumbelArgmaxProbRow, as every sampled step ran before the
// device drew). Modes run in that order, and a card under its power cap
// slows within seconds: compare them with -test.count.
func BenchmarkDiffusionStep(b *testing.B) {
	if os.Getenv("DLLMBENCH_DIFFUSION_MODEL") == "" {
		b.Skip("DLLMBENCH_DIFFUSION_MODEL is not set")
	}
	b.Setenv("DLLMBENCH_STEP_MODEL", os.Getenv("DLLMBENCH_DIFFUSION_MODEL"))
	be, m := stepModel(b)
	const block = 32
	n := min(256, m.Config.MaxSeqLen)
	s := mustState(b)(m.NewState(1, n, n, block))
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
	layers := len(m.Weights.Layers)
	recorded := s.graphs[s.shape(n, block, layers)] // Forward's graph; nil without graphs
	keys := make([]uint64, block)
	for _, mode := range []string{"graph", "layers", "launch", "sync", "forward", "forward-sync", "select-sync", "argmax", "step", "gumbel", "gumbel-host"} {
		b.Run(fmt.Sprintf("n=%d/block=%d/%s", n, block, mode), func(b *testing.B) {
			nOut := block
			if mode == "layers" {
				nOut = 0
			}
			direct := mode != "graph" && mode != "layers"
			if (mode == "launch" || mode == "sync") && recorded == nil {
				b.Skip("the backend records no graphs")
			}
			ms := 1e3 * replay(b, be, direct, func() {
				if !direct {
					m.ops(s, s.shape(n, nOut, layers))
					return
				}
				if mode == "launch" || mode == "sync" {
					if err := recorded.Launch(); err != nil {
						b.Fatal(err)
					}
					if mode == "sync" {
						if err := be.Sync(); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				if err := m.Forward(s, n, block); err != nil {
					b.Fatal(err)
				}
				var err error
				switch mode {
				case "forward-sync":
					err = be.Sync()
				case "select-sync":
					if sel, ok := be.(compute.Selector); ok {
						sel.ArgmaxProb(s.selIDt.Slice(0, block), s.selPt.Slice(0, block), s.logits.Slice(0, block), m.Config.MaskID)
					}
					err = be.Sync()
				case "argmax":
					_, err = m.ArgmaxTokens(s, block, m.Config.MaskID)
				case "step":
					_, _, err = m.SelectTokens(s, block, m.Config.MaskID)
				case "gumbel":
					for j := range keys {
						keys[j] = keys[j]*6364136223846793005 + 1442695040888963407
					}
					_, _, err = m.SelectTokensGumbel(s, block, m.Config.MaskID, 1, keys)
				case "gumbel-host":
					var lg []float32
					if lg, err = m.Logits(s, block); err == nil {
						V := m.Config.VocabSize
						for j := range block {
							compute.GumbelArgmaxProbRow(lg[j*V:(j+1)*V], m.Config.MaskID, keys[j], 1)
						}
					}
				}
				if err != nil {
					b.Fatal(err)
				}
			})
			b.ReportMetric(ms, "ms/step")
		})
	}
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
