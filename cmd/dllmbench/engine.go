package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"dllmbench/compute"
	"dllmbench/compute/device"
	"dllmbench/hub"
	"dllmbench/internal/cuda"
	"dllmbench/internal/demo"
	"dllmbench/model"
	"dllmbench/tokenizer"
)

// backendFlags are the flags every command that runs a model takes.
type backendFlags struct {
	backend   string
	device    int
	devices   deviceList // run's --devices; device is its only entry when it has one
	threads   int
	precision string
}

func (f *backendFlags) register(fs *flag.FlagSet) {
	fs.Var(nonNegative{&f.device}, "devices", "GPU index (relative to CUDA_VISIBLE_DEVICES)")
	f.registerOthers(fs)
}

// registerList is register for run, whose --devices takes a list: one
// worker per device.
func (f *backendFlags) registerList(fs *flag.FlagSet) {
	fs.Var(&f.devices, "devices", "GPUs to run on, one worker process each: an index (relative to CUDA_VISIBLE_DEVICES), a list 0,1,… or all (default 0)")
	f.registerOthers(fs)
}

func (f *backendFlags) registerOthers(fs *flag.FlagSet) {
	fs.StringVar(&f.backend, "backend", "auto", "compute backend: auto, cpu or cuda")
	fs.Var(threadCount{nonNegative{&f.threads}}, "threads", "CPU worker threads (0: one per CPU)")
	fs.StringVar(&f.precision, "precision", "", "weight precision: bf16, fp16 or fp32 (default: as stored)")
}

// nonNegative is an int flag that is 0 or more: a negative device index or
// thread count is refused where it is parsed, not taken for the default.
type nonNegative struct{ v *int }

func (n nonNegative) String() string {
	if n.v == nil {
		return "0"
	}
	return strconv.Itoa(*n.v)
}

func (n nonNegative) Set(s string) error {
	v, err := strconv.ParseInt(s, 0, strconv.IntSize)
	if err != nil || v < 0 {
		return fmt.Errorf("want an integer ≥ 0")
	}
	*n.v = int(v)
	return nil
}

// maxThreads bounds --threads: more than any machine has CPUs, and few
// enough that the CPU backend's workers fit in memory (10^11 of them ran
// out of it, and a million measured nothing useful).
const maxThreads = 1 << 12

// threadCount is --threads: 0 (one per CPU) to maxThreads.
type threadCount struct{ nonNegative }

func (n threadCount) Set(s string) error {
	v, err := strconv.ParseInt(s, 0, strconv.IntSize)
	if err != nil || v < 0 || v > maxThreads {
		return fmt.Errorf("want an integer from 0 (one per CPU) to %d", maxThreads)
	}
	*n.v = int(v)
	return nil
}

// deviceList is a list of device indices, or all of them.
type deviceList struct {
	ids []int
	all bool
}

// first is the device a run takes first: the first listed, else 0 (as
// when --devices is left out). Quality and the dry run use it.
func (l *deviceList) first() int {
	if len(l.ids) > 0 {
		return l.ids[0]
	}
	return 0
}

func (l *deviceList) String() string {
	if l.all {
		return "all"
	}
	s := make([]string, len(l.ids))
	for i, d := range l.ids {
		s[i] = strconv.Itoa(d)
	}
	return strings.Join(s, ",")
}

func (l *deviceList) Set(s string) error {
	if strings.TrimSpace(s) == "all" {
		*l = deviceList{all: true}
		return nil
	}
	ids, err := parseInts(s)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("no device: give indices such as 0,1 or all")
	}
	for i, d := range ids {
		if d < 0 {
			return fmt.Errorf("device %d is negative", d)
		}
		if slices.Index(ids, d) < i {
			return fmt.Errorf("device %d is listed twice", d)
		}
	}
	*l = deviceList{ids: ids}
	return nil
}

