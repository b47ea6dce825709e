package slurm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The cluster test runs on a real single-node SLURM cluster on loopback,
// started and stopped by scripts/test/slurm-local.sh (which
// scripts/test/slurm-setup.sh installs the packages for). It runs with
// SLURM_LOCAL_TESTS=1 or CI=true, as root; under CI=true a missing
// prerequisite fails the test instead of skipping it.

// smallGrid is the demo pair at toy sizes: 2 AR cells and 4 LLaDA cells.
const smallGrid = `name: slurm-small
models:
  - id: builtin:demo-llama
  - id: builtin:demo-llada
backend: cpu
prompts:
  source: builtin
  max_prompts: 2
batch_size: [1, 2]
prompt_length: [16]
gen_length: [8]
diffusion:
  steps: [4, 8]
  block_length: [8]
repetitions: 1
warmup: 0
`

// killGrid takes several seconds per shard on two cores, long enough to
// signal a task between its first record (a quick AR cell) and its last:
// 2 AR cells and 12 LLaDA cells.
const killGrid = `name: slurm-kill
models:
  - id: builtin:demo-llama
  - id: builtin:demo-llada
backend: cpu
prompts:
  source: builtin
  max_prompts: 8
batch_size: [1, 2]
prompt_length: [32]
gen_length: [32]
diffusion:
  steps: [8, 16, 32]
  block_length: [32]
  cache: [none, dual]
repetitions: 1
warmup: 0
`

// cluster is a running local cluster and what the test needs around it.
type cluster struct {
	dir  string   // holds the cluster (c/), the binary (bin/) and the work folders
	bin  string   // dllmbench
	env  []string // SLURM_CONF and a cache of its own for the demo models
	repo string   // the repository root
}

