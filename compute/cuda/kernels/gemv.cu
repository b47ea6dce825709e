// dst = x · wᵀ for a few rows of x (n ≤ 8): the decode path, where the cost
// is reading w once. A hot spot: it must run near the card's bandwidth for
// every n, not only n = 1.
//
// A warp computes GEMV_COLS(n) output columns (rows of w) for all n rows of
// x. Each lane reads 16-byte chunks of those rows of w (8 bf16/half or 4
// floats): chunk c of every row goes to lane c mod 32, several chunks in
// flight per lane. Each chunk of x (n rows × 8 floats, read through the L1
// cache) is loaded once and multiplied by the chunks of all the warp's
// columns, so that x costs 2n/GEMV_COLS(n) bytes of L1 traffic per byte of
// weights instead of 2n: at n = 8 with one column per warp the kernel was
// bound by L1 (0.92 TB/s); with four it should be bound by DRAM again.
//
// Batch invariance: the sum for (row i of x, column j) is the same sequence
// of operations whatever n and however many columns a warp takes: lane l
// accumulates w[j][e]·x[i][e] over its chunks in increasing order, the eight
// elements of a chunk in order, one float32 accumulator; then a fixed
// shuffle tree sums the 32 lanes. So a row computed in a batch of 8 is bit
// for bit the row computed alone (and the same as the kernel before this
// one, which had one column per warp).
//
// Fusions use the same kernel: up to three (dst, w, m) segments over the same
// x (MatMul3: the q, k and v projections in one launch), an epilogue that
// adds to dst (MatMulAdd), and a SwiGLU form in which a warp takes its
// columns of both gate and up and writes silu(g)·u (MatMulSwiGLU). Each
// epilogue is the composed ops' arithmetic (the Add kernel's a + b, the
// SiLUMul kernel's z / (1 + e^-z) · u), so the fused results are bit for bit
// the composed ones.

// Chunk<W> describes a 16-byte chunk of weights of type W.
template <typename W> struct Chunk;
template <> struct Chunk<bf16_t> {
    typedef u32x4 raw;
    static const int n = 8;
    static __device__ __forceinline__ void widen(const raw &v, float *f) {
        f[0] = __uint_as_float(v.x << 16); f[1] = __uint_as_float(v.x & 0xffff0000u);
        f[2] = __uint_as_float(v.y << 16); f[3] = __uint_as_float(v.y & 0xffff0000u);
        f[4] = __uint_as_float(v.z << 16); f[5] = __uint_as_float(v.z & 0xffff0000u);
        f[6] = __uint_as_float(v.w << 16); f[7] = __uint_as_float(v.w & 0xffff0000u);
    }
};
template <> struct Chunk<f16_t> {
    typedef u32x4 raw;
    static const int n = 8;
    static __device__ __forceinline__ void widen(const raw &v, float *f) {
        f[0] = f16_to_f32((u16)(v.x & 0xffffu)); f[1] = f16_to_f32((u16)(v.x >> 16));
        f[2] = f16_to_f32((u16)(v.y & 0xffffu)); f[3] = f16_to_f32((u16)(v.y >> 16));
        f[4] = f16_to_f32((u16)(v.z & 0xffffu)); f[5] = f16_to_f32((u16)(v.z >> 16));
        f[6] = f16_to_f32((u16)(v.w & 0xffffu)); f[7] = f16_to_f32((u16)(v.w >> 16));
    }
};
template <> struct Chunk<float> {
    typedef f32x4 raw;
    static const int n = 4;
    static __device__ __forceinline__ void widen(const raw &v, float *f) {
        f[0] = v.x; f[1] = v.y; f[2] = v.z; f[3] = v.w;
    }
};

// Columns per warp for n rows of x. The Go side mirrors this table
// (gemvCols in ops.go): keep the two the same.
#define GEMV_COLS(n) ((n) == 1 ? 1 : (n) == 2 ? 2 : 4)
#define GEMV_WARPS 8 // warps per block: 256 threads

