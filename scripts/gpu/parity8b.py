#!/usr/bin/env python3
"""Full-shape parity references: random-weight checkpoints with the exact
LLaMA-3-8B and LLaDA-8B shapes, and PyTorch's logits on them.

For each model this writes OUT/<name>/ (config.json, bf16 safetensors,
a tokenizer.json copied from --tokenizer so the harness can cut prompts)
and OUT/<name>/parity/ with:
  ref.safetensors   "logits": float32 logits of the prompt, computed by
                    PyTorch in float32 (TF32 off) from the same bf16 weights
  meta.json         the prompt ids, the norm-wise relative error of PyTorch's
                    own bf16 forward against that reference, and the times

The Go test model/parity_test.go (TestFullShapeParity) loads the checkpoint
with dllmbench and requires its error to be at most 1.5 × PyTorch's bf16
error, and top-1 agreement where the reference's top-2 margin exceeds 0.1.

LLaMA-3-8B is built with transformers' LlamaForCausalLM; LLaDA-8B with the
official LLaDA modeling code (--ref, as in scripts/golden/engine_goldens.py).
Weights are initialised as the libraries do (normal, std 0.02); LLaMA's
output and down projections are then scaled by 1/sqrt(2·layers), the
scaled initialisation of GPT-2 and Megatron (LLaDA's own init already scales
them): with plain std 0.02 in all 32 layers the random LLaMA is so poorly
conditioned that PyTorch's own bf16 forward is 6% off its float32 logits,
and top-2 margins of 0.1 are inside that noise.

Usage: parity8b.py --out DIR --ref DIR [--tokenizer tokenizer.json] [--only llama|llada]
"""

import argparse
import json
import os
import shutil
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
import engine_goldens as eg  # noqa: E402  (safetensors writer, LLaDA import, config.json writer)


def rel(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm())


def save_sharded(model_state, d, prefix=""):
    """bf16 safetensors in shards of about 5 GB with an index."""
    shards, cur, size, limit = [], {}, 0, 5 << 30
    for k, v in model_state.items():
        n = v.numel() * v.element_size()
        if cur and size + n > limit:
            shards.append(cur)
            cur, size = {}, 0
        cur[prefix + k] = v
        size += n
    shards.append(cur)
    wmap, total = {}, 0
    for i, sh in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        eg.save_safetensors(os.path.join(d, name), sh, {"format": "pt"})
        for k, v in sh.items():
            wmap[k] = name
            total += v.numel() * v.element_size()
    eg.write_json(os.path.join(d, "model.safetensors.index.json"), {"metadata": {"total_size": total}, "weight_map": wmap})


def references(name, forward, prompt, d, t0):
    with torch.no_grad():
        ids = torch.tensor([prompt], device="cuda")
        lb = forward(ids).float()[0]
        torch.cuda.synchronize()
        tb = time.time()
        to_float()
        lf = forward(ids).float()[0]
        torch.cuda.synchronize()
    err = rel(lb, lf)
    top2 = torch.topk(lf.double(), 2, dim=-1).values
    margin = (top2[:, 0] - top2[:, 1])
    big = margin > 0.1
    bf16_agree = int(((lb.argmax(-1) == lf.argmax(-1)) & big).sum())
    os.makedirs(os.path.join(d, "parity"), exist_ok=True)
    eg.save_safetensors(os.path.join(d, "parity", "ref.safetensors"), {"logits": lf})
    eg.write_json(os.path.join(d, "parity", "meta.json"), {
        "model": name, "prompt": prompt, "torch_bf16_rel_err": err,
        "rows_with_margin_over_0.1": int(big.sum()), "torch_bf16_top1_agree_on_those": bf16_agree, "rows": len(prompt),
        "torch": torch.__version__, "device": torch.cuda.get_device_name(0),
        "seconds": {"build_and_save": tb - t0}})
    print(f"  {name}: PyTorch bf16 relative error {err:.3e}; {int(big.sum())}/{len(prompt)} rows with top-2 margin > 0.1,"
          f" PyTorch bf16 agrees on {bf16_agree} of them", flush=True)


to_float = None


