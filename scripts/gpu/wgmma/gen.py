#!/usr/bin/env python3
"""Writes gemm_sm90.cu beside this file: a prototype Hopper GEMM, not part
of the engine (docs/perf.md, CUDA v16). C = A·Bᵀ with A (M × K) and B
(N × K) bfloat16, K-major, float32 accumulation:

  - one producer warpgroup loads 128 × 64 tiles of A and BN × 64 of B with
    TMA (128-byte swizzle) into a ring of stages guarded by mbarriers;
  - two consumer warpgroups each run wgmma.m64nBNk16 on 64 rows;
  - the epilogue writes C in float32 or bfloat16, or silu(gate)·up in
    bfloat16 (gate's and up's weights as two tensors, BN/2 rows of each a
    tile: what the engine holds, no new layout);
  - gemm_mc0_*: clusters of two blocks along M, each loading its own
    tiles; gemm_mc_*: B's tile multicast to both, each loading half, every
    stage released to both; gemm_mc1_*: the same with all of B loaded by
    the first; gemm_w_*: blocks of 256 rows, each consumer warpgroup on
    128 (two m64 products a k-step, 232 registers by setmaxnreg);
    gemm_w_*_add: C += A·Bᵀ into float32 C, k split over gridDim.z blocks
    that add their parts in a fixed order (a flag a tile), for the
    residual's products (o, down) whose 4096 columns make too few tiles.

It needs sm_90a (wgmma), so NVRTC ≥ 12: run.py compiles
and measures it on the GPU machine. No #include: the PTX is inline.
"""
def wgmma(n):
    r = n // 2
    regs = ", ".join(f"%{i}" for i in range(r))
    outs = ", ".join(f'"+f"(d[{i}])' for i in range(r))
    return f'''__device__ __forceinline__ void wgmma_n{n}(float (&d)[{r}], u64 da, u64 db) {{
    asm volatile("{{\\n.reg .pred p;\\nsetp.ne.b32 p, 1, 0;\\n"
                 "wgmma.mma_async.sync.aligned.m64n{n}k16.f32.bf16.bf16 {{{regs}}}, %{r}, %{r+1}, p, 1, 1, 0, 0;\\n}}"
                 : {outs}
                 : "l"(da), "l"(db));
}}
'''
head = r'''typedef unsigned int u32;
typedef unsigned long long u64;
struct __align__(64) TMap { u64 d[16]; };
struct __align__(8) f2 { float x, y; };

__device__ __forceinline__ u32 smem_u32(const void *p) {
    u32 a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}
__device__ __forceinline__ void mbar_init(u32 bar, u32 count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(u32 bar, u32 bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(u32 bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(u32 bar, u32 phase) {
    asm volatile("{\n.reg .pred p;\nWAIT:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
                 "@!p bra WAIT;\n}" ::"r"(bar), "r"(phase) : "memory");
}
__device__ __forceinline__ void tma_load(u32 dst, const TMap *map, u32 bar, int c0, int c1) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];"
                 ::"r"(dst), "l"((u64)map), "r"(bar), "r"(c0), "r"(c1) : "memory");
}
__device__ __forceinline__ void tma_load_mc(u32 dst, const TMap *map, u32 bar, int c0, int c1, unsigned short mask) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster [%0], [%1, {%3, %4}], [%2], %5;"
                 ::"r"(dst), "l"((u64)map), "r"(bar), "r"(c0), "r"(c1), "h"(mask) : "memory");
}
__device__ __forceinline__ u32 cluster_rank() {
    u32 r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
    return r;
}
__device__ __forceinline__ void cluster_sync() {
    asm volatile("barrier.cluster.arrive.release;\nbarrier.cluster.wait.acquire;" ::: "memory");
}
// Arrive at the barrier at local shared address bar in the cluster's CTA of
// rank cta, with the default release semantics (the CTA's scope), as
// CUTLASS does. With .release.cluster the multicast kernel ran at half
// speed (perf.md v16): the arrival seems to wait for the warp's wgmma in
// flight, so no product overlaps the next.
__device__ __forceinline__ void mbar_arrive_cluster(u32 bar, u32 cta) {
    asm volatile("{\n.reg .b32 ra;\nmapa.shared::cluster.u32 ra, %0, %1;\n"
                 "mbarrier.arrive.shared::cluster.b64 _, [ra];\n}" ::"r"(bar), "r"(cta) : "memory");
}
__device__ __forceinline__ u32 ld_acquire(const u32 *p) {
    u32 v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}
__device__ __forceinline__ void st_release(u32 *p, u32 v) {
    asm volatile("st.release.gpu.global.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}
// The consumer warpgroups' own barrier (the producer's warpgroup is done).
__device__ __forceinline__ void consumers_sync() { asm volatile("bar.sync 1, 256;" ::: "memory"); }
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory"); }

__device__ __forceinline__ u32 bf2(float lo, float hi) {
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
__device__ __forceinline__ float silu(float z) { return z / (1.f + __expf(-z)); }

// A K-major tile of 64 bf16 a row (128 bytes), 128-byte swizzled as TMA
// writes it: 8 rows (1024 bytes) between row groups.
__device__ __forceinline__ u64 desc(u32 saddr) {
    return (u64)((saddr & 0x3FFFF) >> 4) | ((u64)1 << 16) | ((u64)(1024 >> 4) << 32) | ((u64)1 << 62);
}
'''
EPILOGUE = r'''
// store writes a consumer warpgroup's 64 × BN accumulators d (rows from
// row, the thread's first; wgmma's layout) as C's tile nt: float32 or
// bfloat16 (M × N), or silu(gate)·up in bfloat16 (M × N/2, N then counting
// gate's and up's rows together) where the tile's first BN/2 rows of B were
// gate's and the next BN/2 up's, or (EPI 3) added
// to float32 C, read through L2 (what another block of this kernel wrote).
template <int BN, int EPI>
__device__ __forceinline__ void store(const float (&d)[BN / 2], void *Cv, long row, int nt, int N, int lane) {
    if (EPI == 0) {
        float *c0 = (float *)Cv + row * N + (long)nt * BN + (lane % 4) * 2;
#pragma unroll
        for (int j = 0; j < BN / 8; j++) {
            *(f2 *)(c0 + j * 8) = f2{d[4 * j], d[4 * j + 1]};
            *(f2 *)(c0 + 8L * N + j * 8) = f2{d[4 * j + 2], d[4 * j + 3]};
        }
    } else if (EPI == 1) {
        u32 *c0 = (u32 *)((unsigned short *)Cv + row * N + (long)nt * BN + (lane % 4) * 2);
#pragma unroll
        for (int j = 0; j < BN / 8; j++) {
            c0[j * 4] = bf2(d[4 * j], d[4 * j + 1]);
            c0[j * 4 + 4L * N] = bf2(d[4 * j + 2], d[4 * j + 3]);
        }
    } else if (EPI == 3) {
        float *c0 = (float *)Cv + row * N + (long)nt * BN + (lane % 4) * 2;
#pragma unroll
        for (int j = 0; j < BN / 8; j++) {
#pragma unroll
            for (int h = 0; h < 2; h++) {
                float *p = c0 + h * 8L * N + j * 8;
                f2 v;
                asm volatile("ld.global.cg.v2.f32 {%0, %1}, [%2];" : "=f"(v.x), "=f"(v.y) : "l"(p));
                *(f2 *)p = f2{v.x + d[4 * j + 2 * h], v.y + d[4 * j + 2 * h + 1]};
            }
        }
    } else {
        const int H = N / 2;
        u32 *c0 = (u32 *)((unsigned short *)Cv + row * H + (long)nt * (BN / 2) + (lane % 4) * 2);
#pragma unroll
        for (int j = 0; j < BN / 16; j++) {
            const int u = j + BN / 16;
            c0[j * 4] = bf2(silu(d[4 * j]) * d[4 * u], silu(d[4 * j + 1]) * d[4 * u + 1]);
            c0[j * 4 + 4L * H] = bf2(silu(d[4 * j + 2]) * d[4 * u + 2], silu(d[4 * j + 3]) * d[4 * u + 3]);
        }
    }
}
'''

