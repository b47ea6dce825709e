// dst = x · wᵀ for 2 to 8 rows of x and 16-bit weights, on the tensor
// cores: small-batch decoding. The SIMT GEMV (gemv.cu) makes 8 float32
// multiply-adds per weight at n = 8 and falls to 2.6 TB/s; here one
// mma.sync m16n8k16 takes 16 weight rows × 16 elements of k against all
// eight rows of x (zeros past n), so the arithmetic is free and the kernel
// is a stream of weights again. x is rounded to the weights' 16-bit type,
// as for the skinny kernel and cuBLAS.
//
// A block of GM_WARPS warps takes R tiles of 16 weight rows (R·16 outputs
// per row of x) and the whole of k in steps of GM_WARPS·GM_U chunks of 32
// elements: at each step warp w takes GM_U consecutive chunks of every row
// (GM_CHUNK), so that the eight warps read 2 KiB of each row together.
// The Go side takes this kernel from 6 rows (gemvMMAMinRows); it is
// correct, and tested, from 2. Fragments as in skinny.cu: lane
// (g, t) = (lane / 4, lane % 4) loads elements 8t … 8t+7 of a chunk of
// weight rows g and g + 8 (16 bytes each) and of x row g, which are exactly
// its A and B registers for the chunk's two mma (logical k 2t+e of the first
// is element 8t+e, logical 8+2t+e is 8t+2+e; the second takes 8t+4… and
// 8t+6…). Each warp keeps GM_U chunks in flight. At the end the warps'
// accumulators meet in shared memory and are summed in warp order.
//
// Batch invariance: an output is its warps' chunk sums, each in increasing
// chunk order, then the eight warps in order; the tensor core computes a
// column from its own row of x only, and R, the segment and n change none
// of it. So a row of x gives the same bits in any batch this kernel takes
// and in every fusion (not the SIMT GEMV's, which keeps x in float32).
// The epilogues are the composed ops' arithmetic (add_f32's a + b,
// silu_mul_f32's expression).

#define GM_WARPS 8
// Chunks in flight per warp: 8 spilled and ran at two thirds of the speed
// of 4 (H200, BenchmarkMatMul n = 8: 50.0 against 36.7 µs). Asking L2 for
// the next step's chunks (prefetch.global.L2, as the SIMT GEMV does from
// n = 3) made it slower still: 45.4 µs.
#define GM_U 4
// GM_CHUNK(c0, w, u) is chunk u of warp w's step from chunk c0 (steps of
// GM_WARPS·GM_U chunks): interleaved (GM_CONTIG 0: the warps' loads of a
// step side by side) or each warp GM_U consecutive chunks (1: 2–4% faster
// on one H200, 36.6 against 38.1 µs for the up projection at n = 8).
#define GM_CONTIG 1
#if GM_CONTIG
#define GM_CHUNK(c0, w, u) ((c0) + (w) * GM_U + (u))
#else
#define GM_CHUNK(c0, w, u) ((c0) + (w) + GM_WARPS * (u))
#endif

// Blocks per SM the registers are bounded for: 3 was slower on an H200
// (n = 8 up projection 38.6 against 37.2 µs; two tiles a block at n = 2
// 59.6 against 33.5).
#define GM_MINBLOCKS 2

#define GM_PLAIN 0
#define GM_ADD 1
#define GM_SWIGLU 2 // seg 0 is the gate (with dst), seg 1 the up weights; a block's tiles are gate then up

// The 16-byte chunk of x row g (float32, 8 elements) narrowed to W's type,
// packed as the mma's B registers; zeros for rows past n.
template <typename W>
__device__ __forceinline__ u32x4 gm_x(const float *__restrict__ xr, bool ok) {
    u32x4 r = {0u, 0u, 0u, 0u};
    if (ok) {
        const f32x4 a = *reinterpret_cast<const f32x4 *>(xr), b = *reinterpret_cast<const f32x4 *>(xr + 4);
        r.x = Mma<W>::pack(a.x, a.y);
        r.y = Mma<W>::pack(a.z, a.w);
        r.z = Mma<W>::pack(b.x, b.y);
        r.w = Mma<W>::pack(b.z, b.w);
    }
    return r;
}

