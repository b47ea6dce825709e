package bench

import (
	"context"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dllmbench/compute"
	"dllmbench/compute/cpu"
	"dllmbench/compute/device"
	"dllmbench/model"
)

// fakeStepped is a monitor with a stepped energy counter. With watts set,
// the counter is real time's: it moves every step, by watts × step, as
// NVML's does every 100 ms. Otherwise it gains a millijoule at each
// reading, until failAfter readings (if set), after which readings fail.
// period is what it claims as its period, which the timeline waits and
// tests spans by.
type fakeStepped struct {
	mu        sync.Mutex
	period    time.Duration
	watts     float64
	step      time.Duration
	t0        time.Time
	reads     int
	failAfter int
	frozen    bool          // the counter never moves
	lag       time.Duration // every reading but the first takes this long, as a starved poll comes late
}

func (f *fakeStepped) Energy() (float64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.reads > 1 {
		time.Sleep(f.lag) // under the lock: only the timeline's poll reads it
	}
	switch {
	case f.failAfter > 0 && f.reads > f.failAfter:
		return 0, false
	case f.frozen:
		return 5, true
	case f.watts > 0:
		n := time.Since(f.t0) / f.step
		return float64(n) * f.watts * f.step.Seconds(), true
	}
	return float64(f.reads) / 1000, true
}

func (f *fakeStepped) EnergySource() string                { return "fake" }
func (f *fakeStepped) ProcessMemory() (int64, int64, bool) { return 0, 0, false }
func (f *fakeStepped) EnergyPeriod() time.Duration         { return f.period }

func TestEnergyAt(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	steps := []energyStep{{ms(0), 10}, {ms(100), 80}, {ms(200), 150}, {ms(300), 150.5}}
	for _, c := range []struct {
		at   int
		want float64
		ok   bool
	}{
		{-1, 0, false}, {0, 10, true}, {50, 45, true}, {100, 80, true}, {175, 132.5, true}, {250, 150.25, true},
		{300, 0, false}, {400, 0, false},
	} {
		got, ok := energyAt(steps, ms(c.at))
		if ok != c.ok || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("energyAt(%d ms) = %v, %v; want %v, %v", c.at, got, ok, c.want, c.ok)
		}
	}
	if _, ok := energyAt(nil, t0); ok {
		t.Error("energyAt with no steps reported a value")
	}
}