BODY = r'''
// The kernel: warpgroup 0's first thread loads stages with TMA, the other
// two run wgmma on 64 · MW rows each (MW = 2: blocks of 256 rows, each
// consumer's accumulators for two m64 products, its registers raised with
// setmaxnreg from the producer's). MODE −1: one block alone; MODE 0: clusters
// of two along M, each block loading its own tiles; 1: B's tile multicast
// to both blocks of the cluster, half by each, every stage released to
// both; 2: the same with all of B loaded by the first block.
template <int BN, int STAGES, int EPI, int MODE, int MW>
__device__ __forceinline__ void gemm_body(const TMap &ta, const TMap &tb, const TMap &tu, void *Cv, int M, int N, int K,
                                          u32 *flags) {
    constexpr int BM = 128 * MW, BK = 64, AB = BM * BK * 2, BB = BN * BK * 2, SB = AB + BB;
    constexpr bool cluster = MODE >= 0, shared_release = MODE == 1 || MODE == 2;
    extern __shared__ unsigned char smem_raw[];
    unsigned char *smem = (unsigned char *)(((u64)smem_raw + 1023) & ~(u64)1023);
    const int wg = threadIdx.x / 128, t = threadIdx.x % 128;
    // Split-K (EPI 3): block z of gridDim.z takes the z-th range of k, and
    // the blocks of a tile add their products to C in the order of z,
    // each waiting for its turn at the tile's flag: the sum is the same
    // whatever order the blocks run in.
    const int mt = blockIdx.x, nt = blockIdx.y, nk = K / BK / gridDim.z, k0 = blockIdx.z * nk;
    const u32 rank = cluster ? cluster_rank() : 0, peer = rank ^ 1;
    const u32 sbase = smem_u32(smem), fbar = sbase + STAGES * SB, ebar = fbar + 8 * STAGES;
    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; s++) {
            mbar_init(fbar + 8 * s, 1);
            mbar_init(ebar + 8 * s, shared_release ? 16 : 8); // the consumer warps that release a stage
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    if (cluster)
        cluster_sync();
    else
        __syncthreads();
    if (wg == 0) {
        if (MW == 2) asm volatile("setmaxnreg.dec.sync.aligned.u32 40;" ::: "memory");
        if (t == 0) {
            for (int kb = 0; kb < nk; kb++) {
                const int s = kb % STAGES;
                const u32 ph = (kb / STAGES) & 1, full = fbar + 8 * s, stage = sbase + s * SB;
                mbar_wait(ebar + 8 * s, ph ^ 1);
                mbar_expect_tx(full, SB);
                const int k = (k0 + kb) * BK;
                tma_load(stage, &ta, full, k, mt * BM);
                // SwiGLU (EPI 2): the tile's first BN/2 rows of B are gate's
                // (tb) and the next BN/2 up's (tu), rows nt · BN/2 of each.
                if (EPI == 2) {
                    if (MODE <= 0) {
                        tma_load(stage + AB, &tb, full, k, nt * (BN / 2));
                        tma_load(stage + AB + BB / 2, &tu, full, k, nt * (BN / 2));
                    } else if (MODE != 2) {
                        tma_load_mc(stage + AB + rank * (BB / 2), rank == 0 ? &tb : &tu, full, k, nt * (BN / 2), 3);
                    } else if (rank == 0) {
                        tma_load_mc(stage + AB, &tb, full, k, nt * (BN / 2), 3);
                        tma_load_mc(stage + AB + BB / 2, &tu, full, k, nt * (BN / 2), 3);
                    }
                } else if (MODE <= 0) {
                    tma_load(stage + AB, &tb, full, k, nt * BN);
                } else if (MODE != 2) {
                    tma_load_mc(stage + AB + rank * (BB / 2), &tb, full, k, nt * BN + rank * (BN / 2), 3);
                } else if (rank == 0) {
                    tma_load_mc(stage + AB, &tb, full, k, nt * BN, 3);
                }
            }
        }
    } else {
        if (MW == 2) asm volatile("setmaxnreg.inc.sync.aligned.u32 232;" ::: "memory");
        const int cw = wg - 1;
        float d[MW][BN / 2];
#pragma unroll
        for (int m = 0; m < MW; m++)
#pragma unroll
            for (int i = 0; i < BN / 2; i++) d[m][i] = 0.f;
        for (int kb = 0; kb < nk; kb++) {
            const int s = kb % STAGES;
            mbar_wait(fbar + 8 * s, (kb / STAGES) & 1);
            const u32 a = sbase + s * SB + cw * MW * 64 * 128, b = sbase + s * SB + AB;
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < BK / 16; kk++)
#pragma unroll
                for (int m = 0; m < MW; m++) W<BN>::f(d[m], desc(a + m * 64 * 128 + kk * 32), desc(b + kk * 32));
            wg_commit();
            wg_wait<1>(); // the previous stage's products are done: release it
            if (kb > 0 && (t & 31) == 0) {
                const u32 e = ebar + 8 * ((kb - 1) % STAGES);
                if (shared_release) {
                    mbar_arrive_cluster(e, rank);
                    mbar_arrive_cluster(e, peer);
                } else {
                    mbar_arrive(e);
                }
            }
        }
        wg_wait<0>();
        u32 *flag = flags + blockIdx.y * gridDim.x + blockIdx.x;
        if (EPI == 3) {
            if (threadIdx.x == 128)
                while (ld_acquire(flag) != blockIdx.z) {
                }
            consumers_sync();
        }
#pragma unroll
        for (int m = 0; m < MW; m++)
            store<BN, EPI>(d[m], Cv, (long)mt * BM + (cw * MW + m) * 64 + (t / 32) * 16 + (t % 32) / 4, nt, N, t % 32);
        if (EPI == 3) {
            __threadfence();
            consumers_sync();
            if (threadIdx.x == 128) st_release(flag, blockIdx.z + 1 == gridDim.z ? 0 : blockIdx.z + 1); // 0 again for the next launch
        }
    }
    if (cluster)
        cluster_sync(); // neither block leaves while the other may still write to it
}
'''

