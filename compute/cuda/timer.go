package cuda

import (
	"errors"
	"fmt"

	"dllmbench/compute"
	"dllmbench/internal/cuda"
)

var _ compute.DeviceTimer = (*Backend)(nil)

// eventTimer is the pair of events behind StartTimer and StopTimer,
// created at the first StartTimer and destroyed by Close, so that timing a
// batch creates nothing.
type eventTimer struct {
	start, end cuda.Event // 0 until the first StartTimer
	running    bool       // a StartTimer succeeded and no StopTimer followed
}

// StartTimer records the start event on the stream, behind the work queued
// so far, and returns without waiting.
func (b *Backend) StartTimer() error {
	b.noRecording("StartTimer")
	if b.timer.running {
		compute.Panicf("StartTimer", "the timer is already running (no StopTimer after the last StartTimer)")
	}
	b.enter()
	defer b.exit()
	if b.timer.start == 0 {
		if err := b.timer.create(); err != nil {
			return fmt.Errorf("cuda: StartTimer: %w", err)
		}
	}
	if err := b.timer.start.Record(b.stream); err != nil {
		return fmt.Errorf("cuda: StartTimer: %w", err)
	}
	b.timer.running = true
	return nil
}

// StopTimer records the end event, waits for it, and returns the device
// time between the two events in seconds (the driver gives milliseconds
// to about half a microsecond). A failure of an op queued before it is
// returned first, as Sync returns it.
func (b *Backend) StopTimer() (float64, error) {
	b.noRecording("StopTimer")
	if !b.timer.running {
		compute.Panicf("StopTimer", "the timer is not running (no successful StartTimer before it)")
	}
	b.timer.running = false
	b.enter()
	defer b.exit()
	var ms float32
	err := b.timer.end.Record(b.stream)
	if err == nil {
		err = b.timer.end.Synchronize()
	}
	if err == nil {
		ms, err = cuda.ElapsedTime(b.timer.start, b.timer.end)
	}
	if err != nil {
		b.fail(fmt.Errorf("cuda: StopTimer: %w", err))
	}
	if err := b.takeErr(); err != nil {
		return 0, err
	}
	return float64(ms) / 1e3, nil
}

// create makes both events, or neither.
func (t *eventTimer) create() error {
	start, err := cuda.NewEvent(cuda.EventDefault)
	if err != nil {
		return err
	}
	end, err := cuda.NewEvent(cuda.EventDefault)
	if err != nil {
		return errors.Join(err, start.Destroy())
	}
	t.start, t.end = start, end
	return nil
}

// close destroys the events, if any; the context must be current.
func (t *eventTimer) close() error {
	var errs []error
	for _, e := range []*cuda.Event{&t.start, &t.end} {
		if *e != 0 {
			errs = append(errs, e.Destroy())
			*e = 0
		}
	}
	t.running = false
	return errors.Join(errs...)
}

var _ compute.Marker = (*Backend)(nil)

// marks are the events behind Mark and Marks: created as Mark first needs
// each, then reused, so that a run of steps as long as an earlier one
// creates none. Close destroys them.
type marks struct {
	events []cuda.Event
	n      int // recorded since the last Marks
}

// Mark records the next event of the pool on the stream.
func (b *Backend) Mark() error {
	b.noRecording("Mark")
	b.enter()
	defer b.exit()
	m := &b.marks
	if m.n == len(m.events) {
		e, err := cuda.NewEvent(cuda.EventDefault)
		if err != nil {
			return fmt.Errorf("cuda: Mark: %w", err)
		}
		m.events = append(m.events, e)
	}
	if err := m.events[m.n].Record(b.stream); err != nil {
		return fmt.Errorf("cuda: Mark: %w", err)
	}
	m.n++
	return nil
}

// Marks waits for the last marker and reads each one's time after the
// first (the driver gives milliseconds to about half a microsecond).
func (b *Backend) Marks(dst []float64) (int, error) {
	b.noRecording("Marks")
	m := &b.marks
	n := m.n
	if len(dst) < n {
		compute.Panicf("Marks", "%d markers for %d times", n, len(dst))
	}
	m.n = 0
	b.enter()
	defer b.exit()
	var err error
	if n > 0 {
		err = m.events[n-1].Synchronize()
	}
	for i := 0; i < n && err == nil; i++ {
		var ms float32
		ms, err = cuda.ElapsedTime(m.events[0], m.events[i])
		dst[i] = float64(ms) / 1e3
	}
	if err != nil {
		b.fail(fmt.Errorf("cuda: Marks: %w", err))
	}
	if err := b.takeErr(); err != nil {
		return 0, err
	}
	return n, nil
}

// close destroys the events; the context must be current.
func (m *marks) close() error {
	var errs []error
	for _, e := range m.events {
		errs = append(errs, e.Destroy())
	}
	m.events, m.n = nil, 0
	return errors.Join(errs...)
}
