package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"dllmbench/bench"
	"dllmbench/config"
	"dllmbench/slurm"
)

func init() {
	register(&command{
		name:    "slurm",
		summary: "run a grid on a SLURM cluster as a job array with a merge job, and follow it",
		usage: `submit [--config FILE] [--shards N] [--output_dir DIR] [--dry-run] [-- SBATCH OPTIONS…]
  dllmbench slurm status [--output_dir DIR] [--fail-missing]`,
		examples: `  # 8 tasks on the gpu partition, each measuring every 8th cell, then a merge job
  dllmbench slurm submit --config config/experiments.yaml --output_dir results/study --shards 8 \
      -- --partition=gpu --time=12:00:00 --account=myproject

  # 4 tasks of four A100s each, one worker per GPU; the merge job asks for one
  dllmbench slurm submit --config config/experiments.yaml --output_dir results/study --shards 4 \
      -- --partition=gpu --gres=gpu:a100:4

  # print the scripts and sbatch command lines, submit nothing
  dllmbench slurm submit --config config/experiments.yaml --dry-run

  # where the tasks stand, and which cells are done, failed or missing
  dllmbench slurm status --output_dir results/study
`,
		setup: setupSlurm,
	})
}

func setupSlurm(fs *flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		if len(args) == 0 {
			return usagef("want a subcommand: submit or status")
		}
		sub := flag.NewFlagSet("slurm "+args[0], flag.ContinueOnError)
		sub.SetOutput(io.Discard)
		var run func(context.Context, []string) error
		switch args[0] {
		case "submit":
			run = setupSubmit(sub)
		case "status":
			run = setupStatus(sub)
		default:
			return usagef("unknown subcommand %q: want submit or status", args[0])
		}
		if err := sub.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printCommandHelp(out, commands["slurm"], sub)
				return nil
			}
			return usageError{err.Error()}
		}
		// The flags stop at the first argument that is not one: sbatch's
		// options come after an explicit --, and anything else before it is
		// a mistake (flags after it would go to sbatch unseen).
		rest := sub.Args()
		if n := len(args) - 1 - len(rest); args[0] == "submit" && len(rest) > 0 && (n == 0 || args[n] != "--") {
			return usagef("unexpected argument %q: sbatch options go after --", rest[0])
		}
		return run(ctx, rest)
	}
}

type submitFlags struct {
	config, outputDir, logDir string
	shards, gpus              int
	quality, dryRun           bool
}

func setupSubmit(fs *flag.FlagSet) func(context.Context, []string) error {
	var f submitFlags
	fs.StringVar(&f.config, "config", "", "grid file (YAML); default: the embedded demo grid")
	alias(fs, "output_dir", "output-dir")(func(n string) {
		fs.StringVar(&f.outputDir, n, "results", "results folder on a file system every node shares")
	})
	fs.StringVar(&f.logDir, "log-dir", filepath.Join("logs", "slurm"), "folder of the jobs' output files")
	fs.IntVar(&f.shards, "shards", 0, "tasks in the array; cell k goes to task k mod N (default: the cells, at most 8)")
	fs.IntVar(&f.gpus, "gpus", -1, "GPUs per task, asked for as --gres=gpu:N (sbatch's own --gres, --gpus or --gpus-per-node after -- replaces it); more than 1 runs one worker per GPU; default 1, or 0 for a grid on the CPU backend")
	fs.BoolVar(&f.quality, "quality", true, "the merge job also computes the quality metrics (it then asks for one of the tasks' GPUs, for the judge)")
	alias(fs, "dry-run", "dry_run")(func(n string) {
		fs.BoolVar(&f.dryRun, n, false, "print the scripts and sbatch command lines; write and submit nothing")
	})
	return func(ctx context.Context, opts []string) error {
		// An empty folder would be the current directory's, as run refuses
		// it; -1 is --gpus' own default (1, or 0 on the CPU), not a count.
		if f.outputDir == "" {
			return usagef("--output_dir: empty")
		}
		if setFlags(fs)["gpus"] && f.gpus < 0 {
			return usagef("--gpus %d: want 0 or more", f.gpus)
		}
		return submit(ctx, &f, opts, slurm.Exec, out)
	}
}

