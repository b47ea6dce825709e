package cuda

// Tests that need no GPU: the kernel sources, argument checking, error
// handling. TestKernelsCompile needs only an NVRTC library.

import (
	"errors"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"dllmbench/compute"
	"dllmbench/compute/computetest"
	"dllmbench/internal/cuda"
)

func TestKernelSourcesIncludeNothing(t *testing.T) {
	files, err := fs.Glob(kernelFS, "kernels/*.cu")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimPrefix(f, "kernels/"))
		text, _ := kernelFS.ReadFile(f)
		for i, line := range strings.Split(string(text), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#include") {
				t.Errorf("%s:%d includes a header: %s", f, i+1, line)
			}
		}
	}
	slices.Sort(names)
	want := slices.Clone(kernelFiles)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("embedded kernel files %v, compiled list %v", names, kernelFiles)
	}
	if strings.Contains(source(), "#include") {
		t.Error("the compiled source includes a header")
	}
}

// Every kernel the backend looks up is defined in the source by its plain
// name (an extern "C" function, or the name given to a macro that makes one).
func TestKernelNamesInSource(t *testing.T) {
	src := source()
	var k kernels
	for _, kn := range k.table() {
		if !regexp.MustCompile(`(?m)(^|[\s(])` + kn.name + `\s*[(,]`).MatchString(src) {
			t.Errorf("kernel %s is not defined in the source", kn.name)
		}
	}
	if n := strings.Count(src, `extern "C"`); n < 5 {
		t.Errorf("only %d extern \"C\" definitions", n)
	}
}

// requireNVRTC skips without an NVRTC library, unless a GPU is required.
func requireNVRTC(t *testing.T) {
	t.Helper()
	if err := cuda.LoadNVRTC(); err != nil {
		if os.Getenv("DLLMBENCH_REQUIRE_GPU") == "1" {
			t.Fatalf("DLLMBENCH_REQUIRE_GPU=1 but NVRTC is unusable: %v", err)
		}
		t.Skipf("no NVRTC library: %v", err)
	}
}

// The kernels compile, without warnings, for the H100 and H200 (sm_90) and
// for the A100 (sm_80: no griddepcontrol there).
func TestKernelsCompile(t *testing.T) {
	requireNVRTC(t)
	major, minor, _ := cuda.NVRTCVersion()
	for _, cc := range [][2]int{{9, 0}, {8, 0}} { // Hopper, and Ampere without its sm_90 instructions
		cubin, log, err := cuda.Compile(source(), "dllmbench_kernels.cu", compileOptions(cc[0], cc[1]))
		if err != nil {
			t.Fatalf("NVRTC %d.%d, sm_%d%d: %v", major, minor, cc[0], cc[1], err)
		}
		if strings.TrimSpace(log) != "" {
			t.Logf("NOTE: NVRTC %d.%d, sm_%d%d warns:\n%s", major, minor, cc[0], cc[1], log)
		}
		t.Logf("NVRTC %d.%d: sm_%d%d cubin of %d bytes", major, minor, cc[0], cc[1], len(cubin))
	}
}

// fakeTensor is a tensor of b that no op may reach the device with: the
// backend here has no device.
func fakeTensor(b *Backend, dt compute.DType, rows, cols int) compute.Tensor {
	return compute.NewTensor(dt, rows, cols, &buffer{b: b, ptr: 0x1000, bytes: int64(rows * cols * dt.Size())}, 0)
}

