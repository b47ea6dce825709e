#!/usr/bin/env python3
"""Tests of table.py on made-up results (the standard library only: make
test runs them on machines without a GPU or PyTorch)."""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import table  # noqa: E402

A, B = "aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002"


def record(uuid, family, batch, prompt, gen, cache=None, **stats):
    cell = {"model": family + "-8b", "family": family, "batch_size": batch, "prompt_length": prompt,
            "gen_length": gen, "backend": "cuda"}
    if cache:
        cell["cache"] = cache
    return {"schema_version": 1, "cell": cell, "status": "ok",
            "env": {"gpu": {"name": "NVIDIA H200", "uuid": "GPU-" + uuid, "power_limit_w": 700}},
            "model": {"dir": "/nowhere", "weight_dtype": "BF16"},
            "memory": {"weights": 16_000_000_000, "cache": 64_000_000, "device_peak": 16_500_000_000},
            "roofline": {"weight_bytes_per_call": 15_000_000_000},
            "stats": {k: {"mean": v} for k, v in stats.items()}}


class TableTest(unittest.TestCase):
    def write(self, lines):
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "results.jsonl"), "w") as f:
            for r in lines:
                f.write(json.dumps(r) + "\n")
            f.write("not json, a log line\n")
        return d

    def test_cards_are_never_combined(self):
        d = self.write([
            {"ceilings": True, "uuid": A, "device": "NVIDIA H200", "B_bytes_per_s": 4.0e12, "G_flop_per_s": 8.0e14},
            record(A, "llama", 1, 128, 128, tpot_s=0.0045, tokens_per_s=220.0),
            record(A, "llada", 1, 128, 128, cache="dual", latency_s=0.64, nfe=128, tokens_per_s=200.0),
            {"peer": "gpt-fast", "batch": 1, "tokens_per_s": 190.0, "decode_ms_per_token": 5.1, "uuid": A,
             "joules_per_token": 3.5},
            # On card B only: must not judge card A's dual-cache call.
            {"peer": "fast-dllm", "cache": "dual", "call_ms": 45.0, "uuid": B, "device": "NVIDIA H200"},
            record(B, "llama", 1, 128, 128, tpot_s=0.0047, tokens_per_s=210.0),
        ])
        cards = table.load([d])
        self.assertEqual(sorted(cards), [A, B])
        a, b = table.table(A, cards[A]), table.table(B, cards[B])
        self.assertIn("GPU-" + A, a)
        self.assertNotIn("45.0 ms/call", a)  # card B's Fast-dLLM
        self.assertIn("incomplete", a)
        self.assertIn("not measured on this card", b)
        self.assertNotIn("power cap", a)  # no sustained rate in the record
        # Target 1 on A: W = 15.0 GB read per call (not the 16.0 GB of all
        # weights) + 48 MB of cache at the mean context, over B = 4 TB/s:
        # bound 1.25 × 3.762 ms = 4.70 ms; 4.5 ms meets it, 220 > 190.
        row = next(l for l in a.splitlines() if l.startswith("| 1."))
        self.assertIn("≤ 4.70 ms (W 15.00 GB)", row)
        self.assertIn("gpt-fast 190.0 tok/s, 3.50 J/token (5.10 ms/token decoding)", row)
        self.assertIn("**met**", row)

    def test_sampled_and_guided_cells(self):
        sampled = record(A, "llama", 1, 128, 128, tpot_s=0.0046, tokens_per_s=209.0)
        sampled["cell"].update(temperature=1.0, top_p=0.95)
        guided = record(A, "llada", 1, 128, 128, cache="none", latency_s=1.6, nfe=128, tokens_per_s=80.0)
        guided["cell"]["cfg_scale"] = 1.0
        alone = record(A, "llada", 1, 128, 128, cache="dual", latency_s=0.64, nfe=128, tokens_per_s=190.0)
        alone["cell"].update(temperature=0.5)
        d = self.write([
            {"ceilings": True, "uuid": A, "device": "NVIDIA H200", "B_bytes_per_s": 4.0e12, "G_flop_per_s": 8.0e14},
            record(A, "llama", 1, 128, 128, tpot_s=0.0045, tokens_per_s=220.0),
            sampled,
            record(A, "llada", 1, 128, 128, cache="none", latency_s=0.96, nfe=128, tokens_per_s=133.0),
            guided, alone,
        ])
        t = table.table(A, table.load([d])[A])
        rows = {l.split("|")[1].strip(): l for l in t.splitlines() if l.startswith("| ")}
        # The targets take the greedy cells; the others get rows of their own
        # against the greedy cell of their shape.
        self.assertIn("4.500 ms/token", rows["1. LLaMA-3-8B decode, batch 1"])
        self.assertIn("7.50 ms", rows["4. LLaDA-8B reference step, batch 1"])
        self.assertIn("| 209.0 tok/s |  |  | 0.95× greedy |", rows["LLaMA-3-8B decode, batch 1, T=1, top-p 0.95"])
        self.assertIn("0.60× greedy", rows["LLaDA-8B, none cache, batch 1, greedy, cfg 1"])
        self.assertIn("no greedy cell", rows["LLaDA-8B, dual cache, batch 1, T=0.5"])
        self.assertNotIn("5. LLaDA-8B dual-cache call, batch 1", rows)

    def test_targets_not_met(self):
        d = self.write([
            {"ceilings": True, "uuid": A, "device": "NVIDIA H200", "B_bytes_per_s": 4.0e12, "G_flop_per_s": 8.0e14,
             "G_sustained_flop_per_s": 6.9e14, "sustained_warm_s": 3.0, "G_sm_mhz": 1980.0, "G_sustained_sm_mhz": 1440.4},
            record(A, "llama", 1, 128, 128, tpot_s=0.0050, tokens_per_s=200.0),
            {"peer": "gpt-fast", "batch": 1, "tokens_per_s": 210.0, "decode_ms_per_token": 4.8, "uuid": A},
            record(A, "llama", 8, 128, 128, tpot_s=0.008, tokens_per_s=1000.0),
            {"peer": "gpt-fast", "batch": 8, "tokens_per_s": 1300.0, "uuid": A},
            # A 2048-token prefill of 100 ms: 2 × 7.5e9 × 2048 / 0.1 s = 307
            # TFLOP/s, 38% of G.
            record(A, "llama", 1, 2048, 32, ttft_s=0.1, tpot_s=0.005, tokens_per_s=100.0),
            # A reference step of 9.6 ms: the floor is max(256 × 15 GFLOP / G,
            # 15 GB / B) = max(4.8, 3.75) ms, the bound 1.5 × 4.8 = 7.2 ms.
            # It ran at 1640 MHz, the power cap holding the clock down in
            # 95% of the samples.
            # 6.72 J a step (a token a step): at the 700 W limit no step takes
            # less than 9.6 ms, so this one runs at 1.00× that floor.
            record(A, "llada", 1, 128, 128, cache="none", latency_s=1.2288, nfe=128, tokens_per_s=104.0,
                   sm_clock_mhz=1640.2, power_capped=0.95, energy_j_per_token=6.72),
        ])
        t = table.table(A, table.load([d])[A])
        rows = {l.split("|")[1].strip(): l for l in t.splitlines() if l.startswith("| ")}
        self.assertIn("G = 800 TFLOP/s (bf16 GEMM 8192³ at 1980 MHz; 690 after 3 s of it under the power cap at 1440 MHz)", t)
        self.assertIn("**not met**", rows["1. LLaMA-3-8B decode, batch 1"])
        self.assertIn("**not met** (0.77×)", rows["2. LLaMA-3-8B decode, batch 8"])
        self.assertEqual("**not met** (38% of G)", rows["3. LLaMA-3-8B prefill, 2048 tokens"].split("|")[5].strip())
        self.assertIn("≤ 7.20 ms", rows["4. LLaDA-8B reference step, batch 1"])
        self.assertIn("**not met** (1.33× the bound, 2.00× the larger floor; SM 1640 MHz, power cap in 95% of samples; "
                      "1.00× the 9.60 ms its 6.72 J allow at the 700 W limit)", rows["4. LLaDA-8B reference step, batch 1"])

    def test_parity_rows(self):
        d = self.write([])
        with open(os.path.join(d, "gpu.txt"), "w") as f:
            f.write("NVIDIA H200, GPU-" + A + ", 580.159.04, 345 MHz, 3201 MHz, 700.00 W\n")
        with open(os.path.join(d, "parity-test.log"), "w") as f:
            f.write("=== RUN   TestFullShapeParity/llama3-8b/bf16\n"
                    "    parity_test.go:67: llama3-8b (bf16) on cuda: relative error 6.856e-02 (max abs 6.761e-01);"
                    " PyTorch bf16 6.749e-02; ratio 1.02\n"
                    "    parity_test.go:100: top-1 agreement: 40/42 rows with margin > 0.1, 56/64 rows in all\n"
                    "    parity_test.go:67: llada-8b (fp32) on cuda: relative error 1.127e-06 (max abs 1.049e-05);"
                    " PyTorch bf16 1.108e-02; ratio 0.00\n"
                    "    parity_test.go:100: top-1 agreement: 29/29 rows with margin > 0.1, 64/64 rows in all\n"
                    "    parity_test.go:67: llama3-8b (fp32) on cuda: relative error 1.0e-05 (max abs 1e-4);"
                    " PyTorch bf16 6.749e-02; ratio 0.00\n")  # stopped before its agreement line
        cards = table.load([d])
        self.assertEqual(sorted(cards), [A])
        t = table.table(A, cards[A])
        self.assertIn("## NVIDIA H200 GPU-" + A, t)
        rows = {l.split("|")[1].strip(): l for l in t.splitlines() if l.startswith("| parity")}
        self.assertIn("top-1 40/42", rows["parity, llama3-8b (bf16 weights)"])
        self.assertIn("**not met**", rows["parity, llama3-8b (bf16 weights)"])  # 2 rows disagree
        self.assertIn("1.02× PyTorch", rows["parity, llama3-8b (bf16 weights)"])
        self.assertIn("**met**", rows["parity, llada-8b (fp32 weights)"])
        self.assertIn("**not met**", rows["parity, llama3-8b (fp32 weights)"])


if __name__ == "__main__":
    unittest.main()
