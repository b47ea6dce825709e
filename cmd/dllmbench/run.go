package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"dllmbench/bench"
	"dllmbench/compute/device"
	"dllmbench/config"
	"dllmbench/model"
	"dllmbench/quality"
	"dllmbench/report"
)

func init() {
	register(&command{
		name:    "run",
		summary: "measure every cell of an experiment grid and write the results",
		usage:   "[--config FILE] [--output_dir DIR] [overrides] [--dry-run]",
		examples: `  # the built-in demo grid (a tiny LLaMA vs a tiny LLaDA) on this machine
  dllmbench run

  # the full LLaDA-8B vs LLaMA-3-8B study; a rerun measures only missing cells
  dllmbench run --config config/experiments.yaml --output_dir results/study

  # the smoke run with the seed's overrides
  dllmbench run --config config/experiments_mini.yaml --output_dir results/smoke --max_prompts 4 --batch_size 1 --steps 16

  # list the cells with time and memory estimates, measure nothing
  dllmbench run --config config/experiments.yaml --dry-run
`,
		setup: setupRun,
	})
}

type runFlags struct {
	config      string
	outputDir   string
	steps       intList
	batchSizes  intList
	maxPrompts  int
	promptFile  string
	bertScore   bool
	dryRun      bool
	recordsName string
	noReport    bool
	noQuality   bool
	be          backendFlags
}

// alias registers a flag under the seed's snake_case name and kebab-case.
func alias(fs *flag.FlagSet, names ...string) func(func(name string)) {
	return func(def func(name string)) {
		for _, n := range names {
			def(n)
		}
	}
}

func setupRun(fs *flag.FlagSet) func(context.Context, []string) error {
	var f runFlags
	fs.StringVar(&f.config, "config", "", "grid file (YAML); default: the embedded demo grid")
	alias(fs, "output_dir", "output-dir")(func(n string) { fs.StringVar(&f.outputDir, n, "results", "results folder") })
	fs.Var(&f.steps, "steps", "replace the grid's diffusion steps, e.g. 32,64,128")
	alias(fs, "batch_size", "batch-size")(func(n string) { fs.Var(&f.batchSizes, n, "replace the grid's batch sizes, e.g. 1,4") })
	alias(fs, "max_prompts", "max-prompts")(func(n string) { fs.IntVar(&f.maxPrompts, n, 0, "prompts per cell") })
	alias(fs, "prompt_file", "prompt-file")(func(n string) {
		fs.StringVar(&f.promptFile, n, "", "prompts from this file: one per line, or JSONL {\"prompt\", \"reference\"}")
	})
	alias(fs, "compute_bertscore", "compute-bertscore")(func(n string) { fs.BoolVar(&f.bertScore, n, false, "compute BERTScore") })
	alias(fs, "dry-run", "dry_run")(func(n string) {
		fs.BoolVar(&f.dryRun, n, false, "validate the grid and list the cells with estimates; measure nothing")
	})
	fs.StringVar(&f.recordsName, "records-name", "", "name of this process's records file (default: host-pid-time)")
	fs.BoolVar(&f.noReport, "no-report", false, "do not rebuild the reports at the end")
	alias(fs, "no-quality", "no_quality")(func(n string) {
		fs.BoolVar(&f.noQuality, n, false, "do not compute the quality metrics at the end (see 'dllmbench quality')")
	})
	f.be.register(fs)
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q", args[0])
		}
		return runRun(ctx, &f, setFlags(fs))
	}
}

// intList is a comma-separated list of integers.
type intList []int

func (l *intList) String() string { return "" }

