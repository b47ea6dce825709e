// Attention for many queries per batch row over a bfloat16 cache (a causal
// prefill, a LLaDA step, a dual-cache block), on the tensor cores: the
// float32 tiled kernel (attention_tiled.cu) reaches about 28 TFLOP/s on the
// SIMT units, and at 2048 tokens attention was 40% of a LLaMA-3-8B prefill.
// The scores Q·Kᵀ and the sum P·V are mma.sync m16n8k16 with float32
// accumulators, on q and the probabilities rounded to bfloat16 (the keys
// and values are bfloat16 already); the running softmax (max, sum,
// rescaling) stays in float32, in base 2 (exp2_approx) where the other
// kernels use expf.
//
// A block of NG groups of WQ warps takes 16·WQ consecutive queries of one
// batch row and one head (AM_Q = 64 with four warps a group), and walks its
// chunk of slots in tiles of AM_K = 64 from the chunk's start, as the tiled
// kernel does (the same chunks and the same combine kernel for splits). Warp
// w of group x owns queries 16w … 16w+15 and slots x·64/NG … of every tile:
// its Q fragments stay in registers; for each tile it computes a 16 × 64/NG
// block of scores (8/NG × HD/16 mma), folds it into its running softmax,
// and adds P·V (4/NG × HD/8 mma) into a 16 × HD float32 accumulator. With
// more groups, groups 1 … NG−1 hand their states to group 0 through shared
// memory at the end, which merges them in group order as the combine kernel
// merges chunks: more warps, each with less of a tile, for calls of few
// blocks, whose time is one warp's chain of dependent instructions (one
// group left an SM 4 warps at LLaDA's 256 queries, 0.9 instructions a
// cycle, docs/perf.md v11: attention_mma2_*, two groups of four warps; a
// dual-cache block's 32 queries a head ran on half of those eight warps at
// 0.26 instructions a cycle a scheduler, v21: attention_mma4_*, four groups
// of two). Lane (g, t) = (lane / 4, lane % 4) holds rows g and
// g + 8 of every fragment: the scores' accumulators are, as they stand,
// the A fragments of P.
//
// Shared memory (dynamic, attnMMASharedBytes on the Go side): two stages,
// each a tile of K and one of V, [64][HD + 8] bfloat16 row-major (padded so
// that the eight rows an 8 × 8 matrix load reads fall on distinct banks).
// The next tile's keys and values are copied into the other stage
// (cp.async, 16 bytes a copy, no registers) while the warps work on this
// one; the B fragments come out of shared memory four 8 × 8 matrices at a
// time (ldmatrix, transposed for V), where two 32-bit loads a fragment and
// a transposing store of V took most of a tile's instructions (docs/perf.md,
// CUDA v13). After the last tile the same bytes carry group 1's states to
// group 0.
//
// Row independence: a query's result is its own row of Q against the
// slots of its chunk, tile by tile in order; a tile it sees nothing of
// leaves it unchanged (factor 1, terms 0), so which other queries share
// its block or warp does not matter.

#define AM_Q 64 // queries per block of four warps a group
#define AM_K 64 // slots per tile

typedef Mma<bf16_t> MB; // skinny.cu: bfloat16 packing and mma.sync

// cp_async16 of bfloat16 (attention_tiled.cu has the float one, and
// cp_async_commit, cp_async_wait and smem_u32).
__device__ __forceinline__ void cp_async16(u16 *dst, const bf16_t *src, bool ok) {
    cp_async16(reinterpret_cast<f32x4 *>(dst), reinterpret_cast<const float *>(src), ok);
}

// 2^x on the special function unit (ex2.approx: within 2 ulp; 2^−inf =
// 0). The softmax runs in base 2 on scores scaled by log2(e): one
// instruction an exponential where expf takes about eight, and the
// probabilities are rounded to bfloat16 for P·V anyway.
__device__ __forceinline__ float exp2_approx(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// Four 8 × 8 matrices of 16-bit elements from shared memory, lane l giving
// the address of row l % 8 of matrix l / 8; lane (g, t) gets elements
// (g, 2t) and (g, 2t + 1) of each (ldsm4), or (2t, g) and (2t + 1, g)
// (ldsm4t: transposed).
__device__ __forceinline__ void ldsm4(u32 (&r)[4], const u16 *p) {
#if __CUDA_ARCH__ >= 800
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(p)));
#endif
}
__device__ __forceinline__ void ldsm4t(u32 (&r)[4], const u16 *p) {
#if __CUDA_ARCH__ >= 800
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(p)));
#endif
}

