package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"runtime"

	cudabackend "dllmbench/compute/cuda"
	"dllmbench/compute/device"
	"dllmbench/internal/buildinfo"
	"dllmbench/internal/cuda"
)

func init() {
	register(&command{
		name:    "env",
		summary: "show the machine, and which GPU libraries were found or why not",
		usage:   "[--json]",
		examples: `  dllmbench env
  CUDA_HOME=/opt/cuda-13 dllmbench env
`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			asJSON := fs.Bool("json", false, "print as JSON")
			return func(_ context.Context, args []string) error {
				if len(args) > 0 {
					return usagef("unexpected argument %q", args[0])
				}
				bi := buildinfo.Get()
				rep := cuda.Probe()
				kc := cudabackend.KernelCacheDir()
				if *asJSON {
					errText := ""
					if rep.Err != nil {
						errText = rep.Err.Error()
					}
					return json.NewEncoder(out).Encode(map[string]any{
						"dllmbench": bi, "os": runtime.GOOS, "arch": runtime.GOARCH, "cpu": device.CPUModel(),
						"cpus": runtime.NumCPU(), "cuda": rep, "cuda_error": errText, "kernel_cache": kc})
				}
				if kc == "" {
					kc = "off"
				}
				fmt.Fprintf(out, "dllmbench %s (%s, %s)\n%s/%s, %s, %d CPUs\n\n%s\nkernel cache: %s (DLLMBENCH_KERNEL_CACHE)\n",
					bi.Version, bi.Commit, bi.GoVersion, runtime.GOOS, runtime.GOARCH, device.CPUModel(), runtime.NumCPU(),
					rep.String(), kc)
				return nil
			}
		},
	})
}
