package cuda

import (
	"embed"
	"fmt"
	"math"
	"strings"
	"sync"
	"unsafe"

	"dllmbench/compute"
	"dllmbench/internal/cuda"
)

//go:embed kernels/*.cu
var kernelFS embed.FS

// kernelFiles are compiled as one program in this order: common.cu holds
// what the others use, since nothing may be #included.
var kernelFiles = []string{"common.cu", "elementwise.cu", "gemv.cu", "attention.cu", "attention_tiled.cu", "select.cu", "sample.cu", "skinny.cu", "gemv_mma.cu", "attention_mma.cu"}

// source is the program NVRTC compiles, with #line marks so that its
// messages name the embedded files.
func source() string {
	var b strings.Builder
	for _, f := range kernelFiles {
		text, err := kernelFS.ReadFile("kernels/" + f)
		if err != nil {
			panic("cuda: embedded kernel " + f + " missing")
		}
		fmt.Fprintf(&b, "#line 1 \"%s\"\n%s\n", f, text)
	}
	return b.String()
}

// compileOptions are NVRTC's options for a device of compute capability
// major.minor: no fast math, so that expf, division and square roots are
// the accurate ones the float32 parity tests expect. No -lineinfo either:
// NVRTC 11.8 overflows its stack compiling any function template with it.
func compileOptions(major, minor int) []string {
	return []string{fmt.Sprintf("--gpu-architecture=sm_%d%d", major, minor), "-default-device", "--std=c++17"}
}

// The cubins of this process, by architecture: NVRTC runs at most once.
var cubins struct {
	sync.Mutex
	m map[string][]byte
}

// cubinFor returns the kernels compiled for compute capability
// major.minor: from this process, else from the kernel cache, else from
// NVRTC. fresh skips both caches (a cached cubin that failed to load) and
// replaces what they held. cached says the cubin came from the disk.
func cubinFor(major, minor int, fresh bool) (cubin []byte, cached bool, err error) {
	cubins.Lock()
	defer cubins.Unlock()
	arch := fmt.Sprintf("sm_%d%d", major, minor)
	if c, ok := cubins.m[arch]; ok && !fresh {
		return c, false, nil
	}
	vmaj, vmin, err := cuda.NVRTCVersion()
	if err != nil {
		return nil, false, fmt.Errorf("cuda: compiling the kernels for %s: %w", arch, err)
	}
	src, opts := source(), compileOptions(major, minor)
	cubin, cached, err = cachedCompile(KernelCacheDir(), cubinKey(src, opts, fmt.Sprintf("%d.%d", vmaj, vmin)), fresh,
		func() ([]byte, error) {
			c, _, err := cuda.Compile(src, "dllmbench_kernels.cu", opts)
			return c, err
		})
	if err != nil {
		return nil, false, fmt.Errorf("cuda: compiling the kernels for %s: %w", arch, err)
	}
	if cubins.m == nil {
		cubins.m = map[string][]byte{}
	}
	cubins.m[arch] = cubin
	return cubin, cached, nil
}

// cachedCompile returns key's cubin from the cache folder dir unless fresh,
// else compiles it and stores it there.
func cachedCompile(dir, key string, fresh bool, compile func() ([]byte, error)) ([]byte, bool, error) {
	if !fresh {
		if c, ok := readCubin(dir, key); ok {
			return c, true, nil
		}
	}
	c, err := compile()
	if err != nil {
		return nil, false, err
	}
	_ = writeCubin(dir, key, c) // a cache that cannot be written costs only time
	return c, false, nil
}

// kernel is a function of the loaded module.
type kernel struct {
	fn   cuda.Function
	name string
}

// kernels are the backend's functions; table names each one as the source
// does.
type kernels struct {
	add, siluMul, rmsNorm, rope, attnCombine kernel
	layerNorm, gelu, addRow                  kernel       // the encoder ops (encoder.go)
	attention                                [2]kernel    // [cache type: F32, BF16 (cacheSlot)]
	attnTiled                                [2]kernel    // F32 caches; heads of 64 and 128 (attnTiledHeads)
	attnMMA, attnMMA2, attnMMA4              [2]kernel    // BF16 caches; the same heads (one, two or four groups of warps: attnMMAForm)
	attnDecode, attnDecode4, attnDecodeG4    [2][2]kernel // [cache type][head]
	argmaxProb, argmaxProbSplit, setPtrs3    kernel
	unmask, sample, gumbel, lerp             kernel
	gemv                                     [3][gemvMaxRows]kernel       // [weight type: F32, BF16, F16][rows of x − 1]
	gemvSwiGLU                               [3][gemvMaxRows]kernel       // [BF16] and [F16] only
	gemvDeep                                 [3]kernel                    // n = 1, small grids: [BF16] and [F16] only
	rmsNormTo, siluMul16                     [3]kernel                    // results narrowed to [BF16] and [F16] (siluMul16: from operands of that type)
	cast                                     [3]kernel                    // F32 to [BF16] and [F16]
	copyRows                                 [3][3]kernel                 // [src][dst] types
	ropeStore                                [3]kernel                    // [cache type]
	gemvNorm, gemvSwiGLUNorm                 [3][gemvNormMaxRows]kernel   // [BF16] and [F16] only
	skinny                                   [3][len(skinnyTiles)]kernel  // [BF16] and [F16] only; [up to skinnyTiles[i]·8 rows]
	gemvMMA                                  [3][len(gemvMMATiles)]kernel // [BF16] and [F16] only; [tiles of 16 rows per block − 1]
}