// One tile's work for a warp: the 16 × GK block of scores of its queries
// against the group's slots js … of the tile in stage (Ks, Vs), folded into
// the running softmax (m, l) of rows g and g + 8, and P·V added to o. The
// scores' B fragments are K's rows as they stand (ldsm4: slots 8nt + g, two
// k-steps of the head a load); P·V's are V's transposed (ldsm4t: two
// k-steps of slots, two column blocks of the head a load).
template <int HD, int GK>
__device__ __forceinline__ void attention_mma_tile(const u16 *Ks, const u16 *Vs, int grp, int lane, int js, int elo,
                                                   int ehi, float scale, const u32 (&qa)[HD / 16][4], float &mlo,
                                                   float &mhi, float &llo, float &lhi, float (&o)[HD / 8][4]) {
    constexpr int KS = HD + 8, HU = HD / 8;
    const int t = lane & 3, r8 = lane & 7, m = lane >> 3; // m: the matrix this lane addresses
    // Scores: sc[nt] is the 16 × 8 block of slots js + 8nt …
    float sc[GK / 8][4];
#pragma unroll
    for (int nt = 0; nt < GK / 8; nt++) {
        sc[nt][0] = sc[nt][1] = sc[nt][2] = sc[nt][3] = 0.0f;
        // Matrix m: slots 8nt …, head columns 16kk + 8m … (two k-steps).
        const u16 *kr = Ks + (GK * grp + 8 * nt + r8) * KS + 8 * m;
#pragma unroll
        for (int kk = 0; kk < HD / 16; kk += 2) {
            u32 f[4];
            ldsm4(f, kr + 16 * kk);
            MB::run(sc[nt], qa[kk][0], qa[kk][1], qa[kk][2], qa[kk][3], f[0], f[1]);
            MB::run(sc[nt], qa[kk + 1][0], qa[kk + 1][1], qa[kk + 1][2], qa[kk + 1][3], f[2], f[3]);
        }
    }
    // The running softmax of rows g (elements 0, 1) and g + 8 (2, 3);
    // the four lanes of a row (same g) share its max.
    // scale is in base 2 (log2(e)/sqrt(hd)); slots past a row's end are
    // masked, except in a tile both rows see whole.
    float xlo = NEG_INF, xhi = NEG_INF;
    if (js + GK <= min(elo, ehi)) {
#pragma unroll
        for (int nt = 0; nt < GK / 8; nt++)
#pragma unroll
            for (int c = 0; c < 2; c++) {
                sc[nt][c] *= scale;
                sc[nt][2 + c] *= scale;
                xlo = fmaxf(xlo, sc[nt][c]);
                xhi = fmaxf(xhi, sc[nt][2 + c]);
            }
    } else {
#pragma unroll
        for (int nt = 0; nt < GK / 8; nt++)
#pragma unroll
            for (int c = 0; c < 2; c++) {
                const int j = js + 8 * nt + 2 * t + c;
                sc[nt][c] = j < elo ? sc[nt][c] * scale : NEG_INF;
                sc[nt][2 + c] = j < ehi ? sc[nt][2 + c] * scale : NEG_INF;
                xlo = fmaxf(xlo, sc[nt][c]);
                xhi = fmaxf(xhi, sc[nt][2 + c]);
            }
    }
    xlo = fmaxf(xlo, __shfl_xor_sync(FULL_MASK, xlo, 1));
    xlo = fmaxf(xlo, __shfl_xor_sync(FULL_MASK, xlo, 2));
    xhi = fmaxf(xhi, __shfl_xor_sync(FULL_MASK, xhi, 1));
    xhi = fmaxf(xhi, __shfl_xor_sync(FULL_MASK, xhi, 2));
    const float nlo = fmaxf(mlo, xlo), nhi = fmaxf(mhi, xhi);
    // 1 while the row has seen nothing (both −inf); 0 on its first
    // visible tile (m = −inf).
    const float clo = nlo == NEG_INF ? 1.0f : exp2_approx(mlo - nlo), chi = nhi == NEG_INF ? 1.0f : exp2_approx(mhi - nhi);
    float slo = 0.0f, shi = 0.0f;
#pragma unroll
    for (int nt = 0; nt < GK / 8; nt++)
#pragma unroll
        for (int c = 0; c < 2; c++) {
            sc[nt][c] = sc[nt][c] == NEG_INF ? 0.0f : exp2_approx(sc[nt][c] - nlo);
            sc[nt][2 + c] = sc[nt][2 + c] == NEG_INF ? 0.0f : exp2_approx(sc[nt][2 + c] - nhi);
            slo += sc[nt][c];
            shi += sc[nt][2 + c];
        }
    llo = llo * clo + slo;
    lhi = lhi * chi + shi;
    mlo = nlo;
    mhi = nhi;
#pragma unroll
    for (int d = 0; d < HU; d++) {
        o[d][0] *= clo, o[d][1] *= clo;
        o[d][2] *= chi, o[d][3] *= chi;
    }
    // o += P · V, 16 slots per k-step. Matrix m: slots 16kk + 8(m & 1) …,
    // head columns 8d + 8(m >> 1) … (two column blocks).
#pragma unroll
    for (int kk = 0; kk < GK / 16; kk++) {
        const u32 a0 = MB::pack(sc[2 * kk][0], sc[2 * kk][1]), a1 = MB::pack(sc[2 * kk][2], sc[2 * kk][3]);
        const u32 a2 = MB::pack(sc[2 * kk + 1][0], sc[2 * kk + 1][1]);
        const u32 a3 = MB::pack(sc[2 * kk + 1][2], sc[2 * kk + 1][3]);
        const u16 *vr = Vs + (GK * grp + 16 * kk + 8 * (m & 1) + r8) * KS + 8 * (m >> 1);
#pragma unroll
        for (int d = 0; d < HU; d += 2) {
            u32 f[4];
            ldsm4t(f, vr + 8 * d);
            MB::run(o[d], a0, a1, a2, a3, f[0], f[1]);
            MB::run(o[d + 1], a0, a1, a2, a3, f[2], f[3]);
        }
    }
}

