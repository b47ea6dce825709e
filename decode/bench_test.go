package decode_test

import (
	"testing"

	"dllmbench/compute/cpu"
	"dllmbench/decode"
	"dllmbench/internal/testmodel"
	"dllmbench/model"
	"dllmbench/safetensors"
)

// BenchmarkDecodeToken times one autoregressive step (batch 1) after a
// 64-token prompt, on stories260K and on a random bf16 model of 110M
// parameters whose weights (220 MB) do not fit in cache, and reports the
// weight bytes streamed per second: the CPU decode roofline is the
// machine's memory bandwidth.
func BenchmarkDecodeToken(b *testing.B) {
	medium := testmodel.Spec{Family: model.Llama, Dim: 768, Hidden: 2048, Layers: 12, Heads: 12, KVHeads: 4,
		Vocab: 32000, MaxSeq: 1024, RopeTheta: 500000, DType: safetensors.BF16, Seed: 1}
	for _, c := range []struct {
		name string
		dir  func(b *testing.B) string
	}{
		{"stories260K", func(*testing.B) string { return "../testdata/stories260K" }},
		{"llama-110M-bf16", func(b *testing.B) string {
			d := b.TempDir()
			if err := testmodel.Write(d, medium); err != nil {
				b.Fatal(err)
			}
			return d
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			be := cpu.New(0)
			defer be.Close()
			m, err := model.Load(c.dir(b), be, model.LoadOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			prompt := make([]int, 64)
			for i := range prompt {
				prompt[i] = 1 + i%100
			}
			const steps = 32
			s := testmodel.MustState(b)(decode.ARState(m, 1, len(prompt), steps, 0))
			for b.Loop() {
				res, err := decode.Generate(m, s, [][]int{prompt}, decode.AROptions{MaxNew: steps, IgnoreEOS: true})
				if err != nil {
					b.Fatal(err)
				}
				// Per-token time: the decode steps only, prefill excluded.
				per := (res.StepEnd[steps-1] - res.StepEnd[0]).Seconds() / (steps - 1)
				b.ReportMetric(per*1e3, "ms/token")
				b.ReportMetric(1/per, "tokens/s")
				b.ReportMetric(float64(m.WeightBytes())/per/1e9, "GB/s(weights)")
			}
		})
	}
}
