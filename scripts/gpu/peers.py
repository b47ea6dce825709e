#!/usr/bin/env python3
"""The PyTorch peers of dllmbench's performance table, on the same card.

On the random-weight 8B checkpoints of parity8b.py (their cost for
fixed-length generation does not depend on the values), in bf16:
  hf-generate   Hugging Face transformers `generate` on LLaMA-3-8B (sdpa,
                dynamic cache), prompt 128, 128 new tokens, batch 1, 8, 32
  gpt-fast      pytorch-labs/gpt-fast's generate() on its own Transformer at
                the llama-3-8b config (random bf16 weights, std 0.02), with
                decode_one_token compiled as its main() does
                (mode="reduce-overhead", fullgraph=True, its inductor flags):
                prompt 128, 128 new tokens (prefill + 127 decode steps, as it
                counts them), batch 1 and 8, greedy in effect (temperature 0,
                no top-k); decode_ms_per_token times decode_n_tokens alone
  llada-ref     LLaDA's reference generate() (ML-GSAI/LLaDA generate.py) on
                the official LLaDA modeling code at LLaDA-8B shape: prompt
                128 + 128 generated, block 32, 128 steps; per step
  fast-dllm     Fast-dLLM's generate_with_dual_cache (threshold off, 128
                steps, block 32): per forward call
llada-ref and fast-dllm run with Fast-dLLM's `@torch.compile()` on its SDPA
wrapper re-applied as published (engine_goldens strips it at import);
--no-compile-sdpa leaves it off. Their records carry "sdpa_compiled".
Each is warmed up (gpt-fast twice, for compilation and CUDA-graph
recording), then timed over repetitions with CUDA synchronisation; medians
are printed and written as JSON lines. The card's NVML energy counter (the
one dllmbench reads) is followed through the timed repetitions as
dllmbench follows it (energy_line.py: it moves only every 100 ms): "joules"
is the median energy of a run and "joules_per_token" that over the tokens
it generates, dllmbench's energy_j_per_token (absent where NVML has no
counter, or the runs took under a second together; "energy_note" says
why).

--ref is the folder holding fastdllm/, llada_ref/ and gptfast/ (gpt-fast's
model.py and generate.py copied verbatim, its LICENSE, and COMMIT, the
commit they came from; a git-ignored local copy, never committed), as
scripts/gpu/ref.sh assembles it into .gpu/ref from clones of the three.

Usage: peers.py --models DIR --ref DIR --out FILE [--reps N]
                [--only hf|gptfast|llada] [--no-compile-sdpa]
                [--gptfast-compile-prefill]
"""

import argparse
import ctypes
import gc
import importlib
import importlib.util
import json
import os
import statistics
import sys
import time
import types

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_goldens as eg  # noqa: E402
import energy_line  # noqa: E402


class Energy:
    """The card's total energy counter through NVML (libnvidia-ml.so.1,
    which the driver installs), in joules; read() is None where the library,
    the card or the counter is missing."""

    def __init__(self):
        self.lib = self.h = None
        try:
            lib = ctypes.CDLL("libnvidia-ml.so.1")
        except OSError:
            return
        h = ctypes.c_void_p()
        uuid = "GPU-" + str(torch.cuda.get_device_properties(0).uuid)
        if lib.nvmlInit_v2() != 0 or lib.nvmlDeviceGetHandleByUUID(uuid.encode(), ctypes.byref(h)) != 0:
            return
        self.lib, self.h = lib, h

    def read(self):
        if self.h is None:
            return None
        mj = ctypes.c_ulonglong()
        if self.lib.nvmlDeviceGetTotalEnergyConsumption(self.h, ctypes.byref(mj)) != 0:
            return None
        return mj.value / 1e3


_energy = None


def timed(fn, reps, warmup=1):
    """The median seconds of reps runs of fn after warmup, every run's
    seconds, and the median joules of a run (None without a counter or
    where the runs were too short: energy_why says why)."""
    global _energy, energy_why
    if _energy is None:
        _energy = Energy()
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ts = []
    with energy_line.Line(_energy.read) as line:
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            t1 = time.perf_counter()
            ts.append(t1 - t0)
            line.run(t0, t1)
    js = line.joules()
    energy_why = line.why
    return statistics.median(ts), ts, (statistics.median(js) if js else None)


