package slurm

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"dllmbench/compute/device"
)

// GPURequest is how a task asks SLURM for its GPUs: one sbatch option, the
// scripts' own --gres=gpu:N or the one the user gave after --. A task is
// one process on one node, so that each of these options counts the
// GPUs of one task.
type GPURequest struct {
	Option string   // "--gres" (the scripts' own, and "" means it), "--gpus", "--gpus-per-node" or "--gpus-per-task"
	Type   string   // the GPU type, "a100" of --gres=gpu:a100:4; "" for any
	Count  int      // GPUs per task; 0 for none: the task runs on the CPU
	Other  []string // the entries of the user's --gres that are not GPUs ("tmpdisk:100"), asked for as given
}

// gpuOptions are sbatch's options that ask for GPUs (-G is --gpus).
var gpuOptions = []string{"gres", "gpus", "gpus-per-node", "gpus-per-task", "gpus-per-socket"}

// Options are the sbatch options that ask for n GPUs of r's kind, with
// r's other generic resources: none for n = 0 without other resources.
func (r GPURequest) Options(n int) []string {
	var gres []string
	var out []string
	switch {
	case n > 0 && (r.Option == "" || r.Option == "--gres"):
		gres = append(gres, "gpu:"+typed(r.Type, n))
	case n > 0:
		out = append(out, r.Option+"="+typed(r.Type, n))
	}
	if gres = append(gres, r.Other...); len(gres) > 0 {
		out = append([]string{"--gres=" + strings.Join(gres, ",")}, out...)
	}
	return out
}

// String is the request as its sbatch options say it, for messages.
func (r GPURequest) String() string {
	if o := r.Options(r.Count); len(o) > 0 {
		return strings.Join(o, " ")
	}
	return "--gres=none"
}

func typed(typ string, n int) string {
	if typ == "" {
		return strconv.Itoa(n)
	}
	return typ + ":" + strconv.Itoa(n)
}

// ParseGPUs reads the GPU request among the user's sbatch options:
// --gres (its gpu entry; its other entries are kept in Other), --gpus
// (-G), --gpus-per-node or --gpus-per-task. ok is false when none of them
// counts GPUs (none is given, or a --gres of other resources only). The
// errors are the user's mistakes, one line each: a GPU option given twice,
// or two GPU options (sbatch takes the last of one option, and combines
// two: --gres=gpu:1 with --gpus=4 is four nodes of one GPU each),
// --gpus-per-socket (whose count per task depends on the node), several GPU
// types, GPU shares (MPS, shard), a value that is not [TYPE:]N,
// --gpus-per-task with more than one task (-n 2).
func ParseGPUs(opts Options) (r GPURequest, ok bool, err error) {
	named, _ := opts.split(gpuOptions...)
	var seen []string
	for _, o := range named {
		name := "--" + o.name
		said := strings.Join(o.words, " ")
		if slices.Contains(seen, name) {
			return GPURequest{}, false, fmt.Errorf("sbatch's %s is given twice: give it once", name)
		}
		seen = append(seen, name)
		switch name {
		case "--gpus-per-socket":
			return GPURequest{}, false, fmt.Errorf("sbatch's %s: a task's GPUs are asked for with --gres=gpu:N, --gpus=N or --gpus-per-node=N (or dllmbench's --gpus N)", said)
		case "--gres":
			gpu, other, err := parseGRES(o.value)
			if err != nil {
				return GPURequest{}, false, fmt.Errorf("sbatch's %s: %v", said, err)
			}
			r.Other = other
			if gpu == nil {
				continue
			}
			if ok {
				return GPURequest{}, false, fmt.Errorf("sbatch's %s and %s both ask for GPUs: give one", r.Option, name)
			}
			r.Option, r.Type, r.Count, ok = name, gpu.Type, gpu.Count, true
		default:
			typ, n, err := parseCount(o.value)
			if err != nil {
				return GPURequest{}, false, fmt.Errorf("sbatch's %s: %v", said, err)
			}
			if ok {
				return GPURequest{}, false, fmt.Errorf("sbatch's %s and %s both ask for GPUs: give one", r.Option, name)
			}
			r.Option, r.Type, r.Count, ok = name, typ, n, true
		}
	}
	if r.Option == "--gpus-per-task" {
		// The job's one process would count the GPUs of one of its tasks.
		tasks, _ := opts.split("ntasks", "ntasks-per-node")
		for _, t := range tasks {
			if t.value != "1" {
				return GPURequest{}, false, fmt.Errorf("sbatch's %s with %s asks for GPUs for each of several SLURM tasks, and a job of dllmbench's is one process: ask for all its GPUs with --gres=gpu:N or --gpus=N",
					r, strings.Join(t.words, " "))
			}
		}
	}
	return r, ok, nil
}

