#!/usr/bin/env python3
"""The PyTorch peers of dllmbench's performance table, on the same card.

On the random-weight 8B checkpoints of parity8b.py (their cost for
fixed-length generation does not depend on the values), in bf16:
  hf-generate   Hugging Face transformers `generate` on LLaMA-3-8B (sdpa,
                dynamic cache), prompt 128, 128 new tokens, batch 1 and 8
  llada-ref     LLaDA's reference generate() (ML-GSAI/LLaDA generate.py) on
                the official LLaDA modeling code at LLaDA-8B shape: prompt
                128 + 128 generated, block 32, 128 steps; per step
  fast-dllm     Fast-dLLM's generate_with_dual_cache (threshold off, 128
                steps, block 32): per forward call
Each is warmed up once, then timed over repetitions with CUDA
synchronisation; medians are printed and written as JSON lines.

Usage: peers.py --models DIR --ref DIR --out FILE [--reps N]
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
import engine_goldens as eg  # noqa: E402


def timed(fn, reps):
    fn()  # warm-up
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), ts


def emit(out, rec):
    rec["device"] = torch.cuda.get_device_name(0)
    rec["uuid"] = str(torch.cuda.get_device_properties(0).uuid)
    print(json.dumps(rec), flush=True)
    with open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")


def hf(models, out, reps):
    from transformers import AutoModelForCausalLM
    d = os.path.join(models, "llama3-8b")
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.bfloat16, attn_implementation="sdpa").cuda().eval()
    g = torch.Generator().manual_seed(1)
    for bs in (1, 8, 32):
        ids = torch.randint(1000, 100000, (bs, 128), generator=g).cuda()
        run = lambda: model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=128,  # noqa: E731
                                     min_new_tokens=128, do_sample=False, pad_token_id=0)
        with torch.no_grad():
            med, ts = timed(run, reps)
        emit(out, {"peer": "hf-generate", "model": "llama3-8b", "batch": bs, "prompt": 128, "gen": 128,
                   "seconds": med, "all": ts, "tokens_per_s": bs * 128 / med,
                   "transformers": __import__("transformers").__version__, "torch": torch.__version__})
    del model
    torch.cuda.empty_cache()


def llada(models, ref, out, reps):
    modeling, cfgmod, fast, ref_gen, _ = eg.import_reference(ref)
    d = os.path.join(models, "llada-8b")
    cfg = json.load(open(os.path.join(d, "config.json")))
    keys = {f.name for f in __import__("dataclasses").fields(cfgmod.ModelConfig)}
    mc = cfgmod.ModelConfig(**{k: v for k, v in cfg.items() if k in keys})
    mc.init_device = "meta"
    inner = modeling.LLaDAModel(mc, init_params=False)
    from safetensors.torch import load_file
    sd = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            sd.update({k[len("model."):]: v for k, v in load_file(os.path.join(d, f)).items()})
    inner.load_state_dict(sd, assign=True)
    inner = inner.to("cuda", torch.bfloat16).eval()
    model = eg.Wrapped(inner)
    g = torch.Generator().manual_seed(2)
    prompt = torch.randint(1000, 100000, (1, 128), generator=g).cuda()
    run = lambda: ref_gen.generate(model, prompt, steps=128, gen_length=128, block_length=32,  # noqa: E731
                                   temperature=0.0, remasking="low_confidence", mask_id=126336)
    med, ts = timed(run, reps)
    emit(out, {"peer": "llada-ref", "model": "llada-8b", "batch": 1, "prompt": 128, "gen": 128, "steps": 128,
               "block": 32, "seconds": med, "all": ts, "step_ms": med / 128 * 1e3, "tokens_per_s": 128 / med})
    for cache, fn in (("dual", fast.generate_with_dual_cache), ("prefix", fast.generate_with_prefix_cache),
                      ("none", fast.generate)):
        nfe = []

        def run2(fn=fn):
            _, n = fn(model, prompt, steps=128, gen_length=128, block_length=32, temperature=0.0,
                      remasking="low_confidence", mask_id=126336)
            nfe.append(int(n))
        med, ts = timed(run2, reps)
        emit(out, {"peer": "fast-dllm", "cache": cache, "model": "llada-8b", "batch": 1, "prompt": 128, "gen": 128,
                   "steps": 128, "block": 32, "seconds": med, "all": ts, "nfe": nfe[-1],
                   "call_ms": med / nfe[-1] * 1e3, "tokens_per_s": 128 / med})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", choices=["hf", "llada"])
    a = ap.parse_args()
    if a.only in (None, "hf"):
        hf(a.models, a.out, a.reps)
    if a.only in (None, "llada"):
        llada(a.models, a.ref, a.out, a.reps)


if __name__ == "__main__":
    main()
