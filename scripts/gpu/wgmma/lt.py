#!/usr/bin/env python3
"""Which of cuBLASLt's algorithms spends the least energy on the LLaDA-8B
layer's products at 256 rows, where the reference step runs at the card's
power limit (perf.md v16): there a product's time is its energy over the
limit, so what counts is its sustained time and energy, not its burst.

For each product the engine makes (engine's layout: w row-major out × in,
x row-major rows × in; column-major d = wᵀ·x) the base is the very call
compute/cuda makes (cublasGemmEx, or cublasGemmBatchedEx for q, k, v and
for gate and up, on torch's cuBLAS handle and stream); then every
algorithm cuBLASLt's heuristic offers for the same product (strided
batches for the batched ones), each checked against the base's result and
measured as run.py measures: a burst of CUDA events, then 1 s back to
back with NVML's energy counter and SM clock. The base runs again last,
so the card's drift over the shape shows.

With --sweep the candidates are not the heuristic's but every
configuration cuBLASLt will run: each algorithm id it has for the types,
with each tile, stage count, cluster shape, swizzle and (for the products
added into x) split of k its capabilities allow, as cublasLtMatmulAlgoCheck
accepts them. Each is checked against the base and timed in a short burst;
the fastest --keep by burst time, and the fastest of each cluster shape,
are then measured sustained. (TensorRT-LLM hand-picks clusters of 1×2 for
products of at most 256 rows: two blocks of one weight tile's columns
share its loads; the heuristic's eight did not include one.)

Usage (the GPU machine): python3 scripts/gpu/wgmma/lt.py [--secs S] [--algos N] [--sweep [--keep K]] [SHAPE...]
"""
import argparse, ctypes, os, random, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (burst, sustained, measure, cdll, init_gpu)
from run import torch  # noqa: E402

c_void_p, c_int, c_int64, c_uint64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_uint64
R_16BF, R_32F = 14, 0  # cudaDataType_t
COMPUTE_32F = 68  # cublasComputeType_t
OP_N, OP_T = 0, 1
DESC_TRANSA, DESC_TRANSB = 3, 4  # cublasLtMatmulDescAttributes_t
LAYOUT_BATCH_COUNT, LAYOUT_BATCH_STRIDE = 5, 6  # cublasLtMatrixLayoutAttribute_t
PREF_MAX_WORKSPACE = 1  # cublasLtMatmulPreferenceAttributes_t
# cublasLtMatmulAlgoConfigAttributes_t, each a uint32 but for the id's int32
# (name, attribute, bytes): the inner and cluster shape ids are uint16.
CONFIG = [("id", 0, 4), ("tile", 1, 4), ("splitk", 2, 4), ("reduction", 3, 4), ("swizzle", 4, 4), ("custom", 5, 4),
          ("stages", 6, 4), ("inner", 7, 2), ("cluster", 8, 2)]
# cublasLtMatmulAlgoCapAttributes_t
CAP_SPLITK, CAP_REDUCTION_MASK, CAP_SWIZZLE, CAP_TILE_IDS, CAP_STAGES_IDS = 0, 1, 2, 6, 13
# cublasLtClusterShape_t: AUTO, 1x1x1, 2x1x1, 4x1x1, 1x2x1, 2x2x1, 1x4x1 (cluster.x runs along d's columns of
# output features, .y along its 256 rows' tiles)
CLUSTERS = {0: "auto", 2: "1x1", 3: "2x1", 4: "4x1", 5: "1x2", 6: "2x2", 8: "1x4"}
REDUCTION_INPLACE = 1
CAP_NUMERICAL_IMPL_FLAGS, IMPL_HMMA = 15, 2  # uint64 flags; cublasLtNumericalImplFlags_t
WORKSPACE = 32 << 20

M = 256
# name: (batch, n out, k in, output type, beta)
SHAPES = {
    "qkv": (3, 4096, 4096, R_32F, 0.0),
    "o": (1, 4096, 4096, R_32F, 1.0),
    "gateup": (2, 12288, 4096, R_16BF, 0.0),
    "down": (1, 4096, 12288, R_32F, 1.0),
}

