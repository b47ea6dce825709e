package quality

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestQuantile(t *testing.T) {
	tests := []struct {
		x    []float64
		q    float64
		want float64
	}{
		// numpy.percentile docs: a = [[10, 7, 4], [3, 2, 1]], percentile(a, 50) = 3.5.
		{[]float64{1, 2, 3, 4, 7, 10}, 0.5, 3.5},
		// h = 3·0.25 = 0.75: 1 + 0.75·(2−1).
		{[]float64{1, 2, 3, 4}, 0.25, 1.75},
		// The ends are the extremes.
		{[]float64{1, 2, 3, 4}, 0, 1},
		{[]float64{1, 2, 3, 4}, 1, 4},
		// One value is every quantile.
		{[]float64{5}, 0.975, 5},
	}
	for _, tt := range tests {
		if got := quantile(tt.x, tt.q); got != tt.want {
			t.Errorf("quantile(%v, %v) = %v, want %v", tt.x, tt.q, got, tt.want)
		}
	}
}

func normals(n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

func TestBootstrapMean(t *testing.T) {
	vals := normals(400, 1)
	iv := Bootstrap{}.Mean(vals)
	mean, sd := 0.0, 0.0
	for _, v := range vals {
		mean += v
	}
	mean /= float64(len(vals))
	for _, v := range vals {
		sd += (v - mean) * (v - mean)
	}
	sd = math.Sqrt(sd / float64(len(vals)))
	if math.Abs(iv.Value-mean) > 1e-15 {
		t.Errorf("point estimate %v, want the sample mean %v", iv.Value, mean)
	}
	// The percentile interval of a mean approaches mean ± 1.96·sd/√n
	// (normal 97.5% quantile); 1000 resamples put ~5% noise on each bound.
	half := 1.959964 * sd / math.Sqrt(float64(len(vals)))
	if math.Abs((iv.Hi-iv.Lo)/2-half) > 0.1*half || math.Abs((iv.Hi+iv.Lo)/2-mean) > 0.1*half {
		t.Errorf("interval [%v, %v], want about %v ± %v", iv.Lo, iv.Hi, mean, half)
	}
	if again := (Bootstrap{}).Mean(vals); again != iv {
		t.Errorf("same seed gave %+v then %+v", iv, again)
	}
	if other := (Bootstrap{Seed: 2}).Mean(vals); other == iv {
		t.Errorf("seeds 0 and 2 gave the same interval %+v", iv)
	}
}

func TestBootstrapCoverage(t *testing.T) {
	// Draw 200 samples of 50 standard normals; the 95% interval of the mean
	// should cover the true mean 0 in about 95% of them. The percentile
	// bootstrap runs a little narrow at n = 50, and 200 trials have a
	// binomial sd of 1.5 points, so accept 88–99%.
	const trials = 200
	covered := 0
	for i := range trials {
		iv := Bootstrap{Seed: uint64(i)}.Mean(normals(50, uint64(1000+i)))
		if iv.Lo <= 0 && 0 <= iv.Hi {
			covered++
		}
	}
	if c := float64(covered) / trials; c < 0.88 || c > 0.99 {
		t.Errorf("coverage %.3f, want about 0.95", c)
	}
}

func TestBootstrapEdges(t *testing.T) {
	// Constant values: the interval collapses.
	iv := Bootstrap{}.Mean([]float64{2, 2, 2})
	if iv != (Interval{2, 2, 2}) {
		t.Errorf("constant: %+v", iv)
	}
	// No items: the statistic of nothing, no bounds.
	iv = Bootstrap{}.Mean(nil)
	if !math.IsNaN(iv.Value) || !math.IsNaN(iv.Lo) || !math.IsNaN(iv.Hi) {
		t.Errorf("empty: %+v", iv)
	}
	// Undefined items are left out of the mean.
	iv = Bootstrap{}.Mean([]float64{math.NaN(), 1, 3})
	if iv.Value != 2 || iv.Lo < 1 || iv.Hi > 3 {
		t.Errorf("with NaN: %+v", iv)
	}
	// Resamples where the statistic is undefined do not enter the bounds:
	// here about 30% of resamples of {NaN, NaN, 5} are all NaN.
	iv = Bootstrap{}.Mean([]float64{math.NaN(), math.NaN(), 5})
	if iv != (Interval{5, 5, 5}) {
		t.Errorf("mostly NaN: %+v", iv)
	}
	// The statistic sees every resample with n indices in 0..n-1.
	calls := 0
	Bootstrap{Resamples: 10}.Interval(4, func(idx []int) float64 {
		calls++
		if len(idx) != 4 {
			t.Fatalf("resample of %d indices", len(idx))
		}
		for _, i := range idx {
			if i < 0 || i >= 4 {
				t.Fatalf("index %d", i)
			}
		}
		return 0
	})
	if calls != 11 { // the full sample, then 10 resamples
		t.Errorf("%d calls, want 11", calls)
	}
}

func TestBootstrapMisusePanics(t *testing.T) {
	// The zero value and explicit settings in range are valid.
	for _, b := range []Bootstrap{{}, {Resamples: 10, Level: 0.9, Seed: 3}} {
		if err := b.Validate(); err != nil {
			t.Errorf("Validate(%+v): %v", b, err)
		}
	}
	for _, b := range []Bootstrap{{Level: 1}, {Level: -0.5}, {Level: math.NaN()}, {Resamples: -1}} {
		if b.Validate() == nil {
			t.Errorf("Validate accepts %+v", b)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%+v did not panic", b)
				}
			}()
			b.Mean([]float64{1})
		}()
	}
}
