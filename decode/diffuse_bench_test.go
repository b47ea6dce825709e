package decode_test

import (
	"os"
	"testing"

	"dllmbench/decode"
	"dllmbench/internal/testbackend"
	"dllmbench/model"
)

// BenchmarkDiffuse times LLaDA's reference decoder (batch 1, a prompt of
// 128 tokens, 128 generated in 128 steps, blocks of 32) as the harness
// runs it, on the tests' backend and the checkpoint
// DLLMBENCH_DIFFUSION_MODEL names (parity8b.py's LLaDA-8B; skipped when
// unset), against its core: the same state's Forward and SelectTokens
// repeated as many times. ms/step is the host's time per forward call.
// The prompt takes varied ids (varied) or model's BenchmarkDiffusionStep's
// (1 + i mod 100: repeated).
func BenchmarkDiffuse(b *testing.B) {
	dir := os.Getenv("DLLMBENCH_DIFFUSION_MODEL")
	if dir == "" {
		b.Skip("DLLMBENCH_DIFFUSION_MODEL is not set")
	}
	be := testbackend.Open(b)
	m, err := model.Load(dir, be, model.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
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
	for _, mode := range []string{"diffuse/varied", "diffuse/repeated", "core/repeated"} {
		b.Run(mode, func(b *testing.B) {
			p := prompts["varied"]
			if mode != "diffuse/varied" {
				p = prompts["repeated"]
			}
			calls := 0
			for b.Loop() {
				if mode != "core/repeated" {
					res, err := decode.Diffuse(m, s, [][]int{p}, o)
					if err != nil {
						b.Fatal(err)
					}
					calls += res.Calls
					continue
				}
				n := P + G
				for i := range n {
					s.Tokens[i], s.Pos[i], s.Slots[i] = int32(1+i%100), int32(i), int32(i)
				}
				s.Span[0], s.Span[1] = 0, int32(n)
				for j := range block {
					s.Out[j] = int32(P + j)
				}
				for range G {
					if err := m.Forward(s, n, block); err != nil {
						b.Fatal(err)
					}
					if _, _, err := m.SelectTokens(s, block, m.Config.MaskID); err != nil {
						b.Fatal(err)
					}
				}
				calls += G
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(calls), "ms/step")
		})
	}
}
