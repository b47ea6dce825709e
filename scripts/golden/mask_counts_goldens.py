#!/usr/bin/env python3
"""Golden data for decode.maskCounts: the mask counts of LLaDA's
get_log_likelihood.forward_process, as PyTorch computes them.

Usage: mask_counts_goldens.py OUT.json   (needs torch; uses CUDA when there)

For T in 1..64 and a few larger, b in 1..16 and k in 1..T, computes
((round(linspace(k, k + (b-1)*(T/b), steps=b)) - 1) % T) + 1 on the CPU and
on CUDA, checks that both agree, and keeps every case where float64
arithmetic gives other counts (the ones that tell float32's rounding from
float64's) and every case of T <= 12. Copy OUT.json to
testdata/golden/llada-mask-counts.json; TestMaskCountsTorch reads it.
"""
import json
import sys

import torch


def counts(k, T, b, dev):
    kt = torch.tensor(k, device=dev)
    x = torch.round(torch.linspace(float(kt), kt + (b - 1) * (T / b), steps=b, device=dev)).long()
    return (((x - 1) % T) + 1).tolist()


def float64_counts(k, T, b):
    start = float(k)
    end = start + (b - 1) * (T / b)
    step = (end - start) / max(b - 1, 1)
    out = []
    for r in range(b):
        v = start if b == 1 else (start + step * r if r < b // 2 else end - step * (b - 1 - r))
        out.append((round(v) - 1) % T + 1)  # Python's round is half to even, as torch.round
    return out


def main():
    devs = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    cases, n = [], 0
    for T in list(range(1, 65)) + [96, 100, 127, 128, 255, 256, 500]:
        for b in range(1, 17):
            for k in range(1, T + 1):
                got = [counts(k, T, b, d) for d in devs]
                assert all(g == got[0] for g in got), (T, b, k, got)
                n += 1
                if got[0] != float64_counts(k, T, b) or T <= 12:
                    cases.append([T, b, k, got[0]])
    src = (f"torch {torch.__version__} on {' and '.join(devs)}: ((round(linspace(k, k + (b-1)*(T/b), b)) - 1) % T) + 1, "
           f"as LLaDA's forward_process computes it, for {n} (T, b, k); kept: every case where float64 arithmetic "
           "gives other counts, and every case of T <= 12")
    json.dump({"source": src, "cases": cases}, open(sys.argv[1], "w"), separators=(",", ":"))


if __name__ == "__main__":
    main()
