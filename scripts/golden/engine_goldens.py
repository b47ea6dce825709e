#!/usr/bin/env python3
"""Reference outputs ("goldens") for dllmbench's engine, made with PyTorch.

Runs on the GPU machine (PyTorch 2.11, transformers 5.17, tokenizers) in
float32 with TF32 off, and writes small checkpoints plus the outputs that the
Go tests compare against:

  llama-gqa, llama-tied, llama31-scaled   tiny random LlamaForCausalLM models
      (transformers' own implementation): config.json, model.safetensors,
      logits.safetensors (logits of a few prompts), golden.json (prompts,
      greedy continuations and their smallest top-2 logit gap).
  llada-tiny   a tiny LLaDA built with the official modeling code and trained
      briefly as a masked-diffusion model on tiny Shakespeare: config.json,
      model.safetensors, tokenizer.json, logits.safetensors, golden.json with
      the official generate() outputs (several schedules, a CFG case),
      Fast-dLLM's generate / prefix cache / dual cache with fixed steps,
      threshold and factor (tokens, NFE, tokens per call), and
      get_log_likelihood's per-batch losses with its masks.

Every decision a golden depends on is checked to have a margin of at least
1e-3 (top-2 logit gap of committed tokens, confidence gap at the top-k
boundary, distance of confidences to the threshold and to the factor
thresholds); a case that fails is replaced by the next candidate prompt.

The official code is not part of this repository: pass the folder holding
it with --ref (fastdllm/ with Fast-dLLM's llada/generate.py @ f6b35ec and
llada/model/*, llada_ref/ with ML-GSAI/LLaDA's generate.py and
get_log_likelihood.py).

Usage: engine_goldens.py --ref DIR --data DIR --out DIR [--train-steps N]
"""

import argparse
import importlib
import json
import math
import os
import struct
import sys
import time
import traceback

import torch
import torch.nn.functional as F

GAP = 1e-3
FAILURES = []


# ---------------------------------------------------------------- helpers

def save_safetensors(path, tensors, metadata=None):
    """Write a safetensors file (our own writer: no dependency)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        dt = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.int64: "I64",
              torch.int32: "I32"}[t.dtype]
        raw = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_json(path, obj, ensure_ascii=True):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, ensure_ascii=ensure_ascii)


class GapError(Exception):
    pass


def top2_gap(logits):
    """Top-1 minus top-2 along the last axis."""
    v = torch.topk(logits.double(), 2, dim=-1).values
    return v[..., 0] - v[..., 1]


def part(name):
    """Decorator: run a part, record its failure, keep going."""
    def wrap(fn):
        def run(*a, **k):
            t0 = time.time()
            print(f"== {name}", flush=True)
            try:
                r = fn(*a, **k)
                print(f"== {name}: ok in {time.time() - t0:.1f}s", flush=True)
                return r
            except Exception:
                traceback.print_exc()
                FAILURES.append(name)
                print(f"== {name}: FAILED", flush=True)
        return run
    return wrap


# ---------------------------------------------------------------- LLaMA

LLAMA_CASES = {
    # grouped-query heads, untied head, LLaMA-3's rope theta
    "llama-gqa": dict(hidden_size=64, intermediate_size=160, num_hidden_layers=3, num_attention_heads=4,
                      num_key_value_heads=2, head_dim=16, vocab_size=300, rope_theta=500000.0,
                      tie_word_embeddings=False, rms_norm_eps=1e-5, max_position_embeddings=256),
    # full heads, tied embeddings, another eps
    "llama-tied": dict(hidden_size=48, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=4, vocab_size=200, rope_theta=10000.0, tie_word_embeddings=True,
                       rms_norm_eps=1e-6, max_position_embeddings=256),
    # LLaMA-3.1's llama3 rope scaling with a short original context so that
    # positions of the prompts cross every band; head_dim != hidden/heads
    "llama31-scaled": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                           num_key_value_heads=1, head_dim=48, vocab_size=256, rope_theta=500000.0,
                           rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                         "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
                           tie_word_embeddings=False, rms_norm_eps=1e-5, max_position_embeddings=512),
}


def reinit(model, seed):
    """Weights of order 1/sqrt(fan-in) so logits have clear margins."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                std = 1.0 if "embed" in name else 1.0 / math.sqrt(p.shape[1])
                p.copy_(torch.randn(p.shape, generator=g) * std)
            else:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))


