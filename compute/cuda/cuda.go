// Package cuda is the CUDA backend: compute.Backend on one NVIDIA GPU,
// driven from pure Go through the bindings of dllmbench/internal/cuda. It
// also records graphs (compute.Recorder), accounts for its memory
// (compute.MemoryStats), picks tokens on the device (compute.Selector) and
// implements the projection fusions (MatMulAdder, SwiGLUer, MatMul3er).
//
// Every op is queued on one stream; Sync and Read wait for it and return
// the first error since the last Sync or Read. Kernels are CUDA C++ under
// kernels/, embedded and compiled once per process by NVRTC for the
// device's architecture. Activations are float32; MatMul reads weights in
// their stored dtype: a GEMV kernel for up to gemvMaxRows rows (decoding,
// bound by weight bandwidth), a tensor-core kernel that also reads each
// weight once up to skinnyMaxRows rows of x (a LLaDA block), cuBLAS beyond.
// It also fuses RMSNorm into the projections after it and RoPE into the
// cache stores (NormMatMul3er, NormSwiGLUer, RoPEStorer).
//
// A Backend is used by one goroutine at a time. Each call holds its OS
// thread and makes the device's primary context current on it, since the
// driver keeps the current context per thread and goroutines move between
// threads.
package cuda

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"dllmbench/compute"
	"dllmbench/internal/cuda"
)

const (
	// gemvMaxRows is the most rows of x that MatMul hands to the GEMV
	// kernel; more go to cuBLAS.
	gemvMaxRows = 8
	// blasWorkspaceBytes is cuBLAS's workspace, the size NVIDIA advises
	// for Hopper. With it cuBLAS allocates nothing while a graph records.
	blasWorkspaceBytes = 32 << 20
	// scratchBytes holds x narrowed to 16 bits for cuBLAS; a larger x is
	// multiplied in slices of rows, so nothing is allocated after New.
	scratchBytes = 64 << 20
	// gemmPtrsBytes holds the three pointer arrays of a batched product.
	gemmPtrsBytes = 256
	// readBufBytes is the page-locked host buffer that small Reads (a
	// step's selected tokens and probabilities) go through.
	readBufBytes = 64 << 10
	// attnMaxHeadDim is the largest head the attention kernel takes.
	attnMaxHeadDim = 256
)

// Backend runs ops on one GPU.
type Backend struct {
	info   cuda.DeviceInfo
	dev    cuda.Device
	ctx    cuda.Context
	stream cuda.Stream
	blas   cuda.BLAS
	mod    cuda.Module
	k      kernels

	retained        bool    // the primary context is retained
	attnShared      int     // dynamic shared memory the attention kernel may use
	attnTiledOK     [2]bool // the tiled attention kernel for attnTiledHeads[i] has its shared memory
	attnMMAOK       [2]bool // so do the tensor-core ones (sm_80 on)
	attnDecodeMax   int     // the most queries per batch row that take the decode attention kernel (tests and benchmarks change it)
	attnDecodeChunk int     // attnDecodeChunk; benchmarks change it
	attnDecode4Max  int     // attnDecode4Max; tests and benchmarks change it
	attnGroupBlocks int     // the decode kernel takes a group of heads a block from this many blocks of one head (tests and benchmarks change it)
	attnCounters    int     // merge counters attention may use: skinnyCounters (tests lower it to take the combine kernel)
	attnTiledMin    int     // attnTiledMinQueries; benchmarks change it to time both kernels
	attnMMABlocks   int     // the tensor-core attention splits only calls of fewer blocks (attnMMASplits): attnMMABlocks; benchmarks change it
	attnOneChunk    int     // and only rows of more slots: attnMMAOneChunk; tests and benchmarks change it
	attnMMAGroups   int     // the tensor-core attention's groups of warps, 1, 2 or 4; 0 chooses (attnMMAGroups); tests and benchmarks set it
	skinnyMax       int     // most rows the skinny kernel takes: gemvMaxRows (none) unless enabled; benchmarks change it
	skinnyOK        bool    // the device runs the skinny kernel (sm_80 on)
	gmMin           int     // fewest rows of x that take the tensor-core GEMV (gemv_mma.go); above gemvMaxRows: none
	gemvMax         int     // most rows of x that take a GEMV kernel: gemvMaxRows (benchmarks lower it to time cuBLAS)
	gmTiles         int     // tiles of 16 weight rows per block of the tensor-core GEMV outside SwiGLU (benchmarks change it)
	ffnCublasMin    int     // fewest rows of x (≤ gemvMaxRows) whose NormFFN takes cuBLAS rather than the GEMVs: ffnCublasMinRows; above gemvMaxRows: none (benchmarks change it)
	selSplit        bool    // ArgmaxProb may split a row over several blocks (benchmarks and tests turn it off)
	normMax         int     // most rows the gemv_norm kernels take: 0 (composed) unless enabled
	normShared      int     // the dynamic shared memory the gemv_norm kernels may use
	debug           bool    // DLLMBENCH_CUDA_DEBUG=1: wait after every op, naming the op that failed

	err       error // the first failure since the last Sync or Read; ops are skipped meanwhile
	recording bool
	closed    bool

	allocated, peak int64
	live            map[*buffer]struct{} // tensors allocated and not freed, freed by Close
	blasWS, scratch buffer               // workspace, not tensors
	skCount         buffer               // the skinny kernel's counters (workspace)
	gemmPtrs        buffer               // the pointer arrays of a batched cuBLAS product when ptrs is full (workspace)
	ptrs            ptrTable             // the pointer arrays of batched cuBLAS products (ptrs.go; workspace)
	graphs          int                  // recorded graphs not yet closed
	readBuf         unsafe.Pointer       // readBufBytes of page-locked host memory
	skArgs          *skinnyArgs          // the skinny kernel's parameter, pinned for each launch
	timer           eventTimer           // StartTimer's and StopTimer's events (timer.go)
	marks           marks                // Mark's events (timer.go)

	pin    runtime.Pinner // for each call that hands Go memory to C; always unpinned before returning
	params *params
	pdl    bool               // kernels go out as programmatic dependent launches (usePDL)
	lc     *cuda.LaunchConfig // their configuration, pinned for each launch
	scal   *[2]float32        // cuBLAS's alpha = 1 (also beta for an accumulating product) and beta = 0
}

