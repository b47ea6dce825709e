// Token selection on the device (compute.Selector): for each row of logits,
// the first column of the largest value other than `exclude`, and that
// column's softmax probability over the whole row. Only ids and
// probabilities cross to the host instead of 126k logits per position.
//
// One block of 1024 threads per row. Each thread walks its elements in
// increasing order (16-byte loads, four in flight, when the row is aligned),
// keeping a running maximum m over every element, the sum s of e^(v−m) in
// double (rescaled by e^(m_old−m_new), computed in double, when m grows),
// and its best candidate (value, index) among the columns other than
// exclude. A fixed tree then merges the threads: the largest m, the sums
// rescaled to it, and the candidate of larger value or, on a tie, smaller
// index. The probability is e^(v_best − m) / s in double, rounded once,
// toward zero (compute.Selector: a float32 threshold compares as in double).
//
// Accuracy against the float64 definition: each term e^(v−m) is expf of a
// float difference, within about 2 ulp plus |v−m|·2^-24 relative; since
// e^d·|d| ≤ 1/e those errors add up to a few parts in 10^7 of s at most,
// and the numerator is computed in double: within the 1e-6 relative the
// conformance suite asks.

#define SEL_THREADS 1024

struct SelState {
    float m;  // the largest value seen
    double s; // Σ e^(v − m) over the values seen
    float bv; // the best candidate's value
    int bi;   // its column, −1 for none yet
};

__device__ __forceinline__ void sel_visit(SelState &st, float v, int i, int exclude) {
    if (v > st.m) {
        st.s = st.s * exp((double)st.m - (double)v) + 1.0; // e^(−inf) = 0 on the first value
        st.m = v;
    } else if (st.m != NEG_INF) { // else v and m are −inf: a zero term
        st.s += (double)expf(v - st.m);
    }
    if (i != exclude && (st.bi < 0 || v > st.bv)) {
        st.bv = v;
        st.bi = i;
    }
}

// sel_visit4 visits the four columns from i of a 16-byte load, in order.
__device__ __forceinline__ void sel_visit4(SelState &st, const f32x4 &v, int i, int exclude) {
    sel_visit(st, v.x, i, exclude);
    sel_visit(st, v.y, i + 1, exclude);
    sel_visit(st, v.z, i + 2, exclude);
    sel_visit(st, v.w, i + 3, exclude);
}

// merge folds o into st; both come from disjoint sets of columns.
__device__ __forceinline__ void sel_merge(SelState &st, const SelState &o) {
    const float M = fmaxf(st.m, o.m);
    if (M != NEG_INF) { // both −inf: nothing to rescale, the sums stay
        st.s = (st.m == M ? st.s : st.s * exp((double)st.m - (double)M)) +
               (o.m == M ? o.s : o.s * exp((double)o.m - (double)M));
    } else {
        st.s += o.s;
    }
    st.m = M;
    if (o.bi >= 0 && (st.bi < 0 || o.bv > st.bv || (o.bv == st.bv && o.bi < st.bi))) {
        st.bv = o.bv;
        st.bi = o.bi;
    }
}

__device__ __forceinline__ SelState sel_shfl_xor(const SelState &st, int o) {
    SelState r;
    r.m = __shfl_xor_sync(FULL_MASK, st.m, o);
    r.s = __shfl_xor_sync(FULL_MASK, st.s, o);
    r.bv = __shfl_xor_sync(FULL_MASK, st.bv, o);
    r.bi = __shfl_xor_sync(FULL_MASK, st.bi, o);
    return r;
}

