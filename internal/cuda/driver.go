package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Handles of the driver API. DevPtr is a CUdeviceptr (a 64-bit device
// address); the others are opaque pointers.
type (
	Device    int32
	Context   uintptr
	DevPtr    uintptr
	Module    uintptr
	Function  uintptr
	Stream    uintptr
	Event     uintptr
	Graph     uintptr
	GraphExec uintptr
)

// DeviceAttribute is a CUdevice_attribute.
type DeviceAttribute int32

const (
	AttrMultiprocessorCount            DeviceAttribute = 16
	AttrComputeCapabilityMajor         DeviceAttribute = 75
	AttrComputeCapabilityMinor         DeviceAttribute = 76
	AttrMaxSharedMemoryPerBlockOptin   DeviceAttribute = 97
	AttrMaxSharedMemoryPerMultiprocess DeviceAttribute = 81
)

// FuncAttribute is a CUfunction_attribute.
type FuncAttribute int32

const (
	FuncMaxDynamicSharedSizeBytes FuncAttribute = 8 // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
	// FuncPreferredSharedCarveout is CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
	// the share of the SM's L1/shared storage, in percent, to give shared
	// memory while the kernel runs (a hint): 0 favours the L1 cache, 100
	// shared memory.
	FuncPreferredSharedCarveout FuncAttribute = 9
)

// Flags and modes.
const (
	StreamNonBlocking  = 0x1 // CU_STREAM_NON_BLOCKING: no implicit sync with the legacy stream
	EventDefault       = 0x0 // CU_EVENT_DEFAULT
	EventDisableTiming = 0x2 // CU_EVENT_DISABLE_TIMING
	CaptureModeGlobal  = 0   // CU_STREAM_CAPTURE_MODE_GLOBAL
	CaptureModeThread  = 1   // CU_STREAM_CAPTURE_MODE_THREAD_LOCAL
	CaptureModeRelaxed = 2   // CU_STREAM_CAPTURE_MODE_RELAXED
)

// The driver API, bound by driverFns below. Sizes: CUresult, CUdevice,
// CUdevice_attribute and enums are 32-bit; size_t, CUdeviceptr and handles
// are 64-bit.
var (
	cuInit                      func(flags uint32) int32
	cuDriverGetVersion          func(version *int32) int32
	cuGetErrorName              func(code int32, name **byte) int32
	cuGetErrorString            func(code int32, str **byte) int32
	cuDeviceGetCount            func(count *int32) int32
	cuDeviceGet                 func(dev *Device, ordinal int32) int32
	cuDeviceGetName             func(name *byte, n int32, dev Device) int32
	cuDeviceGetAttribute        func(v *int32, attr DeviceAttribute, dev Device) int32
	cuDeviceTotalMem            func(bytes *uint64, dev Device) int32
	cuDeviceGetUuid             func(uuid *[16]byte, dev Device) int32
	cuDeviceGetUuidV2           func(uuid *[16]byte, dev Device) int32
	cuDevicePrimaryCtxRetain    func(ctx *Context, dev Device) int32
	cuDevicePrimaryCtxRelease   func(dev Device) int32
	cuDevicePrimaryCtxReleaseV2 func(dev Device) int32
	cuCtxSetCurrent             func(ctx Context) int32
	cuCtxSynchronize            func() int32
	cuMemAlloc                  func(p *DevPtr, bytes uint64) int32
	cuMemFree                   func(p DevPtr) int32
	cuMemGetInfo                func(free, total *uint64) int32
	cuMemAllocHost              func(p *unsafe.Pointer, bytes uint64) int32
	cuMemFreeHost               func(p unsafe.Pointer) int32
	cuMemcpyHtoDAsync           func(dst DevPtr, src unsafe.Pointer, bytes uint64, s Stream) int32
	cuMemcpyDtoHAsync           func(dst unsafe.Pointer, src DevPtr, bytes uint64, s Stream) int32
	cuMemcpyDtoDAsync           func(dst, src DevPtr, bytes uint64, s Stream) int32
	cuMemsetD32Async            func(dst DevPtr, v uint32, n uint64, s Stream) int32
	cuModuleLoadData            func(m *Module, image unsafe.Pointer) int32
	cuModuleUnload              func(m Module) int32
	cuModuleGetFunction         func(f *Function, m Module, name string) int32
	cuFuncSetAttribute          func(f Function, attr FuncAttribute, v int32) int32
	cuLaunchKernel              func(f Function, gx, gy, gz, bx, by, bz, shared uint32, s Stream, params, extra unsafe.Pointer) int32
	cuLaunchKernelEx            func(config *LaunchConfig, f Function, params, extra unsafe.Pointer) int32
	cuStreamCreate              func(s *Stream, flags uint32) int32
	cuStreamDestroy             func(s Stream) int32
	cuStreamSynchronize         func(s Stream) int32
	cuEventCreate               func(e *Event, flags uint32) int32
	cuEventRecord               func(e Event, s Stream) int32
	cuEventSynchronize          func(e Event) int32
	cuEventDestroy              func(e Event) int32
	cuEventElapsedTime          func(ms *float32, start, end Event) int32
	cuEventElapsedTimeV2        func(ms *float32, start, end Event) int32
	cuStreamBeginCapture        func(s Stream, mode int32) int32
	cuStreamEndCapture          func(s Stream, g *Graph) int32
	cuGraphInstantiateWithFlags func(e *GraphExec, g Graph, flags uint64) int32
	cuGraphLaunch               func(e GraphExec, s Stream) int32
	cuGraphExecDestroy          func(e GraphExec) int32
	cuGraphDestroy              func(g Graph) int32
)

var driverFns = []fn{
	// CUresult cuInit(unsigned int Flags);
	{&cuInit, "cuInit", false},
	// CUresult cuDriverGetVersion(int *driverVersion);
	{&cuDriverGetVersion, "cuDriverGetVersion", false},
	// CUresult cuGetErrorName(CUresult error, const char **pStr);
	{&cuGetErrorName, "cuGetErrorName", false},
	// CUresult cuGetErrorString(CUresult error, const char **pStr);
	{&cuGetErrorString, "cuGetErrorString", false},
	// CUresult cuDeviceGetCount(int *count);
	{&cuDeviceGetCount, "cuDeviceGetCount", false},
	// CUresult cuDeviceGet(CUdevice *device, int ordinal);
	{&cuDeviceGet, "cuDeviceGet", false},
	// CUresult cuDeviceGetName(char *name, int len, CUdevice dev);
	{&cuDeviceGetName, "cuDeviceGetName", false},
	// CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev);
	{&cuDeviceGetAttribute, "cuDeviceGetAttribute", false},
	// CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev);
	{&cuDeviceTotalMem, "cuDeviceTotalMem_v2", false},
	// CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev);
	{&cuDeviceGetUuid, "cuDeviceGetUuid", true},
	// CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev); (CUDA 11.4+; the same
	// bytes, also right under MIG)
	{&cuDeviceGetUuidV2, "cuDeviceGetUuid_v2", true},
	// CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev);
	{&cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", false},
	// CUresult cuDevicePrimaryCtxRelease(CUdevice dev);
	{&cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease", true},
	// CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev);
	{&cuDevicePrimaryCtxReleaseV2, "cuDevicePrimaryCtxRelease_v2", true},
	// CUresult cuCtxSetCurrent(CUcontext ctx);
	{&cuCtxSetCurrent, "cuCtxSetCurrent", false},
	// CUresult cuCtxSynchronize(void);
	{&cuCtxSynchronize, "cuCtxSynchronize", false},
	// CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize);
	{&cuMemAlloc, "cuMemAlloc_v2", false},
	// CUresult cuMemFree_v2(CUdeviceptr dptr);
	{&cuMemFree, "cuMemFree_v2", false},
	// CUresult cuMemGetInfo_v2(size_t *free, size_t *total);
	{&cuMemGetInfo, "cuMemGetInfo_v2", false},
	// CUresult cuMemAllocHost_v2(void **pp, size_t bytesize);
	{&cuMemAllocHost, "cuMemAllocHost_v2", false},
	// CUresult cuMemFreeHost(void *p);
	{&cuMemFreeHost, "cuMemFreeHost", false},
	// CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount, CUstream hStream);
	{&cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", false},
	// CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream);
	{&cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2", false},
	// CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream);
	{&cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2", false},
	// CUresult cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream);
	{&cuMemsetD32Async, "cuMemsetD32Async", false},
	// CUresult cuModuleLoadData(CUmodule *module, const void *image);
	{&cuModuleLoadData, "cuModuleLoadData", false},
	// CUresult cuModuleUnload(CUmodule hmod);
	{&cuModuleUnload, "cuModuleUnload", false},
	// CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name);
	{&cuModuleGetFunction, "cuModuleGetFunction", false},
	// CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value);
	{&cuFuncSetAttribute, "cuFuncSetAttribute", false},
	// CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
	//     unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
	//     unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
	//     void **kernelParams, void **extra);
	{&cuLaunchKernel, "cuLaunchKernel", false},
	// CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra);
	{&cuLaunchKernelEx, "cuLaunchKernelEx", true},
	// CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags);
	{&cuStreamCreate, "cuStreamCreate", false},
	// CUresult cuStreamDestroy_v2(CUstream hStream);
	{&cuStreamDestroy, "cuStreamDestroy_v2", false},
	// CUresult cuStreamSynchronize(CUstream hStream);
	{&cuStreamSynchronize, "cuStreamSynchronize", false},
	// CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags);
	{&cuEventCreate, "cuEventCreate", false},
	// CUresult cuEventRecord(CUevent hEvent, CUstream hStream);
	{&cuEventRecord, "cuEventRecord", false},
	// CUresult cuEventSynchronize(CUevent hEvent);
	{&cuEventSynchronize, "cuEventSynchronize", false},
	// CUresult cuEventDestroy_v2(CUevent hEvent);
	{&cuEventDestroy, "cuEventDestroy_v2", false},
	// CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd);
	{&cuEventElapsedTime, "cuEventElapsedTime", true},
	// CUresult cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd);
	{&cuEventElapsedTimeV2, "cuEventElapsedTime_v2", true},
	// CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode);
	{&cuStreamBeginCapture, "cuStreamBeginCapture_v2", false},
	// CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph);
	{&cuStreamEndCapture, "cuStreamEndCapture", false},
	// CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags);
	{&cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags", false},
	// CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream);
	{&cuGraphLaunch, "cuGraphLaunch", false},
	// CUresult cuGraphExecDestroy(CUgraphExec hGraphExec);
	{&cuGraphExecDestroy, "cuGraphExecDestroy", false},
	// CUresult cuGraphDestroy(CUgraph hGraph);
	{&cuGraphDestroy, "cuGraphDestroy", false},
}

var (
	driverOnce sync.Once
	driverLib  *library
	initErr    error
)

// loadDriver loads libcuda and calls cuInit once per process.
func loadDriver() *library {
	driverOnce.Do(func() {
		driverLib = load("cuda", []string{"libcuda.so.1"}, driverDirs(osEnv()), nil, driverFns)
		if driverLib.info.Err != nil {
			initErr = driverLib.info.Err
			return
		}
		var v int32
		if r := cuDriverGetVersion(&v); r == 0 {
			driverLib.info.Version = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
		}
		if cuEventElapsedTime == nil && cuEventElapsedTimeV2 == nil {
			initErr = errors.New("cuda: driver has neither cuEventElapsedTime nor cuEventElapsedTime_v2")
		} else if cuDevicePrimaryCtxRelease == nil && cuDevicePrimaryCtxReleaseV2 == nil {
			initErr = errors.New("cuda: driver has no cuDevicePrimaryCtxRelease")
		} else if cuDeviceGetUuid == nil && cuDeviceGetUuidV2 == nil {
			initErr = errors.New("cuda: driver has no cuDeviceGetUuid")
		} else {
			initErr = check("cuInit", cuInit(0))
		}
		driverLib.info.Err = initErr
	})
	return driverLib
}

// Init loads the driver library and initializes it; later calls return the
// first call's result. Every other driver function needs it to have
// succeeded.
func Init() error {
	loadDriver()
	return initErr
}

// check turns a CUresult into an *Error (nil on CUDA_SUCCESS).
func check(call string, r int32) error {
	if r == 0 {
		return nil
	}
	return &Error{Lib: "cuda", Code: int(r), Name: ErrorName(int(r)), Call: call}
}

// ErrorName is the driver's name for a CUresult ("CUDA_ERROR_OUT_OF_MEMORY").
func ErrorName(code int) string {
	if cuGetErrorName != nil {
		var p *byte
		if cuGetErrorName(int32(code), &p) == 0 && p != nil {
			return goString(p)
		}
	}
	return fmt.Sprintf("CUresult(%d)", code)
}

// ErrorString is the driver's description of a CUresult.
func ErrorString(code int) string {
	if cuGetErrorString != nil {
		var p *byte
		if cuGetErrorString(int32(code), &p) == 0 && p != nil {
			return goString(p)
		}
	}
	return ""
}

// DriverVersion is the CUDA version the driver supports, as 1000·major + 10·minor.
func DriverVersion() (int, error) {
	if err := Init(); err != nil {
		return 0, err
	}
	var v int32
	return int(v), check("cuDriverGetVersion", cuDriverGetVersion(&v))
}

// DeviceCount is the number of devices visible (after CUDA_VISIBLE_DEVICES).
func DeviceCount() (int, error) {
	if err := Init(); err != nil {
		return 0, err
	}
	var n int32
	return int(n), check("cuDeviceGetCount", cuDeviceGetCount(&n))
}

// GetDevice returns the device of an ordinal among the visible ones.
func GetDevice(ordinal int) (Device, error) {
	if err := Init(); err != nil {
		return 0, err
	}
	var d Device
	return d, check("cuDeviceGet", cuDeviceGet(&d, int32(ordinal)))
}

// Name is the device's marketing name.
func (d Device) Name() (string, error) {
	buf := make([]byte, 256)
	var p runtime.Pinner
	p.Pin(&buf[0])
	defer p.Unpin()
	if err := check("cuDeviceGetName", cuDeviceGetName(&buf[0], int32(len(buf)), d)); err != nil {
		return "", err
	}
	return cString(buf), nil
}

// Attribute reads a device attribute.
func (d Device) Attribute(a DeviceAttribute) (int, error) {
	var v int32
	return int(v), check("cuDeviceGetAttribute", cuDeviceGetAttribute(&v, a, d))
}

// ComputeCapability is the device's (major, minor) compute capability.
func (d Device) ComputeCapability() (major, minor int, err error) {
	if major, err = d.Attribute(AttrComputeCapabilityMajor); err != nil {
		return 0, 0, err
	}
	minor, err = d.Attribute(AttrComputeCapabilityMinor)
	return major, minor, err
}

// TotalMem is the device's memory in bytes.
func (d Device) TotalMem() (int64, error) {
	var n uint64
	return int64(n), check("cuDeviceTotalMem_v2", cuDeviceTotalMem(&n, d))
}

// UUID is the device's 16-byte UUID; UUIDString formats it as NVML does.
func (d Device) UUID() ([16]byte, error) {
	var u [16]byte
	if cuDeviceGetUuidV2 != nil {
		return u, check("cuDeviceGetUuid_v2", cuDeviceGetUuidV2(&u, d))
	}
	return u, check("cuDeviceGetUuid", cuDeviceGetUuid(&u, d))
}

// UUIDString formats a device UUID as nvidia-smi and NVML write it:
// GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.
func UUIDString(u [16]byte) string {
	return fmt.Sprintf("GPU-%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// RetainPrimaryContext retains the device's primary context, the one the
// CUDA runtime (and so cuBLAS) uses too.
func (d Device) RetainPrimaryContext() (Context, error) {
	var c Context
	return c, check("cuDevicePrimaryCtxRetain", cuDevicePrimaryCtxRetain(&c, d))
}

// ReleasePrimaryContext releases one retain of the primary context.
func (d Device) ReleasePrimaryContext() error {
	if cuDevicePrimaryCtxReleaseV2 != nil {
		return check("cuDevicePrimaryCtxRelease_v2", cuDevicePrimaryCtxReleaseV2(d))
	}
	return check("cuDevicePrimaryCtxRelease", cuDevicePrimaryCtxRelease(d))
}

// SetCurrent makes c the calling OS thread's current context.
func (c Context) SetCurrent() error { return check("cuCtxSetCurrent", cuCtxSetCurrent(c)) }

// Synchronize waits for all work of the current context.
func Synchronize() error { return check("cuCtxSynchronize", cuCtxSynchronize()) }

// MemAlloc allocates bytes of device memory, aligned to at least 256 bytes.
func MemAlloc(bytes int64) (DevPtr, error) {
	var p DevPtr
	return p, check("cuMemAlloc_v2", cuMemAlloc(&p, uint64(bytes)))
}

// MemFree frees device memory from MemAlloc; it waits for the device.
func MemFree(p DevPtr) error { return check("cuMemFree_v2", cuMemFree(p)) }

// MemGetInfo reports the free and total memory of the current device.
func MemGetInfo() (free, total int64, err error) {
	var f, t uint64
	err = check("cuMemGetInfo_v2", cuMemGetInfo(&f, &t))
	return int64(f), int64(t), err
}

// MemAllocHost allocates bytes of page-locked host memory, which the device
// copies to and from directly (no staging through a driver buffer).
func MemAllocHost(bytes int64) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	return p, check("cuMemAllocHost_v2", cuMemAllocHost(&p, uint64(bytes)))
}

// MemFreeHost frees memory from MemAllocHost.
func MemFreeHost(p unsafe.Pointer) error { return check("cuMemFreeHost", cuMemFreeHost(p)) }

// MemcpyHtoDAsync queues a copy of bytes from host memory src to dst. From
// pageable (ordinary Go) memory the driver copies src to a staging buffer
// before returning, so src may be reused as soon as the call returns.
func MemcpyHtoDAsync(dst DevPtr, src unsafe.Pointer, bytes int64, s Stream) error {
	return check("cuMemcpyHtoDAsync_v2", cuMemcpyHtoDAsync(dst, src, uint64(bytes), s))
}

// MemcpyDtoHAsync queues a copy of bytes from src to host memory dst. Into
// pageable memory it returns only once the copy is done.
func MemcpyDtoHAsync(dst unsafe.Pointer, src DevPtr, bytes int64, s Stream) error {
	return check("cuMemcpyDtoHAsync_v2", cuMemcpyDtoHAsync(dst, src, uint64(bytes), s))
}

// MemcpyDtoDAsync queues a device-to-device copy.
func MemcpyDtoDAsync(dst, src DevPtr, bytes int64, s Stream) error {
	return check("cuMemcpyDtoDAsync_v2", cuMemcpyDtoDAsync(dst, src, uint64(bytes), s))
}

// MemsetD32Async queues setting n 32-bit words at dst to v.
func MemsetD32Async(dst DevPtr, v uint32, n int64, s Stream) error {
	return check("cuMemsetD32Async", cuMemsetD32Async(dst, v, uint64(n), s))
}

// LoadModule loads a cubin (or PTX) image into the current context.
func LoadModule(image []byte) (Module, error) {
	if len(image) == 0 {
		panic("cuda: LoadModule of an empty image")
	}
	var p runtime.Pinner
	p.Pin(&image[0])
	defer p.Unpin()
	var m Module
	return m, check("cuModuleLoadData", cuModuleLoadData(&m, unsafe.Pointer(&image[0])))
}

// Function finds a kernel by its (extern "C") name.
func (m Module) Function(name string) (Function, error) {
	var f Function
	if err := check("cuModuleGetFunction", cuModuleGetFunction(&f, m, name)); err != nil {
		return 0, fmt.Errorf("kernel %s: %w", name, err)
	}
	return f, nil
}

// Unload unloads the module.
func (m Module) Unload() error { return check("cuModuleUnload", cuModuleUnload(m)) }

// SetAttribute sets a function attribute, such as the dynamic shared
// memory a launch may ask for beyond the default 48 KiB.
func (f Function) SetAttribute(a FuncAttribute, v int) error {
	return check("cuFuncSetAttribute", cuFuncSetAttribute(f, a, int32(v)))
}

// Launch queues the kernel on s. params is a void*[] with one pointer per
// kernel parameter, each to the parameter's value; the caller pins it (and
// the values) for the call.
func (f Function) Launch(grid, block [3]uint32, sharedBytes uint32, s Stream, params unsafe.Pointer) error {
	return check("cuLaunchKernel", cuLaunchKernel(f, grid[0], grid[1], grid[2], block[0], block[1], block[2],
		sharedBytes, s, params, nil))
}

// LaunchConfig is CUlaunchConfig with room for one attribute:
//
//	typedef struct CUlaunchConfig_st {
//	    unsigned int gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ;
//	    unsigned int sharedMemBytes;
//	    CUstream hStream;
//	    CUlaunchAttribute *attrs;
//	    unsigned int numAttrs;
//	} CUlaunchConfig;
//
// and CUlaunchAttribute is { CUlaunchAttributeID id; char pad[4];
// CUlaunchAttributeValue value; } with a 64-byte value union.
type LaunchConfig struct {
	Grid, Block [3]uint32
	Shared      uint32
	_           uint32
	Stream      Stream
	attrs       *launchAttr
	numAttrs    uint32
	_           uint32
	attr        launchAttr // what attrs points at: the struct is one object to pin
}

type launchAttr struct {
	id    uint32
	_     uint32
	value [64]byte
}

// launchAttrProgrammaticStreamSerialization is
// CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION.
const launchAttrProgrammaticStreamSerialization = 6

// HasLaunchEx says that the driver has cuLaunchKernelEx (CUDA 12.0 on).
func HasLaunchEx() bool { return cuLaunchKernelEx != nil }

// SetProgrammatic makes c's launches programmatic dependent launches
// (sm_90 on): the kernel may start before the one before it in the stream
// has finished, so it must execute griddepcontrol.wait before it touches
// memory that kernel writes or reads.
func (c *LaunchConfig) SetProgrammatic() {
	c.attr = launchAttr{id: launchAttrProgrammaticStreamSerialization}
	c.attr.value[0] = 1 // int programmaticStreamSerializationAllowed
	c.numAttrs = 1
}

// LaunchEx queues the kernel with c (cuLaunchKernelEx). c and params are
// read during the call only; the caller pins both (c holds a pointer to its
// own attribute, set here).
func (f Function) LaunchEx(c *LaunchConfig, params unsafe.Pointer) error {
	c.attrs = &c.attr
	return check("cuLaunchKernelEx", cuLaunchKernelEx(c, f, params, nil))
}

// NewStream creates a stream with flags (StreamNonBlocking).
func NewStream(flags uint32) (Stream, error) {
	var s Stream
	return s, check("cuStreamCreate", cuStreamCreate(&s, flags))
}

// Synchronize waits for the stream's work and returns its first error.
func (s Stream) Synchronize() error { return check("cuStreamSynchronize", cuStreamSynchronize(s)) }

// Destroy destroys the stream once its work is done.
func (s Stream) Destroy() error { return check("cuStreamDestroy_v2", cuStreamDestroy(s)) }

// BeginCapture starts recording the work queued on s into a graph instead
// of running it.
func (s Stream) BeginCapture(mode int) error {
	return check("cuStreamBeginCapture_v2", cuStreamBeginCapture(s, int32(mode)))
}

// EndCapture ends the recording and returns the graph.
func (s Stream) EndCapture() (Graph, error) {
	var g Graph
	return g, check("cuStreamEndCapture", cuStreamEndCapture(s, &g))
}

// Instantiate makes an executable graph.
func (g Graph) Instantiate() (GraphExec, error) {
	var e GraphExec
	return e, check("cuGraphInstantiateWithFlags", cuGraphInstantiateWithFlags(&e, g, 0))
}

// Destroy destroys the graph (executable graphs made from it stay).
func (g Graph) Destroy() error { return check("cuGraphDestroy", cuGraphDestroy(g)) }

// Launch queues the whole graph on s.
func (e GraphExec) Launch(s Stream) error { return check("cuGraphLaunch", cuGraphLaunch(e, s)) }

// Destroy destroys the executable graph.
func (e GraphExec) Destroy() error { return check("cuGraphExecDestroy", cuGraphExecDestroy(e)) }

// NewEvent creates an event with flags (EventDefault times, EventDisableTiming does not).
func NewEvent(flags uint32) (Event, error) {
	var e Event
	return e, check("cuEventCreate", cuEventCreate(&e, flags))
}

// Record queues the event on s.
func (e Event) Record(s Stream) error { return check("cuEventRecord", cuEventRecord(e, s)) }

// Synchronize waits for the event.
func (e Event) Synchronize() error { return check("cuEventSynchronize", cuEventSynchronize(e)) }

// Destroy destroys the event.
func (e Event) Destroy() error { return check("cuEventDestroy_v2", cuEventDestroy(e)) }

// ElapsedTime is the time in milliseconds between two completed events.
func ElapsedTime(start, end Event) (float32, error) {
	var ms float32
	if cuEventElapsedTimeV2 != nil {
		return ms, check("cuEventElapsedTime_v2", cuEventElapsedTimeV2(&ms, start, end))
	}
	return ms, check("cuEventElapsedTime", cuEventElapsedTime(&ms, start, end))
}