@part("llama goldens")
def llama_goldens(out, device):
    from transformers import LlamaConfig, LlamaForCausalLM
    for name, kw in LLAMA_CASES.items():
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        cfg = LlamaConfig(bos_token_id=1, eos_token_id=2, hidden_act="silu", attention_bias=False,
                          mlp_bias=False, **kw)
        torch.manual_seed(0)
        model = LlamaForCausalLM(cfg)
        reinit(model, seed=len(name))
        model = model.float().to(device).eval()
        model.save_pretrained(d, safe_serialization=True)
        g = torch.Generator().manual_seed(1)
        lens = [1, 7, 33] + ([100] if "scaled" in name else [])
        prompts = [[1] + torch.randint(3, kw["vocab_size"], (n - 1,), generator=g).tolist() for n in lens]
        logits, greedy = {}, []
        with torch.no_grad():
            for i, p in enumerate(prompts):
                ids = torch.tensor([p], device=device)
                logits[f"prompt{i}"] = model(ids).logits[0].float()
                seq, gaps = list(p), []
                for _ in range(24):
                    lg = model(torch.tensor([seq], device=device)).logits[0, -1]
                    gaps.append(float(top2_gap(lg)))
                    seq.append(int(torch.argmax(lg)))
                greedy.append({"prompt": p, "generated": seq[len(p):], "min_top2_gap": min(gaps)})
                if min(gaps) < GAP:
                    print(f"  {name} prompt {i}: greedy top-2 gap {min(gaps):.2e} below {GAP}: the Go test skips its exact check")
        save_safetensors(os.path.join(d, "logits.safetensors"), logits)
        write_json(os.path.join(d, "golden.json"), {
            "source": "transformers LlamaForCausalLM %s, torch %s, float32, TF32 off" % (
                __import__("transformers").__version__, torch.__version__),
            "prompts": prompts, "greedy": greedy})
        print(f"  {name}: {sum(p.numel() for p in model.parameters())} parameters")


# ---------------------------------------------------------------- LLaDA

SPECIALS = ["<|startoftext|>", "<|endoftext|>", "<|mdm_mask|>"]
# LLaDA's likely pre-tokenizer pattern, as llama.cpp quotes it for its BPE
# vocabularies of the Bailing/LLaDA kind (the leading apostrophe matters).
LLADA_PATTERN = (r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]"
                 r"|\s+(?!\S)|\s+")


