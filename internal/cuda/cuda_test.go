package cuda

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

// fakeEnv is a machine with the given files and environment variables.
func fakeEnv(files []string, vars map[string]string) searchEnv {
	return searchEnv{
		getenv: func(k string) string { return vars[k] },
		glob: func(pat string) []string {
			var out []string
			seen := map[string]bool{}
			for _, f := range files {
				// A pattern matches a file or any folder above it.
				for p := f; p != "/" && p != "."; p = filepath.Dir(p) {
					if ok, _ := filepath.Match(pat, p); ok && !seen[p] {
						seen[p] = true
						out = append(out, p)
					}
				}
			}
			slices.Sort(out)
			return out
		},
		exists: func(p string) bool { return slices.Contains(files, p) },
		home:   "/home/u",
	}
}

func TestToolkitSearchOrder(t *testing.T) {
	files := []string{
		"/opt/ld/libcublas.so.12",
		"/opt/cuda-home/lib64/libcublas.so.13",
		"/opt/cuda-home/targets/x86_64-linux/lib/libcublas.so.13",
		"/opt/cuda-home/targets/x86_64-linux/lib/stubs/libcublas.so.13",
		"/usr/local/cuda-13.0/targets/x86_64-linux/lib/libcublas.so.13",
		"/usr/local/cuda-13.0/lib64/libcublas.so.13",
		"/usr/local/cuda-12.4/lib64/stubs/libcublas.so.12",
		"/usr/local/lib/python3.12/dist-packages/nvidia/cu13/lib/libcublas.so.13",
		"/home/u/.local/lib/python3.11/site-packages/nvidia/cublas/lib/libcublas.so.12",
		"/venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.13",
		"/opt/app/.venv/lib/python3.10/site-packages/nvidia/cublas/lib/libcublas.so.12",
	}
	e := fakeEnv(files, map[string]string{
		"LD_LIBRARY_PATH": "/opt/ld::/opt/cuda-home/targets/x86_64-linux/lib/stubs",
		"CUDA_HOME":       "/opt/cuda-home",
		"VIRTUAL_ENV":     "/venv",
	})
	paths, searched := candidates([]string{"libcublas.so.13", "libcublas.so.12"}, toolkitDirs(e), e)
	want := []string{
		// Every .so.13 before any .so.12, each soname first by itself.
		"libcublas.so.13",
		"/opt/cuda-home/lib64/libcublas.so.13",
		"/opt/cuda-home/targets/x86_64-linux/lib/libcublas.so.13",
		"/usr/local/cuda-13.0/targets/x86_64-linux/lib/libcublas.so.13",
		"/usr/local/cuda-13.0/lib64/libcublas.so.13",
		"/usr/local/lib/python3.12/dist-packages/nvidia/cu13/lib/libcublas.so.13",
		"/venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.13",
		"libcublas.so.12",
		"/opt/ld/libcublas.so.12",
		"/home/u/.local/lib/python3.11/site-packages/nvidia/cublas/lib/libcublas.so.12",
		"/opt/app/.venv/lib/python3.10/site-packages/nvidia/cublas/lib/libcublas.so.12",
	}
	if d := cmp.Diff(want, paths); d != "" {
		t.Errorf("candidates (-want +got):\n%s", d)
	}
	for _, s := range append(paths, searched...) {
		if strings.Contains(s, "stubs") {
			t.Errorf("a stubs folder was searched: %s", s)
		}
	}
	if !slices.Contains(searched, "/usr/local/cuda-12.4/lib64") {
		t.Errorf("searched folders without a match %v miss /usr/local/cuda-12.4/lib64", searched)
	}
}

func TestDriverSearchIgnoresToolkits(t *testing.T) {
	files := []string{"/usr/lib64/libcuda.so.1", "/usr/local/cuda/compat/libcuda.so.1", "/usr/local/cuda/lib64/stubs/libcuda.so.1"}
	e := fakeEnv(files, map[string]string{"LD_LIBRARY_PATH": "/usr/local/cuda/lib64/stubs"})
	paths, _ := candidates([]string{"libcuda.so.1"}, driverDirs(e), e)
	if d := cmp.Diff([]string{"libcuda.so.1", "/usr/lib64/libcuda.so.1"}, paths); d != "" {
		t.Errorf("candidates (-want +got):\n%s", d)
	}
}