func TestArgumentChecks(t *testing.T) {
	b := &Backend{} // no device: every case must panic before reaching one
	other := &Backend{}
	f32t := func(r, c int) compute.Tensor { return fakeTensor(b, compute.F32, r, c) }
	bf := fakeTensor(b, compute.BF16, 4, 8)
	idx := fakeTensor(b, compute.I32, 3, 1)
	x, w, out := f32t(2, 8), f32t(5, 8), f32t(2, 5)
	for _, c := range []struct {
		name, want string
		f          func()
	}{
		{"MatMul k mismatch", "compute: MatMul: dst F32[2×5] = x F32[2×8] · wᵀ F32[5×9]", func() { b.MatMul(out, x, f32t(5, 9)) }},
		{"MatMul x not F32", "compute: MatMul:", func() { b.MatMul(f32t(4, 4), bf, f32t(4, 8)) }},
		{"MatMul I32 weights", "compute: MatMul:", func() { b.MatMul(f32t(2, 3), x, fakeTensor(b, compute.I32, 3, 8)) }},
		{"RMSNorm weight length", "compute: RMSNorm:", func() { b.RMSNorm(x, x, f32t(1, 7), 1e-5) }},
		{"Add lengths", "compute: Add:", func() { b.Add(x, x, w) }},
		{"SiLUMul dtype", "compute: SiLUMul:", func() { b.SiLUMul(bf, bf, bf) }},
		{"RoPE odd head", "compute: RoPE:", func() { b.RoPE(x, f32t(10, 2), f32t(10, 2), fakeTensor(b, compute.I32, 2, 1), 5) }},
		{"Gather index dtype", "compute: Gather:", func() { b.Gather(x, w, f32t(2, 1)) }},
		{"Scatter index count", "compute: Scatter:", func() { b.Scatter(w, x, idx) }},
		{"Attention head dim above 256", "head dim 512 above the kernel's 256", func() {
			b.Attention(f32t(1, 512), f32t(1, 512), f32t(4, 512), f32t(4, 512), fakeTensor(b, compute.I32, 1, 1),
				fakeTensor(b, compute.I32, 2, 1), 1, 1, true)
		}},
		{"Attention heads", "compute: Attention:", func() {
			b.Attention(x, x, x, x, fakeTensor(b, compute.I32, 2, 1), fakeTensor(b, compute.I32, 2, 1), 3, 2, true)
		}},
		{"MatMulAdd k mismatch", "compute: MatMulAdd:", func() { b.MatMulAdd(out, x, f32t(5, 9)) }},
		{"MatMulAdd into its own input", "dst F32[2×8] overlaps x F32[2×8]", func() { b.MatMulAdd(x, x, f32t(8, 8)) }},
		{"MatMulSwiGLU gate and up differ", "compute: MatMulSwiGLU: gate", func() { b.MatMulSwiGLU(out, x, w, f32t(6, 8)) }},
		{"MatMul3 third output", "compute: MatMul3:", func() { b.MatMul3(out, out, f32t(2, 4), x, w, w, w) }},
		{"MatMul3 output overlaps x", "overlaps x", func() {
			xs := f32t(2, 8)
			d3 := xs.Reshape(4, 4).Slice(1, 2) // inside row 0 of xs
			b.MatMul3(f32t(1, 5), f32t(1, 5), d3, xs.Slice(0, 1), f32t(5, 8), f32t(5, 8), f32t(4, 8))
		}},
		{"NormMatMul3 xn shape", "compute: NormMatMul3: xn F32[2×5]", func() {
			b.NormMatMul3(out, out, out, f32t(2, 5), x, f32t(1, 8), 1e-5, w, w, w)
		}},
		{"NormMatMul3 output overlaps x", "compute: NormMatMul3: dst F32[1×8] overlaps x", func() {
			xs := f32t(2, 8)
			b.NormMatMul3(xs.Slice(0, 1), f32t(1, 8), f32t(1, 8), f32t(1, 8), xs.Slice(0, 1), f32t(1, 8), 1e-5, f32t(8, 8), f32t(8, 8), f32t(8, 8))
		}},
		{"NormMatMulSwiGLU gate and up differ", "compute: NormMatMulSwiGLU: gate", func() {
			b.NormMatMulSwiGLU(out, f32t(2, 8), x, f32t(1, 8), 1e-5, w, f32t(6, 8))
		}},
		{"RoPEStore odd head: the composed ops' message", "compute: RoPE:", func() {
			b.RoPEStore(x, f32t(2, 10), f32t(2, 10), f32t(4, 10), f32t(4, 10), fakeTensor(b, compute.I32, 2, 1),
				f32t(10, 2), f32t(10, 2), fakeTensor(b, compute.I32, 2, 1), 5)
		}},
		{"RoPEStore cache columns: the composed ops' message", "compute: Scatter:", func() {
			// An error pending: the RoPEs before the failing Scatter skip the device.
			e := &Backend{err: errors.New("pending")}
			et := func(r, c int) compute.Tensor { return fakeTensor(e, compute.F32, r, c) }
			e.RoPEStore(et(2, 8), et(2, 4), et(2, 4), et(4, 8), et(4, 8), fakeTensor(e, compute.I32, 2, 1),
				et(10, 2), et(10, 2), fakeTensor(e, compute.I32, 2, 1), 4)
		}},
		{"ArgmaxProb ids dtype", "compute: ArgmaxProb:", func() { b.ArgmaxProb(f32t(2, 1), f32t(2, 1), x, -1) }},
		{"ArgmaxProb probs count", "compute: ArgmaxProb:", func() { b.ArgmaxProb(fakeTensor(b, compute.I32, 2, 1), f32t(3, 1), x, -1) }},
		{"Sample ids a row", "compute: Sample: ids I32[1×2]", func() {
			b.Sample(fakeTensor(b, compute.I32, 1, 2), x, fakeTensor(b, compute.I32, 2, 2), compute.SampleParams{Temperature: 1})
		}},
		{"Sample bits shape", "compute: Sample:", func() {
			b.Sample(fakeTensor(b, compute.I32, 2, 1), x, fakeTensor(b, compute.I32, 2, 3), compute.SampleParams{Temperature: 1})
		}},
		{"Sample above SampleMaxCols", "compute: Sample:", func() {
			b.Sample(fakeTensor(b, compute.I32, 1, 1), f32t(1, compute.SampleMaxCols+1), fakeTensor(b, compute.I32, 1, 2),
				compute.SampleParams{Temperature: 1})
		}},
		{"Sample temperature 0", "compute: Sample: temperature 0", func() {
			b.Sample(fakeTensor(b, compute.I32, 2, 1), x, fakeTensor(b, compute.I32, 2, 2), compute.SampleParams{})
		}},
		{"GumbelArgmaxProb probs a row", "compute: GumbelArgmaxProb: ids I32[2×1], probs F32[1×2]", func() {
			b.GumbelArgmaxProb(fakeTensor(b, compute.I32, 2, 1), f32t(1, 2), x, fakeTensor(b, compute.I32, 2, 2), -1, 1)
		}},
		{"GumbelArgmaxProb keys shape", "compute: GumbelArgmaxProb:", func() {
			b.GumbelArgmaxProb(fakeTensor(b, compute.I32, 2, 1), f32t(2, 1), x, fakeTensor(b, compute.I32, 1, 4), -1, 1)
		}},
		{"GumbelArgmaxProb temperature 0", "compute: GumbelArgmaxProb: temperature 0", func() {
			b.GumbelArgmaxProb(fakeTensor(b, compute.I32, 2, 1), f32t(2, 1), x, fakeTensor(b, compute.I32, 2, 2), -1, 0)
		}},
		{"Lerp lengths", "compute: Lerp:", func() { b.Lerp(x, x, w, 0.5) }},
		{"another backend's tensor", "is not a tensor of this cuda backend", func() { b.Add(x, x, fakeTensor(other, compute.F32, 2, 8)) }},
		{"a CPU tensor", "is not a tensor of this cuda backend", func() {
			b.Add(x, x, compute.NewTensor(compute.F32, 2, 8, make([]float32, 16), 0))
		}},
		{"a failed allocation", "comes from an Alloc that failed", func() {
			b.Add(x, x, compute.NewTensor(compute.F32, 2, 8, &buffer{b: b, bytes: 64}, 0))
		}},
		{"a freed tensor", "was freed", func() {
			b.Add(x, x, compute.NewTensor(compute.F32, 2, 8, &buffer{b: b, ptr: 0x1000, bytes: 64, freed: true}, 0))
		}},
		{"Write host type", "host []float32 for a BF16", func() { b.Write(bf, make([]float32, 32)) }},
		{"Write length", "host slice has 3 elements, tensor F32[2×8] has 16", func() { b.Write(x, make([]float32, 3)) }},
		{"Write of []float64", "unsupported host type []float64", func() { b.Write(x, make([]float64, 16)) }},
		{"Read length", "host slice has 4 elements", func() { b.Read(make([]int32, 4), idx) }},
		{"Alloc dtype", "compute: Alloc: DType(9)", func() { b.Alloc(compute.DType(9), 1, 1) }},
		{"Alloc negative", "compute: Alloc:", func() { b.Alloc(compute.F32, -1, 1) }},
	} {
		computetest.MustPanic(t, c.name, c.want, c.f)
	}

	b.recording = true
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"Write", func() { b.Write(x, make([]float32, 16)) }},
		{"Read", func() { b.Read(make([]float32, 16), x) }},
		{"Sync", func() { b.Sync() }},
		{"Free", func() { b.Free(x) }},
		{"Load", func() { b.Load(compute.F32, 1, 1, make([]byte, 4)) }},
		{"Record", func() { b.Record(func() {}) }},
	} {
		computetest.MustPanic(t, c.name+" while recording", "Record", c.f)
	}
}

