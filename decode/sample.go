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
	p, w        []float64 // scratch
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

// Sample returns a token id drawn from logits. It sorts only the tokens a
// truncation can keep: the top-k (and their ties), found in one pass, or
// for top-p alone those of probability at least (1 − TopP)/n, whose mass
// reaches TopP before any other's can; at temperature alone it sorts
// nothing. (A full sort of LLaMA-3's 128256 logits took 17–19 ms a row on
// the development box, four times a GPU's decode step.)
func (s *Sampler) Sample(logits []float32) int {
	if s.Greedy() {
		return Argmax(logits)
	}
	n := len(logits)
	if cap(s.idx) < n {
		s.idx, s.p, s.w = make([]int, n), make([]float64, n), make([]float64, n)
	}
	topK := s.TopK > 0 && s.TopK < n
	topP := s.TopP > 0 && s.TopP < 1
	m := float64(logits[Argmax(logits)]) / s.Temperature
	// weight is a token's unnormalised probability, the most likely's 1.
	weight := func(l float32) float64 { return math.Exp(float64(l)/s.Temperature - m) }
	idx := s.idx[:0]
	var total float64 // the whole vocabulary's mass, where top-p needs it
	if topK {
		// Every token at or above the k-th largest logit: the k most likely
		// and those tied with the k-th, as Hugging Face's top-k (which
		// removes only scores below the k-th) and gpt-fast's keep them.
		kth := kthLargest(logits, s.TopK, s.w[:0])
		for i, l := range logits {
			if l >= kth {
				idx = append(idx, i)
			}
		}
	} else {
		w := s.w[:n]
		for i, l := range logits {
			w[i] = weight(l)
			total += w[i]
		}
		if !topP { // the whole vocabulary, in id order
			return draw(w, nil, total, s.rng)
		}
		// Top-p alone: a token below (1 − TopP)/n of the mass comes after
		// every one above it, whose mass is at least TopP; the floor is a
		// hair lower, so that rounding never leaves out one that counts.
		floor := total * (1 - s.TopP) / float64(n) * (1 - 1e-9)
		for i := range w {
			if w[i] >= floor {
				idx = append(idx, i)
			}
		}
	}
	// By logit, descending; ties keep the lower id first.
	slices.SortFunc(idx, func(a, b int) int {
		switch la, lb := logits[a], logits[b]; {
		case la > lb:
			return -1
		case la < lb:
			return 1
		}
		return a - b
	})
	p := s.p[:len(idx)]
	var sum float64
	for r, i := range idx {
		p[r] = weight(logits[i])
		sum += p[r]
	}
	k := len(idx)
	if topP {
		// Keep the smallest prefix whose mass reaches TopP (at least one),
		// of the top-k's mass, or of the whole vocabulary's.
		if topK {
			total = sum
		}
		var acc float64
		for r := range k {
			acc += p[r] / total
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
	return draw(p[:k], idx[:k], sum, s.rng)
}

// draw returns a token with probability p[r]/sum: ids[r], or r where ids is
// nil.
func draw(p []float64, ids []int, sum float64, rng *rand.Rand) int {
	u := rng.Float64() * sum
	r := 0
	for ; r < len(p)-1; r++ {
		if u -= p[r]; u < 0 {
			break
		}
	}
	if ids == nil {
		return r
	}
	return ids[r]
}

// kthLargest is the k-th largest of values (1 ≤ k < len), by a min-heap of
// the k largest seen (heap holds its scratch, k float64s): one comparison a
// value once the heap is full.
func kthLargest(values []float32, k int, heap []float64) float32 {
	h := heap[:0]
	down := func(i int) {
		for {
			c := 2*i + 1
			if c >= len(h) {
				return
			}
			if c+1 < len(h) && h[c+1] < h[c] {
				c++
			}
			if h[i] <= h[c] {
				return
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	for _, v := range values {
		x := float64(v)
		switch {
		case len(h) < k:
			h = append(h, x)
			for i := len(h) - 1; i > 0 && h[(i-1)/2] > h[i]; i = (i - 1) / 2 {
				h[i], h[(i-1)/2] = h[(i-1)/2], h[i]
			}
		case x > h[0]:
			h[0] = x
			down(0)
		}
	}
	return float32(h[0])
}
