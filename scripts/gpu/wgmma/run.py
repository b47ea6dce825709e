#!/usr/bin/env python3
"""Measures the prototype Hopper GEMM (gen.py) against PyTorch's cuBLAS on
the GPU machine: compiles gemm_sm90.cu with NVRTC for sm_90a, launches it
through the driver API on torch's tensors (TMA descriptors from
cuTensorMapEncodeTiled), checks it against a float32 product (and the
split-K kernels for the same bits twice), and times both, in a burst (CUDA
events, 200 calls) and sustained (2 s back to back, with NVML's energy
counter and SM clock). The shapes are LLaDA-8B's at 256 rows: the gate
(or q, k, v) product alone, gate and up with silu(gate)·up in the
epilogue, and the down and o products added into a float32 residual.

Each group of measurements (single, swiglu, split) runs in a process of
its own with a time limit, so that a kernel that hangs costs its group and
not the run; the cubin is compiled once and shared. The exit status is
non-zero if a result was wrong or a group did not finish.

Usage: python3 scripts/gpu/wgmma/gen.py, then on the GPU machine
python3 scripts/gpu/wgmma/run.py [--timeout SECONDS] [GROUP...]
"""
import ctypes, glob, os, sys, time, statistics

try:
    import torch
except ImportError:  # compiling needs no torch; measuring does (init_gpu)
    torch = None

def cdll(name):
    try:
        return ctypes.CDLL(name)
    except OSError:
        pass
    for p in sys.path:
        for c in glob.glob(os.path.join(p, "nvidia", "**", name), recursive=True):
            return ctypes.CDLL(c)
    raise OSError(name)

cu = uuid = Clock = energy_line = None


def init_gpu():
    """Opens the GPU (through torch, whose context the driver calls then
    use) and the driver, and prints the card; the clock and energy readings
    are ceilings.py's."""
    global cu, uuid, Clock
    if torch is None:
        sys.exit("measuring needs PyTorch")
    torch.zeros(1, device="cuda")
    cu = ctypes.CDLL("libcuda.so.1")
    cu.cuTensorMapEncodeTiled.argtypes = [ctypes.POINTER(TMap), ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint32),
        ctypes.POINTER(ctypes.c_uint32), ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    cu.cuLaunchKernel.argtypes = [ctypes.c_void_p] + [ctypes.c_uint] * 7 + [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from ceilings import Clock
    global energy_line
    import energy_line
    uuid = str(torch.cuda.get_device_properties(0).uuid)
    print("GPU-" + uuid, torch.cuda.get_device_name(0), flush=True)

def check(r, what):
    if r != 0:
        raise RuntimeError(f"{what}: {r}")

def compile_cubin():
    """gemm_sm90.cu compiled by the machine's NVRTC for sm_90a."""
    try:
        nvrtc = cdll("libnvrtc.so.13")
    except OSError:
        nvrtc = cdll("libnvrtc.so.12")
    src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "gemm_sm90.cu")).read().encode()
    prog = ctypes.c_void_p()
    check(nvrtc.nvrtcCreateProgram(ctypes.byref(prog), src, b"gemm_sm90.cu", 0, None, None), "create")
    opts = [b"--gpu-architecture=sm_90a", b"-default-device", b"--std=c++17"]
    r = nvrtc.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
    n = ctypes.c_size_t(); nvrtc.nvrtcGetProgramLogSize(prog, ctypes.byref(n))
    log = ctypes.create_string_buffer(n.value); nvrtc.nvrtcGetProgramLog(prog, log)
    if r != 0:
        sys.exit(log.value.decode())
    nvrtc.nvrtcGetCUBINSize(prog, ctypes.byref(n))
    cubin = ctypes.create_string_buffer(n.value); check(nvrtc.nvrtcGetCUBIN(prog, cubin), "cubin")
    return cubin.raw

