// Scaled dot-product attention over a cache, as compute.Backend.Attention
// defines it: one kernel for one query per row over a long cache (decoding)
// and for any shape the tiled kernel (attention_tiled.cu, heads of 64 or
// 128 and at least 64 queries per row) does not take.
//
// A block takes ATT_QT consecutive queries of one batch row and one head,
// one warp per query. It walks the visible slots in tiles of ATT_TS: the
// whole block stages a tile of keys and values in shared memory, then each
// warp scores the tile against its query (one lane per slot) and folds it
// into a running softmax in float32 (max m, sum l, and the weighted values
// acc, rescaled when m grows).
//
// With few queries (decoding) there are too few blocks to keep the memory
// busy, so the slots are also split over `splits` blocks (flash-decoding):
// each writes its partial (m, l, acc) to part, and attention_combine_f32
// merges them. The chunk of slots a block takes depends only on its batch
// row's span and on splits (which the Go side derives from the cache
// length and the number of queries per row, never from the batch size), and
// tiles start at the chunk's start whatever the other queries of the block:
// a query's result depends only on its own row, alone or in a batch.
//
// Shared memory (dynamic): Q [ATT_QT][hd], K [ATT_TS][hd+1] (padded so that
// the lanes of a warp read distinct banks), V [ATT_TS][hd], and the last
// visible slot of each query.

// att_chunk gives split `split` of batch row b's slots: the row's span
// clamped to [0, T] (the Go side cannot check it, it is device data, and a
// bad one must not reach another row's slots) cut in `splits` chunks of a
// whole number of tiles of `tile` slots; the chunk's slots are [s, e). Every
// attention kernel chunks a row this way, so that the chunks depend on the
// row's span and on splits only.
__device__ __forceinline__ void att_chunk(const int *__restrict__ span, int b, int T, int split, int splits, int tile,
                                          int &s, int &e) {
    const int s0 = max(span[2 * b], 0), e0 = min(span[2 * b + 1], T);
    const int chunk = e0 <= s0 ? 0 : splits == 1 ? e0 - s0 : ((e0 - s0 + splits - 1) / splits + tile - 1) / tile * tile;
    s = s0 + split * chunk;
    e = min(s + chunk, e0);
}

// att_ends writes, for the Q queries of batch row b from q0 on, the end of
// the chunk's slots [s, e) each sees (s for a query past n; causal: up to
// its position), in ends[0…Q); the block's first Q threads write them.
__device__ __forceinline__ void att_ends(int *ends, int Q, const int *__restrict__ qpos, int b, int n, int q0, int s,
                                         int e, int causal) {
    const int t = threadIdx.x;
    if (t < Q) {
        const int qi = q0 + t;
        int ei = s; // a query past n sees nothing
        if (qi < n) {
            ei = e;
            if (causal) ei = min(ei, qpos[(long long)b * n + qi] + 1);
        }
        ends[t] = max(ei, s);
    }
}

// att_merge is dimension d of the output of one (query row, head) from its
// splits partial states at p (each m, l, then hd sums): Σ acc·e^(m−M) /
// Σ l·e^(m−M) over the chunks that saw something, M their largest m, in
// chunk order; zero when none did. The states may have been written by
// other blocks of the running kernel (after last_block), hence the loads
// through L2.
__device__ __forceinline__ float att_merge(const float *p, int hd, int splits, int d) {
    float M = NEG_INF;
    for (int x = 0; x < splits; x++) M = fmaxf(M, ld_cg(p + x * (hd + 2)));
    float L = 0.0f, a = 0.0f;
    for (int x = 0; x < splits; x++) {
        const float m = ld_cg(p + x * (hd + 2));
        if (m == NEG_INF) continue;
        const float f = expf(m - M);
        L += ld_cg(p + x * (hd + 2) + 1) * f;
        a += ld_cg(p + x * (hd + 2) + 2 + d) * f;
    }
    return L > 0.0f ? a * (1.0f / L) : 0.0f;
}

