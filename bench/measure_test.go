package bench

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"dllmbench/compute"
	"dllmbench/compute/cpu"
	"dllmbench/compute/device"
	"dllmbench/internal/testmodel"
	"dllmbench/model"
)

// fakeDeviceS is the interval timedBackend reports: a microsecond, well
// under any batch of a tiny model, so a record that carries it got it
// from the timer and not from the host's clock.
const fakeDeviceS = 1e-6

// timedBackend is a backend with a device timer that reports fakeDeviceS
// for every interval and checks that calls pair.
type timedBackend struct {
	compute.Backend
	running  bool
	pairs    int   // completed StartTimer/StopTimer pairs
	startErr error // StartTimer's error, when set
	stopErr  error // StopTimer's error, when set
}

func (b *timedBackend) StartTimer() error {
	if b.running {
		panic("timedBackend: StartTimer while running")
	}
	if b.startErr != nil {
		return b.startErr
	}
	b.running = true
	return nil
}

func (b *timedBackend) StopTimer() (float64, error) {
	if !b.running {
		panic("timedBackend: StopTimer while stopped")
	}
	b.running = false
	b.pairs++
	return fakeDeviceS, b.stopErr
}

// loadTiny loads a tiny random model of family f on b.
func loadTiny(t *testing.T, f model.Family, b compute.Backend) *model.Model {
	t.Helper()
	return testmodel.Load(t, testmodel.Tiny(f), b)
}

// A backend with a device timer gives every batch its device latency and
// the record a device_latency_s statistic; one without leaves both out.
func TestMeasureDeviceLatency(t *testing.T) {
	ar := Cell{Model: "llama", Family: "llama", Batch: 2, PromptLen: 8, GenLen: 4}
	diff := Cell{Model: "llada", Family: "llada", Batch: 2, PromptLen: 8, GenLen: 8, Steps: 4, BlockLen: 8,
		Remasking: "low_confidence", Cache: "none"}
	// Three prompts in batches of 2: two batches per repetition, the
	// second filled with the first prompt again.
	ids := [][]int{{1, 2, 3, 4, 5}, {6, 7, 8}, {9, 10, 11, 12, 13, 14, 15, 16}}
	const reps, warmup, batches = 2, 1, 2
	cases := []struct {
		name  string
		cell  Cell
		timer bool
	}{
		{"autoregressive with a device timer", ar, true},
		{"autoregressive without", ar, false},
		{"diffusion with a device timer", diff, true},
		{"diffusion without", diff, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cb := cpu.New(2)
			t.Cleanup(cb.Close)
			var b compute.Backend = cb
			tb := &timedBackend{Backend: cb}
			if c.timer {
				b = tb
			}
			f := model.Llama
			if c.cell.Diffusion() {
				f = model.LLaDA
			}
			cr := &cellRun{cell: c.cell, m: loadTiny(t, f, b), ids: ids, reps: reps, warmup: warmup, seed: 1}
			var rec Record
			if err := cr.measure(context.Background(), &rec); err != nil {
				t.Fatal(err)
			}
			want := 0.0
			if c.timer {
				want = fakeDeviceS
			}
			for i, r := range rec.Reps {
				if len(r.Batches) != batches {
					t.Fatalf("repetition %d has %d batches, want %d", i, len(r.Batches), batches)
				}
				for j, bm := range r.Batches {
					if bm.DeviceLatencyS != want || !(bm.LatencyS > 0) {
						t.Errorf("repetition %d batch %d: device latency %g, latency %g; want %g and a positive host time",
							i, j, bm.DeviceLatencyS, bm.LatencyS, want)
					}
				}
			}
			st, has := rec.Stats[MDeviceLatency]
			if c.timer {
				if diff := cmp.Diff(Stat{Mean: fakeDeviceS, Median: fakeDeviceS, Min: fakeDeviceS, Max: fakeDeviceS, N: reps}, st); diff != "" {
					t.Errorf("%s (-want +got):\n%s", MDeviceLatency, diff)
				}
				// The two batches' longest prompts differ (5 and 8
				// tokens), so warm-up runs both.
				if n := warmup*batches + reps*batches; tb.pairs != n || tb.running {
					t.Errorf("%d timer pairs (running %v), want %d: one per batch, warm-up's included", tb.pairs, tb.running, n)
				}
			} else if has {
				t.Errorf("no device timer, but %s = %+v", MDeviceLatency, st)
			}
			line, err := json.Marshal(&rec)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(string(line), `"device_latency_s":`); c.timer != (got > 0) {
				t.Errorf("the record's JSON has device_latency_s %d times, with a device timer %v", got, c.timer)
			}
		})
	}
}