def train_tokenizer(text, vocab_size, out_dir):
    """A byte-level BPE of the LLaDA kind (specials at the end of the vocabulary)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLADA_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(SPECIALS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator([text[i:i + 4096] for i in range(0, len(text), 4096)], trainer)
    tok.add_special_tokens(SPECIALS)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    ids = {s: tok.token_to_id(s) for s in SPECIALS}
    write_json(os.path.join(out_dir, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": False, "add_eos_token": False,
        "bos_token": SPECIALS[0], "eos_token": SPECIALS[1], "pad_token": SPECIALS[1],
        "model_max_length": 512})
    return (lambda s: tok.encode(s).ids), tok.get_vocab_size(), ids


def byte_tokenizer(text):
    """Fallback where `tokenizers` is missing (local dry runs): bytes + specials."""
    ids = {s: 256 + i for i, s in enumerate(SPECIALS)}
    return (lambda s: list(s.encode("utf-8"))), 256 + len(SPECIALS), ids


def import_reference(ref):
    sys.path.insert(0, ref)
    # The modeling file compiles its SDPA wrapper and registers with
    # AutoModel at import; neither changes the maths, and both can fail on
    # other transformers/torch versions, so neutralise them.
    path = os.path.join(ref, "fastdllm", "model", "modeling_llada.py")
    src = open(path).read()
    patched = src.replace("@torch.compile()\ndef scaled_dot_product_attention",
                          "def scaled_dot_product_attention")
    if "except Exception:\n    pass" not in patched:
        patched = patched.replace("AutoModel.register(LLaDAConfig, LLaDAModelLM)",
                                  "try:\n    AutoModel.register(LLaDAConfig, LLaDAModelLM)\nexcept Exception:\n    pass")
    if patched != src:
        open(path, "w").write(patched)
    modeling = importlib.import_module("fastdllm.model.modeling_llada")
    config = importlib.import_module("fastdllm.model.configuration_llada")
    fast = importlib.import_module("fastdllm.generate")
    ref_gen = importlib.import_module("llada_ref.generate")
    ref_ll = importlib.import_module("llada_ref.get_log_likelihood")
    return modeling, config, fast, ref_gen, ref_ll


class Wrapped(torch.nn.Module):
    """The official LLaDAModel behind the interface LLaDAModelLM gives the
    generate functions (.device, .logits, .past_key_values): LLaDAModelLM is
    a barebones HF wrapper of it whose PreTrainedModel machinery varies
    across transformers versions."""

    def __init__(self, inner):
        super().__init__()
        self.model = inner

    @property
    def device(self):
        return self.model.device

    def forward(self, input_ids, attention_mask=None, past_key_values=None, use_cache=False, replace_position=None):
        o = self.model(input_ids=input_ids, attention_mask=attention_mask, past_key_values=past_key_values,
                       use_cache=use_cache, replace_position=replace_position)

        class Out:
            pass
        r = Out()
        r.logits, r.past_key_values = o.logits, o.attn_key_values
        return r


def llada_model_config(cfgmod, vocab, emb, mask_id, eos_id):
    return cfgmod.ModelConfig(
        d_model=128, n_heads=4, n_kv_heads=4, n_layers=4, mlp_hidden_size=256, mlp_ratio=2,
        vocab_size=vocab, embedding_size=emb, max_sequence_length=512, rope=True, rope_theta=10000.0,
        rope_full_precision=True, rms_norm_eps=1e-5, layer_norm_type="rms", layer_norm_with_affine=True,
        attention_layer_norm=False, block_type="llama", activation_type="silu", include_bias=False,
        include_qkv_bias=False, bias_for_layer_norm=False, weight_tying=False, alibi=False,
        flash_attention=False, attention_dropout=0.0, residual_dropout=0.0, embedding_dropout=0.0,
        scale_logits=False, input_emb_norm=False, block_group_size=1, init_device="cpu",
        mask_token_id=mask_id, eos_token_id=eos_id, pad_token_id=eos_id)


def hf_config_json(mc):
    """config.json as LLaDA's Hugging Face checkpoints write it."""
    keys = ["activation_type", "alibi", "attention_layer_norm", "block_group_size", "block_type", "d_model",
            "embedding_size", "eos_token_id", "include_bias", "include_qkv_bias", "input_emb_norm",
            "layer_norm_type", "layer_norm_with_affine", "mask_token_id", "max_sequence_length",
            "mlp_hidden_size", "mlp_ratio", "n_heads", "n_kv_heads", "n_layers", "pad_token_id", "rms_norm_eps",
            "rope", "rope_full_precision", "rope_theta", "scale_logits", "vocab_size", "weight_tying",
            "bias_for_layer_norm", "flash_attention"]
    c = {k: (str(getattr(mc, k)) if hasattr(getattr(mc, k), "value") else getattr(mc, k)) for k in keys}
    c.update({"architectures": ["LLaDAModelLM"], "model_type": "llada", "use_cache": False,
              "torch_dtype": "float32"})
    return c


