// Package decode turns a model's logits into tokens: autoregressive
// generation for causal models, and the diffusion decoders of LLaDA (the
// reference loop and Fast-dLLM's caches and parallel rules).
package decode

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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

// GumbelArgmax samples from softmax(logits/temperature) with the Gumbel-max
// trick in float64, as LLaDA's add_gumbel_noise does: its
// argmax(e^l / (−log u)^T) is argmax(l + T·g) with g = −log(−log u).
// Temperature 0 is the argmax. The token exclude (−1 for none) is never
// chosen: the diffusion decoder excludes the mask token, which would leave
// its position masked.
func GumbelArgmax(logits []float32, temperature float64, exclude int, rng *rand.Rand) int {
	best, bestV := -1, math.Inf(-1)
	for i, l := range logits {
		v := float64(l)
		if temperature != 0 {
			u := rng.Float64()
			for u == 0 {
				u = rng.Float64()
			}
			v -= temperature * math.Log(-math.Log(u))
		}
		if i != exclude && (best < 0 || v > bestV) {
			best, bestV = i, v
		}
	}
	return best
}

// Sampler picks the next token of autoregressive generation: greedy at
// temperature 0, otherwise from softmax(logits/temperature) restricted to
// the TopK most likely tokens (and those tied with the TopK-th) and then to
// the smallest set whose probability reaches TopP, in that order, as Hugging
// Face generate applies them.
type Sampler struct {
	Temperature float64
	TopK        int     // 0: no limit
	TopP        float64 // 0 or 1: no limit
	rng         *rand.Rand
	idx         []int     // scratch, sized to the vocabulary once
	p           []float64 // scratch
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

// Sample returns a token id drawn from logits.
func (s *Sampler) Sample(logits []float32) int {
	if s.Greedy() {
		return Argmax(logits)
	}
	n := len(logits)
	if cap(s.idx) < n {
		s.idx, s.p = make([]int, n), make([]float64, n)
	}
	idx, p := s.idx[:n], s.p[:n]
	for i := range idx {
		idx[i] = i
	}
	// Sort by logit, descending; ties keep the lower id first.
	slices.SortFunc(idx, func(a, b int) int {
		switch la, lb := logits[a], logits[b]; {
		case la > lb:
			return -1
		case la < lb:
			return 1
		}
		return a - b
	})
	k := n
	if s.TopK > 0 && s.TopK < n {
		k = s.TopK
		// Tokens tied with the k-th stay in, as Hugging Face's top-k (which
		// removes only scores below the k-th) and gpt-fast's keep them.
		for k < n && logits[idx[k]] == logits[idx[k-1]] {
			k++
		}
	}
	m := float64(logits[idx[0]]) / s.Temperature
	var sum float64
	for r := range k {
		p[r] = math.Exp(float64(logits[idx[r]])/s.Temperature - m)
		sum += p[r]
	}
	if s.TopP > 0 && s.TopP < 1 {
		// Keep the smallest prefix whose mass reaches TopP (at least one).
		var acc float64
		for r := range k {
			acc += p[r] / sum
			if acc >= s.TopP {
				k = r + 1
				break
			}
		}
		sum = 0
		for r := range k {
			sum += p[r]
		}
	}
	u := s.rng.Float64() * sum
	for r := range k {
		u -= p[r]
		if u < 0 {
			return idx[r]
		}
	}
	return idx[k-1]
}
