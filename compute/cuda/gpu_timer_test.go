package cuda

import (
	"testing"
	"time"

	"dllmbench/compute"
	"dllmbench/compute/computetest"
)

// StartTimer and StopTimer time queued work with the device's clock: the
// time is positive and no longer than the host's around the same calls,
// the events are reused by the next pair, and misuse panics.
func TestDeviceTimer(t *testing.T) {
	b := newBackend(t)
	// Ten float32 products of 2048 × 2048 by 2048 × 2048 (cuBLAS, no
	// TF32): 170 GFLOP, some milliseconds on any GPU, far above the
	// events' resolution of about half a microsecond.
	const n, runs = 2048, 10
	zeros := make([]float32, n*n)
	x, w, y := b.Alloc(compute.F32, n, n), b.Alloc(compute.F32, n, n), b.Alloc(compute.F32, n, n)
	b.Write(x, zeros)
	b.Write(w, zeros)
	b.MatMul(y, x, w) // warm-up: cuBLAS picks its kernel outside the timed work
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	for pair := range 2 { // the second pair reuses the events of the first
		h0 := time.Now()
		if err := b.StartTimer(); err != nil {
			t.Fatalf("pair %d: StartTimer: %v", pair, err)
		}
		for range runs {
			b.MatMul(y, x, w)
		}
		dev, err := b.StopTimer()
		host := time.Since(h0).Seconds()
		if err != nil {
			t.Fatalf("pair %d: StopTimer: %v", pair, err)
		}
		t.Logf("pair %d: %d products of %d³: device %.3f ms, host %.3f ms (%.1f TFLOP/s on the device)",
			pair, runs, n, dev*1e3, host*1e3, runs*2*float64(n)*n*n/dev/1e12)
		if !(dev > 0 && dev <= host) {
			t.Errorf("pair %d: device time %g s, want in (0, %g], the host's time around it", pair, dev, host)
		}
	}
	// Nothing queued: the time is that of the markers alone.
	if err := b.StartTimer(); err != nil {
		t.Fatal(err)
	}
	if dev, err := b.StopTimer(); err != nil || dev < 0 || dev > 0.01 {
		t.Errorf("an empty interval took %g s (error %v), want [0, 10 ms]", dev, err)
	}
	computetest.MustPanic(t, "StopTimer without StartTimer", "compute: StopTimer: the timer is not running", func() { b.StopTimer() })
	if err := b.StartTimer(); err != nil {
		t.Fatal(err)
	}
	computetest.MustPanic(t, "StartTimer twice", "compute: StartTimer: the timer is already running", func() { b.StartTimer() })
	if _, err := b.StopTimer(); err != nil {
		t.Error(err)
	}
	computetest.MustPanic(t, "StartTimer during Record", "compute: StartTimer: called while Record runs", func() {
		b.Record(func() { b.StartTimer() })
	})
	// Record let the panic go with the stream usable: the timer still works.
	if err := b.StartTimer(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.StopTimer(); err != nil {
		t.Errorf("after a panic in Record: %v", err)
	}
}

// Mark and Marks stamp queued work with the device's clock: one time per
// marker, the first 0, each interval at least the work queued in it takes
// and all of them within the host's time around the calls; the events are
// reused by the next run of markers, and misuse panics.
func TestDeviceMarks(t *testing.T) {
	b := newBackend(t)
	const n = 2048
	zeros := make([]float32, n*n)
	x, w, y := b.Alloc(compute.F32, n, n), b.Alloc(compute.F32, n, n), b.Alloc(compute.F32, n, n)
	b.Write(x, zeros)
	b.Write(w, zeros)
	b.MatMul(y, x, w) // warm-up
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	times := make([]float64, 8)
	for run, products := range []int{5, 3} { // the second run reuses the first's events
		h0 := time.Now()
		if err := b.Mark(); err != nil {
			t.Fatal(err)
		}
		for i := range products {
			for range i + 1 { // intervals of 1, 2, … products
				b.MatMul(y, x, w)
			}
			if err := b.Mark(); err != nil {
				t.Fatal(err)
			}
		}
		got, err := b.Marks(times)
		host := time.Since(h0).Seconds()
		if err != nil || got != products+1 {
			t.Fatalf("run %d: %d times (error %v), want %d", run, got, err, products+1)
		}
		t.Logf("run %d: markers at %.6f s", run, times[:got])
		if times[0] != 0 || times[got-1] > host {
			t.Errorf("run %d: times %v s, want from 0 to at most the host's %g", run, times[:got], host)
		}
		for i := 1; i < got; i++ {
			// Interval i holds i products; interval 1 one: a product takes
			// the same time in each, to within a factor of 2.
			if d, one := times[i]-times[i-1], times[1]; !(d > 0.5*float64(i)*one && d < 2*float64(i)*one) {
				t.Errorf("run %d: interval %d of %d products took %g s, against %g for one", run, i, i, d, one)
			}
		}
	}
	if got, err := b.Marks(times); got != 0 || err != nil {
		t.Errorf("no markers: %d times, error %v", got, err)
	}
	for range 3 {
		if err := b.Mark(); err != nil {
			t.Fatal(err)
		}
	}
	computetest.MustPanic(t, "Marks into too few", "compute: Marks: 3 markers for 2 times", func() { b.Marks(times[:2]) })
	computetest.MustPanic(t, "Mark during Record", "compute: Mark: called while Record runs", func() {
		b.Record(func() { b.Mark() })
	})
}
