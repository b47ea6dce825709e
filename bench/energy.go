package bench

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"dllmbench/compute/device"
)

// energyTimeline follows a stepped energy counter (device.SteppedEnergy:
// NVML's moves every 100 ms) across a cell's repetitions. A goroutine
// reads the counter back to back, energyPoll apart, and keeps each new
// value with the time it was read; the energy spent between two instants
// is then read off the straight lines through those steps. A repetition
// shorter than the counter's period so gets its share of the steps it
// fell in, where the difference of two readings taken around it would be
// 0 or a whole step, and a long one is off by at most the few
// milliseconds a reading takes at either end, not by up to a period.
type energyTimeline struct {
	m      device.Monitor
	period time.Duration
	mu     sync.Mutex
	steps  []energyStep // each change of the counter, in time order
	last   float64
	broken bool          // a reading failed or went backwards: no energy from here
	read0  time.Time     // when the latest reading began
	seen   chan struct{} // signalled (never blocking) at each reading
	halt   func()        // ends the readings
}

// energyStep is a value of the counter and when it was read.
type energyStep struct {
	t time.Time
	j float64
}

const (
	// energyPoll is the pause between two readings (NVML's take about
	// 4 ms each on an H200).
	energyPoll = time.Millisecond
	// minEnergyPeriods is the fewest of the counter's periods a cell's
	// repetitions must span for their energy to be recorded: each
	// repetition's energy is read off lines through steps up to a period
	// apart, so the shorter they are together, the more one step's timing
	// weighs. (The step after the last repetition falls in work too: the
	// measurement runs discarded batches until it comes, see stepPast.)
	minEnergyPeriods = 10
)

// startEnergyTimeline starts following m's counter where it is stepped; it
// returns nil, and the repetitions read the counter around themselves,
// where it moves continuously (RAPL) or cannot be read.
func startEnergyTimeline(m device.Monitor) *energyTimeline {
	sm, ok := m.(device.SteppedEnergy)
	if !ok {
		return nil
	}
	j, ok := m.Energy()
	if !ok {
		return nil
	}
	tl := &energyTimeline{m: m, period: sm.EnergyPeriod(), last: j, seen: make(chan struct{}, 1)}
	tl.halt = ticking(energyPoll, tl.read)
	return tl
}

// read takes one reading and keeps it where the counter moved.
func (tl *energyTimeline) read() {
	t0 := time.Now()
	j, ok := tl.m.Energy()
	at := t0.Add(time.Since(t0) / 2)
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.read0 = t0
	switch {
	case !ok || j < tl.last:
		tl.broken = true
	case j > tl.last:
		tl.steps = append(tl.steps, energyStep{at, j})
		tl.last = j
	}
	select {
	case tl.seen <- struct{}{}:
	default:
	}
}

// Stop ends the readings; a nil timeline, or one stopped already, has
// nothing to stop.
func (tl *energyTimeline) Stop() {
	if tl != nil {
		tl.halt()
	}
}

// awaitLimit is how long awaitStep waits: three periods, and no less than
// a few polls.
func (tl *energyTimeline) awaitLimit() time.Duration { return max(3*tl.period, 50*energyPoll) }

// awaitStep waits for a step of the counter later than after; false if a
// reading begun awaitLimit or more after it found none (or the counter
// broke: stuck says which), the context's error if it ended first. It is
// a reading, not the clock, that ends the wait: on a loaded machine a poll
// can come tens of milliseconds late, as long as a counter of short period
// is given, and a counter nobody read in time has not been seen to stand
// still. (A reading that never returns hangs Stop as well.)
func (tl *energyTimeline) awaitStep(ctx context.Context, after time.Time) (bool, error) {
	for {
		switch stepped, over := tl.since(after); {
		case stepped:
			return true, nil
		case over:
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-tl.seen:
		}
	}
}

// stepPast reports, without waiting, whether a step later than t has
// been read, or whether there will be none to wait for: the counter broke
// or a reading begun awaitLimit after t found none.
func (tl *energyTimeline) stepPast(t time.Time) bool {
	stepped, over := tl.since(t)
	return stepped || over
}

// since says whether a step later than t has been read and, if not,
// whether the wait for one is over: the counter broke, or a reading begun
// awaitLimit or more after t found none (awaitStep and stepPast).
func (tl *energyTimeline) since(t time.Time) (stepped, over bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	stepped = len(tl.steps) > 0 && tl.steps[len(tl.steps)-1].t.After(t)
	return stepped, tl.broken || !tl.read0.Before(t.Add(tl.awaitLimit()))
}

// stuck says why awaitStep found no step.
func (tl *energyTimeline) stuck(when string) string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.broken {
		return fmt.Sprintf("the %s energy counter failed or went backwards %s", tl.m.EnergySource(), when)
	}
	return fmt.Sprintf("the %s energy counter did not move within %v %s", tl.m.EnergySource(), tl.awaitLimit(), when)
}

// between is the energy spent from a to b, in joules; false unless steps
// were seen on both sides of each and the counter never broke.
func (tl *energyTimeline) between(a, b time.Time) (float64, bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	ea, okA := energyAt(tl.steps, a)
	eb, okB := energyAt(tl.steps, b)
	return eb - ea, okA && okB && !tl.broken
}

// energyAt is the counter at t on the straight lines through steps; false
// before the first step or after the last.
func energyAt(steps []energyStep, t time.Time) (float64, bool) {
	k := sort.Search(len(steps), func(i int) bool { return steps[i].t.After(t) })
	if k == 0 || k == len(steps) {
		return 0, false
	}
	p, q := steps[k-1], steps[k]
	f := float64(t.Sub(p.t)) / float64(q.t.Sub(p.t))
	return p.j + f*(q.j-p.j), true
}

// repSpan is when a repetition ran.
type repSpan struct{ start, end time.Time }

// measureStepped gives each repetition its energy from the timeline, or,
// where that cannot be trusted, none and the reason (the record's
// EnergyNote). It waits for a step after the last repetition first.
func (tl *energyTimeline) measureStepped(ctx context.Context, reps []Rep, spans []repSpan) (string, error) {
	if len(spans) == 0 {
		return "", nil
	}
	ok, err := tl.awaitStep(ctx, spans[len(spans)-1].end)
	tl.Stop()
	if err != nil {
		return "", err
	}
	if !ok {
		return tl.stuck("after the repetitions"), nil
	}
	need := time.Duration(minEnergyPeriods) * tl.period
	if span := spans[len(spans)-1].end.Sub(spans[0].start); span < need {
		return fmt.Sprintf("the repetitions took %.3g s together, and the %s energy counter, which moves every %v, needs %v: "+
			"more repetitions or longer generations measure it", span.Seconds(), tl.m.EnergySource(), tl.period, need), nil
	}
	for i, s := range spans {
		j, ok := tl.between(s.start, s.end)
		if !ok {
			return tl.stuck("during the repetitions"), nil
		}
		reps[i].EnergyJ, reps[i].EnergySource = &j, tl.m.EnergySource()
	}
	return "", nil
}
