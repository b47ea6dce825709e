package bench

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"dllmbench/compute/cpu"
	"dllmbench/internal/testmodel"
	"dllmbench/model"
)

func shapes(t *testing.T, s testmodel.Spec) *model.Config {
	t.Helper()
	data, err := json.Marshal(s.Config())
	if err != nil {
		t.Fatal(err)
	}
	c, err := model.ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The hand arithmetic below uses these shapes.
//
// LLaMA-3-8B: Dim 4096, HiddenDim 14336, 32 layers, QDim 4096, KVDim 1024,
// vocabulary 128256. Matmul weights of the layers:
// 32·(4096·4096·2 + 2·4096·1024 + 3·4096·14336) = 6,979,321,856; LM head
// 4096·128256 = 525,336,576; read per call in bf16: 2·7,504,658,432 =
// 15,009,316,864 B. One cache slot of every layer, in bf16 for bf16
// weights: 32·2·1024·2 = 131,072 B (fp32: 262,144 B). Params() =
// 8,030,261,248.
//
// LLaDA-8B: Dim 4096, HiddenDim 12288, 32 layers, QDim = KVDim 4096,
// vocabulary 126464. Layers: 32·(4·4096·4096 + 3·4096·12288) =
// 6,979,321,856; head 4096·126464 = 517,996,544; per call in bf16
// 14,994,636,800 B. Cache slot in bf16: 32·2·4096·2 = 524,288 B. Params() =
// 8,015,581,184.
func TestEstimate(t *testing.T) {
	llama, llada := shapes(t, testmodel.Llama3_8B()), shapes(t, testmodel.LLaDA8B())
	ar := Cell{Family: "llama", Batch: 1, PromptLen: 128, GenLen: 128, Precision: "bf16"}
	diff := Cell{Family: "llada", Batch: 2, PromptLen: 128, GenLen: 128, Steps: 16, BlockLen: 32,
		Remasking: "low_confidence", Cache: "none", Precision: "bf16"}
	with := func(c Cell, f func(*Cell)) Cell { f(&c); return c }

	for _, tc := range []struct {
		name          string
		cell          Cell
		m             *model.Config
		backend       string
		prompts, runs int
		seconds       float64
		flops, bytes  float64 // 0: not checked
		memory        float64
		calls         int
		note          string
	}{
		// LLaMA on CUDA, 4 prompts in batches of 1, 1 warm-up + 1 repetition.
		// Prefill: 15,009,316,864 + 128·131,072 = 15,026,094,080 B (5.009 ms
		// at 3 TB/s) against 2·6,979,321,856·128 + 2·4096·128256 +
		// 4·32·4096·(128·129/2) = 1,792,085,590,016 FLOPs (2.99 ms at 600
		// TFLOP/s): memory-bound. 127 one-token calls, each ≤ 25 µs of
		// compute, read 127·15,009,316,864 + 131,072·Σ(128+s, s=1..127 =
		// 24,384) = 1,909,379,301,376 B. A batch: 1,924,405,395,456 B / 3e12
		// = 0.641468465152 s; ×4 batches ×2 runs = 5.131747721216 s.
		// Memory: 2·8,030,261,248 weights + 256 slots·131,072 cache +
		// 4·(128·(2·4096 + 2·4096 + 2·1024 + 2·14336) + 4096 + 128256)
		// activations = 16,060,522,496 + 33,554,432 + 24,646,656.
		{"llama cuda", ar, llama, "cuda", 4, 2, 5.131747721216,
			8 * (1792085590016 + 1918967480320), 8 * 1924405395456, 16118723584, 128, ""},
		// The same on the CPU, one prompt, one run: the prefill is
		// compute-bound at 50 GFLOP/s (35.8417118 s), the 127 steps
		// memory-bound at 15 GB/s (1,909,379,301,376 / 15e9 = 127.2919534
		// s; 0.30 s of compute each). Host logits add 4·128256 B.
		{"llama cpu", ar, llama, "cpu", 1, 1, 35.84171180032 + 127.29195342506667,
			0, 0, 16118723584 + 4*128256, 128, ""},
		// auto is estimated as cuda, and says so.
		{"llama auto", ar, llama, "auto", 4, 2, 5.131747721216, 0, 0, 16118723584, 128, `backend "auto" estimated as cuda`},
		// fp32 weights: 4 bytes a parameter and twice the weight traffic,
		// and a float32 cache (262,144 B a slot); every call is
		// memory-bound: 128 calls of 2·15,009,316,864 B and 128 + 24,384
		// cache slots read.
		{"llama fp32", with(ar, func(c *Cell) { c.Precision = "fp32" }), llama, "cuda", 1, 1,
			(128*2*15009316864 + 262144*(128+24384.0)) / 3e12, 0, 0, 4*8030261248 + 67108864 + 24646656, 128, ""},
		// LLaDA, batch 2, no cache: 4 blocks × 16/4 calls, each of the whole
		// 256-token canvas: 2·(2·6,979,321,856·256 + 2·4096·126464·32 +
		// 4·32·4096·256·256) = 7,281,848,614,912 FLOPs = 12.136414 ms,
		// compute-bound (15,263,072,256 B = 5.087691 ms); ×16 = 0.194182630 s.
		// Memory: 2·8,015,581,184 + 2·256·524,288 cache +
		// 4·(2·256·(3·2·4096 + 2·12288) + 64·4096 + 64·126464) activations.
		{"llada none", diff, llada, "cuda", 2, 1, 16 * 0.012136414358186666,
			16 * 7281848614912, 16 * 15263072256, 16031162368 + 268435456 + 134086656, 16, ""},
		// Dual cache: each block's first call runs the canvas (12.136414 ms),
		// its 3 others only the block: 968,246,689,792 FLOPs (1.61 ms) are
		// memory-bound at 5.087691 ms. 4·(12.136414 + 3·5.087691) ms.
		{"llada dual", with(diff, func(c *Cell) { c.Cache = "dual" }), llada, "cuda", 2, 1, 0.10959794645674667,
			4 * (7281848614912 + 3*968246689792), 16 * 15263072256, 16433684480, 16, ""},
		// Prefix cache: the later calls of block k run 128−32k tokens; only
		// block 0's (3,674,076,086,272 FLOPs, 6.123460 ms) are compute-bound:
		// 4·12.136414 + 3·6.123460 + 9·5.087691 ms.
		{"llada prefix", with(diff, func(c *Cell) { c.Cache = "prefix" }), llada, "cuda", 2, 1, 0.11270525463210665,
			0, 0, 16433684480, 16, ""},
		// A threshold cell is assumed to take 128/2 = 64 steps: 16 per block,
		// with the dual cache 4·(12.136414 + 15·5.087691) ms.
		{"llada threshold", with(diff, func(c *Cell) { c.Cache, c.Steps, c.Threshold = "dual", 0, 0.9 }), llada, "cuda", 2, 1, 0.3538071025527466,
			0, 0, 16433684480, 64, "the calls of threshold and factor cells depend on the model; assumed gen_length/2 = 64 steps"},
		// Guidance doubles the rows: batch 1 with cfg_scale costs what batch
		// 2 without it does, memory included.
		{"llada cfg", with(diff, func(c *Cell) { c.Batch, c.CFGScale = 1, 1 }), llada, "cuda", 1, 1, 16 * 0.012136414358186666,
			0, 0, 16433684480, 16, "cfg_scale doubles the rows"},
		// Three prompts in batches of 2 are two batches.
		{"partial batch", diff, llada, "cuda", 3, 1, 2 * 16 * 0.012136414358186666, 0, 0, 16433684480, 16, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Estimate(tc.cell, tc.m, tc.backend, tc.prompts, tc.runs)
			near := func(what string, got, want float64) {
				if want != 0 && math.Abs(got-want) > 1e-9*math.Abs(want) {
					t.Errorf("%s %.12g, want %.12g", what, got, want)
				}
			}
			near("seconds", e.Seconds, tc.seconds)
			near("FLOPs", e.FLOPs, tc.flops)
			near("bytes", e.Bytes, tc.bytes)
			near("memory", e.MemoryBytes, tc.memory)
			if e.MemoryBytes != e.WeightBytes+e.CacheBytes+e.ActivationBytes {
				t.Errorf("memory %g is not weights %g + cache %g + activations %g", e.MemoryBytes, e.WeightBytes, e.CacheBytes, e.ActivationBytes)
			}
			if e.Calls != tc.calls {
				t.Errorf("%d calls, want %d", e.Calls, tc.calls)
			}
			if e.Note != tc.note {
				t.Errorf("note %q, want %q", e.Note, tc.note)
			}
		})
	}
}

