package report

import (
	"math"
	"time"

	"dllmbench/bench"
	"dllmbench/compute/device"
	"dllmbench/prompts"
)

// The records of these tests are made by hand; their numbers are chosen to
// be easy to check, not measured. Two repetitions each, so that standard
// deviations are defined.

func ptr[T any](v T) *T { return &v }

// tokenIDs is a prompt of n tokens, 1 to n.
func tokenIDs(n int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i + 1
	}
	return ids
}

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// gpuEnv is a CUDA run on an H100.
var gpuEnv = bench.Env{OS: "linux", Arch: "amd64", CPU: "Intel(R) Xeon(R) Platinum 8480+", CPUs: 16,
	Backend: "cuda", Device: "NVIDIA H100 80GB HBM3", Hostname: "gpu1",
	GPU: &device.GPU{Name: "NVIDIA H100 80GB HBM3", Driver: "560.35", PowerLimitW: 700}}

// arRecord is LLaMA, batch 1, prompt 128, 4 generated tokens: TTFT 20 ms
// and a token every 10 ms after it, so TPOT and every inter-token gap (3 a
// repetition, 6 pooled) are 10 ms and latency 50 ms; 50.2 ms by the GPU's
// clock.
func arRecord() bench.Record {
	rep := func(total, tps float64, energy float64, mhz int) bench.Rep {
		return bench.Rep{TotalS: total, TokensPerS: tps, UsefulTokensPerS: tps / 2, EnergyJ: ptr(energy), EnergySource: "nvml",
			Clocks: &bench.Clocks{Samples: 4, SMMHz: float64(mhz), SMMinMHz: mhz, PowerCapped: 0.5},
			Batches: []bench.BatchMeasure{{Rows: 1, LatencyS: 0.05, DeviceLatencyS: 0.0502, TTFTS: 0.02,
				TokenTimesS: []float64{0.02, 0.03, 0.04, 0.05}, NFE: 4, Generated: 4, Useful: 2}}}
	}
	return bench.Record{Schema: bench.SchemaVersion, Key: "ar1", Grid: "demo", Status: "ok", Started: t0, Duration: 1.5,
		Cell: bench.Cell{Model: "llama", ModelID: "meta-llama/Meta-Llama-3-8B", Family: "llama", Batch: 1,
			PromptLen: 128, GenLen: 4, Precision: "bf16", Backend: "auto"},
		Env:     gpuEnv,
		Model:   bench.ModelInfo{ID: "meta-llama/Meta-Llama-3-8B", Arch: "LlamaForCausalLM", Params: 8030261248},
		Prompts: []bench.PromptRecord{{Text: "secret prompt", IDs: tokenIDs(128)}}, // as long as the cell asked
		PromptSource: &prompts.Origin{Source: "wikitext", From: "embedded", Path: "prompts/data/wikitext-103-valid-subset.raw",
			Total: 431, Docs: 431, SHA256: "f0f5050082473ab672b5769d87225782d9571bfe748d17623b1276f6e5d11633"},
		Outputs: [][]int{{4, 5, 6, 7}},
		Reps:    []bench.Rep{rep(0.05, 80, 2, 1650), rep(0.0625, 64, 3, 1800)},
		Stats: map[string]bench.Stat{
			bench.MLatency:       {Mean: 0.05, Std: 0, N: 2},
			bench.MDeviceLatency: {Mean: 0.0502, Std: 0, N: 2},
			bench.MTTFT:          {Mean: 0.02, Std: 0, N: 2},
			bench.MTPOT:          {Mean: 0.01, Std: 0, N: 2},
			bench.MITL:           {Mean: 0.01, Std: 0, N: 2},
			bench.MNFE:           {Mean: 4, N: 2},
			bench.MTokensPerS:    {Mean: 72, Std: 11.313708498984761, N: 2},
			bench.MUsefulPerS:    {Mean: 36, Std: 5.656854249492381, N: 2},
			bench.MPower:         {Mean: 44, Std: 5.656854249492381, N: 2},
			bench.MSMClock:       {Mean: 1725, Std: 106.06601717798213, N: 2},
			bench.MPowerCapped:   {Mean: 0.5, N: 2},
		},
		Pooled: map[string]bench.Dist{
			bench.MTTFT:    {N: 2, Mean: 0.02, Median: 0.02, P90: 0.02, P99: 0.02},
			bench.MTPOT:    {N: 2, Mean: 0.01, Median: 0.01, P90: 0.01, P99: 0.01},
			bench.MITL:     {N: 6, Mean: 0.01, Median: 0.01, P90: 0.01, P99: 0.01},
			bench.MLatency: {N: 2, Mean: 0.05, Median: 0.05, P90: 0.05, P99: 0.05},
		},
		Memory:   bench.Memory{Weights: 16060522496, Cache: 1 << 27, DevicePeak: 17 << 30, ProcessPeak: 2 << 30},
		Roofline: bench.Roofline{GBPerS: 1204.5, TFLOPS: 2.5},
	}
}

