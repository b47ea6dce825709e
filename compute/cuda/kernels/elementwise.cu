// Row-wise and elementwise ops. Each output element is computed by one
// thread from its own row only, so results do not depend on the number of
// rows (the backend's row-independence). Outputs may alias inputs where the
// Go side allows it, so no pointer here is __restrict__.

// dst = a + b over n elements.
extern "C" __global__ void add_f32(float *dst, const float *a, const float *b, long long n) { griddep_wait();
    grid_stride(i, n) dst[i] = a[i] + b[i];
}

// dst = a + t·(b − a) over n elements, each operation rounded on its own
// (compute.Backend's Lerp: no fused multiply-add, as the host's).
extern "C" __global__ void lerp_f32(float *dst, const float *a, const float *b, float t, long long n) { griddep_wait();
    grid_stride(i, n) dst[i] = __fadd_rn(a[i], __fmul_rn(t, __fsub_rn(b[i], a[i])));
}

// dst = silu(g) ⊙ u with silu(z) = z / (1 + e^-z), over n elements.
template <typename D> __device__ __forceinline__ D silu_mul1(float z, float u) {
    return From<D>::f32(z / (1.0f + expf(-z)) * u);
}
// Four elements per thread from 16-byte loads where g and u allow them:
// one element a thread left the memory waiting on the exponentials.
template <typename D> __device__ __forceinline__ void silu_mul(D *dst, const float *g, const float *u, long long n) {
    long long done = 0;
    if (((unsigned long long)g | (unsigned long long)u) % 16 == 0) {
        done = n / 4 * 4;
        grid_stride(i, n / 4) {
            const f32x4 a = reinterpret_cast<const f32x4 *>(g)[i], b = reinterpret_cast<const f32x4 *>(u)[i];
            D *d = dst + 4 * i;
            d[0] = silu_mul1<D>(a.x, b.x), d[1] = silu_mul1<D>(a.y, b.y);
            d[2] = silu_mul1<D>(a.z, b.z), d[3] = silu_mul1<D>(a.w, b.w);
        }
    }
    grid_stride(i, n - done) dst[done + i] = silu_mul1<D>(g[done + i], u[done + i]);
}
extern "C" __global__ void silu_mul_f32(float *dst, const float *g, const float *u, long long n) { griddep_wait();
    silu_mul<float>(dst, g, u, n);
}

// The same from g and u of the 16-bit type D, as a cuBLAS product narrowed
// them (compute.NormFFNer's path on cuBLAS, as PyTorch's bf16 Linear
// writes them): silu(g)·u in float32, narrowed once. dst may be u. Eight
// elements per thread from 16-byte loads where the pointers allow them.
template <typename D> __device__ __forceinline__ float lo_f32(u32 w) { D x; x.bits = (u16)w; return to_f32(x); }
template <typename D> __device__ __forceinline__ float hi_f32(u32 w) { D x; x.bits = (u16)(w >> 16); return to_f32(x); }
template <typename D> __device__ __forceinline__ u32 silu_mul2(u32 g, u32 u) {
    return (u32)silu_mul1<D>(lo_f32<D>(g), lo_f32<D>(u)).bits | (u32)silu_mul1<D>(hi_f32<D>(g), hi_f32<D>(u)).bits << 16;
}
template <typename D> __device__ __forceinline__ void silu_mul16(D *dst, const D *g, const D *u, long long n) {
    long long done = 0;
    if (((unsigned long long)dst | (unsigned long long)g | (unsigned long long)u) % 16 == 0) {
        done = n / 8 * 8;
        grid_stride(i, n / 8) {
            const u32x4 a = reinterpret_cast<const u32x4 *>(g)[i], b = reinterpret_cast<const u32x4 *>(u)[i];
            reinterpret_cast<u32x4 *>(dst)[i] =
                u32x4{silu_mul2<D>(a.x, b.x), silu_mul2<D>(a.y, b.y), silu_mul2<D>(a.z, b.z), silu_mul2<D>(a.w, b.w)};
        }
    }
    grid_stride(i, n - done) dst[done + i] = silu_mul1<D>(to_f32(g[done + i]), to_f32(u[done + i]));
}
extern "C" __global__ void silu_mul16_bf16(bf16_t *dst, const bf16_t *g, const bf16_t *u, long long n) { griddep_wait();
    silu_mul16<bf16_t>(dst, g, u, n);
}
extern "C" __global__ void silu_mul16_f16(f16_t *dst, const f16_t *g, const f16_t *u, long long n) { griddep_wait();
    silu_mul16<f16_t>(dst, g, u, n);
}

