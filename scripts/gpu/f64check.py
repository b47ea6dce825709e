#!/usr/bin/env python3
"""How far parity8b.py's float32 LLaMA-3-8B reference is from a float64
forward of the same checkpoint, next to a fresh float32 forward: a reference
error above the float32 forward's is the reference's, not dllmbench's. It
found that a reference taken from .float() on a model built in bfloat16
kept bfloat16 rotary frequencies (docs/perf.md, CUDA v6).

Run on the GPU machine after parity8b.py (needs about 100 GB of GPU memory
for the float64 model: an H200):

    python3 scripts/gpu/f64check.py [/tmp/p8b/llama3-8b]
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import LlamaForCausalLM


def rel(a, b):
    return float((a - b).norm() / b.norm())


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/p8b/llama3-8b"
    meta = json.load(open(os.path.join(d, "parity", "meta.json")))
    ref = load_file(os.path.join(d, "parity", "ref.safetensors"))["logits"].double().cuda()
    ids = torch.tensor([meta["prompt"]], device="cuda")
    m = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").cuda().eval()
    with torch.no_grad():
        f32 = m(ids).logits[0].double()
        f64 = m.double()(ids).logits[0]
    print(f"stored reference vs float64: {rel(ref, f64):.3e}; fresh float32 vs float64: {rel(f32, f64):.3e}")
    rows = ((ref - f64).norm(dim=-1) / f64.norm(dim=-1)).cpu().tolist()
    print("stored reference vs float64, row by row:", " ".join(f"{x:.1e}" for x in rows))


if __name__ == "__main__":
    main()