// diffRecord is LLaDA with 64 steps, blocks of 32 and the dual cache: four
// forward calls of 25 ms per batch, 2 tokens committed per call.
func diffRecord() bench.Record {
	rep := func(tps float64) bench.Rep {
		return bench.Rep{TotalS: 0.1, TokensPerS: tps, UsefulTokensPerS: tps,
			Batches: []bench.BatchMeasure{{Rows: 1, LatencyS: 0.1, StepTimesS: []float64{0.025, 0.05, 0.075, 0.1},
				TokensPerStep: []int{2, 2, 2, 2}, NFE: 4, Generated: 8, Useful: 8}}}
	}
	return bench.Record{Schema: bench.SchemaVersion, Key: "diff1", Grid: "demo", Status: "ok", Started: t0, Duration: 2,
		Cell: bench.Cell{Model: "llada", ModelID: "GSAI-ML/LLaDA-8B-Base", Family: "llada", Batch: 1, PromptLen: 128,
			GenLen: 8, Steps: 64, BlockLen: 32, Remasking: "low_confidence", Cache: "dual", Precision: "bf16", Backend: "auto"},
		Env:  gpuEnv,
		Reps: []bench.Rep{rep(80), rep(80)},
		Stats: map[string]bench.Stat{
			bench.MLatency:       {Mean: 0.1, N: 2},
			bench.MStepTime:      {Mean: 0.025, N: 2},
			bench.MNFE:           {Mean: 4, N: 2},
			bench.MTokensPerStep: {Mean: 2, N: 2},
			bench.MTokensPerS:    {Mean: 80, N: 2},
			bench.MUsefulPerS:    {Mean: 80, N: 2},
			bench.MSMClock:       {Mean: 1980, N: 2},
			bench.MPowerCapped:   {Mean: 0, N: 2},
		},
		Pooled: map[string]bench.Dist{bench.MLatency: {N: 2, Mean: 0.1, Median: 0.1, P90: 0.1, P99: 0.1}},
		Memory: bench.Memory{Weights: 16 << 30, DevicePeak: 18 << 30},
	}
}

// thrRecord is LLaDA with a confidence threshold on the CPU, with the
// measurements a broken timer or counter leaves: NaN and ±Inf.
func thrRecord() bench.Record {
	nan, inf := math.NaN(), math.Inf(1)
	return bench.Record{Schema: bench.SchemaVersion, Key: "thr1", Grid: "demo", Status: "ok", Started: t0,
		Cell: bench.Cell{Model: "llada", ModelID: "GSAI-ML/LLaDA-8B-Base", Family: "llada", Batch: 1, PromptLen: 128,
			GenLen: 8, Threshold: 0.9, BlockLen: 8, Remasking: "low_confidence", Cache: "none", Precision: "bf16"},
		Env: bench.Env{OS: "linux", Arch: "arm64", CPU: "Neoverse-V2", CPUs: 72, Backend: "cpu", Device: "cpu"},
		Reps: []bench.Rep{
			{TotalS: 0, TokensPerS: inf, UsefulTokensPerS: inf, EnergyJ: ptr(nan),
				Batches: []bench.BatchMeasure{{Rows: 1, StepTimesS: []float64{0}, NFE: 1, Generated: 8}}},
			{TotalS: 2, TokensPerS: 4, UsefulTokensPerS: 4,
				Batches: []bench.BatchMeasure{{Rows: 1, LatencyS: 2, StepTimesS: []float64{1, 2}, NFE: 2, Generated: 8}}},
		},
		Stats: map[string]bench.Stat{
			bench.MTokensPerS: {Mean: inf, Std: nan, N: 2},
			bench.MLatency:    {Mean: 1, Std: 1.4142135623730951, N: 2},
			"quality_ppl":     {Mean: nan, N: 1}, // a metric report does not know
		},
		Memory:   bench.Memory{ProcessPeak: 20 << 30},
		Roofline: bench.Roofline{GBPerS: nan, TFLOPS: inf},
	}
}

// failedRecord is a LLaDA cell that ran out of memory, with a two-line
// error; an older attempt under the same key failed too.
func failedRecord() bench.Record {
	return bench.Record{Schema: bench.SchemaVersion, Key: "fail1", Grid: "demo", Status: "failed", Started: t0.Add(time.Hour),
		Error: "cuda: out of memory | allocating 2.0 GiB\nat decode.Diffuse",
		Cell: bench.Cell{Model: "llada", ModelID: "GSAI-ML/LLaDA-8B-Base", Family: "llada", Batch: 64, PromptLen: 128,
			GenLen: 8, Steps: 8, BlockLen: 8, Remasking: "low_confidence", Cache: "prefix", Precision: "bf16", Backend: "cuda"},
		Env: gpuEnv,
	}
}

// fixture is the records of one run merged with an older attempt of the
// failed cell, out of order.
func fixture() []bench.Record {
	old := failedRecord()
	old.Started, old.Error = t0, "an older attempt"
	return []bench.Record{failedRecord(), diffRecord(), old, thrRecord(), arRecord()}
}