// The parameters are attention_f32's with bfloat16 caches; q, kc, vc and
// out are 16-byte aligned (the Go side checks).
template <int HD, int NG, int WQ>
__device__ __forceinline__ void attention_mma(float *__restrict__ out, const float *__restrict__ q,
                                              const bf16_t *__restrict__ kc, const bf16_t *__restrict__ vc,
                                              const int *__restrict__ qpos, const int *__restrict__ span, int n, int T,
                                              int nh, int group, int causal, float scale, float *__restrict__ part,
                                              int splits, bf16_t *__restrict__ out16) {
    constexpr int KS = HD + 8, HU = HD / 8;             // the tiles' row stride in elements; 16-byte units of a row
    constexpr int QB = 16 * WQ, GT = 32 * WQ;           // queries of a block; threads of a group
    constexpr int NT = NG * GT, GK = AM_K / NG;         // threads; slots of a tile each group takes
    constexpr int STAGE = 2 * AM_K * KS;                // elements of a stage: K's tile, then V's
    constexpr int MS = 4 * HU + 4;                      // floats of a lane's state handed between groups
    static_assert((NG - 1) * GT * MS * 4 <= 2 * STAGE * 2, "the states fit the tiles' shared memory");
    static_assert(AM_K * HU % NT == 0 && GK % 16 == 0, "the threads share a tile's copies; a group's slots make whole k-steps");
    extern __shared__ __attribute__((aligned(16))) u16 sm[]; // two stages
    __shared__ int Es[QB];

    const int tid = threadIdx.x, lane = tid & 31, g = lane >> 2, t = lane & 3;
    const int grp = tid / GT, warp = (tid >> 5) % WQ; // the group, and the warp's queries in the block
    const int b = blockIdx.z, h = blockIdx.y, kh = h / group;
    const int split = blockIdx.x % splits, q0 = (blockIdx.x / splits) * QB;
    const int qc = nh * HD, kvc = (nh / group) * HD;
    // This block's chunk of the row, its slots [s, e), and each query's end.
    int s, e;
    att_chunk(span, b, T, split, splits, AM_K, s, e);
    att_ends(Es, QB, qpos, b, n, q0, s, e, causal);
    __syncthreads();
    int emax = s, ew = s; // the last slot any query of the block, of the warp, sees
    for (int i = 0; i < QB; i++) emax = max(emax, Es[i]);
    for (int i = 0; i < 16; i++) ew = max(ew, Es[16 * warp + i]);
    const int elo = Es[16 * warp + g], ehi = Es[16 * warp + g + 8];

    // Q's A fragments: rows g and g + 8 of the warp's 16, k-step kk.
    const int qlo = q0 + 16 * warp + g, qhi = qlo + 8;
    const float *qb = q + (long long)b * n * qc + (long long)h * HD + 2 * t;
    u32 qa[HD / 16][4];
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++) {
#pragma unroll
        for (int x = 0; x < 4; x++) { // x: a0 (g, 2t), a1 (g+8, 2t), a2 (g, 2t+8), a3 (g+8, 2t+8)
            const int qi = x & 1 ? qhi : qlo;
            float2 v = {0.0f, 0.0f};
            if (qi < n) v = *reinterpret_cast<const float2 *>(qb + (long long)qi * qc + 16 * kk + 8 * (x >> 1));
            qa[kk][x] = MB::pack(v.x, v.y);
        }
    }

    const bf16_t *kb = kc + (long long)b * T * kvc + (long long)kh * HD;
    const bf16_t *vb = vc + (long long)b * T * kvc + (long long)kh * HD;
    float mlo = NEG_INF, mhi = NEG_INF, llo = 0.0f, lhi = 0.0f; // l: this lane's part of the sums
    float o[HU][4];
