"""The card's energy over timed runs, as dllmbench measures it (bench/energy.go).

NVML's total-energy counter moves only every 100 ms on an H200 (in steps
of 70 J under load) and a reading takes about 4 ms (docs/perf.md, CUDA
v17), so the difference of two readings around a run is off by up to a
step at either end: 0 or 70 J around 10 ms of work. Line follows the
counter in a thread while the runs go on, keeps each new value with the
time it was read, and gives a run the energy on the straight lines through
those steps between its start and its end. Runs that span less than ten
steps together get none (the step in which the last run ends also holds
the idle time after it).

No torch here: peers.py passes its NVML reader, and energy_line_test.py a
made-up counter.
"""
import bisect
import threading
import time

PERIOD = 0.1      # seconds between the counter's updates (NVML, H200, driver 580)
MIN_PERIODS = 10  # the fewest periods runs must span for their energy


def energy_at(steps, t):
    """The counter at time t on the lines through steps [(time, joules)],
    in time order; None before the first step or from the last on."""
    k = bisect.bisect_right([s[0] for s in steps], t)
    if k == 0 or k == len(steps):
        return None
    (t0, j0), (t1, j1) = steps[k - 1], steps[k]
    return j0 + (j1 - j0) * (t - t0) / (t1 - t0)


class Line:
    """Follows read() (joules, or None where there is no counter) in a
    thread, every poll seconds, while a with-block runs. Inside it, mark
    each run with run(start, end) (time.perf_counter() times); after it,
    joules() is each run's energy, or None where the counter is missing,
    stuck, or the runs were too short (why says which)."""

    def __init__(self, read, poll=0.005, period=PERIOD):
        self.read, self.poll, self.period = read, poll, period
        self.steps, self.spans, self.why = [], [], None
        self.cond = threading.Condition()
        self.stop = False
        self.thread = None

    def _follow(self):
        last = self.first
        while True:
            with self.cond:
                if self.stop:
                    return
            t0 = time.perf_counter()
            j = self.read()
            at = (t0 + time.perf_counter()) / 2
            with self.cond:
                if j is None or j < last:
                    self.why = "the energy counter failed or went backwards"
                    self.cond.notify_all()
                    return
                if j > last:
                    self.steps.append((at, j))
                    last = j
                    self.cond.notify_all()
            time.sleep(self.poll)

    def _await(self, after):
        """Waits up to three periods for a step later than after."""
        limit = max(3 * self.period, 50 * self.poll)
        deadline = time.perf_counter() + limit
        with self.cond:
            while not (self.steps and self.steps[-1][0] > after) and self.why is None:
                left = deadline - time.perf_counter()
                if left <= 0:
                    self.why = f"the energy counter did not move within {limit:g} s"
                    return False
                self.cond.wait(left)
            return self.why is None

    def __enter__(self):
        self.first = self.read()
        if self.first is None:
            self.why = "no energy counter"
            return self
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()
        self._await(time.perf_counter())
        return self

    def run(self, start, end):
        self.spans.append((start, end))

    def __exit__(self, *exc):
        if self.thread is not None:
            if self.spans and self.why is None:
                self._await(self.spans[-1][1])
            with self.cond:
                self.stop = True
            self.thread.join()

    def joules(self):
        """Each run's joules, or None (why says why)."""
        if self.why is not None or not self.spans:
            return None
        span = self.spans[-1][1] - self.spans[0][0]
        if span < MIN_PERIODS * self.period:
            self.why = f"the runs took {span:.3g} s together, under the {MIN_PERIODS * self.period:g} s the counter needs"
            return None
        out = []
        for a, b in self.spans:
            ja, jb = energy_at(self.steps, a), energy_at(self.steps, b)
            if ja is None or jb is None:
                self.why = "the counter's steps do not surround every run"
                return None
            out.append(jb - ja)
        return out
