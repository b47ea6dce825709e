// dst = x · wᵀ for 9 to 64 rows of x and 16-bit weights: a LLaDA block of
// 32 tokens, a small batch. Like decoding it is bound by reading w once,
// but 2·n flops per weight element at n = 32 is about twice what the
// float32 SIMT units of an H100 or H200 give at full bandwidth, so the
// products go to the tensor cores (mma.sync m16n8k16, float32
// accumulators), with x rounded to the weights' 16-bit type as for cuBLAS.
//
// A block of SK_THREADS takes SK_ROWS weight rows (two tiles of 16 per
// warp) and one split of k; it walks its split in tiles of SK_KT elements.
// For each tile every thread first issues its 16-byte weight loads (they
// stream past L1 as in the GEMV kernel), then the block stages x's tile,
// narrowed to 16 bits, in shared memory, then each warp runs the products.
//
// Fragments without shuffles: lane (g, t) = (lane / 4, lane % 4) loads
// elements 8t … 8t+7 of a 32-element chunk of weight rows g and g+8 of its
// tile, and of x rows g (+ 8 per tile of 8 rows of x). Since a dot product
// may take its terms in any fixed order, the chunk's 32 positions are
// assigned to the two mma's 16 logical k positions so that each of the
// lane's 16-byte loads is exactly its A and B registers: logical k = 2t+e
// (e < 2) of the first mma is element 8t+e, logical 8+2t+e is 8t+2+e; the
// second mma takes 8t+4+e and 8t+6+e.
//
// Splits: a weight row's k tiles are cut into `splits` ranges of `tps`
// tiles, so that a launch has some hundreds of blocks even for 1024 rows.
// With one split the block writes dst itself; with several each block
// writes its float32 partial sums to `part`, and the last block of a block
// column to finish (an atomic counter, reset by that block for the next
// launch) adds the splits' partials in order 0, 1, … and applies the
// epilogue. The splits depend on m and k only (skinnySplits on the Go
// side), so every output element is the same sequence of operations
// whatever n: a row of x gives the same bits in any batch the kernel takes.
// The epilogues are the composed ops' arithmetic (add_f32's a + b,
// silu_mul_f32's expression), so the fusions match their composed ops.

#define SK_WARPS 4
#define SK_THREADS 128
#define SK_ROWS 128 // weight rows per block: SK_WARPS warps × 2 tiles × 16
#define SK_KT 128   // elements of k per tile: four chunks of 32
#define SK_XS 160   // row stride of the x tile in 16-bit elements: 320 bytes, so that the 16-byte B loads of lanes g and g+1 fall on different banks

#define SK_PLAIN 0
#define SK_ADD 1
#define SK_SWIGLU 2

// The launch's parameters, mirrored by skinnyArgs on the Go side (keep the
// two the same). A segment is one output of a launch (MatMul3 has three);
// in SwiGLU mode seg[0] is the gate, seg[1] the up projection, and the
// blocks cover columns of both (SK_ROWS / 2 of each per block).
struct SkinnySeg {
    float *d;       // n × m
    const void *w;  // m × k, 16-byte aligned, k a multiple of 8
    float *part;    // splits × n × m partial sums when splits > 1
    int m, splits, tps, blocks; // tps: k tiles per split; blocks of the segment
};
struct SkinnyArgs {
    SkinnySeg seg[3];
    const float *x; // n × k, 16-byte aligned
    unsigned *count; // a counter per block column, zero before the launch
    int n, k, mode, nseg;
};


template <typename W> struct Mma;
template <> struct Mma<bf16_t> {
    static __device__ __forceinline__ u32 pack(float a, float b) {
        return (u32)f32_to_bf16(a) | ((u32)f32_to_bf16(b) << 16);
    }
    static __device__ __forceinline__ void run(float (&c)[4], u32 a0, u32 a1, u32 a2, u32 a3, u32 b0, u32 b1) {
#if __CUDA_ARCH__ >= 800
        asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#else
        __trap(); // the Go side takes this kernel from sm_80 on only
#endif
    }
};
template <> struct Mma<f16_t> {
    static __device__ __forceinline__ u32 pack(float a, float b) {
        return (u32)f32_to_f16(a) | ((u32)f32_to_f16(b) << 16);
    }
    static __device__ __forceinline__ void run(float (&c)[4], u32 a0, u32 a1, u32 a2, u32 a3, u32 b0, u32 b1) {
#if __CUDA_ARCH__ >= 800
        asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#else
        __trap();
#endif
    }
};