// vec: the row is 16-byte aligned and cols a multiple of 4.
extern "C" __global__ void __launch_bounds__(SEL_THREADS)
argmax_prob_f32(int *__restrict__ ids, float *__restrict__ probs, const float *__restrict__ logits, int cols,
                int exclude, int vec) { griddep_wait();
    __shared__ SelState part[SEL_THREADS / 32];
    const float *row = logits + (long long)blockIdx.x * cols;
    const int t = threadIdx.x;
    SelState st;
    st.m = NEG_INF;
    st.s = 0.0;
    st.bv = NEG_INF;
    st.bi = -1;
    if (vec) {
        const f32x4 *r4 = reinterpret_cast<const f32x4 *>(row);
        const int n4 = cols / 4;
        int c = t;
        for (; c + 3 * SEL_THREADS < n4; c += 4 * SEL_THREADS) {
            const f32x4 a = r4[c], b = r4[c + SEL_THREADS], d = r4[c + 2 * SEL_THREADS], e = r4[c + 3 * SEL_THREADS];
            const f32x4 v[4] = {a, b, d, e};
#pragma unroll
            for (int u = 0; u < 4; u++) sel_visit4(st, v[u], 4 * (c + u * SEL_THREADS), exclude);
        }
        for (; c < n4; c += SEL_THREADS) sel_visit4(st, r4[c], 4 * c, exclude);
    } else {
        for (int i = t; i < cols; i += SEL_THREADS) sel_visit(st, row[i], i, exclude);
    }
    for (int o = 16; o > 0; o >>= 1) sel_merge(st, sel_shfl_xor(st, o));
    if ((t & 31) == 0) part[t >> 5] = st;
    __syncthreads();
    if (t >= 32) return;
    st = part[t];
    for (int o = 16; o > 0; o >>= 1) sel_merge(st, sel_shfl_xor(st, o));
    if (t == 0) {
        ids[blockIdx.x] = st.bi;
        probs[blockIdx.x] = st.bi < 0 ? 0.0f : __double2float_rz(exp((double)st.bv - (double)st.m) / st.s);
    }
}

// argmax_prob_split_f32: the same selection over many blocks per row, for
// rows whose one block would leave the GPU idle (decoding: one row of 128k
// logits took 40 µs on one SM). Block (x, row) takes the columns [x·chunk,
// (x+1)·chunk) with SEL2_THREADS threads, each walking its columns as
// above, and writes its merged state to part[row·gridDim.x + x]; the last
// block of a row to finish (an atomic counter, reset by that block for the
// next launch) merges the row's states: lane l of its first warp the states
// l, l + 32, … in order, then the warp's fixed tree. The split depends on
// the number of columns only, so a row's result does not depend on the
// rows beside it.
#define SEL2_THREADS 256

__device__ __forceinline__ SelState sel_block(SelState st, SelState *part) {
    const int t = threadIdx.x;
    for (int o = 16; o > 0; o >>= 1) sel_merge(st, sel_shfl_xor(st, o));
    if ((t & 31) == 0) part[t >> 5] = st;
    __syncthreads();
    if (t < 32) {
        st = t < (int)(blockDim.x >> 5) ? part[t] : SelState{NEG_INF, 0.0, NEG_INF, -1};
        for (int o = 16; o > 0; o >>= 1) sel_merge(st, sel_shfl_xor(st, o));
    }
    return st; // thread 0 holds the block's state
}