var (
	_ compute.Backend      = (*Backend)(nil)
	_ compute.Recorder     = (*Backend)(nil)
	_ compute.MemoryStats  = (*Backend)(nil)
	_ compute.PeakResetter = (*Backend)(nil)
)

// buffer is the storage of a tensor: a device allocation.
type buffer struct {
	b     *Backend
	ptr   cuda.DevPtr // 0 for an empty tensor or a failed allocation
	bytes int64
	freed bool
}

// Unavailable is New's error when CUDA cannot run here: it carries the
// whole probe report, every library tried and why it failed.
type Unavailable struct{ Report cuda.Report }

func (e *Unavailable) Error() string { return "cuda: no usable GPU:\n" + e.Report.String() }
func (e *Unavailable) Unwrap() error { return e.Report.Err }

// Check is New's first step: it loads the libraries and returns device's
// description, or why New would fail before it touches the device. It
// creates no context and compiles nothing, so a caller that only needs to
// know whether CUDA is there (the dry run) pays for the library loads and
// the driver's initialisation, not for the kernels.
func Check(device int) (cuda.DeviceInfo, error) {
	r := cuda.Probe()
	if r.Err != nil {
		return cuda.DeviceInfo{}, &Unavailable{r}
	}
	if device < 0 || device >= len(r.Devices) {
		return cuda.DeviceInfo{}, fmt.Errorf("cuda: device %d requested, %d visible", device, len(r.Devices))
	}
	return r.Devices[device], nil
}

