// Drawing tokens on the device (compute.Sampler, whose definition is
// compute.SampleRow): for each row of logits, with weights
// w = e^(l/T − max/T) in double, the kept columns (top-k: at or above the
// k-th largest logit; top-p, of those: by logit descending, the lower id
// first, up to the first column at which the running weight reaches
// top_p of theirs), and the first kept column in id order whose running
// weight exceeds u times the kept weight, u from the row's 64 bits as
// math/rand/v2's Float64 makes it.
//
// No sort: both boundaries are found by radix selection over an order key,
// a few passes each, every pass one launch of sample_f32 over the grid
// (blocks of a row × rows) whose last block of a row (last_block) makes the
// pass's decision into the row's state in the scratch:
//
//   pass 0         the row's largest logit; the state set up
//   passes 1–4     top-k: the k-th largest key, 8 bits a pass, by counts
//   passes 5–11    top-p: the boundary's key, 8 bits a pass, by weights
//   pass 12        the draw: each block's kept weight, then the last block
//                  finds the block, the thread and the column
//
// A logit's key orders floats as integers (−0 as 0); top-p's key is that
// key above 24 bits of ~id, so that keys are distinct and descending keys
// are logits descending, lower ids first. Sums run in another order than
// the host's: a draw differs only where its target lies within rounding of
// a column's edge. Every sum runs in an order the row's shape fixes, so a
// draw is the same from run to run: top-p's histogram, which threads and
// blocks add to with atomics in any order, takes each thread's run of
// weights as three 64-bit integers (smp_fixed), whose sums are exact and
// so the same in any order. Where rounding leaves the draw's target
// unreached, the last kept column of positive weight is drawn (the host's
// running sum reaches its own total exactly and never falls back): odds
// of about 1e-15 a draw; a column of weight 0 (a logit of −Inf, or one
// whose weight underflows) is never drawn.
//
// A block takes SMP_CHUNK consecutive columns, each thread SMP_PER
// consecutive ones: the draw's last block walks one block's columns by
// threads in id order.

#define SMP_THREADS 256
#define SMP_PER 16
#define SMP_CHUNK (SMP_THREADS * SMP_PER)
#define SMP_BINS 256

// SmpRow is a row's state; the scratch of a row is SmpRow (64 bytes), the
// histogram's weights (unsigned long long[3][256], smp_fixed's three
// parts) and counts (unsigned[256]), then each block's kept weight
// (double[S]), last kept column (int[S]) and largest logit (float[S]), S
// blocks a row: the Go side's sampleRowBytes.
struct SmpRow {
    double target;          // top-p: the weight still sought under the prefix
    unsigned long long pkey; // top-p: the boundary key's bits from pshift up
    float m;                // the row's largest logit
    unsigned kkey;          // top-k: the k-th largest key's bits decided
    int krank;              // top-k: its rank among the keys under the prefix
    int pshift;             // top-p: the lowest bit decided; 64 for none
    int pdone;              // top-p: one column holds the prefix
};