#define ATT_QT 8   // queries per block: one per warp of the 256 threads
#define ATT_TS 32  // slots per tile: one per lane
#define ATT_MAXD 8 // head dims per lane: head_dim ≤ 32 · ATT_MAXD = 256

// C is the caches' element type: float or bf16_t (widened exactly as each
// element is staged, so the arithmetic is the same for both).
template <typename C>
__device__ __forceinline__ void attention_warp(float *__restrict__ out, const float *__restrict__ q,
                                               const C *__restrict__ kc, const C *__restrict__ vc,
                                               const int *__restrict__ qpos, const int *__restrict__ span, int n,
                                               int T, int nh, int group, int hd, int causal, float scale,
                                               float *__restrict__ part, int splits) {
    extern __shared__ float smem[];
    float *Qs = smem;
    float *Ks = Qs + ATT_QT * hd;
    float *Vs = Ks + ATT_TS * (hd + 1);
    int *ends = (int *)(Vs + ATT_TS * hd);

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int b = blockIdx.z, h = blockIdx.y, kh = h / group;
    const int split = blockIdx.x % splits;
    const int qi = (blockIdx.x / splits) * ATT_QT + warp; // this warp's query within batch row b
    const bool active = qi < n;
    const long long r = (long long)b * n + qi; // its row of q and out
    const int qc = nh * hd, kvc = (nh / group) * hd;
    // This block's chunk of the row, and the slots [s, e) of it this warp's
    // query sees.
    int s, e;
    att_chunk(span, b, T, split, splits, ATT_TS, s, e);
    if (active && causal) e = min(e, qpos[r] + 1);
    if (!active) e = s;

    if (lane == 0) ends[warp] = e;
    for (int d = lane; d < hd; d += 32) Qs[warp * hd + d] = active ? q[r * qc + (long long)h * hd + d] : 0.0f;
    __syncthreads();
    int emax = s;
    for (int w = 0; w < ATT_QT; w++) emax = max(emax, ends[w]);

    const C *kbase = kc + (long long)b * T * kvc + (long long)kh * hd;
    const C *vbase = vc + (long long)b * T * kvc + (long long)kh * hd;
    float m = NEG_INF, l = 0.0f, acc[ATT_MAXD];
#pragma unroll
    for (int i = 0; i < ATT_MAXD; i++) acc[i] = 0.0f;

    for (int j0 = s; j0 < emax; j0 += ATT_TS) {
        // Stage the tile: warp w loads slots j0+w, j0+w+8, …; a slot past
        // the last any query sees is zero.
        for (int jj = warp; jj < ATT_TS; jj += ATT_QT) {
            const int j = j0 + jj;
            const bool ok = j < emax;
            const C *kr = kbase + (long long)j * kvc, *vr = vbase + (long long)j * kvc;
            for (int d = lane; d < hd; d += 32) {
                Ks[jj * (hd + 1) + d] = ok ? to_f32(kr[d]) : 0.0f;
                Vs[jj * hd + d] = ok ? to_f32(vr[d]) : 0.0f;
            }
        }
        __syncthreads();
        if (j0 < e) { // the same for the whole warp; lane 0's slot is visible
            const bool vis = j0 + lane < e;
            float sc = NEG_INF;
            if (vis) {
                const float *qr = Qs + warp * hd, *kr = Ks + lane * (hd + 1);
                float dot = 0.0f;
#pragma unroll 4
                for (int d = 0; d < hd; d++) dot += qr[d] * kr[d];
                sc = dot * scale;
            }
            const float mnew = fmaxf(m, warp_max(sc)); // finite
            const float p = vis ? expf(sc - mnew) : 0.0f;
            const float corr = expf(m - mnew); // 0 on the first tile, where m = -inf
            l = l * corr + warp_sum(p);
#pragma unroll
            for (int i = 0; i < ATT_MAXD; i++) acc[i] *= corr;
            for (int jj = 0; jj < ATT_TS; jj++) {
                const float pj = __shfl_sync(FULL_MASK, p, jj);
                if (pj == 0.0f) continue; // a hidden slot: skip it even if it holds garbage
#pragma unroll
                for (int i = 0; i < ATT_MAXD; i++) {
                    const int d = lane + 32 * i;
                    if (d < hd) acc[i] += pj * Vs[jj * hd + d];
                }
            }
            m = mnew;
        }
        __syncthreads();
    }
    if (!active) return;
    if (splits > 1) { // the partial state, merged by attention_combine_f32
        float *p = part + ((r * nh + h) * splits + split) * (hd + 2);
        if (lane == 0) {
            p[0] = m; // -inf when the chunk shows this query nothing
            p[1] = l;
        }
#pragma unroll
        for (int i = 0; i < ATT_MAXD; i++) {
            const int d = lane + 32 * i;
            if (d < hd) p[2 + d] = acc[i];
        }
        return;
    }
    const bool any = e > s;
    const float inv = any ? 1.0f / l : 0.0f;
#pragma unroll
    for (int i = 0; i < ATT_MAXD; i++) {
        const int d = lane + 32 * i;
        if (d < hd) out[r * qc + (long long)h * hd + d] = any ? acc[i] * inv : 0.0f;
    }
}

