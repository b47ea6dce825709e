package bench

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"dllmbench/compute"
	"dllmbench/compute/cpu"
	"dllmbench/compute/device"
	"dllmbench/model"
)

// fakeClocks is a GPU monitor whose clock readings come from a script, in
// turn; its energy counter gains a joule at each reading.
type fakeClocks struct {
	mu      sync.Mutex
	script  []device.ClockSample // nil: Clocks fails
	reads   int
	at      []time.Time // when each clock reading was taken
	energyJ float64
}

func (f *fakeClocks) Energy() (float64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.energyJ++
	return f.energyJ, true
}

func (f *fakeClocks) EnergySource() string                { return "fake" }
func (f *fakeClocks) ProcessMemory() (int64, int64, bool) { return 0, 0, false }

func (f *fakeClocks) Clocks() (device.ClockSample, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.script == nil {
		return device.ClockSample{}, false
	}
	s := f.script[f.reads%len(f.script)]
	f.reads++
	f.at = append(f.at, time.Now())
	return s, true
}

// count is the number of clock readings so far.
func (f *fakeClocks) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// The summary of a repetition's samples is their mean, their minimum and
// the shares of each reason. With an interval longer than the work, a
// repetition has its last sample only: none is taken at its start, before
// its work.
func TestClockSamplerSummary(t *testing.T) {
	f := &fakeClocks{script: []device.ClockSample{{SMMHz: 1500, PowerCapped: true}, {SMMHz: 1900, Thermal: true}}}
	s := startClocks(f, time.Hour)
	if n := f.count(); n != 0 {
		t.Errorf("%d samples at the start, want none", n)
	}
	s.sample() // a tick
	got := s.Stop()
	want := &Clocks{Samples: 2, SMMHz: 1700, SMMinMHz: 1500, PowerCapped: 0.5, Thermal: 0.5}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("summary (-want +got):\n%s", d)
	}
	// Sampling goes on while the work runs, at the interval asked for. The
	// test waits for the samples rather than for a fixed time, and holds
	// the quickest quarter of the gaps between them to the interval: on a
	// loaded machine a tick can come tens of milliseconds late (two cores
	// running every package's tests and busy loops left 3 samples in the
	// 30 ms in which this test once wanted 5), and half of them can, but a
	// quarter still come on time. A sampler at clockEvery instead (20 ms)
	// fails it, and one that samples only at its end never gets the
	// samples.
	f = &fakeClocks{script: []device.ClockSample{{SMMHz: 1600, PowerCapped: true}}}
	s = startClocks(f, time.Millisecond)
	for deadline := time.Now().Add(10 * time.Second); f.count() < 21 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if c := s.Stop(); c == nil || c.Samples < 22 || c.SMMHz != 1600 || c.PowerCapped != 1 || c.Thermal != 0 {
		t.Errorf("sampled every millisecond: %+v, want at least 22 samples within 10 s, all at 1600 MHz and power-capped", c)
	}
	var gaps []time.Duration
	for i := 1; i < len(f.at); i++ {
		gaps = append(gaps, f.at[i].Sub(f.at[i-1]))
	}
	slices.Sort(gaps)
	if q := gaps[len(gaps)/4]; q > 5*time.Millisecond {
		t.Errorf("sampled every millisecond: the quickest quarter of the gaps up to %v, want 5 ms at most", q)
	}
	reads := f.count()
	time.Sleep(5 * time.Millisecond)
	if n := f.count(); n != reads {
		t.Errorf("%d readings after Stop", n-reads)
	}
	// No summary where nothing could be read, nor from a monitor without
	// clocks (nil sampler).
	if c := startClocks(&fakeClocks{}, time.Hour).Stop(); c != nil {
		t.Errorf("readings failed, summary %+v", c)
	}
	if s := startClocks(device.NewCPUMonitor(), time.Hour); s != nil || s.Stop() != nil {
		t.Errorf("a monitor without clocks got a sampler")
	}
}

