#!/usr/bin/env python3
"""One table per card from a GPU session's results: dllmbench's records, the
PyTorch peers (peers.py) and the card's ceilings (ceilings.py), with where
each target of issue 5 stands. Results are grouped by GPU UUID and never
combined across cards.

Reads every *.jsonl under the given files or folders: dllmbench records
(lines with "cell"), peer results ("peer") and ceilings ("ceilings"); and
every parity-test.log (profile.sh with PARITY=1: TestFullShapeParity), on the
card named by the gpu.txt beside it.

Targets (bf16; B = copy bandwidth, G = GEMM rate, both of the same card):
  1 LLaMA-3-8B decode, batch 1: time per token ≤ 1.25·(W + KV)/B, W the
    weight bytes a token reads (the embedding table is not read, one row of
    it is; the LM head is), KV the cache bytes read at the mean context;
    and faster than gpt-fast
  2 batch 8 faster than gpt-fast; batch 32 reported against HF
  3 prefill of 2048 tokens: ≥ 60% of G (FLOPs = 2 · matrix parameters ·
    tokens, the LM head once)
  4 LLaDA reference step (batch 1, 128 + 128, block 32) ≤ 1.5·max(F/G, W/B)
  5 LLaDA dual-cache call ≤ 1.3 × the AR step, and ≥ 8× faster than
    Fast-dLLM's dual-cache call
  6 peak device memory ≤ weights + cache + 2 GiB
  parity: relative error ≤ 1.5 × PyTorch bf16's, and top-1 agreement
    wherever the reference's top-2 margin exceeds 0.1

Usage: table.py PATH...
"""
import glob
import json
import os
import re
import sys
from collections import defaultdict

GIB = 1 << 30


def uid(u):
    u = str(u or "").lower()
    return u[4:] if u.startswith("gpu-") else u


PARITY_ERR = re.compile(r"(\S+) \((\w+)\) on \S+: relative error (\S+) \(max abs \S+\); PyTorch bf16 (\S+);")
PARITY_TOP1 = re.compile(r"top-1 agreement: (\d+)/(\d+) rows with margin")


def load_parity(cards, log):
    """TestFullShapeParity's lines in log, on the card of gpu.txt beside it."""
    try:
        with open(os.path.join(os.path.dirname(log), "gpu.txt"), errors="replace") as fh:
            fields = [f.strip() for f in fh.readline().split(",")]  # name, uuid, driver, … (nvidia-smi's CSV)
        u = next((f for f in fields if f.lower().startswith("gpu-")), "")
        with open(log, errors="replace") as fh:
            lines = fh.readlines()
    except OSError:
        return
    if not u:
        return
    c, last = cards[uid(u)], None
    c["name"] = c["name"] or fields[0]
    for line in lines:
        m = PARITY_ERR.search(line)
        if m:
            last = {"model": m[1], "mode": m[2], "rel_err": float(m[3]), "torch_bf16_rel_err": float(m[4])}
            c["parity"].append(last)
            continue
        m = PARITY_TOP1.search(line)
        if m and last is not None:
            last["agree"], last["margined"] = int(m[1]), int(m[2])


def load(paths):
    cards = defaultdict(lambda: {"records": [], "peers": [], "ceilings": [], "parity": [], "name": ""})
    files = []
    for p in paths:
        files += sorted(glob.glob(os.path.join(p, "**", "*.jsonl"), recursive=True)) if os.path.isdir(p) else [p]
        if os.path.isdir(p):
            for log in sorted(glob.glob(os.path.join(p, "**", "parity-test.log"), recursive=True)):
                load_parity(cards, log)
    for f in files:
        with open(f, errors="replace") as fh:
            lines = fh.readlines()
        for line in lines:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if "cell" in r:
                gpu = (r.get("env") or {}).get("gpu") or {}
                if not gpu.get("uuid") or r.get("status") != "ok":
                    continue
                c = cards[uid(gpu["uuid"])]
                c["name"] = gpu.get("name", c["name"])
                c["records"].append(r)
            elif "peer" in r and r.get("uuid"):
                c = cards[uid(r["uuid"])]
                c["name"] = c["name"] or r.get("device", "")
                c["peers"].append(r)
            elif r.get("ceilings") and r.get("uuid"):
                c = cards[uid(r["uuid"])]
                c["name"] = c["name"] or r.get("device", "")
                c["ceilings"].append(r)
    return cards


