package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// NVMLDevice is an nvmlDevice_t. NVML numbers devices as the machine does,
// ignoring CUDA_VISIBLE_DEVICES: find a CUDA device's handle by its UUID.
type NVMLDevice uintptr

// ClockReasons is the bit set NVML reports for why a device's clocks are
// where they are (nvmlClocksEventReason*, formerly nvmlClocksThrottleReason*).
type ClockReasons uint64

const (
	ClockIdle           ClockReasons = 0x1   // nothing runs
	ClockAppSetting     ClockReasons = 0x2   // application clocks set below the maximum
	ClockSWPowerCap     ClockReasons = 0x4   // the power cap: the clocks are lowered to hold the draw under the limit
	ClockHWSlowdown     ClockReasons = 0x8   // hardware slowdown (temperature or power brake)
	ClockSyncBoost      ClockReasons = 0x10  // held with other GPUs of a sync-boost group
	ClockSWThermal      ClockReasons = 0x20  // the driver's thermal slowdown
	ClockHWThermal      ClockReasons = 0x40  // the hardware's thermal slowdown
	ClockHWPowerBrake   ClockReasons = 0x80  // the external power brake
	ClockDisplaySetting ClockReasons = 0x100 // display clock setting
)

// PowerCapped says that the clocks are held down to keep the device's
// power within its limit (the software cap or the power brake).
func (r ClockReasons) PowerCapped() bool { return r&(ClockSWPowerCap|ClockHWPowerBrake) != 0 }

// Thermal says that the clocks are held down for temperature.
func (r ClockReasons) Thermal() bool { return r&(ClockSWThermal|ClockHWThermal) != 0 }

// ClockType is an nvmlClockType_t.
type ClockType int32

const (
	ClockSM  ClockType = 1 // NVML_CLOCK_SM
	ClockMem ClockType = 2 // NVML_CLOCK_MEM
)

// nvmlProcessInfo is nvmlProcessInfo_t (v2 layout, 24 bytes), as the _v2
// and _v3 process queries fill it.
type nvmlProcessInfo struct {
	pid               uint32
	_                 uint32
	usedGPUMemory     uint64
	gpuInstanceID     uint32
	computeInstanceID uint32
}

// nvmlMemory is nvmlMemory_t.
type nvmlMemory struct{ total, free, used uint64 }

var (
	nvmlInit                             func() int32
	nvmlShutdown                         func() int32
	nvmlErrorString                      func(r int32) *byte
	nvmlSystemGetDriverVersion           func(v *byte, n uint32) int32
	nvmlSystemGetCudaDriverVersion       func(v *int32) int32
	nvmlDeviceGetHandleByIndex           func(i uint32, d *NVMLDevice) int32
	nvmlDeviceGetHandleByUUID            func(uuid string, d *NVMLDevice) int32
	nvmlDeviceGetName                    func(d NVMLDevice, name *byte, n uint32) int32
	nvmlDeviceGetUUID                    func(d NVMLDevice, uuid *byte, n uint32) int32
	nvmlDeviceGetMemoryInfo              func(d NVMLDevice, m *nvmlMemory) int32
	nvmlDeviceGetComputeRunningProcesses func(d NVMLDevice, n *uint32, infos unsafe.Pointer) int32
	nvmlDeviceGetComputeRunningProcV2    func(d NVMLDevice, n *uint32, infos unsafe.Pointer) int32
	nvmlDeviceGetTotalEnergyConsumption  func(d NVMLDevice, mJ *uint64) int32
	nvmlDeviceGetPowerUsage              func(d NVMLDevice, mW *uint32) int32
	nvmlDeviceGetEnforcedPowerLimit      func(d NVMLDevice, mW *uint32) int32
	nvmlDeviceGetClockInfo               func(d NVMLDevice, t ClockType, mhz *uint32) int32
	nvmlDeviceGetMaxClockInfo            func(d NVMLDevice, t ClockType, mhz *uint32) int32
	nvmlDeviceGetClocksEventReasons      func(d NVMLDevice, reasons *uint64) int32
	nvmlDeviceGetClocksThrottleReasons   func(d NVMLDevice, reasons *uint64) int32
)