DISPATCH = r'''
template <int N> struct W;
template <> struct W<128> { static __device__ __forceinline__ void f(float (&d)[64], u64 a, u64 b) { wgmma_n128(d, a, b); } };
template <> struct W<192> { static __device__ __forceinline__ void f(float (&d)[96], u64 a, u64 b) { wgmma_n192(d, a, b); } };
template <> struct W<256> { static __device__ __forceinline__ void f(float (&d)[128], u64 a, u64 b) { wgmma_n256(d, a, b); } };
'''

out = head
for n in (128, 192, 256):
    out += wgmma(n)
out += DISPATCH + EPILOGUE + BODY
for n, st in ((128, 6), (192, 5), (256, 4)):
    for e, en in ((0, ""), (1, "_bf16"), (2, "_swiglu")):
        for prefix, mode in (("", -1), ("mc0_", 0), ("mc_", 1), ("mc1_", 2)):
            attr = "__cluster_dims__(2, 1, 1) " if mode >= 0 else ""
            out += f'''
extern "C" __global__ void {attr}__launch_bounds__(384, 1) gemm_{prefix}n{n}{en}(const __grid_constant__ TMap ta, const __grid_constant__ TMap tb, const __grid_constant__ TMap tu, void *C, int M, int N, int K, u32 *flags) {{
    gemm_body<{n}, {st}, {e}, {mode}, 1>(ta, tb, tu, C, M, N, K, flags);
}}
'''
# Blocks of 256 rows (MW = 2): BN 128 and 192 fit four stages.
for n in (128, 192):
    for e, en in ((0, ""), (1, "_bf16"), (2, "_swiglu"), (3, "_add")):
        out += f'''
extern "C" __global__ void __launch_bounds__(384, 1) gemm_w_n{n}{en}(const __grid_constant__ TMap ta, const __grid_constant__ TMap tb, const __grid_constant__ TMap tu, void *C, int M, int N, int K, u32 *flags) {{
    gemm_body<{n}, 4, {e}, -1, 2>(ta, tb, tu, C, M, N, K, flags);
}}
'''
import os
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "gemm_sm90.cu"), "w").write(out)
print(len(out))