// d0…d2, w0…w2, m0…m2: up to three segments (blocks in order, B_s =
// ⌈m_s / (16·R)⌉ each; in GM_SWIGLU mode one segment of ⌈m / 16⌉ blocks
// over gate w0 and up w1). x is n × k float32, k a multiple of 32; x and
// the weights are 16-byte aligned (the Go side checks).
template <typename W, int R>
__device__ __forceinline__ void gemv_mma(float *d0, float *d1, float *d2, const float *__restrict__ x,
                                         const W *__restrict__ w0, const W *__restrict__ w1,
                                         const W *__restrict__ w2, int m0, int m1, int m2, int k, int n, int mode) {
    __shared__ float red[GM_WARPS][R][32][4];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    constexpr int RH = R >= 2 ? R / 2 : 1; // SwiGLU: tiles of gate, then as many of up (the kernel with R = 2 only)
    const int rows = mode == GM_SWIGLU ? 16 * RH : 16 * R; // outputs of a block per row of x
    float *dst = d0;
    const W *w = w0;
    int m = m0, blk = blockIdx.x; // SwiGLU: one segment, the gate's rows with dst (up is w1)
    if (mode != GM_SWIGLU) blk = gemv_segment(blockIdx.x, rows, d0, d1, d2, w0, w1, w2, m0, m1, m2, dst, w, m);
    const int j0 = blk * rows;
    // Tile r's rows g and g + 8 (clamped to a real row past m, not written).
    const u32x4 *wr[R][2];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const W *base = w;
        int row0 = j0 + 16 * r;
        if (mode == GM_SWIGLU) base = r < RH ? w0 : w1, row0 = j0 + 16 * (r % RH);
#pragma unroll
        for (int h = 0; h < 2; h++)
            wr[r][h] = reinterpret_cast<const u32x4 *>(base + (long long)min(row0 + g + 8 * h, m - 1) * k) + t;
    }
    const int nch = k / 32;
    // Weights are never written: ask L2 for the first loads before waiting.
#pragma unroll
    for (int u = 0; u < GM_U; u++)
        if (GM_CHUNK(0, warp, u) < nch)
#pragma unroll
            for (int r = 0; r < R; r++)
#pragma unroll
                for (int h = 0; h < 2; h++) prefetch_l2(wr[r][h] + 4 * GM_CHUNK(0, warp, u));
    griddep_wait();

    const float *xr = x + (long long)min(g, n - 1) * k + 8 * t;
    float acc[R][4];
#pragma unroll
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = 0.0f;
    for (int c0 = 0; c0 < nch; c0 += GM_WARPS * GM_U) {
        u32x4 wv[GM_U][R][2], xv[GM_U];
#pragma unroll
        for (int u = 0; u < GM_U; u++)
            if (GM_CHUNK(c0, warp, u) < nch)
#pragma unroll
                for (int r = 0; r < R; r++)
#pragma unroll
                    for (int h = 0; h < 2; h++) wv[u][r][h] = load_w<2>(wr[r][h] + 4 * GM_CHUNK(c0, warp, u));
#pragma unroll
        for (int u = 0; u < GM_U; u++)
            if (GM_CHUNK(c0, warp, u) < nch) xv[u] = gm_x<W>(xr + 32 * GM_CHUNK(c0, warp, u), g < n);
#pragma unroll
        for (int u = 0; u < GM_U; u++)
            if (GM_CHUNK(c0, warp, u) < nch)
#pragma unroll
                for (int r = 0; r < R; r++) {
                    const u32x4 a = wv[u][r][0], b = wv[u][r][1];
                    Mma<W>::run(acc[r], a.x, b.x, a.y, b.y, xv[u].x, xv[u].y);
                    Mma<W>::run(acc[r], a.z, b.z, a.w, b.w, xv[u].z, xv[u].w);
                }
    }
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int i = 0; i < 4; i++) red[warp][r][lane][i] = acc[r][i];
    __syncthreads();
    // Thread (r, l, i) sums element i of lane l's tile r over the warps: the
    // accumulator of weight row g + 8·(i / 2) of the tile and x row
    // 2t + i % 2, with (g, t) those of lane l.
    const int tiles = mode == GM_SWIGLU ? RH : R;
    for (int o = threadIdx.x; o < tiles * 128; o += blockDim.x) {
        const int r = o >> 7, l = (o >> 2) & 31, i = o & 3;
        const int j = j0 + 16 * r + (l >> 2) + 8 * (i >> 1), xi = 2 * (l & 3) + (i & 1);
        float v = 0.0f;
#pragma unroll
        for (int ww = 0; ww < GM_WARPS; ww++) v += red[ww][r][l][i];
        if (xi >= n || j >= m) continue;
        float *d = dst + (long long)xi * m + j;
        if (mode == GM_SWIGLU) {
            float u = 0.0f;
#pragma unroll
            for (int ww = 0; ww < GM_WARPS; ww++) u += red[ww][min(r + RH, R - 1)][l][i];
            *d = v / (1.0f + expf(-v)) * u;
        } else {
            *d = mode == GM_ADD ? *d + v : v;
        }
    }
}

// Named gemv_mma_<weights>_r<tiles of 16 rows per block>; GM_SWIGLU takes
// r2 (a tile of gate and one of up).
#define GEMV_MMA(NAME, W, R)                                                                                 \
    extern "C" __global__ void __launch_bounds__(GM_WARPS * 32, GM_MINBLOCKS)                                \
    NAME(float *d0, float *d1, float *d2, const float *__restrict__ x, const W *__restrict__ w0,              \
         const W *__restrict__ w1, const W *__restrict__ w2, int m0, int m1, int m2, int k, int n, int mode) { \
        gemv_mma<W, R>(d0, d1, d2, x, w0, w1, w2, m0, m1, m2, k, n, mode);                                  \
    }
GEMV_MMA(gemv_mma_bf16_r1, bf16_t, 1)
GEMV_MMA(gemv_mma_bf16_r2, bf16_t, 2)
GEMV_MMA(gemv_mma_f16_r1, f16_t, 1)
GEMV_MMA(gemv_mma_f16_r2, f16_t, 2)