blas = lt = None


class HeuristicResult(ctypes.Structure):
    # cublasLtMatmulHeuristicResult_t: {cublasLtMatmulAlgo_t algo (uint64_t data[8]); size_t workspaceSize;
    #     cublasStatus_t state; float wavesCount; int reserved[4];}
    _fields_ = [("algo", ctypes.c_uint64 * 8), ("workspace", ctypes.c_size_t), ("state", ctypes.c_int),
                ("waves", ctypes.c_float), ("reserved", ctypes.c_int * 4)]


def ok(r, what):
    if r != 0:
        raise RuntimeError(f"{what}: status {r}")


def open_libs():
    global blas, lt
    blas = run.cdll("libcublas.so.13") if _has("libcublas.so.13") else run.cdll("libcublas.so.12")
    lt = run.cdll("libcublasLt.so.13") if _has("libcublasLt.so.13") else run.cdll("libcublasLt.so.12")
    blas.cublasGemmEx.argtypes = [c_void_p, c_int, c_int, c_int, c_int, c_int, c_void_p, c_void_p, c_int, c_int,
                                  c_void_p, c_int, c_int, c_void_p, c_void_p, c_int, c_int, c_int, c_int]
    blas.cublasGemmBatchedEx.argtypes = [c_void_p, c_int, c_int, c_int, c_int, c_int, c_void_p, c_void_p, c_int, c_int,
                                         c_void_p, c_int, c_int, c_void_p, c_void_p, c_int, c_int, c_int, c_int, c_int]
    lt.cublasLtMatmul.argtypes = [c_void_p] * 14 + [c_uint64, c_void_p]
    lt.cublasLtMatrixLayoutCreate.argtypes = [c_void_p, c_int, c_uint64, c_uint64, c_int64]
    lt.cublasLtMatmulAlgoGetHeuristic.argtypes = [c_void_p] * 7 + [c_int, c_void_p, c_void_p]
    lt.cublasLtMatmulAlgoConfigGetAttribute.argtypes = [c_void_p, c_int, c_void_p, ctypes.c_size_t, c_void_p]
    lt.cublasLtMatmulAlgoConfigSetAttribute.argtypes = [c_void_p, c_int, c_void_p, ctypes.c_size_t]
    lt.cublasLtMatmulAlgoCapGetAttribute.argtypes = [c_void_p, c_int, c_void_p, ctypes.c_size_t, c_void_p]
    lt.cublasLtMatmulAlgoGetIds.argtypes = [c_void_p] + [c_int] * 7 + [c_void_p, c_void_p]
    lt.cublasLtMatmulAlgoInit.argtypes = [c_void_p] + [c_int] * 7 + [c_void_p]
    lt.cublasLtMatmulAlgoCheck.argtypes = [c_void_p] * 8


def _has(name):
    try:
        ctypes.CDLL(name)
        return True
    except OSError:
        return False


def operands(batch, n, k, otype):
    torch.manual_seed(0)
    x = torch.randn(M, k, device="cuda").bfloat16()
    w = ((torch.rand(batch, n, k, device="cuda") - 0.5) * 0.04).bfloat16()
    dt = torch.float32 if otype == R_32F else torch.bfloat16
    d = torch.randn(batch, M, n, device="cuda").to(dt)
    return x, w, d


