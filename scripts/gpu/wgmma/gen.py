#!/usr/bin/env python3
"""Writes gemm_sm90.cu beside this file: a prototype Hopper GEMM, not part
of the engine (docs/perf.md, CUDA v16). C = A·Bᵀ with A (M × K) and B
(N × K) bfloat16, K-major, float32 accumulation:

  - one producer warpgroup loads 128 × 64 tiles of A and BN × 64 of B with
    TMA (128-byte swizzle) into a ring of stages guarded by mbarriers;
  - two consumer warpgroups each run wgmma.m64nBNk16 on 64 rows;
  - the epilogue writes C in float32 or bfloat16, or silu(gate)·up in
    bfloat16 from a B whose tiles hold BN/2 gate rows, then BN/2 up rows;
  - gemm_mc_*: clusters of two CTAs along M, B's tile multicast to both
    (each loads half; gemm_mc1_*: the first loads all of it; gemm_mc0_*:
    clusters, but each CTA loads its own tiles as gemm_* does; gemm_mc3_*:
    gemm_mc_* with each CTA's stages released by its own consumers only, a
    race kept only to time the cross-CTA release).

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
body = r'''
template <int BN, int STAGES, int EPI>
__device__ __forceinline__ void gemm_body(const TMap &ta, const TMap &tb, void *Cv, int M, int N, int K) {
    constexpr int BM = 128, BK = 64, AB = BM * BK * 2, BB = BN * BK * 2, SB = AB + BB;
    extern __shared__ unsigned char smem_raw[];
    unsigned char *smem = (unsigned char *)(((u64)smem_raw + 1023) & ~(u64)1023);
    const int wg = threadIdx.x / 128, t = threadIdx.x % 128;
    const int mt = blockIdx.x, nt = blockIdx.y, nk = K / BK;
    const u32 sbase = smem_u32(smem), fbar = sbase + STAGES * SB, ebar = fbar + 8 * STAGES;
    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; s++) {
            mbar_init(fbar + 8 * s, 1);
            mbar_init(ebar + 8 * s, 256);
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();
    if (wg == 0) {
        if (t == 0) {
            for (int kb = 0; kb < nk; kb++) {
                int s = kb % STAGES;
                u32 ph = (kb / STAGES) & 1;
                mbar_wait(ebar + 8 * s, ph ^ 1);
                mbar_expect_tx(fbar + 8 * s, SB);
                tma_load(sbase + s * SB, &ta, fbar + 8 * s, kb * BK, mt * BM);
                tma_load(sbase + s * SB + AB, &tb, fbar + 8 * s, kb * BK, nt * BN);
            }
        }
        return;
    }
    const int cw = wg - 1;
    float d[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; i++) d[i] = 0.f;
    for (int kb = 0; kb < nk; kb++) {
        int s = kb % STAGES;
        u32 ph = (kb / STAGES) & 1;
        mbar_wait(fbar + 8 * s, ph);
        u32 a = sbase + s * SB + cw * 64 * 128, b = sbase + s * SB + AB;
        wg_fence();
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) WGMMA(d, desc(a + kk * 32), desc(b + kk * 32));
        wg_commit();
        wg_wait<1>();
        if (kb > 0) mbar_arrive(ebar + 8 * ((kb - 1) % STAGES));
    }
    wg_wait<0>();
    const int warp = t / 32, lane = t % 32;
    const long row = (long)mt * BM + cw * 64 + warp * 16 + lane / 4;
    if (EPI == 0) { // float32 C (M × N)
        float *c0 = (float *)Cv + row * N + (long)nt * BN + (lane % 4) * 2;
#pragma unroll
        for (int j = 0; j < BN / 8; j++) {
            *(f2 *)(c0 + j * 8) = f2{d[4 * j], d[4 * j + 1]};
            *(f2 *)(c0 + 8L * N + j * 8) = f2{d[4 * j + 2], d[4 * j + 3]};
        }
    } else if (EPI == 1) { // bfloat16 C (M × N)
        u32 *c0 = (u32 *)((unsigned short *)Cv + row * N + (long)nt * BN + (lane % 4) * 2);
#pragma unroll
        for (int j = 0; j < BN / 8; j++) {
            c0[j * 4] = bf2(d[4 * j], d[4 * j + 1]);
            c0[j * 4 + 4L * N] = bf2(d[4 * j + 2], d[4 * j + 3]);
        }
    } else { // silu(gate)·up in bfloat16 (M × N/2): a tile's first BN/2 rows of B are gate's, the next BN/2 up's
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
MC = r'''
// The same with clusters of two CTAs along M: each loads its own A tile and
// half of the B tile, multicast to both.
template <int BN, int STAGES, int EPI, int MODE>
__device__ __forceinline__ void gemm_mc_body(const TMap &ta, const TMap &tb, void *Cv, int M, int N, int K) {
    constexpr int BM = 128, BK = 64, AB = BM * BK * 2, BB = BN * BK * 2, SB = AB + BB;
    extern __shared__ unsigned char smem_raw[];
    unsigned char *smem = (unsigned char *)(((u64)smem_raw + 1023) & ~(u64)1023);
    const int wg = threadIdx.x / 128, t = threadIdx.x % 128;
    const int mt = blockIdx.x, nt = blockIdx.y, nk = K / BK;
    const u32 rank = cluster_rank(), peer = rank ^ 1;
    const u32 sbase = smem_u32(smem), fbar = sbase + STAGES * SB, ebar = fbar + 8 * STAGES;
    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; s++) {
            mbar_init(fbar + 8 * s, 1);
            mbar_init(ebar + 8 * s, MODE == 0 || MODE == 3 ? 8 : 16); // 8 consumer warps of each CTA (MODE 0, 3: of this one)
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    cluster_sync();
    float d[BN / 2];
    const int cw = wg - 1;
    if (wg == 0) {
        if (t == 0) {
            for (int kb = 0; kb < nk; kb++) {
                int s = kb % STAGES;
                u32 ph = (kb / STAGES) & 1;
                mbar_wait(ebar + 8 * s, ph ^ 1);
                {
                mbar_expect_tx(fbar + 8 * s, SB);
                tma_load(sbase + s * SB, &ta, fbar + 8 * s, kb * BK, mt * BM);
                if (MODE == 0)
                    tma_load(sbase + s * SB + AB, &tb, fbar + 8 * s, kb * BK, nt * BN);
                else if (MODE == 1 || MODE == 3)
                    tma_load_mc(sbase + s * SB + AB + rank * (BB / 2), &tb, fbar + 8 * s, kb * BK, nt * BN + rank * (BN / 2), 3);
                else if (rank == 0)
                    tma_load_mc(sbase + s * SB + AB, &tb, fbar + 8 * s, kb * BK, nt * BN, 3);
                }
            }
        }
    } else {
#pragma unroll
        for (int i = 0; i < BN / 2; i++) d[i] = 0.f;
        for (int kb = 0; kb < nk; kb++) {
            int s = kb % STAGES;
            u32 ph = (kb / STAGES) & 1;
            mbar_wait(fbar + 8 * s, ph);
            u32 a = sbase + s * SB + cw * 64 * 128, b = sbase + s * SB + AB;
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < BK / 16; kk++) W<BN>::f(d, desc(a + kk * 32), desc(b + kk * 32));
            wg_commit();
            wg_wait<1>();
            if (kb > 0 && (t & 31) == 0) {
                u32 e = ebar + 8 * ((kb - 1) % STAGES);
                if (MODE == 0 || MODE == 3) {
                    mbar_arrive(e);
                } else {
                    mbar_arrive_cluster(e, rank);
                    mbar_arrive_cluster(e, peer);
                }
            }
        }
        wg_wait<0>();
        EPILOGUE
    }
    cluster_sync();
}
'''
EPI_TEXT = r'''    const int warp = t / 32, lane = t % 32;
    const long row = (long)mt * BM + cw * 64 + warp * 16 + lane / 4;
    if (EPI == 0) { // float32 C (M × N)
        float *c0 = (float *)Cv + row * N + (long)nt * BN + (lane % 4) * 2;
#pragma unroll
        for (int j = 0; j < BN / 8; j++) {
            *(f2 *)(c0 + j * 8) = f2{d[4 * j], d[4 * j + 1]};
            *(f2 *)(c0 + 8L * N + j * 8) = f2{d[4 * j + 2], d[4 * j + 3]};
        }
    } else if (EPI == 1) { // bfloat16 C (M × N)
        u32 *c0 = (u32 *)((unsigned short *)Cv + row * N + (long)nt * BN + (lane % 4) * 2);
#pragma unroll
        for (int j = 0; j < BN / 8; j++) {
            c0[j * 4] = bf2(d[4 * j], d[4 * j + 1]);
            c0[j * 4 + 4L * N] = bf2(d[4 * j + 2], d[4 * j + 3]);
        }
    } else { // silu(gate)·up in bfloat16 (M × N/2): a tile's first BN/2 rows of B are gate's, the next BN/2 up's
        const int H = N / 2;
        u32 *c0 = (u32 *)((unsigned short *)Cv + row * H + (long)nt * (BN / 2) + (lane % 4) * 2);
#pragma unroll
        for (int j = 0; j < BN / 16; j++) {
            const int u = j + BN / 16;
            c0[j * 4] = bf2(silu(d[4 * j]) * d[4 * u], silu(d[4 * j + 1]) * d[4 * u + 1]);
            c0[j * 4 + 4L * H] = bf2(silu(d[4 * j + 2]) * d[4 * u + 2], silu(d[4 * j + 3]) * d[4 * u + 3]);
        }
    }'''
out = head
for n in (128, 192, 256):
    out += wgmma(n)
out += body.replace("WGMMA(d,", "wgmma_n<BN>(d,")
out += MC.replace('EPILOGUE', EPI_TEXT)
# dispatch
out = out.replace("template <int BN, int STAGES, int EPI>\n__device__ __forceinline__ void gemm_body", '''template <int N> struct W;
template <> struct W<128> { static __device__ __forceinline__ void f(float (&d)[64], u64 a, u64 b) { wgmma_n128(d, a, b); } };
template <> struct W<192> { static __device__ __forceinline__ void f(float (&d)[96], u64 a, u64 b) { wgmma_n192(d, a, b); } };
template <> struct W<256> { static __device__ __forceinline__ void f(float (&d)[128], u64 a, u64 b) { wgmma_n256(d, a, b); } };

template <int BN, int STAGES, int EPI>
__device__ __forceinline__ void gemm_body''')
out = out.replace("wgmma_n<BN>(d,", "W<BN>::f(d,")
for n, st in ((128, 6), (192, 5), (256, 4)):
    for e, en in ((0, ""), (1, "_bf16"), (2, "_swiglu")):
        out += f'''
extern "C" __global__ void __launch_bounds__(384, 1) gemm_n{n}{en}(const __grid_constant__ TMap ta, const __grid_constant__ TMap tb, void *C, int M, int N, int K) {{
    gemm_body<{n}, {st}, {e}>(ta, tb, C, M, N, K);
}}
extern "C" __global__ void __cluster_dims__(2, 1, 1) __launch_bounds__(384, 1) gemm_mc_n{n}{en}(const __grid_constant__ TMap ta, const __grid_constant__ TMap tb, void *C, int M, int N, int K) {{
    gemm_mc_body<{n}, {st}, {e}, 1>(ta, tb, C, M, N, K);
}}
extern "C" __global__ void __cluster_dims__(2, 1, 1) __launch_bounds__(384, 1) gemm_mc1_n{n}{en}(const __grid_constant__ TMap ta, const __grid_constant__ TMap tb, void *C, int M, int N, int K) {{
    gemm_mc_body<{n}, {st}, {e}, 2>(ta, tb, C, M, N, K);
}}
extern "C" __global__ void __cluster_dims__(2, 1, 1) __launch_bounds__(384, 1) gemm_mc3_n{n}{en}(const __grid_constant__ TMap ta, const __grid_constant__ TMap tb, void *C, int M, int N, int K) {{
    gemm_mc_body<{n}, {st}, {e}, 3>(ta, tb, C, M, N, K);
}}
extern "C" __global__ void __cluster_dims__(2, 1, 1) __launch_bounds__(384, 1) gemm_mc0_n{n}{en}(const __grid_constant__ TMap ta, const __grid_constant__ TMap tb, void *C, int M, int N, int K) {{
    gemm_mc_body<{n}, {st}, {e}, 0>(ta, tb, C, M, N, K);
}}
'''
import os
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "gemm_sm90.cu"), "w").write(out)
print(len(out))
