package device

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"dllmbench/compute"
	"dllmbench/compute/cpu"
)

// fakeCUDA makes openCUDA and checkCUDA fail as on a machine without a
// GPU, or, with a nil err, succeed as on one with a card named fakeGPU (a
// CPU backend stands for it).
func fakeCUDA(t *testing.T, err error) {
	t.Helper()
	oldOpen, oldCheck := openCUDA, checkCUDA
	openCUDA = func(int) (compute.Backend, Info, error) {
		if err != nil {
			return nil, Info{}, err
		}
		return cpu.New(1), Info{Backend: "cuda", Name: fakeGPU}, nil
	}
	checkCUDA = func(int) (string, error) {
		if err != nil {
			return "", err
		}
		return fakeGPU, nil
	}
	t.Cleanup(func() { openCUDA, checkCUDA = oldOpen, oldCheck })
}

const fakeGPU = "NVIDIA H100 80GB HBM3"

// Choose, which the dry run asks, takes the backend that Open opens, with
// the same error and the same reason for falling back to the CPU.
func TestChooseAsOpen(t *testing.T) {
	noGPU := errors.New("cuda: no usable library among libcuda.so.1")
	for _, tc := range []struct {
		name    string
		backend string
		cudaErr error // nil: CUDA loads
		env     map[string]string
	}{
		{"auto without a GPU", "auto", noGPU, nil},
		{"the default without a GPU", "", noGPU, nil},
		{"auto with a GPU", "auto", nil, nil},
		{"cpu with a GPU", "cpu", nil, nil},
		{"cuda without a GPU", "cuda", noGPU, nil},
		{"cuda with a GPU", "CUDA", nil, nil},
		{"auto with allocated GPUs that do not load", "auto", noGPU, map[string]string{"SLURM_JOB_GPUS": "3"}},
		{"auto with allocated GPUs that load", "auto", nil, map[string]string{"CUDA_VISIBLE_DEVICES": "0"}},
		{"an unknown backend", "tpu", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearGPUEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			fakeCUDA(t, tc.cudaErr)
			o := Options{Backend: tc.backend, Threads: 1}
			b, info, openErr := Open(o)
			if b != nil {
				defer Close(b)
			}
			c, err := Choose(o)
			if fmt.Sprint(err) != fmt.Sprint(openErr) {
				t.Fatalf("Choose: error %v, Open: %v", err, openErr)
			}
			if err != nil {
				return
			}
			if c.Backend != info.Backend || c.notice(IsAuto(tc.backend)) != info.Notice {
				t.Errorf("Choose: %q with notice %q, Open: %q with %q", c.Backend, c.notice(IsAuto(tc.backend)), info.Backend, info.Notice)
			}
			if tc.backend == "auto" && c.Backend == "cpu" && !errors.Is(c.NoGPU, noGPU) {
				t.Errorf("auto fell back to the CPU with reason %v, want %v", c.NoGPU, noGPU)
			}
		})
	}
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