// resolve lists the devices to run on. all is every GPU the CUDA driver
// shows (after CUDA_VISIBLE_DEVICES), or the one device of the CPU
// backend, or of auto on a machine without a usable GPU. Several devices
// on the CPU need threads (--threads) such that the workers' threads
// together fit its CPUs: otherwise they would share cores and distort each
// other's timings.
func (l deviceList) resolve(backend string, threads int) ([]int, error) {
	if !l.all {
		if len(l.ids) == 0 {
			return []int{0}, nil
		}
		fit := threads > 0 && threads*len(l.ids) <= runtime.NumCPU()
		if len(l.ids) > 1 && !fit && !device.IsCUDA(backend) {
			why := "several workers on the CPU"
			if !strings.EqualFold(backend, "cpu") {
				if n, err := cuda.DeviceCount(); err == nil && n > 0 {
					return l.ids, nil
				}
				why = "no CUDA device, and several workers on the CPU"
			}
			return nil, usagef("--devices %s: %s would share its cores: give one device, or --threads N with N × %d ≤ its %d CPUs",
				&l, why, len(l.ids), runtime.NumCPU())
		}
		return l.ids, nil
	}
	if strings.EqualFold(backend, "cpu") {
		return []int{0}, nil
	}
	n, err := cuda.DeviceCount()
	if err != nil || n == 0 {
		if device.IsCUDA(backend) {
			return nil, fmt.Errorf("--devices all: no CUDA device (%v)", err)
		}
		return []int{0}, nil // auto: one worker, on whatever device.Open finds
	}
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	return ids, nil
}

func (f *backendFlags) open() (compute.Backend, device.Info, error) {
	if !device.IsAuto(f.backend) && !strings.EqualFold(f.backend, "cpu") && !device.IsCUDA(f.backend) {
		return nil, device.Info{}, usagef("--backend %q: want auto, cpu or cuda", f.backend)
	}
	b, info, err := device.Open(device.Options{Backend: f.backend, Device: f.device, Threads: f.threads})
	if err != nil {
		return nil, info, err
	}
	if info.Notice != "" {
		slog.Info(info.Notice)
	}
	return b, info, nil
}

func (f *backendFlags) loadOptions() (model.LoadOptions, error) {
	if f.precision == "" {
		return model.LoadOptions{}, nil
	}
	dt, err := compute.ParseDType(f.precision)
	if err != nil || !dt.Float() {
		return model.LoadOptions{}, usagef("--precision %q: want bf16, fp16 or fp32", f.precision)
	}
	return model.LoadOptions{DType: dt}, nil
}

// resolveModel turns a directory, a Hugging Face id or a built-in model
// (builtin:NAME) into a directory.
func resolveModel(ref string) (string, error) {
	if ref == "" {
		return "", usagef("--model is required (a model directory, a Hugging Face id or builtin:demo-llama)")
	}
	if demo.IsBuiltin(ref) {
		return demo.Dir(ref)
	}
	if st, err := os.Stat(ref); err == nil && st.IsDir() {
		return ref, nil
	}
	c, err := hub.New(hub.Options{Offline: true})
	if err != nil {
		return "", err
	}
	return c.ResolveModel(ref)
}

// loadTokenizer loads dir's tokenizer.json, or returns nil when there is
// none (ids then go in and out verbatim).
func loadTokenizer(dir string) (*tokenizer.Tokenizer, error) {
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
		return nil, nil
	}
	return tokenizer.Load(dir)
}

// idList is a flag of comma-separated token ids that may repeat; each
// occurrence is one sequence.
type idList [][]int

func (l *idList) String() string { return "" }

func (l *idList) Set(s string) error {
	ids, err := parseInts(s)
	if err != nil {
		return err
	}
	*l = append(*l, ids)
	return nil
}

func parseInts(s string) ([]int, error) {
	s = strings.Trim(strings.TrimSpace(s), "[]")
	if s == "" {
		return []int{}, nil
	}
	var out []int
	for _, item := range strings.Split(s, ",") {
		fields := strings.Fields(item)
		if len(fields) == 0 {
			return nil, fmt.Errorf("%q has an empty entry between commas", s)
		}
		for _, f := range fields {
			v, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an integer", f)
			}
			out = append(out, v)
		}
	}
	return out, nil
}

// stringList is a flag that may repeat.
type stringList []string

func (l *stringList) String() string { return "" }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	m := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { m[f.Name] = true })
	return m
}