// New opens device (an ordinal among the visible devices, after
// CUDA_VISIBLE_DEVICES), compiles the kernels if this process has not yet,
// and sets up a stream, a cuBLAS handle and the workspace.
func New(device int) (*Backend, error) {
	info, err := Check(device)
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b := &Backend{info: info, params: new(params), scal: &[2]float32{1, 0}, skArgs: new(skinnyArgs),
		live: map[*buffer]struct{}{}, debug: os.Getenv("DLLMBENCH_CUDA_DEBUG") == "1",
		attnTiledMin: attnTiledMinQueries, attnMMABlocks: attnMMABlocks, attnOneChunk: attnMMAOneChunk, attnDecodeMax: attnDecodeMaxQueries,
		attnDecode4Max: attnDecode4Max, attnDecodeChunk: attnDecodeChunk, skinnyMax: gemvMaxRows, gemvMax: gemvMaxRows,
		ffnCublasMin: ffnCublasMinRows,
		attnCounters: skinnyCounters}
	if err := b.open(device); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Backend) open(device int) error {
	var err error
	if b.dev, err = cuda.GetDevice(device); err != nil {
		return err
	}
	if b.ctx, err = b.dev.RetainPrimaryContext(); err != nil {
		return err
	}
	b.retained = true
	if err := b.ctx.SetCurrent(); err != nil {
		return err
	}
	cubin, cached, err := cubinFor(b.info.Major, b.info.Minor, false)
	if err != nil {
		return err
	}
	if b.mod, err = cuda.LoadModule(cubin); err != nil && cached {
		// A cubin from the kernel cache that the driver refuses (damaged,
		// or from another toolchain under the same key) is compiled again.
		if cubin, _, err = cubinFor(b.info.Major, b.info.Minor, true); err != nil {
			return err
		}
		b.mod, err = cuda.LoadModule(cubin)
	}
	if err != nil {
		return fmt.Errorf("cuda: loading the kernels: %w", err)
	}
	if err := b.k.load(b.mod); err != nil {
		return err
	}
	if b.stream, err = cuda.NewStream(cuda.StreamNonBlocking); err != nil {
		return err
	}
	if b.pdl = usePDL(b.info.Major); b.pdl {
		b.lc = new(cuda.LaunchConfig)
		b.lc.SetProgrammatic()
	}
	if b.blas, err = cuda.NewBLAS(); err != nil {
		return err
	}
	if err := b.blas.SetStream(b.stream); err != nil {
		return err
	}
	if err := b.blas.SetMathMode(cuda.MathDefault); err != nil {
		return err
	}
	if cuda.HasSetWorkspace() {
		if b.blasWS, err = b.alloc(blasWorkspaceBytes); err != nil {
			return fmt.Errorf("cuda: cuBLAS workspace: %w", err)
		}
		if err := b.blas.SetWorkspace(b.blasWS.ptr, b.blasWS.bytes); err != nil {
			return err
		}
	}
	if b.gemmPtrs, err = b.alloc(gemmPtrsBytes); err != nil {
		return fmt.Errorf("cuda: pointer arrays: %w", err)
	}
	if err := b.newPtrTable(); err != nil {
		return err
	}
	if b.readBuf, err = cuda.MemAllocHost(readBufBytes); err != nil {
		return fmt.Errorf("cuda: host buffer: %w", err)
	}
	if b.scratch, err = b.alloc(scratchBytes); err != nil {
		return fmt.Errorf("cuda: scratch: %w", err)
	}
	if err := b.skinnyCountersInit(); err != nil {
		return err
	}
	// The skinny kernel (9–64 rows) and the GEMVs that normalise x
	// themselves are correct (tests and memcheck on an H200) but measured
	// slower there than cuBLAS and the composed RMSNorm (docs/perf.md, CUDA
	// v3: a 32-row projection 66 µs against cuBLAS's 35; a decode layer
	// 172 µs against 160), so they are off; tests turn them on to keep
	// them right (enableExperimental).
	b.skinnyMax = gemvMaxRows
	b.skinnyOK = b.info.Major >= 8 // mma.sync on bf16 and half
	b.gmMin, b.gmTiles, b.selSplit = gemvMaxRows+1, gemvMMADefaultTiles, true
	b.attnGroupBlocks = attnDecodeGroupBlocksPerSM * b.info.SMs
	if b.skinnyOK {
		b.gmMin = gemvMMAMinRows
	}
	// Heads above 128 need more than the 48 KiB of shared memory a block
	// gets without asking.
	b.attnShared = 48 << 10
	if optin, err := b.dev.Attribute(cuda.AttrMaxSharedMemoryPerBlockOptin); err == nil && optin > b.attnShared {
		lim := min(optin, attnSharedBytes(attnMaxHeadDim))
		for i := range b.k.attention {
			if err := b.k.attention[i].fn.SetAttribute(cuda.FuncMaxDynamicSharedSizeBytes, lim); err != nil {
				return err
			}
		}
		b.attnShared = lim
	}
	optin, err := b.dev.Attribute(cuda.AttrMaxSharedMemoryPerBlockOptin)
	if err != nil {
		optin = 48 << 10
	}
	for i, hd := range attnTiledHeads {
		need := attnTiledSharedBytes(hd)
		if need > optin {
			continue // e.g. heads of 128 on a card with 99 KiB per block: the one-warp kernel takes them
		}
		fn := b.k.attnTiled[i].fn
		if err := fn.SetAttribute(cuda.FuncMaxDynamicSharedSizeBytes, need); err != nil {
			return err
		}
		// A hint, for two blocks per SM: shared memory over L1.
		fn.SetAttribute(cuda.FuncPreferredSharedCarveout, 100)
		b.attnTiledOK[i] = true
	}
	for i, hd := range attnTiledHeads {
		need := attnMMASharedBytes(hd)
		if !b.skinnyOK || need > optin {
			continue // the tiled float32 kernel takes them, or the generic one
		}
		for _, k := range []*kernel{&b.k.attnMMA[i], &b.k.attnMMA2[i], &b.k.attnMMA4[i]} {
			if err := k.fn.SetAttribute(cuda.FuncMaxDynamicSharedSizeBytes, need); err != nil {
				return err
			}
		}
		b.attnMMAOK[i] = true
	}
	// A hint: the GEMV kernels use no shared memory, and at n > 1 they keep
	// x in the L1 cache.
	for i := range b.k.gemv {
		for n := range gemvMaxRows {
			b.k.gemv[i][n].fn.SetAttribute(cuda.FuncPreferredSharedCarveout, 0)
			if i > 0 {
				b.k.gemvSwiGLU[i][n].fn.SetAttribute(cuda.FuncPreferredSharedCarveout, 0)
			}
		}
		if i > 0 {
			b.k.gemvDeep[i].fn.SetAttribute(cuda.FuncPreferredSharedCarveout, 0)
		}
	}
	// The GEMV kernels that normalise x keep n·k floats of it in shared
	// memory: 64 KiB at n = 4, k = 4096. Their static shared memory is a
	// few hundred bytes; 1 KiB is left for it.
	b.normShared = 48<<10 - 1024
	if optin > 48<<10 {
		b.normShared = optin - 1024
		for i := 1; i < 3; i++ {
			for n := range gemvNormMaxRows {
				for _, k := range []*kernel{&b.k.gemvNorm[i][n], &b.k.gemvSwiGLUNorm[i][n]} {
					if err := k.fn.SetAttribute(cuda.FuncMaxDynamicSharedSizeBytes, b.normShared); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func (b *Backend) alloc(bytes int64) (buffer, error) {
	p, err := cuda.MemAlloc(bytes)
	if err != nil {
		return buffer{}, err
	}
	return buffer{b: b, ptr: p, bytes: bytes}, nil
}

// Close waits for queued work, frees the tensors not yet freed, and
// releases the stream, cuBLAS, the kernels and the context.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	if b.recording {
		panic("cuda: Close during Record")
	}
	b.closed = true
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if !b.retained {
		return nil
	}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(b.ctx.SetCurrent())
	if b.stream != 0 {
		add(b.stream.Synchronize())
	}
	if b.blas != 0 {
		add(b.blas.Destroy())
	}
	for buf := range b.live {
		add(cuda.MemFree(buf.ptr))
		buf.ptr, buf.freed = 0, true
		b.allocated -= buf.bytes
	}
	clear(b.live)
	for _, w := range []buffer{b.blasWS, b.scratch, b.skCount, b.gemmPtrs, b.ptrs.buf} {
		if w.ptr != 0 {
			add(cuda.MemFree(w.ptr))
		}
	}
	if b.readBuf != nil {
		add(cuda.MemFreeHost(b.readBuf))
		b.readBuf = nil
	}
	add(b.timer.close())
	add(b.marks.close())
	if b.stream != 0 {
		add(b.stream.Destroy())
	}
	if b.mod != 0 {
		add(b.mod.Unload())
	}
	add(b.dev.ReleasePrimaryContext())
	return errors.Join(errs...)
}

func (b *Backend) Name() string { return "cuda" }

// usePDL says whether kernels go out as programmatic dependent launches: on
// sm_90 and later, with a driver that has cuLaunchKernelEx, unless
// DLLMBENCH_CUDA_PDL=0. Each kernel then starts while the one before it
// drains (a GEMV first asks L2 for its weights), which a CUDA graph keeps
// as a programmatic edge.
func usePDL(major int) bool {
	return major >= 9 && cuda.HasLaunchEx() && os.Getenv("DLLMBENCH_CUDA_PDL") != "0"
}

// enableExperimental turns on the kernels that are correct but were
// measured slower than the paths the backend takes by default (see open),
// for tests and benchmarks.
func (b *Backend) enableExperimental() {
	if b.skinnyOK {
		b.skinnyMax = skinnyMaxRows
		b.gmMin = 2 // the tensor-core GEMV from its fewest rows
	}
	b.normMax = gemvNormMaxRows
}

// Device describes the GPU.
func (b *Backend) Device() cuda.DeviceInfo { return b.info }

// Memory reports the bytes of tensors allocated now and at most, and the
// backend's workspace (cuBLAS's, the scratch for narrowed activations and
// partial sums, the skinny kernel's counters).
func (b *Backend) Memory() (allocated, peak, workspace int64) {
	return b.allocated, b.peak, b.blasWS.bytes + b.scratch.bytes + b.skCount.bytes + b.gemmPtrs.bytes + b.ptrs.buf.bytes
}

// ResetPeak restarts the peak that Memory reports from the bytes allocated
// now (compute.PeakResetter).
func (b *Backend) ResetPeak() { b.peak = b.allocated }

// enter holds the OS thread and makes the context current on it; exit lets
// the thread go. Every call that reaches the driver is between the two.
func (b *Backend) enter() {
	if b.closed {
		panic("cuda: use of a closed backend")
	}
	runtime.LockOSThread()
	if err := b.ctx.SetCurrent(); err != nil {
		b.fail(err)
	}
}

func (b *Backend) exit() { runtime.UnlockOSThread() }

// fail keeps the first error until Sync or Read returns it.
func (b *Backend) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// done ends an op: in debug mode it waits for the op, so that an
// asynchronous failure names it.
func (b *Backend) done(op string) {
	if b.debug && !b.recording && b.err == nil {
		if err := b.stream.Synchronize(); err != nil {
			b.fail(fmt.Errorf("cuda: %s: %w", op, err))
		}
	}
}

// takeErr returns the pending error and clears it.
func (b *Backend) takeErr() error {
	err := b.err
	b.err = nil
	return err
}

// buf returns t's storage, panicking when t is not a live tensor of b.
func (b *Backend) buf(op string, t compute.Tensor) *buffer {
	buf, ok := t.Buf().(*buffer)
	if !ok || buf.b != b {
		compute.Panicf(op, "%v is not a tensor of this cuda backend", t)
	}
	if buf.freed {
		compute.Panicf(op, "%v was freed", t)
	}
	return buf
}

// ptr is the device address of t's row 0.
func (b *Backend) ptr(op string, t compute.Tensor) cuda.DevPtr {
	buf := b.buf(op, t)
	if buf.ptr == 0 && buf.bytes > 0 {
		compute.Panicf(op, "%v comes from an Alloc that failed (Sync or Read returned why)", t)
	}
	return buf.ptr + cuda.DevPtr(t.Offset()*t.DType().Size())
}

func (b *Backend) noRecording(op string) {
	if b.recording {
		compute.Panicf(op, "called while Record runs (the op would be captured into the graph, not done now)")
	}
}

func validDType(dt compute.DType) bool {
	return dt == compute.F32 || dt == compute.F16 || dt == compute.BF16 || dt == compute.I32
}

// Alloc returns a tensor of unspecified contents. A failed allocation
// (out of memory) returns a tensor no op accepts, and Sync or Read report
// the failure.
func (b *Backend) Alloc(dt compute.DType, rows, cols int) compute.Tensor {
	if !validDType(dt) || rows < 0 || cols < 0 {
		compute.Panicf("Alloc", "%v[%d×%d]", dt, rows, cols)
	}
	bytes := int64(rows) * int64(cols) * int64(dt.Size())
	buf := &buffer{b: b, bytes: bytes}
	if bytes > 0 {
		b.enter()
		defer b.exit()
		p, err := cuda.MemAlloc(bytes)
		if err != nil {
			b.fail(fmt.Errorf("cuda: Alloc %v[%d×%d] (%d bytes, %d allocated): %w", dt, rows, cols, bytes, b.allocated, err))
		} else {
			buf.ptr = p
			b.live[buf] = struct{}{}
			b.allocated += bytes
			b.peak = max(b.peak, b.allocated)
		}
	}
	return compute.NewTensor(dt, rows, cols, buf, 0)
}

// Load copies data to a new tensor.
func (b *Backend) Load(dt compute.DType, rows, cols int, data []byte) (compute.Tensor, error) {
	b.noRecording("Load")
	if !validDType(dt) || rows < 0 || cols < 0 {
		return compute.Tensor{}, fmt.Errorf("cuda: load of %v[%d×%d]", dt, rows, cols)
	}
	if n := int64(rows) * int64(cols) * int64(dt.Size()); int64(len(data)) != n {
		return compute.Tensor{}, fmt.Errorf("cuda: load %v[%d×%d]: have %d bytes, need %d", dt, rows, cols, len(data), n)
	}
	t := b.Alloc(dt, rows, cols)
	if len(data) == 0 {
		return t, nil
	}
	if buf := t.Buf().(*buffer); buf.ptr == 0 {
		return compute.Tensor{}, b.takeErr()
	}
	b.enter()
	defer b.exit()
	// data may be a memory map rather than Go memory; pinning that is a
	// no-op. From pageable memory the copy is staged before the call
	// returns, so data may be unmapped or reused after.
	b.pin.Pin(&data[0])
	err := cuda.MemcpyHtoDAsync(b.ptr("Load", t), unsafe.Pointer(&data[0]), int64(len(data)), b.stream)
	b.pin.Unpin()
	if err != nil {
		b.Free(t)
		return compute.Tensor{}, fmt.Errorf("cuda: load %v[%d×%d]: %w", dt, rows, cols, err)
	}
	return t, nil
}

// Free releases the tensor's allocation, which waits for queued work.
func (b *Backend) Free(t compute.Tensor) {
	b.noRecording("Free")
	buf := b.buf("Free", t)
	buf.freed = true
	if buf.ptr == 0 {
		return
	}
	b.enter()
	defer b.exit()
	if err := cuda.MemFree(buf.ptr); err != nil {
		b.fail(fmt.Errorf("cuda: Free %v: %w", t, err))
	}
	delete(b.live, buf)
	buf.ptr = 0
	b.allocated -= buf.bytes
}

// host returns the address and byte size of a host slice typed for t.
func host(op string, t compute.Tensor, h any) (unsafe.Pointer, int64) {
	var p unsafe.Pointer
	var n int
	ok := false
	switch s := h.(type) {
	case []float32:
		ok, n = t.DType() == compute.F32, len(s)
		if n > 0 {
			p = unsafe.Pointer(&s[0])
		}
	case []uint16:
		ok, n = t.DType() == compute.F16 || t.DType() == compute.BF16, len(s)
		if n > 0 {
			p = unsafe.Pointer(&s[0])
		}
	case []int32:
		ok, n = t.DType() == compute.I32, len(s)
		if n > 0 {
			p = unsafe.Pointer(&s[0])
		}
	default:
		compute.Panicf(op, "unsupported host type %T", h)
	}
	if !ok {
		compute.Panicf(op, "host %T for a %v tensor", h, t)
	}
	if n != t.Len() {
		compute.Panicf(op, "host slice has %d elements, tensor %v has %d", n, t, t.Len())
	}
	return p, int64(n) * int64(t.DType().Size())
}

// Write queues a copy of src into dst. From pageable memory (any Go slice)
// the driver copies src to a staging buffer before returning, so the caller
// may change src as soon as Write returns, while the copy to the device
// keeps its place in the stream's order.
func (b *Backend) Write(dst compute.Tensor, src any) {
	b.noRecording("Write")
	p, n := host("Write", dst, src)
	if n == 0 || b.err != nil {
		return
	}
	b.enter()
	defer b.exit()
	d := b.ptr("Write", dst)
	b.pin.Pin(p)
	err := cuda.MemcpyHtoDAsync(d, p, n, b.stream)
	b.pin.Unpin()
	if err != nil {
		b.fail(fmt.Errorf("cuda: Write %v: %w", dst, err))
	}
	b.done("Write")
}

// Read waits for queued work, copies src into dst and returns the first
// error since the last Sync or Read.
func (b *Backend) Read(dst any, src compute.Tensor) error {
	b.noRecording("Read")
	p, n := host("Read", src, dst)
	if b.err != nil {
		return b.takeErr()
	}
	b.enter()
	defer b.exit()
	if n > 0 && n <= readBufBytes && b.readBuf != nil {
		s := b.ptr("Read", src)
		// A small read (a step's tokens) through page-locked memory: one
		// copy the device makes itself, then the wait, then a memcpy. Into
		// pageable memory the driver stages the copy and waits on its own.
		if err := cuda.MemcpyDtoHAsync(b.readBuf, s, n, b.stream); err != nil {
			b.fail(fmt.Errorf("cuda: Read %v: %w", src, err))
		}
		if err := b.stream.Synchronize(); err != nil {
			b.fail(err)
		}
		if b.err == nil {
			copy(unsafe.Slice((*byte)(p), n), unsafe.Slice((*byte)(b.readBuf), n))
		}
		return b.takeErr()
	}
	if n > 0 {
		s := b.ptr("Read", src)
		b.pin.Pin(p)
		// Into pageable memory the copy is complete when the call returns.
		err := cuda.MemcpyDtoHAsync(p, s, n, b.stream)
		b.pin.Unpin()
		if err != nil {
			b.fail(fmt.Errorf("cuda: Read %v: %w", src, err))
		}
	}
	if err := b.stream.Synchronize(); err != nil {
		b.fail(err)
	}
	return b.takeErr()
}

// Sync waits for queued work and returns the first error since the last
// Sync or Read.
func (b *Backend) Sync() error {
	b.noRecording("Sync")
	if b.err != nil {
		return b.takeErr()
	}
	b.enter()
	defer b.exit()
	if err := b.stream.Synchronize(); err != nil {
		b.fail(err)
	}
	return b.takeErr()
}

// Record captures the ops record issues into a CUDA graph (relaxed mode:
// cuBLAS calls are captured too) and returns it ready to launch. Write,
// Read, Sync, Load and Free panic while it runs.
func (b *Backend) Record(record func()) (compute.Graph, error) {
	if b.recording {
		panic("cuda: Record inside Record")
	}
	if b.err != nil {
		return nil, b.takeErr()
	}
	b.enter()
	defer b.exit()
	if err := b.stream.BeginCapture(cuda.CaptureModeRelaxed); err != nil {
		return nil, fmt.Errorf("cuda: Record: %w", err)
	}
	b.recording = true
	ended := false
	defer func() {
		if !ended { // record panicked: leave the stream usable, then let the panic go on
			b.recording = false
			if g, err := b.stream.EndCapture(); err == nil && g != 0 {
				g.Destroy()
			}
		}
	}()
	record()
	b.recording, ended = false, true
	g, err := b.stream.EndCapture()
	b.ptrFlush() // the entries the capture added, before any replay reads them
	if g != 0 {
		defer g.Destroy()
	}
	if opErr := b.takeErr(); opErr != nil {
		return nil, fmt.Errorf("cuda: Record: an op failed while recording: %w", opErr)
	}
	if err != nil {
		return nil, fmt.Errorf("cuda: Record: %w", err)
	}
	exec, err := g.Instantiate()
	if err != nil {
		return nil, fmt.Errorf("cuda: Record: %w", err)
	}
	b.graphs++
	return &graph{b: b, exec: exec}, nil
}

// graph is a recorded graph, replayed on the backend's stream.
type graph struct {
	b    *Backend
	exec cuda.GraphExec
}

func (g *graph) Launch() error {
	b := g.b
	if g.exec == 0 {
		panic("cuda: Launch of a closed graph")
	}
	b.noRecording("Graph.Launch")
	if b.err != nil {
		return b.takeErr()
	}
	b.enter()
	defer b.exit()
	if err := g.exec.Launch(b.stream); err != nil {
		return fmt.Errorf("cuda: Graph.Launch: %w", err)
	}
	b.done("Graph.Launch")
	if b.err != nil {
		return b.takeErr()
	}
	return nil
}

// Close waits for queued work and destroys the graph. After the backend's
// Close it only forgets the graph, which went with the context.
func (g *graph) Close() {
	b := g.b
	if g.exec == 0 || b.closed {
		g.exec = 0
		return
	}
	b.enter()
	defer b.exit()
	if err := b.stream.Synchronize(); err != nil {
		b.fail(err)
	}
	if err := g.exec.Destroy(); err != nil {
		b.fail(err)
	}
	g.exec = 0
	b.graphs--
}

// attnSharedBytes is the dynamic shared memory of the attention kernel for
// heads of hd: Q (8 × hd), K (32 × (hd+1)), V (32 × hd) floats and 8 ints.
func attnSharedBytes(hd int) int { return (8*hd+32*(hd+1)+32*hd)*4 + 8*4 }
