package quality

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Interval is a point estimate with a two-sided confidence interval.
type Interval struct {
	Value  float64 // the statistic on the full sample
	Lo, Hi float64 // percentile bootstrap bounds
}

// Bootstrap configures percentile bootstrap intervals (Efron & Tibshirani,
// An Introduction to the Bootstrap, 1993, §13.3): the statistic is
// recomputed on Resamples samples of n items drawn with replacement, and the
// bounds are the (1−Level)/2 and (1+Level)/2 quantiles of those values. The
// zero value means 1000 resamples, a 95% level and seed 0.
type Bootstrap struct {
	Resamples int     // resamples; 0 means 1000
	Level     float64 // confidence level in (0, 1); 0 means 0.95
	Seed      uint64  // seed of the PCG generator; equal seeds draw equal resamples

	// ctx, set by Compute, cuts the resamples short once it is cancelled:
	// the interval then has NaN bounds, and Compute returns ctx's error
	// instead of the metrics.
	ctx context.Context
}

// context is the context that cuts b's work short: Background unless
// Compute set one.
func (b Bootstrap) context() context.Context {
	if b.ctx == nil {
		return context.Background()
	}
	return b.ctx
}

// Validate reports a configuration that Interval would reject: negative
// resamples, or a level outside (0, 1). Check user settings with it.
func (b Bootstrap) Validate() error {
	if b.Resamples < 0 || b.Level != 0 && !(b.Level > 0 && b.Level < 1) {
		return fmt.Errorf("bootstrap with %d resamples at level %v: want resamples ≥ 0 and a level in (0, 1)", b.Resamples, b.Level)
	}
	return nil
}

// Interval returns stat on the items 0..n-1 and its bootstrap interval. stat
// gets the indices of the items in a sample, repeats included; it is called
// once per resample, one call at a time, and may keep scratch space between
// calls. Resamples whose statistic is NaN (undefined on that sample) are left
// out of the quantiles; with n = 0, or with every resample NaN, the bounds are
// NaN. It panics if b is invalid (see Validate) or n < 0.
func (b Bootstrap) Interval(n int, stat func(idx []int) float64) Interval {
	if err := b.Validate(); err != nil || n < 0 {
		panic(fmt.Sprintf("quality: bootstrap of %d items: %v", n, err))
	}
	resamples, level := b.Resamples, b.Level
	if resamples == 0 {
		resamples = 1000
	}
	if level == 0 {
		level = 0.95
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	out := Interval{Value: stat(idx), Lo: math.NaN(), Hi: math.NaN()}
	if n == 0 {
		return out
	}
	rng := rand.New(rand.NewPCG(b.Seed, 0))
	vals := make([]float64, 0, resamples)
	done := b.context().Done()
	for r := range resamples {
		if r%64 == 0 && done != nil {
			select {
			case <-done:
				return out // abandoned: the caller discards it
			default:
			}
		}
		for i := range idx {
			idx[i] = rng.IntN(n)
		}
		if v := stat(idx); !math.IsNaN(v) {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return out
	}
	slices.Sort(vals)
	out.Lo = quantile(vals, (1-level)/2)
	out.Hi = quantile(vals, (1+level)/2)
	return out
}

// Mean returns the mean of the non-NaN values and its bootstrap interval:
// NaN marks an item on which a per-item metric is undefined.
func (b Bootstrap) Mean(vals []float64) Interval {
	return b.Interval(len(vals), func(idx []int) float64 { return meanAt(vals, idx) })
}

// meanAt is the mean of the non-NaN vals[i] for i in idx, NaN if none.
func meanAt(vals []float64, idx []int) float64 {
	sum, k := 0.0, 0
	for _, i := range idx {
		if v := vals[i]; !math.IsNaN(v) {
			sum += v
			k++
		}
	}
	if k == 0 {
		return math.NaN()
	}
	return sum / float64(k)
}

// quantile is the q-quantile of sorted x by linear interpolation between
// order statistics, x[⌊h⌋] + (h−⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋]) with h = (len(x)−1)q:
// Hyndman & Fan's type 7, numpy.percentile's default.
func quantile(x []float64, q float64) float64 {
	h := float64(len(x)-1) * q
	lo := int(math.Floor(h))
	if lo+1 >= len(x) {
		return x[len(x)-1]
	}
	return x[lo] + (h-float64(lo))*(x[lo+1]-x[lo])
}