// The sum of v over the block, the same in every thread. blockDim.x is a
// multiple of 32, at most 1024.
__device__ double block_sum(double v) {
    __shared__ double part[32];
    v = warp_sum(v);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
    __syncthreads();
    double t = 0;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) t += part[w];
    return t;
}

// row_by8 walks a block's thread over the columns threadIdx.x, +
// blockDim.x, … of a row of cols, calling use(c, load(c)) for each in
// order, with eight loads issued before their eight uses: one block a row
// is the kernel's whole latency, and one load at a time would make a
// 4096-wide row cost sixteen memory latencies in a row. A use may write
// the element its load read (rmsnorm writes its row in place): every later
// load reads another column.
template <typename T, typename L, typename U> __device__ __forceinline__ void row_by8(int cols, L load, U use) {
    int c = threadIdx.x;
    for (; c + 7 * (int)blockDim.x < cols; c += 8 * blockDim.x) {
        T v[8];
#pragma unroll
        for (int i = 0; i < 8; i++) v[i] = load(c + i * blockDim.x);
#pragma unroll
        for (int i = 0; i < 8; i++) use(c + i * blockDim.x, v[i]);
    }
    for (; c < cols; c += blockDim.x) use(c, load(c));
}

// The thread's share of a row's sum of squares (columns threadIdx.x,
// + blockDim.x, …, added in that order), in double, and the row's scale from
// the block's total. rmsnorm_f32 and the GEMV kernels that normalise x
// themselves (gemv_norm_*) both use these, so that they agree bit for bit.
__device__ __forceinline__ double rms_sumsq(const float *x, int cols) {
    double ss = 0;
    row_by8<float>(cols, [&](int c) { return x[c]; }, [&](int, float v) { ss += (double)v * v; });
    return ss;
}
__device__ __forceinline__ float rms_inv(double ss, int cols, float eps) {
    float mean = (float)(ss / cols);
    return (float)(1.0 / sqrt((double)(mean + eps)));
}

// One block per row: dst = src / sqrt(mean(src²) + eps) ⊙ w. The sum of
// squares is in double and the scale is formed as the CPU backend forms it
// (mean rounded to float, plus eps in float, reciprocal square root in
// double), so both agree to the last bit far more often than not. dst may
// be src: each thread reads its elements (row_by8) before it writes them.
// The _bf16 and _f16 forms narrow each result as cast_f32_* does: the bits
// of RMSNorm then the cast, without the float32 row (the input of cuBLAS
// projections, compute.NormMatMul3er and friends).
//
// A row of 16 columns a thread (LLaMA-3's and LLaDA's 4096 on 256 threads)
// stays in registers: one read of x, and w's loads in flight across the
// block's sum; the sum runs over the same columns in the same order as
// rms_sumsq's.
template <typename D> __device__ __forceinline__ void rmsnorm(D *dst, const float *src, const float *w, int cols, float eps) {
    const float *x = src + (long long)blockIdx.x * cols;
    D *d = dst + (long long)blockIdx.x * cols;
    constexpr int R = 16;
    if (cols == R * (int)blockDim.x) {
        float v[R], g[R];
        double ss = 0;
#pragma unroll
        for (int i = 0; i < R; i++) v[i] = x[threadIdx.x + i * blockDim.x];
#pragma unroll
        for (int i = 0; i < R; i++) g[i] = w[threadIdx.x + i * blockDim.x];
#pragma unroll
        for (int i = 0; i < R; i++) ss += (double)v[i] * v[i];
        const float inv = rms_inv(block_sum(ss), cols, eps);
#pragma unroll
        for (int i = 0; i < R; i++) d[threadIdx.x + i * blockDim.x] = From<D>::f32(g[i] * (v[i] * inv));
        return;
    }
    const float inv = rms_inv(block_sum(rms_sumsq(x, cols)), cols, eps);
    struct XW { float x, w; };
    row_by8<XW>(cols, [&](int c) { return XW{x[c], w[c]}; }, [&](int c, XW v) { d[c] = From<D>::f32(v.w * (v.x * inv)); });
}
extern "C" __global__ void rmsnorm_f32(float *dst, const float *src, const float *w, int cols, float eps) { griddep_wait();
    rmsnorm<float>(dst, src, w, cols, eps);
}
extern "C" __global__ void rmsnorm_bf16(bf16_t *dst, const float *src, const float *w, int cols, float eps) { griddep_wait();
    rmsnorm<bf16_t>(dst, src, w, cols, eps);
}
extern "C" __global__ void rmsnorm_f16(f16_t *dst, const float *src, const float *w, int cols, float eps) { griddep_wait();
    rmsnorm<f16_t>(dst, src, w, cols, eps);
}