def llama(out, tok, prompt):
    global to_float
    from transformers import LlamaConfig, LlamaForCausalLM
    t0 = time.time()
    d = os.path.join(out, "llama3-8b")
    os.makedirs(d, exist_ok=True)
    cfg = LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, head_dim=128, vocab_size=128256, rope_theta=500000.0,
                      max_position_embeddings=8192, rms_norm_eps=1e-5, tie_word_embeddings=False,
                      bos_token_id=128000, eos_token_id=128001, hidden_act="silu")
    torch.manual_seed(0)
    # Eager attention: the reference must be plain float32 arithmetic, and
    # PyTorch's fused SDPA kernels for float32 need not be (LLaDA's official
    # code turns the memory-efficient one off for the same reason).
    cfg._attn_implementation = "eager"
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16).eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("o_proj.weight") or n.endswith("down_proj.weight"):
                p.mul_(1 / (2 * cfg.num_hidden_layers) ** 0.5)
    sd = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_sharded(sd, d)
    del sd
    cfg.save_pretrained(d)
    if tok:
        shutil.copy(tok, os.path.join(d, "tokenizer.json"))
    # Both forwards from the saved checkpoint, as a user loads it: the model
    # built above keeps its rotary inverse frequencies in a buffer that
    # .to(bfloat16) rounded and .float() cannot restore, and a float32
    # reference with bfloat16 frequencies was 5.7e-2 off the float64
    # forward (a clean float32 load: 1.0e-5), off by more at every position.
    del model
    torch.cuda.empty_cache()
    box = {}

    def load(dt):
        box.clear()
        torch.cuda.empty_cache()
        box["m"] = LlamaForCausalLM.from_pretrained(d, dtype=dt, attn_implementation="eager").cuda().eval()

    load(torch.bfloat16)
    to_float = lambda: load(torch.float32)  # noqa: E731
    references("llama3-8b", lambda ids: box["m"](ids).logits, prompt, d, t0)
    box.clear()
    torch.cuda.empty_cache()


def llada(out, tok, prompt, ref):
    global to_float
    modeling, cfgmod, _, _, _ = eg.import_reference(ref)
    t0 = time.time()
    d = os.path.join(out, "llada-8b")
    os.makedirs(d, exist_ok=True)
    mc = cfgmod.ModelConfig(
        d_model=4096, n_heads=32, n_kv_heads=32, n_layers=32, mlp_hidden_size=12288, mlp_ratio=4,
        vocab_size=126464, embedding_size=126464, max_sequence_length=4096, rope=True, rope_theta=500000.0,
        rope_full_precision=True, rms_norm_eps=1e-5, layer_norm_type="rms", layer_norm_with_affine=True,
        attention_layer_norm=False, block_type="llama", activation_type="silu", include_bias=False,
        include_qkv_bias=False, bias_for_layer_norm=False, weight_tying=False, alibi=False, flash_attention=False,
        attention_dropout=0.0, residual_dropout=0.0, embedding_dropout=0.0, scale_logits=False,
        input_emb_norm=False, block_group_size=1, init_device="cuda", init_fn="normal", init_std=0.02,
        mask_token_id=126336, eos_token_id=126081, pad_token_id=126081)
    torch.manual_seed(0)
    inner = modeling.LLaDAModel(mc, init_params=True).to(torch.bfloat16).eval()
    sd = {k: v.detach().contiguous().cpu() for k, v in inner.state_dict().items()}
    save_sharded(sd, d, prefix="model.")
    del sd
    c = eg.hf_config_json(mc)
    c["torch_dtype"] = "bfloat16"
    eg.write_json(os.path.join(d, "config.json"), c)
    if tok:
        shutil.copy(tok, os.path.join(d, "tokenizer.json"))
    to_float = lambda: inner.float()  # noqa: E731
    # Half the prompt is masked, as in a diffusion step.
    x = prompt[: len(prompt) // 2] + [126336] * (len(prompt) - len(prompt) // 2)
    references("llada-8b", lambda ids: inner(input_ids=ids).logits, x, d, t0)
    del inner
    torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--tokenizer", default="")
    ap.add_argument("--only", choices=["llama", "llada"])
    ap.add_argument("--prompt-len", type=int, default=64)
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    g = torch.Generator().manual_seed(7)
    prompt = [1] + torch.randint(100, 120000, (a.prompt_len - 1,), generator=g).tolist()
    if a.only in (None, "llama"):
        llama(a.out, a.tokenizer, prompt)
    if a.only in (None, "llada"):
        llada(a.out, a.tokenizer, prompt, a.ref)


if __name__ == "__main__":
    main()
