package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"dllmbench/bench"
	"dllmbench/compute"
	"dllmbench/compute/device"
	"dllmbench/config"
	"dllmbench/internal/files"
	"dllmbench/model"
	"dllmbench/prompts"
	"dllmbench/quality"
	"dllmbench/report"
	"dllmbench/slurm"
	"dllmbench/tokenizer"
)

func init() {
	register(&command{
		name:    "run",
		summary: "measure every cell of an experiment grid and write the results",
		usage:   "[--config FILE] [--output_dir DIR] [overrides] [--dry-run | --no-measure]",
		examples: `  # the built-in demo grid (a tiny LLaMA vs a tiny LLaDA) on this machine
  dllmbench run

  # the full LLaDA-8B vs LLaMA-3-8B study; a rerun measures only missing cells
  dllmbench run --config config/experiments.yaml --output_dir results/study

  # the smoke run with the seed's overrides
  dllmbench run --config config/experiments_mini.yaml --output_dir results/smoke --max_prompts 4 --batch_size 1 --steps 16

  # one model without a grid file of its own, as llama-bench -p 512 -n 128
  # (prompts from WikiText-103; the embedded grid's other settings)
  dllmbench run --model meta-llama/Meta-Llama-3-8B --prompt-length 512 --gen-length 128 --batch-size 1 --output_dir results/llama

  # GSM8K accuracy as lm-eval's --tasks gsm8k --num_fewshot 5 asks it: each
  # test problem after 5 solved ones, the first of the grid's
  # prompts.shots_path, else of the test file (the question skipped)
  dllmbench run --config config/experiments.yaml --task gsm8k-test.jsonl --shots 5 --prompt-length 1024 --max-prompts 100

  # list the cells with time and memory estimates, measure nothing
  dllmbench run --config config/experiments.yaml --dry-run

  # end as a run does, from the records already there (the SLURM merge job):
  # the grid's quality metrics, then the reports
  dllmbench run --config config/experiments.yaml --output_dir results/study --no-measure
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
	models      stringList
	promptLens  intList
	genLens     intList
	blockLens   intList
	repetitions int
	warmup      int
	promptFile  string
	task        string
	shots       int
	shotsPath   string
	bertScore   bool
	delay       float64
	dryRun      bool
	recordsName string
	noReport    bool
	noQuality   bool
	noMeasure   bool
	retryFailed bool
	be          backendFlags
	shard       slurm.Shard // --shard: this task's part of the cells
	worker      slurm.Shard // --worker: this process's part of the shard, for --devices
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
	alias(fs, "max_prompts", "max-prompts")(func(n string) { fs.IntVar(&f.maxPrompts, n, 0, "prompts per cell (default: the grid's max_prompts)") })
	fs.Var(&f.models, "model", "replace the grid's models; repeat for several: a Hugging Face id (org/name[@revision]), a directory or builtin:demo-llama (without --config: prompts from WikiText-103)")
	alias(fs, "prompt_length", "prompt-length")(func(n string) { fs.Var(&f.promptLens, n, "replace the grid's prompt lengths in tokens, e.g. 128,512") })
	alias(fs, "gen_length", "gen-length")(func(n string) { fs.Var(&f.genLens, n, "replace the grid's generation lengths in tokens, e.g. 128") })
	alias(fs, "block_length", "block-length")(func(n string) { fs.Var(&f.blockLens, n, "replace the grid's diffusion block lengths, e.g. 32") })
	fs.IntVar(&f.repetitions, "repetitions", 0, "measured runs per cell (default: the grid's repetitions)")
	fs.IntVar(&f.warmup, "warmup", 0, "discarded runs before a cell's repetitions (default: the grid's warmup)")
	alias(fs, "prompt_file", "prompt-file")(func(n string) {
		fs.StringVar(&f.promptFile, n, "", "prompts from this file: one document per line, cut into prompt_length tokens and the next gen_length as its reference (shorter lines left out), or JSONL {\"prompt\", \"reference\"} (README: prompt files)")
	})
	fs.StringVar(&f.task, "task", "", "prompts from this GSM8K-style task file ({\"question\", \"answer\"} JSONL), each problem asked as lm-eval's gsm8k task asks it after --shots solved problems, its answer the reference; accuracy is scored against it unless the grid's quality.task names another (README: Task accuracy)")
	fs.IntVar(&f.shots, "shots", 0, "solved problems before each question of --task (lm-eval's --num_fewshot): the first of --shots-path's (or the grid's prompts.shots_path), or of the task file other than the question (default: the grid's prompts.shots, else 0)")
	alias(fs, "shots_path", "shots-path")(func(n string) {
		fs.StringVar(&f.shotsPath, n, "", "the task file whose first problems are --shots' solved problems (a training split; default: the grid's prompts.shots_path, else the --task file itself)")
	})
	alias(fs, "compute_bertscore", "compute-bertscore")(func(n string) { fs.BoolVar(&f.bertScore, n, false, "compute BERTScore") })
	fs.Float64Var(&f.delay, "delay", 0, "pause SECONDS before each cell after the first, so that the device starts every cell rested (default: the grid's delay)")
	alias(fs, "dry-run", "dry_run")(func(n string) {
		fs.BoolVar(&f.dryRun, n, false, "validate the grid and list the cells with estimates; measure nothing")
	})
	alias(fs, "records-name", "records_name")(func(n string) {
		fs.StringVar(&f.recordsName, n, "", "name of this process's records file, DIR/records/NAME.jsonl (default: host-pid-time)")
	})
	alias(fs, "no-report", "no_report")(func(n string) { fs.BoolVar(&f.noReport, n, false, "do not rebuild the reports at the end") })
	alias(fs, "retry-failed", "retry_failed")(func(n string) {
		fs.BoolVar(&f.retryFailed, n, false, "measure again the cells whose records in the folder all failed (otherwise a failed cell is a result, kept as any other)")
	})
	alias(fs, "no-quality", "no_quality")(func(n string) {
		fs.BoolVar(&f.noQuality, n, false, "do not compute the quality metrics at the end (see 'dllmbench quality')")
	})
	alias(fs, "no-measure", "no_measure")(func(n string) {
		fs.BoolVar(&f.noMeasure, n, false, "measure nothing: end as a run ends, with the grid's quality metrics and then the reports, from the folder's records (the SLURM merge job)")
	})
	fs.Func("shard", "measure only shard INDEX/COUNT of the cells: cell k of the grid's order when k mod COUNT = INDEX (SLURM arrays)",
		func(s string) (err error) { f.shard, err = slurm.ParseShard(s); return err })
	fs.Func("worker", "internal to --devices: this process is worker INDEX/COUNT, takes every COUNT-th cell of the shard and stops at the end of its standard input",
		func(s string) (err error) { f.worker, err = slurm.ParseShard(s); return err })
	f.be.registerList(fs)
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q", args[0])
		}
		if f.outputDir == "" {
			return usagef("--output_dir: empty")
		}
		if st, err := os.Stat(f.outputDir); err == nil && !st.IsDir() {
			return fmt.Errorf("output folder %s is a file", f.outputDir)
		}
		// The name is a file's in DIR/records: a path would write elsewhere.
		if strings.ContainsAny(f.recordsName, `/\`) || strings.Contains(f.recordsName, "..") {
			return usagef("--records-name %q: want a file name, without /, \\ or ..", f.recordsName)
		}
		// The runner adds .jsonl: a name given with it would be NAME.jsonl.jsonl.
		f.recordsName = strings.TrimSuffix(f.recordsName, ".jsonl")
		if f.noMeasure {
			set := setFlags(fs)
			for _, n := range []string{"dry-run", "dry_run", "shard", "worker", "records-name", "records_name", "retry-failed", "retry_failed"} {
				if set[n] {
					return usagef("--no-measure measures nothing: --%s does not apply", n)
				}
			}
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
		PromptFile: f.promptFile, Task: f.task, Shots: f.shots, ShotsPath: f.shotsPath, BERTScore: f.bertScore, Delay: f.delay, Models: f.models,
		PromptLengths: f.promptLens, GenLengths: f.genLens, BlockLengths: f.blockLens,
		Repetitions: f.repetitions, Warmup: f.warmup, Set: canon}); err != nil {
		return nil, usageError{err.Error()}
	}
	// The embedded grid's prompts are the demo pair's, a few dozen tokens
	// each: models named on the command line take WikiText-103's, unless
	// the prompts are named too.
	if f.config == "" && canon[bench.FlagModel] && !canon[bench.FlagPromptFile] && !canon[bench.FlagTask] {
		g.Prompts.Source, g.Prompts.Path = "wikitext", ""
	}
	if set["backend"] {
		// As the grid file's backend: the runner would fail on each cell,
		// and an empty one would be recorded.
		if !slices.Contains(bench.BackendNames, f.be.backend) {
			return nil, usagef("--backend %q: want auto, cpu or cuda", f.be.backend)
		}
		g.Backend = f.be.backend
	}
	if set["precision"] {
		dt, err := compute.ParseDType(f.be.precision)
		if err != nil || !dt.Float() {
			return nil, usagef("--precision %q: want bf16, fp16 or fp32", f.be.precision)
		}
		g.Precision = map[compute.DType]string{compute.BF16: "bf16", compute.F16: "fp16", compute.F32: "fp32"}[dt]
	}
	return g, nil
}

func runRun(ctx context.Context, f *runFlags, set map[string]bool) error {
	g, err := f.loadGrid(set)
	if err != nil {
		return err
	}
	// Quality runs after every measurement: a misnamed judge or task file
	// fails now rather than hours later.
	if !f.noQuality {
		if err := quality.Check(quality.Options{Judge: g.Quality.Judge, Task: g.QualityTask()}); err != nil {
			return err
		}
	}
	if f.dryRun {
		return dryRun(g, f.be.devices.first())
	}
	if f.noMeasure {
		return finishOnly(ctx, f, g)
	}
	// A grid without a valid cell would load the prompts, open the device
	// and make the records folder before it failed.
	if _, _, _, err := bench.GridCells(g); err != nil {
		return err
	}
	// Read here, before the folder is reserved and made, as the dry run
	// reads them, so that a missing prompt file leaves no folder behind;
	// bench.Run reads them again, which costs little next to the models.
	if _, _, err := g.Prompts.Load(); err != nil {
		return err
	}
	devs, err := f.be.devices.resolve(g.Backend, f.be.threads)
	if err != nil {
		return err
	}
	f.be.device = devs[0]
	// The folder is reserved before the models are loaded or anything is
	// logged, so that a run refused for a busy folder prints only that,
	// and before the folder's cells are read: a run that read them while
	// another measured them would measure them again. It stays reserved
	// through quality and the reports, which write it too. A worker's
	// parent (--devices) holds it for the worker, and hands the worker its
	// lock files: a parent killed with SIGKILL leaves the folder held until
	// its workers have stopped.
	var held *bench.Reservation
	if f.worker.Count == 0 {
		if held, err = bench.Lock(f.outputDir, f.shard.Index, f.shard.Count); err != nil {
			return err
		}
		defer held.Release()
	}
	var job *slurmJob // see slurm.go for how run ends under SLURM
	if f.worker.Count == 0 {
		job = watchSLURM()
		defer job.close()
	} else {
		ctx = watchParent(ctx, os.Stdin)
	}
	opts := bench.Options{OutputDir: f.outputDir, RecordsName: f.recordsName, Progress: os.Stderr,
		Terminal: isTerminal(os.Stderr), Notice: func(s string) { slog.Info(s) }, Select: f.selectCells(), RetryFailed: f.retryFailed,
		Device: device.Options{Backend: g.Backend, Device: f.be.device, Threads: f.be.threads}}
	var sum *bench.Summary
	if len(devs) > 1 {
		sum, err = runWorkers(ctx, f, devs, held.Files())
	} else {
		sum, err = bench.Run(ctx, g, opts)
	}
	if err != nil {
		if ctx.Err() == nil {
			return err
		}
		if cause := context.Cause(ctx); errors.Is(cause, errParentGone) {
			return cause // the cell in flight is abandoned, as on SIGTERM; no one is left to read a summary
		}
		if sum != nil && f.worker.Count > 0 {
			// The parent counts what its workers measured and says so.
			json.NewEncoder(out).Encode(workerSummary{sum.Cells, sum.Measured, sum.Reused, sum.Failed})
		} else if sum != nil {
			slog.Warn("interrupted: the cell in flight was abandoned; run again to measure the missing cells",
				"measured", sum.Measured, "records", firstNonEmpty(sum.Records, "none"))
		}
		return job.interrupted(err)
	}
	if f.worker.Count > 0 {
		return json.NewEncoder(out).Encode(workerSummary{sum.Cells, sum.Measured, sum.Reused, sum.Failed})
	}
	slog.Info("run finished", "cells", sum.Cells, "measured", sum.Measured, "recorded_before", sum.Reused,
		"failed", sum.Failed, "records", firstNonEmpty(sum.Records, "none"))
	qerr, err := f.finish(ctx, g)
	if qerr != nil && ctx.Err() != nil {
		return job.interrupted(qerr)
	}
	if err != nil {
		return err
	}
	if qerr != nil {
		// Quality is a step after the measurements: its failure is
		// reported and the same command with --no-measure redoes it, but the
		// run stands.
		slog.Warn("quality metrics failed; the measurements stand (retry: the same command with --no-measure)", "err", oneLine(qerr.Error()))
	}
	if sum.Failed > 0 {
		fmt.Fprintf(os.Stderr, "dllmbench run: %d of %d cells failed (see their errors in the table and records)\n", sum.Failed, sum.Cells)
		return job.failedCells(f.shard.Count > 0)
	}
	return nil
}

// finish is how a run ends once its cells are recorded, and all that
// --no-measure does (the merge job of 'slurm submit' runs it, so that a
// cluster's outputs are a local run's): the quality metrics, with the
// grid's judge, task and BERTScore, then the reports, which draw the
// quality figures, the Pareto figures and report.html's quality section
// from what quality wrote. The quality step's failure is qerr, returned
// after the reports are built from the records (and any earlier quality
// metrics); a quality step interrupted (ctx cancelled) ends finish at
// once, and err is the reports'.
func (f *runFlags) finish(ctx context.Context, g *bench.Grid) (qerr, err error) {
	if !f.noQuality {
		o := quality.Options{Judge: g.Quality.Judge, Task: g.QualityTask(),
			Device: device.Options{Backend: g.Backend, Device: f.be.device, Threads: f.be.threads}}
		if g.Quality.BERTScore {
			// The encoder runs on the run's backend, after the
			// measurements; without its weights BERTScore is skipped with a
			// notice, and cells keep an earlier BERTScore that still holds.
			o.BERTScore = &quality.BERTScoreOptions{Encoder: g.Quality.Encoder, Layer: g.Quality.Layer, Device: o.Device, Optional: true}
			o.Notice = func(s string) { slog.Warn(s) }
		}
		if qerr = computeQuality(ctx, f.outputDir, o); qerr != nil && ctx.Err() != nil {
			return qerr, nil
		}
	}
	if !f.noReport {
		err = buildReports(f.outputDir, nil)
	}
	return qerr, err
}

// finishOnly is run --no-measure: finish, on the folder reserved as a run
// of every cell reserves it, since quality and the reports write it. Here
// the quality metrics are what was asked for, so their failure is the
// command's, after the reports are built.
func finishOnly(ctx context.Context, f *runFlags, g *bench.Grid) error {
	// Lock would create the folder of a mistyped --output_dir.
	if _, err := os.Stat(filepath.Join(f.outputDir, "records")); err != nil {
		return fmt.Errorf("no records to report: %w", err)
	}
	held, err := bench.Lock(f.outputDir, 0, 0)
	if err != nil {
		return err
	}
	defer held.Release()
	// Quality runs on the first device a run would measure on.
	f.be.device = f.be.devices.first()
	qerr, err := f.finish(ctx, g)
	if qerr != nil && ctx.Err() != nil {
		return qerr
	}
	if err != nil {
		return err
	}
	if qerr != nil {
		return fmt.Errorf("quality metrics: %w (the reports were rebuilt without new ones)", qerr)
	}
	return nil
}

// buildReports rebuilds every output of dir from its records (or from the
// given record files) and prints the table.
func buildReports(dir string, files []string) error {
	recs, err := readRecords(dir, files)
	if err != nil {
		return err
	}
	if err := report.Write(dir, recs); err != nil {
		return err
	}
	if err := report.Markdown(out, recs); err != nil {
		return err
	}
	noteEnergy(recs)
	noteOverwritten(recs)
	return nil
}

// noteOverwritten says, under the table, what merging the records hid
// (report.MergeNotes): cells whose records came from more than one
// machine, of which the outputs show only the newest, and cells in rows
// that read the same.
func noteOverwritten(recs []bench.Record) {
	for _, n := range report.MergeNotes(recs) {
		fmt.Fprintf(os.Stderr, "dllmbench: %s\n", n)
	}
}

// flagAfterArgs refuses a flag of fs given after the first argument: the
// flag package stops there, and report and plot would read the flag and
// its value as record files.
func flagAfterArgs(fs *flag.FlagSet, args []string) error {
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (fs.Lookup(name) != nil || name == "h" || name == "help") {
			return usagef("flag %s after the argument %q: put flags before the record files and folders", a, args[0])
		}
	}
	return nil
}

// checkOutputDir refuses an output folder dir that is a file, and to
// write the outputs of record files given as arguments into the default
// folder dir when it holds records of its own that are not among them: its
// reports and figures would no longer be those of its records. named is
// whether --output_dir was given.
func checkOutputDir(dir string, named bool, inputs []string) error {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return fmt.Errorf("output folder %s is a file", dir)
	}
	if len(inputs) == 0 || named {
		return nil
	}
	for _, o := range files.Glob(filepath.Join(dir, "records"), "*.jsonl") {
		if !slices.ContainsFunc(inputs, func(in string) bool {
			return sameFile(in, o) || sameFile(in, dir) || sameFile(in, filepath.Join(dir, "records"))
		}) {
			return usagef("%s holds records that are not among the inputs (%s): give --output_dir for the outputs of these records", dir, o)
		}
	}
	return nil
}

func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// noteEnergy says, under the table, why cells that ran where energy is
// counted have none (the first reason; each record keeps its own).
func noteEnergy(recs []bench.Record) {
	n, first := 0, ""
	for _, r := range bench.Latest(recs) {
		if r.EnergyNote != "" {
			if n++; first == "" {
				first = r.EnergyNote
			}
		}
	}
	if n > 0 {
		fmt.Fprintf(os.Stderr, "dllmbench: no energy for %d of the cells: %s\n", n, first)
	}
}

// dryRun lists the cells with their estimates without loading weights,
// for the backend a run on device dev would take.
func dryRun(g *bench.Grid, dev int) error {
	// A run reads them before it loads a model: a missing file is its error.
	docs, _, err := g.Prompts.Load()
	if err != nil {
		return err
	}
	cells, skipped, cfgs, err := bench.GridCells(g)
	if err != nil {
		return err
	}
	backend, why, err := estimateBackend(g.Backend, dev)
	if err != nil {
		return err
	}
	fmt.Printf("estimates for %s\n", why)
	counts, notes, err := dryRunPrompts(g, cells, docs)
	if err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Println(n)
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "cell\tcalls/batch\tGFLOP\tGB read\tmemory GiB\testimate s\t")
	var total float64
	var unfit []string
	for _, c := range cells {
		var cfg *model.Config
		for i, m := range g.Models {
			if m.Label() == c.Model {
				cfg = cfgs[i]
			}
		}
		count, ok := counts[[2]int{c.PromptLen, c.GenLen}]
		if !ok {
			count = min(g.Prompts.MaxPrompts, len(docs))
		}
		e := bench.Estimate(c, cfg, backend, count, g.Repetitions+g.Warmup)
		total += e.Seconds
		if why := e.Unfit(model.MachineMemory()); why != "" {
			unfit = append(unfit, fmt.Sprintf("too large: %s: %s", c.Name(), why))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.2f\t%.2f\t%.1f\t\n", c.Name(), e.Calls, e.FLOPs/1e9, e.Bytes/1e9, e.MemoryBytes/(1<<30), e.Seconds)
	}
	tw.Flush()
	for _, u := range unfit {
		fmt.Println(u)
	}
	for _, s := range skipped {
		fmt.Printf("invalid: %s: %s\n", s.Cell.Name(), s.Reason)
	}
	if g.Delay > 0 && len(cells) > 1 {
		total += g.Delay * float64(len(cells)-1) // the pauses between cells
	}
	fmt.Printf("%d cells, %d invalid combinations; estimated %.0f s in all (rough: model shapes and nominal rates of the %s backend)\n",
		len(cells), len(skipped), total, backend)
	return nil
}

// dryRunPrompts counts the prompts a run gives each (prompt_length,
// gen_length) of cells, cut from docs as the run cuts them
// (bench.CountPrompts), under the tokenizer of the grid's first model,
// which cuts every model's prompts; notes are the run's notices of lengths
// that get fewer than max_prompts. Only the tokenizer is loaded, from the
// directory the run resolves, never downloaded. Where it cannot be loaded,
// counts is empty, cells take min(max_prompts, documents), and one note
// says so. The error is the run's when a length gets no prompt.
func dryRunPrompts(g *bench.Grid, cells []bench.Cell, docs []prompts.Doc) (map[[2]int]int, []string, error) {
	dir, err := bench.Locate(g.Models[0])
	var tok *tokenizer.Tokenizer
	if err == nil {
		tok, err = tokenizer.Load(dir)
	}
	if err != nil {
		return nil, []string{fmt.Sprintf("prompts: no tokenizer of %s to cut them under as a run does (%v): every cell is estimated for "+
			"min(max_prompts, documents) = %d prompts, which documents too short for its lengths would make fewer",
			g.Models[0].ID, oneLine(err.Error()), min(g.Prompts.MaxPrompts, len(docs)))}, nil
	}
	counts := map[[2]int]int{}
	var notes []string
	for _, c := range cells {
		k := [2]int{c.PromptLen, c.GenLen}
		if _, ok := counts[k]; ok {
			continue
		}
		n, note, err := bench.CountPrompts(docs, tok, c.PromptLen, c.GenLen, g.Prompts.MaxPrompts)
		if err != nil {
			return nil, nil, err
		}
		counts[k] = n
		if note != "" {
			notes = append(notes, note)
		}
	}
	return counts, notes, nil
}

// estimateBackend is the backend the dry run estimates for (cpu or cuda)
// and a phrase that names it and says why. auto is what a run here would
// take, by device.Choose, the rule device.Open applies: an estimate at
// CUDA's rates on a machine whose run falls back to the CPU is off by
// orders of magnitude, and misses the cells too large for its memory. A
// named backend is estimated as named, unprobed, so that a GPU run can be
// planned from a machine without a GPU.
func estimateBackend(backend string, dev int) (string, string, error) {
	if !device.IsAuto(backend) {
		if strings.EqualFold(backend, "cpu") {
			return "cpu", "the CPU (backend cpu)", nil
		}
		return "cuda", "a CUDA GPU (backend cuda; the rates of an H100)", nil
	}
	c, err := device.Choose(device.Options{Backend: backend, Device: dev})
	switch {
	case err != nil:
		return "", "", err
	case c.Backend == "cuda":
		return "cuda", fmt.Sprintf("CUDA device %d, %s (backend auto; the rates of an H100)", dev, c.GPU), nil
	case c.NoGPU != nil:
		return "cpu", fmt.Sprintf("the CPU (backend auto, no usable GPU: %s)", device.FirstLine(c.NoGPU)), nil
	}
	return "cpu", "the CPU (backend auto; this binary has no CUDA backend)", nil
}

// readRecords reads the records of dir (or of the given files and
// folders), every one: callers keep one per cell (bench.Latest; report's
// outputs do so themselves), so that merged runs and jobs never count a
// cell twice.
func readRecords(dir string, files []string) ([]bench.Record, error) {
	if dir == "" {
		return nil, usagef("--output_dir: empty") // dir is every caller's --output_dir
	}
	src := files
	if len(src) == 0 {
		src = []string{dir}
	}
	recs, err := bench.ReadRecords(src...)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("no records in %s", strings.Join(src, ", "))
	}
	return recs, nil
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// selectCells is the runner's cell filter for --shard and --worker.
func (f *runFlags) selectCells() func([]bench.Cell) []bench.Cell {
	if f.shard.Count == 0 && f.worker.Count == 0 {
		return nil
	}
	return func(cells []bench.Cell) []bench.Cell { return f.worker.Select(f.shard.Select(cells)) }
}

// workerSummary is what a worker of --devices prints on stdout when its
// cells are done, failed ones included.
type workerSummary struct {
	Cells, Measured, Reused, Failed int
}

// runWorkers measures the grid with one process per device. Each runs this
// command line again with --devices d --worker j/N and takes every N-th
// cell of the shard: static sharding, since the runner picks its cells once
// and a worker then loads each model once; the interleaved order spreads
// cheap and dear cells. Processes rather than goroutines give each GPU a
// CUDA context and memory of its own, and a crash on one device leaves
// the others running. Worker j writes records/NAME-dev<d>.jsonl; the
// reports read them all, merged by key.
func runWorkers(ctx context.Context, f *runFlags, devs []int, lockFiles []*os.File) (*bench.Summary, error) {
	if f.worker.Count > 0 {
		return nil, usagef("--worker is for the processes --devices starts; give it one device")
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	name := f.recordsName
	if name == "" {
		host, _ := os.Hostname()
		name = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), time.Now().UTC().Format("20060102T150405"))
	}
	slog.Info("one worker per device", "devices", len(devs), "records", filepath.Join(f.outputDir, "records", name+"-dev*.jsonl"))
	sum := &bench.Summary{Records: filepath.Join(f.outputDir, "records", name+"-dev*.jsonl")}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	stderr := &lineWriter{w: os.Stderr}
	for j, d := range devs {
		// Later flags win: the worker's --devices, --records-name and
		// --no-* replace the user's.
		args := append(slices.Clone(os.Args[1:]), "--devices", strconv.Itoa(d), "--worker", fmt.Sprintf("%d/%d", j, len(devs)),
			"--records-name", fmt.Sprintf("%s-dev%d", name, d), "--no-report", "--no-quality")
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = time.Minute // then SIGKILL
		var out bytes.Buffer
		log := stderr.prefixed(fmt.Sprintf("dev%d: ", d))
		cmd.Stdout, cmd.Stderr = &out, log
		cmd.ExtraFiles = lockFiles // the folder's flocks, held until the worker ends (bench.Reservation.Files)
		wg.Go(func() {
			// The worker's standard input is a pipe whose write end only
			// this process holds (close-on-exec: no other worker inherits
			// it), never writing, until Wait closes it once the worker has
			// exited: see watchParent.
			_, err := cmd.StdinPipe()
			if err == nil {
				err = cmd.Run()
			}
			log.Write([]byte("\n")) // the last line, if it had no end
			var ws workerSummary
			jerr := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &ws)
			mu.Lock()
			defer mu.Unlock()
			if jerr != nil {
				if err == nil {
					err = fmt.Errorf("no summary (%v)", jerr)
				}
				errs = append(errs, fmt.Errorf("device %d: %v (its log lines start with dev%d:)", d, err, d))
				return
			}
			sum.Cells, sum.Measured, sum.Reused, sum.Failed = sum.Cells+ws.Cells, sum.Measured+ws.Measured, sum.Reused+ws.Reused, sum.Failed+ws.Failed
			if err != nil && ctx.Err() == nil { // interrupted on its own: its cells are missing
				errs = append(errs, fmt.Errorf("device %d: %v (its log lines start with dev%d:)", d, err, d))
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return sum, ctx.Err()
	}
	return sum, errors.Join(errs...)
}

// errParentGone is the cause of a worker's context when the run that
// started it has ended.
var errParentGone = errors.New("the run that started this worker has ended")

// watchParent returns ctx, cancelled with errParentGone as its cause when
// r, a worker's standard input, ends. Its parent holds the pipe's only
// write end, which the kernel closes when the parent ends, however it
// ends: a parent killed with SIGKILL cannot stop its workers with SIGTERM,
// and they would measure on as orphans, outside any lock, beside a new run
// on the folder. (Linux's Pdeathsig would be Linux only, and it fires when
// the thread that started the worker ends, which Go's runtime may do.)
func watchParent(ctx context.Context, r io.Reader) context.Context {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		io.Copy(io.Discard, r)
		// Its stdout and stderr were pipes to the parent too: a write to
		// them now fails, rather than ending the worker with SIGPIPE
		// before it has left its cell and closed its records.
		signal.Ignore(syscall.SIGPIPE)
		cancel(errParentGone)
	}()
	return ctx
}

// lineWriter writes whole lines from several writers to w, each with its
// prefix, so that the workers' lines do not mix.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) prefixed(prefix string) *prefixWriter {
	return &prefixWriter{l: l, prefix: prefix}
}

type prefixWriter struct {
	l      *lineWriter
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	if len(b) == 1 && b[0] == '\n' && len(p.buf) == 0 {
		return 1, nil
	}
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.l.mu.Lock()
		_, err := fmt.Fprintf(p.l.w, "%s%s\n", p.prefix, p.buf[:i])
		p.l.mu.Unlock()
		p.buf = p.buf[i+1:]
		if err != nil {
			return len(b), err
		}
	}
}