// The encoder ops (compute.EncoderOps: BERT and RoBERTa, never the
// decoders), in the CPU backend's arithmetic.
//
// One block per row: dst = (src − μ) · rstd ⊙ w + b, as PyTorch's
// layer_norm and the CPU backend form it: μ and the biased variance of the
// float32 deviations summed in double and rounded to float, rstd the
// reciprocal square root in double of the variance plus eps in float. dst
// may be src: each thread reads its elements before it writes them.
extern "C" __global__ void layernorm_f32(float *dst, const float *src, const float *w, const float *b, int cols,
                                         float eps) { griddep_wait();
    const float *x = src + (long long)blockIdx.x * cols;
    float *d = dst + (long long)blockIdx.x * cols;
    double s = 0;
    row_by8<float>(cols, [&](int c) { return x[c]; }, [&](int, float v) { s += v; });
    const float mean = (float)(block_sum(s) / cols);
    __syncthreads(); // block_sum's shared sums are read before the next call writes them
    double ss = 0;
    row_by8<float>(cols, [&](int c) { return x[c]; }, [&](int, float v) {
        const double dv = v - mean;
        ss += dv * dv;
    });
    const float rstd = (float)(1.0 / sqrt((double)((float)(block_sum(ss) / cols) + eps)));
    struct XWB { float x, w, b; };
    row_by8<XWB>(cols, [&](int c) { return XWB{x[c], w[c], b[c]}; },
                 [&](int c, XWB v) { d[c] = __fadd_rn(__fmul_rn(__fmul_rn(__fsub_rn(v.x, mean), rstd), v.w), v.b); });
}

// dst = x·Φ(x) = x/2 · erfc(−x/√2) over n elements, in double and rounded,
// as the CPU backend computes it (erfc keeps the far negative tail, where
// 1 + erf cancels). dst may be src.
extern "C" __global__ void gelu_f32(float *dst, const float *src, long long n) { griddep_wait();
    grid_stride(i, n) {
        const double v = src[i];
        dst[i] = (float)(0.5 * v * erfc(-v / 1.4142135623730951));
    }
}

// dst[r][c] = src[r][c] + bias[c] over rows × cols elements. dst may be src.
extern "C" __global__ void add_row_f32(float *dst, const float *src, const float *bias, int cols, long long n) {
    griddep_wait();
    grid_stride(i, n) dst[i] = src[i] + bias[i % cols];
}

// The rotation of a pair (a, b) of a head by (cos, sin), rounded as the CPU
// backend rounds it: rope_f32 and RoPEStore (Items<W>::rope) share it.
__device__ __forceinline__ float rope_a(float a, float b, float c, float s) { return __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s)); }
__device__ __forceinline__ float rope_b(float a, float b, float c, float s) { return __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s)); }

// Rotates each head of each row of x in place (rotate-half layout), one
// thread per pair (j, j + h). The products and sums are rounded one by one
// (no fused multiply-add), as the CPU backend computes them. A position
// outside the tables leaves the row as it is.
extern "C" __global__ void rope_f32(float *x, const float *cos_t, const float *sin_t, const int *pos,
                                    int rows, int cols, int head_dim, int max_pos) { griddep_wait();
    const int h = head_dim / 2;
    const long long pairs = cols / 2;
    grid_stride(i, (long long)rows * pairs) {
        long long r = i / pairs;
        int k = (int)(i - r * pairs);
        int head = k / h, j = k - head * h;
        int p = pos[r];
        if (p < 0 || p >= max_pos) continue;
        float *row = x + r * cols + (long long)head * head_dim;
        float c = cos_t[(long long)p * h + j], s = sin_t[(long long)p * h + j];
        float a = row[j], b = row[j + h];
        row[j] = rope_a(a, b, c, s);
        row[j + h] = rope_b(a, b, c, s);
    }
}