func (l *intList) Set(s string) error {
	v, err := parseInts(s)
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// loadGrid reads --config or the embedded default and applies overrides.
func (f *runFlags) loadGrid(set map[string]bool) (*bench.Grid, error) {
	var g *bench.Grid
	var err error
	if f.config == "" {
		g, err = bench.ParseGrid(config.Default(), "default.yaml (embedded)")
	} else {
		g, err = bench.LoadGrid(f.config)
	}
	if err != nil {
		return nil, err
	}
	canon := map[string]bool{}
	for n := range set {
		canon[strings.ReplaceAll(n, "-", "_")] = true
	}
	if err := g.Apply(bench.Overrides{Steps: f.steps, BatchSizes: f.batchSizes, MaxPrompts: f.maxPrompts,
		PromptFile: f.promptFile, BERTScore: f.bertScore, Set: canon}); err != nil {
		return nil, usageError{err.Error()}
	}
	if set["backend"] {
		g.Backend = f.be.backend
	}
	return g, nil
}

func runRun(ctx context.Context, f *runFlags, set map[string]bool) error {
	g, err := f.loadGrid(set)
	if err != nil {
		return err
	}
	if f.dryRun {
		return dryRun(g)
	}
	opts := bench.Options{OutputDir: f.outputDir, RecordsName: f.recordsName, Progress: os.Stderr,
		Terminal: isTerminal(os.Stderr), Notice: func(s string) { slog.Info(s) },
		Device: device.Options{Backend: g.Backend, Device: f.be.device, Threads: f.be.threads}}
	sum, err := bench.Run(ctx, g, opts)
	if err != nil {
		if sum != nil && ctx.Err() != nil {
			slog.Warn("interrupted: the cell in flight was abandoned; run again to measure the missing cells",
				"measured", sum.Measured, "records", sum.Records)
		}
		return err
	}
	slog.Info("run finished", "cells", sum.Cells, "measured", sum.Measured, "recorded_before", sum.Reused,
		"failed", sum.Failed, "records", sum.Records)
	if !f.noReport {
		if err := buildReports(f.outputDir, nil); err != nil {
			return err
		}
	}
	if !f.noQuality {
		// Quality is a step after the measurements: its failure is reported
		// and 'dllmbench quality' can redo it, but the run stands.
		err := computeQuality(f.outputDir, quality.Options{Judge: g.Quality.Judge, Task: g.Quality.Task,
			Device: device.Options{Backend: g.Backend, Device: f.be.device, Threads: f.be.threads}})
		if err != nil {
			slog.Warn("quality metrics failed; the measurements stand (retry with 'dllmbench quality')", "err", oneLine(err.Error()))
		}
		if g.Quality.BERTScore {
			// The encoder runs on the CPU backend (the CUDA backend lacks
			// compute.EncoderOps); without its weights BERTScore is skipped.
			path, err := quality.WriteBERTScores(f.outputDir,
				quality.BERTScoreOptions{Encoder: g.Quality.Encoder, Threads: f.be.threads})
			switch {
			case errors.Is(err, quality.ErrNoEncoder):
				slog.Warn("BERTScore skipped: " + oneLine(err.Error()))
			case err != nil:
				slog.Warn("BERTScore failed; the measurements stand", "err", oneLine(err.Error()))
			default:
				slog.Info("BERTScore written", "path", path)
			}
		}
	}
	if sum.Failed > 0 {
		fmt.Fprintf(os.Stderr, "dllmbench run: %d of %d cells failed (see their errors in the table and records)\n", sum.Failed, sum.Cells)
		return exitError{1}
	}
	return nil
}

// buildReports rebuilds every output of dir from its records (or from the
// given record files) and prints the table.
func buildReports(dir string, files []string) error {
	src := files
	if len(src) == 0 {
		src = []string{dir}
	}
	recs, err := bench.ReadRecords(src...)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("no records in %s", strings.Join(src, ", "))
	}
	recs = bench.Latest(recs)
	if err := report.Write(dir, recs); err != nil {
		return err
	}
	return report.Markdown(os.Stdout, recs)
}

// dryRun lists the cells with their estimates without loading weights.
func dryRun(g *bench.Grid) error {
	var cfgs []*model.Config
	var families []string
	for _, m := range g.Models {
		dir, err := bench.Locate(m)
		if err != nil {
			return err
		}
		c, err := model.LoadConfig(dir)
		if err != nil {
			return err
		}
		cfgs, families = append(cfgs, c), append(families, c.Family.String())
	}
	cells, skipped := bench.Expand(g, families)
	prompts := g.Prompts.MaxPrompts
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "cell\tcalls/batch\tGFLOP\tGB read\tmemory GiB\testimate s\t")
	var total float64
	for _, c := range cells {
		var cfg *model.Config
		for i, m := range g.Models {
			if m.Label() == c.Model {
				cfg = cfgs[i]
			}
		}
		e := bench.Estimate(c, cfg, g.Backend, prompts, g.Repetitions+g.Warmup)
		total += e.Seconds
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.2f\t%.2f\t%.1f\t\n", c.Name(), e.Calls, e.FLOPs/1e9, e.Bytes/1e9, e.MemoryBytes/(1<<30), e.Seconds)
	}
	tw.Flush()
	for _, s := range skipped {
		fmt.Printf("invalid: %s: %s\n", s.Cell.Name(), s.Reason)
	}
	fmt.Printf("%d cells, %d invalid combinations; estimated %.0f s in all (rough: model shapes and nominal rates of the %s backend)\n",
		len(cells), len(skipped), total, g.Backend)
	return nil
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
