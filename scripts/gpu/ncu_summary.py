#!/usr/bin/env python3
"""Summarises an Nsight Compute CSV (ncu --csv --page raw --metrics
gpu__time_duration.sum) of one dllmbench process: the kernels grouped by
name with count, mean and total time, then the kernels of one repeating
unit (a decode step or a diffusion call) in launch order.

Usage: ncu_summary.py FILE.csv [--period-start NAME] [--last N]
"""
import argparse
import collections
import csv
import io
import re
import sys


def rows(path):
    text = open(path, errors="replace").read()
    start = text.find('"ID"')
    if start < 0:
        sys.exit(f"{path}: no CSV header")
    r = list(csv.reader(io.StringIO(text[start:])))
    head, body = r[0], r[1:]
    name, dur = head.index("Kernel Name"), head.index("gpu__time_duration.sum")
    grid = head.index("Grid Size") if "Grid Size" in head else None
    out = []
    for row in body:
        if len(row) <= dur or not re.match(r"^[0-9.]+$", row[dur].replace(",", "")):
            continue
        n = re.sub(r"\(.*", "", row[name])[:60]
        out.append((n, float(row[dur].replace(",", "")) / 1e3, row[grid] if grid is not None else ""))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--last", type=int, default=0, help="also list the last N launches in order")
    a = ap.parse_args()
    k = rows(a.csv)
    total = sum(d for _, d, _ in k)
    print(f"{len(k)} launches, {total:.1f} us of kernel time")
    by = collections.OrderedDict()
    for n, d, _ in k:
        c = by.setdefault(n, [0, 0.0])
        c[0] += 1
        c[1] += d
    print(f"{'kernel':60} {'count':>6} {'mean us':>9} {'total us':>10} {'share':>6}")
    for n, (c, t) in sorted(by.items(), key=lambda x: -x[1][1]):
        print(f"{n:60} {c:6d} {t / c:9.2f} {t:10.1f} {100 * t / total:5.1f}%")
    if a.last:
        print(f"-- last {a.last} launches")
        for n, d, g in k[-a.last:]:
            print(f"{d:9.2f}  {n}  {g}")


if __name__ == "__main__":
    main()
