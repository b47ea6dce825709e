#!/usr/bin/env python3
"""Train dllmbench's built-in demo pair on WikiText-103 (validation split).

Two tiny models of about the same size, on the same text, with one shared
byte-level BPE tokenizer, saved in Hugging Face format:

  demo-llama   a LlamaForCausalLM (transformers), next-token loss
  demo-llada   a LLaDA built with the official modeling code, the masked
               diffusion loss of LLaDA's GUIDELINES.md

Held-out articles (every 8th article of the file) are excluded from training;
their paragraphs become the prompts of dllmbench's embedded grid
(prompts.jsonl: {"prompt", "reference"} with prompt and reference cut on
token boundaries of the shared tokenizer). The recipe and the final losses
go to recipe.json.

Runs on the GPU machine: PyTorch, transformers, tokenizers; the official
LLaDA code comes from --ref (see engine_goldens.py). Weights are stored as
bfloat16 so the pair fits in the binary (at most 10 MB together).

Usage: train_demo.py --ref DIR --wikitext wiki.valid.raw --out DIR [--minutes M]
"""

import argparse
import json
import math
import os
import re
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_goldens as eg  # noqa: E402  (shared helpers: safetensors writer, LLaDA import)

VOCAB = 2048
DIM, HEADS, LAYERS, HIDDEN = 160, 5, 4, 448
SEQ = 128
SPECIALS = ["<|startoftext|>", "<|endoftext|>", "<|mdm_mask|>"]


def articles(raw):
    """Split WikiText into articles at top-level headings ' = Title = '."""
    parts, cur = [], []
    for line in raw.split("\n"):
        if re.fullmatch(r" = [^=].* = ", line) and cur:
            parts.append("\n".join(cur))
            cur = []
        cur.append(line)
    if cur:
        parts.append("\n".join(cur))
    return parts


