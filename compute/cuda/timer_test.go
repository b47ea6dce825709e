package cuda

import (
	"testing"

	"dllmbench/compute/computetest"
)

// Misuse of the device timer panics before reaching a device, so these
// cases run without a GPU.
func TestTimerMisuse(t *testing.T) {
	cases := []struct {
		name string
		b    *Backend
		f    func(b *Backend)
		want string
	}{
		// StopTimer with no StartTimer before it.
		{"stop without start", &Backend{}, func(b *Backend) { b.StopTimer() }, "compute: StopTimer: the timer is not running"},
		// A second StartTimer before StopTimer.
		{"start twice", &Backend{timer: eventTimer{running: true}}, func(b *Backend) { b.StartTimer() },
			"compute: StartTimer: the timer is already running"},
		// A marker queued while a graph records would be captured, not timed.
		{"start while recording", &Backend{recording: true}, func(b *Backend) { b.StartTimer() },
			"compute: StartTimer: called while Record runs"},
		{"stop while recording", &Backend{recording: true, timer: eventTimer{running: true}},
			func(b *Backend) { b.StopTimer() }, "compute: StopTimer: called while Record runs"},
	}
	for _, c := range cases {
		computetest.MustPanic(t, c.name, c.want, func() { c.f(c.b) })
	}
}