// Unfit names a cell whose run state in host memory exceeds the machine:
// all of the state on the CPU, the logits read back on a device. 0 is an
// unknown machine, and a state of exactly the machine's memory fits.
func TestEstimateUnfit(t *testing.T) {
	llada := shapes(t, testmodel.LLaDA8B())
	diff := Cell{Family: "llada", Batch: 2, PromptLen: 128, GenLen: 128, Steps: 16, BlockLen: 32,
		Remasking: "low_confidence", Cache: "none", Precision: "bf16"}
	onCPU, onCUDA := Estimate(diff, llada, "cpu", 2, 1), Estimate(diff, llada, "cuda", 2, 1)
	if onCPU.HostStateBytes != onCPU.CacheBytes+onCPU.ActivationBytes {
		t.Errorf("cpu: host state %g, want cache + activations %g", onCPU.HostStateBytes, onCPU.CacheBytes+onCPU.ActivationBytes)
	}
	// 2 rows × 32 block positions of 126,464 float32 logits.
	if onCUDA.HostStateBytes != 4*64*126464 {
		t.Errorf("cuda: host state %g, want the logits' 32,374,784 B", onCUDA.HostStateBytes)
	}
	for _, e := range []Estimation{onCPU, onCUDA} {
		if why := e.Unfit(int64(e.HostStateBytes)); why != "" {
			t.Errorf("a state of exactly the machine's memory: %q", why)
		}
		if why := e.Unfit(0); why != "" {
			t.Errorf("an unknown machine: %q", why)
		}
	}
	// The dry run of the audit: batch 10⁸ on a machine of 23.5 GiB.
	huge := diff
	huge.Batch = 100_000_000
	e := Estimate(huge, llada, "cpu", 8, 1)
	if why, want := e.Unfit(47<<29), "GiB for its state, the machine has 23.5 GiB"; !strings.Contains(why, want) {
		t.Errorf("Unfit %q, want %q", why, want)
	}
	if why := onCPU.Unfit(int64(onCPU.HostStateBytes) - 1); !strings.HasPrefix(why, "needs 0.") {
		t.Errorf("a byte short: %q", why)
	}
}

