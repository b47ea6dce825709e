// Package device opens the backend a user asks for: the CPU, a CUDA GPU, or
// whichever works ("auto").
package device

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"dllmbench/compute"
	"dllmbench/compute/cpu"
)

// Options choose a backend.
type Options struct {
	Backend string // auto, cpu or cuda; empty means auto
	Device  int    // GPU index, relative to CUDA_VISIBLE_DEVICES
	Threads int    // CPU worker goroutines; 0 means GOMAXPROCS
}

// Info describes the backend that was opened.
type Info struct {
	Backend string  `json:"backend"` // "cpu" or "cuda"
	Name    string  `json:"device"`  // the CPU model or the GPU name
	GPU     *GPU    `json:"gpu,omitempty"`
	Monitor Monitor `json:"-"` // energy and memory counters
	Notice  string  `json:"-"` // why auto chose what it chose, for a log line
}

// openCUDA opens the CUDA backend on a device, and checkCUDA says whether
// it would without opening it (the libraries load, the device is visible);
// cuda.go sets both.
var (
	openCUDA  func(device int) (compute.Backend, Info, error)
	checkCUDA func(device int) (name string, err error)
)

// Choice is the backend Open takes for a set of Options.
type Choice struct {
	Backend string // "cpu" or "cuda"
	GPU     string // the CUDA device's name, when known
	// NoGPU is why auto did not take CUDA; nil when it did or when the
	// backend was named.
	NoGPU error
}

// Notice says why auto chose what it chose, for a log line; "" for a
// backend that was named.
func (c Choice) notice(auto bool) string {
	switch {
	case !auto:
		return ""
	case c.Backend == "cuda":
		return "using CUDA device " + c.GPU
	case c.NoGPU != nil:
		return fmt.Sprintf("no usable GPU (%v); running on the CPU", FirstLine(c.NoGPU))
	}
	return "running on the CPU"
}

// Open returns the backend of o. With "auto" it takes CUDA when it loads
// and the CPU otherwise, except that GPUs allocated to this process (by
// CUDA_VISIBLE_DEVICES or SLURM) that will not load are an error: a job
// that was given a GPU must not silently benchmark the CPU.
func Open(o Options) (compute.Backend, Info, error) {
	var b compute.Backend
	var info Info
	var tryCUDA func() (string, error)
	if openCUDA != nil {
		tryCUDA = func() (string, error) {
			var err error
			b, info, err = openCUDA(o.Device)
			return info.Name, err
		}
	}
	c, err := choose(o, tryCUDA)
	if err != nil {
		return nil, Info{}, err
	}
	if c.Backend == "cpu" {
		b, info = openCPU(o.Threads)
	}
	info.Notice = c.notice(IsAuto(o.Backend))
	return b, info, nil
}

// Choose says which backend Open would take for o, by Open's own rule,
// without opening one: where Open opens CUDA to see whether it loads,
// Choose only loads its libraries and lists the devices (cuda.Check),
// which costs the driver's initialisation (a fraction of a second on a
// machine with GPUs) but no context, kernel compilation or cuBLAS handle.
// A device that passes that check but then fails to open (out of memory,
// kernels that do not compile) is chosen here and refused by Open.
func Choose(o Options) (Choice, error) {
	var tryCUDA func() (string, error)
	if checkCUDA != nil {
		tryCUDA = func() (string, error) { return checkCUDA(o.Device) }
	}
	return choose(o, tryCUDA)
}

// choose is the rule of Open and Choose; tryCUDA opens or checks CUDA on
// o's device and returns its name, and is nil in a binary without CUDA.
func choose(o Options, tryCUDA func() (string, error)) (Choice, error) {
	switch {
	case IsAuto(o.Backend):
		if tryCUDA == nil {
			if why := allocatedGPUs(); why != "" {
				return Choice{}, fmt.Errorf("device: %s but this binary has no CUDA backend", why)
			}
			return Choice{Backend: "cpu"}, nil
		}
		name, err := tryCUDA()
		if err == nil {
			return Choice{Backend: "cuda", GPU: name}, nil
		}
		if why := allocatedGPUs(); why != "" {
			return Choice{}, fmt.Errorf("device: %s but CUDA does not load: %w", why, err)
		}
		return Choice{Backend: "cpu", NoGPU: err}, nil
	case strings.EqualFold(o.Backend, "cpu"):
		return Choice{Backend: "cpu"}, nil
	case IsCUDA(o.Backend):
		if tryCUDA == nil {
			return Choice{}, fmt.Errorf("device: this binary has no CUDA backend")
		}
		name, err := tryCUDA()
		if err != nil {
			return Choice{}, fmt.Errorf("device: --backend cuda: %w", err)
		}
		return Choice{Backend: "cuda", GPU: name}, nil
	}
	return Choice{}, fmt.Errorf("device: unknown backend %q (want auto, cpu or cuda)", o.Backend)
}

// IsAuto reports whether backend names auto (or is left empty, which
// means auto).
func IsAuto(backend string) bool { return backend == "" || strings.EqualFold(backend, "auto") }

// IsCUDA reports whether backend names the CUDA backend: cuda, or its
// alias gpu.
func IsCUDA(backend string) bool {
	return strings.EqualFold(backend, "cuda") || strings.EqualFold(backend, "gpu")
}

func openCPU(threads int) (compute.Backend, Info) {
	b := cpu.New(threads)
	return b, Info{Backend: "cpu", Name: fmt.Sprintf("%s, %d threads", CPUModel(), b.Threads()), Monitor: NewCPUMonitor()}
}

// allocatedGPUs names the environment that gave this process GPUs, or "".
func allocatedGPUs() string {
	for _, k := range []string{"CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS", "GPU_DEVICE_ORDINAL"} {
		v := strings.TrimSpace(os.Getenv(k))
		if v != "" && v != "-1" && !strings.EqualFold(v, "NoDevFiles") {
			return fmt.Sprintf("%s=%s allocates GPUs", k, v)
		}
	}
	return ""
}

// CPUModel reads the CPU's model name (Linux), or the architecture.
func CPUModel() string {
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}

// FirstLine is the short reason of an error: the cause a wrapper names
// first, on one line.
func FirstLine(err error) string {
	if u := errors.Unwrap(err); u != nil {
		err = u
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// Close releases a backend opened by Open.
func Close(b compute.Backend) {
	if c, ok := b.(interface{ Close() }); ok {
		c.Close()
	}
}
