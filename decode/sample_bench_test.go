package decode_test

import (
	"math/rand/v2"
	"testing"

	"dllmbench/decode"
)

// BenchmarkSample draws one token from LLaMA-3's vocabulary of random
// logits, as a sampled autoregressive row does each step on the host.
func BenchmarkSample(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	logits := make([]float32, 128256)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 3)
	}
	for _, c := range []struct {
		name string
		k    int
		p    float64
	}{{"temperature", 0, 0}, {"top-k=50", 50, 0}, {"top-p=0.9", 0, 0.9}, {"top-k=50,top-p=0.9", 50, 0.9}} {
		b.Run(c.name, func(b *testing.B) {
			s := decode.NewSampler(0.8, c.k, c.p, 1)
			for b.Loop() {
				s.Sample(logits)
			}
		})
	}
}