// A draw whose row's partial states do not fit the scratch fails with an
// error instead of looping over groups of no rows.
func TestDrawsPastTheScratch(t *testing.T) {
	b := &Backend{} // no device, a scratch of 0 bytes: fails before reaching one
	x := fakeTensor(b, compute.F32, 2, 8)
	b.Sample(fakeTensor(b, compute.I32, 2, 1), x, fakeTensor(b, compute.I32, 2, 2), compute.SampleParams{Temperature: 1})
	if err := b.takeErr(); err == nil || !strings.Contains(err.Error(), "cuda: Sample: a row of 8 columns needs 7296 bytes of scratch") {
		t.Errorf("Sample: error %v", err)
	}
	b.GumbelArgmaxProb(fakeTensor(b, compute.I32, 2, 1), fakeTensor(b, compute.F32, 2, 1), x, fakeTensor(b, compute.I32, 2, 2), -1, 1)
	if err := b.takeErr(); err == nil || !strings.Contains(err.Error(), "cuda: GumbelArgmaxProb: a row of 8 columns needs 40 bytes of scratch") {
		t.Errorf("GumbelArgmaxProb: error %v", err)
	}
}

// An error waits for the next Sync or Read, which returns it once; ops are
// skipped meanwhile.
func TestPendingError(t *testing.T) {
	b := &Backend{}
	x := fakeTensor(b, compute.F32, 2, 8)
	boom := errors.New("boom")
	b.fail(boom)
	b.fail(errors.New("second"))
	b.Add(x, x, x) // skipped: would need a device
	b.Write(x, make([]float32, 16))
	if err := b.Read(make([]float32, 16), x); err != boom {
		t.Errorf("Read returned %v, want the first error", err)
	}
	if b.err != nil {
		t.Errorf("the error stays after Read: %v", b.err)
	}
	b.fail(boom)
	if err := b.Sync(); err != boom {
		t.Errorf("Sync returned %v", err)
	}
	b.fail(boom)
	if _, err := b.Record(func() { t.Error("Record ran its function with an error pending") }); err != boom {
		t.Errorf("Record returned %v", err)
	}
}