var nvmlFns = []fn{
	// nvmlReturn_t nvmlInit_v2(void);
	{&nvmlInit, "nvmlInit_v2", false},
	// nvmlReturn_t nvmlShutdown(void);
	{&nvmlShutdown, "nvmlShutdown", false},
	// const char *nvmlErrorString(nvmlReturn_t result);
	{&nvmlErrorString, "nvmlErrorString", false},
	// nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length);
	{&nvmlSystemGetDriverVersion, "nvmlSystemGetDriverVersion", false},
	// nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion);
	{&nvmlSystemGetCudaDriverVersion, "nvmlSystemGetCudaDriverVersion", false},
	// nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device);
	{&nvmlDeviceGetHandleByIndex, "nvmlDeviceGetHandleByIndex_v2", false},
	// nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device);
	{&nvmlDeviceGetHandleByUUID, "nvmlDeviceGetHandleByUUID", false},
	// nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length);
	{&nvmlDeviceGetName, "nvmlDeviceGetName", false},
	// nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length);
	{&nvmlDeviceGetUUID, "nvmlDeviceGetUUID", false},
	// nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory);
	{&nvmlDeviceGetMemoryInfo, "nvmlDeviceGetMemoryInfo", false},
	// nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
	//     unsigned int *infoCount, nvmlProcessInfo_t *infos);
	{&nvmlDeviceGetComputeRunningProcesses, "nvmlDeviceGetComputeRunningProcesses_v3", true},
	// nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device,
	//     unsigned int *infoCount, nvmlProcessInfo_v2_t *infos);
	{&nvmlDeviceGetComputeRunningProcV2, "nvmlDeviceGetComputeRunningProcesses_v2", true},
	// nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy);
	{&nvmlDeviceGetTotalEnergyConsumption, "nvmlDeviceGetTotalEnergyConsumption", false},
	// nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power);
	{&nvmlDeviceGetPowerUsage, "nvmlDeviceGetPowerUsage", false},
	// nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit);
	{&nvmlDeviceGetEnforcedPowerLimit, "nvmlDeviceGetEnforcedPowerLimit", false},
	// nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, nvmlClockType_t type, unsigned int *clock);
	{&nvmlDeviceGetClockInfo, "nvmlDeviceGetClockInfo", false},
	// nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t device, nvmlClockType_t type, unsigned int *clock);
	{&nvmlDeviceGetMaxClockInfo, "nvmlDeviceGetMaxClockInfo", true},
	// nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device,
	//     unsigned long long *clocksEventReasons);
	{&nvmlDeviceGetClocksEventReasons, "nvmlDeviceGetCurrentClocksEventReasons", true},
	// nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device,
	//     unsigned long long *clocksThrottleReasons);
	// (the name before driver 535; the same bits)
	{&nvmlDeviceGetClocksThrottleReasons, "nvmlDeviceGetCurrentClocksThrottleReasons", true},
}

var (
	nvmlOnce sync.Once
	nvmlLib  *library
)

func loadNVML() *library {
	nvmlOnce.Do(func() {
		nvmlLib = load("nvml", []string{"libnvidia-ml.so.1"}, driverDirs(osEnv()), nil, nvmlFns)
	})
	return nvmlLib
}

// errNVMLValueNotAvailable is what NVML reports for a process whose memory
// it may not show (NVML_VALUE_NOT_AVAILABLE).
var errNVMLValueNotAvailable = errors.New("nvml: the process's memory is not available")

func checkNVML(call string, r int32) error {
	if r == 0 {
		return nil
	}
	name := goString(nvmlErrorString(r))
	if name == "" {
		name = fmt.Sprintf("nvmlReturn_t(%d)", r)
	}
	return &Error{Lib: "nvml", Code: int(r), Name: name, Call: call}
}

// NVMLInit loads NVML and initializes it; pair it with NVMLShutdown.
func NVMLInit() error {
	if err := loadNVML().info.Err; err != nil {
		return err
	}
	return checkNVML("nvmlInit_v2", nvmlInit())
}

// NVMLShutdown undoes one NVMLInit.
func NVMLShutdown() error { return checkNVML("nvmlShutdown", nvmlShutdown()) }

// nvmlString calls f with a pinned buffer of n bytes and returns its string.
func nvmlString(call string, n int, f func(p *byte, n uint32) int32) (string, error) {
	buf := make([]byte, n)
	var pin runtime.Pinner
	pin.Pin(&buf[0])
	defer pin.Unpin()
	if err := checkNVML(call, f(&buf[0], uint32(n))); err != nil {
		return "", err
	}
	return cString(buf), nil
}

// NVMLDriverVersion is the driver's version string ("580.95.05").
func NVMLDriverVersion() (string, error) {
	return nvmlString("nvmlSystemGetDriverVersion", 96, nvmlSystemGetDriverVersion)
}

// NVMLCUDADriverVersion is the CUDA version the driver supports, as
// 1000·major + 10·minor.
func NVMLCUDADriverVersion() (int, error) {
	var v int32
	return int(v), checkNVML("nvmlSystemGetCudaDriverVersion", nvmlSystemGetCudaDriverVersion(&v))
}

// NVMLDeviceByIndex is the device of a machine-wide index.
func NVMLDeviceByIndex(i int) (NVMLDevice, error) {
	var d NVMLDevice
	return d, checkNVML("nvmlDeviceGetHandleByIndex_v2", nvmlDeviceGetHandleByIndex(uint32(i), &d))
}

// NVMLDeviceByUUID is the device of a UUID as UUIDString writes it.
func NVMLDeviceByUUID(uuid string) (NVMLDevice, error) {
	var d NVMLDevice
	return d, checkNVML("nvmlDeviceGetHandleByUUID", nvmlDeviceGetHandleByUUID(uuid, &d))
}

