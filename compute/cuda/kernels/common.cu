// Helpers shared by every kernel file. The Go side compiles all the files as
// one NVRTC program, this one first (see kernelFiles in kernels.go).
//
// Nothing is included: machines that run the binary may have the NVRTC
// library without any CUDA headers. So bfloat16 and half are handled as raw
// 16-bit patterns, converted by hand, and vector loads use our own aligned
// structs. What NVRTC declares by itself is used freely: threadIdx and
// friends, __syncthreads, __shfl_*_sync, expf, sqrt, __uint_as_float.

typedef unsigned short u16;
typedef unsigned int u32;

// The storage types of the three float dtypes. A tensor of bf16_t or f16_t
// holds the raw bits as safetensors stores them.
struct bf16_t { u16 bits; };
struct f16_t { u16 bits; };

// 16-byte vectors for 128-bit loads; the address must be 16-byte aligned.
struct __attribute__((aligned(16))) u32x4 { u32 x, y, z, w; };
struct __attribute__((aligned(8))) u32x2 { u32 x, y; };
struct __attribute__((aligned(16))) f32x4 { float x, y, z, w; };

#define FULL_MASK 0xffffffffu
#define NEG_INF __uint_as_float(0xff800000u)

// bf16 → f32 is exact: the bf16 bits are the upper half of the float.
__device__ __forceinline__ float bf16_to_f32(u16 h) { return __uint_as_float(((u32)h) << 16); }

// f32 → bf16 rounds to nearest, ties to even; NaN stays a quiet NaN. The
// same as compute.F32ToBF16.
__device__ __forceinline__ u16 f32_to_bf16(float f) {
    u32 u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u16)((u >> 16) | 0x40u);
    return (u16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// Half conversions by the hardware's own instructions: exact widening, and
// narrowing with round to nearest even (subnormals kept, overflow to inf).
__device__ __forceinline__ float f16_to_f32(u16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
__device__ __forceinline__ u16 f32_to_f16(float f) {
    u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(bf16_t x) { return bf16_to_f32(x.bits); }
__device__ __forceinline__ float to_f32(f16_t x) { return f16_to_f32(x.bits); }

template <typename T> struct From;
template <> struct From<float> { static __device__ __forceinline__ float f32(float f) { return f; } };
template <> struct From<bf16_t> {
    static __device__ __forceinline__ bf16_t f32(float f) { bf16_t r; r.bits = f32_to_bf16(f); return r; }
};
template <> struct From<f16_t> {
    static __device__ __forceinline__ f16_t f32(float f) { f16_t r; r.bits = f32_to_f16(f); return r; }
};

// Store4<D>::run(p, v) narrows the four floats of v to D and stores them at
// p in one store: p is 16-byte aligned for float, 8-byte for 16 bits.
template <typename D> struct Store4 {
    static __device__ __forceinline__ void run(D *p, f32x4 v) {
        *reinterpret_cast<u32x2 *>(p) = u32x2{(u32)From<D>::f32(v.x).bits | (u32)From<D>::f32(v.y).bits << 16,
                                              (u32)From<D>::f32(v.z).bits | (u32)From<D>::f32(v.w).bits << 16};
    }
};
template <> struct Store4<float> {
    static __device__ __forceinline__ void run(float *p, f32x4 v) { *reinterpret_cast<f32x4 *>(p) = v; }
};

// Convert<D, S>::run converts one element; a same-type copy keeps the bits.
template <typename D, typename S> struct Convert {
    static __device__ __forceinline__ D run(S s) { return From<D>::f32(to_f32(s)); }
};
template <typename T> struct Convert<T, T> {
    static __device__ __forceinline__ T run(T s) { return s; }
};

// Warp reductions over all 32 lanes, in a fixed order: every lane ends with
// the same value.
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}
__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

// Programmatic dependent launch (sm_90 on): the backend may launch a kernel
// while the kernel before it in the stream is still running, so every
// kernel calls griddep_wait before it touches memory that one writes or
// reads (work on data nothing writes, such as asking L2 for weights, may
// come before it). Once the wait returns, the kernel lets the next one
// launch (launch_dependents) rather than when its last block exits: the
// next kernel's blocks start, and ask L2 for their weights, while this one
// runs; its own wait still returns only once this kernel has finished and
// its writes are visible. (Before the wait it measured 1 µs slower a decode
// layer, presumably as a chain of kernels launched early holds SMs while
// waiting; docs/perf.md, CUDA v10.) Elsewhere it is nothing.
__device__ __forceinline__ void griddep_wait() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// A load through L2 only: what other blocks of the running kernel wrote.
__device__ __forceinline__ float ld_cg(const float *p) {
    float v;
    asm volatile("ld.global.cg.f32 %0, [%1];" : "=f"(v) : "l"(p));
    return v;
}

// last_block: for kernels whose blocks each leave a partial state and whose
// last block to finish merges them. Every thread of the block calls it
// after writing its share of the state; it returns, in every thread,
// whether this block is the last of `blocks` to count at *c, and that block
// resets the counter for the next launch (a replayed graph). The fence
// before the count makes the block's state visible to the last block; the
// one after orders the last block's reads of the others' states.
__device__ __forceinline__ bool last_block(unsigned *c, unsigned blocks) {
    __shared__ bool last;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        last = atomicAdd(c, 1u) == blocks - 1;
        if (last) *c = 0;
    }
    __syncthreads();
    if (last) __threadfence();
    return last;
}

// grid_stride walks i over [0, n) across the whole grid.
#define grid_stride(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)
