// Package decode turns a model's logits into tokens: autoregressive
// generation for causal models, and the diffusion decoders of LLaDA (the
// reference loop and Fast-dLLM's caches and parallel rules).
package decode

import (
	"fmt"
	"math"
	"math/rand/v2"

	"dllmbench/compute"
)

// Argmax returns the index of the largest logit, the first one on ties (as
// torch.argmax does).
func Argmax(logits []float32) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return best
}

// logSumExp returns log Σ e^l in float64.
func logSumExp(logits []float32) float64 {
	m := math.Inf(-1)
	for _, v := range logits {
		m = max(m, float64(v))
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

// Prob returns softmax(logits)[i] in float64, as Fast-dLLM computes the
// confidence of a token.
func Prob(logits []float32, i int) float64 {
	return math.Exp(float64(logits[i]) - logSumExp(logits))
}

// LogProb returns log softmax(logits)[i] in float64.
func LogProb(logits []float32, i int) float64 {
	return float64(logits[i]) - logSumExp(logits)
}

// Sampler picks the next token of autoregressive generation: greedy at
// temperature 0, otherwise drawn from softmax(logits/temperature) restricted
// to the TopK most likely tokens (and those tied with the TopK-th) and then
// to the smallest set whose probability reaches TopP, in that order, as
// Hugging Face generate applies them. A draw takes 64 bits of the
// sampler's stream and is compute.SampleRow's, on the host (Sample) or on
// a device that samples (model.SampleTokens, with Bits).
type Sampler struct {
	Temperature float64
	TopK        int     // 0: no limit
	TopP        float64 // 0 or 1: no limit
	rng         *rand.Rand
	sc          compute.SampleScratch
}

// NewSampler returns a sampler seeded with seed. It panics on a
// temperature that is not a finite number ≥ 0, a negative topK or a topP
// outside [0, 1]: the commands refuse those with an error first.
func NewSampler(temperature float64, topK int, topP float64, seed uint64) *Sampler {
	if !(temperature >= 0) || math.IsInf(temperature, 1) || topK < 0 || !(topP >= 0 && topP <= 1) {
		panic(fmt.Sprintf("decode: NewSampler(temperature %g, top-k %d, top-p %g): want a finite temperature ≥ 0, top-k ≥ 0 and top-p in [0, 1]",
			temperature, topK, topP))
	}
	return &Sampler{Temperature: temperature, TopK: topK, TopP: topP, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

// Greedy reports whether the sampler always takes the argmax.
func (s *Sampler) Greedy() bool { return s.Temperature == 0 }

// Params are the sampler's truncations, for a draw (not greedy).
func (s *Sampler) Params() compute.SampleParams {
	return compute.SampleParams{Temperature: s.Temperature, TopK: s.TopK, TopP: s.TopP}
}

// Bits takes the next draw's random bits from the sampler's stream.
func (s *Sampler) Bits() uint64 { return s.rng.Uint64() }

// Sample returns a token id drawn from logits on the host: the argmax when
// greedy, else compute.SampleRow with the next Bits. (It sorts only what
// top-p can keep: a full sort of LLaMA-3's 128256 logits took 17–19 ms a
// row on the development box, four times a GPU's decode step.)
func (s *Sampler) Sample(logits []float32) int {
	if s.Greedy() {
		return Argmax(logits)
	}
	return compute.SampleRow(logits, s.Bits(), s.Params(), &s.sc)
}
