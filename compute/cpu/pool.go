package cpu

import "sync"

// task is a piece of work split over index ranges. Ops keep their task in
// the Backend and pass a pointer to it, so dispatching allocates nothing.
type task interface {
	run(lo, hi int)
}

type job struct {
	t      task
	lo, hi int
}

// pool is a fixed set of worker goroutines. Calls to For are serialised by
// the Backend's single-goroutine contract.
type pool struct {
	workers int
	jobs    chan job
	wg      sync.WaitGroup
}

func newPool(workers int) *pool {
	p := &pool{workers: workers, jobs: make(chan job, workers)}
	for i := 1; i < workers; i++ {
		go func() {
			for j := range p.jobs {
				j.t.run(j.lo, j.hi)
				p.wg.Done()
			}
		}()
	}
	return p
}

// For runs t over [0, n) in up to p.workers contiguous chunks of at least
// grain indices, the caller's goroutine taking the first. Which chunk an
// index lands in never changes what is computed for it: ops are written so
// that every index is computed the same way whatever the split.
func (p *pool) For(n, grain int, t task) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	if chunks > p.workers {
		chunks = p.workers
	}
	if chunks <= 1 {
		t.run(0, n)
		return
	}
	step := (n + chunks - 1) / chunks
	chunks = (n + step - 1) / step // rounding up step may leave fewer chunks
	p.wg.Add(chunks - 1)
	for lo := step; lo < n; lo += step {
		p.jobs <- job{t, lo, min(lo+step, n)}
	}
	t.run(0, min(step, n))
	p.wg.Wait()
}

func (p *pool) close() { close(p.jobs) }
