package bench

import (
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"dllmbench/compute/device"
	"dllmbench/internal/buildinfo"
	"dllmbench/model"
)

// Env is the environment of a run, recorded once per run and copied into
// every record so that a record alone says where it was measured.
type Env struct {
	Dllmbench     buildinfo.Info    `json:"dllmbench"`
	Time          time.Time         `json:"time"`
	Hostname      string            `json:"hostname"`
	OS            string            `json:"os"`
	Arch          string            `json:"arch"`
	Kernel        string            `json:"kernel,omitempty"`
	CPU           string            `json:"cpu"`
	CPUs          int               `json:"cpus"`
	MemoryBytes   int64             `json:"memory_bytes,omitempty"`
	Backend       string            `json:"backend"` // the backend actually used
	Device        string            `json:"device"`
	GPU           *device.GPU       `json:"gpu,omitempty"`
	SLURM         map[string]string `json:"slurm,omitempty"`
	HardwareNotes string            `json:"hardware_notes,omitempty"`
}

// CaptureEnv describes this machine and the opened backend.
func CaptureEnv(info device.Info, notes string) Env {
	e := Env{Dllmbench: buildinfo.Get(), Time: time.Now().UTC(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		CPU: device.CPUModel(), CPUs: runtime.NumCPU(), Backend: info.Backend, Device: info.Name, GPU: info.GPU,
		HardwareNotes: notes}
	e.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.Kernel = strings.TrimSpace(string(b))
	}
	e.MemoryBytes = model.MachineMemory()
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_NODELIST", "SLURM_JOB_PARTITION",
			"SLURM_CLUSTER_NAME", "SLURM_JOB_NAME", "SLURM_RESTART_COUNT", "SLURM_JOB_GPUS":
			if e.SLURM == nil {
				e.SLURM = map[string]string{}
			}
			e.SLURM[k] = v
		}
	}
	return e
}

// procField reads a "Name:   1234 kB" line of a /proc file, in bytes.
func procField(path, field string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0
			}
			var n int64
			for _, c := range f[0] {
				if c < '0' || c > '9' {
					return 0
				}
				n = n*10 + int64(c-'0')
			}
			if len(f) > 1 && f[1] == "kB" {
				n <<= 10
			}
			return n
		}
	}
	return 0
}

// processRSS returns this process's resident memory and its peak (since
// resetProcessPeak).
func processRSS() (rss, peak int64) {
	return procField("/proc/self/status", "VmRSS"), procField("/proc/self/status", "VmHWM")
}

// resetProcessPeak restarts the peak processRSS reports from the resident
// memory now: the heap that earlier cells freed goes back to the system,
// and Linux's count of the peak (VmHWM) is reset through
// /proc/self/clear_refs. Where that cannot be written, the peak stays the
// process's.
func resetProcessPeak() {
	debug.FreeOSMemory()
	f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	f.Write([]byte("5")) // 5: reset the peak resident set size
}
