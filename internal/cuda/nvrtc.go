package cuda

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"dllmbench/internal/files"
)

var (
	nvrtcVersion           func(major, minor *int32) int32
	nvrtcGetErrorString    func(r int32) *byte
	nvrtcCreateProgram     func(prog *uintptr, src, name string, numHeaders int32, headers, includeNames unsafe.Pointer) int32
	nvrtcCompileProgram    func(prog uintptr, numOptions int32, options unsafe.Pointer) int32
	nvrtcGetProgramLogSize func(prog uintptr, size *uint64) int32
	nvrtcGetProgramLog     func(prog uintptr, log unsafe.Pointer) int32
	nvrtcGetCUBINSize      func(prog uintptr, size *uint64) int32
	nvrtcGetCUBIN          func(prog uintptr, cubin unsafe.Pointer) int32
	nvrtcDestroyProgram    func(prog *uintptr) int32
)

var nvrtcFns = []fn{
	// nvrtcResult nvrtcVersion(int *major, int *minor);
	{&nvrtcVersion, "nvrtcVersion", false},
	// const char *nvrtcGetErrorString(nvrtcResult result);
	{&nvrtcGetErrorString, "nvrtcGetErrorString", false},
	// nvrtcResult nvrtcCreateProgram(nvrtcProgram *prog, const char *src, const char *name,
	//     int numHeaders, const char * const *headers, const char * const *includeNames);
	{&nvrtcCreateProgram, "nvrtcCreateProgram", false},
	// nvrtcResult nvrtcCompileProgram(nvrtcProgram prog, int numOptions, const char * const *options);
	{&nvrtcCompileProgram, "nvrtcCompileProgram", false},
	// nvrtcResult nvrtcGetProgramLogSize(nvrtcProgram prog, size_t *logSizeRet);
	{&nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize", false},
	// nvrtcResult nvrtcGetProgramLog(nvrtcProgram prog, char *log);
	{&nvrtcGetProgramLog, "nvrtcGetProgramLog", false},
	// nvrtcResult nvrtcGetCUBINSize(nvrtcProgram prog, size_t *cubinSizeRet);
	{&nvrtcGetCUBINSize, "nvrtcGetCUBINSize", false},
	// nvrtcResult nvrtcGetCUBIN(nvrtcProgram prog, char *cubin);
	{&nvrtcGetCUBIN, "nvrtcGetCUBIN", false},
	// nvrtcResult nvrtcDestroyProgram(nvrtcProgram *prog);
	{&nvrtcDestroyProgram, "nvrtcDestroyProgram", false},
}

var (
	nvrtcOnce sync.Once
	nvrtcLib  *library
)

// nvrtcDeps preloads the builtins library NVRTC opens by name when it
// compiles, from the folder of a libnvrtc found by path.
func nvrtcDeps(dir string) []string {
	return files.Glob(dir, "libnvrtc-builtins.so.1[123].*")
}

// nvrtcNames are NVRTC's sonames, newest first. CUDA 11's (11.2 names every
// 11.x release) is a last resort: from 11.8 on it compiles for sm_90 too,
// and Debian packages it.
var nvrtcNames = []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"}

func loadNVRTC() *library {
	nvrtcOnce.Do(func() {
		nvrtcLib = load("nvrtc", nvrtcNames, toolkitDirs(osEnv()), nvrtcDeps, nvrtcFns)
		if nvrtcLib.info.Err == nil {
			var major, minor int32
			if nvrtcVersion(&major, &minor) == 0 {
				nvrtcLib.info.Version = fmt.Sprintf("%d.%d", major, minor)
			}
		}
	})
	return nvrtcLib
}

// LoadNVRTC loads NVRTC once per process.
func LoadNVRTC() error { return loadNVRTC().info.Err }

func checkNVRTC(call string, r int32) error {
	if r == 0 {
		return nil
	}
	name := goString(nvrtcGetErrorString(r))
	if name == "" {
		name = fmt.Sprintf("nvrtcResult(%d)", r)
	}
	return &Error{Lib: "nvrtc", Code: int(r), Name: name, Call: call}
}

// NVRTCVersion is the NVRTC library's (major, minor) version.
func NVRTCVersion() (major, minor int, err error) {
	if err := LoadNVRTC(); err != nil {
		return 0, 0, err
	}
	var a, b int32
	err = checkNVRTC("nvrtcVersion", nvrtcVersion(&a, &b))
	return int(a), int(b), err
}

// Compile compiles CUDA C++ source src (named name in messages) with the
// given options, such as "--gpu-architecture=sm_90", and returns the cubin
// and the compiler's log. A compilation error is returned with the log in
// its message.
func Compile(src, name string, options []string) (cubin []byte, log string, err error) {
	if err := LoadNVRTC(); err != nil {
		return nil, "", err
	}
	var prog uintptr
	if err := checkNVRTC("nvrtcCreateProgram", nvrtcCreateProgram(&prog, src, name, 0, nil, nil)); err != nil {
		return nil, "", err
	}
	defer nvrtcDestroyProgram(&prog)

	// The option list is a const char*[] of NUL-terminated strings: each
	// string and the array are pinned for the call.
	var pin runtime.Pinner
	defer pin.Unpin()
	opts := make([]*byte, len(options))
	for i, o := range options {
		b := append([]byte(o), 0)
		pin.Pin(&b[0])
		opts[i] = &b[0]
	}
	var optPtr unsafe.Pointer
	if len(opts) > 0 {
		pin.Pin(&opts[0])
		optPtr = unsafe.Pointer(&opts[0])
	}
	compileErr := checkNVRTC("nvrtcCompileProgram", nvrtcCompileProgram(prog, int32(len(opts)), optPtr))

	var n uint64
	if err := checkNVRTC("nvrtcGetProgramLogSize", nvrtcGetProgramLogSize(prog, &n)); err != nil {
		return nil, "", err
	}
	if n > 1 {
		buf := make([]byte, n)
		pin.Pin(&buf[0])
		if err := checkNVRTC("nvrtcGetProgramLog", nvrtcGetProgramLog(prog, unsafe.Pointer(&buf[0]))); err != nil {
			return nil, "", err
		}
		log = cString(buf)
	}
	if compileErr != nil {
		return nil, log, fmt.Errorf("compiling %s: %w\n%s", name, compileErr, log)
	}
	if err := checkNVRTC("nvrtcGetCUBINSize", nvrtcGetCUBINSize(prog, &n)); err != nil {
		return nil, log, err
	}
	if n == 0 {
		return nil, log, fmt.Errorf("compiling %s: NVRTC made an empty cubin (was a virtual architecture given?)", name)
	}
	cubin = make([]byte, n)
	pin.Pin(&cubin[0])
	if err := checkNVRTC("nvrtcGetCUBIN", nvrtcGetCUBIN(prog, unsafe.Pointer(&cubin[0]))); err != nil {
		return nil, log, err
	}
	return cubin, log, nil
}