// parseGRES reads a --gres list: its gpu entry (nil when it has none;
// "none" is a request of no GPU) and its other entries.
func parseGRES(list string) (gpu *GPURequest, other []string, err error) {
	if list == "none" {
		return &GPURequest{Option: "--gres"}, nil, nil
	}
	for _, e := range strings.Split(list, ",") {
		name, rest, _ := strings.Cut(e, ":")
		switch name {
		case "gpu":
		case "mps", "shard":
			return nil, nil, fmt.Errorf("%s is a share of a GPU, and dllmbench measures whole GPUs: ask for them with --gres=gpu:N", name)
		case "":
			return nil, nil, fmt.Errorf("want name[:type][:count] entries, such as gpu:2")
		default:
			other = append(other, e)
			continue
		}
		if gpu != nil {
			return nil, nil, fmt.Errorf("one gpu entry, of one type")
		}
		// gpu, gpu:N, gpu:TYPE, gpu:TYPE:N
		typ, n := "", 1
		if rest != "" {
			f := strings.Split(rest, ":")
			if v, err := strconv.Atoi(f[len(f)-1]); err == nil {
				n, f = v, f[:len(f)-1]
			}
			if len(f) > 1 || len(f) == 1 && f[0] == "" {
				return nil, nil, fmt.Errorf("want gpu[:TYPE][:N]")
			}
			if len(f) == 1 {
				typ = f[0]
			}
		}
		if n < 0 {
			return nil, nil, fmt.Errorf("want gpu[:TYPE][:N] with N ≥ 0")
		}
		gpu = &GPURequest{Option: "--gres", Type: typ, Count: n}
	}
	return gpu, other, nil
}

// parseCount reads the [TYPE:]N of --gpus, --gpus-per-node and
// --gpus-per-task.
func parseCount(v string) (typ string, n int, err error) {
	typ, count, ok := strings.Cut(v, ":")
	if !ok {
		typ, count = "", v
	}
	n, err = strconv.Atoi(count)
	if err != nil || n < 0 || strings.ContainsAny(v, ",") || ok && typ == "" {
		return "", 0, fmt.Errorf("want [TYPE:]N, one GPU type")
	}
	return typ, n, nil
}

// withoutGPUs drops the options that ask for GPUs, with their values: the
// scripts' directives hold the request.
func withoutGPUs(opts Options) Options {
	_, rest := opts.split(gpuOptions...)
	return rest
}

// GPUEnv are sbatch's input environment variables that ask for GPUs. sbatch
// lets them override the scripts' directives, and adds them to the
// options of another name, so that with them the scripts would not say
// what a task gets.
var GPUEnv = []string{"SBATCH_GRES", "SBATCH_GPUS", "SBATCH_GPUS_PER_NODE", "SBATCH_GPUS_PER_TASK", "SBATCH_GPUS_PER_SOCKET"}