// Name is the device's name.
func (d NVMLDevice) Name() (string, error) {
	return nvmlString("nvmlDeviceGetName", 96, func(p *byte, n uint32) int32 { return nvmlDeviceGetName(d, p, n) })
}

// UUID is the device's UUID string.
func (d NVMLDevice) UUID() (string, error) {
	return nvmlString("nvmlDeviceGetUUID", 96, func(p *byte, n uint32) int32 { return nvmlDeviceGetUUID(d, p, n) })
}

// Memory reports the device's memory in bytes: total, free and used by all
// processes.
func (d NVMLDevice) Memory() (total, free, used int64, err error) {
	var m nvmlMemory
	err = checkNVML("nvmlDeviceGetMemoryInfo", nvmlDeviceGetMemoryInfo(d, &m))
	return int64(m.total), int64(m.free), int64(m.used), err
}

// ProcessMemory is the device memory used by process pid, and whether NVML
// lists that process at all. In a container NVML may list processes by
// their host PIDs, so that the container's own PID is not found.
func (d NVMLDevice) ProcessMemory(pid int) (bytes int64, listed bool, err error) {
	call, f := "nvmlDeviceGetComputeRunningProcesses_v3", nvmlDeviceGetComputeRunningProcesses
	if f == nil {
		call, f = "nvmlDeviceGetComputeRunningProcesses_v2", nvmlDeviceGetComputeRunningProcV2
	}
	if f == nil {
		return 0, false, fmt.Errorf("nvml: the library has no nvmlDeviceGetComputeRunningProcesses_v3 or _v2")
	}
	// Ask with room for a few more than now run, in case processes start
	// between the calls.
	infos := make([]nvmlProcessInfo, 64)
	for {
		n := uint32(len(infos))
		var pin runtime.Pinner
		pin.Pin(&infos[0])
		r := f(d, &n, unsafe.Pointer(&infos[0]))
		pin.Unpin()
		if r == 7 { // NVML_ERROR_INSUFFICIENT_SIZE: n holds the count needed
			infos = make([]nvmlProcessInfo, int(n)+16)
			continue
		}
		if err := checkNVML(call, r); err != nil {
			return 0, false, err
		}
		for _, p := range infos[:n] {
			if int(p.pid) == pid {
				if p.usedGPUMemory == ^uint64(0) {
					return 0, true, errNVMLValueNotAvailable
				}
				return int64(p.usedGPUMemory), true, nil
			}
		}
		return 0, false, nil
	}
}

// TotalEnergy is the energy the device used since the driver loaded, in
// millijoules.
func (d NVMLDevice) TotalEnergy() (uint64, error) {
	var v uint64
	return v, checkNVML("nvmlDeviceGetTotalEnergyConsumption", nvmlDeviceGetTotalEnergyConsumption(d, &v))
}

// PowerUsage is the device's power draw in milliwatts.
func (d NVMLDevice) PowerUsage() (int, error) {
	var v uint32
	return int(v), checkNVML("nvmlDeviceGetPowerUsage", nvmlDeviceGetPowerUsage(d, &v))
}

// EnforcedPowerLimit is the device's power limit in milliwatts.
func (d NVMLDevice) EnforcedPowerLimit() (int, error) {
	var v uint32
	return int(v), checkNVML("nvmlDeviceGetEnforcedPowerLimit", nvmlDeviceGetEnforcedPowerLimit(d, &v))
}

// MaxClock is the highest clock of a domain in MHz.
func (d NVMLDevice) MaxClock(t ClockType) (int, error) {
	if nvmlDeviceGetMaxClockInfo == nil {
		return 0, fmt.Errorf("nvml: the library has no nvmlDeviceGetMaxClockInfo")
	}
	var v uint32
	return int(v), checkNVML("nvmlDeviceGetMaxClockInfo", nvmlDeviceGetMaxClockInfo(d, t, &v))
}

// ClockReasons is why the device's clocks are where they are now.
func (d NVMLDevice) ClockReasons() (ClockReasons, error) {
	call, f := "nvmlDeviceGetCurrentClocksEventReasons", nvmlDeviceGetClocksEventReasons
	if f == nil {
		call, f = "nvmlDeviceGetCurrentClocksThrottleReasons", nvmlDeviceGetClocksThrottleReasons
	}
	if f == nil {
		return 0, fmt.Errorf("nvml: the library has no nvmlDeviceGetCurrentClocksEventReasons or nvmlDeviceGetCurrentClocksThrottleReasons")
	}
	var v uint64
	return ClockReasons(v), checkNVML(call, f(d, &v))
}

// Clock is the current clock of a domain in MHz.
func (d NVMLDevice) Clock(t ClockType) (int, error) {
	var v uint32
	return int(v), checkNVML("nvmlDeviceGetClockInfo", nvmlDeviceGetClockInfo(d, t, &v))
}
