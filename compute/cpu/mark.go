package cpu

import (
	"time"

	"dllmbench/compute"
)

var _ compute.Marker = (*Backend)(nil)

// Mark notes the time: the CPU backend's ops are done when they return.
func (b *Backend) Mark() error {
	b.marks = append(b.marks, time.Now())
	return nil
}

// Marks returns the times of the marks since the last call, from the first.
func (b *Backend) Marks(dst []float64) (int, error) {
	n := len(b.marks)
	if len(dst) < n {
		compute.Panicf("Marks", "%d markers for %d times", n, len(dst))
	}
	for i, t := range b.marks {
		dst[i] = t.Sub(b.marks[0]).Seconds()
	}
	b.marks = b.marks[:0]
	return n, nil
}
