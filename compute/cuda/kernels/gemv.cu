// dst = x · wᵀ for a few rows of x (n ≤ 8): the decode path, where the cost
// is reading w once. A hot spot: it must run near the card's bandwidth.
//
// One warp per output column j (a row of w). Each lane reads 16-byte chunks
// of w's row (8 bf16/half or 4 floats), four chunks in flight per lane, and
// multiplies them with the n rows of x (small, and cached), accumulating
// each row in float32; a fixed shuffle tree then sums the lanes. The
// sequence of operations for row i of x does not depend on n.

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

// acc[i] += Σ_q w[e+q]·x[i][e+q] over one chunk at element e.
template <int N, typename W>
__device__ __forceinline__ void gemv_chunk(float *acc, const typename Chunk<W>::raw &raw,
                                           const float *__restrict__ x, int k, int e) {
    const int CN = Chunk<W>::n;
    float f[CN];
    Chunk<W>::widen(raw, f);
#pragma unroll
    for (int i = 0; i < N; i++) {
        const float *xr = x + (long long)i * k + e;
#pragma unroll
        for (int q = 0; q < CN; q += 4) {
            f32x4 xv = *reinterpret_cast<const f32x4 *>(xr + q);
            acc[i] += f[q] * xv.x;
            acc[i] += f[q + 1] * xv.y;
            acc[i] += f[q + 2] * xv.z;
            acc[i] += f[q + 3] * xv.w;
        }
    }
}

// Column j for N rows of x. vec says that w and x are 16-byte aligned and k
// is a multiple of the chunk, so that chunks can be loaded whole;
// otherwise every element goes through the scalar loop.
template <int N, typename W>
__device__ __forceinline__ void gemv_col(float *__restrict__ dst, const float *__restrict__ x,
                                         const W *__restrict__ w, int k, int m, int vec, int j, int lane) {
    typedef typename Chunk<W>::raw R;
    const int CN = Chunk<W>::n;
    const W *wrow = w + (long long)j * k;
    const R *wr = reinterpret_cast<const R *>(wrow);
    const int nch = vec ? k / CN : 0;
    float acc[N];
#pragma unroll
    for (int i = 0; i < N; i++) acc[i] = 0.0f;
    int c = lane;
    for (; c + 96 < nch; c += 128) {
        R r0 = wr[c], r1 = wr[c + 32], r2 = wr[c + 64], r3 = wr[c + 96];
        gemv_chunk<N, W>(acc, r0, x, k, c * CN);
        gemv_chunk<N, W>(acc, r1, x, k, (c + 32) * CN);
        gemv_chunk<N, W>(acc, r2, x, k, (c + 64) * CN);
        gemv_chunk<N, W>(acc, r3, x, k, (c + 96) * CN);
    }
    for (; c < nch; c += 32) gemv_chunk<N, W>(acc, wr[c], x, k, c * CN);
    for (int e = nch * CN + lane; e < k; e += 32) {
        float wv = to_f32(wrow[e]);
#pragma unroll
        for (int i = 0; i < N; i++) acc[i] += wv * x[(long long)i * k + e];
    }
#pragma unroll
    for (int i = 0; i < N; i++) {
        float v = warp_sum(acc[i]);
        if (lane == 0) dst[(long long)i * m + j] = v;
    }
}

// Eight warps, eight columns per block: grid = ceil(m / 8) blocks of 256.
#define GEMV(NAME, W)                                                                              \
    extern "C" __global__ void __launch_bounds__(256)                                              \
    NAME(float *__restrict__ dst, const float *__restrict__ x, const W *__restrict__ w, int n, int k, int m, int vec) { \
        const int lane = threadIdx.x & 31;                                                         \
        const int j = blockIdx.x * 8 + (threadIdx.x >> 5);                                         \
        if (j >= m) return;                                                                        \
        switch (n) {                                                                               \
        case 1: gemv_col<1, W>(dst, x, w, k, m, vec, j, lane); break;                              \
        case 2: gemv_col<2, W>(dst, x, w, k, m, vec, j, lane); break;                              \
        case 3: gemv_col<3, W>(dst, x, w, k, m, vec, j, lane); break;                              \
        case 4: gemv_col<4, W>(dst, x, w, k, m, vec, j, lane); break;                              \
        case 5: gemv_col<5, W>(dst, x, w, k, m, vec, j, lane); break;                              \
        case 6: gemv_col<6, W>(dst, x, w, k, m, vec, j, lane); break;                              \
        case 7: gemv_col<7, W>(dst, x, w, k, m, vec, j, lane); break;                              \
        case 8: gemv_col<8, W>(dst, x, w, k, m, vec, j, lane); break;                              \
        }                                                                                          \
    }
GEMV(gemv_f32, float)
GEMV(gemv_bf16, bf16_t)
GEMV(gemv_f16, f16_t)
