package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"dllmbench/compute"
	"dllmbench/compute/device"
	"dllmbench/hub"
	"dllmbench/model"
	"dllmbench/tokenizer"
)

// backendFlags are the flags every command that runs a model takes.
type backendFlags struct {
	backend   string
	device    int
	threads   int
	precision string
}

func (f *backendFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.backend, "backend", "auto", "compute backend: auto, cpu or cuda")
	fs.IntVar(&f.device, "devices", 0, "GPU index (relative to CUDA_VISIBLE_DEVICES)")
	fs.IntVar(&f.threads, "threads", 0, "CPU worker threads (0: one per CPU)")
	fs.StringVar(&f.precision, "precision", "", "weight precision: bf16, fp16 or fp32 (default: as stored)")
}

func (f *backendFlags) open() (compute.Backend, device.Info, error) {
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

// resolveModel turns a directory or a Hugging Face id into a directory.
func resolveModel(ref string) (string, error) {
	if ref == "" {
		return "", usagef("--model is required (a model directory or a Hugging Face id)")
	}
	if st, err := os.Stat(ref); err == nil && st.IsDir() {
		return ref, nil
	}
	c, err := hub.New(hub.Options{})
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
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", f)
		}
		out = append(out, v)
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
