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
// runs it, on the tests' backend and the checkpoint
// DLLMBENCH_DIFFUSION_MODEL names (parity8b.py's LLaDA-8B; skipped when
// unset). ms/step is the host's time per forward call, to set against
// model's BenchmarkDiffusionStep (its forward calls alone) and against the
// grid's step time. The prompt takes varied ids (varied) or
// BenchmarkDiffusionStep's (1 + i mod 100: repeated).
func BenchmarkDiffuse(b *testing.B) {
	dir := os.Getenv("DLLMBENCH_DIFFUSION_MODEL")
	if dir == "" {
		b.Skip("DLLMBENCH_DIFFUSION_MODEL is not set")
	}
	m := testmodel.LoadDir(b, dir, testbackend.Open(b), model.LoadOptions{})
	const P, G, block = 128, 128, 32
	o := decode.DiffusionOptions{GenLength: G, Steps: G, BlockLength: block, Remasking: decode.LowConfidence, Cache: decode.CacheNone}
	s := decode.DiffusionState(m, 1, P, o)
	defer s.Close()
	prompts := map[string][]int{"varied": make([]int, P), "repeated": make([]int, P)}
	vocab := min(m.Config.TokenizerVocab, m.Config.MaskID) // ids below both
	for i := range P {
		prompts["varied"][i] = 1 + 7919*i%(vocab-1)
		prompts["repeated"][i] = 1 + i%100
	}
	for _, name := range []string{"varied", "repeated"} {
		b.Run(name, func(b *testing.B) {
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