def drawn(cell):
    """Whether a cell samples or guides (perf-sample*.yaml, perf-cfg-llada.yaml):
    not the targets' greedy cells."""
    return bool(cell.get("temperature") or cell.get("cfg_scale"))


def find(records, family, batch, prompt, gen, cache=None):
    """The last greedy, unguided record of a cell, by its model family and
    shape."""
    hit = None
    for r in records:
        c = r["cell"]
        if c.get("family") != family or c.get("batch_size") != batch or c.get("prompt_length") != prompt \
                or c.get("gen_length") != gen or drawn(c):
            continue
        if family == "llada" and (c.get("cache") or "none") != cache:
            continue
        hit = r
    return hit


def stat(r, name):
    v = (r.get("stats") or {}).get(name)
    return v.get("mean") if isinstance(v, dict) else v


def peer(peers, name, **kw):
    hit = None
    for p in peers:
        if p["peer"] == name and all(p.get(k) == v for k, v in kw.items()):
            hit = p
    return hit


def matrix_bytes(r):
    """Weight bytes a forward call reads: all of them but the embedding
    table (untied), as the record's roofline gives them, else from the
    checkpoint's config.json when the model folder is readable, else all of
    them (records before the roofline carried it)."""
    per_call = (r.get("roofline") or {}).get("weight_bytes_per_call")
    if per_call:
        return per_call, True
    m = r.get("model") or {}
    w = (r.get("memory") or {}).get("weights") or 0
    try:
        cfg = json.load(open(os.path.join(m.get("dir", ""), "config.json")))
    except OSError:
        return w, False
    vocab = cfg.get("embedding_size") or cfg.get("vocab_size") or 0
    dim = cfg.get("hidden_size") or cfg.get("d_model") or 0
    tied = cfg.get("tie_word_embeddings") or cfg.get("weight_tying") or False
    emb = 0 if tied else vocab * dim * (2 if m.get("weight_dtype") in ("BF16", "F16") else 4)
    return w - emb, True


def clk(r):
    """The record's mean SM clock and the share of its samples the power
    limit held down, as "SM 1640 MHz, power cap in 95% of samples"; "" where
    the record has no clocks (CPU, or before dllmbench sampled them)."""
    mhz, cap = stat(r, "sm_clock_mhz"), stat(r, "power_capped")
    if not mhz:
        return ""
    return f"SM {mhz:.0f} MHz" + (f", power cap in {100 * cap:.0f}% of samples" if cap else "")


def energy_floor(r, step):
    """"; 1.01× the 7.54 ms its 5.28 J allow at the 700 W limit": a step
    can take no less than its energy over the card's power limit, which is
    what holds a step that runs at the limit; "" without the energy or the
    limit."""
    e, gen, nfe = stat(r, "energy_j_per_token"), (r.get("cell") or {}).get("gen_length"), stat(r, "nfe")
    limit = ((r.get("env") or {}).get("gpu") or {}).get("power_limit_w")
    if not (e and gen and nfe and limit):
        return ""
    joules = e * gen * ((r.get("cell") or {}).get("batch_size") or 1) / nfe
    t = joules / limit
    return f"; {step / t:.2f}× the {t * 1e3:.2f} ms its {joules:.2f} J allow at the {limit:.0f} W limit"


def verdict(ok):
    return "**met**" if ok else "**not met**"