STAGES = {128: 6, 192: 5, 256: 4}
VARIANTS = ("", "mc_", "mc1_", "mc0_")  # gen.py's kernel families of 128-row blocks
fns = {}

def load(cubin):
    """Loads the kernels of cubin into fns: name → (function, shared bytes, rows a block)."""
    mod = ctypes.c_void_p()
    check(cu.cuModuleLoadData(ctypes.byref(mod), cubin), "load")
    def add(name, bm, bn, stages):
        f = ctypes.c_void_p()
        check(cu.cuModuleGetFunction(ctypes.byref(f), mod, name.encode()), name)
        smem = stages * (bm * 64 * 2 + bn * 64 * 2) + 16 * stages + 1024
        check(cu.cuFuncSetAttribute(f, 8, smem), "smem attr")
        fns[name] = (f, smem, bm)
    for epi in ("", "_bf16", "_swiglu"):
        for bn, st in STAGES.items():
            for v in VARIANTS:
                add(f"gemm_{v}n{bn}{epi}", 128, bn, st)
        for bn in (128, 192):
            add(f"gemm_w_n{bn}{epi}", 256, bn, 4)
    for bn in (128, 192):
        add(f"gemm_w_n{bn}_add", 256, bn, 4)

class TMap(ctypes.Structure):
    _fields_ = [("d", ctypes.c_uint64 * 16)]

def tmap(t, box_rows):
    rows, k = t.shape
    m = TMap()
    dims = (ctypes.c_uint64 * 2)(k, rows)
    strides = (ctypes.c_uint64 * 1)(k * 2)
    box = (ctypes.c_uint32 * 2)(64, box_rows)
    es = (ctypes.c_uint32 * 2)(1, 1)
    check(cu.cuTensorMapEncodeTiled(ctypes.byref(m), 9, 2, ctypes.c_void_p(t.data_ptr()), dims, strides, box, es, 0, 3, 3, 0), "tmap")
    return m