func TestAttentionSharedMemory(t *testing.T) {
	// Heads of 128 (LLaMA-3, LLaDA) fit the 48 KiB every device gives; 256
	// needs the opt-in that New sets up.
	if got := attnSharedBytes(128); got > 48<<10 {
		t.Errorf("heads of 128 need %d bytes", got)
	}
	if got := attnSharedBytes(256); got <= 48<<10 || got > 99<<10 {
		t.Errorf("heads of 256 need %d bytes; want between 48 KiB and the 99 KiB of sm_86", got)
	}
}

// The Go side's launch geometry mirrors the kernels' tables (GEMV_COLS,
// SWIGLU_COLS in kernels/gemv.cu): check the source says what Go assumes.
// How attention's launches are cut and merged: the splits depend on a
// row's shape only; the groups of rows respect the scratch and the merge
// counters, and a kernel with more block columns than counters leaves the
// merge to the combine kernel.
func TestAttentionPlans(t *testing.T) {
	for _, c := range []struct{ T, want int }{{0, 1}, {1, 1}, {64, 1}, {65, 2}, {256, 4}, {1024, 16}, {4096, 16}} {
		if got := attnDecodeSplits(c.T, attnDecodeChunk); got != c.want {
			t.Errorf("attnDecodeSplits(%d, %d) = %d, want %d", c.T, attnDecodeChunk, got, c.want)
		}
	}
	const sms = 132 // an H100 SXM or H200
	groupBlocks := attnDecodeGroupBlocksPerSM * sms
	for _, c := range []struct {
		nb, nHeads, nKV, splits int
		want                    bool
	}{
		{1, 32, 8, 4, false},  // LLaMA-3-8B at batch 1: 128 blocks of one head
		{4, 32, 8, 4, false},  // 512
		{8, 32, 8, 4, true},   // 1024
		{8, 32, 32, 4, false}, // LLaDA-8B: one query head a cache head
		{8, 32, 16, 4, false}, // groups of 2
		{16, 64, 8, 1, true},  // groups of 8: two groups of four
	} {
		if got := attnDecodeGrouped(c.nb, 1, c.nHeads, c.nKV, c.splits, groupBlocks); got != c.want {
			t.Errorf("attnDecodeGrouped(%d rows, heads %d/%d, %d splits) = %v, want %v", c.nb, c.nHeads, c.nKV, c.splits, got, c.want)
		}
	}
	for _, c := range []struct {
		name                  string
		nb, splits            int
		perRow, scratch, cols int64
		counters              int
		merge                 bool
		wantGroup             int
		wantInKernel          bool
	}{
		{"one split: one launch, nothing to merge", 32, 1, 1 << 20, 1 << 10, 32, 4096, true, 32, false},
		{"merged in the kernel, all rows at once", 8, 4, 33792, 64 << 20, 32, 4096, true, 8, true},
		{"the scratch holds 3 rows' states", 8, 4, 1000, 3500, 32, 4096, true, 3, true},
		{"the counters hold 2 rows' columns", 8, 4, 1000, 1 << 20, 2000, 4096, true, 2, true},
		{"more columns a row than counters: the combine kernel", 8, 4, 1000, 1 << 20, 5000, 4096, true, 8, false},
		{"no counters at all", 8, 4, 1000, 1 << 20, 32, 0, true, 8, false},
		{"a kernel that does not merge", 8, 4, 1000, 2500, 32, 4096, false, 2, false},
	} {
		g, in := attnGroups(c.nb, c.splits, c.perRow, c.scratch, c.cols, c.counters, c.merge)
		if g != c.wantGroup || in != c.wantInKernel {
			t.Errorf("%s: attnGroups = %d rows, in the kernel %v; want %d, %v", c.name, g, in, c.wantGroup, c.wantInKernel)
		}
	}
}

