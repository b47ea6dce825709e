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

Usage (the GPU machine): python3 scripts/gpu/wgmma/lt.py [--secs S] [--algos N] [SHAPE...]
"""
import argparse, ctypes, os, sys

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
CONFIG = [("id", 0), ("tile", 1), ("splitk", 2), ("reduction", 3), ("swizzle", 4), ("custom", 5), ("stages", 6),
          ("inner", 7), ("cluster", 8)]
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
    for name, attr in CONFIG:
        v, n = ctypes.c_uint32(), ctypes.c_size_t()
        if lt.cublasLtMatmulAlgoConfigGetAttribute(ctypes.byref(r.algo), attr, ctypes.byref(v), 4, ctypes.byref(n)) == 0:
            out.append(f"{name} {v.value}")
    return ", ".join(out) + f", waves {r.waves:.2f}, ws {r.workspace >> 10} KiB"


def shape(name, count, secs):
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
    best = None
    for i, r in enumerate(cands):
        algo = ctypes.byref(r.algo)
        s = c_void_p(torch.cuda.current_stream().cuda_stream)
        def call():
            lt.cublasLtMatmul(h, desc, ctypes.addressof(sc), w.data_ptr(), la, x.data_ptr(), lb,
                              ctypes.addressof(sc) + 4, d.data_ptr(), lc, d.data_ptr(), lc, algo,
                              wsbuf.data_ptr(), WORKSPACE, s)
        d.copy_(d0)
        call(); torch.cuda.synchronize()
        err = ((d.float() - want).norm() / want.norm()).item()
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
    a = ap.parse_args()
    for s in a.shapes:
        if s not in SHAPES:
            ap.error(f"no shape {s!r}: want one of " + ", ".join(SHAPES))
    run.init_gpu()
    open_libs()
    for s in a.shapes or list(SHAPES):
        shape(s, a.algos, a.secs)


if __name__ == "__main__":
    main()