// Named attention_<cache type>.
#define ATTENTION_WARP(NAME, C)                                                                              \
    extern "C" __global__ void __launch_bounds__(256)                                                        \
    NAME(float *__restrict__ out, const float *__restrict__ q, const C *__restrict__ kc,                     \
         const C *__restrict__ vc, const int *__restrict__ qpos, const int *__restrict__ span, int n, int T, \
         int nh, int group, int hd, int causal, float scale, float *__restrict__ part, int splits) {        \
        griddep_wait();                                                                                      \
        attention_warp<C>(out, q, kc, vc, qpos, span, n, T, nh, group, hd, causal, scale, part, splits);    \
    }
ATTENTION_WARP(attention_f32, float)
ATTENTION_WARP(attention_bf16, bf16_t)

// attention_decode_f32_hd64/_hd128, attention_decode4_* and
// attention_decodeg4_*: decoding and short blocks of queries (up to
// attnDecodeMaxQueries and attnDecode4Max queries per batch row) with heads
// of 64 or 128. The one-warp kernel above gives such a block one busy warp
// of eight and runs each slot's dot product in one lane, so it waits on
// memory most of the time. Here a block takes QB consecutive queries (one,
// or four) of HB consecutive heads (one, or the four query heads of a
// grouped cache head) of one batch row, QH = QB·HB items, and one chunk of
// their slots, chunked as attention_f32 chunks them; its eight warps take
// the chunk's slots ATT_DU consecutive ones at a time, in turn, and each
// lane holds V = hd/32 consecutive dims of the queries, a key and a value.
// A slot's scores are then one vector load, QH·V multiply-adds and QH warp
// reductions, each key and value row is read once for the QH items, and a
// warp has 2·ATT_DU rows in flight. An item's sums do not depend on QB or
// HB (the same slots per warp, in the same order). Each warp keeps its own
// running softmax per query; the block merges the eight at the end, then
// writes the outputs, or, when the slots are split over several blocks,
// its partial states, and the last block of the split to finish merges
// them (att_merge, in chunk order: no second launch).
#define ATT_DU 4
// Slots a step over a bfloat16 cache: 8 (as many bytes in flight as over
// float32) was slower on an H200 (26.6 against 20.9 µs over 4096 slots).
#define ATT_DU_BF16 4