// Repetitions of 5 ms on a counter that moves every 20 ms by 10 J (500 W):
// the difference of two readings around each is 0 or 10 J (three in four
// read 0); the timeline gives each its share, 2.5 J, to within what its
// polls' lateness allows. The line through the steps as read passes within
// 500 W × L of the counter's own line (through the instants it moved) at
// any instant between two steps read at most L late, so a repetition is off
// by at most 500 W × (the lateness around its start + that around its end).
// That bound holds however late the polls come on a loaded machine, where a
// fixed tolerance failed (CI's two cores running every package's tests);
// that the timeline polls often is a check of its own: the quickest quarter
// of the steps is read within 5 ms, which a loaded machine still gives and a
// poll every 20 ms does not. Two readings around each repetition break the
// bound wherever the polls were prompt.
func TestEnergyTimelineShortRepetitions(t *testing.T) {
	const watts, rep = 500.0, 5 * time.Millisecond
	// The counter moves half a step out of phase with the polls' start, so
	// that polls as slow as the steps do not read each as it comes.
	f := &fakeStepped{period: 20 * time.Millisecond, watts: watts, step: 20 * time.Millisecond, t0: time.Now().Add(-10 * time.Millisecond)}
	tl := startEnergyTimeline(f)
	defer tl.Stop()
	ctx := context.Background()
	if ok, err := tl.awaitStep(ctx, time.Now()); !ok || err != nil {
		t.Fatalf("no step before the repetitions: %v, %v", ok, err)
	}
	var spans []repSpan
	var naive []float64
	for range 48 {
		e0, _ := f.Energy()
		s := repSpan{start: time.Now()}
		time.Sleep(rep)
		s.end = time.Now()
		e1, _ := f.Energy()
		spans, naive = append(spans, s), append(naive, e1-e0)
	}
	reps := make([]Rep, len(spans))
	note, err := tl.measureStepped(ctx, reps, spans)
	if err != nil || note != "" {
		t.Fatalf("measureStepped: %q, %v", note, err)
	}
	tl.mu.Lock() // stopped by measureStepped: the steps are final
	steps := slices.Clone(tl.steps)
	tl.mu.Unlock()
	// late is how far from the instant the counter reached a step's value
	// the step was stamped: after it, or before it by up to half a reading
	// (a reading is stamped at its middle).
	late := func(s energyStep) time.Duration {
		n := time.Duration(math.Round(s.j / (watts * f.step.Seconds())))
		l := s.t.Sub(f.t0.Add(n * f.step))
		return max(l, -l)
	}
	// around is the larger lateness of the two steps read either side of t
	// (measureStepped found steps on both sides of every repetition).
	around := func(t time.Time) time.Duration {
		k := sort.Search(len(steps), func(i int) bool { return steps[i].t.After(t) })
		return max(late(steps[k-1]), late(steps[k]))
	}
	for i, r := range reps {
		if r.EnergyJ == nil || r.EnergySource != "fake" {
			t.Fatalf("repetition %d: energy %v from %q", i, r.EnergyJ, r.EnergySource)
		}
		d := spans[i].end.Sub(spans[i].start)
		slack := around(spans[i].start) + around(spans[i].end)
		if miss := math.Abs(*r.EnergyJ - watts*d.Seconds()); miss > watts*slack.Seconds()+1e-6 {
			t.Errorf("repetition %d: %.3f J in %.1f ms, %.3f J from its share, want at most %.3f J (steps read %v late around it; two readings around it: %.0f J)",
				i, *r.EnergyJ, d.Seconds()*1e3, miss, watts*slack.Seconds(), slack, naive[i])
		}
	}
	var lateness []time.Duration
	for _, s := range steps {
		lateness = append(lateness, late(s))
	}
	slices.Sort(lateness)
	if q := lateness[len(lateness)/4]; q > 5*time.Millisecond {
		t.Errorf("the quickest quarter of %d steps read up to %v after the counter moved, want within 5 ms (a poll every %v)",
			len(lateness), q, energyPoll)
	}
}

// A poll that comes late, as on a loaded machine, is waited for: only a
// reading begun past the limit finds the counter stuck. Before, the limit
// ran on the clock, and a counter whose one poll came late looked frozen.
func TestEnergyTimelineLatePoll(t *testing.T) {
	for _, frozen := range []bool{false, true} {
		// A period under a poll: the limit is the 50 polls' floor, and each
		// poll takes twice that.
		f := &fakeStepped{period: time.Microsecond, frozen: frozen, lag: 100 * energyPoll}
		tl := startEnergyTimeline(f)
		after := time.Now()
		ok, err := tl.awaitStep(context.Background(), after)
		tl.Stop()
		if ok == frozen || err != nil {
			t.Errorf("frozen %v: awaitStep %v, %v after %v; want %v", frozen, ok, err, time.Since(after).Round(time.Millisecond), !frozen)
		}
		// Late polls still find a frozen counter stuck, in the end.
		if frozen && !strings.Contains(tl.stuck("here"), "did not move within 50ms here") {
			t.Errorf("frozen: %q", tl.stuck("here"))
		}
	}
}