// submit renders the scripts of a grid, writes them with a copy of the
// grid into DIR/slurm, and submits the array and the merge job.
func submit(ctx context.Context, f *submitFlags, opts []string, run slurm.Runner, stdout io.Writer) error {
	data := config.Default()
	if f.config != "" {
		var err error
		if data, err = os.ReadFile(f.config); err != nil {
			return fmt.Errorf("grid: %w", err)
		}
	}
	g, err := bench.ParseGrid(data, firstNonEmpty(f.config, "default.yaml (embedded)"))
	if err != nil {
		return err
	}
	cells, err := slurm.Cells(g)
	if errors.Is(err, bench.ErrNoValidCell) {
		return err
	} else if err != nil {
		return fmt.Errorf("%w (the tasks read the models from the same cache: fetch them first)", err)
	}
	shards := f.shards
	switch {
	case shards < 0:
		return usagef("--shards %d: want at least 1", shards)
	case shards == 0:
		shards = min(len(cells), 8)
	case shards > len(cells):
		slog.Info("fewer cells than shards: one task per cell", "cells", len(cells), "shards", shards)
		shards = len(cells)
	}
	o, err := slurm.ParseOptions(opts)
	if err != nil {
		return usageError{err.Error()}
	}
	err = slurm.TaskNodes(o)
	var gpus slurm.GPURequest
	if err == nil {
		gpus, err = slurm.TaskGPUs(g.Backend, f.gpus, o, os.Environ())
	}
	var cpusPerGPU int
	if err == nil {
		cpusPerGPU, err = slurm.TaskCPUs(gpus.Count, o, os.Environ())
	}
	if err != nil {
		return usageError{err.Error()}
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this binary for the jobs: %w", err)
	}
	if goRunBinary(bin) {
		d := os.Getenv("DLLMBENCH")
		if d == "" {
			return usagef("this dllmbench is go run's binary (%s), which Go deletes when it exits or keeps in its build cache only until the cache is trimmed, so the jobs could not rely on it: build one (make build, then bin/dllmbench slurm submit …) or set DLLMBENCH to a dllmbench the compute nodes can run", bin)
		}
		bin = d // the scripts' default, for jobs that do not inherit it
	}
	out, err := filepath.Abs(f.outputDir)
	if err != nil {
		return err
	}
	logs, err := filepath.Abs(f.logDir)
	if err != nil {
		return err
	}
	if strings.ContainsAny(logs, " \t\n") {
		return usagef("--log-dir %q: #SBATCH lines cannot hold a path with blanks", logs)
	}
	sum := sha256.Sum256(data)
	dir := slurm.Dir(out)
	p := &slurm.Plan{Binary: bin, Grid: filepath.Join(dir, "grid-"+hex.EncodeToString(sum[:6])+".yaml"), OutputDir: out,
		LogDir: logs, Shards: shards, Name: "dllmbench", GPUs: gpus, CPUsPerGPU: cpusPerGPU, Quality: f.quality}
	for _, k := range []string{"HF_HOME", "HF_HUB_CACHE"} {
		if v := os.Getenv(k); v != "" {
			p.Env = append(p.Env, k+"="+v)
		}
	}
	arrayPath, mergePath := filepath.Join(dir, slurm.ArrayName), filepath.Join(dir, slurm.MergeName)
	array, merge := p.ArrayScript(), p.MergeScript()
	if f.dryRun {
		fmt.Fprintf(stdout, "# %d cells of grid %s in %d shards; the tasks would read a copy of it: %s\n", len(cells), g.Name, shards, p.Grid)
		fmt.Fprintf(stdout, "# %s\n%s\n# %s\n%s\n", arrayPath, array, mergePath, merge)
		words := func(args []string) string {
			q := make([]string, len(args))
			for i, a := range args {
				q[i] = slurm.Quote(a)
			}
			return strings.Join(q, " ")
		}
		fmt.Fprintf(stdout, "# would run:\n#   mkdir -p %s\n#   sbatch %s\n#   sbatch %s\n", slurm.Quote(logs),
			words(p.ArrayArgs(o, arrayPath)), words(p.MergeArgs("<array job id>", o, mergePath)))
		return nil
	}
	for _, d := range []string{logs, dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for _, w := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{p.Grid, data, 0o644}, {arrayPath, []byte(array), 0o755}, {mergePath, []byte(merge), 0o755}} {
		if err := os.WriteFile(w.path, w.data, w.mode); err != nil {
			return err
		}
	}
	s, err := slurm.Submit(ctx, run, p, o, arrayPath, mergePath)
	if s != nil {
		fmt.Fprintf(stdout, "submitted array job %s (%d tasks for %d cells) and merge job %s; logs in %s\n",
			s.ArrayJob, shards, len(cells), firstNonEmpty(s.MergeJob, "none"), logs)
		fmt.Fprintf(stdout, "follow it with: dllmbench slurm status --output_dir %s\n", f.outputDir)
	}
	return err
}