// Chunks each lane keeps in flight per weight row: four in all at n = 1
// (what reached 3.76 TB/s on the H200 over 14336 rows), eight at n ≥ 3
// (four rows, two each: 4–6% faster than one each at n = 4 and 8). A grid
// too small to fill the card (gemv_*_n1_deep: m = 4096) needs eight at n = 1
// too: 30 µs instead of 35 for the 14336 → 4096 down projection. The order
// of the sums does not depend on it.
template <int R> struct Unroll { static const int u = R >= 8 ? 1 : R >= 4 ? 2 : 4 / R; };

// acc[i][r] += Σ_q w_r[e+q]·x[i][e+q] over one chunk per weight row at
// element e: x is read once for all R rows.
template <int N, int R, typename W>
__device__ __forceinline__ void gemv_chunk(float (&acc)[N][R], const typename Chunk<W>::raw (&raw)[R],
                                           const float *__restrict__ x, int k, int e) {
    const int CN = Chunk<W>::n;
    float f[R][CN];
#pragma unroll
    for (int r = 0; r < R; r++) Chunk<W>::widen(raw[r], f[r]);
#pragma unroll
    for (int i = 0; i < N; i++) {
        const float *xr = x + (long long)i * k + e;
#pragma unroll
        for (int q = 0; q < CN; q += 4) {
            const f32x4 xv = *reinterpret_cast<const f32x4 *>(xr + q);
#pragma unroll
            for (int r = 0; r < R; r++) {
                acc[i][r] += f[r][q] * xv.x;
                acc[i][r] += f[r][q + 1] * xv.y;
                acc[i][r] += f[r][q + 2] * xv.z;
                acc[i][r] += f[r][q + 3] * xv.w;
            }
        }
    }
}

// load_w reads a chunk of weights. Beyond one row of x the weights stream
// past the L1 cache (no_allocate) so that x, read once per column, stays
// in it; at n = 1 the load is the plain one that reached 3.76 TB/s.
__device__ __forceinline__ void set_bits(u32x4 &r, u32 a, u32 b, u32 c, u32 d) {
    r.x = a; r.y = b; r.z = c; r.w = d;
}
__device__ __forceinline__ void set_bits(f32x4 &r, u32 a, u32 b, u32 c, u32 d) {
    r.x = __uint_as_float(a); r.y = __uint_as_float(b); r.z = __uint_as_float(c); r.w = __uint_as_float(d);
}
template <int N, typename Raw> __device__ __forceinline__ Raw load_w(const Raw *p) {
    if (N == 1) return *p;
    u32 a, b, c, d;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(a), "=r"(b), "=r"(c), "=r"(d) : "l"(p));
    Raw r;
    set_bits(r, a, b, c, d);
    return r;
}

__device__ __forceinline__ void prefetch_l2(const void *p) { asm volatile("prefetch.global.L2 [%0];" ::"l"(p)); }

// The lane's partial sums acc[i][r] of x row i against weight rows wrow[r].
// vec says that w and x are 16-byte aligned and k is a multiple of the
// chunk, so that chunks can be loaded whole; otherwise every element goes
// through the scalar loop (whose order, too, does not depend on n).
template <int N, int R, typename W, int U = Unroll<R>::u>
__device__ __forceinline__ void gemv_rows(float (&acc)[N][R], const W *const (&wrow)[R], const float *__restrict__ x,
                                          int k, int vec, int lane) {
    typedef typename Chunk<W>::raw Raw;
    const int CN = Chunk<W>::n;
    const int nch = vec ? k / CN : 0;
#pragma unroll
    for (int i = 0; i < N; i++)
#pragma unroll
        for (int r = 0; r < R; r++) acc[i][r] = 0.0f;
    // One loop body, the chunks past the end skipped: a separate loop for
    // the last chunks would double the code NVRTC compiles (and the order
    // of the chunks is the same either way).
    for (int c = lane; c < nch; c += 32 * U) {
        if (N >= 3 && c + 32 * U < nch) {
            // From n = 3 on a thread has registers for few loads in flight
            // (four chunks); ask L2 for the next iteration's now, so that
            // its loads wait for L2 rather than DRAM.
#pragma unroll
            for (int r = 0; r < R; r++) prefetch_l2(reinterpret_cast<const Raw *>(wrow[r]) + c + 32 * U);
        }
        Raw raw[U][R];
#pragma unroll
        for (int u = 0; u < U; u++)
            if (u == 0 || c + 32 * u < nch)
#pragma unroll
                for (int r = 0; r < R; r++) raw[u][r] = load_w<N>(reinterpret_cast<const Raw *>(wrow[r]) + c + 32 * u);
#pragma unroll
        for (int u = 0; u < U; u++)
            if (u == 0 || c + 32 * u < nch) gemv_chunk<N, R, W>(acc, raw[u], x, k, (c + 32 * u) * CN);
    }
    for (int e = nch * CN + lane; e < k; e += 32) {
#pragma unroll
        for (int r = 0; r < R; r++) {
            const float wv = to_f32(wrow[r][e]);
#pragma unroll
            for (int i = 0; i < N; i++) acc[i][r] += wv * x[(long long)i * k + e];
        }
    }
}

