package quality

import (
	"fmt"
	"math"
)

// MaxN is the largest n-gram order of the token metrics.
const MaxN = 4

// gram is an n-gram of at most MaxN tokens; unused slots hold the zero T, and
// all grams of one count share n, so padding never makes two grams equal.
type gram[T comparable] [MaxN]T

// grams counts the n-grams of a cell's sequences: per sequence (for
// seq-rep-n) and over the whole cell (for distinct-n).
type grams struct {
	total    []int // per sequence: n-grams, max(0, len−n+1)
	distinct []int // per sequence: distinct n-grams
	uniq     int   // distinct n-grams over all sequences
	all      int   // n-grams over all sequences
}

func newGrams[T comparable](seqs [][]T, n int) grams {
	if n < 1 || n > MaxN {
		panic(fmt.Sprintf("quality: n-gram order %d outside 1..%d", n, MaxN))
	}
	g := grams{total: make([]int, len(seqs)), distinct: make([]int, len(seqs))}
	last := map[gram[T]]int{} // n-gram → 1 + the last sequence it was seen in
	for s, seq := range seqs {
		for i := 0; i+n <= len(seq); i++ {
			var k gram[T]
			copy(k[:], seq[i:i+n])
			g.total[s]++
			switch l := last[k]; {
			case l == 0:
				g.uniq++
				fallthrough
			case l != s+1:
				last[k] = s + 1
				g.distinct[s]++
			}
		}
		g.all += g.total[s]
	}
	return g
}

// Distinct returns distinct-n of a cell: the number of distinct n-grams over
// all sequences divided by the number of n-grams, n-grams never crossing
// sequences; NaN if no sequence has n tokens. This is the ratio Li et al.
// (2016, arXiv:1510.03055) introduced, with the n-gram count as denominator
// (their paper divides by the token count, which for n > 1 rewards short
// sequences). It panics unless 1 ≤ n ≤ MaxN.
func Distinct[T comparable](seqs [][]T, n int) float64 {
	return newGrams(seqs, n).distinctN()
}

func (g grams) distinctN() float64 {
	if g.all == 0 {
		return math.NaN()
	}
	return float64(g.uniq) / float64(g.all)
}

// Repetition returns seq-rep-n of one sequence (Welleck et al., "Neural Text
// Generation with Unlikelihood Training", ICLR 2020, arXiv:1908.04319):
// 1 − distinct n-grams / n-grams, the fraction of n-gram positions that
// repeat an n-gram seen earlier in the same sequence. The paper, and
// [ScoreTokens], use n = 4 and average over sequences. NaN if the sequence
// has fewer than n tokens. It panics unless 1 ≤ n ≤ MaxN.
func Repetition[T comparable](seq []T, n int) float64 {
	g := newGrams([][]T{seq}, n)
	return g.repetition(0)
}

func (g grams) repetition(s int) float64 {
	if g.total[s] == 0 {
		return math.NaN()
	}
	return 1 - float64(g.distinct[s])/float64(g.total[s])
}

// Entropy returns the unigram entropy of one sequence in bits,
// H = −Σ_v (c_v/L) log₂(c_v/L) over its distinct tokens v with counts c_v and
// length L; NaN for an empty sequence. Zheng et al. (arXiv:2409.02908)
// average this over generated sequences to expose the loss of diversity that
// lowers generative perplexity. Papers in that line print it in nats:
// multiply by ln 2 to compare.
func Entropy[T comparable](seq []T) float64 {
	if len(seq) == 0 {
		return math.NaN()
	}
	// Counts in order of first appearance, so the sum, and its last bit, does
	// not depend on map iteration order.
	slot := map[T]int{}
	var counts []int
	for _, t := range seq {
		i, ok := slot[t]
		if !ok {
			i = len(counts)
			slot[t] = i
			counts = append(counts, 0)
		}
		counts[i]++
	}
	l := float64(len(seq))
	h := 0.0
	for _, c := range counts {
		p := float64(c) / l
		h -= p * math.Log2(p)
	}
	return h
}

// Diversity holds the token metrics of a cell with bootstrap intervals,
// but for distinct-n: resampling sequences with replacement repeats some,
// which adds n-grams and no distinct ones, so every resample's distinct-n
// fell below the cell's (the demo grid's distinct-1 of 0.695 got [0.371,
// 0.629]); a new sample of generations repeats none. Its bounds are NaN.
type Diversity struct {
	Distinct   [MaxN]Interval // distinct-n for n = 1..4, pooled over the cell; no bounds
	Repetition Interval       // mean seq-rep-4 over sequences of at least 4 tokens
	Entropy    Interval       // mean unigram entropy in bits over non-empty sequences
}

// ScoreTokens computes the token metrics of a cell's generated sequences
// (generated tokens only, no prompt), resampling sequences with b.
func ScoreTokens[T comparable](seqs [][]T, b Bootstrap) Diversity {
	var d Diversity
	var g grams
	for n := 1; n <= MaxN; n++ {
		g = newGrams(seqs, n)
		d.Distinct[n-1] = Interval{Value: g.distinctN(), Lo: math.NaN(), Hi: math.NaN()}
	}
	rep := make([]float64, len(seqs))
	ent := make([]float64, len(seqs))
	for i, s := range seqs {
		rep[i] = g.repetition(i) // g holds the 4-grams now
		ent[i] = Entropy(s)
	}
	d.Repetition = b.Mean(rep)
	d.Entropy = b.Mean(ent)
	return d
}