extern "C" __global__ void __launch_bounds__(SEL2_THREADS)
argmax_prob_split_f32(int *__restrict__ ids, float *__restrict__ probs, const float *__restrict__ logits, int cols,
                      int exclude, int vec, int chunk, SelState *__restrict__ part, unsigned *__restrict__ count) {
    griddep_wait();
    __shared__ SelState warps[SEL2_THREADS / 32];
    const int row = blockIdx.y, t = threadIdx.x;
    const float *r = logits + (long long)row * cols;
    const int c0 = blockIdx.x * chunk, c1 = min(cols, c0 + chunk);
    SelState st = {NEG_INF, 0.0, NEG_INF, -1};
    if (vec) { // chunk and cols are multiples of 4
        const f32x4 *r4 = reinterpret_cast<const f32x4 *>(r);
        int c = c0 / 4 + t;
        const int e4 = c1 / 4;
        for (; c + SEL2_THREADS < e4; c += 2 * SEL2_THREADS) {
            const f32x4 a = r4[c], b = r4[c + SEL2_THREADS];
            sel_visit4(st, a, 4 * c, exclude);
            sel_visit4(st, b, 4 * (c + SEL2_THREADS), exclude);
        }
        for (; c < e4; c += SEL2_THREADS) sel_visit4(st, r4[c], 4 * c, exclude);
    } else {
        for (int i = c0 + t; i < c1; i += SEL2_THREADS) sel_visit(st, r[i], i, exclude);
    }
    st = sel_block(st, warps);
    SelState *rp = part + (long long)row * gridDim.x;
    if (t == 0) rp[blockIdx.x] = st;
    if (!last_block(count + row, gridDim.x) || t >= 32) return;
    const volatile SelState *vp = rp;
    SelState m = {NEG_INF, 0.0, NEG_INF, -1};
    for (int x = t; x < (int)gridDim.x; x += 32) {
        SelState o;
        o.m = vp[x].m, o.s = vp[x].s, o.bv = vp[x].bv, o.bi = vp[x].bi;
        sel_merge(m, o);
    }
    for (int o = 16; o > 0; o >>= 1) sel_merge(m, sel_shfl_xor(m, o));
    if (t == 0) {
        ids[row] = m.bi;
        probs[row] = m.bi < 0 ? 0.0f : __double2float_rz(exp((double)m.bv - (double)m.m) / m.s);
    }
}

// Gumbel-max sampling (compute.GumbelSelector, whose definition is
// compute.GumbelArgmaxProbRow), as LLaDA's generate() samples a masked
// position: the column maximising l + T·g in double, g = −log(−log u) the
// standard Gumbel variate of a counter-based stream (gumbel_noise: u from
// SplitMix64's output of key + (i + 1)·γ), the first on ties, never
// exclude; and its softmax probability over the noiseless row, as
// argmax_prob's. Split as argmax_prob_split: block (x, row) takes the
// columns [x·chunk, (x+1)·chunk) with GUM_THREADS threads, the row's last
// block merges. The sum and product are rounded separately (no fused
// multiply-add), as the host's are.
#define GUM_THREADS 256

struct GumPart {
    SelState sel; // the row's maximum and its sum of e^(v − m)
    double gv;    // the best noisy value
    int gi;       // its column, −1 for none
};

__device__ __forceinline__ double gumbel_noise(unsigned long long key, int i) {
    unsigned long long z = key + (unsigned long long)(i + 1) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    const double u = __dmul_rn(__dadd_rn((double)(z >> 11), 0.5), 0x1p-53);
    return -log(-log(u));
}

__device__ __forceinline__ void gum_take(double &gv, int &gi, double ov, int oi) {
    if (oi >= 0 && (gi < 0 || ov > gv || (ov == gv && oi < gi))) gv = ov, gi = oi;
}