// One block per index: gather copies dst[i] = src[idx[i]], scatter copies
// dst[idx[i]] = src[i], converting each element to dst's type. An index
// outside [0, limit) (src rows for gather, dst rows for scatter) copies
// nothing: the Go side cannot see device-side indices to check them.
template <typename D, typename S>
__device__ __forceinline__ void copy_rows(D *dst, const S *src, const int *idx, int cols, int limit, int gather) {
    int i = blockIdx.x;
    int r = idx[i];
    if (r < 0 || r >= limit) return;
    long long di = gather ? i : r, si = gather ? r : i;
    D *d = dst + di * cols;
    const S *s = src + si * cols;
    row_by8<S>(cols, [&](int c) { return s[c]; }, [&](int c, S v) { d[c] = Convert<D, S>::run(v); });
}

#define COPY_ROWS(NAME, D, S)                                                                    \
    extern "C" __global__ void NAME(D *dst, const S *src, const int *idx, int cols, int limit, int gather) { griddep_wait(); \
        copy_rows<D, S>(dst, src, idx, cols, limit, gather);                                     \
    }
// Named copy_rows_<src>_<dst>.
COPY_ROWS(copy_rows_f32_f32, float, float)
COPY_ROWS(copy_rows_f32_bf16, bf16_t, float)
COPY_ROWS(copy_rows_f32_f16, f16_t, float)
COPY_ROWS(copy_rows_bf16_f32, float, bf16_t)
COPY_ROWS(copy_rows_bf16_bf16, bf16_t, bf16_t)
COPY_ROWS(copy_rows_bf16_f16, f16_t, bf16_t)
COPY_ROWS(copy_rows_f16_f32, float, f16_t)
COPY_ROWS(copy_rows_f16_bf16, bf16_t, f16_t)
COPY_ROWS(copy_rows_f16_f16, f16_t, f16_t)

// Narrows n floats to bf16 or half: the activations cuBLAS multiplies by
// 16-bit weights.
template <typename D> __device__ __forceinline__ void cast_f32(D *dst, const float *src, long long n) {
    long long done = 0;
    if ((unsigned long long)src % 16 == 0) { // four elements per thread, as silu_mul
        done = n / 4 * 4;
        grid_stride(i, n / 4) {
            const f32x4 a = reinterpret_cast<const f32x4 *>(src)[i];
            D *d = dst + 4 * i;
            d[0] = From<D>::f32(a.x), d[1] = From<D>::f32(a.y), d[2] = From<D>::f32(a.z), d[3] = From<D>::f32(a.w);
        }
    }
    grid_stride(i, n - done) dst[done + i] = From<D>::f32(src[done + i]);
}
extern "C" __global__ void cast_f32_bf16(bf16_t *dst, const float *src, long long n) { griddep_wait(); cast_f32<bf16_t>(dst, src, n); }
extern "C" __global__ void cast_f32_f16(f16_t *dst, const float *src, long long n) { griddep_wait(); cast_f32<f16_t>(dst, src, n); }

// Items<W>: W consecutive floats as one value, loaded, stored, narrowed
// to D and rotated; W = 4 takes 16-byte loads.
template <int W> struct Items;
template <> struct Items<1> {
    typedef float T;
    static __device__ __forceinline__ T load(const float *p) { return *p; }
    static __device__ __forceinline__ void store(float *p, T v) { *p = v; }
    template <typename D> static __device__ __forceinline__ void narrow(D *p, T v) { *p = Convert<D, float>::run(v); }
    static __device__ __forceinline__ void rope(T &a, T &b, T c, T s) {
        const float ra = rope_a(a, b, c, s), rb = rope_b(a, b, c, s);
        a = ra, b = rb;
    }
};
template <> struct Items<4> {
    typedef f32x4 T;
    static __device__ __forceinline__ T load(const float *p) { return *reinterpret_cast<const f32x4 *>(p); }
    static __device__ __forceinline__ void store(float *p, T v) { *reinterpret_cast<f32x4 *>(p) = v; }
    template <typename D> static __device__ __forceinline__ void narrow(D *p, T v) { Store4<D>::run(p, v); }
    static __device__ __forceinline__ void rope(T &a, T &b, T c, T s) {
        const f32x4 ra = {rope_a(a.x, b.x, c.x, s.x), rope_a(a.y, b.y, c.y, s.y), rope_a(a.z, b.z, c.z, s.z), rope_a(a.w, b.w, c.w, s.w)};
        const f32x4 rb = {rope_b(a.x, b.x, c.x, s.x), rope_b(a.y, b.y, c.y, s.y), rope_b(a.z, b.z, c.z, s.z), rope_b(a.w, b.w, c.w, s.w)};
        a = ra, b = rb;
    }
};

