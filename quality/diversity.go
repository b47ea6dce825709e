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

// grams holds the n-grams of a cell's sequences in the form distinct-n needs
// under resampling of sequences. A resample's distinct count is the number of
// n-grams held by at least one drawn sequence; most n-grams (for n > 1) occur
// in one sequence only and count exactly when it is drawn, so they are kept
// as a per-sequence count, and only the shared ones keep the list of the
// sequences that hold them.
type grams struct {
	total    []int   // per sequence: n-grams, max(0, len−n+1)
	distinct []int   // per sequence: distinct n-grams
	own      []int   // per sequence: distinct n-grams found in no other sequence
	start    []int32 // shared n-gram k is held by the sequences holders[start[k]:start[k+1]]
	holders  []int32
}

func newGrams[T comparable](seqs [][]T, n int) grams {
	if n < 1 || n > MaxN {
		panic(fmt.Sprintf("quality: n-gram order %d outside 1..%d", n, MaxN))
	}
	g := grams{
		total:    make([]int, len(seqs)),
		distinct: make([]int, len(seqs)),
		own:      make([]int, len(seqs)),
	}
	dict := map[gram[T]]int32{}
	var last []int32 // per n-gram id: 1 + the last sequence it was seen in
	var seen []int32 // ids of each sequence's distinct n-grams, sequence after sequence
	for s, seq := range seqs {
		for i := 0; i+n <= len(seq); i++ {
			var k gram[T]
			copy(k[:], seq[i:i+n])
			id, ok := dict[k]
			if !ok {
				id = int32(len(dict))
				dict[k] = id
				last = append(last, 0)
			}
			g.total[s]++
			if last[id] != int32(s+1) {
				last[id] = int32(s + 1)
				seen = append(seen, id)
				g.distinct[s]++
			}
		}
	}
	holders := make([]int32, len(dict)) // sequences holding each id
	for _, id := range seen {
		holders[id]++
	}
	shared := make([]int32, len(dict)) // id → 1 + index among shared n-grams, 0 if not shared
	g.start = []int32{0}
	for id, h := range holders {
		if h > 1 {
			shared[id] = int32(len(g.start))
			g.start = append(g.start, g.start[len(g.start)-1]+h)
		}
	}
	g.holders = make([]int32, g.start[len(g.start)-1])
	fill := make([]int32, len(g.start)) // next free slot per shared n-gram
	copy(fill, g.start)
	off := 0
	for s, d := range g.distinct {
		for _, id := range seen[off : off+d] {
			if k := shared[id]; k == 0 {
				g.own[s]++
			} else {
				g.holders[fill[k-1]] = int32(s)
				fill[k-1]++
			}
		}
		off += d
	}
	return g
}

// count returns the distinct n-grams and the n-grams of the sequences idx,
// repeats included. It is a bootstrap hot spot: w is scratch with one entry
// per sequence; a shared n-gram's scan stops at its first drawn holder,
// after about 1.6 looks when a bootstrap draws 63% of the sequences.
func (g grams) count(idx []int, w []int32) (uniq, total int) {
	clear(w)
	for _, s := range idx {
		w[s]++
	}
	for s, c := range w {
		if c > 0 {
			uniq += g.own[s]
			total += int(c) * g.total[s]
		}
	}
	for k := 0; k+1 < len(g.start); k++ {
		for _, s := range g.holders[g.start[k]:g.start[k+1]] {
			if w[s] > 0 {
				uniq++
				break
			}
		}
	}
	return uniq, total
}

// distinctStat returns distinct-n as a bootstrap statistic owning its
// scratch: distinct n-grams / n-grams, NaN if there are no n-grams.
func (g grams) distinctStat() func(idx []int) float64 {
	w := make([]int32, len(g.total))
	return func(idx []int) float64 {
		uniq, total := g.count(idx, w)
		if total == 0 {
			return math.NaN()
		}
		return float64(uniq) / float64(total)
	}
}

// Distinct returns distinct-n of a cell: the number of distinct n-grams over
// all sequences divided by the number of n-grams, n-grams never crossing
// sequences; NaN if no sequence has n tokens. This is the ratio Li et al.
// (2016, arXiv:1510.03055) introduced, with the n-gram count as denominator
// (their paper divides by the token count, which for n > 1 rewards short
// sequences). It panics unless 1 ≤ n ≤ MaxN.
func Distinct[T comparable](seqs [][]T, n int) float64 {
	idx := make([]int, len(seqs))
	for i := range idx {
		idx[i] = i
	}
	return newGrams(seqs, n).distinctStat()(idx)
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

// Diversity holds the token metrics of a cell with bootstrap intervals.
type Diversity struct {
	Distinct   [MaxN]Interval // distinct-n for n = 1..4, pooled over the cell
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
		d.Distinct[n-1] = b.Interval(len(seqs), g.distinctStat())
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
