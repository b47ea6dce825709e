// Attention for many queries per batch row (a LLaDA step: hundreds of
// queries over as many slots, bidirectional; a causal prefill), in float32
// on the SIMT cores, as compute.Backend.Attention defines it. The one-warp-
// per-query kernel in attention.cu reads two shared-memory operands per
// multiply-add and ran at 5.8 TFLOP/s at n = T = 1024; this one blocks the
// products in registers, as a GEMM does.
//
// A block of 128 threads takes ATT2_Q = 64 consecutive queries of one batch
// row and one head, and walks the visible slots in tiles of ATT2_K = 64,
// starting at its chunk's start (the row's span start, or a split of it as
// in attention.cu): the tile grid depends only on the batch row, never on
// which other queries share the block. Warp w owns queries 16w … 16w+15;
// for the scores lane l owns slots l and l+32 of the tile (16 × 2 scores
// per thread: Q·Kᵀ reads one broadcast Q vector and two K vectors per four
// multiply-adds of each of 32 products), for the output it owns dims
// l·HD/32 … of the same 16 queries (P·V reads one broadcast P vector per
// query and four V rows per 16·HD/32·4 multiply-adds). The softmax is the
// running one of attention.cu: per query the max m, the sum l and the
// output accumulator rescaled by e^(m_old − m_new), all float32; a score is
// a dot product accumulated over d in order, times 1/sqrt(hd). A query's
// result is the same sequence of operations whatever the rest of its block:
// tiles it sees nothing of leave it exactly as it was (factor 1, terms 0).
//
// Shared memory (dynamic, 114,944 bytes at HD = 128: two blocks per SM on
// H100/H200): Q [64][HD], K [64][HD] with each 16-byte unit u of row j
// stored at u ^ (j & 7) so that the 32 lanes reading 32 rows hit distinct
// banks, V [64][HD], P [64][64], and each query's end of visible slots.
// Tiles are copied by cp.async (zero-filled past the last slot any query of
// the block sees, so hidden garbage never meets a zero weight), the next
// tile's K while this tile's P·V runs and the next V while the next Q·Kᵀ
// runs.

#define ATT2_Q 64 // queries per block
#define ATT2_K 64 // slots per tile
#define ATT2_THREADS 128

struct __attribute__((aligned(8))) f32x2 { float x, y; };

__device__ __forceinline__ unsigned smem_u32(const void *p) {
    unsigned a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}

// cp_async16 copies 16 bytes from global src to shared dst, or writes zeros
// when !ok (src is then not read, but must still be a valid address).
__device__ __forceinline__ void cp_async16(f32x4 *dst, const float *src, bool ok) {
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(smem_u32(dst)), "l"(src), "r"(ok ? 16 : 0)
                 : "memory");
#else
    f32x4 z = {0.0f, 0.0f, 0.0f, 0.0f};
    *dst = ok ? *reinterpret_cast<const f32x4 *>(src) : z;
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}
// cp_async_wait waits until at most N of this thread's groups are pending.
template <int N> __device__ __forceinline__ void cp_async_wait() {
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
#endif
}

template <int DPL> struct VRow;
template <> struct VRow<4> {
    static __device__ __forceinline__ void load(float (&v)[4], const f32x4 *row, int lane) {
        const f32x4 t = row[lane];
        v[0] = t.x; v[1] = t.y; v[2] = t.z; v[3] = t.w;
    }
    static __device__ __forceinline__ void store(float *dst, const float (&v)[4]) {
        f32x4 t = {v[0], v[1], v[2], v[3]};
        *reinterpret_cast<f32x4 *>(dst) = t;
    }
};
template <> struct VRow<2> {
    static __device__ __forceinline__ void load(float (&v)[2], const f32x4 *row, int lane) {
        const f32x2 t = reinterpret_cast<const f32x2 *>(row)[lane];
        v[0] = t.x; v[1] = t.y;
    }
    static __device__ __forceinline__ void store(float *dst, const float (&v)[2]) {
        f32x2 t = {v[0], v[1]};
        *reinterpret_cast<f32x2 *>(dst) = t;
    }
};

