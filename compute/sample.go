package compute

import (
	"fmt"
	"math"
	"slices"
)

// SampleParams are a draw's truncations of softmax(logits/Temperature), as
// Hugging Face generate applies them: TopK keeps the tokens at or above
// the k-th largest logit (its ties too), then TopP the smallest set of the
// most likely of those whose probability reaches TopP.
type SampleParams struct {
	Temperature float64 // > 0 and finite
	TopK        int     // 0 (or ≥ the vocabulary): no limit
	TopP        float64 // 0 or 1: no limit
}

// DrawTemperature says whether t is a temperature to draw at: finite and
// > 0 (0 is greedy decoding, Selector's argmax), for the Sampler and the
// GumbelSelector alike.
func DrawTemperature(t float64) bool { return t > 0 && !math.IsInf(t, 1) }

// Word64 is row r's 64 bits in words, the two I32 columns a row (low word
// first) that Sampler's bits and GumbelSelector's keys are.
func Word64(words []int32, r int) uint64 {
	return uint64(uint32(words[2*r])) | uint64(uint32(words[2*r+1]))<<32
}

// PutWord64 stores u as row r of words, as Word64 reads it.
func PutWord64(words []int32, r int, u uint64) {
	words[2*r], words[2*r+1] = int32(uint32(u)), int32(uint32(u>>32))
}

// Check panics unless p is a draw: a finite temperature > 0, top-k ≥ 0 and
// top-p in [0, 1]. Greedy decoding (temperature 0) is Selector's argmax.
func (p SampleParams) Check(op string) {
	if !DrawTemperature(p.Temperature) || p.TopK < 0 || !(p.TopP >= 0 && p.TopP <= 1) {
		Panicf(op, "temperature %g, top-k %d, top-p %g: want a finite temperature > 0, top-k ≥ 0 and top-p in [0, 1]",
			p.Temperature, p.TopK, p.TopP)
	}
}

// Sampler draws tokens on the device, so that only ids cross to the host
// instead of whole rows of logits.
type Sampler interface {
	// Sample writes into ids[r] a column of row r of logits (n × V, finite
	// values) drawn as SampleRow defines it, with row r's 64 random bits
	// bits[r][0] (low word) and bits[r][1] (high word), the same column
	// from the same logits and bits every time (its sums may run in another
	// order than SampleRow's, but in a fixed one). ids is n × 1 I32, bits
	// n × 2 I32; p passes SampleParams.Check; V ≤ SampleMaxCols.
	Sample(ids, logits, bits Tensor, p SampleParams)
}

// SampleMaxCols is the widest row a Sampler takes: a column's id fits the
// low 24 bits of the order key a device sorts by.
const SampleMaxCols = 1 << 24

// SampleScratch is SampleRow's working memory, grown to the row's width
// once and reused.
type SampleScratch struct {
	w    []float64 // each column's weight
	idx  []int     // top-p's candidates
	heap []float64 // top-k's k largest
}

// SampleRow draws a column of row with probability proportional to its
// weight w = e^(l/T − max/T) (float64) among the kept columns, by
// inverse transform: u = the low 53 of bits / 2^53, as math/rand/v2's
// Float64 makes it, and the first kept column in id order whose running
// sum of weights exceeds u times the kept columns' sum (the last kept
// column if rounding leaves none). The kept columns:
//
//   - top-k (0 < TopK < len(row)): those at or above the k-th largest
//     logit;
//   - top-p (0 < TopP < 1), of those: in order of logit, descending, the
//     lower id first on ties, every column up to and including the first at
//     which the running sum of weights reaches TopP times their sum.
//
// Any order of a draw's columns samples the same distribution; id order is
// the one a device can walk without sorting. Sums differing only in the
// order of their terms (a device's), or weights in their last ulp (a
// device's exp, or math.Exp on another CPU: Go's amd64 one uses FMA where
// the CPU has it), pick a different column only where a target (top-p's
// or the draw's) lies within rounding of a column's edge. A temperature so
// small that l/T overflows leaves the weights NaN and the draw meaningless:
// top-p then keeps all, and the draw is the last kept column. It panics on
// parameters SampleParams.Check refuses.
func SampleRow(row []float32, bits uint64, p SampleParams, sc *SampleScratch) int {
	p.Check("SampleRow")
	n := len(row)
	if n == 0 {
		Panicf("SampleRow", "an empty row")
	}
	if cap(sc.w) < n {
		sc.w, sc.idx = make([]float64, n), make([]int, n)
	}
	m := row[0]
	for _, v := range row {
		m = max(m, v)
	}
	// kept: l ≥ kth, and (l, −id) ≥ the top-p boundary's. Only the
	// columns top-k keeps get a weight: the others are never read.
	kth := float32(math.Inf(-1))
	if p.TopK > 0 && p.TopK < n {
		kth = kthLargest(row, p.TopK, &sc.heap)
	}
	mT := float64(m) / p.Temperature
	w := sc.w[:n]
	for i, v := range row {
		if v >= kth {
			w[i] = math.Exp(float64(v)/p.Temperature - mT)
		}
	}
	bl, bi := float32(math.Inf(-1)), n // the boundary: every column at or above (bl, −bi)
	if p.TopP > 0 && p.TopP < 1 {
		// Top-k's columns' weight and count, summed apart from the weights:
		// in their loop the sum's chain made a draw at temperature alone,
		// which needs neither, 40% slower (BenchmarkSample).
		var total float64
		kept := 0
		for i, v := range row {
			if v >= kth {
				total += w[i]
				kept++
			}
		}
		// A column of weight below (1 − TopP)/kept of the sum comes after
		// every one above it, whose weight is at least TopP of the sum; the
		// floor is a hair lower so that rounding never leaves one out.
		floor := total * (1 - p.TopP) / float64(kept) * (1 - 1e-9)
		idx := sc.idx[:0]
		for i, v := range row {
			if v >= kth && w[i] >= floor {
				idx = append(idx, i)
			}
		}
		// Only NaN weights (l/T overflowed: ∞ − ∞) leave no candidate: then
		// top-p keeps every column top-k keeps, as a device's fallback does.
		if len(idx) > 0 {
			slices.SortFunc(idx, func(a, b int) int {
				switch la, lb := row[a], row[b]; {
				case la > lb:
					return -1
				case la < lb:
					return 1
				}
				return a - b
			})
			target, acc := p.TopP*total, 0.0
			last := idx[len(idx)-1]
			for _, i := range idx {
				if acc += w[i]; acc >= target {
					last = i
					break
				}
			}
			bl, bi = row[last], last
		}
	}
	keep := func(i int) bool { v := row[i]; return v >= kth && (v > bl || v == bl && i <= bi) }
	var sum float64
	for i := range row {
		if keep(i) {
			sum += w[i]
		}
	}
	target := float64(bits<<11>>11) / (1 << 53) * sum
	var acc float64
	pick := -1
	for i := range row {
		if keep(i) {
			pick = i
			if acc += w[i]; acc > target {
				break
			}
		}
	}
	return pick
}

// kthLargest is the k-th largest of values (1 ≤ k < len), by a min-heap of
// the k largest seen (in *heap, grown to k once): one comparison a value
// once the heap is full.
func kthLargest(values []float32, k int, heap *[]float64) float32 {
	if cap(*heap) < k {
		*heap = make([]float64, 0, k)
	}
	h := (*heap)[:0]
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
	if len(h) < k {
		panic(fmt.Sprintf("compute: kthLargest: k %d of %d values", k, len(values)))
	}
	return float32(h[0])
}