energy_why = None


def energy(joules, tokens):
    """The energy fields of a peer's record (of the last timed call)."""
    if joules is None:
        return {"energy_note": energy_why} if energy_why else {}
    return {"joules": joules, "joules_per_token": joules / tokens}


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
            med, ts, j = timed(run, reps)
        emit(out, {"peer": "hf-generate", "model": "llama3-8b", "batch": bs, "prompt": 128, "gen": 128,
                   "seconds": med, "all": ts, "tokens_per_s": bs * 128 / med, **energy(j, bs * 128),
                   "transformers": __import__("transformers").__version__, "torch": torch.__version__})
    del model
    torch.cuda.empty_cache()


def load_gptfast(d):
    """gpt-fast's model.py and generate.py from folder d, as the modules
    gptfast_model and gptfast_generate.

    They stay in sys.modules under those names (torch.compile imports the
    module of each function it inlines by name). generate.py does `from model
    import Transformer` and `from tokenizer import get_tokenizer`: while it
    loads, "model" names gptfast_model and "tokenizer" a stub (gpt-fast's
    tokenizer needs sentencepiece and tiktoken and is not used here); both
    names are given back afterwards."""
    def load(name, path):
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod

    def get_tokenizer(*a, **k):
        raise RuntimeError("gpt-fast's tokenizer is not used by peers.py")
    stub = types.ModuleType("tokenizer")
    stub.get_tokenizer = get_tokenizer

    model = load("gptfast_model", os.path.join(d, "model.py"))
    saved = {n: sys.modules.pop(n, None) for n in ("model", "tokenizer")}
    try:
        sys.modules["model"], sys.modules["tokenizer"] = model, stub
        gen = load("gptfast_generate", os.path.join(d, "generate.py"))
    finally:
        for n, m in saved.items():
            sys.modules.pop(n, None)
            if m is not None:
                sys.modules[n] = m
    return model, gen


def cudagraph_skips():
    """Inductor's count of graphs it ran without CUDA graphs (None if this
    torch does not keep it): a skip would make gpt-fast slower than it is."""
    try:
        from torch._dynamo.utils import counters
        return int(counters["inductor"]["cudagraph_skips"])
    except Exception:
        return None


def gptfast(ref, out, reps, compile_prefill=False):
    """The gpt-fast peer; an error is reported on one line and the other
    peers go on."""
    cfg = saved = None
    try:
        importlib.import_module("torch._dynamo")
        cfg = importlib.import_module("torch._inductor.config")
        saved = (cfg.coordinate_descent_tuning, cfg.triton.unique_kernel_names, cfg.fx_graph_cache)
        _gptfast(ref, out, reps, compile_prefill)
    except Exception as e:
        tb = e.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        where = "%s:%d" % (os.path.basename(tb.tb_frame.f_code.co_filename), tb.tb_lineno)
        msg = " ".join(str(e).split())[:500]
        print("gpt-fast: FAILED at %s: %s: %s" % (where, type(e).__name__, msg), flush=True)
    finally:
        if saved is not None:
            # generate.py sets these inductor flags for the whole process at
            # import; the later peers compile with torch's defaults, as published.
            cfg.coordinate_descent_tuning, cfg.triton.unique_kernel_names, cfg.fx_graph_cache = saved
            torch._dynamo.reset()
        gc.collect()
        torch.cuda.empty_cache()