__device__ __forceinline__ float sk_epilogue(int mode, const float *d, float v, float u) {
    if (mode == SK_SWIGLU) return v / (1.0f + expf(-v)) * u;
    return mode == SK_ADD ? *d + v : v;
}

// NT tiles of 8 rows of x: n ≤ 8·NT.
template <int NT, typename W> __device__ __forceinline__ void skinny(const SkinnyArgs &a) {
    __shared__ __attribute__((aligned(16))) u16 xs[NT * 8 * SK_XS];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
    const int n = a.n, k = a.k, mode = a.mode;

    // This block's segment, block column and split.
    int blk = blockIdx.x, s = 0, cbase = 0;
    if (a.nseg > 1 && blk >= a.seg[0].blocks) {
        blk -= a.seg[0].blocks;
        cbase += a.seg[0].blocks / a.seg[0].splits;
        s = 1;
        if (a.nseg > 2 && blk >= a.seg[1].blocks) {
            blk -= a.seg[1].blocks;
            cbase += a.seg[1].blocks / a.seg[1].splits;
            s = 2;
        }
    }
    const SkinnySeg sg = s == 0 ? a.seg[0] : s == 1 ? a.seg[1] : a.seg[2];
    const int splits = sg.splits, m = sg.m;
    const int split = blk % splits, col = blk / splits;
    const bool swiglu = mode == SK_SWIGLU;
    // Weight rows of the warp's two tiles: rows r0[mt] … r0[mt] + 15 of w[mt].
    const W *w[2];
    int r0[2];
    if (swiglu) {
        w[0] = (const W *)a.seg[0].w;
        w[1] = (const W *)a.seg[1].w;
        r0[0] = r0[1] = col * (SK_ROWS / 2) + warp * 16;
    } else {
        w[0] = w[1] = (const W *)sg.w;
        r0[0] = col * SK_ROWS + warp * 32;
        r0[1] = r0[0] + 16;
    }
    const u32x4 *wp[2][2]; // [tile][row g, row g + 8]; rows past m read row m − 1, never written
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int h = 0; h < 2; h++)
            wp[mt][h] = reinterpret_cast<const u32x4 *>(w[mt] + (long long)min(r0[mt] + g + 8 * h, m - 1) * k);

    float acc[2][NT][4];
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int q = 0; q < 4; q++) acc[mt][nt][q] = 0.0f;

    const int tiles = (k + SK_KT - 1) / SK_KT;
    const int kt0 = split * sg.tps, kt1 = min(tiles, kt0 + sg.tps);
    for (int kt = kt0; kt < kt1; kt++) {
        const int k0 = kt * SK_KT;
        u32x4 wv[4][2][2];
#pragma unroll
        for (int c = 0; c < 4; c++) {
            const int e = k0 + 32 * c + 8 * t; // k is a multiple of 8: a chunk is all in or all out
#pragma unroll
            for (int mt = 0; mt < 2; mt++)
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    if (e < k) {
                        wv[c][mt][h] = load_w<2>(wp[mt][h] + e / 8);
                    } else {
                        wv[c][mt][h].x = wv[c][mt][h].y = wv[c][mt][h].z = wv[c][mt][h].w = 0u;
                    }
                }
        }
        __syncthreads(); // every warp is done with the previous tile of x
        for (int i = tid; i < NT * 8 * (SK_KT / 4); i += SK_THREADS) {
            const int r = i / (SK_KT / 4), q = i % (SK_KT / 4), e = k0 + 4 * q;
            f32x4 v = {0.0f, 0.0f, 0.0f, 0.0f};
            if (r < n && e < k) v = *reinterpret_cast<const f32x4 *>(a.x + (long long)r * k + e);
            u32x2 p;
            p.x = Mma<W>::pack(v.x, v.y);
            p.y = Mma<W>::pack(v.z, v.w);
            *reinterpret_cast<u32x2 *>(xs + r * SK_XS + 4 * q) = p;
        }
        __syncthreads();