func TestReportString(t *testing.T) {
	r := Report{
		Libraries: []Library{
			{Name: "cuda", Path: "libcuda.so.1", Version: "13.0", Attempts: []Attempt{{Path: "libcuda.so.1"}}},
			{Name: "cublas", Err: errors.New("cublas: no usable library among libcublas.so.13, libcublas.so.12"),
				Attempts: []Attempt{
					{Path: "libcublas.so.13", Err: "libcublas.so.13: cannot open shared object file: No such file or directory"},
					{Path: "/x/libcublas.so.12", Err: "missing symbols: cublasGemmEx"},
				},
				Searched: []string{"/usr/local/cuda/lib64"}},
		},
		Devices: []DeviceInfo{{Ordinal: 0, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-0123", Major: 9, Minor: 0, SMs: 132, Memory: 80 << 30}},
	}
	r.Err = r.Libraries[1].Err
	want := `cuda    libcuda.so.1 (version 13.0)
cublas  not usable: cublas: no usable library among libcublas.so.13, libcublas.so.12
          tried libcublas.so.13: libcublas.so.13: cannot open shared object file: No such file or directory
          tried /x/libcublas.so.12: missing symbols: cublasGemmEx
          searched without a match: /usr/local/cuda/lib64
device 0: NVIDIA H100 80GB HBM3, sm_90, 132 SMs, 80.0 GiB, GPU-0123
CUDA backend unavailable: cublas: no usable library among libcublas.so.13, libcublas.so.12
`
	if d := cmp.Diff(want, r.String()); d != "" {
		t.Errorf("report (-want +got):\n%s", d)
	}
}

// JSON carries every error as its message: an error value marshals as {}
// and 'dllmbench env --json' printed "Err":{} for each reason.
func TestReportJSON(t *testing.T) {
	cublasErr := errors.New("cublas: no usable library among libcublas.so.13")
	r := Report{
		Libraries: []Library{
			{Name: "cuda", Path: "libcuda.so.1", Attempts: []Attempt{{Path: "libcuda.so.1"}}},
			{Name: "cublas", Err: cublasErr, Attempts: []Attempt{{Path: "libcublas.so.13", Err: "not found"}}},
		},
		Err: cublasErr,
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Libraries":[` +
		`{"Name":"cuda","Path":"libcuda.so.1","Version":"","Attempts":[{"Path":"libcuda.so.1","Err":""}],"Searched":null,"Err":""},` +
		`{"Name":"cublas","Path":"","Version":"","Attempts":[{"Path":"libcublas.so.13","Err":"not found"}],"Searched":null,` +
		`"Err":"cublas: no usable library among libcublas.so.13"}],` +
		`"Devices":null,"Err":"cublas: no usable library among libcublas.so.13"}`
	if d := cmp.Diff(want, string(b)); d != "" {
		t.Errorf("JSON (-want +got):\n%s", d)
	}
}

func TestErrorFormat(t *testing.T) {
	var err error = fmt.Errorf("alloc: %w", &Error{Lib: "cuda", Code: 2, Name: "CUDA_ERROR_OUT_OF_MEMORY", Call: "cuMemAlloc_v2"})
	if got, want := err.Error(), "alloc: cuda: cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY (2)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var e *Error
	if !errors.As(err, &e) || !e.OutOfMemory() {
		t.Errorf("%v is not an out-of-memory *Error", err)
	}
	if (&Error{Lib: "cublas", Code: 13, Name: "CUBLAS_STATUS_EXECUTION_FAILED", Call: "cublasGemmEx"}).OutOfMemory() {
		t.Error("an execution failure reads as out of memory")
	}
	if got := checkBLAS("cublasCreate_v2", 7).Error(); got != "cublas: cublasCreate_v2: CUBLAS_STATUS_INVALID_VALUE (7)" &&
		cublasGetStatusName == nil {
		t.Errorf("got %q", got)
	}
}

func TestUUIDString(t *testing.T) {
	u := [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}
	if got, want := UUIDString(u), "GPU-01234567-89ab-cdef-0011-223344556677"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// The power-cap and thermal tests pick their reasons out of NVML's bits,
// whatever else is set beside them.
func TestClockReasons(t *testing.T) {
	for _, c := range []struct {
		r              ClockReasons
		power, thermal bool
	}{
		{0, false, false},
		{ClockIdle, false, false},
		{ClockSWPowerCap, true, false},
		{ClockHWPowerBrake | ClockIdle, true, false},
		{ClockSWThermal, false, true},
		{ClockHWThermal | ClockSWPowerCap, true, true},
		{ClockHWSlowdown | ClockAppSetting | ClockSyncBoost | ClockDisplaySetting, false, false},
	} {
		if c.r.PowerCapped() != c.power || c.r.Thermal() != c.thermal {
			t.Errorf("%#x: power capped %v, thermal %v; want %v, %v", uint64(c.r), c.r.PowerCapped(), c.r.Thermal(), c.power, c.thermal)
		}
	}
}

func TestStrings(t *testing.T) {
	b := []byte("sm_90\x00junk")
	if got := goString(&b[0]); got != "sm_90" {
		t.Errorf("goString = %q", got)
	}
	if got := cString(b); got != "sm_90" {
		t.Errorf("cString = %q", got)
	}
	if goString(nil) != "" {
		t.Error("goString(nil) is not empty")
	}
}

// requireGPU skips the test when the CUDA backend cannot run here, or
// fails it when DLLMBENCH_REQUIRE_GPU=1 says a GPU must be there.
func requireGPU(t testing.TB) Report {
	t.Helper()
	r := Probe()
	if r.Err != nil {
		if os.Getenv("DLLMBENCH_REQUIRE_GPU") == "1" {
			t.Fatalf("DLLMBENCH_REQUIRE_GPU=1 but CUDA is unusable:\n%s", r)
		}
		t.Skipf("no usable CUDA: %v", r.Err)
	}
	return r
}

// gpuContext skips the test without a usable GPU; else it locks the test's
// goroutine to its thread and makes device 0's primary context current
// there until the test ends.
func gpuContext(t *testing.T) Device {
	t.Helper()
	requireGPU(t)
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	dev, err := GetDevice(0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := dev.RetainPrimaryContext()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.ReleasePrimaryContext() })
	if err := ctx.SetCurrent(); err != nil {
		t.Fatal(err)
	}
	return dev
}

func TestProbe(t *testing.T) {
	t.Logf("probe:\n%s", Probe())
	r := requireGPU(t)
	for _, l := range r.Libraries[:3] {
		if l.Version == "" {
			t.Errorf("%s at %s reports no version", l.Name, l.Path)
		}
	}
}

// A kernel compiled by NVRTC, launched through the driver with pinned
// parameters, checked on the host: the whole chain the backend uses.
func TestCompileAndLaunch(t *testing.T) {
	dev := gpuContext(t)
	major, minor, err := dev.ComputeCapability()
	if err != nil {
		t.Fatal(err)
	}
	const src = `extern "C" __global__ void axpy(float *y, const float *x, float a, int n) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) y[i] += a * x[i];
}`
	cubin, log, err := Compile(src, "axpy.cu", []string{fmt.Sprintf("--gpu-architecture=sm_%d%d", major, minor), "-default-device", "--std=c++17"})
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, log)
	}
	mod, err := LoadModule(cubin)
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Unload()
	f, err := mod.Function("axpy")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStream(StreamNonBlocking)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()

	const n = 1000
	x, y := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], y[i] = float32(i), 1
	}
	dx, err := MemAlloc(4 * n)
	if err != nil {
		t.Fatal(err)
	}
	defer MemFree(dx)
	dy, err := MemAlloc(4 * n)
	if err != nil {
		t.Fatal(err)
	}
	defer MemFree(dy)
	if err := MemcpyHtoDAsync(dx, unsafe.Pointer(&x[0]), 4*n, s); err != nil {
		t.Fatal(err)
	}
	if err := MemcpyHtoDAsync(dy, unsafe.Pointer(&y[0]), 4*n, s); err != nil {
		t.Fatal(err)
	}
	args := &struct {
		y, x DevPtr
		a    float32
		n    int32
		ptrs [4]unsafe.Pointer
	}{y: dy, x: dx, a: 2, n: n}
	args.ptrs = [4]unsafe.Pointer{unsafe.Pointer(&args.y), unsafe.Pointer(&args.x), unsafe.Pointer(&args.a), unsafe.Pointer(&args.n)}
	var pin runtime.Pinner
	pin.Pin(args)
	err = f.Launch([3]uint32{(n + 127) / 128, 1, 1}, [3]uint32{128, 1, 1}, 0, s, unsafe.Pointer(&args.ptrs[0]))
	pin.Unpin()
	if err != nil {
		t.Fatal(err)
	}
	if err := MemcpyDtoHAsync(unsafe.Pointer(&y[0]), dy, 4*n, s); err != nil {
		t.Fatal(err)
	}
	if err := s.Synchronize(); err != nil {
		t.Fatal(err)
	}
	for i := range y {
		if want := 1 + 2*float32(i); y[i] != want {
			t.Fatalf("y[%d] = %v, want %v", i, y[i], want)
		}
	}

	// A compile error comes back with NVRTC's log.
	if _, _, err := Compile("this is not C++", "bad.cu", nil); err == nil || !strings.Contains(err.Error(), "bad.cu") {
		t.Errorf("a broken program compiled, or its error %v does not name it", err)
	}
	free, total, err := MemGetInfo()
	if err != nil || free <= 0 || total < free {
		t.Errorf("MemGetInfo = %d free, %d total, %v", free, total, err)
	}
}