def base_call(batch, n, k, otype, beta, x, w, d):
    """The engine's call: gemmEx or gemmBatched (compute/cuda/ops.go)."""
    h = c_void_p(torch.cuda.current_blas_handle())
    ok(blas.cublasSetStream_v2(h, c_void_p(torch.cuda.current_stream().cuda_stream)), "cublasSetStream")
    sc = (ctypes.c_float * 2)(1.0, beta)
    a1, b1 = ctypes.addressof(sc), ctypes.addressof(sc) + 4
    if batch == 1:
        def go():
            blas.cublasGemmEx(h, OP_T, OP_N, n, M, k, a1, w.data_ptr(), R_16BF, k, x.data_ptr(), R_16BF, k,
                              b1, d.data_ptr(), otype, n, COMPUTE_32F, -1)
        return go, sc
    ptrs = torch.tensor([w[i].data_ptr() for i in range(batch)] + [x.data_ptr()] * batch +
                        [d[i].data_ptr() for i in range(batch)], dtype=torch.int64, device="cuda")
    def go():
        blas.cublasGemmBatchedEx(h, OP_T, OP_N, n, M, k, a1, ptrs.data_ptr(), R_16BF, k,
                                 ptrs.data_ptr() + 8 * batch, R_16BF, k, b1, ptrs.data_ptr() + 16 * batch, otype, n,
                                 batch, COMPUTE_32F, -1)
    return go, (sc, ptrs)


def layout(typ, rows, cols, ld, batch, stride):
    l = c_void_p()
    ok(lt.cublasLtMatrixLayoutCreate(ctypes.byref(l), typ, rows, cols, ld), "cublasLtMatrixLayoutCreate")
    if batch > 1:
        b, s = ctypes.c_int32(batch), ctypes.c_int64(stride)
        ok(lt.cublasLtMatrixLayoutSetAttribute(l, LAYOUT_BATCH_COUNT, ctypes.byref(b), 4), "batch count")
        ok(lt.cublasLtMatrixLayoutSetAttribute(l, LAYOUT_BATCH_STRIDE, ctypes.byref(s), 8), "batch stride")
    return l


def lt_candidates(h, batch, n, k, otype, count):
    desc = c_void_p()
    ok(lt.cublasLtMatmulDescCreate(ctypes.byref(desc), COMPUTE_32F, R_32F), "cublasLtMatmulDescCreate")
    for attr, v in ((DESC_TRANSA, OP_T), (DESC_TRANSB, OP_N)):
        t = ctypes.c_int32(v)
        ok(lt.cublasLtMatmulDescSetAttribute(desc, attr, ctypes.byref(t), 4), "transpose")
    la = layout(R_16BF, k, n, k, batch, n * k)
    lb = layout(R_16BF, k, M, k, batch, 0)
    lc = layout(otype, n, M, n, batch, n * M)
    pref = c_void_p()
    ok(lt.cublasLtMatmulPreferenceCreate(ctypes.byref(pref)), "preference")
    ws = ctypes.c_uint64(WORKSPACE)
    ok(lt.cublasLtMatmulPreferenceSetAttribute(pref, PREF_MAX_WORKSPACE, ctypes.byref(ws), 8), "workspace")
    res = (HeuristicResult * count)()
    got = ctypes.c_int()
    ok(lt.cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, lc, lc, pref, count, res, ctypes.byref(got)), "heuristic")
    return (desc, la, lb, lc), [r for r in res[:got.value] if r.state == 0]


def config(r):
    out = []
    for name, attr, size in CONFIG:
        v, n = (ctypes.c_uint32() if size == 4 else ctypes.c_uint16()), ctypes.c_size_t()
        if lt.cublasLtMatmulAlgoConfigGetAttribute(ctypes.byref(r.algo), attr, ctypes.byref(v), size, ctypes.byref(n)) == 0:
            out.append(f"{name} {CLUSTERS.get(v.value, v.value) if name == 'cluster' else v.value}")
    return ", ".join(out) + f", waves {r.waves:.2f}, ws {r.workspace >> 10} KiB"