#pragma unroll
        for (int c = 0; c < 4; c++)
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
                const u32x4 b = *reinterpret_cast<const u32x4 *>(xs + (nt * 8 + g) * SK_XS + 32 * c + 8 * t);
#pragma unroll
                for (int mt = 0; mt < 2; mt++) {
                    const u32x4 &lo = wv[c][mt][0], &hi = wv[c][mt][1];
                    Mma<W>::run(acc[mt][nt], lo.x, hi.x, lo.y, hi.y, b.x, b.y);
                    Mma<W>::run(acc[mt][nt], lo.z, hi.z, lo.w, hi.w, b.z, b.w);
                }
            }
    }

    // Fragment element q of acc[mt][nt] is weight row r0[mt] + g + 8·(q / 2)
    // and row nt·8 + 2t + q % 2 of x.
    if (splits == 1) {
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int q = 0; q < 4; q++) {
                const int i = nt * 8 + 2 * t + (q & 1);
                if (i >= n) continue;
                if (swiglu) {
                    const int j = r0[0] + g + 8 * (q >> 1);
                    if (j < m) a.seg[0].d[(long long)i * m + j] = sk_epilogue(mode, 0, acc[0][nt][q], acc[1][nt][q]);
                } else {
#pragma unroll
                    for (int mt = 0; mt < 2; mt++) {
                        const int j = r0[mt] + g + 8 * (q >> 1);
                        if (j < m) {
                            float *d = sg.d + (long long)i * m + j;
                            *d = sk_epilogue(mode, d, acc[mt][nt][q], 0.0f);
                        }
                    }
                }
            }
        return;
    }
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
        for (int q = 0; q < 4; q++) {
            const int i = nt * 8 + 2 * t + (q & 1);
            if (i >= n) continue;
#pragma unroll
            for (int mt = 0; mt < 2; mt++) {
                const int j = r0[mt] + g + 8 * (q >> 1);
                float *part = swiglu ? a.seg[mt].part : sg.part;
                if (j < m) part[((long long)split * n + i) * m + j] = acc[mt][nt][q];
            }
        }
    if (!last_block(a.count + cbase + col, splits)) return;
    const int cols = swiglu ? SK_ROWS / 2 : SK_ROWS, j0 = col * cols;
    const long long stride = (long long)n * m; // between splits
    for (int e = tid; e < n * cols; e += SK_THREADS) {
        const int i = e / cols, j = j0 + e % cols;
        if (j >= m) continue;
        const long long o = (long long)i * m + j;
        const float *p = swiglu ? a.seg[0].part : sg.part;
        float v = ld_cg(p + o);
        for (int sp = 1; sp < splits; sp++) v += ld_cg(p + sp * stride + o);
        float u = 0.0f;
        if (swiglu) {
            const float *pu = a.seg[1].part;
            u = ld_cg(pu + o);
            for (int sp = 1; sp < splits; sp++) u += ld_cg(pu + sp * stride + o);
        }
        float *d = (swiglu ? a.seg[0].d : sg.d) + o;
        *d = sk_epilogue(mode, d, v, u);
    }
}

#define SKINNY(NAME, W, NT)                                                                                   \
    extern "C" __global__ void __launch_bounds__(SK_THREADS, 2) NAME(const SkinnyArgs a) { griddep_wait(); skinny<NT, W>(a); }
// Named skinny_<weights>_n<most rows of x>.
SKINNY(skinny_bf16_n16, bf16_t, 2)
SKINNY(skinny_bf16_n32, bf16_t, 4)
SKINNY(skinny_bf16_n64, bf16_t, 8)
SKINNY(skinny_f16_n16, f16_t, 2)
SKINNY(skinny_f16_n32, f16_t, 4)
SKINNY(skinny_f16_n64, f16_t, 8)
