#!/usr/bin/env python3
"""The card's ceilings for issue 5's targets, measured with PyTorch on the
card the rest of the run uses, as one JSON line:
  B  (bytes read + bytes written) / time of a 4 GiB device-to-device copy
  G  rate of an 8192³ bf16 GEMM (cuBLAS through torch.matmul)
Each is the median of 20 timed repetitions after 3 warm-ups, timed with
CUDA events. G_sustained, a note beside them (no target uses it), is the
same GEMM's rate after 3 s of it back to back: under the card's power cap
a long run of products on random data runs at lower clocks than the 30 ms
that G takes. G_sm_mhz and G_sustained_sm_mhz are the SM clock over each
(NVML through ctypes, sampled every 5 ms; left out where NVML does not
load).

Usage: ceilings.py [--out FILE]
"""
import argparse
import ctypes
import json
import statistics
import threading

import torch


def timed(fn, reps=20, warmup=3):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b) / 1e3)
    return statistics.median(ts)


class Clock:
    """Samples the SM clock of the device with this UUID through NVML in a
    thread, every `every` seconds, while a with-block runs: samples holds
    them, mhz their mean, None without NVML (scripts/gpu/wgmma/run.py uses
    it too, and its handle for the energy counter)."""

    def __init__(self, uuid, every=0.005):
        self.mhz, self.dev, self.every = None, None, every
        try:
            self.nvml = ctypes.CDLL("libnvidia-ml.so.1")
            dev = ctypes.c_void_p()
            if self.nvml.nvmlInit_v2() == 0 and self.nvml.nvmlDeviceGetHandleByUUID(
                    ("GPU-" + uuid).encode(), ctypes.byref(dev)) == 0:
                self.dev = dev
        except OSError:
            pass

    def read(self):
        c = ctypes.c_uint()
        ok = self.nvml.nvmlDeviceGetClockInfo(self.dev, 1, ctypes.byref(c)) == 0  # NVML_CLOCK_SM
        return c.value if ok else None

    def __enter__(self):
        self.samples, self.stop = [], threading.Event()

        def run():
            while not self.stop.wait(self.every):
                v = self.read()
                if v:
                    self.samples.append(v)
        self.thread = threading.Thread(target=run, daemon=True) if self.dev else None
        if self.thread:
            self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.thread:
            self.stop.set()
            self.thread.join()
            self.mhz = statistics.mean(self.samples) if self.samples else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    n = 4 << 30
    src, dst = torch.empty(n, dtype=torch.uint8, device="cuda"), torch.empty(n, dtype=torch.uint8, device="cuda")
    copy_s = timed(lambda: dst.copy_(src))
    del src, dst
    x = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda")
    w = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda")
    uuid = str(torch.cuda.get_device_properties(0).uuid)
    burst, held = Clock(uuid), Clock(uuid)
    with burst:
        gemm_s = timed(lambda: torch.matmul(x, w))
    warm = 3.0
    for _ in range(int(warm / gemm_s)):
        torch.matmul(x, w)
    with held:
        sustained_s = timed(lambda: torch.matmul(x, w), warmup=0)
    rec = {"ceilings": True, "device": torch.cuda.get_device_name(0), "uuid": uuid,
           "copy_bytes": n, "copy_s": copy_s, "B_bytes_per_s": 2 * n / copy_s,
           "gemm_s": gemm_s, "G_flop_per_s": 2 * 8192**3 / gemm_s,
           "G_sustained_flop_per_s": 2 * 8192**3 / sustained_s, "sustained_warm_s": warm, "torch": torch.__version__}
    for key, c in (("G_sm_mhz", burst), ("G_sustained_sm_mhz", held)):
        if c.mhz:
            rec[key] = c.mhz
    print(json.dumps(rec), flush=True)
    if a.out:
        with open(a.out, "a") as f:
            f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