func TestGraphAndEvents(t *testing.T) {
	gpuContext(t)
	s, err := NewStream(StreamNonBlocking)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	const n = 1 << 20
	buf, err := MemAlloc(4 * n)
	if err != nil {
		t.Fatal(err)
	}
	defer MemFree(buf)
	// Record a memset, replay it, read back.
	if err := s.BeginCapture(CaptureModeRelaxed); err != nil {
		t.Fatal(err)
	}
	if err := MemsetD32Async(buf, math.Float32bits(2.5), n, s); err != nil {
		t.Fatal(err)
	}
	g, err := s.EndCapture()
	if err != nil {
		t.Fatal(err)
	}
	exec, err := g.Instantiate()
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Destroy()
	if err := g.Destroy(); err != nil {
		t.Fatal(err)
	}
	start, _ := NewEvent(EventDefault)
	end, _ := NewEvent(EventDefault)
	defer start.Destroy()
	defer end.Destroy()
	if err := start.Record(s); err != nil {
		t.Fatal(err)
	}
	if err := exec.Launch(s); err != nil {
		t.Fatal(err)
	}
	if err := end.Record(s); err != nil {
		t.Fatal(err)
	}
	if err := end.Synchronize(); err != nil {
		t.Fatal(err)
	}
	ms, err := ElapsedTime(start, end)
	if err != nil || ms <= 0 {
		t.Errorf("ElapsedTime = %v ms, %v", ms, err)
	}
	out := make([]float32, n)
	if err := MemcpyDtoHAsync(unsafe.Pointer(&out[0]), buf, 4*n, s); err != nil {
		t.Fatal(err)
	}
	if err := s.Synchronize(); err != nil {
		t.Fatal(err)
	}
	if out[0] != 2.5 || out[n-1] != 2.5 {
		t.Errorf("graph replay wrote %v … %v, want 2.5", out[0], out[n-1])
	}
	t.Logf("memset of %d MiB through a graph: %.3f ms", 4*n>>20, ms)
}