template <int V> __device__ __forceinline__ void load_dims(float (&r)[V], const float *p) {
    if constexpr (V == 4) {
        const float4 t = *(const float4 *)p;
        r[0] = t.x, r[1] = t.y, r[2] = t.z, r[3] = t.w;
    } else {
        const float2 t = *(const float2 *)p;
        r[0] = t.x, r[1] = t.y;
    }
}
// From a bfloat16 cache: V consecutive elements in one 8- or 4-byte load.
template <int V> __device__ __forceinline__ void load_dims(float (&r)[V], const bf16_t *p) {
    if constexpr (V == 4) {
        const uint2 t = *(const uint2 *)p;
        r[0] = __uint_as_float(t.x << 16), r[1] = __uint_as_float(t.x & 0xffff0000u);
        r[2] = __uint_as_float(t.y << 16), r[3] = __uint_as_float(t.y & 0xffff0000u);
    } else {
        const u32 t = *(const u32 *)p;
        r[0] = __uint_as_float(t << 16), r[1] = __uint_as_float(t & 0xffff0000u);
    }
}

// att_prefetch asks L2 for the cache rows of the block's chunk before the
// block waits for the kernel before it (RoPEStore, writing this step's
// slot): L2 is where the GPU's writes meet, so a line asked for early
// cannot go stale. The span is device data that kernel may not have
// settled, so the chunk is att_chunk's for a span of all T slots; a row
// whose span is shorter has lines asked for that it never reads (all in
// its T slots). On a decode layer of LLaMA-3-8B (256 slots, cache in DRAM)
// it saved 1.4 µs of 135 (docs/perf.md, CUDA v10).
template <typename C>
__device__ __forceinline__ void att_prefetch(const C *kc, const C *vc, int b, int T, int kvc, int kh, int hd, int split,
                                             int splits) {
    const int chunk = splits == 1 ? T : ((T + splits - 1) / splits + ATT_TS - 1) / ATT_TS * ATT_TS;
    const int s = split * chunk, e = min(s + chunk, T);
    const int L = (hd * (int)sizeof(C) + 127) / 128; // lines a row
    const long long base = (long long)b * T * kvc + (long long)kh * hd;
    for (int t = threadIdx.x; t < (e - s) * 2 * L; t += blockDim.x) {
        const int row = s + t / (2 * L), line = t % L;
        const C *p = ((t / L) & 1 ? vc : kc) + base + (long long)row * kvc + line * (128 / (int)sizeof(C));
        prefetch_l2(p);
    }
}