// Plain and add epilogues: the warp's C columns j0… of one segment.
template <int N, typename W, int U>
__device__ __forceinline__ void gemv_cols(float *__restrict__ dst, const float *__restrict__ x,
                                          const W *__restrict__ w, int k, int m, int add, int vec, int j0, int lane) {
    const int C = GEMV_COLS(N);
    const W *wrow[C];
#pragma unroll
    for (int r = 0; r < C; r++) wrow[r] = w + (long long)min(j0 + r, m - 1) * k; // past m: a real row, not written
    float acc[N][C];
    gemv_rows<N, C, W, U>(acc, wrow, x, k, vec, lane);
#pragma unroll
    for (int i = 0; i < N; i++)
#pragma unroll
        for (int r = 0; r < C; r++) {
            const float v = warp_sum(acc[i][r]);
            const int j = j0 + r;
            if (lane == ((i * C + r) & 31) && j < m) {
                float *d = dst + (long long)i * m + j;
                *d = add ? *d + v : v;
            }
        }
}

// gemv_prefetch asks L2 for the chunks of the C weight rows from j0 that
// the lane's first loads read. Weights are never written, so a kernel does
// this before griddep_wait, while the kernel before it finishes.
template <typename W, int C, int U>
__device__ __forceinline__ void gemv_prefetch(const W *__restrict__ w, int j0, int m, int k, int vec, int lane) {
    if (!vec) return;
    typedef typename Chunk<W>::raw Raw;
    const int nch = k / Chunk<W>::n;
#pragma unroll
    for (int r = 0; r < C; r++) {
        const Raw *row = reinterpret_cast<const Raw *>(w + (long long)min(j0 + r, m - 1) * k);
#pragma unroll
        for (int u = 0; u < U; u++)
            if (lane + 32 * u < nch) prefetch_l2(row + lane + 32 * u);
    }
}

// gemv_segment finds, for block blk of a launch over up to three segments
// (dst, w, m) of ⌈m_s / per⌉ blocks each, in order, its segment and its
// block within the segment (returned).
template <typename W>
__device__ __forceinline__ int gemv_segment(int blk, int per, float *d0, float *d1, float *d2, const W *w0, const W *w1,
                                            const W *w2, int m0, int m1, int m2, float *&dst, const W *&w, int &m) {
    const int b0 = (m0 + per - 1) / per, b1 = (m1 + per - 1) / per;
    dst = d0, w = w0, m = m0;
    if (blk >= b0 + b1) {
        blk -= b0 + b1;
        dst = d2, w = w2, m = m2;
    } else if (blk >= b0) {
        blk -= b0;
        dst = d1, w = w1, m = m1;
    }
    return blk;
}