def _gptfast(ref, out, reps, compile_prefill):
    d = os.path.join(ref, "gptfast")
    commit = open(os.path.join(d, "COMMIT")).read().strip()
    if not hasattr(torch.backends.cuda, "sdp_kernel"):
        # decode_n_tokens enters torch.backends.cuda.sdp_kernel(...), which
        # newer torch may have dropped: the same choice through sdpa_kernel.
        from torch.nn.attention import SDPBackend, sdpa_kernel

        def sdp_kernel(enable_flash=True, enable_math=True, enable_mem_efficient=True, enable_cudnn=True):
            on = [(SDPBackend.FLASH_ATTENTION, enable_flash), (SDPBackend.EFFICIENT_ATTENTION, enable_mem_efficient),
                  (SDPBackend.MATH, enable_math), (SDPBackend.CUDNN_ATTENTION, enable_cudnn)]
            return sdpa_kernel([b for b, ok in on if ok])
        torch.backends.cuda.sdp_kernel = sdp_kernel
        print("gpt-fast: torch.backends.cuda.sdp_kernel missing, using sdpa_kernel", flush=True)
    print("gpt-fast: importing %s (commit %s)" % (d, commit[:12]), flush=True)
    gfmodel, gen = load_gptfast(d)  # generate.py sets gpt-fast's inductor flags here

    args = gfmodel.ModelArgs.from_name("llama-3-8b")
    want = dict(dim=4096, n_layer=32, n_head=32, n_local_heads=8, intermediate_size=14336, vocab_size=128256,
                rope_base=500000)
    got = {k: getattr(args, k) for k in want}
    if got != want:
        raise RuntimeError("gpt-fast's llama-3-8b config is %s, not %s" % (got, want))

    # As gpt-fast's _load_model: built on meta, then bf16 on the card; the
    # weights are random (the cost of fixed-length generation does not
    # depend on them), filled in place on the card.
    t0 = time.perf_counter()
    torch.manual_seed(1234)
    with torch.device("meta"):
        model = gfmodel.Transformer(args)
    model = model.to(dtype=torch.bfloat16).to_empty(device="cuda")
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.fill_(1.0)  # RMSNorm weights
            else:
                torch.nn.init.normal_(p, mean=0.0, std=0.02)
    model = model.eval()
    torch.cuda.synchronize()
    print("gpt-fast: model on the card in %.1f s" % (time.perf_counter() - t0), flush=True)

    prompt_len, gen_len = 128, 128
    sampling = dict(temperature=0.0, top_k=None)  # gpt-fast clamps temperature to 1e-5: argmax in effect
    orig_decode, orig_prefill = gen.decode_one_token, gen.prefill
    g = torch.Generator().manual_seed(3)
    # gpt-fast's synthetic prompt (main with an integer --prompt): one 1-D
    # prompt, which generate() repeats over the batch.
    prompt = torch.randint(1000, 100000, (prompt_len,), generator=g).cuda()
    try:
        # prefill and decode take x of shape [B, T] and the KV cache is
        # [B, H, S, D]: generate(batch_size=B) runs B sequences at once.
        for bs in (1, 8):
            # A fresh compilation per batch size, as one gpt-fast process
            # per --batch_size would have (no automatic-dynamic batch dim).
            torch._dynamo.reset()
            gen.decode_one_token = torch.compile(orig_decode, mode="reduce-overhead", fullgraph=True)
            gen.prefill = torch.compile(orig_prefill, fullgraph=True, dynamic=True) if compile_prefill else orig_prefill
            with torch.device("cuda"):
                model.setup_caches(max_batch_size=bs, max_seq_length=prompt_len + gen_len)
            skips0 = cudagraph_skips()

            def run(bs=bs):
                with torch.no_grad():
                    y, _ = gen.generate(model, prompt, gen_len, batch_size=bs, interactive=False, draft_model=None,
                                        **sampling)
                assert tuple(y.shape) == (bs, prompt_len + gen_len), tuple(y.shape)

            print("gpt-fast: batch %d: compiling and warming up" % bs, flush=True)
            t0 = time.perf_counter()
            run()
            torch.cuda.synchronize()
            print("gpt-fast: batch %d: first call (compilation) %.1f s" % (bs, time.perf_counter() - t0), flush=True)
            med, ts, j = timed(run, reps)  # a second warm-up, then the timed runs

            # decode alone: prefill (untimed), then decode_n_tokens for the
            # remaining gen_len - 1 tokens, as generate() does.
            x = prompt.view(1, -1).repeat(bs, 1)
            dts = []
            with torch.no_grad():
                for i in range(reps + 1):
                    pos = torch.arange(0, prompt_len, device="cuda")
                    tok = gen.prefill(model, x, pos, **sampling).clone()
                    dpos = torch.tensor([prompt_len], device="cuda", dtype=torch.int)
                    torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    gen.decode_n_tokens(model, tok.view(bs, -1), dpos, gen_len - 1, **sampling)
                    torch.cuda.synchronize()
                    if i > 0:  # the first is a warm-up
                        dts.append(time.perf_counter() - t0)
            dmed = statistics.median(dts)
            skips1 = cudagraph_skips()
            emit(out, {"peer": "gpt-fast", "model": "llama3-8b", "batch": bs, "prompt": prompt_len, "gen": gen_len,
                       "seconds": med, "all": ts, "tokens_per_s": bs * gen_len / med,
                       "tokens_per_s_per_seq": gen_len / med, **energy(j, bs * gen_len),
                       "decode_ms_per_token": dmed / (gen_len - 1) * 1e3, "decode_all": dts,
                       "decode_tokens": gen_len - 1, "commit": commit, "compile": "decode_one_token reduce-overhead",
                       "prefill_compiled": compile_prefill, "sampling": "temperature 0, top_k None",
                       "cudagraph_skips": None if skips0 is None else skips1 - skips0, "torch": torch.__version__})
    finally:
        gen.decode_one_token, gen.prefill = orig_decode, orig_prefill
        del model