def table(uuid, c):
    out = [f"## {c['name'] or 'GPU'} GPU-{uuid}", ""]
    R, P = c["records"], c["peers"]
    B = G = None
    if c["ceilings"]:
        k = c["ceilings"][-1]
        B, G = k["B_bytes_per_s"], k["G_flop_per_s"]
        sustained = k.get("G_sustained_flop_per_s")
        at = lambda key: f" at {k[key]:.0f} MHz" if k.get(key) else ""
        note = at("G_sm_mhz")
        if sustained:
            note += f"; {sustained / 1e12:.0f} after {k.get('sustained_warm_s', 3):g} s of it under the power cap{at('G_sustained_sm_mhz')}"
        out.append(f"Ceilings: B = {B / 1e12:.2f} TB/s (4 GiB device copy, read + write), "
                   f"G = {G / 1e12:.0f} TFLOP/s (bf16 GEMM 8192³{note}), torch {k.get('torch', '?')}.")
    else:
        out.append("Ceilings: not measured on this card (ceilings.py): targets 1, 3 and 4 cannot be judged.")
    out += ["", "| measurement | dllmbench | peers, same card | target | status |", "|---|---|---|---|---|"]

    def row(what, ours, theirs, target, status):
        out.append(f"| {what} | {ours} | {theirs} | {target} | {status} |")

    def jpt(e):
        """", X J/token" for an energy per generated token, "" for none."""
        return f", {e:.2f} J/token" if e else ""

    def pj(p):
        return jpt(p and p.get("joules_per_token"))

    ar = find(R, "llama", 1, 128, 128)
    gf1, gf8 = peer(P, "gpt-fast", batch=1), peer(P, "gpt-fast", batch=8)
    hf = {b: peer(P, "hf-generate", batch=b) for b in (1, 8, 32)}
    if ar:
        tpot, tps = stat(ar, "tpot_s"), stat(ar, "tokens_per_s")
        w, exact = matrix_bytes(ar)
        mem = ar.get("memory") or {}
        kv = (mem.get("cache") or 0) * (128 + 64) / 256  # the mean context of 128 + 128, cache of 256 slots
        ours = f"{tpot * 1e3:.3f} ms/token, {tps:.1f} tok/s, {(w + kv) / tpot / 1e12:.2f} TB/s"
        ours += jpt(stat(ar, "energy_j_per_token"))
        theirs = "; ".join(x for x in [
            gf1 and f"gpt-fast {gf1['tokens_per_s']:.1f} tok/s{pj(gf1)} ({gf1.get('decode_ms_per_token', 0):.2f} ms/token decoding)",
            hf[1] and f"HF {hf[1]['tokens_per_s']:.1f} tok/s{pj(hf[1])}"] if x) or "none"
        if B:
            bound = 1.25 * (w + kv) / B
            target = f"≤ {bound * 1e3:.2f} ms (W {w / 1e9:.2f} GB{'' if exact else ', embedding included'}), > gpt-fast"
            ok = tpot <= bound and gf1 is not None and tps > gf1["tokens_per_s"]
            status = verdict(ok) + f" ({tpot / ((w + kv) / B):.2f}× bytes/B" + (
                f"; {tps / gf1['tokens_per_s']:.2f}× gpt-fast)" if gf1 else "; gpt-fast not run)")
        else:
            target, status = "≤ 1.25·(W+KV)/B, > gpt-fast", "no ceilings"
        row("1. LLaMA-3-8B decode, batch 1", ours, theirs, target, status)
    for b in (4, 8, 32):
        r = find(R, "llama", b, 128, 128)
        if not r:
            continue
        tps = stat(r, "tokens_per_s")
        ours = f"{tps:.0f} tok/s, {stat(r, 'tpot_s') * 1e3:.2f} ms/step" + jpt(stat(r, "energy_j_per_token"))
        theirs = "; ".join(x for x in [
            b == 8 and gf8 and f"gpt-fast {gf8['tokens_per_s']:.0f} tok/s{pj(gf8)}",
            hf.get(b) and f"HF {hf[b]['tokens_per_s']:.0f} tok/s{pj(hf[b])}"] if x) or "none"
        if b == 8:
            status = verdict(tps > gf8["tokens_per_s"]) + f" ({tps / gf8['tokens_per_s']:.2f}×)" if gf8 else "gpt-fast not run"
            row("2. LLaMA-3-8B decode, batch 8", ours, theirs, "> gpt-fast", status)
        elif b == 32:
            status = f"{tps / hf[32]['tokens_per_s']:.1f}× HF" if hf.get(32) else "HF not run"
            row("2. LLaMA-3-8B decode, batch 32", ours, theirs, "report against HF", status)
        else:
            row(f"LLaMA-3-8B decode, batch {b}", ours, theirs, "", "")
    for fam, name in (("llama", "LLaMA-3-8B"), ("llada", "LLaDA-8B")):
        r = find(R, fam, 1, 2048, 32, cache="none" if fam == "llada" else None)
        if not r:
            continue
        w, exact = matrix_bytes(r)
        params = w / 2  # bf16
        if fam == "llama":
            t = stat(r, "ttft_s")
            flops = 2 * params * 2048
            what = f"3. {name} prefill, 2048 tokens"
        else:
            t = stat(r, "latency_s")  # one step over prompt + block
            flops = 2 * params * (2048 + 32)
            what = f"{name} step over 2048 + 32 tokens"
        ours = f"{t * 1e3:.1f} ms, {flops / t / 1e12:.0f} TFLOP/s"
        if G:
            status = f"{verdict(flops / t >= 0.6 * G)} ({100 * flops / t / G:.0f}% of G)" if fam == "llama" else f"{100 * flops / t / G:.0f}% of G"
            status += f" ({clk(r)})" if clk(r) else ""
        else:
            status = "no ceilings"
        row(what, ours, "", "≥ 60% of G" if fam == "llama" else "", status)
    ref = find(R, "llada", 1, 128, 128, cache="none")
    lr = peer(P, "llada-ref")
    if ref:
        step = stat(ref, "latency_s") / stat(ref, "nfe")
        w, exact = matrix_bytes(ref)
        flops = 2 * (w / 2) * 256
        theirs = f"LLaDA generate() {lr['step_ms']:.1f} ms/step ({lr['step_ms'] / 1e3 / step:.1f}×){pj(lr)}" if lr else "none"
        if B and G:
            bound = 1.5 * max(flops / G, w / B)
            status = verdict(step <= bound) + f" ({step / bound:.2f}× the bound, {step / bound * 1.5:.2f}× the larger floor" + (
                f"; {clk(ref)}" if clk(ref) else "") + energy_floor(ref, step) + ")"
            target = f"≤ {bound * 1e3:.2f} ms"
        else:
            status, target = "no ceilings", "≤ 1.5·max(F/G, W/B)"
        row("4. LLaDA-8B reference step, batch 1", f"{step * 1e3:.2f} ms" + jpt(stat(ref, "energy_j_per_token")), theirs,
            target, status)
    dual = find(R, "llada", 1, 128, 128, cache="dual")
    fd = peer(P, "fast-dllm", cache="dual")
    if dual:
        call = stat(dual, "latency_s") / stat(dual, "nfe")
        theirs = "; ".join(x for x in [
            fd and f"Fast-dLLM dual {fd['call_ms']:.1f} ms/call ({fd['call_ms'] / 1e3 / call:.1f}×){pj(fd)}"] if x) or "none"
        parts = []
        ok = True
        if ar:
            ratio = call / stat(ar, "tpot_s")
            parts.append(f"{ratio:.2f}× the AR step")
            ok = ok and ratio <= 1.3
        if fd:
            parts.append(f"{fd['call_ms'] / 1e3 / call:.1f}× Fast-dLLM")
            ok = ok and fd["call_ms"] / 1e3 / call >= 8
        status = (verdict(ok) if ar and fd else "incomplete") + " (" + ", ".join(parts) + ")"
        row("5. LLaDA-8B dual-cache call, batch 1", f"{call * 1e3:.2f} ms, {stat(dual, 'tokens_per_s'):.1f} tok/s"
            + jpt(stat(dual, "energy_j_per_token")), theirs, "≤ 1.3 × AR step, ≥ 8× Fast-dLLM", status)
    worst = None
    for r in R:
        m = r.get("memory") or {}
        if not m.get("device_peak"):
            continue
        over = m["device_peak"] - m.get("weights", 0) - m.get("cache", 0)
        if worst is None or over > worst[0]:
            worst = (over, r)
    if worst:
        over, r = worst
        row("6. peak device memory (worst cell)", f"{r['memory']['device_peak'] / GIB:.2f} GiB: weights + cache + "
            f"{over / GIB:.2f} GiB ({r['cell']['model']}, batch {r['cell']['batch_size']}, prompt {r['cell']['prompt_length']})",
            "", "≤ weights + cache + 2 GiB", verdict(over <= 2 * GIB))
    for p in c["parity"]:
        ratio = p["rel_err"] / p["torch_bf16_rel_err"] if p["torch_bf16_rel_err"] else float("inf")
        ours = f"relative error {p['rel_err']:.2e} ({ratio:.3g}× PyTorch bf16's {p['torch_bf16_rel_err']:.2e})"
        ok = ratio <= 1.5
        if "margined" in p:
            ours += f", top-1 {p['agree']}/{p['margined']}"
            ok = ok and p["agree"] == p["margined"]
        else:
            ok = False  # the test stopped before its agreement line
        row(f"parity, {p['model']} ({p['mode']} weights)", ours, "",
            "≤ 1.5 × PyTorch bf16's error; top-1 where the margin > 0.1", verdict(ok))
    # Sampled and guided cells (no target): tokens a second against the
    # greedy cell of the same shape on the same card.
    seen = {}
    for r in R:
        c = r["cell"]
        if drawn(c) and r.get("status", "ok") == "ok":
            seen[json.dumps(c, sort_keys=True)] = r
    for r in seen.values():
        c = r["cell"]
        how = [f"T={c['temperature']:g}" if c.get("temperature") else "greedy"]
        how += [f"top-k {c['top_k']}"] if c.get("top_k") else []
        how += [f"top-p {c['top_p']:g}"] if c.get("top_p") and c["top_p"] < 1 else []
        how += [f"cfg {c['cfg_scale']:g}"] if c.get("cfg_scale") else []
        fam = "LLaMA-3-8B decode" if c.get("family") == "llama" else f"LLaDA-8B, {c.get('cache') or 'none'} cache"
        tps = stat(r, "tokens_per_s")
        if not tps:
            continue
        g = find(R, c.get("family"), c.get("batch_size"), c.get("prompt_length"), c.get("gen_length"),
                 cache=c.get("cache") or "none" if c.get("family") == "llada" else None)
        row(f"{fam}, batch {c.get('batch_size')}, {', '.join(how)}", f"{tps:.1f} tok/s" + jpt(stat(r, "energy_j_per_token")),
            "", "", f"{tps / stat(g, 'tokens_per_s'):.2f}× greedy" if g else "no greedy cell")
    other = [f"{p['cache']} {p['call_ms']:.1f} ms/call" for p in P if p["peer"] == "fast-dllm" and p.get("cache") != "dual"]
    if other:
        out += ["", "Fast-dLLM's other decoders on this card: " + ", ".join(other) + "."]
    return "\n".join(out)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cards = load(sys.argv[1:])
    if not cards:
        sys.exit("table.py: no records, peers or ceilings found")
    for u, c in sorted(cards.items()):
        print(table(u, c))
        print()


if __name__ == "__main__":
    main()