__device__ __forceinline__ unsigned smp_key(float v) {
    const unsigned u = __float_as_uint(v == 0.0f ? 0.0f : v);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ unsigned long long smp_pkey(float v, int i) {
    return ((unsigned long long)smp_key(v) << 24) | (unsigned long long)(0xffffff - i);
}

// smp_block_sum: the block's sum in a fixed order; every thread gets it.
__device__ __forceinline__ double smp_block_sum(double v, double *sh) {
    v = warp_sum(v);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    double s = 0.0;
    for (int w = 0; w < SMP_THREADS / 32; w++) s += sh[w];
    return s;
}

// smp_fixed splits a weight w in [0, 2^24) into whole multiples of 2^-36,
// 2^-74 and 2^-112 (parts below 2^60, 2^38 and 2^38), exactly where w ≥
// 2^-59 and to within 2^-112 below: sums of parts are integer sums, the
// same in any order, and a row's cannot overflow (at most 2^24 runs,
// whose weights, each column's at most 1, sum below 2^24). Each step is
// exact (a product by a power of two, a number less its floor).
__device__ __forceinline__ void smp_fixed(double w, unsigned long long q[3]) {
    double r = w * 0x1p36;
    double f = floor(r);
    q[0] = (unsigned long long)f;
    r = (r - f) * 0x1p38;
    f = floor(r);
    q[1] = (unsigned long long)f;
    q[2] = (unsigned long long)floor((r - f) * 0x1p38);
}

// smp_unfixed is the weight of summed parts, in double, by one formula.
__device__ __forceinline__ double smp_unfixed(unsigned long long a, unsigned long long b, unsigned long long c) {
    return (double)a * 0x1p-36 + ((double)b * 0x1p-74 + (double)c * 0x1p-112);
}

// smp_flush adds a thread's run of one digit to the block's histogram:
// its count, and its weight where hq (the parts, [3][SMP_BINS]) is given.
__device__ __forceinline__ void smp_flush(unsigned long long *hq, unsigned *hc, int d, double w, unsigned c) {
    if (c == 0) return;
    if (hq) {
        unsigned long long q[3];
        smp_fixed(w, q);
        for (int j = 0; j < 3; j++)
            if (q[j]) atomicAdd(hq + j * SMP_BINS + d, q[j]);
    }
    atomicAdd(hc + d, c);
}

// smp_first is warp 0's search of n ≤ 256 entries in order i = 0 … n−1
// (lane l takes the entries 8l … 8l+7): of the entries with has(i), the
// first at which acc0 plus the running sum of val(i) reaches target
// (exceeds it, if strict). It returns that i, or −1 for none, in every
// lane, with the sum before it in *before and the last entry with has(i)
// in *lastHas (−1 for none), and acc0 plus every entry's in *sum. Lane
// sums are scanned, then each lane walks its own entries: one dependent
// chain of 8 instead of 256.
template <typename T, typename E>
__device__ __forceinline__ int smp_first(int n, E entry, T acc0, T target, bool strict, T *before, int *lastHas,
                                         T *sum) {
    const int lane = threadIdx.x & 31, i0 = lane * 8, i1 = min(n, i0 + 8);
    T mine = 0;
    int last = -1;
    for (int i = i0; i < i1; i++) {
        T v;
        bool has;
        entry(i, v, has);
        if (has) mine += v, last = i;
    }
    T incl = mine; // inclusive scan of the lanes' sums
    for (int o = 1; o < 32; o <<= 1) {
        const T y = __shfl_up_sync(FULL_MASK, incl, o);
        if (lane >= o) incl += y;
    }
    T run = __shfl_up_sync(FULL_MASK, incl, 1);
    run = acc0 + (lane == 0 ? (T)0 : run);
    int hit = -1;
    T prior = 0;
    for (int i = i0; i < i1 && hit < 0; i++) {
        T v;
        bool has;
        entry(i, v, has);
        if (!has) continue;
        const T next = run + v;
        if (strict ? next > target : next >= target) hit = i, prior = run;
        run = next;
    }
    const unsigned hits = __ballot_sync(FULL_MASK, hit >= 0);
    for (int o = 16; o > 0; o >>= 1) last = max(last, __shfl_xor_sync(FULL_MASK, last, o));
    *lastHas = last;
    *sum = acc0 + __shfl_sync(FULL_MASK, incl, 31);
    if (hits == 0) return -1;
    const int src = __ffs(hits) - 1;
    *before = __shfl_sync(FULL_MASK, prior, src);
    return __shfl_sync(FULL_MASK, hit, src);
}

extern "C" __global__ void __launch_bounds__(SMP_THREADS)
sample_f32(int *__restrict__ ids, const float *__restrict__ logits, const unsigned *__restrict__ bits,
           char *__restrict__ scratch, unsigned *__restrict__ count, int cols, long long rowBytes, int pass,
           double temp, int topk, double topp) {
    griddep_wait();
    __shared__ double shw[SMP_BINS];
    __shared__ unsigned long long shq[3 * SMP_BINS];
    __shared__ unsigned shc[SMP_BINS];
    __shared__ double shs[SMP_THREADS / 32];
    __shared__ double sub[SMP_THREADS];
    __shared__ int subLast[SMP_THREADS];
    __shared__ int pickBlock, pickLast;
    __shared__ double pickTarget, pickAcc;

    const int row = blockIdx.y, t = threadIdx.x, S = gridDim.x;
    char *base = scratch + (long long)row * rowBytes;
    SmpRow *st = reinterpret_cast<SmpRow *>(base);
    unsigned long long *hist = reinterpret_cast<unsigned long long *>(base + 64);
    unsigned *cnt = reinterpret_cast<unsigned *>(base + 64 + 24 * SMP_BINS);
    double *part = reinterpret_cast<double *>(base + 64 + 28 * SMP_BINS);
    int *plast = reinterpret_cast<int *>(part + S);
    float *pmax = reinterpret_cast<float *>(plast + S);
    const float *lg = logits + (long long)row * cols;
    const int c0 = blockIdx.x * SMP_CHUNK + t * SMP_PER, c1 = min(cols, c0 + SMP_PER);
    const bool useK = topk > 0, useP = topp > 0.0;

    if (pass == 0) { // the largest logit
        float m = NEG_INF;
        for (int i = c0; i < c1; i++) m = fmaxf(m, lg[i]);
        m = warp_max(m);
        __shared__ float shm[SMP_THREADS / 32];
        if ((t & 31) == 0) shm[t >> 5] = m;
        __syncthreads();
        if (t == 0) {
            for (int w = 1; w < SMP_THREADS / 32; w++) m = fmaxf(m, shm[w]);
            pmax[blockIdx.x] = m;
        }
        if (!last_block(count + row, S)) return;
        const volatile float *vm = pmax;
        float M = NEG_INF;
        for (int x = t; x < S; x += SMP_THREADS) M = fmaxf(M, vm[x]);
        M = warp_max(M);
        if ((t & 31) == 0) shm[t >> 5] = M;
        __syncthreads();
        if (t == 0) {
            for (int w = 0; w < SMP_THREADS / 32; w++) M = fmaxf(M, shm[w]);
            st->m = M;
            st->kkey = 0;
            st->krank = topk;
            st->pkey = 0;
            st->pshift = 64;
            st->pdone = 0;
            st->target = 0.0;
        }
        for (int c = t; c < SMP_BINS; c += SMP_THREADS) hist[c] = hist[SMP_BINS + c] = hist[2 * SMP_BINS + c] = 0, cnt[c] = 0;
        return;
    }

    const volatile SmpRow *vs = st;
    const double mT = (double)vs->m / temp;
    const unsigned kkey = vs->kkey;
    const bool inKAll = !useK;
    for (int c = t; c < SMP_BINS; c += SMP_THREADS) shq[c] = shq[SMP_BINS + c] = shq[2 * SMP_BINS + c] = 0, shc[c] = 0;
    __syncthreads();

    if (pass <= 4) { // top-k: the k-th largest key, 8 bits a pass from the top
        const int shift = 24 - 8 * (pass - 1);
        int d0 = -1;
        unsigned run = 0;
        for (int i = c0; i < c1; i++) {
            const unsigned k = smp_key(lg[i]);
            if (pass > 1 && (k >> (shift + 8)) != (kkey >> (shift + 8))) continue;
            const int d = (k >> shift) & 0xff;
            if (d != d0) smp_flush(nullptr, shc, d0 < 0 ? 0 : d0, 0.0, run), d0 = d, run = 0;
            run++;
        }
        smp_flush(nullptr, shc, d0 < 0 ? 0 : d0, 0.0, run);
        __syncthreads();
        for (int c = t; c < SMP_BINS; c += SMP_THREADS)
            if (shc[c]) atomicAdd(cnt + c, shc[c]);
        if (!last_block(count + row, S)) return;
        const volatile unsigned *vc = cnt;
        for (int c = t; c < SMP_BINS; c += SMP_THREADS) shc[c] = vc[c];
        __syncthreads();
        if (t < 32) { // bins from the top: the one holding the rank-th key
            const unsigned rank = (unsigned)vs->krank;
            unsigned before = 0, before2;
            int lastHas;
            int sel = smp_first<unsigned>(
                SMP_BINS, [&](int i, unsigned &v, bool &has) { v = shc[SMP_BINS - 1 - i], has = v != 0; }, 0u, rank,
                false, &before, &lastHas, &before2);
            if (t == 0) {
                sel = SMP_BINS - 1 - (sel < 0 ? lastHas : sel); // none: rounding cannot happen in counts
                st->krank = (int)(rank - before);
                st->kkey = kkey | ((unsigned)sel << shift);
            }
        }
        __syncthreads();
        for (int c = t; c < SMP_BINS; c += SMP_THREADS) cnt[c] = 0;
        return;
    }

    const bool pdone = vs->pdone;
    const unsigned long long pkey = vs->pkey;
    const int pshift = vs->pshift;

    if (pass <= 11) { // top-p: the boundary's key, 8 bits a pass from the top
        if (pdone) return; // every block of the row alike
        const int shift = 48 - 8 * (pass - 5);
        int d0 = -1;
        double runw = 0.0;
        unsigned run = 0;
        for (int i = c0; i < c1; i++) {
            const float v = lg[i];
            if (!inKAll && smp_key(v) < kkey) continue;
            const unsigned long long k = smp_pkey(v, i);
            if (pass > 5 && (k >> (shift + 8)) != (pkey >> (shift + 8))) continue;
            const int d = (int)((k >> shift) & 0xff);
            if (d != d0) smp_flush(shq, shc, d0 < 0 ? 0 : d0, runw, run), d0 = d, runw = 0.0, run = 0;
            runw += exp((double)v / temp - mT);
            run++;
        }
        smp_flush(shq, shc, d0 < 0 ? 0 : d0, runw, run);
        __syncthreads();
        for (int c = t; c < SMP_BINS; c += SMP_THREADS)
            if (shc[c]) {
                for (int j = 0; j < 3; j++)
                    if (shq[j * SMP_BINS + c]) atomicAdd(hist + j * SMP_BINS + c, shq[j * SMP_BINS + c]);
                atomicAdd(cnt + c, shc[c]);
            }
        if (!last_block(count + row, S)) return;
        const volatile unsigned long long *vq = hist;
        const volatile unsigned *vc = cnt;
        for (int c = t; c < SMP_BINS; c += SMP_THREADS)
            shw[c] = smp_unfixed(vq[c], vq[SMP_BINS + c], vq[2 * SMP_BINS + c]), shc[c] = vc[c];
        __syncthreads();
        double target = vs->target;
        if (pass == 5) // top_p of the kept columns' weight
            target = topp * smp_block_sum(t < SMP_BINS ? shw[t] : 0.0, shs);
        if (t < 32) { // bins from the top: the one where the weight reaches the target
            double before = 0.0, all;
            int lastHas;
            int sel = smp_first<double>(
                SMP_BINS, [&](int i, double &v, bool &has) { v = shw[SMP_BINS - 1 - i], has = shc[SMP_BINS - 1 - i] != 0; },
                0.0, target, false, &before, &lastHas, &all);
            if (t == 0) {
                if (sel < 0) { // rounding: none reached; the last column in order
                    sel = lastHas;
                    st->target = __longlong_as_double(0x7ff0000000000000LL);
                } else {
                    st->target = target - before;
                }
                sel = SMP_BINS - 1 - sel;
                st->pkey = pkey | ((unsigned long long)sel << shift);
                st->pshift = shift;
                st->pdone = shc[sel] == 1;
            }
        }
        __syncthreads();
        for (int c = t; c < SMP_BINS; c += SMP_THREADS) hist[c] = hist[SMP_BINS + c] = hist[2 * SMP_BINS + c] = 0, cnt[c] = 0;
        return;
    }

    // pass 12: the draw. A column is kept at or above the k-th key and, for
    // top-p, at or above the boundary's key (its prefix, when that holds
    // one column).
    const unsigned long long ptop = useP ? (pkey >> pshift) : 0;
    double mine = 0.0;
    int last = -1;
    for (int i = c0; i < c1; i++) {
        const float v = lg[i];
        if (!inKAll && smp_key(v) < kkey) continue;
        if (useP && (smp_pkey(v, i) >> pshift) < ptop) continue;
        const double w = exp((double)v / temp - mT);
        mine += w;
        if (w > 0.0) last = i; // a fallback never draws a column of no weight
    }
    const double blockW = smp_block_sum(mine, shs);
    for (int o = 16; o > 0; o >>= 1) last = max(last, __shfl_xor_sync(FULL_MASK, last, o));
    __shared__ int shl[SMP_THREADS / 32];
    if ((t & 31) == 0) shl[t >> 5] = last;
    __syncthreads();
    if (t == 0) {
        for (int w = 0; w < SMP_THREADS / 32; w++) last = max(last, shl[w]);
        part[blockIdx.x] = blockW;
        plast[blockIdx.x] = last;
    }
    if (!last_block(count + row, S)) return;
    const volatile double *vp = part;
    const volatile int *vl = plast;
    double tw = 0.0;
    for (int x = t; x < S; x += SMP_THREADS) tw += vp[x];
    const unsigned long long b = (unsigned long long)bits[2 * row] | ((unsigned long long)bits[2 * row + 1] << 32);
    const double target = (double)(b & ((1ULL << 53) - 1)) * 0x1p-53 * smp_block_sum(tw, shs);
    // The block where the running weight passes the target, 256 at a time.
    if (t == 0) pickBlock = -1, pickLast = -1, pickAcc = 0.0;
    for (int x0 = 0; x0 < S; x0 += SMP_THREADS) {
        const int nx = min(SMP_THREADS, S - x0);
        __syncthreads();
        if (t < nx) sub[t] = vp[x0 + t], subLast[t] = vl[x0 + t];
        __syncthreads();
        if (t < 32) {
            double before, all;
            int lastHas;
            const int hit = smp_first<double>(
                nx, [&](int i, double &v, bool &has) { v = sub[i], has = subLast[i] >= 0; }, pickAcc, target, true,
                &before, &lastHas, &all);
            if (t == 0) {
                if (lastHas >= 0) pickLast = subLast[lastHas];
                if (hit >= 0) pickBlock = x0 + hit, pickTarget = target - before;
                pickAcc = all;
            }
        }
        __syncthreads();
        if (pickBlock >= 0) break;
    }
    const int j = pickBlock;
    if (j < 0) { // rounding: the last kept column
        if (t == 0) ids[row] = pickLast;
        return;
    }
    // The block j's columns again, by this block's threads in id order.
    const int d0 = j * SMP_CHUNK + t * SMP_PER, d1 = min(cols, d0 + SMP_PER);
    mine = 0.0;
    last = -1;
    for (int i = d0; i < d1; i++) {
        const float v = lg[i];
        if (!inKAll && smp_key(v) < kkey) continue;
        if (useP && (smp_pkey(v, i) >> pshift) < ptop) continue;
        const double w = exp((double)v / temp - mT);
        mine += w;
        if (w > 0.0) last = i;
    }
    sub[t] = mine;
    subLast[t] = last;
    __syncthreads();
    if (t >= 32) return;
    double before, all;
    int lastHas;
    const int x = smp_first<double>(
        SMP_THREADS, [&](int i, double &v, bool &has) { v = sub[i], has = subLast[i] >= 0; }, 0.0, pickTarget, true,
        &before, &lastHas, &all);
    if (t != 0) return;
    if (x < 0) { // rounding past them all: the block's last kept column
        ids[row] = subLast[lastHas];
        return;
    }
    // x's columns one by one; rounding past them all: x's last.
    int pick = subLast[x];
    double acc = before;
    const int e0 = j * SMP_CHUNK + x * SMP_PER, e1 = min(cols, e0 + SMP_PER);
    for (int i = e0; i < e1; i++) {
        const float v = lg[i];
        if (!inKAll && smp_key(v) < kkey) continue;
        if (useP && (smp_pkey(v, i) >> pshift) < ptop) continue;
        if ((acc += exp((double)v / temp - mT)) > pickTarget) {
            pick = i;
            break;
        }
    }
    ids[row] = pick;
}
