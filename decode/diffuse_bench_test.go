package decode_test

import (
	"os"
	"testing"

	"dllmbench/decode"
	"dllmbench/internal/testbackend"
	"dllmbench/internal/testmodel"
	"dllmbench/model"
)

// BenchmarkDiffuse times LLaDA's reference decoder (batch 1, a prompt of
// 128 tokens, 128 generated in 128 steps, blocks of 32) as the harness
// runs it, and the dual-cache decoder with the same schedule, on the
// tests' backend and the checkpoint DLLMBENCH_DIFFUSION_MODEL names
// (parity8b.py's LLaDA-8B; skipped when unset). ms/step is the host's time
// per forward call, to set against model's BenchmarkDiffusionStep (its
// forward calls alone) and against the grid's step time. Each runs with
// the steps committed on the device and on the host (HostCommit), and on a
// prompt of varied ids (varied) or BenchmarkDiffusionStep's (1 + i mod
// 100: repeated).
func BenchmarkDiffuse(b *testing.B) {
	dir := os.Getenv("DLLMBENCH_DIFFUSION_MODEL")
	if dir == "" {
		b.Skip("DLLMBENCH_DIFFUSION_MODEL is not set")
	}
	m := testmodel.LoadDir(b, dir, testbackend.Open(b), model.LoadOptions{})
	const P, G, block = 128, 128, 32
	prompts := map[string][]int{"varied": make([]int, P), "repeated": make([]int, P)}
	vocab := min(m.Config.TokenizerVocab, m.Config.MaskID) // ids below both
	for i := range P {
		prompts["varied"][i] = 1 + 7919*i%(vocab-1)
		prompts["repeated"][i] = 1 + i%100
	}
	for _, cache := range []decode.Cache{decode.CacheNone, decode.CacheDual} {
		o := decode.DiffusionOptions{GenLength: G, Steps: G, BlockLength: block, Remasking: decode.LowConfidence, Cache: cache}
		s := testmodel.MustState(b)(decode.DiffusionState(m, 1, P, o))
		for _, commit := range []string{"device", "host"} {
			o.HostCommit = commit == "host"
			for _, name := range []string{"varied", "repeated"} {
				b.Run(string(cache)+"/"+commit+"/"+name, func(b *testing.B) {
					calls := 0
					for b.Loop() {
						res, err := decode.Diffuse(m, s, [][]int{prompts[name]}, o)
						if err != nil {
							b.Fatal(err)
						}
						calls += res.Calls
					}
					b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(calls), "ms/step")
				})
			}
		}
		s.Close()
	}
}