def llada(models, ref, out, reps, compile_sdpa=True):
    modeling, cfgmod, fast, ref_gen, _ = eg.import_reference(ref)
    # Fast-dLLM's modeling_llada.py compiles its module-level SDPA wrapper
    # (`@torch.compile()`); import_reference strips that, so re-apply it as
    # published. LLaDABlock._scaled_dot_product_attention calls it by its
    # module-global name at call time, so the assignment takes effect.
    sdpa = modeling.scaled_dot_product_attention
    sdpa = getattr(sdpa, "_torchdynamo_orig_callable", sdpa)  # in case the strip did not apply
    modeling.scaled_dot_product_attention = torch.compile(sdpa) if compile_sdpa else sdpa
    print("llada: Fast-dLLM SDPA wrapper %s" % ("compiled" if compile_sdpa else "not compiled"), flush=True)
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
    med, ts, j = timed(run, reps)
    emit(out, {"peer": "llada-ref", "model": "llada-8b", "batch": 1, "prompt": 128, "gen": 128, "steps": 128,
               "block": 32, "seconds": med, "all": ts, "step_ms": med / 128 * 1e3, "tokens_per_s": 128 / med,
               **energy(j, 128), "sdpa_compiled": compile_sdpa})
    for cache, fn in (("dual", fast.generate_with_dual_cache), ("prefix", fast.generate_with_prefix_cache),
                      ("none", fast.generate)):
        nfe = []

        def run2(fn=fn):
            _, n = fn(model, prompt, steps=128, gen_length=128, block_length=32, temperature=0.0,
                      remasking="low_confidence", mask_id=126336)
            nfe.append(int(n))
        med, ts, j = timed(run2, reps)
        emit(out, {"peer": "fast-dllm", "cache": cache, "model": "llada-8b", "batch": 1, "prompt": 128, "gen": 128,
                   "steps": 128, "block": 32, "seconds": med, "all": ts, "nfe": nfe[-1],
                   "call_ms": med / nfe[-1] * 1e3, "tokens_per_s": 128 / med, **energy(j, 128),
                   "sdpa_compiled": compile_sdpa})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", choices=["hf", "gptfast", "llada"])
    ap.add_argument("--no-compile-sdpa", action="store_true",
                    help="leave Fast-dLLM's SDPA wrapper uncompiled (llada-ref, fast-dllm)")
    ap.add_argument("--gptfast-compile-prefill", action="store_true",
                    help="also compile gpt-fast's prefill (its --compile_prefill: fullgraph, dynamic)")
    a = ap.parse_args()
    if a.only in (None, "hf"):
        hf(a.models, a.out, a.reps)
    if a.only in (None, "gptfast"):
        gptfast(a.ref, a.out, a.reps, compile_prefill=a.gptfast_compile_prefill)
    if a.only in (None, "llada"):
        llada(a.models, a.ref, a.out, a.reps, compile_sdpa=not a.no_compile_sdpa)


if __name__ == "__main__":
    main()