func TestCluster(t *testing.T) {
	c := startCluster(t)

	// An array of two shards and its merge job: every cell recorded once,
	// the quality metrics computed and then the reports built, with their
	// quality and Pareto figures, as a run on one machine ends; the status
	// complete. Each task, given one CPU, measures with one thread, not
	// one a CPU of the machine.
	t.Run("submit", func(t *testing.T) {
		work := c.workDir(t, "submit", smallGrid)
		out := c.run(t, work, c.bin, "slurm", "submit", "--config", "grid.yaml", "--output_dir", "out", "--shards", "2",
			"--", "--partition=debug", "--cpus-per-task=1")
		sub := latest(t, filepath.Join(work, "out"))
		c.waitMerge(t, sub, 90*time.Second)
		c.wantJobs(t, sub, map[int]int{0: 0, 1: 0})
		keys := recordKeys(t, filepath.Join(work, "out", "records"))
		if len(keys) != 6 {
			t.Errorf("%d cells recorded, want 6: %v", len(keys), keys)
		}
		files, _ := filepath.Glob(filepath.Join(work, "out", "records", "*.jsonl"))
		for _, f := range files {
			for _, line := range strings.Split(strings.TrimSpace(readFile(t, f)), "\n") {
				var r struct{ Env struct{ Device string } }
				if err := json.Unmarshal([]byte(line), &r); err != nil || !strings.HasSuffix(r.Env.Device, ", 1 threads") {
					t.Errorf("%s: a task of one CPU measured on %q (%v)", f, r.Env.Device, err)
				}
			}
		}
		for _, f := range []string{"raw_data/raw_metrics.csv", "raw_data/quality_metrics.json", "bench.txt",
			"figures/quality_judge_ppl.svg", "figures/pareto_throughput.svg",
			"records/" + sub.ArrayJob + "_0.jsonl", "records/" + sub.ArrayJob + "_1.jsonl"} {
			if _, err := os.Stat(filepath.Join(work, "out", f)); err != nil {
				t.Errorf("after the merge job: %v (submit said %q)", err, out)
			}
		}
		if html := readFile(t, filepath.Join(work, "out", "report.html")); strings.Contains(html, "No quality metrics") {
			t.Error("the merge job's report.html has no quality section")
		}
		st := c.run(t, work, c.bin, "slurm", "status", "--output_dir", "out", "--fail-missing")
		if !strings.Contains(st, "cells: 6 in 2 shards: 6 done, 0 failed, 0 missing") {
			t.Errorf("status:\n%s", st)
		}
		log := readFile(t, filepath.Join(work, "logs", "slurm", "dllmbench-merge-"+sub.MergeJob+".out"))
		if !strings.Contains(log, "6 done, 0 failed, 0 missing") || !strings.Contains(log, "| demo-llada") {
			t.Errorf("the merge job's log has no table or tally:\n%s", log)
		}
	})

	// A task told to stop mid-run (SIGTERM to its batch step, as before a
	// time limit) requeues itself, and only itself: it is the array's last
	// task, whose SLURM_JOB_ID is the array's id, which requeued the whole
	// array. Its second run measures only the cells still missing, and the
	// merge job waits for it.
	t.Run("requeue", func(t *testing.T) {
		work, sub, first := c.submitUntilRecorded(t, "requeue", 1)
		c.run(t, work, "scancel", "--signal=TERM", "--batch", sub.ArrayJob+"_1")
		c.waitMerge(t, sub, 120*time.Second)
		c.wantJobs(t, sub, map[int]int{0: 0, 1: 1})
		if n := len(recordKeys(t, first)); n >= 7 {
			t.Errorf("task 1 recorded all its %d cells before the signal: the test proves nothing", n)
		}
		if _, err := os.Stat(filepath.Join(work, "out", "records", sub.ArrayJob+"_1-r1.jsonl")); err != nil {
			t.Errorf("the requeued task wrote no records of its own: %v", err)
		}
		if keys := recordKeys(t, filepath.Join(work, "out", "records")); len(keys) != 14 {
			t.Errorf("%d cells recorded, want 14", len(keys))
		}
		log := readFile(t, filepath.Join(work, "logs", "slurm", "dllmbench-"+sub.ArrayJob+"_1.out"))
		if !strings.Contains(log, "job requeued") {
			t.Errorf("task 1's log does not say it requeued:\n%s", log)
		}
	})

	// A task cancelled mid-run (plain scancel) stays cancelled: it used to
	// take scancel's SIGTERM for a warning signal and requeue itself. The
	// merge job still runs (afterany), builds the reports from the cells
	// recorded and lists the cancelled shard's other cells as missing,
	// exiting 1, and status says so.
	t.Run("scancel", func(t *testing.T) {
		work, sub, _ := c.submitUntilRecorded(t, "scancel", 0)
		c.run(t, work, "scancel", sub.ArrayJob+"_0")
		c.waitMerge(t, sub, 120*time.Second)
		c.waitJobs(t, sub.ArrayJob, 60*time.Second)
		tasks, err := c.query(sub.ArrayJob, sub.MergeJob)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{sub.ArrayJob + "_0": "CANCELLED 0", sub.ArrayJob + "_1": "COMPLETED 0", sub.MergeJob: "FAILED 0"}
		for _, tk := range tasks {
			if got := fmt.Sprintf("%s %d", tk.State, tk.Restarts); got != want[tk.JobID] {
				t.Errorf("%s: %s, want %s (state, restarts)", tk.JobID, got, want[tk.JobID])
			}
		}
		if _, err := os.Stat(filepath.Join(work, "out", "raw_data", "raw_metrics.csv")); err != nil {
			t.Errorf("the merge job built no reports: %v", err)
		}
		st := c.run(t, work, c.bin, "slurm", "status", "--output_dir", "out")
		if !strings.Contains(st, "14 in 2 shards: ") || strings.Contains(st, " 0 missing") || !strings.Contains(st, "missing: ") {
			t.Errorf("status:\n%s", st)
		}
	})

	// What SLURM gives the jobs of a GPU grid, and what their tasks make
	// of it, with a dllmbench that logs how each job ran it: a task asks
	// for the GPUs the user gave sbatch, its own --gres=gpu:N left out,
	// and runs one worker per GPU it got; the merge job gets one GPU when
	// it computes quality, none otherwise. Before, the user's --gpus=2
	// came on top of the script's --gres=gpu:1, two nodes of one GPU each
	// (pending for ever on this one node), --gpus-per-node=2 gave the task
	// one GPU, and --gres=gpu:3 three GPUs, of which the task used one;
	// the merge job took all the tasks' GPUs. A job with GPUs gets two
	// CPUs a GPU unless the user asks for its CPUs, and each worker's Go
	// runtime takes its share; before, a task got SLURM's default, one
	// CPU, and its workers one thread a CPU of the node each.
	t.Run("gpus", func(t *testing.T) {
		work := c.workDir(t, "gpus", strings.Replace(smallGrid, "backend: cpu", "backend: auto", 1))
		fake := filepath.Join(work, "fake-dllmbench")
		if err := os.WriteFile(fake, []byte(`#!/bin/sh
echo "$SLURM_JOB_ID ${SLURM_ARRAY_TASK_ID:--} ${SLURM_GPUS_ON_NODE:-0} ${CUDA_VISIBLE_DEVICES:--} $SLURM_CPUS_ON_NODE ${GOMAXPROCS:--} $*" >>`+filepath.Join(work, "jobs.log")+`
`), 0o755); err != nil {
			t.Fatal(err)
		}
		env := []string{"DLLMBENCH=" + fake}
		for _, tc := range []struct {
			name         string
			args         []string
			tasks, merge int // GPUs each job gets
			taskCPUs     int // CPUs a task gets, each worker's share its GOMAXPROCS
			mergeCPUs    int
		}{
			{"flag", []string{"--gpus", "2"}, 2, 1, 4, 2},
			{"gres", []string{"--", "--gres=gpu:3"}, 3, 1, 6, 2},
			{"gpus", []string{"--", "-N", "1", "--gpus=2"}, 2, 1, 4, 2},
			{"per-node", []string{"--quality=false", "--", "--gpus-per-node=2"}, 2, 0, 4, 1},
			// the user's CPUs, which the merge job takes too, replace the
			// scripts' two a GPU; abbreviated, as sbatch takes them
			{"cpus", []string{"--", "--gpus=2", "--cpus-per-t=3"}, 2, 1, 3, 3},
			{"abbreviated", []string{"--", "--gpus-per-n=2", "--cpus-per-g=1"}, 2, 1, 2, 1},
		} {
			c.runWith(t, work, env, c.bin, append([]string{"slurm", "submit", "--config", "grid.yaml", "--output_dir", tc.name,
				"--shards", "2", "--log-dir", filepath.Join("logs", tc.name)}, tc.args...)...)
			sub := latest(t, filepath.Join(work, tc.name))
			c.waitMerge(t, sub, 60*time.Second)
			c.wantJobs(t, sub, map[int]int{0: 0, 1: 0})
			ran := map[string]int{}
			for _, line := range strings.Split(readFile(t, filepath.Join(work, "jobs.log")), "\n") {
				f := strings.Fields(line)
				if len(f) < 7 || !strings.Contains(line, " --output_dir "+filepath.Join(work, tc.name)+" ") {
					continue
				}
				job, task, gpus, cuda, cpus, gomaxprocs, args := f[0], f[1], f[2], f[3], f[4], f[5], strings.Join(f[6:], " ")
				want, wantCPUs, wantProcs := tc.tasks, tc.taskCPUs, fmt.Sprint(max(tc.taskCPUs/max(tc.tasks, 1), 1))
				if task == "-" {
					job, want, wantCPUs, wantProcs = "merge", tc.merge, tc.mergeCPUs, "-"
				} else if !strings.HasSuffix(args, " --devices all") {
					t.Errorf("%s: task %s ran %q, not one worker per GPU", tc.name, task, args)
				}
				if n := len(strings.Split(cuda, ",")); gpus != fmt.Sprint(want) || want > 0 && n != want {
					t.Errorf("%s: job %s (task %s) got %s GPUs, CUDA_VISIBLE_DEVICES=%s; want %d", tc.name, job, task, gpus, cuda, want)
				}
				if cpus != fmt.Sprint(wantCPUs) || gomaxprocs != wantProcs {
					t.Errorf("%s: job %s (task %s) got %s CPUs, GOMAXPROCS=%s; want %d and %s", tc.name, job, task, cpus, gomaxprocs, wantCPUs, wantProcs)
				}
				ran[task]++
			}
			if ran["0"] != 1 || ran["1"] != 1 || ran["-"] != 2 { // the merge job runs run --no-measure, then slurm status
				t.Errorf("%s: the jobs ran dllmbench %v times, by task (-: the merge job)", tc.name, ran)
			}
		}
		// jobs/benchmark_gpu.sbatch, given more GPUs by sbatch's --gres,
		// runs one worker per GPU too.
		id := strings.TrimSpace(c.runWith(t, work, env, "sbatch", "--parsable", "--partition=debug", "--gres=gpu:2", "--output=jobscript.out",
			"--export=ALL,CONFIG=grid.yaml,OUTPUT_DIR=jobscript", filepath.Join(c.repo, "jobs", "benchmark_gpu.sbatch")))
		c.waitJobs(t, id, 60*time.Second)
		if log := readFile(t, filepath.Join(work, "jobs.log")); !strings.Contains(log, id+" - 2 ") ||
			!strings.Contains(log, " --output_dir jobscript --shard 0/1 --records-name "+id+"_0 --devices all\n") {
			t.Errorf("jobs/benchmark_gpu.sbatch with --gres=gpu:2 (job %s):\n%s", id, log)
		}
	})

	// jobs/benchmark_gpu.sbatch, submitted by hand as users do, with the
	// GPU and partition lines overridden for this cluster.
	t.Run("jobscript", func(t *testing.T) {
		work := c.workDir(t, "jobscript", smallGrid)
		if err := os.MkdirAll(filepath.Join(work, "logs", "slurm"), 0o755); err != nil {
			t.Fatal(err)
		}
		id := strings.TrimSpace(c.run(t, work, "sbatch", "--parsable", "--array=0-1", "--partition=debug", "--gres=none",
			"--export=ALL,DLLMBENCH="+c.bin+",CONFIG=grid.yaml,OUTPUT_DIR=out", filepath.Join(c.repo, "jobs", "benchmark_gpu.sbatch")))
		c.waitJobs(t, id, 60*time.Second)
		c.wantJobs(t, &Submission{ArrayJob: id, Shards: 2}, map[int]int{0: 0, 1: 0})
		for i := range 2 {
			f := filepath.Join(work, "out", "records", fmt.Sprintf("%s_%d.jsonl", id, i))
			if n := len(recordKeys(t, f)); n != 3 {
				t.Errorf("%s: %d records, want 3", f, n)
			}
		}
	})

	// sbatchOptions is sbatch 22.05.8's table: the installed sbatch, of
	// that version, takes every prefix of its names for an abbreviation
	// where ParseOptions does, is ambiguous where it is, and wants a value
	// of the options where it does. --usage, after the option, ends sbatch
	// before it submits anything.
	t.Run("options", func(t *testing.T) {
		sbatch := func(args ...string) string {
			cmd := exec.Command("sbatch", args...)
			cmd.Env = c.env
			out, _ := cmd.CombinedOutput()
			return string(out)
		}
		if v := sbatch("--version"); !strings.Contains(v, " 22.05.8") {
			t.Skipf("the table is sbatch 22.05.8's, and this is %q", strings.TrimSpace(v))
		}
		seen := map[string]bool{}
		for name, arg := range sbatchOptions {
			for i := 1; i <= len(name); i++ {
				if p := name[:i]; !seen[p] {
					seen[p] = true
					out := sbatch("--"+p+"=x", "--usage")
					_, err := longOption(p)
					if strings.Contains(out, "unrecognized option") || strings.Contains(out, "is ambiguous") != (err != nil) {
						t.Errorf("--%s: ParseOptions says %v; sbatch %q", p, err, out)
					}
				}
			}
			needs := strings.Contains(sbatch("--"+name), "requires an argument")
			none := strings.Contains(sbatch("--"+name+"=x", "--usage"), "doesn't allow an argument")
			if needs != (arg == needsValue) || none != (arg == noValue) {
				t.Errorf("--%s: sbatch wants a value %v, takes none %v; the table says %d", name, needs, none, arg)
			}
		}
		for c, name := range shortOptions {
			if needs := strings.Contains(sbatch("-"+string(c)), "requires an argument"); needs != (sbatchOptions[name] == needsValue) {
				t.Errorf("-%c: sbatch wants a value %v; the table says --%s's is %d", c, needs, name, sbatchOptions[name])
			}
		}
	})
}