// measure gives every repetition its clocks and the record the clock,
// power-cap and power statistics where the monitor reads them.
func TestMeasureClocks(t *testing.T) {
	cell := Cell{Model: "llama", Family: "llama", Batch: 1, PromptLen: 4, GenLen: 4}
	for _, clocks := range []bool{true, false} {
		f := &fakeClocks{}
		if clocks {
			f.script = []device.ClockSample{{SMMHz: 1650, PowerCapped: true}, {SMMHz: 1950}}
		}
		b := cpu.New(1)
		cr := &cellRun{cell: cell, m: loadTiny(t, model.Llama, b), ids: [][]int{{1, 2, 3}}, reps: 3, warmup: 0, seed: 1, monitor: f}
		var rec Record
		if err := cr.measure(context.Background(), &rec); err != nil {
			t.Fatal(err)
		}
		b.Close()
		// The capped samples are those at 1650 MHz, so the mean clock
		// follows from their share. (A repetition of the tiny model,
		// shorter than clockEvery, may have its last sample only.)
		for i, r := range rec.Reps {
			if c := r.Clocks; clocks != (c != nil) || c != nil && (c.Samples < 1 ||
				(c.PowerCapped > 0) != (c.SMMinMHz == 1650) || math.Abs(c.SMMHz-(1950-300*c.PowerCapped)) > 1e-9 || c.Thermal != 0) {
				t.Errorf("clocks %v: repetition %d's clocks %+v", clocks, i, c)
			}
		}
		for _, m := range []string{MSMClock, MPowerCapped} {
			if st, has := rec.Stats[m]; has != clocks || has && st.N != 3 {
				t.Errorf("clocks %v: %s %+v (present %v)", clocks, m, st, has)
			}
		}
		// One joule between the readings around each repetition.
		if st := rec.Stats[MPower]; st.N != 3 || st.Min <= 0 || st.Mean != Summarize(powers(rec.Reps)).Mean {
			t.Errorf("clocks %v: %s %+v", clocks, MPower, st)
		}
	}
}

func powers(reps []Rep) []float64 {
	var p []float64
	for _, r := range reps {
		p = append(p, *r.EnergyJ/r.TotalS)
	}
	return p
}

// A repetition cut short (here by a cancelled context) stops its sampler
// too: no readings go on after measure returns.
func TestMeasureStopsClocksOnError(t *testing.T) {
	f := &fakeClocks{script: []device.ClockSample{{SMMHz: 1600}}}
	b := cpu.New(1)
	defer b.Close()
	cr := &cellRun{cell: Cell{Model: "llama", Family: "llama", Batch: 1, PromptLen: 4, GenLen: 4},
		m: loadTiny(t, model.Llama, b), ids: [][]int{{1, 2, 3}}, reps: 2, seed: 1, monitor: f}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var rec Record
	if err := cr.measure(ctx, &rec); err != context.Canceled {
		t.Fatalf("measure with a cancelled context: %v", err)
	}
	f.mu.Lock()
	reads := f.reads
	f.mu.Unlock()
	time.Sleep(5 * clockEvery)
	f.mu.Lock()
	defer f.mu.Unlock()
	if reads == 0 || f.reads != reads {
		t.Errorf("%d readings before measure returned, %d after; want some, then none", reads, f.reads-reads)
	}
}

// busyBackend notes when the first forward call's inputs are written: the
// device is busy from then on.
type busyBackend struct {
	compute.Backend
	mu   sync.Mutex
	busy bool
}

func (b *busyBackend) Write(dst compute.Tensor, src any) {
	b.mu.Lock()
	b.busy = true
	b.mu.Unlock()
	b.Backend.Write(dst, src)
}

// idleUntilBusy is a GPU whose clock is at its idle reading, unthrottled,
// until the backend runs, and held down by the power limit after.
type idleUntilBusy struct{ b *busyBackend }

func (f idleUntilBusy) Energy() (float64, bool)             { return 0, false }
func (f idleUntilBusy) EnergySource() string                { return "fake" }
func (f idleUntilBusy) ProcessMemory() (int64, int64, bool) { return 0, 0, false }
func (f idleUntilBusy) Clocks() (device.ClockSample, bool) {
	f.b.mu.Lock()
	defer f.b.mu.Unlock()
	if !f.b.busy {
		return device.ClockSample{SMMHz: 345}, true
	}
	return device.ClockSample{SMMHz: 1600, PowerCapped: true}, true
}

// A repetition's clocks are sampled while it runs, never before its work
// starts: a first repetition after an idle device (no warm-up here, a
// wait for the energy counter's step on a GPU) would otherwise count the
// idle clock and an unthrottled sample in its mean and its power-cap
// share.
func TestMeasureClocksInsideRepetition(t *testing.T) {
	cb := cpu.New(1)
	t.Cleanup(cb.Close)
	bb := &busyBackend{Backend: cb}
	cell := Cell{Model: "llama", Family: "llama", Batch: 1, PromptLen: 4, GenLen: 4}
	cr := &cellRun{cell: cell, m: loadTiny(t, model.Llama, bb), ids: [][]int{{1, 2, 3}}, reps: 2, warmup: 0, seed: 1,
		monitor: idleUntilBusy{bb}}
	bb.busy = false // loading wrote the weights
	var rec Record
	if err := cr.measure(context.Background(), &rec); err != nil {
		t.Fatal(err)
	}
	for i, r := range rec.Reps {
		if c := r.Clocks; c == nil || c.SMMinMHz != 1600 || c.PowerCapped != 1 {
			t.Errorf("repetition %d's clocks %+v; want only samples of its work: 1600 MHz, all power-capped", i, c)
		}
	}
}