// One kernel per n (and weight type), so that each gets the registers its
// n needs: one kernel for every n had all of them pay for n = 8's.
// Segment s of a launch covers blocks [Σ_{t<s} B_t, Σ_{t≤s} B_t) with
// B_t = ⌈m_t / (8·GEMV_COLS(n))⌉ (gemvBlocks on the Go side).
template <int N, typename W, int U = Unroll<GEMV_COLS(N)>::u>
__device__ __forceinline__ void gemv_kernel(float *d0, float *d1, float *d2, const float *__restrict__ x,
                                            const W *__restrict__ w0, const W *__restrict__ w1,
                                            const W *__restrict__ w2, int m0, int m1, int m2, int k, int add,
                                            int vec) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int per = GEMV_WARPS * GEMV_COLS(N);
    float *dst;
    const W *w;
    int m;
    const int blk = gemv_segment(blockIdx.x, per, d0, d1, d2, w0, w1, w2, m0, m1, m2, dst, w, m);
    const int j0 = (blk * GEMV_WARPS + warp) * GEMV_COLS(N);
    if (j0 >= m) return;
    gemv_prefetch<W, GEMV_COLS(N), U>(w, j0, m, k, vec, lane);
    griddep_wait();
    gemv_cols<N, W, U>(dst, x, w, k, m, add, vec, j0, lane);
}

// At least GEMV_MIN_BLOCKS(n) blocks of 256 threads per SM: from n = 3 on
// the compiler would otherwise take registers enough for one block, eight
// warps, too few loads in flight to stream the weights.
#define GEMV_MIN_BLOCKS(n) ((n) <= 2 ? 1 : 2)
#define GEMV(NAME, W, N)                                                                                     \
    extern "C" __global__ void __launch_bounds__(256, GEMV_MIN_BLOCKS(N))                                    \
    NAME(float *d0, float *d1, float *d2, const float *__restrict__ x, const W *__restrict__ w0,              \
         const W *__restrict__ w1, const W *__restrict__ w2, int m0, int m1, int m2, int k, int add, int vec) { \
        gemv_kernel<N, W>(d0, d1, d2, x, w0, w1, w2, m0, m1, m2, k, add, vec);                               \
    }
// Named gemv_<weights>_n<rows of x>.
GEMV(gemv_f32_n1, float, 1)
GEMV(gemv_f32_n2, float, 2)
GEMV(gemv_f32_n3, float, 3)
GEMV(gemv_f32_n4, float, 4)
GEMV(gemv_f32_n5, float, 5)
GEMV(gemv_f32_n6, float, 6)
GEMV(gemv_f32_n7, float, 7)
GEMV(gemv_f32_n8, float, 8)
GEMV(gemv_bf16_n1, bf16_t, 1)
GEMV(gemv_bf16_n2, bf16_t, 2)
GEMV(gemv_bf16_n3, bf16_t, 3)
GEMV(gemv_bf16_n4, bf16_t, 4)
GEMV(gemv_bf16_n5, bf16_t, 5)
GEMV(gemv_bf16_n6, bf16_t, 6)
GEMV(gemv_bf16_n7, bf16_t, 7)
GEMV(gemv_bf16_n8, bf16_t, 8)
GEMV(gemv_f16_n1, f16_t, 1)
GEMV(gemv_f16_n2, f16_t, 2)
GEMV(gemv_f16_n3, f16_t, 3)
GEMV(gemv_f16_n4, f16_t, 4)
GEMV(gemv_f16_n5, f16_t, 5)
GEMV(gemv_f16_n6, f16_t, 6)
GEMV(gemv_f16_n7, f16_t, 7)
GEMV(gemv_f16_n8, f16_t, 8)

// n = 1 with eight chunks in flight per lane, for grids of fewer blocks
// than gemvDeepMaxBlocks (ops.go). Named gemv_<weights>_n1_deep.
#define GEMV_DEEP(NAME, W)                                                                                   \
    extern "C" __global__ void __launch_bounds__(256)                                                        \
    NAME(float *d0, float *d1, float *d2, const float *__restrict__ x, const W *__restrict__ w0,              \
         const W *__restrict__ w1, const W *__restrict__ w2, int m0, int m1, int m2, int k, int add, int vec) { \
        gemv_kernel<1, W, 8>(d0, d1, d2, x, w0, w1, w2, m0, m1, m2, k, add, vec);                            \
    }
