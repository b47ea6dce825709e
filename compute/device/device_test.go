package device

import (
	"errors"
	"strings"
	"testing"

	"dllmbench/compute"
)

// fakeCUDA makes openCUDA fail as a machine without a GPU does.
func fakeCUDA(t *testing.T, err error) {
	t.Helper()
	old := openCUDA
	openCUDA = func(int) (compute.Backend, Info, error) { return nil, Info{}, err }
	t.Cleanup(func() { openCUDA = old })
}

func clearGPUEnv(t *testing.T) {
	for _, k := range []string{"CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS", "GPU_DEVICE_ORDINAL"} {
		t.Setenv(k, "")
	}
}

func TestOpenChoosesBackend(t *testing.T) {
	noGPU := errors.New("cuda: no usable library among libcuda.so.1")
	for _, tc := range []struct {
		name    string
		backend string
		env     map[string]string
		want    string // backend name, or an error substring
		wantErr bool
	}{
		{"auto without a GPU falls back to the CPU", "auto", nil, "cpu", false},
		{"the default is auto", "", nil, "cpu", false},
		{"cpu asked for", "cpu", nil, "cpu", false},
		{"cuda asked for without a GPU fails with the reason", "cuda", nil, "no usable library among libcuda.so.1", true},
		{"auto with GPUs allocated by CUDA_VISIBLE_DEVICES fails", "auto", map[string]string{"CUDA_VISIBLE_DEVICES": "0,1"}, "CUDA_VISIBLE_DEVICES=0,1 allocates GPUs", true},
		{"auto with SLURM's GPUs fails", "auto", map[string]string{"SLURM_JOB_GPUS": "3"}, "SLURM_JOB_GPUS=3", true},
		{"an empty device list allocates nothing", "auto", map[string]string{"CUDA_VISIBLE_DEVICES": "-1"}, "cpu", false},
		{"an unknown backend", "tpu", nil, `unknown backend "tpu"`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearGPUEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			fakeCUDA(t, noGPU)
			b, info, err := Open(Options{Backend: tc.backend, Threads: 1})
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer Close(b)
			if info.Backend != tc.want || b.Name() != tc.want {
				t.Errorf("backend %q (%s), want %q", info.Backend, b.Name(), tc.want)
			}
			if tc.backend != "cpu" && !strings.Contains(info.Notice, "CPU") {
				t.Errorf("auto chose the CPU without a notice: %q", info.Notice)
			}
		})
	}
}

func TestEnergyDelta(t *testing.T) {
	if d, ok := EnergyDelta(10, 12.5); !ok || d != 2.5 {
		t.Errorf("EnergyDelta(10, 12.5) = %v, %v", d, ok)
	}
	if _, ok := EnergyDelta(12, 3); ok {
		t.Error("a counter that went backwards gave a delta")
	}
}