// timeBatch returns the work's error before the timer's, and leaves the
// timer stopped whatever the work does, so the next cell can start it.
func TestTimeBatch(t *testing.T) {
	errWork, errStart, errStop := errors.New("work failed"), errors.New("start failed"), errors.New("stop failed")
	cases := []struct {
		name              string
		work              func() error
		startErr, stopErr error
		wantDev           float64
		wantErr           error
		wantPanic         bool
		wantPairs         int
	}{
		// The device's time of the work.
		{"success", func() error { return nil }, nil, nil, fakeDeviceS, nil, false, 1},
		// A failed batch has no time.
		{"work fails", func() error { return errWork }, nil, nil, 0, errWork, false, 1},
		// The work's failure is the one that matters.
		{"work and timer fail", func() error { return errWork }, nil, errStop, 0, errWork, false, 1},
		// The timer's failure is the batch's.
		{"timer fails", func() error { return nil }, nil, errStop, 0, errStop, false, 1},
		// No marker, no work: the batch fails before it starts.
		{"start fails", func() error { t.Error("work ran after StartTimer failed"); return nil }, errStart, nil, 0, errStart, false, 0},
		// A panic (a bug, or an allocation the device refused) still stops the timer.
		{"work panics", func() error { panic("boom") }, nil, nil, 0, nil, true, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := &timedBackend{startErr: c.startErr, stopErr: c.stopErr}
			var dev float64
			var err error
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				_, dev, err = timeBatch(tb, func(time.Time) error { return c.work() })
				return false
			}()
			if panicked != c.wantPanic || tb.running || tb.pairs != c.wantPairs {
				t.Errorf("panicked %v, timer running %v after %d pairs; want panicked %v, stopped after %d",
					panicked, tb.running, tb.pairs, c.wantPanic, c.wantPairs)
			}
			if !c.wantPanic && (!errors.Is(err, c.wantErr) || dev != c.wantDev) {
				t.Errorf("got %g s, %v; want %g s, %v", dev, err, c.wantDev, c.wantErr)
			}
		})
	}
	// Without a timer the work runs alone and has no device time.
	if _, dev, err := timeBatch(nil, func(time.Time) error { return errWork }); dev != 0 || err != errWork {
		t.Errorf("without a timer: %g s, %v", dev, err)
	}
	// The work is given the host clock's start, which times within the
	// batch (an autoregressive batch's TTFT and token times) count from:
	// what it measured from there is within the batch's latency.
	var within time.Duration
	host, _, _ := timeBatch(nil, func(start time.Time) error {
		time.Sleep(time.Millisecond)
		within = time.Since(start)
		return nil
	})
	if within < time.Millisecond || within.Seconds() > host {
		t.Errorf("the work measured %v from the start it was given, in a batch of %g s", within, host)
	}
}