template <int V, int QB, int HB, typename C>
__device__ __forceinline__ void attention_decode(float *__restrict__ out, const float *__restrict__ q,
                                                 const C *__restrict__ kc, const C *__restrict__ vc,
                                                 const int *__restrict__ qpos, const int *__restrict__ span, int n,
                                                 int T, int nh, int group, int causal, float scale,
                                                 float *__restrict__ part, int splits, unsigned *__restrict__ count) {
    // The block's QH items: item i is query q0 + i / HB of head h0 + i % HB.
    constexpr int hd = 32 * V, W = 8, QH = QB * HB; // W warps
    __shared__ float wm[W][QH], wl[W][QH], wacc[W][QH][hd];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int b = blockIdx.z, h0 = blockIdx.y * HB, kh = h0 / group;
    const int split = blockIdx.x % splits, q0 = blockIdx.x / splits * QB;
    const int qc = nh * hd, kvc = (nh / group) * hd;
    int s, ce; // the chunk's slots [s, ce)
    att_chunk(span, b, T, split, splits, ATT_TS, s, ce);
    // Item i sees the slots [s, e[i]) of the chunk; a query past n sees
    // none.
    int e[QH], emax = s;
    float qv[QH][V];
#pragma unroll
    for (int i = 0; i < QH; i++) {
        const int qi = q0 + i / HB;
        const long long r = (long long)b * n + qi;
        e[i] = qi < n ? ce : s;
        if (qi < n && causal) e[i] = min(e[i], qpos[r] + 1);
        emax = max(emax, e[i]);
        if (qi < n) {
            load_dims<V>(qv[i], q + r * qc + (long long)(h0 + i % HB) * hd + lane * V);
        } else {
#pragma unroll
            for (int d = 0; d < V; d++) qv[i][d] = 0.0f;
        }
    }
    const C *kb = kc + (long long)b * T * kvc + (long long)kh * hd + lane * V;
    const C *vb = vc + (long long)b * T * kvc + (long long)kh * hd + lane * V;
    float m[QH], l[QH], acc[QH][V];
#pragma unroll
    for (int i = 0; i < QH; i++) {
        m[i] = NEG_INF, l[i] = 0.0f;
#pragma unroll
        for (int d = 0; d < V; d++) acc[i][d] = 0.0f;
    }
    constexpr int DU = sizeof(C) == 2 ? ATT_DU_BF16 : ATT_DU;
    for (int j0 = s + warp * DU; j0 < emax; j0 += W * DU) {
        float kr[DU][V], vr[DU][V], sc[QH][DU];
#pragma unroll
        for (int u = 0; u < DU; u++) {
            if (j0 + u < emax) { // slots past emax may be another row's, or garbage
                load_dims<V>(kr[u], kb + (long long)(j0 + u) * kvc);
                load_dims<V>(vr[u], vb + (long long)(j0 + u) * kvc);
            } else {
#pragma unroll
                for (int d = 0; d < V; d++) kr[u][d] = 0.0f, vr[u][d] = 0.0f;
            }
        }
#pragma unroll
        for (int i = 0; i < QH; i++)
#pragma unroll
            for (int u = 0; u < DU; u++) {
                float dot = 0.0f;
#pragma unroll
                for (int d = 0; d < V; d++) dot += qv[i][d] * kr[u][d];
                sc[i][u] = dot;
            }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
#pragma unroll
            for (int i = 0; i < QH; i++)
#pragma unroll
                for (int u = 0; u < DU; u++) sc[i][u] += __shfl_xor_sync(FULL_MASK, sc[i][u], o);
        }
#pragma unroll
        for (int i = 0; i < QH; i++) {
            float mnew = m[i];
#pragma unroll
            for (int u = 0; u < DU; u++) {
                sc[i][u] = j0 + u < e[i] ? sc[i][u] * scale : NEG_INF;
                mnew = fmaxf(mnew, sc[i][u]);
            }
            if (mnew == NEG_INF) continue; // nothing visible to this query yet
            const float corr = expf(m[i] - mnew); // 0 on its first visible slots, where m = -inf
            l[i] *= corr;
#pragma unroll
            for (int d = 0; d < V; d++) acc[i][d] *= corr;
#pragma unroll
            for (int u = 0; u < DU; u++) {
                const float p = j0 + u < e[i] ? expf(sc[i][u] - mnew) : 0.0f;
                l[i] += p;
#pragma unroll
                for (int d = 0; d < V; d++) acc[i][d] += p * vr[u][d];
            }
            m[i] = mnew;
        }
    }
#pragma unroll
    for (int i = 0; i < QH; i++) {
        if (lane == 0) wm[warp][i] = m[i], wl[warp][i] = l[i];
#pragma unroll
        for (int d = 0; d < V; d++) wacc[warp][i][lane * V + d] = acc[i][d];
    }
    __syncthreads();
    for (int t = threadIdx.x; t < QH * hd; t += blockDim.x) {
        const int i = t / hd, d = t - i * hd, qi = q0 + i / HB, h = h0 + i % HB;
        if (qi >= n) break; // t only grows
        const long long r = (long long)b * n + qi;
        float M = NEG_INF;
#pragma unroll
        for (int w = 0; w < W; w++) M = fmaxf(M, wm[w][i]);
        float L = 0.0f, a = 0.0f;
#pragma unroll
        for (int w = 0; w < W; w++) {
            const float f = wm[w][i] == NEG_INF ? 0.0f : expf(wm[w][i] - M); // a warp that saw nothing adds nothing
            L += wl[w][i] * f;
            a += wacc[w][i][d] * f;
        }
        if (splits > 1) {
            float *p = part + ((r * nh + h) * splits + split) * (hd + 2);
            if (d == 0) p[0] = M, p[1] = L; // M = -inf: the chunk shows this query nothing
            p[2 + d] = a;
        } else {
            out[r * qc + (long long)h * hd + d] = L > 0.0f ? a * (1.0f / L) : 0.0f;
        }
    }
    if (splits == 1 || count == nullptr) return; // one chunk, or attention_combine_f32 merges (no counters)
    // The last block of the column (batch row, heads, queries) to finish
    // merges the splits' states in chunk order, as attention_combine_f32
    // would.
    if (!last_block(count + ((long long)b * gridDim.y + blockIdx.y) * (gridDim.x / splits) + blockIdx.x / splits, splits))
        return;
    for (int t = threadIdx.x; t < QH * hd; t += blockDim.x) {
        const int i = t / hd, d = t - i * hd, qi = q0 + i / HB, h = h0 + i % HB;
        if (qi >= n) break;
        const long long r = (long long)b * n + qi;
        out[r * qc + (long long)h * hd + d] = att_merge(part + (r * nh + h) * splits * (hd + 2), hd, splits, d);
    }
}