extern "C" __global__ void __launch_bounds__(GUM_THREADS)
gumbel_argmax_prob_f32(int *__restrict__ ids, float *__restrict__ probs, const float *__restrict__ logits,
                       const unsigned *__restrict__ keys, int cols, int exclude, double temp, int chunk,
                       GumPart *__restrict__ part, unsigned *__restrict__ count) {
    griddep_wait();
    __shared__ GumPart warps[GUM_THREADS / 32];
    const int row = blockIdx.y, t = threadIdx.x;
    const float *r = logits + (long long)row * cols;
    const unsigned long long key = (unsigned long long)keys[2 * row] | ((unsigned long long)keys[2 * row + 1] << 32);
    const int c0 = blockIdx.x * chunk, c1 = min(cols, c0 + chunk);
    SelState st = {NEG_INF, 0.0, NEG_INF, -1};
    double gv = (double)NEG_INF;
    int gi = -1;
    for (int i = c0 + t; i < c1; i += GUM_THREADS) { // increasing: the first of ties stays
        const float v = r[i];
        sel_visit(st, v, i, -1);
        if (i == exclude) continue;
        const double x = __dadd_rn((double)v, __dmul_rn(temp, gumbel_noise(key, i)));
        if (gi < 0 || x > gv) gv = x, gi = i;
    }
    for (int o = 16; o > 0; o >>= 1) {
        sel_merge(st, sel_shfl_xor(st, o));
        const double ov = __shfl_xor_sync(FULL_MASK, gv, o);
        const int oi = __shfl_xor_sync(FULL_MASK, gi, o);
        gum_take(gv, gi, ov, oi);
    }
    if ((t & 31) == 0) warps[t >> 5] = GumPart{st, gv, gi};
    __syncthreads();
    GumPart *rp = part + (long long)row * gridDim.x;
    if (t == 0) {
        GumPart b = warps[0];
        for (int w = 1; w < GUM_THREADS / 32; w++) {
            sel_merge(b.sel, warps[w].sel);
            gum_take(b.gv, b.gi, warps[w].gv, warps[w].gi);
        }
        rp[blockIdx.x] = b;
    }
    if (!last_block(count + row, gridDim.x) || t >= 32) return;
    const volatile GumPart *vp = rp;
    SelState m = {NEG_INF, 0.0, NEG_INF, -1};
    double bv = (double)NEG_INF;
    int bi = -1;
    for (int x = t; x < (int)gridDim.x; x += 32) {
        SelState o;
        o.m = vp[x].sel.m, o.s = vp[x].sel.s, o.bv = vp[x].sel.bv, o.bi = vp[x].sel.bi;
        sel_merge(m, o);
        gum_take(bv, bi, vp[x].gv, vp[x].gi);
    }
    for (int o = 16; o > 0; o >>= 1) {
        sel_merge(m, sel_shfl_xor(m, o));
        const double ov = __shfl_xor_sync(FULL_MASK, bv, o);
        const int oi = __shfl_xor_sync(FULL_MASK, bi, o);
        gum_take(bv, bi, ov, oi);
    }
    if (t == 0) {
        ids[row] = bi;
        probs[row] = bi < 0 ? 0.0f : __double2float_rz(exp((double)r[bi] - (double)m.m) / m.s);
    }
}

// Committing a diffusion step (compute.Unmasker): in each row of the canvas
// (n ids), of the block's bl positions from column start that hold the mask
// token, the k of largest probability (the lower position first on ties)
// take their picked ids. One block per row. A masked position's rank is the
// number of masked positions ahead of it; the ranks go to shared memory
// before any commit, so that every read of the block's tokens precedes
// every write. picked gets each row's committed positions by rank, −1 past
// its commits. Dynamic shared memory: bl ints.
extern "C" __global__ void unmask_i32(int *canvas, int *picked, const int *ids, const float *probs, int n, int start,
                                      int bl, int k, int mask) { griddep_wait();
    extern __shared__ int rank[];
    int *row = canvas + (long long)blockIdx.x * n + start;
    const int *id = ids + (long long)blockIdx.x * bl;
    const float *p = probs + (long long)blockIdx.x * bl;
    int *pk = picked + (long long)blockIdx.x * k;
    for (int r = threadIdx.x; r < k; r += blockDim.x)
        pk[r] = -1;
    for (int j = threadIdx.x; j < bl; j += blockDim.x) {
        int r = -1;
        if (row[j] == mask) {
            const float pj = p[j];
            r = 0;
            for (int i = 0; i < bl; i++) {
                const float pi = p[i];
                r += row[i] == mask && (pi > pj || (pi == pj && i < j));
            }
        }
        rank[j] = r;
    }
    __syncthreads();
    for (int j = threadIdx.x; j < bl; j += blockDim.x) {
        const int r = rank[j];
        if (r >= 0 && r < k) {
            row[j] = id[j];
            pk[r] = j;
        }
    }
}
