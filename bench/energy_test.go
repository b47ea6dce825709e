package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"dllmbench/compute/cpu"
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
// read 0); the timeline gives each its share, 2.5 J, to within the polls'
// few milliseconds. The polls run on the machine's clock, and on a loaded
// machine (CI's two cores running every package's tests) a poll can come
// late and place a step a few milliseconds off, so a few repetitions may
// be far from their share: the test holds the median to it and allows an
// eighth of them out of bounds; two readings fail it in every way.
func TestEnergyTimelineShortRepetitions(t *testing.T) {
	const watts, rep = 500.0, 5 * time.Millisecond
	f := &fakeStepped{period: 20 * time.Millisecond, watts: watts, step: 20 * time.Millisecond, t0: time.Now()}
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
	var sum, want float64
	var powers []float64
	var off []string
	for i, r := range reps {
		if r.EnergyJ == nil || r.EnergySource != "fake" {
			t.Fatalf("repetition %d: energy %v from %q", i, r.EnergyJ, r.EnergySource)
		}
		d := spans[i].end.Sub(spans[i].start).Seconds()
		p := *r.EnergyJ / d
		if p < 0.4*watts || p > 1.6*watts {
			off = append(off, fmt.Sprintf("repetition %d: %.3f J in %.1f ms is %.0f W (two readings around it: %.0f J)",
				i, *r.EnergyJ, d*1e3, p, naive[i]))
		}
		powers = append(powers, p)
		sum += *r.EnergyJ
		want += watts * d
	}
	slices.Sort(powers)
	if med := powers[len(powers)/2]; med < 0.7*watts || med > 1.3*watts {
		t.Errorf("median power %.0f W, want about %.0f", med, watts)
	}
	if len(off) > len(reps)/8 {
		t.Errorf("%d of %d repetitions far from %.0f W:\n%s", len(off), len(reps), watts, strings.Join(off, "\n"))
	}
	if math.Abs(sum-want) > 0.25*want {
		t.Errorf("48 repetitions: %.2f J, want about %.2f", sum, want)
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
