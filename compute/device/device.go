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

// openCUDA opens the CUDA backend on a device; cuda.go sets it.
var openCUDA func(device int) (compute.Backend, Info, error)

// Open returns the backend of o. With "auto" it takes CUDA when it loads
// and the CPU otherwise, except that GPUs allocated to this process (by
// CUDA_VISIBLE_DEVICES or SLURM) that will not load are an error: a job
// that was given a GPU must not silently benchmark the CPU.
func Open(o Options) (compute.Backend, Info, error) {
	switch strings.ToLower(o.Backend) {
	case "", "auto":
		if openCUDA != nil {
			b, info, err := openCUDA(o.Device)
			if err == nil {
				info.Notice = "using CUDA device " + info.Name
				return b, info, nil
			}
			if why := allocatedGPUs(); why != "" {
				return nil, Info{}, fmt.Errorf("device: %s but CUDA does not load: %w", why, err)
			}
			b2, info := openCPU(o.Threads)
			info.Notice = fmt.Sprintf("no usable GPU (%v); running on the CPU", firstLine(err))
			return b2, info, nil
		}
		if why := allocatedGPUs(); why != "" {
			return nil, Info{}, fmt.Errorf("device: %s but this binary has no CUDA backend", why)
		}
		b, info := openCPU(o.Threads)
		info.Notice = "running on the CPU"
		return b, info, nil
	case "cpu":
		b, info := openCPU(o.Threads)
		return b, info, nil
	case "cuda", "gpu":
		if openCUDA == nil {
			return nil, Info{}, fmt.Errorf("device: this binary has no CUDA backend")
		}
		b, info, err := openCUDA(o.Device)
		if err != nil {
			return nil, Info{}, fmt.Errorf("device: --backend cuda: %w", err)
		}
		return b, info, nil
	}
	return nil, Info{}, fmt.Errorf("device: unknown backend %q (want auto, cpu or cuda)", o.Backend)
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

// firstLine is the short reason of an error: the cause a wrapper names
// first, on one line.
func firstLine(err error) string {
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