GEMV_DEEP(gemv_bf16_n1_deep, bf16_t)
GEMV_DEEP(gemv_f16_n1_deep, f16_t)

// SwiGLU: dst[i][j] = silu(x_i · gate_j) · (x_i · up_j). A warp takes the
// same C = SWIGLU_COLS(n) columns of gate and up, 2C weight rows, as many
// as the plain kernel's warp takes for n > 1, so x is read once for both; the epilogue is silu_mul_f32's expression. For 16-bit weights only:
// float32 weights (small test models) take the composed ops, which saves
// compile time.
// Gate and up columns per warp; the Go side mirrors this (gemvSwiGLUCols).
#define SWIGLU_COLS(n) ((n) <= 2 ? 1 : 2)

template <int N, typename W>
__device__ __forceinline__ void gemv_swiglu_cols(float *__restrict__ dst, const float *__restrict__ x,
                                                 const W *__restrict__ gate, const W *__restrict__ up, int k, int m,
                                                 int vec, int j0, int lane) {
    const int C = SWIGLU_COLS(N);
    const W *wrow[2 * C];
#pragma unroll
    for (int r = 0; r < C; r++) {
        const long long row = (long long)min(j0 + r, m - 1) * k;
        wrow[r] = gate + row;
        wrow[C + r] = up + row;
    }
    float acc[N][2 * C];
    gemv_rows<N, 2 * C, W>(acc, wrow, x, k, vec, lane);
#pragma unroll
    for (int i = 0; i < N; i++)
#pragma unroll
        for (int r = 0; r < C; r++) {
            const float z = warp_sum(acc[i][r]), u = warp_sum(acc[i][C + r]);
            const int j = j0 + r;
            if (lane == ((i * C + r) & 31) && j < m) dst[(long long)i * m + j] = z / (1.0f + expf(-z)) * u;
        }
}

#define GEMV_SWIGLU(NAME, W, N)                                                                              \
    extern "C" __global__ void __launch_bounds__(256, GEMV_MIN_BLOCKS(N))                                    \
    NAME(float *__restrict__ dst, const float *__restrict__ x, const W *__restrict__ gate,                    \
         const W *__restrict__ up, int k, int m, int vec) {                                                  \
        const int j0 = (blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5)) * SWIGLU_COLS(N);                      \
        if (j0 < m) {                                                                                        \
            gemv_prefetch<W, SWIGLU_COLS(N), 1>(gate, j0, m, k, vec, threadIdx.x & 31);                      \
            gemv_prefetch<W, SWIGLU_COLS(N), 1>(up, j0, m, k, vec, threadIdx.x & 31);                        \
        }                                                                                                    \
        griddep_wait();                                                                                      \
        if (j0 < m) gemv_swiglu_cols<N, W>(dst, x, gate, up, k, m, vec, j0, threadIdx.x & 31);              \
    }
// Named gemv_swiglu_<weights>_n<rows of x>.
GEMV_SWIGLU(gemv_swiglu_bf16_n1, bf16_t, 1)
GEMV_SWIGLU(gemv_swiglu_bf16_n2, bf16_t, 2)
GEMV_SWIGLU(gemv_swiglu_bf16_n3, bf16_t, 3)
GEMV_SWIGLU(gemv_swiglu_bf16_n4, bf16_t, 4)
GEMV_SWIGLU(gemv_swiglu_bf16_n5, bf16_t, 5)
GEMV_SWIGLU(gemv_swiglu_bf16_n6, bf16_t, 6)
GEMV_SWIGLU(gemv_swiglu_bf16_n7, bf16_t, 7)
GEMV_SWIGLU(gemv_swiglu_bf16_n8, bf16_t, 8)
GEMV_SWIGLU(gemv_swiglu_f16_n1, f16_t, 1)
GEMV_SWIGLU(gemv_swiglu_f16_n2, f16_t, 2)
GEMV_SWIGLU(gemv_swiglu_f16_n3, f16_t, 3)
GEMV_SWIGLU(gemv_swiglu_f16_n4, f16_t, 4)
GEMV_SWIGLU(gemv_swiglu_f16_n5, f16_t, 5)
GEMV_SWIGLU(gemv_swiglu_f16_n6, f16_t, 6)
GEMV_SWIGLU(gemv_swiglu_f16_n7, f16_t, 7)
GEMV_SWIGLU(gemv_swiglu_f16_n8, f16_t, 8)