func TestBLASVersion(t *testing.T) {
	gpuContext(t)
	h, err := NewBLAS()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Destroy()
	v, err := h.Version()
	if err != nil || v < 12000 {
		t.Errorf("cuBLAS version %d, %v", v, err)
	}
	t.Logf("cuBLAS %d, cublasSetWorkspace_v2 present: %v", v, HasSetWorkspace())
}

func TestNVML(t *testing.T) {
	r := requireGPU(t)
	if err := NVMLInit(); err != nil {
		t.Skipf("NVML unavailable (optional): %v", err)
	}
	defer NVMLShutdown()
	dv, err := NVMLDriverVersion()
	if err != nil {
		t.Error(err)
	}
	cv, err := NVMLCUDADriverVersion()
	if err != nil {
		t.Error(err)
	}
	d, err := NVMLDeviceByUUID(r.Devices[0].UUID)
	if err != nil {
		t.Fatalf("device %s by UUID: %v", r.Devices[0].UUID, err)
	}
	name, err := d.Name()
	if err != nil || name != r.Devices[0].Name {
		t.Errorf("NVML name %q (%v), driver name %q", name, err, r.Devices[0].Name)
	}
	uuid, err := d.UUID()
	if err != nil || uuid != r.Devices[0].UUID {
		t.Errorf("NVML UUID %q (%v), driver UUID %q", uuid, err, r.Devices[0].UUID)
	}
	total, free, used, err := d.Memory()
	if err != nil || total <= 0 || free+used > total+(1<<30) {
		t.Errorf("memory total %d free %d used %d: %v", total, free, used, err)
	}
	e, err := d.TotalEnergy()
	if err != nil {
		t.Error(err)
	}
	p, err := d.PowerUsage()
	if err != nil {
		t.Error(err)
	}
	lim, err := d.EnforcedPowerLimit()
	if err != nil {
		t.Error(err)
	}
	sm, err := d.Clock(ClockSM)
	if err != nil {
		t.Error(err)
	}
	mem, err := d.Clock(ClockMem)
	if err != nil {
		t.Error(err)
	}
	maxSM, err := d.MaxClock(ClockSM)
	if err != nil || maxSM < sm || maxSM <= 0 {
		t.Errorf("max SM clock %d MHz (%v), now %d", maxSM, err, sm)
	}
	why, err := d.ClockReasons()
	if err != nil || why >= 1<<16 {
		t.Errorf("clock reasons %#x: %v", why, err)
	}
	pm, listed, err := d.ProcessMemory(os.Getpid())
	t.Logf("driver %s (CUDA %d), %s: %d/%d MiB used, %.1f kJ since load, %.1f W of %.1f W, SM %d of %d MHz (reasons %#x), mem %d MHz; "+
		"this process: listed %v, %d MiB, %v", dv, cv, name, used>>20, total>>20, float64(e)/1e6, float64(p)/1e3,
		float64(lim)/1e3, sm, maxSM, uint64(why), mem, listed, pm>>20, err)
}

// LaunchConfig must have CUlaunchConfig's layout on 64-bit Linux (56
// bytes: the stream at 32, the attributes at 40, their count at 48), and
// the attribute CUlaunchAttribute's (72 bytes, the value at 8).
func TestLaunchConfigLayout(t *testing.T) {
	var c LaunchConfig
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"Shared", unsafe.Offsetof(c.Shared), 24},
		{"Stream", unsafe.Offsetof(c.Stream), 32},
		{"attrs", unsafe.Offsetof(c.attrs), 40},
		{"numAttrs", unsafe.Offsetof(c.numAttrs), 48},
		{"attr (past CUlaunchConfig)", unsafe.Offsetof(c.attr), 56},
		{"attribute value", unsafe.Offsetof(c.attr.value), 8},
		{"attribute size", unsafe.Sizeof(c.attr), 72},
	} {
		if f.got != f.want {
			t.Errorf("%s at %d, want %d", f.name, f.got, f.want)
		}
	}
	c.SetProgrammatic()
	if c.numAttrs != 1 || c.attr.id != 6 || c.attr.value[0] != 1 {
		t.Errorf("SetProgrammatic: %d attributes, id %d, value %d", c.numAttrs, c.attr.id, c.attr.value[0])
	}
}