func setupStatus(fs *flag.FlagSet) func(context.Context, []string) error {
	var dir string
	var failMissing bool
	alias(fs, "output_dir", "output-dir")(func(n string) { fs.StringVar(&dir, n, "results", "results folder of the submission") })
	fs.BoolVar(&failMissing, "fail-missing", false, "exit 1 when a cell is missing (no record at all) or the cells cannot be listed")
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q", args[0])
		}
		if dir == "" {
			return usagef("--output_dir: empty")
		}
		return status(ctx, dir, failMissing, slurm.Exec, out)
	}
}

// status prints where the latest submission to dir stands.
func status(ctx context.Context, dir string, failMissing bool, run slurm.Runner, stdout io.Writer) error {
	subs, err := slurm.Submissions(dir)
	if err != nil {
		return err
	}
	r := &slurm.Report{Submission: subs[len(subs)-1]}
	s := r.Submission
	if len(subs) > 1 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d earlier submissions to this folder; their records count too", len(subs)-1))
	}
	ids := []string{s.ArrayJob}
	if s.MergeJob != "" {
		ids = append(ids, s.MergeJob)
	}
	qctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tasks, notes, err := slurm.Jobs(qctx, run, ids...)
	if err != nil {
		notes = append(notes, oneLine(err.Error()))
	}
	r.Tasks, r.Notes = tasks, append(r.Notes, notes...)
	g, err := bench.LoadGrid(s.Grid)
	var cells []bench.Cell
	var keys []string
	if err == nil {
		// The keys a task writes its records under, as its run computes
		// them; without them (prompts that cannot be read here), records
		// are matched by their settings.
		var kerr error
		if cells, keys, kerr = bench.GridKeys(g); kerr != nil {
			if cells, err = slurm.Cells(g); err == nil {
				r.Notes = append(r.Notes, "records matched by their cells' settings, not their keys: "+oneLine(kerr.Error()))
			}
		}
	}
	if err != nil {
		r.Notes = append(r.Notes, "cannot list the grid's cells: "+oneLine(err.Error()))
	} else {
		recs, err := bench.ReadRecords(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		r.Cells = slurm.Tally(cells, keys, g.Name, s.Shards, recs)
	}
	r.Write(stdout)
	if _, _, missing := r.Counts(); failMissing && (missing > 0 || r.Cells == nil) {
		return exitError{1}
	}
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// Under SLURM, run ends as a task of an array needs, and this is the one
// place that decides it (run.go calls it):
//   - On SIGTERM (preemption, or --signal=B:TERM@120 before the time
//     limit) the cell in flight is abandoned (bench.Run returns ctx.Err()),
//     the records are already synced, and `scontrol requeue` puts the job
//     back in the queue; run then exits 0. An array task is named
//     $SLURM_ARRAY_JOB_ID_$SLURM_ARRAY_TASK_ID, so that only that task goes
//     back: its SLURM_JOB_ID is its own id but for the array's last task,
//     which keeps the array's id, and requeueing that requeues every task.
//     When the requeue fails, run exits non-zero. A job that scancel is
//     ending (SLURM has it COMPLETING with no reason, where a time limit
//     says TimeLimit and its warning signal finds it RUNNING) is not
//     requeued: run ends as SIGTERM ends it outside SLURM.
//   - A --shard run whose only problem is failed cells exits 0: its share
//     is recorded, failures included, and the merge job lists them.
//   - Anything else ends as it does outside SLURM.
//
// The worker processes of --devices are not SLURM tasks of their own: the
// process that started them decides.

// slurmJob is the SLURM job this process runs in.
type slurmJob struct {
	id      string
	requeue func(ctx context.Context, jobID string) error
	state   func(ctx context.Context, jobID string) (slurm.Task, error) // nil: not asked
	term    chan struct{}                                               // closed when SIGTERM arrives
	stop    func()
}

// watchSLURM returns the job of $SLURM_JOB_ID, or the array task, watching
// for SIGTERM; nil outside SLURM.
func watchSLURM() *slurmJob {
	id := os.Getenv("SLURM_JOB_ID")
	if id == "" {
		return nil
	}
	if arr, task := os.Getenv("SLURM_ARRAY_JOB_ID"), os.Getenv("SLURM_ARRAY_TASK_ID"); arr != "" && task != "" {
		id = arr + "_" + task
	}
	j := &slurmJob{id: id, requeue: scontrolRequeue, term: make(chan struct{}),
		state: func(ctx context.Context, id string) (slurm.Task, error) { return slurm.State(ctx, slurm.Exec, id) }}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			close(j.term)
		case <-done:
		}
	}()
	j.stop = func() {
		signal.Stop(ch)
		close(done)
	}
	return j
}

