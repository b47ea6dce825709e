package bench

import (
	"math"
	"slices"
)

// The metrics a record's Stats holds, each summarised over repetitions.
// Times are in seconds.
const (
	MLatency       = "latency_s"           // per batch, end to end
	MDeviceLatency = "device_latency_s"    // per batch, by the device's clock (compute.DeviceTimer), where the backend has one
	MTTFT          = "ttft_s"              // autoregressive: time to first token
	MTPOT          = "tpot_s"              // autoregressive: (latency − TTFT)/(tokens − 1); none for one token
	MITL50         = "itl_p50_s"           // autoregressive: inter-token latency percentiles over the gaps between a repetition's decode steps (a batch's rows share them; linear interpolation), then their mean ± std over repetitions (vLLM's benchmark pools every gap of a run instead)
	MITL90         = "itl_p90_s"           //
	MITL99         = "itl_p99_s"           //
	MStepTime      = "step_time_s"         // diffusion: mean time per forward call
	MNFE           = "nfe"                 // forward calls per batch
	MTokensPerStep = "tokens_per_step"     // diffusion: tokens committed per forward call and row
	MTokensPerS    = "tokens_per_s"        // generated tokens (never prompt tokens) of every row, a last batch's filling rows included, per second of the repetition
	MUsefulPerS    = "useful_tokens_per_s" // tokens before the first EOS per second
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
	r := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(r))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(r-float64(lo))
}