// slot numbers the float dtypes for the kernel arrays.
func slot(dt compute.DType) int {
	switch dt {
	case compute.F32:
		return 0
	case compute.BF16:
		return 1
	case compute.F16:
		return 2
	}
	return -1
}

var slotNames = [3]string{"f32", "bf16", "f16"}

// cacheSlot numbers the dtypes of attention caches for the kernel arrays:
// the first two of slot's, F32 0 and BF16 1; anything else −1.
func cacheSlot(dt compute.DType) int {
	if s := slot(dt); s < len(cacheSlotNames) {
		return s
	}
	return -1
}

var cacheSlotNames = [2]string{"f32", "bf16"}

func (k *kernels) table() []*kernel {
	k.add.name, k.siluMul.name, k.rmsNorm.name = "add_f32", "silu_mul_f32", "rmsnorm_f32"
	k.rope.name, k.attnCombine.name = "rope_f32", "attention_combine_f32"
	k.argmaxProb.name, k.argmaxProbSplit.name, k.setPtrs3.name = "argmax_prob_f32", "argmax_prob_split_f32", "set_ptrs3"
	k.layerNorm.name, k.gelu.name, k.addRow.name, k.unmask.name = "layernorm_f32", "gelu_f32", "add_row_f32", "unmask_i32"
	k.sample.name, k.gumbel.name, k.lerp.name = "sample_f32", "gumbel_argmax_prob_f32", "lerp_f32"
	all := []*kernel{&k.add, &k.siluMul, &k.rmsNorm, &k.rope, &k.attnCombine, &k.argmaxProb, &k.argmaxProbSplit, &k.setPtrs3,
		&k.layerNorm, &k.gelu, &k.addRow, &k.unmask, &k.sample, &k.gumbel, &k.lerp}
	for c, cs := range cacheSlotNames {
		k.attention[c].name = "attention_" + cs
		all = append(all, &k.attention[c])
		for i, hd := range attnTiledHeads {
			k.attnDecode[c][i].name = fmt.Sprintf("attention_decode_%s_hd%d", cs, hd)
			k.attnDecode4[c][i].name = fmt.Sprintf("attention_decode4_%s_hd%d", cs, hd)
			k.attnDecodeG4[c][i].name = fmt.Sprintf("attention_decodeg4_%s_hd%d", cs, hd)
			all = append(all, &k.attnDecode[c][i], &k.attnDecode4[c][i], &k.attnDecodeG4[c][i])
		}
	}
	for i, hd := range attnTiledHeads {
		k.attnTiled[i].name = fmt.Sprintf("attention_tiled_f32_hd%d", hd)
		k.attnMMA[i].name = fmt.Sprintf("attention_mma_bf16_hd%d", hd)
		k.attnMMA2[i].name = fmt.Sprintf("attention_mma2_bf16_hd%d", hd)
		k.attnMMA4[i].name = fmt.Sprintf("attention_mma4_bf16_hd%d", hd)
		all = append(all, &k.attnTiled[i], &k.attnMMA[i], &k.attnMMA2[i], &k.attnMMA4[i])
	}
	for i, s := range slotNames {
		for n := range gemvMaxRows {
			k.gemv[i][n].name = fmt.Sprintf("gemv_%s_n%d", s, n+1)
			all = append(all, &k.gemv[i][n])
			if i > 0 {
				k.gemvSwiGLU[i][n].name = fmt.Sprintf("gemv_swiglu_%s_n%d", s, n+1)
				all = append(all, &k.gemvSwiGLU[i][n])
			}
		}
		if i > 0 {
			k.cast[i].name = "cast_f32_" + s
			k.gemvDeep[i].name = fmt.Sprintf("gemv_%s_n1_deep", s)
			k.rmsNormTo[i].name, k.siluMul16[i].name = "rmsnorm_"+s, "silu_mul16_"+s
			all = append(all, &k.cast[i], &k.gemvDeep[i], &k.rmsNormTo[i], &k.siluMul16[i])
		}
		for j, d := range slotNames {
			k.copyRows[i][j].name = "copy_rows_" + s + "_" + d
			all = append(all, &k.copyRows[i][j])
		}
		k.ropeStore[i].name = "rope_store_" + s
		all = append(all, &k.ropeStore[i])
		if i == 0 {
			continue
		}
		for n := range gemvNormMaxRows {
			k.gemvNorm[i][n].name = fmt.Sprintf("gemv_norm_%s_n%d", s, n+1)
			k.gemvSwiGLUNorm[i][n].name = fmt.Sprintf("gemv_swiglu_norm_%s_n%d", s, n+1)
			all = append(all, &k.gemvNorm[i][n], &k.gemvSwiGLUNorm[i][n])
		}
		for t, nt := range skinnyTiles {
			k.skinny[i][t].name = fmt.Sprintf("skinny_%s_n%d", s, 8*nt)
			all = append(all, &k.skinny[i][t])
		}
		for t, nt := range gemvMMATiles {
			k.gemvMMA[i][t].name = fmt.Sprintf("gemv_mma_%s_r%d", s, nt)
			all = append(all, &k.gemvMMA[i][t])
		}
	}
	return all
}