// Through measure: energy for every repetition where the repetitions span
// ten of the counter's periods, and otherwise none and a note that says
// why; likewise where the counter does not move or fails.
func TestMeasureSteppedEnergy(t *testing.T) {
	cell := Cell{Model: "llama", Family: "llama", Batch: 1, PromptLen: 4, GenLen: 4}
	cases := []struct {
		name string
		f    *fakeStepped
		note string // "" for energy in every repetition
	}{
		{"short period", &fakeStepped{period: time.Microsecond}, ""},
		{"repetitions too short", &fakeStepped{period: time.Hour}, "which moves every 1h0m0s, needs 10h0m0s"},
		{"frozen", &fakeStepped{period: time.Microsecond, frozen: true}, "did not move within 50ms before the repetitions"},
		{"failing", &fakeStepped{period: time.Microsecond, failAfter: 2}, "failed or went backwards"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := cpu.New(1)
			defer b.Close()
			cr := &cellRun{cell: cell, m: loadTiny(t, model.Llama, b), ids: [][]int{{1, 2, 3}}, reps: 3, seed: 1, monitor: c.f}
			var rec Record
			if err := cr.measure(context.Background(), &rec); err != nil {
				t.Fatal(err)
			}
			if c.note == "" {
				if rec.EnergyNote != "" {
					t.Errorf("note %q", rec.EnergyNote)
				}
				for i, r := range rec.Reps {
					if r.EnergyJ == nil || *r.EnergyJ <= 0 || r.EnergySource != "fake" {
						t.Errorf("repetition %d: energy %v from %q", i, r.EnergyJ, r.EnergySource)
					}
				}
				if st := rec.Stats[MPower]; st.N != 3 {
					t.Errorf("%s: %+v", MPower, st)
				}
				return
			}
			if !strings.Contains(rec.EnergyNote, c.note) {
				t.Errorf("note %q, want one containing %q", rec.EnergyNote, c.note)
			}
			for i, r := range rec.Reps {
				if r.EnergyJ != nil {
					t.Errorf("repetition %d has energy %v", i, *r.EnergyJ)
				}
			}
			for _, m := range []string{MPower, MEnergyPerTok} {
				if st, ok := rec.Stats[m]; ok {
					t.Errorf("%s: %+v without energy", m, st)
				}
			}
		})
	}
}

// A cancelled context ends the wait for the counter's step.
func TestEnergyTimelineCancel(t *testing.T) {
	tl := startEnergyTimeline(&fakeStepped{period: time.Hour, frozen: true})
	defer tl.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, err := tl.awaitStep(ctx, time.Now()); ok || err != context.Canceled {
		t.Errorf("awaitStep with a cancelled context: %v, %v", ok, err)
	}
	tl.Stop()
	tl.Stop() // twice is no harm
	var none *energyTimeline
	none.Stop()
	if startEnergyTimeline(&fakeClocks{}) != nil {
		t.Error("a continuous counter got a timeline")
	}
}

// writeCounter counts the backend's writes of inputs (each forward call of
// a batch makes the same number).
type writeCounter struct {
	compute.Backend
	n atomic.Int64
}

func (b *writeCounter) Write(dst compute.Tensor, src any) {
	b.n.Add(1)
	b.Backend.Write(dst, src)
}

// After its repetitions, a cell on a stepped counter runs discarded
// batches until the counter's next step, so that the step which closes the
// last repetition holds work, not the idle draw after it (2.5% of the
// energy of ten periods, before). Its counter steps every 200 ms here,
// long after the repetitions end: the cell makes more writes than the same
// cell without a counter, and records the same outputs.
func TestMeasureWorksUntilStep(t *testing.T) {
	cell := Cell{Model: "llama", Family: "llama", Batch: 1, PromptLen: 4, GenLen: 4}
	measure := func(m device.Monitor) (int64, Record) {
		cb := cpu.New(1)
		defer cb.Close()
		b := &writeCounter{Backend: cb}
		md := loadTiny(t, model.Llama, b)
		loaded := b.n.Load()
		cr := &cellRun{cell: cell, m: md, ids: [][]int{{1, 2, 3}, {4, 5}}, reps: 2, seed: 1, monitor: m}
		var rec Record
		if err := cr.measure(context.Background(), &rec); err != nil {
			t.Fatal(err)
		}
		return b.n.Load() - loaded, rec
	}
	plain, want := measure(nil)
	f := &fakeStepped{period: 200 * time.Millisecond, watts: 100, step: 200 * time.Millisecond, t0: time.Now()}
	start := time.Now()
	got, rec := measure(f)
	if got <= plain {
		t.Errorf("%d writes with a stepped counter, %d without: want more (discarded batches until the step)", got, plain)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("the cell took %v: the batches after the repetitions should stop at the step (200 ms)", el)
	}
	if !slices.EqualFunc(rec.Outputs, want.Outputs, slices.Equal) {
		t.Errorf("outputs %v, want %v", rec.Outputs, want.Outputs)
	}
}
