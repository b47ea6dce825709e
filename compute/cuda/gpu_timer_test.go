package cuda

import (
	"testing"
	"time"

	"dllmbench/compute"
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
	mustPanic(t, "StopTimer without StartTimer", "compute: StopTimer: the timer is not running", func() { b.StopTimer() })
	if err := b.StartTimer(); err != nil {
		t.Fatal(err)
	}
	mustPanic(t, "StartTimer twice", "compute: StartTimer: the timer is already running", func() { b.StartTimer() })
	if _, err := b.StopTimer(); err != nil {
		t.Error(err)
	}
	mustPanic(t, "StartTimer during Record", "compute: StartTimer: called while Record runs", func() {
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