def launcher(name, A, B, C, splits=1, U=None):
    """A function that launches kernel name (gemm_[VARIANT]nBN[EPI]) on A, B
    and C, with k split over splits blocks (the _add kernels); the _swiglu
    kernels take gate's weights as B and up's as U."""
    bn = int(name.split("_n")[1].split("_")[0])
    M, K = A.shape; N = B.shape[0] + (U.shape[0] if U is not None else 0)
    f, smem, bm = fns[name]
    half = name.endswith("_swiglu") or name.startswith("gemm_mc_")  # B's box: half a tile
    ta, tb = tmap(A, bm), tmap(B, bn // 2 if half else bn)
    tu = tmap(U, bn // 2) if U is not None else tb
    cp = ctypes.c_uint64(C.data_ptr()); m_, n_, k_ = ctypes.c_int(M), ctypes.c_int(N), ctypes.c_int(K)
    flags = torch.zeros((M // bm) * (N // bn), dtype=torch.int32, device="cuda")
    fp = ctypes.c_uint64(flags.data_ptr())
    keep = [ta, tb, tu, cp, m_, n_, k_, fp]
    params = (ctypes.c_void_p * 8)(*[ctypes.cast(ctypes.byref(x), ctypes.c_void_p) for x in keep])
    stream = torch.cuda.current_stream().cuda_stream
    def go():
        check(cu.cuLaunchKernel(f, M // bm, N // bn, splits, 384, 1, 1, smem, stream, params, None), "launch")
    go.keep = (keep, params, flags)
    return go

def energy_mj(clk):
    """The device's energy counter in mJ, through the Clock's NVML handle."""
    e = ctypes.c_ulonglong(); clk.nvml.nvmlDeviceGetTotalEnergyConsumption(clk.dev, ctypes.byref(e)); return e.value

def burst(fn, reps=200):
    for _ in range(20): fn()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(reps): fn()
    b.record(); b.synchronize()
    return a.elapsed_time(b) / 1e3 / reps

def sustained(fn, secs=2.0):
    """Seconds and millijoules a call, back to back for secs, and the mean SM
    clock once settled. The energy is read off the line through the
    counter's steps (energy_line.py: NVML's moves every 100 ms, so two
    readings around 2 s are off by up to 10%)."""
    t_one = burst(fn, 50)
    per = max(1, int(0.05 / t_one))
    clk = Clock(uuid, every=0.02)
    torch.cuda.synchronize()
    with clk, energy_line.Line(lambda: energy_mj(clk) / 1e3) as line:
        t0 = time.perf_counter(); calls = 0
        while time.perf_counter() - t0 < secs:
            for _ in range(per): fn()
            calls += per
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        line.run(t0, t1)
    js = line.joules()
    if js is None:
        sys.exit(f"no energy: {line.why}")
    late = clk.samples[len(clk.samples) // 4:]  # the clock once it has settled
    return (t1 - t0) / calls, js[0] * 1e3 / calls, statistics.mean(late) if late else 0

def measure(name, fn, flop, base=None, secs=2.0):
    t = burst(fn)
    ts, ej, mhz = sustained(fn, secs)
    rel = f" ({base[0]/t*100:.0f}% of the base's rate, {ej/base[1]*100:.1f}% of its energy)" if base else ""
    print(f"   {name}: burst {t*1e6:.1f} µs {flop/t/1e12:.0f} TFLOP/s; sustained {ts*1e6:.1f} µs, {ej:.2f} mJ/call, {ej/flop*1e9:.3f} pJ/FLOP at {mhz:.0f} MHz{rel}", flush=True)
    return t, ej

def relerr(x, ref):
    return ((x.float() - ref).norm() / ref.norm()).item()

failed = []

def expect(name, err, bound):
    """Records a kernel whose error against the float32 product exceeds bound."""
    print(f"   {name} rel err {err:.2e} (at most {bound:.2e})")
    if not err <= bound:
        failed.append(name)

class LaunchConfig(ctypes.Structure):
    _fields_ = [("grid", ctypes.c_uint * 3), ("block", ctypes.c_uint * 3), ("shared", ctypes.c_uint),
                ("stream", ctypes.c_void_p), ("attrs", ctypes.c_void_p), ("nattrs", ctypes.c_uint)]

M, K, H = 256, 4096, 12288

def operands():
    torch.manual_seed(0)
    A = torch.randn(M, K, device="cuda").bfloat16()
    G = (torch.randn(H, K, device="cuda") * 0.02).bfloat16()
    U = (torch.randn(H, K, device="cuda") * 0.02).bfloat16()
    return A, G, U

def group_single():
    A, G, _ = operands()
    flop = 2 * M * H * K
    print(f"one product {M}×{H}×{K}, bfloat16 out:")
    base = measure("torch.matmul", lambda: torch.matmul(A, G.T), flop)
    ref = A.float() @ G.float().T
    for name in ("gemm_mc_n192_bf16", "gemm_mc_n256_bf16", "gemm_mc_n128_bf16"):
        f, smem, _ = fns[name]
        cfg = LaunchConfig((2, 64, 1), (384, 1, 1), smem, None, None, 0)
        nc = ctypes.c_int()
        r = cu.cuOccupancyMaxActiveClusters(ctypes.byref(nc), f, ctypes.byref(cfg))
        print(f"   {name}: at most {nc.value} clusters of two at once (rc {r}), {smem} B of shared memory a block")

    for name in ("gemm_n192_bf16", "gemm_mc0_n192_bf16", "gemm_mc_n192_bf16", "gemm_w_n128_bf16", "gemm_w_n192_bf16"):
        C = torch.full((M, H), float("nan"), device="cuda").bfloat16()
        go = launcher(name, A, G, C); go(); torch.cuda.synchronize()
        expect(name, relerr(C, ref), 1.5 * relerr(torch.matmul(A, G.T), ref))
        measure(name, go, flop, base)


def group_swiglu():
    A, G, U = operands()
    flop = 2 * M * H * K
    print(f"gate and up {M}×2·{H}×{K}, then silu(gate)·up in bfloat16:")
    Wcat = torch.cat([G, U])
    def torch_swiglu():
        y = torch.matmul(A, Wcat.T)
        return torch.nn.functional.silu(y[:, :H]) * y[:, H:]
    hr = torch.nn.functional.silu(A.float() @ G.float().T) * (A.float() @ U.float().T)
    torch_err = relerr(torch_swiglu(), hr)
    print(f"   torch rel err {torch_err:.2e}")
    base = measure("torch matmul + silu·up", torch_swiglu, 2 * flop)
    measure("torch matmul alone", lambda: torch.matmul(A, Wcat.T), 2 * flop)
    for name in ("gemm_n192_swiglu", "gemm_w_n192_swiglu", "gemm_w_n128_swiglu", "gemm_mc_n192_swiglu"):
        C = torch.full((M, H), float("nan"), device="cuda").bfloat16()
        go = launcher(name, A, G, C, U=U); go(); torch.cuda.synchronize()
        expect(name, relerr(C, hr), torch_err)
        measure(name, go, 2 * flop, base)

def group_split():
    for K2, what in ((12288, "down"), (4096, "o")):
        print(f"{what}: x += A·Bᵀ into float32, {M}×4096×{K2}:")
        A2 = torch.randn(M, K2, device="cuda").bfloat16()
        B2 = (torch.randn(4096, K2, device="cuda") * 0.02).bfloat16()
        x = torch.randn(M, 4096, device="cuda")
        exact = A2.float() @ B2.float().T
        f2 = 2 * M * 4096 * K2
        base = measure("torch matmul, then add", lambda: x.add_(torch.matmul(A2, B2.T)), f2)
        for name, splits in (("gemm_w_n128_add", 4), ("gemm_w_n128_add", 2)):
            runs = []
            for _ in range(2):
                C = x.clone()
                go = launcher(name, A2, B2, C, splits); go(); torch.cuda.synchronize()
                runs.append(C - x)
            expect(f"{name} in {splits}", relerr(runs[0], exact), 1e-4)
            if not torch.equal(runs[0], runs[1]):
                print(f"   {name} in {splits}: two launches differ")
                failed.append(name)
            measure(f"{name} in {splits}", go, f2, base)


GROUPS = {"single": group_single, "swiglu": group_swiglu, "split": group_split}


def main():
    import argparse, subprocess, tempfile
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("groups", nargs="*", metavar="GROUP", help="of " + ", ".join(GROUPS) + " (default: all)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds a group may take")
    ap.add_argument("--cubin", help=argparse.SUPPRESS)  # a child: run the groups in this process
    a = ap.parse_args()
    for g in a.groups:
        if g not in GROUPS:
            ap.error(f"no group {g!r}: want one of " + ", ".join(GROUPS))
    a.groups = a.groups or list(GROUPS)
    if a.cubin:
        init_gpu()
        load(open(a.cubin, "rb").read())
        for g in a.groups:
            GROUPS[g]()
        if failed:
            sys.exit("wrong results: " + ", ".join(failed))
        return
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(compile_cubin()); f.flush()
        bad = []
        for g in a.groups:
            try:
                r = subprocess.run([sys.executable, os.path.abspath(__file__), "--cubin", f.name, g], timeout=a.timeout)
                if r.returncode != 0:
                    bad.append(f"{g} (exit {r.returncode})")
            except subprocess.TimeoutExpired:
                print(f"   {g}: did not finish in {a.timeout:g} s (a kernel that hangs?)", flush=True)
                bad.append(f"{g} (timed out)")
    if bad:
        sys.exit("failed: " + ", ".join(bad))


if __name__ == "__main__":
    main()