// The parameters are attention_f32's (hd fixed by the name; grid =
// (⌈n / QB⌉ · splits, nh / HB, batch rows), 256 threads) and the counters
// of the merge, one per column of blocks (batch row, heads, queries), zero
// before the launch.
#define ATTENTION_DECODE(NAME, HD, QB, HB, C)                                                                       \
    extern "C" __global__ void __launch_bounds__(256) NAME(                                                         \
        float *__restrict__ out, const float *__restrict__ q, const C *__restrict__ kc,                             \
        const C *__restrict__ vc, const int *__restrict__ qpos, const int *__restrict__ span, int n, int T,         \
        int nh, int group, int hd, int causal, float scale, float *__restrict__ part, int splits,                   \
        unsigned *__restrict__ count) {                                                                             \
        att_prefetch<C>(kc, vc, blockIdx.z, T, (nh / group) * HD, blockIdx.y * HB / group, HD,                        \
                        (int)(blockIdx.x % splits), splits);                                                        \
        griddep_wait();                                                                                             \
        attention_decode<HD / 32, QB, HB, C>(out, q, kc, vc, qpos, span, n, T, nh, group, causal, scale, part,      \
                                             splits, count);                                                        \
    }
// Named attention_decode[4|g4]_<cache type>_hd<head dim>: one query of one
// head, four queries of one head, one query of four heads of a group.
ATTENTION_DECODE(attention_decode_f32_hd64, 64, 1, 1, float)
ATTENTION_DECODE(attention_decode_f32_hd128, 128, 1, 1, float)
ATTENTION_DECODE(attention_decode4_f32_hd64, 64, 4, 1, float)
ATTENTION_DECODE(attention_decode4_f32_hd128, 128, 4, 1, float)
ATTENTION_DECODE(attention_decodeg4_f32_hd64, 64, 1, 4, float)
ATTENTION_DECODE(attention_decodeg4_f32_hd128, 128, 1, 4, float)
ATTENTION_DECODE(attention_decode_bf16_hd64, 64, 1, 1, bf16_t)
ATTENTION_DECODE(attention_decode_bf16_hd128, 128, 1, 1, bf16_t)
ATTENTION_DECODE(attention_decode4_bf16_hd64, 64, 4, 1, bf16_t)
ATTENTION_DECODE(attention_decode4_bf16_hd128, 128, 4, 1, bf16_t)
ATTENTION_DECODE(attention_decodeg4_bf16_hd64, 64, 1, 4, bf16_t)
ATTENTION_DECODE(attention_decodeg4_bf16_hd128, 128, 1, 4, bf16_t)

// Merges the splits partial states of each (query row, head), one block
// each, for the kernels that leave it to a second launch.
extern "C" __global__ void attention_combine_f32(float *__restrict__ out, const float *__restrict__ part,
                                                 int nh, int hd, int splits) { griddep_wait();
    const long long rh = blockIdx.x; // row · nh + head
    const float *p = part + rh * splits * (hd + 2);
    float *o = out + (rh / nh) * nh * hd + (rh % nh) * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) o[d] = att_merge(p, hd, splits, d);
}
