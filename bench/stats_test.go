package bench

import (
	"math"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// itlReps are two repetitions of one batch of four tokens each: the first
// gets a token every 10 ms, the second after 10, 20 and 40 ms.
func itlReps() []Rep {
	return []Rep{
		{Batches: []BatchMeasure{{Rows: 1, LatencyS: 0.05, TTFTS: 0.02, TokenTimesS: []float64{0.02, 0.03, 0.04, 0.05}}}},
		{Batches: []BatchMeasure{{Rows: 1, LatencyS: 0.09, TTFTS: 0.02, TokenTimesS: []float64{0.02, 0.03, 0.05, 0.09}}}},
	}
}

// itlPooled is the pool of itlReps' six gaps, sorted 10, 10, 10, 10, 20,
// 40 ms, as numpy summarises it (vLLM's benchmark_serving): np.percentile
// interpolates at rank p/100·(n−1), so the median at 2.5 is 10 ms, p90 at
// 4.5 is 30 ms and p99 at 4.95 is 39 ms; np.mean is 100/6 ms and np.std,
// the population's, √((Σx² − n·mean²)/n) = √((2400 − 10000/6)/6) = √1100/3 ms.
// Each repetition's own percentiles averaged, as schema 1 did, give a
// median of 15 ms, p90 23 ms and p99 24.8 ms instead.
var itlPooled = Dist{N: 6, Mean: 0.1 / 6, Std: math.Sqrt(1100) / 3 / 1e3, Median: 0.01, P90: 0.03, P99: 0.039}

// itlRepsPooled is everything summarize pools of itlReps: the batches'
// latencies (50 and 90 ms), TTFTs (20 ms each), TPOTs ((latency − TTFT)/3:
// 10 and 70/3 ms) and the six gaps (itlPooled), each as numpy summarises
// it: the population's standard deviation, half the two values'
// difference; p90 and p99 at 0.9 and 0.99 of the way from one to the other.
func itlRepsPooled() map[string]Dist {
	return map[string]Dist{
		MLatency: {N: 2, Mean: 0.07, Std: 0.02, Median: 0.07, P90: 0.086, P99: 0.0896},
		MTTFT:    {N: 2, Mean: 0.02, Median: 0.02, P90: 0.02, P99: 0.02},
		MTPOT:    {N: 2, Mean: 0.05 / 3, Std: 0.02 / 3, Median: 0.05 / 3, P90: 0.01 + 0.9*0.04/3, P99: 0.01 + 0.99*0.04/3},
		MITL:     itlPooled,
	}
}

// itlPerRep is the repetitions' mean gaps, 10 and 70/3 ms, summarised over
// the two: the sample standard deviation is their difference over √2.
var itlPerRep = Stat{N: 2, Mean: 0.05 / 3, Std: 0.04 / 3 / math.Sqrt2, Median: 0.05 / 3, Min: 0.01, Max: 0.07 / 3}

// approx compares the floats of Stats and Dists to rounding: the gaps are
// differences of token times.
var approx = cmpopts.EquateApprox(0, 1e-12)

// The inter-token latency of an autoregressive cell is pooled over its
// repetitions: its percentiles are over every gap of every repetition,
// not each repetition's averaged, and Stats keeps each repetition's mean
// gap with its spread over repetitions.
func TestSummarizePoolsITL(t *testing.T) {
	stats, pooled := summarize(itlReps(), false)
	if d := cmp.Diff(itlRepsPooled(), pooled, approx); d != "" {
		t.Errorf("pooled (-want +got):\n%s", d)
	}
	if d := cmp.Diff(itlPerRep, stats[MITL], approx); d != "" {
		t.Errorf("stats[%s] (-want +got):\n%s", MITL, d)
	}
	for _, k := range []string{"itl_p50_s", "itl_p90_s", "itl_p99_s"} {
		if st, has := stats[k]; has {
			t.Errorf("stats has schema 1's %s = %+v", k, st)
		}
	}
	// Diffusion batches have only their latencies pooled.
	_, pooled = summarize([]Rep{{Batches: []BatchMeasure{{Rows: 1, LatencyS: 2, StepTimesS: []float64{1, 2}}}}}, true)
	if d := cmp.Diff(map[string]Dist{MLatency: {N: 1, Mean: 2, Median: 2, P90: 2, P99: 2}}, pooled); d != "" {
		t.Errorf("a diffusion cell's pool (-want +got):\n%s", d)
	}
}

// Pool sorts in place and allocates nothing: it runs on a buffer made at
// its size.
func TestPoolAllocatesNothing(t *testing.T) {
	xs := []float64{0.04, 0.01, 0.01, 0.02, 0.01, 0.01}
	if d := cmp.Diff(itlPooled, Pool(xs), approx); d != "" {
		t.Errorf("Pool (-want +got):\n%s", d)
	}
	if !slices.IsSorted(xs) {
		t.Errorf("Pool left %v unsorted", xs)
	}
	if n := testing.AllocsPerRun(10, func() { Pool(xs) }); n != 0 {
		t.Errorf("Pool allocates %v times", n)
	}
	if d := Pool(nil); d != (Dist{}) {
		t.Errorf("Pool(nil) = %+v, want the zero Dist", d)
	}
}
