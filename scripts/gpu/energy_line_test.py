#!/usr/bin/env python3
"""Tests of energy_line.py on made-up counters (no GPU): make test runs it."""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import energy_line as el  # noqa: E402


class Stepped:
    """A counter that moves every step seconds by watts × step, from now."""

    def __init__(self, watts, step):
        self.watts, self.step, self.t0 = watts, step, time.perf_counter()

    def __call__(self):
        n = int((time.perf_counter() - self.t0) / self.step)
        return n * self.watts * self.step


class EnergyLineTest(unittest.TestCase):
    def test_energy_at(self):
        steps = [(0.0, 10.0), (0.1, 80.0), (0.2, 150.0)]
        for t, want in [(-0.01, None), (0.0, 10.0), (0.05, 45.0), (0.175, 132.5), (0.2, None), (0.3, None)]:
            got = el.energy_at(steps, t)
            if want is None:
                self.assertIsNone(got, t)
            else:
                self.assertAlmostEqual(got, want, msg=t)
        self.assertIsNone(el.energy_at([], 0.0))

    def test_short_runs_get_their_share(self):
        # Runs of 5 ms on a counter that moves every 20 ms by 10 J (500 W):
        # two readings around each give 0 or 10 J; the line through the
        # steps gives each about 2.5 J. The steps are as the thread would
        # keep them, each read up to 1 ms after the counter moved (the times
        # are given, not slept: a loaded machine's scheduler made the
        # threaded form of this test fail).
        watts, step, rep = 500.0, 0.02, 0.005
        line = el.Line(lambda: None, period=step)
        line.steps = [(i * step + 0.001 * ((7 * i) % 11) / 10, watts * step * i) for i in range(40)]
        for k in range(48):
            a = 0.03 + k * 0.0151  # runs at every phase of the steps
            line.run(a, a + rep)
        js = line.joules()
        self.assertIsNotNone(js, line.why)
        total, want = 0.0, 0.0
        for (a, b), j in zip(line.spans, js):
            p = j / (b - a)
            self.assertTrue(0.85 * watts < p < 1.15 * watts, f"{j:.3f} J in {(b - a) * 1e3:.1f} ms at {a:.4f} s")
            total, want = total + j, want + watts * (b - a)
        self.assertLess(abs(total - want), 0.02 * want)

    def test_follows_a_counter(self):
        # The thread keeps each step of a real (made-up) counter, in order,
        # and a run inside the with-block gets energy off them.
        # period is what Line assumes: 10 of them (0.5 s) must pass, and
        # it waits up to 3 (0.15 s) for a step, ample for a busy machine.
        counter = Stepped(500.0, 0.01)
        line = el.Line(counter, poll=0.001, period=0.05)
        with line:
            a = time.perf_counter()
            time.sleep(0.6)
            line.run(a, time.perf_counter())
        self.assertIsNone(line.why)
        self.assertGreaterEqual(len(line.steps), 3)
        self.assertEqual(line.steps, sorted(line.steps))
        self.assertTrue(all(j1 > j0 for (_, j0), (_, j1) in zip(line.steps, line.steps[1:])))
        js = line.joules()
        self.assertIsNotNone(js, line.why)
        self.assertGreater(js[0], 0)

    def test_too_short_stuck_missing(self):
        line = el.Line(Stepped(100.0, 0.002), poll=0.001, period=1.0)
        with line:
            line.run(time.perf_counter(), time.perf_counter())
        self.assertIsNone(line.joules())
        self.assertIn("under the 10 s", line.why)

        line = el.Line(lambda: 5.0, poll=0.001, period=0.002)
        with line:
            line.run(time.perf_counter(), time.perf_counter())
        self.assertIsNone(line.joules())
        self.assertIn("did not move", line.why)

        line = el.Line(lambda: None)
        with line:
            line.run(0.0, 1.0)
        self.assertIsNone(line.joules())
        self.assertEqual(line.why, "no energy counter")
        self.assertEqual(threading.active_count(), 1)


if __name__ == "__main__":
    unittest.main()
