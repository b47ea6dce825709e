package device

import (
	"fmt"
	"os"
	"time"

	"dllmbench/compute"
	"dllmbench/compute/cuda"
	icuda "dllmbench/internal/cuda"
)

func init() {
	openCUDA = openCUDABackend
	checkCUDA = func(dev int) (string, error) {
		d, err := cuda.Check(dev)
		return d.Name, err
	}
}

// openCUDABackend opens the CUDA backend on a device and describes the card
// through NVML where it loads (the backend runs without it).
func openCUDABackend(dev int) (compute.Backend, Info, error) {
	b, err := cuda.New(dev)
	if err != nil {
		return nil, Info{}, err
	}
	d := b.Device()
	info := Info{Backend: "cuda", Name: d.Name, GPU: &GPU{Name: d.Name, UUID: d.UUID,
		CC: fmt.Sprintf("%d.%d", d.Major, d.Minor), MemoryBytes: d.Memory}}
	if icuda.NVMLInit() == nil {
		if v, err := icuda.NVMLDriverVersion(); err == nil {
			info.GPU.Driver = v
		}
		if v, err := icuda.NVMLCUDADriverVersion(); err == nil {
			info.GPU.CUDA = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
		}
		if nd, err := icuda.NVMLDeviceByUUID(d.UUID); err == nil {
			if v, err := nd.Clock(icuda.ClockSM); err == nil {
				info.GPU.SMClockMHz = v
			}
			if v, err := nd.MaxClock(icuda.ClockSM); err == nil {
				info.GPU.SMMaxMHz = v
			}
			if v, err := nd.Clock(icuda.ClockMem); err == nil {
				info.GPU.MemClockMHz = v
			}
			if v, err := nd.EnforcedPowerLimit(); err == nil {
				info.GPU.PowerLimitW = float64(v) / 1000
			}
			info.Monitor = nvmlMonitor{nd}
		}
	}
	return b, info, nil
}

// nvmlMonitor reads a GPU's energy counter, memory and clocks through NVML.
type nvmlMonitor struct{ d icuda.NVMLDevice }

var (
	_ ClockMonitor  = nvmlMonitor{}
	_ SteppedEnergy = nvmlMonitor{}
)

func (m nvmlMonitor) Energy() (float64, bool) {
	mj, err := m.d.TotalEnergy()
	return float64(mj) / 1000, err == nil
}

func (m nvmlMonitor) EnergySource() string { return "nvml" }

// EnergyPeriod is the update period of NVML's energy counter measured on
// H200s with driver 580 (median 99.9 ms between changes, idle and under
// load; docs/perf.md, CUDA v17). Bench uses it to bound its waits for a
// step, so a card whose counter moves faster is only measured better.
func (m nvmlMonitor) EnergyPeriod() time.Duration { return 100 * time.Millisecond }

func (m nvmlMonitor) ProcessMemory() (int64, int64, bool) {
	_, _, used, err := m.d.Memory()
	if err != nil {
		return 0, 0, false
	}
	p, _, err := m.d.ProcessMemory(os.Getpid())
	return p, used, err == nil
}

func (m nvmlMonitor) Clocks() (ClockSample, bool) {
	sm, err := m.d.Clock(icuda.ClockSM)
	if err != nil {
		return ClockSample{}, false
	}
	why, err := m.d.ClockReasons()
	if err != nil {
		return ClockSample{}, false
	}
	return ClockSample{SMMHz: sm, PowerCapped: why.PowerCapped(), Thermal: why.Thermal()}, true
}