// The roofline's weight bytes are those a forward call reads: every matrix
// but an untied embedding table, times the calls of the last repetition.
func TestRooflineBytes(t *testing.T) {
	cb := cpu.New(2)
	t.Cleanup(cb.Close)
	m := loadTiny(t, model.Llama, cb)
	if m.Config.Tied {
		t.Fatal("the tiny LLaMA ties its embedding: this test needs an untied one")
	}
	cell := Cell{Model: "llama", Family: "llama", Batch: 1, PromptLen: 4, GenLen: 3}
	cr := &cellRun{cell: cell, m: m, ids: [][]int{{1, 2, 3, 4}}, reps: 1, seed: 1}
	var rec Record
	if err := cr.measure(context.Background(), &rec); err != nil {
		t.Fatal(err)
	}
	want := m.WeightBytes() - m.Weights.TokEmb.Bytes()
	if rec.Roofline.CallBytes != want {
		t.Errorf("weight bytes per call %d, want %d (all %d, embedding %d)", rec.Roofline.CallBytes, want,
			m.WeightBytes(), m.Weights.TokEmb.Bytes())
	}
	calls := 0
	for _, b := range rec.Reps[len(rec.Reps)-1].Batches {
		calls += b.NFE
	}
	if calls == 0 || rec.Roofline.Bytes != float64(calls)*float64(want) {
		t.Errorf("roofline bytes %g over %d calls, want %d per call", rec.Roofline.Bytes, calls, want)
	}
}

// peakBackend is a backend that accounts for its allocations as a device
// backend does (compute.MemoryStats), with a peak that ResetPeak restarts.
type peakBackend struct {
	compute.Backend
	allocated, peak int64
}

func (b *peakBackend) Alloc(dt compute.DType, rows, cols int) compute.Tensor {
	b.allocated += int64(rows) * int64(cols) * int64(dt.Size())
	b.peak = max(b.peak, b.allocated)
	return b.Backend.Alloc(dt, rows, cols)
}

func (b *peakBackend) Memory() (allocated, peak, workspace int64) { return b.allocated, b.peak, 0 }

func (b *peakBackend) ResetPeak() { b.peak = b.allocated }

// A record's device peak is its cell's: a larger cell measured before it
// on the same backend (the process's earlier cells) does not show in it.
func TestMeasureDevicePeakIsTheCell(t *testing.T) {
	cb := cpu.New(2)
	t.Cleanup(cb.Close)
	pb := &peakBackend{Backend: cb}
	m := loadTiny(t, model.Llama, pb)
	const earlier = 1 << 40 // the peak of a huge cell measured before, since freed
	pb.peak = earlier
	cell := Cell{Model: "llama", Family: "llama", Batch: 1, PromptLen: 4, GenLen: 3}
	cr := &cellRun{cell: cell, m: m, ids: [][]int{{1, 2, 3, 4}}, reps: 1, seed: 1}
	var rec Record
	if err := cr.measure(context.Background(), &rec); err != nil {
		t.Fatal(err)
	}
	if p := rec.Memory.DevicePeak; p >= earlier || p < rec.Memory.Cache {
		t.Errorf("device peak %d bytes; want the cell's: under the earlier cell's %d, at least its cache's %d",
			p, int64(earlier), rec.Memory.Cache)
	}
}

// A record's process peak is its cell's: memory the process held and gave
// back before the cell (an earlier, larger cell) does not show in it.
func TestMeasureProcessPeakIsTheCell(t *testing.T) {
	if f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0); err != nil {
		t.Skipf("no peak to restart here: %v", err)
	} else {
		f.Close()
	}
	cb := cpu.New(2)
	t.Cleanup(cb.Close)
	m := loadTiny(t, model.Llama, cb)
	// An earlier cell's 256 MiB, touched, then dropped.
	const earlier = 256 << 20
	big := make([]byte, earlier)
	for i := range big {
		big[i] = 1
	}
	runtime.KeepAlive(big)
	_, before := processRSS()
	cell := Cell{Model: "llama", Family: "llama", Batch: 1, PromptLen: 4, GenLen: 3}
	cr := &cellRun{cell: cell, m: m, ids: [][]int{{1, 2, 3, 4}}, reps: 1, seed: 1}
	var rec Record
	if err := cr.measure(context.Background(), &rec); err != nil {
		t.Fatal(err)
	}
	if p := rec.Memory.ProcessPeak; p <= 0 || p > before-earlier/2 {
		t.Errorf("process peak %d bytes; want the cell's, under the %d the process held before it less the %d it gave back",
			p, before, earlier)
	}
}