func TestGEMVTables(t *testing.T) {
	src := source()
	for _, want := range []string{
		"#define GEMV_COLS(n) ((n) == 1 ? 1 : (n) == 2 ? 2 : 4)",
		"#define SWIGLU_COLS(n) ((n) <= 2 ? 1 : 2)",
		"#define GEMV_WARPS 8",
		"#define SEL_THREADS 1024",
		"#define ATT2_Q 64",
		"#define ATT2_K 64",
		"#define ATT2_THREADS 128",
		"#define GEMV_NORM_ROWS 4",
		"#define SK_THREADS 128",
		"#define SK_ROWS 128",
		"#define SK_KT 128",
		"#define AM_Q 64", // attention_mma.cu: the tiled kernel's grid and chunks
		"#define AM_K 64",
		"ATTENTION_MMA(attention_mma_bf16_hd128, 128, 1, 4)", // NG groups of WQ warps (attnMMAForm)
		"ATTENTION_MMA(attention_mma2_bf16_hd128, 128, 2, 4)",
		"ATTENTION_MMA(attention_mma4_bf16_hd128, 128, 4, 2)",
		"#define SEL2_THREADS 256",
		"#define GM_WARPS 8", // gemv_mma.cu: 256 threads, the modes
		"#define GM_PLAIN 0",
		"#define GM_ADD 1",
		"#define GM_SWIGLU 2",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("the kernels no longer say %q: update the Go side (gemvCols, gemvSwiGLUCols, selThreads, attnTiledQueries, attnTiledThreads, attnMMAForm)", want)
		}
	}
	for n, want := range []int{1, 2, 4, 4, 4, 4, 4, 4} {
		if got := gemvCols(n + 1); got != want {
			t.Errorf("gemvCols(%d) = %d, want %d", n+1, got, want)
		}
	}
	for _, c := range []struct{ cols, m, want int }{{1, 14336, 1792}, {4, 14336, 448}, {4, 33, 2}, {2, 16, 1}} {
		if got := gemvBlocks(c.cols, c.m); got != c.want {
			t.Errorf("gemvBlocks(%d, %d) = %d, want %d", c.cols, c.m, got, c.want)
		}
	}
	// Heads of 128 fit two blocks per SM of an H100/H200 (228 KiB, 1 KiB
	// reserved per block).
	if got := attnTiledSharedBytes(128); 2*(got+1024) > 228<<10 {
		t.Errorf("the tiled kernel takes %d bytes of shared memory at heads of 128: one block per SM", got)
	}
	for _, c := range []struct{ n, T, heads, want int }{
		{1024, 1024, 32, 1}, // 512 blocks: no split
		{256, 256, 32, 2},   // LLaDA without cache: 128 blocks, two chunks of 128 slots
		{64, 1000, 2, 8},    // few blocks: chunks of at least 128 slots
		{64, 100000, 1, 32}, // at most 32
		{32, 256, 32, 4},    // a LLaDA block over the dual cache: chunks of one tile, 128 blocks
		{32, 1024, 32, 8},   // the same over 1024 slots: 256 blocks
		{16, 100, 32, 2},    // chunks of 64 slots at least
	} {
		if got := attnTiledSplits(c.n, c.T, c.heads); got != c.want {
			t.Errorf("attnTiledSplits(%d, %d, %d) = %d, want %d", c.n, c.T, c.heads, got, c.want)
		}
	}
	for _, c := range []struct{ n, T, heads, oneChunk, want int }{
		{256, 256, 32, attnMMAOneChunk, 1},   // LLaDA without cache: 128 blocks, one chunk
		{2048, 2048, 32, attnMMAOneChunk, 1}, // a prefill
		{32, 256, 32, attnMMAOneChunk, 1},    // a dual-cache block: 32 blocks, but 256 slots
		{32, 256, 32, 0, 4},                  // split as the tiled kernel, as up to v15
		{32, 257, 32, attnMMAOneChunk, 5},
		{32, 1024, 32, attnMMAOneChunk, 8},
		{128, 128, 32, 0, 1}, // 64 blocks, but one chunk of 128 slots already
	} {
		if got := attnMMASplits(c.n, c.T, c.heads, attnMMABlocks, c.oneChunk); got != c.want {
			t.Errorf("attnMMASplits(%d, %d, %d, %d, %d) = %d, want %d", c.n, c.T, c.heads, attnMMABlocks, c.oneChunk, got, c.want)
		}
	}
	for _, c := range []struct{ n, heads, splits, force, want int }{
		{256, 32, 1, 0, 2},  // LLaDA's step: 128 blocks a row in one chunk
		{128, 32, 1, 0, 2},  // a LLaMA prompt of 128: 64 blocks
		{2048, 32, 1, 0, 1}, // a long prefill
		{512, 32, 1, 0, 1},  // 256 blocks
		{32, 32, 4, 0, 1},   // split in chunks
		{32, 32, 1, 0, 4},   // a dual-cache block of 32 over 256 slots: 32 blocks
		{16, 32, 1, 0, 4},
		{33, 32, 1, 0, 2},
		{256, 32, 1, 1, 1}, // forced
		{256, 32, 1, 4, 4},
		{2048, 32, 1, 2, 2},
	} {
		if got := attnMMAGroups(c.n, c.heads, c.splits, c.force); got != c.want {
			t.Errorf("attnMMAGroups(%d, %d, %d, %d) = %d, want %d", c.n, c.heads, c.splits, c.force, got, c.want)
		}
	}
}