// RoPEStore: rope_f32 on q and k, then copy_rows of k and v into their
// caches, in one launch (compute.RoPEStorer). Each thread takes one item of
// a row: a pair of q, a pair of k (rotated, written back to k and stored in
// kc) or an element of v (stored in vc); with vec, four consecutive items
// (the Go side checks that four never straddle a head or a tensor, and the
// alignment of every operand for 16-byte loads). The rotation is rope_f32's
// arithmetic and the stores are copy_rows' conversions, so the results are
// the composed ops' bit for bit. A position outside the tables leaves the
// row unrotated and a cache row outside [0, limit) is not written, as in
// the composed ops.
template <typename D, int W>
__device__ __forceinline__ void rope_store_w(float *q, float *k, const float *v, D *kc, D *vc, const int *rows,
                                             const float *cos_t, const float *sin_t, const int *pos, int n, int qcols,
                                             int kcols, int head_dim, int max_pos, int limit) {
    typedef Items<W> I;
    // Rows along y, a row's items along x: no 64-bit division per item.
    const int h = head_dim / 2;
    const int qp = qcols / 2, kp = kcols / 2, per = qp + kp + kcols;
    for (long long r = blockIdx.y; r < n; r += gridDim.y)
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < per / W; i += gridDim.x * blockDim.x) {
        int x = W * i;
        const int p = pos[r], cr = rows[r];
        const bool rot = p >= 0 && p < max_pos, store = cr >= 0 && cr < limit;
        if (x >= qp + kp) { // elements of v
            x -= qp + kp;
            if (store) I::narrow(vc + (long long)cr * kcols + x, I::load(v + r * kcols + x));
            continue;
        }
        const bool isq = x < qp;
        if (!isq) x -= qp;
        const int cols = isq ? qcols : kcols;
        const int head = x / h, j = x - head * h;
        float *row = (isq ? q : k) + r * cols + (long long)head * head_dim;
        typename I::T a = I::load(row + j), b = I::load(row + j + h);
        if (rot) {
            I::rope(a, b, I::load(cos_t + (long long)p * h + j), I::load(sin_t + (long long)p * h + j));
            I::store(row + j, a);
            I::store(row + j + h, b);
        }
        if (!isq && store) {
            D *dr = kc + (long long)cr * kcols + (long long)head * head_dim;
            I::narrow(dr + j, a);
            I::narrow(dr + j + h, b);
        }
    }
}
template <typename D>
__device__ __forceinline__ void rope_store(float *q, float *k, const float *v, D *kc, D *vc, const int *rows,
                                           const float *cos_t, const float *sin_t, const int *pos, int n, int qcols,
                                           int kcols, int head_dim, int max_pos, int limit, int vec) {
    if (vec)
        rope_store_w<D, 4>(q, k, v, kc, vc, rows, cos_t, sin_t, pos, n, qcols, kcols, head_dim, max_pos, limit);
    else
        rope_store_w<D, 1>(q, k, v, kc, vc, rows, cos_t, sin_t, pos, n, qcols, kcols, head_dim, max_pos, limit);
}

#define ROPE_STORE(NAME, D)                                                                                      \
    extern "C" __global__ void NAME(float *q, float *k, const float *v, D *kc, D *vc, const int *rows,           \
                                    const float *cos_t, const float *sin_t, const int *pos, int n, int qcols,    \
                                    int kcols, int head_dim, int max_pos, int limit, int vec) { griddep_wait();  \
        rope_store<D>(q, k, v, kc, vc, rows, cos_t, sin_t, pos, n, qcols, kcols, head_dim, max_pos, limit, vec); \
    }
// Named rope_store_<cache type>.
ROPE_STORE(rope_store_f32, float)
ROPE_STORE(rope_store_bf16, bf16_t)
ROPE_STORE(rope_store_f16, f16_t)

// Writes the pointer arrays of a batched cuBLAS product (three problems:
// a, b and c arrays of three) from its parameters, so that a CUDA graph
// replays them with the launch.
extern "C" __global__ void set_ptrs3(unsigned long long *dst, unsigned long long a0, unsigned long long a1,
                                     unsigned long long a2, unsigned long long b0, unsigned long long b1,
                                     unsigned long long b2, unsigned long long c0, unsigned long long c1,
                                     unsigned long long c2) { griddep_wait();
    if (threadIdx.x == 0) {
        dst[0] = a0, dst[1] = a1, dst[2] = a2, dst[3] = b0, dst[4] = b1, dst[5] = b2, dst[6] = c0, dst[7] = c1, dst[8] = c2;
    }
}