// Norm fusions (compute.NormMatMul3er, NormSwiGLUer): the same kernels on
// x normalised by the block itself, for up to GEMV_NORM_ROWS rows. Each
// block first computes every row's RMSNorm scale as rmsnorm_f32 does
// (rms_sumsq and rms_inv; the warp sums, then the eight warps' sums in
// order: block_sum's order) and writes the normalised rows, rmsnorm_f32's
// w · (x · inv), to shared memory; the GEMV then reads x from there. So
// the products are bit for bit the composed ops' (RMSNorm, then the GEMV
// on its output), and the normalised x is never written to global memory
// nor read back. Before normalising, each warp asks L2 for the start of its
// weight rows, so that DRAM is busy while the block computes the scales.
// 256 threads, dynamic shared memory of n·k floats.
#define GEMV_NORM_ROWS 4

template <int N>
__device__ __forceinline__ void gemv_stage_norm(float *xs, const float *__restrict__ x, const float *__restrict__ g,
                                                int k, float eps) {
    __shared__ double part[N][GEMV_WARPS];
    __shared__ float inv[N];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int i = 0; i < N; i++) {
        const double ss = warp_sum(rms_sumsq(x + (long long)i * k, k));
        if (lane == 0) part[i][warp] = ss;
    }
    __syncthreads();
    if (threadIdx.x < N) {
        double t = 0;
        for (int w = 0; w < GEMV_WARPS; w++) t += part[threadIdx.x][w];
        inv[threadIdx.x] = rms_inv(t, k, eps);
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < N; i++) {
        const float s = inv[i];
        const float *xr = x + (long long)i * k;
        float *d = xs + (long long)i * k;
        for (int c = threadIdx.x; c < k; c += blockDim.x) d[c] = g[c] * (xr[c] * s);
    }
    __syncthreads();
}

// prefetch_rows asks L2 for the bytes of each weight row that the lane's
// first iteration of gemv_rows loads (at 32-byte granularity).
template <int R, typename W>
__device__ __forceinline__ void prefetch_rows(const W *const (&wrow)[R], int k, int lane) {
    const int bytes = min(k * (int)sizeof(W), 32 * 16 * Unroll<R>::u);
#pragma unroll
    for (int r = 0; r < R; r++)
        for (int o = lane * 32; o < bytes; o += 32 * 32) prefetch_l2(reinterpret_cast<const char *>(wrow[r]) + o);
}

template <int N, typename W>
__device__ __forceinline__ void gemv_norm_kernel(float *d0, float *d1, float *d2, const float *__restrict__ x,
                                                 const float *__restrict__ g, float eps, const W *__restrict__ w0,
                                                 const W *__restrict__ w1, const W *__restrict__ w2, int m0, int m1,
                                                 int m2, int k, int vec) {
    extern __shared__ f32x4 gemv_xs[];
    float *xs = reinterpret_cast<float *>(gemv_xs);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int per = GEMV_WARPS * GEMV_COLS(N);
    float *dst;
    const W *w;
    int m;
    const int blk = gemv_segment(blockIdx.x, per, d0, d1, d2, w0, w1, w2, m0, m1, m2, dst, w, m);
    const int j0 = (blk * GEMV_WARPS + warp) * GEMV_COLS(N);
    if (j0 < m) {
        const W *wrow[GEMV_COLS(N)];
#pragma unroll
        for (int r = 0; r < GEMV_COLS(N); r++) wrow[r] = w + (long long)min(j0 + r, m - 1) * k;
        prefetch_rows<GEMV_COLS(N), W>(wrow, k, lane);
    }
    gemv_stage_norm<N>(xs, x, g, k, eps); // every thread takes part: no return before it
    if (j0 >= m) return;
    gemv_cols<N, W, Unroll<GEMV_COLS(N)>::u>(dst, xs, w, k, m, 0, vec, j0, lane);
}