// The skinny kernel's parameter is a C struct that skinnyArgs mirrors, and
// its splits depend on m and k only.
func TestSkinnyTables(t *testing.T) {
	src := source()
	for _, want := range []string{
		"struct SkinnySeg {\n    float *d;       // n × m\n    const void *w;  // m × k, 16-byte aligned, k a multiple of 8\n" +
			"    float *part;    // splits × n × m partial sums when splits > 1\n    int m, splits, tps, blocks;",
		"struct SkinnyArgs {\n    SkinnySeg seg[3];\n    const float *x; // n × k, 16-byte aligned\n" +
			"    unsigned *count; // a counter per block column, zero before the launch\n    int n, k, mode, nseg;\n};",
		"#define SK_PLAIN 0", "#define SK_ADD 1", "#define SK_SWIGLU 2",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("kernels/skinny.cu no longer says %q: update skinnyArgs", want)
		}
	}
	// The C layout on the 64-bit targets: 40-byte segments, then two
	// pointers and four ints.
	if got := unsafe.Sizeof(skinnyArgs{}); got != 152 {
		t.Errorf("skinnyArgs is %d bytes, SkinnyArgs 152", got)
	}
	if got := unsafe.Offsetof(skinnyArgs{}.x); got != 120 {
		t.Errorf("skinnyArgs.x at %d, want 120", got)
	}
	if got := unsafe.Offsetof(skinnyArgs{}.nseg); got != 148 {
		t.Errorf("skinnyArgs.nseg at %d, want 148", got)
	}
	for _, c := range []struct{ m, k, splits, tps int }{
		{4096, 4096, 8, 4},    // q, o: 32 block columns × 8 splits
		{1024, 4096, 16, 2},   // k, v: at most 16 splits
		{14336, 4096, 3, 11},  // gate, up: 112 columns × 3
		{4096, 14336, 8, 14},  // down
		{126464, 4096, 1, 32}, // LLaDA's head: columns enough, no partial sums
		{16, 200, 2, 1},       // fewer tiles than splits wanted
		{300, 8, 1, 1},        // one partial tile
	} {
		s, tps := skinnySplits(c.m, c.k)
		if s != c.splits || tps != c.tps {
			t.Errorf("skinnySplits(%d, %d) = %d, %d; want %d, %d", c.m, c.k, s, tps, c.splits, c.tps)
		}
		if tiles := (c.k + skinnyKT - 1) / skinnyKT; (s-1)*tps >= tiles || s*tps < tiles {
			t.Errorf("skinnySplits(%d, %d): %d splits of %d tiles leave one empty or a tile out of %d", c.m, c.k, s, tps, tiles)
		}
	}
	for n, want := range map[int]int{9: 0, 16: 0, 17: 1, 32: 1, 33: 2, 64: 2, 65: -1} {
		if got := skinnyTile(n); got != want {
			t.Errorf("skinnyTile(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestUnavailableError(t *testing.T) {
	r := cuda.Report{Err: errors.New("cuda: no usable library among libcuda.so.1"),
		Libraries: []cuda.Library{{Name: "cuda", Err: errors.New("cuda: no usable library among libcuda.so.1"),
			Attempts: []cuda.Attempt{{Path: "libcuda.so.1", Err: "not found"}}}}}
	var err error = &Unavailable{r}
	if !strings.Contains(err.Error(), "tried libcuda.so.1: not found") || !errors.Is(err, r.Err) {
		t.Errorf("error %q does not carry the report", err)
	}
}