def train_tokenizer(text, out):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(eg.LLADA_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB - len(SPECIALS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([text[i:i + 4096] for i in range(0, len(text), 4096)], trainer)
    tok.add_special_tokens(SPECIALS)
    bos = tok.token_to_id(SPECIALS[0])
    tok.post_processor = processors.TemplateProcessing(single=SPECIALS[0] + " $A", special_tokens=[(SPECIALS[0], bos)])
    return tok


def save_tokenizer(tok, d):
    tok.save(os.path.join(d, "tokenizer.json"))
    eg.write_json(os.path.join(d, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": SPECIALS[0], "eos_token": SPECIALS[1],
        "pad_token": SPECIALS[1], "model_max_length": 512})


def batches(data, g, batch, device):
    starts = torch.randint(0, len(data) - SEQ - 1, (batch,), generator=g)
    return torch.stack([data[s:s + SEQ + 1] for s in starts]).to(device)


def train_llama(data, vocab, ids, device, seconds, out):
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=DIM, intermediate_size=HIDDEN, num_hidden_layers=LAYERS,
                      num_attention_heads=HEADS, num_key_value_heads=HEADS, max_position_embeddings=512,
                      rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True,
                      bos_token_id=ids["bos"], eos_token_id=ids["eos"], pad_token_id=ids["eos"])
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1, betas=(0.9, 0.95))
    g = torch.Generator().manual_seed(1)
    log, step, t0 = [], 0, time.time()
    total = None
    while True:
        x = batches(data, g, 64, device)
        lr_scale = 1.0 if total is None else 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))
        for pg in opt.param_groups:
            pg["lr"] = 3e-3 * max(lr_scale, 0.05)
        loss = F.cross_entropy(model(x[:, :-1]).logits.reshape(-1, vocab), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step == 50:  # fix the schedule from the measured speed
            total = int(seconds / ((time.time() - t0) / 50))
        if step % 200 == 0:
            log.append({"step": step, "loss": float(loss)})
            print(f"  llama step {step} loss {float(loss):.3f}", flush=True)
        step += 1
        if total is not None and step >= total:
            break
    model.eval()
    model = model.to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    return {"steps": step, "final_loss": float(loss), "log": log,
            "params": sum(p.numel() for p in model.parameters())}


def train_llada(data, vocab, ids, device, seconds, out, ref):
    modeling, cfgmod, _, _, _ = eg.import_reference(ref)
    mc = cfgmod.ModelConfig(
        d_model=DIM, n_heads=HEADS, n_kv_heads=HEADS, n_layers=LAYERS, mlp_hidden_size=HIDDEN, mlp_ratio=3,
        vocab_size=vocab, embedding_size=vocab, max_sequence_length=512, rope=True, rope_theta=10000.0,
        rope_full_precision=True, rms_norm_eps=1e-5, layer_norm_type="rms", layer_norm_with_affine=True,
        attention_layer_norm=False, block_type="llama", activation_type="silu", include_bias=False,
        include_qkv_bias=False, bias_for_layer_norm=False, weight_tying=False, alibi=False, flash_attention=False,
        attention_dropout=0.0, residual_dropout=0.0, embedding_dropout=0.0, scale_logits=False,
        input_emb_norm=False, block_group_size=1, init_device="cpu",
        mask_token_id=ids["mask"], eos_token_id=ids["eos"], pad_token_id=ids["eos"])
    torch.manual_seed(0)
    inner = modeling.LLaDAModel(mc, init_params=True).to(device)
    opt = torch.optim.AdamW(inner.parameters(), lr=3e-3, weight_decay=0.1, betas=(0.9, 0.95))
    g = torch.Generator().manual_seed(2)
    log, step, t0, total = [], 0, time.time(), None
    inner.train()
    while True:
        x = batches(data, g, 64, device)[:, :SEQ]
        b = x.shape[0]
        t = torch.rand(b, device=device)
        p = ((1 - 1e-3) * t + 1e-3)[:, None].repeat(1, SEQ)
        masked = torch.rand((b, SEQ), device=device) < p
        noisy = torch.where(masked, ids["mask"], x)
        lr_scale = 1.0 if total is None else 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))
        for pg in opt.param_groups:
            pg["lr"] = 3e-3 * max(lr_scale, 0.05)
        logits = inner(input_ids=noisy).logits
        loss = (F.cross_entropy(logits[masked], x[masked], reduction="none") / p[masked]).sum() / (b * SEQ)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(inner.parameters(), 1.0)
        opt.step()
        if step == 50:
            total = int(seconds / ((time.time() - t0) / 50))
        if step % 200 == 0:
            log.append({"step": step, "loss": float(loss)})
            print(f"  llada step {step} loss {float(loss):.3f}", flush=True)
        step += 1
        if total is not None and step >= total:
            break
    inner.eval()
    sd = {"model." + k: v.to(torch.bfloat16) for k, v in inner.state_dict().items()}
    eg.save_safetensors(os.path.join(out, "model.safetensors"), sd, {"format": "pt"})
    c = eg.hf_config_json(mc)
    c["torch_dtype"] = "bfloat16"
    eg.write_json(os.path.join(out, "config.json"), c)
    return {"steps": step, "final_loss": float(loss), "log": log,
            "params": sum(p.numel() for p in inner.parameters())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--wikitext", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=2.0, help="training time per model")
    a = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    raw = open(a.wikitext, encoding="utf-8").read()
    arts = articles(raw)
    held = [x for i, x in enumerate(arts) if i % 8 == 7]
    train = [x for i, x in enumerate(arts) if i % 8 != 7]
    print(f"{len(arts)} articles: {len(train)} for training, {len(held)} held out", flush=True)
    tok = train_tokenizer("\n".join(train), a.out)
    vocab = tok.get_vocab_size()
    ids = {"bos": tok.token_to_id(SPECIALS[0]), "eos": tok.token_to_id(SPECIALS[1]),
           "mask": tok.token_to_id(SPECIALS[2])}
    data = torch.tensor(tok.encode("\n".join(train), add_special_tokens=False).ids, dtype=torch.long)
    print(f"vocabulary {vocab}, {len(data)} training tokens", flush=True)

    # Prompts: paragraphs of held-out articles with at least 96 tokens; the
    # prompt is the first 32 tokens' text, the reference the next 64.
    prompts = []
    for art in held:
        taken = 0
        for para in art.split("\n"):
            para = para.strip()
            if para.startswith("=") or not para:
                continue
            enc = tok.encode(para, add_special_tokens=False)
            if len(enc.ids) < 96:
                continue
            cut, end = enc.offsets[32][0], enc.offsets[95][1]
            prompts.append({"prompt": para[:cut], "reference": para[cut:end]})
            taken += 1
            if taken == 3:
                break
    print(f"{len(prompts)} held-out prompts", flush=True)

    info = {"data": "WikiText-103 raw validation (CC BY-SA 3.0), articles i % 8 != 7 for training",
            "tokenizer": {"vocab": vocab, "kind": "byte-level BPE, ignore_merges, LLaDA-style pattern"},
            "shape": {"dim": DIM, "heads": HEADS, "layers": LAYERS, "hidden": HIDDEN, "seq": SEQ}}
    for name, fn in [("demo-llama", train_llama), ("demo-llada", train_llada)]:
        d = os.path.join(a.out, name)
        os.makedirs(d, exist_ok=True)
        save_tokenizer(tok, d)
        args = (data, vocab, ids, device, a.minutes * 60, d) + ((a.ref,) if name == "demo-llada" else ())
        info[name] = fn(*args)
        print(f"{name}: {info[name]['params']} parameters, final loss {info[name]['final_loss']:.3f}", flush=True)
    with open(os.path.join(a.out, "prompts.jsonl"), "w") as f:
        for p in prompts:
            f.write(json.dumps(p) + "\n")
    eg.write_json(os.path.join(a.out, "recipe.json"), info)


if __name__ == "__main__":
    main()