def train_llada(inner, data, mask_id, steps, device, seqlen=128, batch=64, lr=2e-3):
    """The pre-training loss of LLaDA's GUIDELINES.md: t ~ U(0,1), mask with
    p = (1-eps)t + eps, cross-entropy on masked tokens over p, mean over B·L."""
    data = torch.tensor(data, dtype=torch.long)
    opt = torch.optim.AdamW(inner.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    g = torch.Generator().manual_seed(0)
    log = []
    inner.train()
    for step in range(steps):
        starts = torch.randint(0, len(data) - seqlen, (batch,), generator=g)
        x = torch.stack([data[s:s + seqlen] for s in starts]).to(device)
        t = torch.rand(batch, device=device)
        p = ((1 - 1e-3) * t + 1e-3)[:, None].repeat(1, seqlen)
        masked = torch.rand((batch, seqlen), device=device) < p
        noisy = torch.where(masked, mask_id, x)
        logits = inner(input_ids=noisy).logits
        loss = (F.cross_entropy(logits[masked], x[masked], reduction="none") / p[masked]).sum() / (batch * seqlen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(inner.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log.append({"step": step, "loss": float(loss)})
            print(f"  step {step} loss {float(loss):.3f}", flush=True)
    inner.eval()
    return log


class Spy:
    """Stands in for the torch module inside the reference generate modules,
    checking the margin of every decision they make."""

    def __init__(self, real, mask_id):
        self._t, self.mask_id = real, mask_id
        self.threshold = self.factor = None
        self.last_logits = None
        self.min_gap = float("inf")

    def __getattr__(self, k):
        return getattr(self._t, k)

    def _gap(self, g, what):
        self.min_gap = min(self.min_gap, g)
        if g < GAP:
            raise GapError(f"{what} margin {g:.2e}")

    def argmax(self, x, dim=None, **kw):
        self.last_logits = x
        return self._t.argmax(x, dim=dim, **kw)

    def sort(self, x, dim=-1, descending=False, **kw):
        r = self._t.sort(x, dim=dim, descending=descending, **kw)
        if self.factor is not None and descending:
            v = r[0].double().tolist()
            for i in range(1, len(v)):
                th = 1 - self.factor / (i + 2)
                self._gap(abs(v[i] - th), "factor threshold")
                if v[i] < th:
                    break
        return r

    def topk(self, conf, k, **kw):
        r = self._t.topk(conf, k=int(k), **kw)
        v = conf.double()
        finite = v[torch.isfinite(v)]
        kk = int(k)
        srt = torch.sort(finite, descending=True).values.tolist()
        if 0 < kk < len(srt):
            self._gap(srt[kk - 1] - srt[kk], "top-k boundary")
        if self.threshold is not None:
            for c in srt[1:]:
                self._gap(abs(c - self.threshold), "threshold")
        if self.last_logits is not None and kk > 0:
            lg = self.last_logits
            assert lg.shape[0] == 1, "gap checks assume batch size 1"
            sel = r.indices
            gaps = top2_gap(lg[0, sel])
            self._gap(float(gaps.min()), "argmax")
            if (self._t.argmax(lg[0, sel], dim=-1) == self.mask_id).any():
                raise GapError("a committed token is the mask token")
        return r


@part("llada goldens")
def llada_goldens(out, ref, data_dir, device, train_steps):
    modeling, cfgmod, fast, ref_gen, ref_ll = import_reference(ref)
    d = os.path.join(out, "llada-tiny")
    os.makedirs(d, exist_ok=True)
    text = open(os.path.join(data_dir, "tinyshakespeare", "input.txt")).read()
    try:
        encode, vocab, sp = train_tokenizer(text, 512, d)
    except ImportError:
        print("  tokenizers missing: byte tokenizer (dry run only)")
        encode, vocab, sp = byte_tokenizer(text)
    mask_id, eos_id = sp["<|mdm_mask|>"], sp["<|endoftext|>"]
    emb = (vocab + 63) // 64 * 64
    held_out = len(text) * 9 // 10  # prompts come from the last tenth
    data = encode(text[:held_out])
    print(f"  vocabulary {vocab} (embedding {emb}), {len(data)} training tokens")
    mc = llada_model_config(cfgmod, vocab, emb, mask_id, eos_id)
    torch.manual_seed(0)
    inner = modeling.LLaDAModel(mc, init_params=True).to(device)
    log = train_llada(inner, data, mask_id, train_steps, device)
    model = Wrapped(inner).eval()
    sd = {"model." + k: v.float() for k, v in inner.state_dict().items()}
    save_safetensors(os.path.join(d, "model.safetensors"), sd, {"format": "pt"})
    write_json(os.path.join(d, "config.json"), hf_config_json(mc))
    write_json(os.path.join(d, "train_log.json"), {"steps": train_steps, "log": log,
                                                    "recipe": "GUIDELINES.md pre-training loss, seqlen 128, batch 64, AdamW 2e-3 one-cycle"})

    # Candidate prompts: lines of the held-out tenth.
    lines = [l.strip() for l in text[held_out:].split("\n") if len(l.strip()) > 20]
    cands = [encode(l)[:24] for l in lines[:400]]
    golden = {"mask_id": mask_id, "eos_id": eos_id, "min_gap_required": GAP}

    # Logits of the network on partly masked inputs.
    g = torch.Generator().manual_seed(3)
    logit_inputs, logits = [], {}
    with torch.no_grad():
        for i, c in enumerate(cands[:3]):
            x = torch.tensor(c + [mask_id] * 16)
            if i == 2:
                x[torch.rand(len(x), generator=g) < 0.3] = mask_id
            logit_inputs.append(x.tolist())
            logits[f"input{i}"] = model(x[None].to(device)).logits[0].float()
    save_safetensors(os.path.join(d, "logits.safetensors"), logits)
    golden["logit_inputs"] = logit_inputs

    spy_ref = Spy(torch, mask_id)
    ref_gen.torch = spy_ref
    spy_fast = Spy(torch, mask_id)
    fast.torch = spy_fast

    def find(run, label, need=1):
        """Run candidates until `need` pass the margin checks."""
        found = []
        for ci, c in enumerate(cands):
            try:
                r = run(c)
            except GapError as e:
                continue
            r["prompt"], r["candidate"] = c, ci
            found.append(r)
            if len(found) == need:
                break
        if len(found) < need:
            raise RuntimeError(f"{label}: only {len(found)} of {need} candidates pass the margin checks")
        print(f"  {label}: candidates {[f['candidate'] for f in found]}")
        return found

    # LLaDA's reference generate().
    ref_cases = []
    for steps, gen, block in [(32, 32, 32), (16, 32, 8), (8, 32, 16), (64, 64, 16)]:
        def run(c, steps=steps, gen=gen, block=block):
            spy_ref.min_gap = float("inf")
            p = torch.tensor([c], device=device)
            x = ref_gen.generate(model, p, steps=steps, gen_length=gen, block_length=block, temperature=0.0,
                                 cfg_scale=0.0, remasking="low_confidence", mask_id=mask_id)
            return {"steps": steps, "gen_length": gen, "block_length": block, "cfg_scale": 0.0,
                    "output": x[0, len(c):].tolist(), "min_gap": spy_ref.min_gap}
        ref_cases += find(run, f"generate steps={steps} gen={gen} block={block}", need=2)

    def run_cfg(c):
        spy_ref.min_gap = float("inf")
        p = torch.tensor([c], device=device)
        x = ref_gen.generate(model, p, attention_mask=torch.ones_like(p), steps=16, gen_length=16, block_length=8,
                             temperature=0.0, cfg_scale=1.0, remasking="low_confidence", mask_id=mask_id)
        return {"steps": 16, "gen_length": 16, "block_length": 8, "cfg_scale": 1.0,
                "output": x[0, len(c):].tolist(), "min_gap": spy_ref.min_gap}
    ref_cases += find(run_cfg, "generate with cfg 1.0")
    golden["reference_generate"] = ref_cases

    # Fast-dLLM's decoders, counting the tokens each forward call commits.
    counts = []
    orig_ti, orig_dyn = fast.get_transfer_index, fast.get_transfer_index_dynamic

    def ti(*a, **k):
        x0, t = orig_ti(*a, **k)
        counts.append(int(t.sum()))
        return x0, t

    def dyn(*a, **k):
        x0, t = orig_dyn(*a, **k)
        counts.append(int(t.sum()))
        return x0, t
    fast.get_transfer_index, fast.get_transfer_index_dynamic = ti, dyn

    fast_cases = []
    fns = {"none": fast.generate, "prefix": fast.generate_with_prefix_cache, "dual": fast.generate_with_dual_cache}
    for cache, fn in fns.items():
        for rule, extra in [("steps", {}), ("threshold", {"threshold": 0.7}), ("factor", {"factor": 1.0})]:
            def run(c, fn=fn, extra=extra, cache=cache, rule=rule):
                counts.clear()
                spy_fast.min_gap = float("inf")
                spy_fast.threshold, spy_fast.factor = extra.get("threshold"), extra.get("factor")
                p = torch.tensor([c], device=device)
                x, nfe = fn(model, p, steps=32, gen_length=32, block_length=8, temperature=0.0,
                            remasking="low_confidence", mask_id=mask_id, **extra)
                return {"cache": cache, "rule": rule, "steps": 32, "gen_length": 32, "block_length": 8,
                        "threshold": extra.get("threshold", 0), "factor": extra.get("factor", 0),
                        "output": x[0, len(c):].tolist(), "nfe": int(nfe), "tokens_per_step": list(counts),
                        "min_gap": spy_fast.min_gap}
            fast_cases += find(run, f"fast-dllm cache={cache} rule={rule}")
    spy_fast.threshold = spy_fast.factor = None
    golden["fast_dllm"] = fast_cases

    # get_log_likelihood with its masks exported.
    recorded = []
    orig_fp = ref_ll.forward_process

    def fp(batch, prompt_index, mask_id_):
        noisy, ratio = orig_fp(batch, prompt_index, mask_id_)
        recorded.append({"noisy": noisy.tolist(), "p_mask": ratio[:, 0].tolist()})
        return noisy, ratio
    ref_ll.forward_process = fp
    ll_cases = []
    torch.manual_seed(5)
    for c in cands[10:13]:
        prompt, answer = c[:12], c[12:20]
        recorded.clear()
        val = ref_ll.get_log_likelihood(model, torch.tensor(prompt, device=device), torch.tensor(answer, device=device),
                                        mc_num=8, batch_size=4, cfg_scale=0.0, mask_id=mask_id)
        # Recompute each batch's loss from the recorded masks, as the Go test will.
        seq = torch.tensor(prompt + answer, device=device)[None].repeat(4, 1)
        batch_losses = []
        with torch.no_grad():
            for r in recorded:
                noisy = torch.tensor(r["noisy"], device=device)
                m = noisy == mask_id
                lg = model(noisy).logits
                pm = torch.tensor(r["p_mask"], device=device)[:, None].repeat(1, seq.shape[1])
                batch_losses.append(float((F.cross_entropy(lg[m], seq[m], reduction="none") / pm[m]).sum() / 4))
        ll_cases.append({"prompt": prompt, "answer": answer, "mc_num": 8, "batch_size": 4, "log_likelihood": val,
                         "batches": recorded[:], "batch_losses": batch_losses})
        if abs(-sum(batch_losses) / len(batch_losses) - val) > 1e-4:
            raise RuntimeError(f"recomputed likelihood {-sum(batch_losses) / len(batch_losses)} != {val}")
    golden["log_likelihood"] = ll_cases
    golden["source"] = ("official LLaDA modeling code (Fast-dLLM llada/model @ 24cc59e), ML-GSAI/LLaDA generate.py "
                        "and get_log_likelihood.py @ b7e6c35, Fast-dLLM llada/generate.py @ f6b35ec; torch %s, float32, "
                        "TF32 off" % torch.__version__)
    write_json(os.path.join(d, "golden.json"), golden)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--train-steps", type=int, default=1500)
    ap.add_argument("--only", choices=["llama", "llada"], default=None)
    ap.add_argument("--gap", type=float, default=1e-3, help="decision margin required (dry runs may lower it)")
    a = ap.parse_args()
    global GAP
    GAP = a.gap
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"torch {torch.__version__} on {device}", flush=True)
    os.makedirs(a.out, exist_ok=True)
    if a.only in (None, "llama"):
        llama_goldens(a.out, device)
    if a.only in (None, "llada"):
        llada_goldens(a.out, a.ref, a.data, device, a.train_steps)
    print("failed parts:", FAILURES or "none")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
