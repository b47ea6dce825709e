package device

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GPU describes the card a CUDA backend runs on.
type GPU struct {
	Name        string  `json:"name"`
	UUID        string  `json:"uuid"`
	Driver      string  `json:"driver"`
	CUDA        string  `json:"cuda"`
	CC          string  `json:"compute_capability"`
	MemoryBytes int64   `json:"memory_bytes"`
	SMClockMHz  int     `json:"sm_clock_mhz,omitempty"` // when the backend opened (often idle)
	SMMaxMHz    int     `json:"sm_clock_max_mhz,omitempty"`
	MemClockMHz int     `json:"mem_clock_mhz,omitempty"`
	PowerLimitW float64 `json:"power_limit_w,omitempty"`
}

// Monitor reads counters of the device a backend runs on. Each reading
// reports whether it is available.
type Monitor interface {
	// Energy is a cumulative energy counter in joules (NVML's total energy
	// on a GPU, RAPL's package energy on a CPU).
	Energy() (joules float64, ok bool)
	// EnergySource names the counter ("nvml", "rapl").
	EnergySource() string
	// ProcessMemory is the device memory this process uses (NVML), and the
	// memory used on the whole device.
	ProcessMemory() (process, device int64, ok bool)
}

// SteppedEnergy is a Monitor whose energy counter moves in steps a long
// time apart rather than continuously: a reading is the energy up to the
// counter's last update, up to a whole period old. NVML's counter on an
// H200 moves every 100 ms, in steps of 70 J under load (docs/perf.md,
// CUDA v17), so the difference of two readings around 10 ms of work is 0
// or 70 J. Measuring through it needs the times of its steps (bench does
// that).
type SteppedEnergy interface {
	Monitor
	// EnergyPeriod is the time between the counter's updates.
	EnergyPeriod() time.Duration
}

// ClockSample is one reading of a GPU's SM clock and of why the clocks are
// where they are.
type ClockSample struct {
	SMMHz       int
	PowerCapped bool // held down to keep the draw within the power limit
	Thermal     bool // held down for temperature
}

// ClockMonitor is a Monitor that also reads a GPU's clocks (NVML): whether
// a measurement ran at the card's full clock or was slowed, and why.
type ClockMonitor interface {
	Monitor
	// Clocks is the SM clock now and why it is there.
	Clocks() (ClockSample, bool)
}

// raplMonitor reads the CPU package energy counters of Linux's powercap
// interface where they are readable (often root only).
type raplMonitor struct {
	files []string  // energy_uj of each package domain
	max   []float64 // its max_energy_range_uj, where it wraps to 0
	mu    sync.Mutex
	last  []float64 // each file's previous reading
	wraps []float64 // each file's wraps so far, in µJ
}

// NewCPUMonitor returns a monitor of the CPU's RAPL counters; Energy reports
// unavailable where none is readable.
func NewCPUMonitor() Monitor { return newRAPLMonitor("/sys/class/powercap") }

// newRAPLMonitor reads the package domains of the powercap tree at root.
func newRAPLMonitor(root string) *raplMonitor {
	m := &raplMonitor{}
	dirs, _ := filepath.Glob(filepath.Join(root, "intel-rapl:*"))
	for _, d := range dirs {
		if strings.Count(filepath.Base(d), ":") != 1 { // packages only, not their sub-domains
			continue
		}
		// A top-level zone may be the platform's (psys, on laptops), which
		// holds the packages' energy already.
		if name, err := os.ReadFile(filepath.Join(d, "name")); err != nil || !strings.HasPrefix(string(name), "package") {
			continue
		}
		f := filepath.Join(d, "energy_uj")
		if _, ok := readFloat(f); !ok {
			continue
		}
		mx, _ := readFloat(filepath.Join(d, "max_energy_range_uj"))
		m.files, m.max = append(m.files, f), append(m.max, mx)
	}
	m.last, m.wraps = make([]float64, len(m.files)), make([]float64, len(m.files))
	return m
}

func readFloat(path string) (float64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	return v, err == nil
}

// Energy sums the packages' counters, each counted on past its wraps to 0
// at max_energy_range_uj (every few minutes to hours, by the package's
// power), so that it only grows while it is read at least once a wrap.
func (m *raplMonitor) Energy() (float64, bool) {
	if len(m.files) == 0 {
		return 0, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var sum float64
	for i, f := range m.files {
		v, ok := readFloat(f)
		if !ok {
			return 0, false
		}
		if v < m.last[i] && m.max[i] > 0 {
			m.wraps[i] += m.max[i]
		}
		m.last[i] = v
		sum += v + m.wraps[i]
	}
	return sum / 1e6, true
}

func (m *raplMonitor) EnergySource() string { return "rapl" }

func (m *raplMonitor) ProcessMemory() (int64, int64, bool) { return 0, 0, false }

// EnergyDelta returns the energy spent between two readings of a counter,
// or false when the counter went backwards (a wrap or a reset).
func EnergyDelta(before, after float64) (float64, bool) {
	if after < before {
		return 0, false
	}
	return after - before, true
}