def cap_list(algo, attr):
    n = ctypes.c_size_t()
    lt.cublasLtMatmulAlgoCapGetAttribute(ctypes.byref(algo), attr, None, 0, ctypes.byref(n))
    if n.value == 0:
        return [0]
    buf = (ctypes.c_uint32 * (n.value // 4))()
    ok(lt.cublasLtMatmulAlgoCapGetAttribute(ctypes.byref(algo), attr, buf, n.value, ctypes.byref(n)), "cap")
    return list(buf) or [0]


def cap_int(algo, attr):
    v, n = ctypes.c_uint32(), ctypes.c_size_t()
    ok(lt.cublasLtMatmulAlgoCapGetAttribute(ctypes.byref(algo), attr, ctypes.byref(v), 4, ctypes.byref(n)), "cap")
    return v.value


def set_config(algo, attr, value, size=4):
    v = ctypes.c_uint32(value) if size == 4 else ctypes.c_uint16(value)
    return lt.cublasLtMatmulAlgoConfigSetAttribute(ctypes.byref(algo), attr, ctypes.byref(v), size) == 0


def sweep_candidates(h, descs, otype, beta, limit):
    """Every configuration cublasLtMatmulAlgoCheck accepts, as HeuristicResults."""
    desc, la, lb, lc = descs
    ids = (c_int * 256)()
    got = c_int()
    ok(lt.cublasLtMatmulAlgoGetIds(h, COMPUTE_32F, R_32F, R_16BF, R_16BF, otype, otype, 256, ids, ctypes.byref(got)),
       "cublasLtMatmulAlgoGetIds")
    out = []
    for algo_id in ids[:got.value]:
        base = HeuristicResult()
        if lt.cublasLtMatmulAlgoInit(h, COMPUTE_32F, R_32F, R_16BF, R_16BF, otype, otype, algo_id,
                                     ctypes.byref(base.algo)) != 0:
            continue
        flags, n = ctypes.c_uint64(), ctypes.c_size_t()
        lt.cublasLtMatmulAlgoCapGetAttribute(ctypes.byref(base.algo), CAP_NUMERICAL_IMPL_FLAGS, ctypes.byref(flags), 8,
                                             ctypes.byref(n))
        if not flags.value & IMPL_HMMA:  # not on the tensor cores
            continue
        tiles, stages = cap_list(base.algo, CAP_TILE_IDS), cap_list(base.algo, CAP_STAGES_IDS)
        swizzles = (0, 1) if cap_int(base.algo, CAP_SWIZZLE) else (0,)
        splits = (1, 2, 3, 4) if beta and cap_int(base.algo, CAP_SPLITK) else (1,)
        for tile in tiles:
            for st in stages:
                for cl in CLUSTERS:
                    for sw in swizzles:
                        for sk in splits:
                            r = HeuristicResult()
                            ctypes.memmove(ctypes.byref(r.algo), ctypes.byref(base.algo), ctypes.sizeof(r.algo))
                            if not (set_config(r.algo, 1, tile) and set_config(r.algo, 6, st)
                                    and set_config(r.algo, 4, sw) and set_config(r.algo, 8, cl, 2)):
                                continue
                            if sk > 1 and not (set_config(r.algo, 2, sk) and set_config(r.algo, 3, REDUCTION_INPLACE)):
                                continue
                            if lt.cublasLtMatmulAlgoCheck(h, desc, la, lb, lc, lc, ctypes.byref(r.algo),
                                                          ctypes.byref(r)) != 0 or r.workspace > WORKSPACE:
                                continue
                            out.append(r)
                            if len(out) >= limit:
                                return out
    return out


def shape(name, count, secs, sweep=False, n_keep=6, sweep_secs=45.0):
    batch, n, k, otype, beta = SHAPES[name]
    flop = 2 * batch * M * n * k
    print(f"{name}: {batch} × {M}×{n}×{k}, {'bfloat16' if otype == R_16BF else 'float32'} out"
          + (", added" if beta else ""), flush=True)
    x, w, d = operands(batch, n, k, otype)
    d0 = d.clone()
    go, keep = base_call(batch, n, k, otype, beta, x, w, d)
    go(); torch.cuda.synchronize()
    want = d.float().clone()
    base = run.measure("cuBLAS (the engine's call)", go, flop, secs=secs)
    h = c_void_p()
    ok(lt.cublasLtCreate(ctypes.byref(h)), "cublasLtCreate")
    (desc, la, lb, lc), cands = lt_candidates(h, batch, n, k, otype, count)
    wsbuf = torch.empty(WORKSPACE, dtype=torch.uint8, device="cuda")
    sc = (ctypes.c_float * 2)(1.0, beta)
    s = c_void_p(torch.cuda.current_stream().cuda_stream)

    def caller(r):
        algo = ctypes.byref(r.algo)
        def call():
            lt.cublasLtMatmul(h, desc, ctypes.addressof(sc), w.data_ptr(), la, x.data_ptr(), lb,
                              ctypes.addressof(sc) + 4, d.data_ptr(), lc, d.data_ptr(), lc, algo,
                              wsbuf.data_ptr(), WORKSPACE, s)
        return call

    def correct(call):
        d.copy_(d0)
        call(); torch.cuda.synchronize()
        return ((d.float() - want).norm() / want.norm()).item()

    def quick(call):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(3):
            call()
        b.record(); b.synchronize()
        return a.elapsed_time(b) / 3e3

    if sweep:
        every = sweep_candidates(h, (desc, la, lb, lc), otype, beta, 20000)
        print(f"  sweep: {len(every)} configurations accepted", flush=True)
        random.Random(0).shuffle(every)  # the time limit then samples all of them alike
        timed, wrong, slow, t_end = [], 0, 0, time.perf_counter() + sweep_secs
        for r in every:
            if time.perf_counter() > t_end:
                print(f"  sweep: out of time after {len(timed)} timed", flush=True)
                break
            call = caller(r)
            try:
                if not correct(call) < 1e-2:
                    wrong += 1
                    continue
                if quick(call) > 1.5 * base[0]:  # not worth a burst
                    slow += 1
                    continue
                timed.append((run.burst(call, 20), r))
            except RuntimeError:
                continue
        timed.sort(key=lambda tr: tr[0])
        if not timed:
            print(f"  nothing timed ({wrong} wrong, {slow} slow)", flush=True)
            return
        pick, seen = list(timed[:n_keep]), set()
        for tr in timed:
            cl = config(tr[1]).split("cluster ")[1].split(",")[0] if "cluster " in config(tr[1]) else "?"
            if cl not in seen:
                seen.add(cl)
                if tr not in pick:
                    pick.append(tr)
        print(f"  {len(timed)} timed ({wrong} wrong, {slow} over 1.5× the base's time); fastest {timed[0][0] * 1e6:.1f} µs against the base's {base[0] * 1e6:.1f}",
              flush=True)
        cands = [r for _, r in pick]
    best = None
    for i, r in enumerate(cands):
        call = caller(r)
        err = correct(call)
        print(f"  [{i}] {config(r)}; rel err against the base {err:.1e}", flush=True)
        if not err < 1e-2:
            print("      wrong: not measured", flush=True)
            continue
        t, e = run.measure(f"[{i}]", call, flop, base, secs)
        if best is None or e < best[1]:
            best = (i, e)
    run.measure("cuBLAS again", go, flop, base, secs)
    if best:
        print(f"  least energy: [{best[0]}], {best[1] / base[1] * 100:.1f}% of the base's", flush=True)
    del keep


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shapes", nargs="*", metavar="SHAPE", help="of " + ", ".join(SHAPES) + " (default: all)")
    ap.add_argument("--secs", type=float, default=1.0, help="seconds of each sustained run")
    ap.add_argument("--algos", type=int, default=16, help="candidates asked of the heuristic")
    ap.add_argument("--sweep", action="store_true", help="every configuration, not the heuristic's")
    ap.add_argument("--keep", type=int, default=6, help="with --sweep: the fastest measured sustained")
    ap.add_argument("--sweep-secs", type=float, default=45.0, help="with --sweep: seconds of burst timing a shape")
    a = ap.parse_args()
    for s in a.shapes:
        if s not in SHAPES:
            ap.error(f"no shape {s!r}: want one of " + ", ".join(SHAPES))
    run.init_gpu()
    open_libs()
    for s in a.shapes or list(SHAPES):
        shape(s, a.algos, a.secs, a.sweep, a.keep, a.sweep_secs)


if __name__ == "__main__":
    main()