// startCluster starts a cluster in a fresh directory and stops it, with
// exactly the daemons it started, when the test ends.
func startCluster(t *testing.T) *cluster {
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(repo, "scripts", "test", "slurm-local.sh")
	ci := os.Getenv("CI") == "true"
	if !ci && os.Getenv("SLURM_LOCAL_TESTS") != "1" {
		t.Skip("starts a local SLURM cluster only with SLURM_LOCAL_TESTS=1 (or CI=true), as root, after scripts/test/slurm-setup.sh")
	}
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (the daemons run as root)")
	}
	for _, c := range []string{"munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo"} {
		if _, err := exec.LookPath(c); err != nil {
			if _, err := os.Stat("/usr/sbin/" + c); err != nil {
				missing = append(missing, c)
			}
		}
	}
	if len(missing) > 0 {
		msg := "cannot start a local SLURM cluster: missing " + strings.Join(missing, ", ") + " (scripts/test/slurm-setup.sh installs the packages)"
		if ci {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// Not t.TempDir(): munged wants every parent of its socket world-executable.
	dir, err := os.MkdirTemp("/tmp", "dlbslurm-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &cluster{dir: dir, bin: filepath.Join(dir, "bin", "dllmbench"), repo: repo}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", c.bin, "dllmbench/cmd/dllmbench")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("go build: %v\n%s", err, out)
	}
	start := exec.CommandContext(ctx, script, "start", filepath.Join(dir, "c"))
	// Ports of their own, so that a cluster on the default ports is left alone.
	// Four GPUs that SLURM allocates as real ones, whose device files
	// nothing opens: the gpus test checks what jobs are given, not CUDA.
	// Eight CPUs, on fewer cores, for the GPUs' two CPUs each.
	start.Env = append(os.Environ(), "SLURM_LOCAL_CTLD_PORT=16817", "SLURM_LOCAL_SLURMD_PORT=16818", "SLURM_LOCAL_CPUS=8",
		"SLURM_LOCAL_GPUS=4")
	var stderr bytes.Buffer
	start.Stderr = &stderr
	out, err := start.Output()
	t.Cleanup(func() {
		stop := exec.Command(script, "stop", filepath.Join(dir, "c"))
		if b, err := stop.CombinedOutput(); err != nil {
			t.Errorf("slurm-local.sh stop: %v\n%s", err, b)
		}
		if b, err := exec.Command(script, "status", filepath.Join(dir, "c")).CombinedOutput(); err == nil {
			t.Errorf("daemons still running after stop:\n%s", b)
		}
		if t.Failed() {
			for _, l := range []string{"c/log/slurmctld.log", "c/log/slurmd.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, l))
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("%s (end):\n%s", l, b)
			}
		}
		os.RemoveAll(dir)
	})
	if err != nil {
		t.Fatalf("slurm-local.sh start: %v\n%s", err, stderr.String())
	}
	c.env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	for _, line := range strings.Split(string(out), "\n") {
		if kv, ok := strings.CutPrefix(line, "export "); ok {
			c.env = append(c.env, kv)
		}
	}
	return c
}