// The parameters are attention_f32's; q, kc, vc and out are 16-byte aligned
// (the Go side checks).
template <int HD>
__device__ __forceinline__ void attention_tiled(float *__restrict__ out, const float *__restrict__ q,
                                                const float *__restrict__ kc, const float *__restrict__ vc,
                                                const int *__restrict__ qpos, const int *__restrict__ span, int n,
                                                int T, int nh, int group, int causal, float scale,
                                                float *__restrict__ part, int splits) {
    const int HU = HD / 4, DPL = HD / 32, QW = ATT2_Q / (ATT2_THREADS / 32); // 16 queries per warp
    extern __shared__ f32x4 att2_smem[];
    f32x4 *Qs = att2_smem;                    // [ATT2_Q][HU]
    f32x4 *Ks = Qs + ATT2_Q * HU;             // [ATT2_K][HU], swizzled
    f32x4 *Vs = Ks + ATT2_K * HU;             // [ATT2_K][HU]
    float *Ps = (float *)(Vs + ATT2_K * HU);  // [ATT2_Q][ATT2_K]
    int *Es = (int *)(Ps + ATT2_Q * ATT2_K);  // [ATT2_Q]

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int b = blockIdx.z, h = blockIdx.y, kh = h / group;
    const int split = blockIdx.x % splits, q0 = (blockIdx.x / splits) * ATT2_Q;
    const int qc = nh * HD, kvc = (nh / group) * HD;
    // This block's chunk of the row, its slots [s, e), and each query's end.
    int s, e;
    att_chunk(span, b, T, split, splits, ATT2_K, s, e);
    att_ends(Es, ATT2_Q, qpos, b, n, q0, s, e, causal);
    __syncthreads();
    int emax = s, ew = s; // the last slot any query of the block, of the warp, sees
    for (int i = 0; i < ATT2_Q; i++) emax = max(emax, Es[i]);
    for (int i = 0; i < QW; i++) ew = max(ew, Es[warp * QW + i]);

    const float *qb = q + (long long)b * n * qc + (long long)h * HD;
    const float *kb = kc + (long long)b * T * kvc + (long long)kh * HD;
    const float *vb = vc + (long long)b * T * kvc + (long long)kh * HD;
    for (int x = tid; x < ATT2_Q * HU; x += ATT2_THREADS) {
        const int r = x / HU, u = x % HU;
        const bool ok = q0 + r < n;
        cp_async16(Qs + x, qb + (ok ? (long long)(q0 + r) * qc + 4 * u : 0), ok);
    }
    // Slots past emax are zeros: never read, so garbage there stays out.
    auto load_k = [&](int j0) {
        for (int x = tid; x < ATT2_K * HU; x += ATT2_THREADS) {
            const int r = x / HU, u = x % HU, j = j0 + r;
            const bool ok = j < emax;
            cp_async16(Ks + r * HU + (u ^ (r & 7)), kb + (ok ? (long long)j * kvc + 4 * u : 0), ok);
        }
    };
    auto load_v = [&](int j0) {
        for (int x = tid; x < ATT2_K * HU; x += ATT2_THREADS) {
            const int r = x / HU, u = x % HU, j = j0 + r;
            const bool ok = j < emax;
            cp_async16(Vs + x, vb + (ok ? (long long)j * kvc + 4 * u : 0), ok);
        }
    };
    load_k(s);
    cp_async_commit(); // group: Q and the first K
    load_v(s);
    cp_async_commit(); // group: the first V

    float m[QW], l[QW], o[QW][DPL];
#pragma unroll
    for (int r = 0; r < QW; r++) {
        m[r] = NEG_INF;
        l[r] = 0.0f;
#pragma unroll
        for (int d = 0; d < DPL; d++) o[r][d] = 0.0f;
    }
    const f32x4 *qw = Qs + warp * QW * HU;
    float *pw = Ps + warp * QW * ATT2_K;
    for (int j0 = s; j0 < emax; j0 += ATT2_K) {
        cp_async_wait<1>(); // this tile's K (and Q) have landed; its V may still be on the way
        __syncthreads();
        const bool work = j0 < ew; // the same for the whole warp
        float sc[QW][2];
        if (work) {
#pragma unroll
            for (int r = 0; r < QW; r++) sc[r][0] = sc[r][1] = 0.0f;
            const f32x4 *k0 = Ks + lane * HU, *k1 = Ks + (lane + 32) * HU;
            const int sw = lane & 7; // (lane + 32) & 7 too
#pragma unroll 2
            for (int u = 0; u < HU; u++) {
                const f32x4 ka = k0[u ^ sw], kb2 = k1[u ^ sw];
#pragma unroll
                for (int r = 0; r < QW; r++) {
                    const f32x4 qv = qw[r * HU + u];
                    sc[r][0] += qv.x * ka.x;
                    sc[r][0] += qv.y * ka.y;
                    sc[r][0] += qv.z * ka.z;
                    sc[r][0] += qv.w * ka.w;
                    sc[r][1] += qv.x * kb2.x;
                    sc[r][1] += qv.y * kb2.y;
                    sc[r][1] += qv.z * kb2.z;
                    sc[r][1] += qv.w * kb2.w;
                }
            }
        }
        __syncthreads(); // every warp is done with K
        const bool next = j0 + ATT2_K < emax;
        if (next) load_k(j0 + ATT2_K);
        cp_async_commit();
        if (work) {
#pragma unroll
            for (int r = 0; r < QW; r++) {
                const int er = Es[warp * QW + r];
                const bool v0 = j0 + lane < er, v1 = j0 + lane + 32 < er;
                const float a0 = v0 ? sc[r][0] * scale : NEG_INF, a1 = v1 ? sc[r][1] * scale : NEG_INF;
                const float mnew = fmaxf(m[r], warp_max(fmaxf(a0, a1)));
                // 1 while the query has seen nothing (m = mnew = −inf); 0 on
                // its first visible tile (m = −inf).
                const float corr = mnew == NEG_INF ? 1.0f : expf(m[r] - mnew);
                const float p0 = v0 ? expf(a0 - mnew) : 0.0f, p1 = v1 ? expf(a1 - mnew) : 0.0f;
                l[r] = l[r] * corr + warp_sum(p0 + p1);
                m[r] = mnew;
#pragma unroll
                for (int d = 0; d < DPL; d++) o[r][d] *= corr;
                pw[r * ATT2_K + lane] = p0;
                pw[r * ATT2_K + lane + 32] = p1;
            }
        }
        cp_async_wait<1>(); // this tile's V has landed; the next K may still be on the way
        __syncthreads();
        if (work) {
#pragma unroll 2
            for (int j = 0; j < ATT2_K; j += 4) {
                float v[4][DPL];
#pragma unroll
                for (int t = 0; t < 4; t++) VRow<DPL>::load(v[t], Vs + (j + t) * HU, lane);
#pragma unroll
                for (int r = 0; r < QW; r++) {
                    const f32x4 p = *reinterpret_cast<const f32x4 *>(pw + r * ATT2_K + j);
#pragma unroll
                    for (int d = 0; d < DPL; d++) {
                        o[r][d] += p.x * v[0][d];
                        o[r][d] += p.y * v[1][d];
                        o[r][d] += p.z * v[2][d];
                        o[r][d] += p.w * v[3][d];
                    }
                }
            }
        }
        __syncthreads(); // every warp is done with V and P
        if (next) load_v(j0 + ATT2_K);
        cp_async_commit();
    }
    cp_async_wait<0>();

#pragma unroll
    for (int r = 0; r < QW; r++) {
        const int qi = q0 + warp * QW + r;
        const long long row = (long long)b * n + qi;
        if (qi < n && splits > 1) { // the partial state, merged by attention_combine_f32
            float *p = part + ((row * nh + h) * splits + split) * (HD + 2);
            if (lane == 0) {
                p[0] = m[r]; // −inf when the chunk shows this query nothing
                p[1] = l[r];
            }
#pragma unroll
            for (int d = 0; d < DPL; d++) p[2 + lane * DPL + d] = o[r][d];
        } else if (qi < n) {
            const bool any = Es[warp * QW + r] > s;
            const float inv = any ? 1.0f / l[r] : 0.0f;
            float res[DPL];
#pragma unroll
            for (int d = 0; d < DPL; d++) res[d] = any ? o[r][d] * inv : 0.0f;
            VRow<DPL>::store(out + row * qc + (long long)h * HD + lane * DPL, res);
        }
    }
}

#define ATTENTION_TILED(NAME, HD)                                                                          \
    extern "C" __global__ void __launch_bounds__(ATT2_THREADS, 2)                                          \
    NAME(float *__restrict__ out, const float *__restrict__ q, const float *__restrict__ kc,               \
         const float *__restrict__ vc, const int *__restrict__ qpos, const int *__restrict__ span, int n,  \
         int T, int nh, int group, int hd, int causal, float scale, float *__restrict__ part, int splits) { griddep_wait(); \
        attention_tiled<HD>(out, q, kc, vc, qpos, span, n, T, nh, group, causal, scale, part, splits);    \
    }
// hd is in the parameters to match attention_f32's; it must be HD.
ATTENTION_TILED(attention_tiled_f32_hd64, 64)
ATTENTION_TILED(attention_tiled_f32_hd128, 128)