// An autoregressive cell of one generated token has no time per output
// token: its record leaves tpot_s out (as it does the inter-token
// latency, from Stats and Pooled) rather than report 0 s.
func TestMeasureOneTokenNoTPOT(t *testing.T) {
	cb := cpu.New(2)
	t.Cleanup(cb.Close)
	cell := Cell{Model: "llama", Family: "llama", Batch: 1, PromptLen: 4, GenLen: 1}
	cr := &cellRun{cell: cell, m: loadTiny(t, model.Llama, cb), ids: [][]int{{1, 2, 3, 4}}, reps: 2, seed: 1}
	var rec Record
	if err := cr.measure(context.Background(), &rec); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{MTPOT, MITL} {
		if st, has := rec.Stats[m]; has {
			t.Errorf("%s = %+v for one generated token, want none", m, st)
		}
	}
	for _, m := range []string{MTPOT, MITL} {
		if d, has := rec.Pooled[m]; has {
			t.Errorf("pooled %s = %+v for one generated token, want none", m, d)
		}
	}
	for _, m := range []string{MTTFT, MLatency} {
		if d := rec.Pooled[m]; d.N != 2 {
			t.Errorf("pooled %s = %+v, want the 2 repetitions' batches", m, d)
		}
	}
	if _, has := rec.Stats[MTTFT]; !has {
		t.Errorf("no %s", MTTFT)
	}
}

// A measured autoregressive cell pools the gaps between its tokens over
// every batch of every repetition: 3 repetitions of 2 batches of 4
// tokens, 3 gaps each, make 18, and the pool's mean is the repetitions'
// mean of their mean gaps, as each has as many.
func TestMeasurePoolsITL(t *testing.T) {
	cb := cpu.New(2)
	t.Cleanup(cb.Close)
	cell := Cell{Model: "llama", Family: "llama", Batch: 1, PromptLen: 4, GenLen: 4}
	cr := &cellRun{cell: cell, m: loadTiny(t, model.Llama, cb), ids: [][]int{{1, 2, 3, 4}, {5, 6, 7, 8}}, reps: 3, seed: 1}
	var rec Record
	if err := cr.measure(context.Background(), &rec); err != nil {
		t.Fatal(err)
	}
	pool, has := rec.Pooled[MITL]
	if !has || pool.N != 18 {
		t.Fatalf("pooled %s = %+v, want 18 gaps", MITL, pool)
	}
	var gaps []float64
	for _, r := range rec.Reps {
		for _, b := range r.Batches {
			for i := 1; i < len(b.TokenTimesS); i++ {
				gaps = append(gaps, b.TokenTimesS[i]-b.TokenTimesS[i-1])
			}
		}
	}
	if p99 := Percentile(gaps, 99); pool.P99 != p99 || pool.Median != Percentile(gaps, 50) {
		t.Errorf("pooled p99 %v, median %v; want %v and %v, the record's gaps'", pool.P99, pool.Median, p99, Percentile(gaps, 50))
	}
	st := rec.Stats[MITL]
	if st.N != 3 || math.Abs(st.Mean-pool.Mean) > 1e-12 {
		t.Errorf("stats %s = %+v, want 3 repetitions of mean %v", MITL, st, pool.Mean)
	}
}

// graphBackend records graphs as the CUDA backend does (compute.Recorder):
// a graph holds its ops and runs them at each Launch. It counts the
// recordings, each one a capture the CUDA backend pays for on first use of
// a call's shape.
type graphBackend struct {
	compute.Backend
	mu       sync.Mutex
	recorded int
}

type fakeGraph struct{ ops func() }

func (g fakeGraph) Launch() error { g.ops(); return nil }
func (g fakeGraph) Close()        {}

func (b *graphBackend) Record(ops func()) (compute.Graph, error) {
	b.mu.Lock()
	b.recorded++
	b.mu.Unlock()
	return fakeGraph{ops}, nil
}

func (b *graphBackend) records() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.recorded
}

// firstRep is a GPU monitor that notes how many graphs the backend had
// recorded when the first repetition began (its first clock reading).
type firstRep struct {
	b      *graphBackend
	mu     sync.Mutex
	before int // -1 until the first reading
}