// The dry run warns only about cells the run refuses: the host state the
// estimate counts is at most what model.NewState checks for the cell's
// state (the demo's shapes, both families, float32 weights and cache).
func TestEstimateUnfitAgreesWithNewState(t *testing.T) {
	b := cpu.New(1)
	t.Cleanup(b.Close)
	ar := Cell{Family: "llama", Batch: 3, PromptLen: 16, GenLen: 8, Precision: "fp32"}
	diff := Cell{Family: "llada", Batch: 3, PromptLen: 16, GenLen: 16, Steps: 8, BlockLen: 8,
		Remasking: "low_confidence", Cache: "dual", Precision: "fp32"}
	for _, c := range []Cell{ar, diff} {
		f := model.Llama
		if c.Diffusion() {
			f = model.LLaDA
		}
		m := loadTiny(t, f, b)
		e := Estimate(c, &m.Config, "cpu", 3, 1)
		var backend, host float64
		if c.Diffusion() {
			L := c.PromptLen + c.GenLen
			backend, host = m.StateBytes(c.Batch, L, L, c.Batch*c.BlockLen)
		} else {
			backend, host = m.StateBytes(c.Batch, c.PromptLen, c.PromptLen+c.GenLen, c.Batch)
		}
		if e.HostStateBytes > backend+host || e.HostStateBytes < 0.9*(backend+host) {
			t.Errorf("%s: estimated host state %g, NewState checks %g", c.Family, e.HostStateBytes, backend+host)
		}
	}
}