// workDir makes a folder with grid.yaml; commands run there, as sbatch's
// submit directory.
func (c *cluster) workDir(t *testing.T, name, grid string) string {
	w := filepath.Join(c.dir, name)
	if err := os.MkdirAll(w, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w, "grid.yaml"), []byte(grid), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// run runs a command in dir with the cluster's environment and returns
// its stdout; a failure ends the test.
// submitUntilRecorded submits killGrid in two shards from a fresh work
// folder, without quality, and waits until array task task has recorded a
// cell: it returns the folder, the submission and that task's records file.
func (c *cluster) submitUntilRecorded(t *testing.T, name string, task int) (work string, sub *Submission, records string) {
	t.Helper()
	work = c.workDir(t, name, killGrid)
	c.run(t, work, c.bin, "slurm", "submit", "--config", "grid.yaml", "--output_dir", "out", "--shards", "2", "--quality=false",
		"--", "--cpus-per-task=2")
	sub = latest(t, filepath.Join(work, "out"))
	records = filepath.Join(work, "out", "records", fmt.Sprintf("%s_%d.jsonl", sub.ArrayJob, task))
	deadline := time.Now().Add(60 * time.Second)
	for n := 0; n == 0; n = len(recordKeys(t, records)) {
		if time.Now().After(deadline) {
			t.Fatalf("task %d recorded nothing in 60 s", task)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return work, sub, records
}

func (c *cluster) run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	return c.runWith(t, dir, nil, name, args...)
}

// runWith is run with extra environment variables.
func (c *cluster) runWith(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, append(slices.Clone(c.env), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// terminal are the states a job does not leave (but by a requeue).
var terminal = map[string]bool{"COMPLETED": true, "FAILED": true, "CANCELLED": true, "TIMEOUT": true,
	"OUT_OF_MEMORY": true, "NODE_FAIL": true, "PREEMPTED": true, "BOOT_FAIL": true, "DEADLINE": true}

// waitJobs waits until every task of job id has reached a terminal state.
func (c *cluster) waitJobs(t *testing.T, id string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := c.query(id)
		done := err == nil && len(out) > 0
		for _, s := range out {
			done = done && terminal[s.State]
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not done after %v: %+v %v", id, timeout, out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitMerge waits for the merge job, which starts only once every task of
// the array has ended, requeued ones included.
func (c *cluster) waitMerge(t *testing.T, s *Submission, timeout time.Duration) {
	t.Helper()
	if s.MergeJob == "" {
		t.Fatal("no merge job was submitted")
	}
	c.waitJobs(t, s.MergeJob, timeout)
}

// wantJobs checks that every task of the array completed with exit 0 after
// the given number of requeues, and so did the merge job.
func (c *cluster) wantJobs(t *testing.T, s *Submission, restarts map[int]int) {
	t.Helper()
	ids := []string{s.ArrayJob}
	if s.MergeJob != "" {
		ids = append(ids, s.MergeJob)
	}
	tasks, err := c.query(ids...)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, tk := range tasks {
		if tk.State != "COMPLETED" || tk.ExitCode != "0:0" {
			t.Errorf("%s: %s, exit %s", tk.JobID, tk.State, tk.ExitCode)
		}
		if tk.ArrayTask >= 0 {
			seen++
			if tk.Restarts != restarts[tk.ArrayTask] {
				t.Errorf("%s: %d restarts, want %d", tk.JobID, tk.Restarts, restarts[tk.ArrayTask])
			}
		}
	}
	if seen != len(restarts) {
		t.Errorf("scheduler lists %d tasks, want %d: %+v", seen, len(restarts), tasks)
	}
}

func (c *cluster) query(ids ...string) ([]Task, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = c.env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("%s: %v: %s", name, err, stderr.String())
		}
		return out, nil
	}
	tasks, notes, err := Jobs(ctx, run, ids...)
	if err == nil && len(notes) > 0 {
		err = fmt.Errorf("%s", strings.Join(notes, "; "))
	}
	return tasks, err
}

func latest(t *testing.T, out string) *Submission {
	t.Helper()
	subs, err := Submissions(out)
	if err != nil {
		t.Fatal(err)
	}
	return &subs[len(subs)-1]
}

// recordKeys reads the records under path (a file or a records folder)
// and fails the test when a cell is recorded twice.
func recordKeys(t *testing.T, path string) []string {
	t.Helper()
	files := []string{path}
	if st, err := os.Stat(path); err != nil {
		return nil
	} else if st.IsDir() {
		files, _ = filepath.Glob(filepath.Join(path, "*.jsonl"))
	}
	seen := map[string]string{}
	var keys []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.SplitAfter(string(data), "\n") {
			if !strings.HasSuffix(line, "\n") {
				break // being written
			}
			var r struct{ Key, Status string }
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if r.Status != "ok" {
				t.Errorf("%s: cell %s %s", f, r.Key, r.Status)
			}
			if prev, ok := seen[r.Key]; ok {
				t.Errorf("cell %s recorded twice: in %s and %s", r.Key, prev, f)
			}
			seen[r.Key] = f
			keys = append(keys, r.Key)
		}
	}
	return keys
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