func (j *slurmJob) close() {
	if j != nil && j.stop != nil {
		j.stop()
	}
}

// interrupted is the outcome of a run that bench ended with err after ctx
// was cancelled.
func (j *slurmJob) interrupted(err error) error {
	if j == nil {
		return err
	}
	select {
	case <-j.term:
	case <-time.After(time.Second): // the signal's two deliveries race: give ours a moment
		return err // not SIGTERM (an interrupt from a terminal): as outside SLURM
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if j.state != nil {
		// Not asked, or not answered: requeued, as a preempted job must be.
		if t, serr := j.state(ctx, j.id); serr == nil && t.Cancelled() {
			slog.Warn("SIGTERM: the job is being cancelled (scancel), so it is not requeued", "job", j.id, "state", t.State)
			return err
		}
	}
	if rerr := j.requeue(ctx, j.id); rerr != nil {
		return fmt.Errorf("SIGTERM: %v, and requeueing SLURM job %s failed: %w", err, j.id, rerr)
	}
	slog.Warn("SIGTERM: the cell in flight was abandoned and the job requeued; it will measure the missing cells", "job", j.id)
	return nil
}

// failedCells is the outcome of a run whose only problem is failed cells.
func (j *slurmJob) failedCells(sharded bool) error {
	if j != nil && sharded {
		slog.Info("exit 0: this task's share is recorded, failed cells included; the merge job lists them", "job", j.id)
		return nil
	}
	return exitError{1}
}

// scontrolRequeue puts a job back in the queue. The requeue of its own job
// ends it: slurmctld sends SIGTERM to every process of the job, scontrol
// included, which raced scontrol's exit and could turn a requeue that took
// effect into "signal: terminated" (seen in the cluster test). So SIGTERM
// is ignored from here on, by this process, which is on its way out, and
// by scontrol, which inherits the disposition; SLURM's SIGKILL still
// follows after its KillWait.
func scontrolRequeue(ctx context.Context, id string) error {
	signal.Ignore(syscall.SIGTERM)
	out, err := exec.CommandContext(ctx, "scontrol", "requeue", id).CombinedOutput()
	if err != nil {
		return fmt.Errorf("scontrol requeue %s: %v: %s", id, err, oneLine(string(out)))
	}
	return nil
}

// goRunBinary reports whether path is a binary go run built: before Go
// 1.24 a temporary one it deletes when it exits, $GOTMPDIR/go-build…/b001/exe/NAME;
// since, one it keeps in the build cache, which go clean -cache and the
// cache's trimming of entries unused for days remove:
// $GOCACHE/XX/HASH-d/NAME, XX the first byte of the 64-digit HASH
// (cmd/go/internal/cache's OutputFile).
func goRunBinary(path string) bool {
	dir := filepath.Dir(path)
	if filepath.Base(dir) == "exe" && strings.HasPrefix(filepath.Base(filepath.Dir(filepath.Dir(dir))), "go-build") {
		return true
	}
	hash, ok := strings.CutSuffix(filepath.Base(dir), "-d")
	if !ok || len(hash) != 64 || filepath.Base(filepath.Dir(dir)) != hash[:2] {
		return false
	}
	_, err := hex.DecodeString(hash)
	return err == nil && hash == strings.ToLower(hash)
}
