package bench

import (
	"sync"
	"time"

	"dllmbench/compute/device"
)

// Clocks is a GPU's SM clock over one repetition, sampled through NVML
// every clockEvery while it runs and once at its end (not at its start,
// before its work: the first repetition follows an idle wait for the
// energy counter, whose clock is not the work's): whether the repetition ran
// at the card's highest clock (the record's env.gpu.sm_clock_max_mhz) and,
// where it did not, why. A card at its
// power limit runs long, heavy work at lower clocks than a short burst of
// the same work (docs/perf.md, CUDA v16), so two results are comparable
// only at comparable clocks.
type Clocks struct {
	Samples     int     `json:"samples"`
	SMMHz       float64 `json:"sm_mhz"` // the samples' mean
	SMMinMHz    int     `json:"sm_min_mhz"`
	PowerCapped float64 `json:"power_capped"` // share of the samples held down by the power limit
	Thermal     float64 `json:"thermal"`      // share held down for temperature
}

// clockEvery is the interval between clock samples.
const clockEvery = 20 * time.Millisecond

// clockSampler reads a GPU's clocks in its own goroutine while a
// repetition runs.
type clockSampler struct {
	m    device.ClockMonitor
	halt func() // ends the ticking
	acc  clockAcc
}

// ticking calls f every interval in a goroutine of its own until the
// returned stop is called; stop waits for a call in progress to return,
// and may be called again. The clock sampler and the energy timeline
// both read NVML this way.
func ticking(every time.Duration, f func()) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				f()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			<-done
		})
	}
}

// clockAcc sums clock samples.
type clockAcc struct {
	n, min, capped, thermal int
	sum                     float64
}

func (a *clockAcc) add(s device.ClockSample) {
	if a.n == 0 || s.SMMHz < a.min {
		a.min = s.SMMHz
	}
	a.n++
	a.sum += float64(s.SMMHz)
	if s.PowerCapped {
		a.capped++
	}
	if s.Thermal {
		a.thermal++
	}
}

// clocks is the summary of the samples, nil without any.
func (a *clockAcc) clocks() *Clocks {
	if a.n == 0 {
		return nil
	}
	n := float64(a.n)
	return &Clocks{Samples: a.n, SMMHz: a.sum / n, SMMinMHz: a.min,
		PowerCapped: float64(a.capped) / n, Thermal: float64(a.thermal) / n}
}

// startClocks samples m's clocks every interval from now until stop, and
// once more at the stop. It returns nil, which samples nothing, where m
// reads no clocks.
func startClocks(m device.Monitor, every time.Duration) *clockSampler {
	cm, ok := m.(device.ClockMonitor)
	if !ok {
		return nil
	}
	s := &clockSampler{m: cm}
	s.halt = ticking(every, s.sample)
	return s
}

func (s *clockSampler) sample() {
	if c, ok := s.m.Clocks(); ok {
		s.acc.add(c)
	}
}

// Stop ends the sampling with a last sample and returns the summary: nil
// for a nil sampler or where no reading succeeded.
func (s *clockSampler) Stop() *Clocks {
	if s == nil {
		return nil
	}
	s.halt()
	s.sample()
	return s.acc.clocks()
}
