package bench

import (
	"math"
	"slices"
)

// The metrics a record holds. Its Stats summarises each over repetitions:
// one value per repetition, then their mean, standard deviation and so on.
// Its Pooled summarises those named there over every sample of every
// repetition taken as one set, as vLLM's benchmark_serving summarises the
// requests of a run. Times are in seconds.
const (
	MLatency       = "latency_s"        // per batch, end to end (pooled too)
	MDeviceLatency = "device_latency_s" // per batch, by the device's clock (compute.DeviceTimer), where the backend has one
	MTTFT          = "ttft_s"           // autoregressive: time to first token, per batch (pooled too)
	MTPOT          = "tpot_s"           // autoregressive: (latency − TTFT)/(tokens − 1) per batch (pooled too); none for one token
	// MITL is the autoregressive inter-token latency: the gaps between a
	// batch's consecutive tokens from the first on (its rows share them, so
	// a gap counts once a step, not once a row). Stats: each repetition's
	// mean gap; Pooled: every gap of every repetition, with its median and
	// 90th and 99th percentiles, as vLLM's benchmark_serving pools every
	// request's. Records of schema 1 held per-repetition percentiles
	// instead (Record.upgrade).
	MITL           = "itl_s"
	MStepTime      = "step_time_s"         // diffusion: mean time per forward call
	MNFE           = "nfe"                 // forward calls per batch
	MTokensPerStep = "tokens_per_step"     // diffusion: tokens committed per forward call and row
	MTokensPerS    = "tokens_per_s"        // generated tokens (never prompt tokens) of every row, a last batch's filling rows included, per second of the repetition
	MUsefulPerS    = "useful_tokens_per_s" // tokens before each row's first EOS (filling rows included, as in MTokensPerS) per second of the repetition
	MEnergyPerTok  = "energy_j_per_token"  // joules per generated token, where measured: the device's whole draw, idle power not subtracted
	MPower         = "power_w"             // mean power: the energy counter's joules over the repetition's time
	MSMClock       = "sm_clock_mhz"        // the GPU's mean SM clock (Rep.Clocks)
	MPowerCapped   = "power_capped"        // share of clock samples held down by the power limit (Rep.Clocks)
)

// Summarize returns the statistics of xs (the sample standard deviation,
// n−1 in the denominator; 0 for a single value).
func Summarize(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	s := Stat{N: len(xs), Min: math.Inf(1), Max: math.Inf(-1)}
	for _, x := range xs {
		s.Mean += x
		s.Min, s.Max = min(s.Min, x), max(s.Max, x)
	}
	s.Mean /= float64(len(xs))
	if len(xs) > 1 {
		var v float64
		for _, x := range xs {
			v += (x - s.Mean) * (x - s.Mean)
		}
		s.Std = math.Sqrt(v / float64(len(xs)-1))
	}
	s.Median = Percentile(xs, 50)
	return s
}

// Percentile returns the p-th percentile of xs with linear interpolation
// between closest ranks (numpy's default).
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return sortedPercentile(s, p)
}

// sortedPercentile is Percentile of s, sorted and not empty.
func sortedPercentile(s []float64, p float64) float64 {
	r := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(r))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(r-float64(lo))
}

// Pool summarises xs, the samples of every repetition of a cell taken as
// one set, as vLLM's benchmark_serving summarises a run (numpy's mean, std
// and percentile): the standard deviation is the population's, n in the
// denominator (Summarize's, over a few repetitions, is the sample's), and
// the percentiles interpolate as Percentile does. It sorts xs in place and
// allocates nothing; no samples give the zero Dist.
func Pool(xs []float64) Dist {
	if len(xs) == 0 {
		return Dist{}
	}
	slices.Sort(xs)
	d := Dist{N: len(xs)}
	for _, x := range xs {
		d.Mean += x
	}
	d.Mean /= float64(len(xs))
	for _, x := range xs {
		d.Std += (x - d.Mean) * (x - d.Mean)
	}
	d.Std = math.Sqrt(d.Std / float64(len(xs)))
	d.Median = sortedPercentile(xs, 50)
	d.P90 = sortedPercentile(xs, 90)
	d.P99 = sortedPercentile(xs, 99)
	return d
}

// pooled summarises, over every batch of every repetition taken as one
// set, as vLLM's benchmark_serving summarises the requests of a run: each
// batch's end-to-end latency, and for an autoregressive cell its TTFT, its
// TPOT (batches of two tokens or more) and every gap between its
// consecutive tokens (MITL: a batch's rows share them, so a gap counts once
// a step, not once a row). Metrics without a sample are left out; nil for
// none. It runs after the repetitions, not in their loop, and allocates
// each pool once, at its size.
func pooled(reps []Rep, diffusion bool) map[string]Dist {
	batches, gaps := 0, 0
	for _, r := range reps {
		batches += len(r.Batches)
		for _, b := range r.Batches {
			gaps += max(len(b.TokenTimesS)-1, 0)
		}
	}
	if batches == 0 {
		return nil
	}
	lat := make([]float64, 0, batches)
	var ttft, tpot, itl []float64
	if !diffusion {
		ttft, tpot, itl = make([]float64, 0, batches), make([]float64, 0, batches), make([]float64, 0, gaps)
	}
	for _, r := range reps {
		for _, b := range r.Batches {
			lat = append(lat, b.LatencyS)
			if diffusion {
				continue
			}
			ttft = append(ttft, b.TTFTS)
			if t, ok := b.TPOT(); ok {
				tpot = append(tpot, t)
			}
			for i := 1; i < len(b.TokenTimesS); i++ {
				itl = append(itl, b.TokenTimesS[i]-b.TokenTimesS[i-1])
			}
		}
	}
	out := map[string]Dist{}
	for _, m := range []struct {
		name string
		xs   []float64
	}{{MLatency, lat}, {MTTFT, ttft}, {MTPOT, tpot}, {MITL, itl}} {
		if len(m.xs) > 0 {
			out[m.name] = Pool(m.xs)
		}
	}
	return out
}

// itlMeans summarises each repetition's mean inter-token gap over the
// repetitions (Stats[MITL]); false when no batch has two tokens.
func itlMeans(reps []Rep) (Stat, bool) {
	means := make([]float64, 0, len(reps))
	for _, r := range reps {
		sum, n := 0.0, 0
		for _, b := range r.Batches {
			for i := 1; i < len(b.TokenTimesS); i++ {
				sum += b.TokenTimesS[i] - b.TokenTimesS[i-1]
				n++
			}
		}
		if n > 0 {
			means = append(means, sum/float64(n))
		}
	}
	if len(means) == 0 {
		return Stat{}, false
	}
	return Summarize(means), true
}