func (k *kernels) load(m cuda.Module) error {
	for _, kn := range k.table() {
		f, err := m.Function(kn.name)
		if err != nil {
			return err
		}
		kn.fn = f
	}
	return nil
}

// maxParams bounds a kernel's parameters.
const maxParams = 16

// params is the void*[] that cuLaunchKernel reads: ptrs[i] points at
// vals[i], which holds the parameter in its low bytes (little-endian), so
// that 4- and 8-byte parameters both fit. It is one object, pinned for each
// launch.
type params struct {
	vals [maxParams]uint64
	ptrs [maxParams]unsafe.Pointer
}

// Kernel parameter values.
func i32(v int) uint64         { return uint64(uint32(int32(v))) }
func i64(v int64) uint64       { return uint64(v) }
func f32(v float32) uint64     { return uint64(math.Float32bits(v)) }
func f64(v float64) uint64     { return math.Float64bits(v) }
func dev(p cuda.DevPtr) uint64 { return uint64(p) }

// launch queues kernel k on the stream. The caller holds the OS thread
// with the context current (enter).
func (b *Backend) launch(k *kernel, grid, block [3]uint32, shared int, args ...uint64) {
	if len(args) > maxParams {
		panic(fmt.Sprintf("cuda: %s takes %d parameters, more than %d", k.name, len(args), maxParams))
	}
	p := b.params
	for i, a := range args {
		p.vals[i] = a
		p.ptrs[i] = unsafe.Pointer(&p.vals[i])
	}
	b.pin.Pin(p)
	err := b.launchFn(k, grid, block, shared, unsafe.Pointer(&p.ptrs[0]))
	b.pin.Unpin()
	if err != nil {
		b.fail(fmt.Errorf("cuda: launching %s (grid %v, block %v, %d B shared): %w", k.name, grid, block, shared, err))
	}
}

// launchFn launches k with params (pinned by the caller): as a
// programmatic dependent launch where the backend uses them (b.pdl: every
// kernel starts with griddep_wait, kernels/common.cu), else plainly.
func (b *Backend) launchFn(k *kernel, grid, block [3]uint32, shared int, params unsafe.Pointer) error {
	if !b.pdl {
		return k.fn.Launch(grid, block, uint32(shared), b.stream, params)
	}
	c := b.lc
	c.Grid, c.Block, c.Shared, c.Stream = grid, block, uint32(shared), b.stream
	b.pin.Pin(c)
	return k.fn.LaunchEx(c, params)
}

// blocks1D is the grid for n elements in blocks of 256 threads, capped:
// the kernels stride over the rest. The kernels that take four elements a
// thread (cast_f32_*, silu_mul_*) are given blocks1D((n+3)/4): when their
// operands are not 16-byte aligned, the grid strides over all n.
func blocks1D(n int64) [3]uint32 {
	g := (n + 255) / 256
	return [3]uint32{uint32(max(1, min(g, 1<<20))), 1, 1}
}

// launchStruct queues kernel k whose one parameter is the struct *arg
// (pinned for the call: the driver copies it when the launch is queued or
// recorded). The caller holds the OS thread (enter).
func launchStruct[T any](b *Backend, k *kernel, grid, block [3]uint32, shared int, arg *T) {
	p := b.params
	p.ptrs[0] = unsafe.Pointer(arg)
	b.pin.Pin(p)
	b.pin.Pin(arg)
	err := b.launchFn(k, grid, block, shared, unsafe.Pointer(&p.ptrs[0]))
	b.pin.Unpin()
	if err != nil {
		b.fail(fmt.Errorf("cuda: launching %s (grid %v, block %v, %d B shared): %w", k.name, grid, block, shared, err))
	}
}
