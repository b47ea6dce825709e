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

#define ATT_QT 8   // queries per block: one per warp of the 256 threads
#define ATT_TS 32  // slots per tile: one per lane
#define ATT_MAXD 8 // head dims per lane: head_dim ≤ 32 · ATT_MAXD = 256

extern "C" __global__ void __launch_bounds__(256)
attention_f32(float *__restrict__ out, const float *__restrict__ q, const float *__restrict__ kc,
              const float *__restrict__ vc, const int *__restrict__ qpos, const int *__restrict__ span,
              int n, int T, int nh, int group, int hd, int causal, float scale, float *__restrict__ part,
              int splits) {
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
    // The row's span, clamped to [0, T]: the Go side cannot check it (it is
    // device data), and a bad one must not reach another row's slots.
    const int s0 = max(span[2 * b], 0), e0 = min(span[2 * b + 1], T);
    // This block's chunk of it, a whole number of tiles, and the slots
    // [s, e) of the chunk this warp's query sees.
    const int chunk = e0 <= s0 ? 0 : splits == 1 ? e0 - s0 : ((e0 - s0 + splits - 1) / splits + ATT_TS - 1) / ATT_TS * ATT_TS;
    const int s = s0 + split * chunk;
    int e = min(s + chunk, e0);
    if (active && causal) e = min(e, qpos[r] + 1);
    if (!active) e = s;

    if (lane == 0) ends[warp] = e;
    for (int d = lane; d < hd; d += 32) Qs[warp * hd + d] = active ? q[r * qc + (long long)h * hd + d] : 0.0f;
    __syncthreads();
    int emax = s;
    for (int w = 0; w < ATT_QT; w++) emax = max(emax, ends[w]);

    const float *kbase = kc + (long long)b * T * kvc + (long long)kh * hd;
    const float *vbase = vc + (long long)b * T * kvc + (long long)kh * hd;
    float m = NEG_INF, l = 0.0f, acc[ATT_MAXD];
#pragma unroll
    for (int i = 0; i < ATT_MAXD; i++) acc[i] = 0.0f;

    for (int j0 = s; j0 < emax; j0 += ATT_TS) {
        // Stage the tile: warp w loads slots j0+w, j0+w+8, …; a slot past
        // the last any query sees is zero.
        for (int jj = warp; jj < ATT_TS; jj += ATT_QT) {
            const int j = j0 + jj;
            const bool ok = j < emax;
            const float *kr = kbase + (long long)j * kvc, *vr = vbase + (long long)j * kvc;
            for (int d = lane; d < hd; d += 32) {
                Ks[jj * (hd + 1) + d] = ok ? kr[d] : 0.0f;
                Vs[jj * hd + d] = ok ? vr[d] : 0.0f;
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

// Merges the splits partial states of each (query row, head), one block
// each: out = Σ acc·e^(m−M) / Σ l·e^(m−M) over the chunks that saw
// something, M their largest m; a query that saw nothing gets zeros.
extern "C" __global__ void attention_combine_f32(float *__restrict__ out, const float *__restrict__ part,
                                                 int nh, int hd, int splits) {
    const long long rh = blockIdx.x; // row · nh + head
    const float *p = part + rh * splits * (hd + 2);
    float M = NEG_INF;
    for (int x = 0; x < splits; x++) M = fmaxf(M, p[x * (hd + 2)]);
    float L = 0.0f;
    for (int x = 0; x < splits; x++) {
        const float m = p[x * (hd + 2)];
        if (m != NEG_INF) L += p[x * (hd + 2) + 1] * expf(m - M);
    }
    float *o = out + (rh / nh) * nh * hd + (rh % nh) * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float a = 0.0f;
        for (int x = 0; x < splits; x++) {
            const float m = p[x * (hd + 2)];
            if (m != NEG_INF) a += p[x * (hd + 2) + 2 + d] * expf(m - M);
        }
        o[d] = L > 0.0f ? a * (1.0f / L) : 0.0f;
    }
}