func (f *firstRep) Energy() (float64, bool)             { return 0, false }
func (f *firstRep) EnergySource() string                { return "fake" }
func (f *firstRep) ProcessMemory() (int64, int64, bool) { return 0, 0, false }
func (f *firstRep) Clocks() (device.ClockSample, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.before < 0 {
		f.before = f.b.records()
	}
	return device.ClockSample{SMMHz: 1500}, true
}

// Warm-up runs every shape the repetitions run: a batch whose longest
// prompt differs from the first batch's has calls of other shapes (the
// prefill's tokens, a diffusion canvas), whose graphs would otherwise be
// recorded inside the first repetition and time the capture with it.
func TestMeasureWarmupRecordsEveryShape(t *testing.T) {
	ar := Cell{Model: "llama", Family: "llama", Batch: 1, PromptLen: 8, GenLen: 3}
	diff := Cell{Model: "llada", Family: "llada", Batch: 1, PromptLen: 8, GenLen: 8, Steps: 4, BlockLen: 4,
		Remasking: "low_confidence", Cache: "dual"}
	// Prompts of three lengths, as builtin prompts shorter than the cell's
	// length are kept whole; in batches of one, three prefill shapes.
	ids := [][]int{{1, 2, 3}, {4, 5, 6, 7, 8}, {9, 10, 11}, {12, 13, 14, 15, 16, 17, 18}}
	for _, c := range []Cell{ar, diff} {
		t.Run(c.Family, func(t *testing.T) {
			cb := cpu.New(2)
			t.Cleanup(cb.Close)
			gb := &graphBackend{Backend: cb}
			f := model.Llama
			if c.Diffusion() {
				f = model.LLaDA
			}
			mon := &firstRep{b: gb, before: -1}
			cr := &cellRun{cell: c, m: loadTiny(t, f, gb), ids: ids, reps: 2, warmup: 1, seed: 1, monitor: mon}
			var rec Record
			if err := cr.measure(context.Background(), &rec); err != nil {
				t.Fatal(err)
			}
			if all := gb.records(); mon.before != all {
				t.Errorf("%d graphs recorded in warm-up, %d in the repetitions; want none in the repetitions",
					mon.before, all-mon.before)
			}
		})
	}
}

// failingTimer is a device timer whose stop fails the batch it timed
// from the failAt-th on (1 is the first).
type failingTimer struct {
	compute.Backend
	stops, failAt int
}

func (b *failingTimer) StartTimer() error { return nil }
func (b *failingTimer) StopTimer() (float64, error) {
	if b.stops++; b.stops >= b.failAt {
		return 0, errors.New("device lost")
	}
	return fakeDeviceS, nil
}

// A batch that fails fails its cell with an error that says which run it
// was, a warm-up's or a repetition's, and which batch; the record keeps the
// repetitions measured before it.
func TestMeasureFailureNamesItsBatch(t *testing.T) {
	cell := Cell{Model: "llama", Family: "llama", Batch: 1, PromptLen: 4, GenLen: 2}
	ids := [][]int{{1, 2, 3, 4}, {5, 6, 7, 8}} // one shape: warm-up runs one batch of two
	for _, c := range []struct {
		failAt, reps int
		want         string
	}{
		{1, 0, "warm-up 1 of 1, batch 1 of 2: device lost"},
		{2, 0, "repetition 1 of 3, batch 1 of 2: device lost"},
		{5, 1, "repetition 2 of 3, batch 2 of 2: device lost"},
	} {
		cb := cpu.New(2)
		t.Cleanup(cb.Close)
		fb := &failingTimer{Backend: cb, failAt: c.failAt}
		cr := &cellRun{cell: cell, m: loadTiny(t, model.Llama, fb), ids: ids, reps: 3, warmup: 1, seed: 1}
		var rec Record
		err := cr.measure(context.Background(), &rec)
		if err == nil || err.Error() != c.want || len(rec.Reps) != c.reps {
			t.Errorf("failing at batch %d: %v, %d repetitions kept; want %q and %d", c.failAt, err, len(rec.Reps), c.want, c.reps)
		}
	}
}