// TaskGPUs decides the GPUs a task asks for: those of the user's sbatch
// options (opts) when they count GPUs, else gpus (submit's --gpus; -1 when
// not given), else 1, or 0 for a grid on the CPU backend. The user's
// request replaces the scripts' own, and a --gpus that says another count
// is an error, as are GPUs for a grid on the CPU backend, none for one on
// CUDA, and environ (NAME=VALUE) holding one of GPUEnv.
func TaskGPUs(backend string, gpus int, opts Options, environ []string) (GPURequest, error) {
	for _, kv := range environ {
		if k, v, _ := strings.Cut(kv, "="); slices.Contains(GPUEnv, k) {
			return GPURequest{}, fmt.Errorf("%s=%s in the environment would change the scripts' GPU request behind their back: unset it, and give the GPUs with --gpus N or after -- (-- --gres=gpu:N)", k, v)
		}
	}
	r, ok, err := ParseGPUs(opts)
	if err != nil {
		return GPURequest{}, err
	}
	said := "sbatch's " + r.String()
	cpu := strings.EqualFold(backend, "cpu")
	switch {
	case ok && gpus >= 0 && gpus != r.Count:
		return GPURequest{}, fmt.Errorf("--gpus %d and %s ask for different GPU counts: give one of them", gpus, said)
	case !ok && gpus >= 0:
		r.Option, r.Count, said = "--gres", gpus, fmt.Sprintf("--gpus %d", gpus)
	case !ok && cpu:
		r.Option, r.Count = "--gres", 0
	case !ok:
		r.Option, r.Count = "--gres", 1
	}
	switch {
	case cpu && r.Count > 0:
		return GPURequest{}, fmt.Errorf("the grid runs on the CPU backend: its tasks would not use the GPUs %s asks for; leave them out", said)
	case r.Count == 0 && device.IsCUDA(backend):
		return GPURequest{}, fmt.Errorf("the grid runs on the %s backend: its tasks need GPUs, and %s asks for none", backend, said)
	}
	return r, nil
}

// TaskNodes checks that the user's sbatch options ask for no more than the
// one node the scripts ask for (--nodes=1): a task runs its workers on the
// node its batch script runs on, and would leave any other node idle.
func TaskNodes(opts Options) error {
	nodes, _ := opts.split("nodes")
	for _, o := range nodes {
		if o.value != "1" && o.value != "1-1" {
			return fmt.Errorf("sbatch's %s: a job of dllmbench's runs on one node (its workers on the GPUs or CPUs of the node its script starts on), and the others would sit idle: leave it out, or give -N 1",
				strings.Join(o.words, " "))
		}
	}
	return nil
}

// CPUsPerGPU is what a GPU task asks for a GPU (--cpus-per-gpu) where the
// user's options do not say: the worker's host thread, which launches its
// kernels, and one for Go's runtime (its garbage collector, the power and
// clock samplers), so that neither waits for the other.
const CPUsPerGPU = 2

// TaskCPUs decides the CPUs a task of gpus GPUs asks for beyond the user's
// sbatch options (opts, and sbatch's input environment in environ): the
// --cpus-per-gpu of the scripts' directives, 0 for none.
//
// A GPU task asks for CPUsPerGPU a GPU unless the user asks for its CPUs
// (as a request of theirs replaces the scripts' GPUs): with --cpus-per-gpu,
// --cpus-per-task (-c; sbatch refuses it with --cpus-per-gpu), or a plain
// --exclusive (every CPU of the node, whose GPUs, all the job's, would
// need CPUsPerGPU each). --ntasks, --mincpus and the like add to it:
// SLURM gives the job the larger count.
//
// A task on the CPU needs one of --cpus-per-task (-c), --mincpus, --ntasks
// (-n; the batch step holds every CPU of the job's one node),
// --ntasks-per-node or a plain --exclusive: without one, it would get
// SLURM's default, often one core, and its measurements would say nothing
// of the machine; the error says so.
//
// The tasks take as many threads as SLURM gave them CPUs (ArrayScript).
func TaskCPUs(gpus int, opts Options, environ []string) (perGPU int, err error) {
	exclusive := false
	for _, kv := range environ {
		if k, v, _ := strings.Cut(kv, "="); k == "SBATCH_EXCLUSIVE" && v != "user" && v != "mcs" {
			exclusive = true
		}
	}
	named, _ := opts.split("exclusive")
	for _, o := range named {
		exclusive = exclusive || o.value == ""
	}
	if gpus > 0 {
		if own, _ := opts.split("cpus-per-gpu", "cpus-per-task"); len(own) > 0 || exclusive {
			return 0, nil
		}
		return CPUsPerGPU, nil
	}
	if own, _ := opts.split("cpus-per-task", "mincpus", "ntasks", "ntasks-per-node"); len(own) > 0 || exclusive {
		return 0, nil
	}
	return 0, fmt.Errorf("the tasks run on the CPU, and the sbatch options ask for no CPUs: each would get SLURM's default, often one core, which measures nothing useful; give them cores after -- (-- --cpus-per-task=16, or -- --exclusive for whole nodes)")
}