template <int N, typename W>
__device__ __forceinline__ void gemv_swiglu_norm_kernel(float *__restrict__ dst, const float *__restrict__ x,
                                                        const float *__restrict__ g, float eps,
                                                        const W *__restrict__ gate, const W *__restrict__ up, int k,
                                                        int m, int vec) {
    extern __shared__ f32x4 gemv_xs[];
    float *xs = reinterpret_cast<float *>(gemv_xs);
    const int C = SWIGLU_COLS(N), lane = threadIdx.x & 31;
    const int j0 = (blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5)) * C;
    if (j0 < m) {
        const W *wrow[2 * C];
#pragma unroll
        for (int r = 0; r < C; r++) {
            const long long row = (long long)min(j0 + r, m - 1) * k;
            wrow[r] = gate + row;
            wrow[C + r] = up + row;
        }
        prefetch_rows<2 * C, W>(wrow, k, lane);
    }
    gemv_stage_norm<N>(xs, x, g, k, eps); // every thread takes part: no return before it
    if (j0 < m) gemv_swiglu_cols<N, W>(dst, xs, gate, up, k, m, vec, j0, lane);
}

#define GEMV_NORM(NAME, W, N)                                                                                 \
    extern "C" __global__ void __launch_bounds__(256, GEMV_MIN_BLOCKS(N))                                     \
    NAME(float *d0, float *d1, float *d2, const float *__restrict__ x, const float *__restrict__ g, float eps,  \
         const W *__restrict__ w0, const W *__restrict__ w1, const W *__restrict__ w2, int m0, int m1, int m2,  \
         int k, int vec) { griddep_wait();                                                                                    \
        gemv_norm_kernel<N, W>(d0, d1, d2, x, g, eps, w0, w1, w2, m0, m1, m2, k, vec);                        \
    }
#define GEMV_SWIGLU_NORM(NAME, W, N)                                                                          \
    extern "C" __global__ void __launch_bounds__(256, GEMV_MIN_BLOCKS(N))                                     \
    NAME(float *__restrict__ dst, const float *__restrict__ x, const float *__restrict__ g, float eps,          \
         const W *__restrict__ gate, const W *__restrict__ up, int k, int m, int vec) { griddep_wait();                        \
        gemv_swiglu_norm_kernel<N, W>(dst, x, g, eps, gate, up, k, m, vec);                                   \
    }
// Named gemv_norm_<weights>_n<rows of x> and gemv_swiglu_norm_<weights>_n<rows of x>.
GEMV_NORM(gemv_norm_bf16_n1, bf16_t, 1)
GEMV_NORM(gemv_norm_bf16_n2, bf16_t, 2)
GEMV_NORM(gemv_norm_bf16_n3, bf16_t, 3)
GEMV_NORM(gemv_norm_bf16_n4, bf16_t, 4)
GEMV_NORM(gemv_norm_f16_n1, f16_t, 1)
GEMV_NORM(gemv_norm_f16_n2, f16_t, 2)
GEMV_NORM(gemv_norm_f16_n3, f16_t, 3)
GEMV_NORM(gemv_norm_f16_n4, f16_t, 4)
GEMV_SWIGLU_NORM(gemv_swiglu_norm_bf16_n1, bf16_t, 1)
GEMV_SWIGLU_NORM(gemv_swiglu_norm_bf16_n2, bf16_t, 2)
GEMV_SWIGLU_NORM(gemv_swiglu_norm_bf16_n3, bf16_t, 3)
GEMV_SWIGLU_NORM(gemv_swiglu_norm_bf16_n4, bf16_t, 4)
GEMV_SWIGLU_NORM(gemv_swiglu_norm_f16_n1, f16_t, 1)
GEMV_SWIGLU_NORM(gemv_swiglu_norm_f16_n2, f16_t, 2)
GEMV_SWIGLU_NORM(gemv_swiglu_norm_f16_n3, f16_t, 3)
GEMV_SWIGLU_NORM(gemv_swiglu_norm_f16_n4, f16_t, 4)