#pragma unroll
    for (int d = 0; d < HU; d++) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;

    // A tile's copies into stage st: slots past emax are zeros, never read
    // from the cache, so garbage there (another row's slots, or nothing)
    // stays out.
    auto load = [&](int j0, int st) {
        constexpr int PER = AM_K * HU / NT; // 16-byte units a thread, of K and of V
        u16 *const Kd = sm + st * STAGE, *const Vd = Kd + AM_K * KS;
#pragma unroll
        for (int i = 0; i < PER; i++) {
            const int x = tid + i * NT, j = j0 + x / HU, c = 8 * (x % HU);
            const bool ok = j < emax;
            const long long at = ok ? (long long)j * kvc + c : 0;
            cp_async16(Kd + (x / HU) * KS + c, kb + at, ok);
            cp_async16(Vd + (x / HU) * KS + c, vb + at, ok);
        }
        cp_async_commit();
    };
    const float scale2 = scale * 1.44269504f; // the scores in base 2
    if (s < emax) load(s, 0);
    for (int j0 = s, st = 0; j0 < emax; j0 += AM_K, st ^= 1) {
        if (j0 + AM_K < emax) { // the next tile into the other stage, free since the last tile's closing barrier
            load(j0 + AM_K, st ^ 1);
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads(); // every thread's copies of this tile have landed
        const u16 *const Ks = sm + st * STAGE, *const Vs = Ks + AM_K * KS;
        const int js = j0 + GK * grp; // the group's first slot of the tile
        if (js < ew) {                // the same for the whole warp: else none of its queries sees these slots
            attention_mma_tile<HD, GK>(Ks, Vs, grp, lane, js, elo, ehi, scale2, qa, mlo, mhi, llo, lhi, o);
        }
        __syncthreads(); // every warp is done with this stage before it is loaded again
    }
    // Groups 1 … NG−1 hand their states to group 0, lane by lane (the same
    // rows and columns of the same fragments), which merges them in group
    // order as attention_combine_f32 merges chunks: each side's factor is 0
    // where it saw nothing (m = −inf).
    if constexpr (NG > 1) {
        __syncthreads(); // every warp is done with the last tile
        if (grp > 0) {
            float *ms = reinterpret_cast<float *>(sm) + ((grp - 1) * GT + warp * 32 + lane) * MS;
            ms[0] = mlo, ms[1] = mhi, ms[2] = llo, ms[3] = lhi;
#pragma unroll
            for (int d = 0; d < HU; d++) ms[4 + 4 * d] = o[d][0], ms[5 + 4 * d] = o[d][1], ms[6 + 4 * d] = o[d][2], ms[7 + 4 * d] = o[d][3];
        }
        __syncthreads();
        if (grp > 0) return;
#pragma unroll
        for (int x = 1; x < NG; x++) {
            const float *ms = reinterpret_cast<const float *>(sm) + ((x - 1) * GT + warp * 32 + lane) * MS;
            const float m1lo = ms[0], m1hi = ms[1];
            const float nlo = fmaxf(mlo, m1lo), nhi = fmaxf(mhi, m1hi);
            const float alo = mlo == NEG_INF ? 0.0f : exp2_approx(mlo - nlo), ahi = mhi == NEG_INF ? 0.0f : exp2_approx(mhi - nhi);
            const float blo = m1lo == NEG_INF ? 0.0f : exp2_approx(m1lo - nlo), bhi = m1hi == NEG_INF ? 0.0f : exp2_approx(m1hi - nhi);
            llo = llo * alo + ms[2] * blo;
            lhi = lhi * ahi + ms[3] * bhi;
            mlo = nlo, mhi = nhi;
#pragma unroll
            for (int d = 0; d < HU; d++) {
                o[d][0] = o[d][0] * alo + ms[4 + 4 * d] * blo, o[d][1] = o[d][1] * alo + ms[5 + 4 * d] * blo;
                o[d][2] = o[d][2] * ahi + ms[6 + 4 * d] * bhi, o[d][3] = o[d][3] * ahi + ms[7 + 4 * d] * bhi;
            }
        }
    }
    llo += __shfl_xor_sync(FULL_MASK, llo, 1);
    llo += __shfl_xor_sync(FULL_MASK, llo, 2);
    lhi += __shfl_xor_sync(FULL_MASK, lhi, 1);
    lhi += __shfl_xor_sync(FULL_MASK, lhi, 2);

#pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        const int qi = hf ? qhi : qlo;
        if (qi >= n) continue;
        const long long row = (long long)b * n + qi;
        const float m = hf ? mhi : mlo, l = hf ? lhi : llo;
        if (splits > 1) { // the partial state, merged by attention_combine_f32
            float *p = part + ((row * nh + h) * splits + split) * (HD + 2);
            if (t == 0) {
                p[0] = m * 0.69314718f; // in base e, as the combine takes it; −inf when the chunk shows this query nothing
                p[1] = l;
            }
#pragma unroll
            for (int d = 0; d < HU; d++) {
                p[2 + 8 * d + 2 * t] = o[d][2 * hf];
                p[3 + 8 * d + 2 * t] = o[d][2 * hf + 1];
            }
        } else {
            const bool any = Es[16 * warp + g + 8 * hf] > s;
            const float inv = any ? 1.0f / l : 0.0f;
            const long long at = row * qc + (long long)h * HD + 2 * t;
#pragma unroll
            for (int d = 0; d < HU; d++) {
                float2 v = {any ? o[d][2 * hf] * inv : 0.0f, any ? o[d][2 * hf + 1] * inv : 0.0f};
                if (out16) // the bits cast_f32_bf16 makes of the float row
                    *reinterpret_cast<u32 *>(out16 + at + 8 * d) = MB::pack(v.x, v.y);
                else
                    *reinterpret_cast<float2 *>(out + at + 8 * d) = v;
            }
        }
    }
}

// Named attention_mma[2|4]_bf16_hd<head dim>: one group of four warps, two
// of four, or four of two; the parameters are attention_bf16's (hd must be
// HD), then out16: when not null (one chunk only), the rows are written
// there in bfloat16, as cast_f32_bf16 rounds them, and out is not written
// (compute.AttentionMatMulAdder: the output projection's input). Grid:
// (⌈n / 16·WQ⌉ · splits, heads, batch rows); NG · 32·WQ threads.
#define ATTENTION_MMA(NAME, HD, NG, WQ)                                                                     \
    extern "C" __global__ void __launch_bounds__(NG * 32 * WQ)                                              \
    NAME(float *__restrict__ out, const float *__restrict__ q, const bf16_t *__restrict__ kc,               \
         const bf16_t *__restrict__ vc, const int *__restrict__ qpos, const int *__restrict__ span, int n,  \
         int T, int nh, int group, int hd, int causal, float scale, float *__restrict__ part, int splits,    \
         bf16_t *__restrict__ out16) {                                                                      \
        griddep_wait();                                                                                     \
        attention_mma<HD, NG, WQ>(out, q, kc, vc, qpos, span, n, T, nh, group, causal, scale, part, splits, out16); \
    }
ATTENTION_MMA(attention_mma_bf16_hd64, 64, 1, 4)
ATTENTION_MMA(attention_mma_bf16_hd128, 128, 1, 4)
ATTENTION_MMA(attention_mma2_bf16_hd64, 64, 2, 4)
ATTENTION_MMA(attention_mma2_bf16_hd128, 128, 2, 4)
ATTENTION_MMA(attention_mma4_bf16_hd64, 64, 4, 2)
ATTENTION_MMA(attention_mma4_bf16_hd128, 128, 4, 2)
