package slurm

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Plan is what the scripts of one submission need. Paths are absolute: the
// jobs may start in another directory, on another node.
type Plan struct {
	Binary    string // dllmbench as the compute nodes see it; $DLLMBENCH overrides it at run time
	Grid      string // the grid file the tasks read
	OutputDir string // the results folder every task appends records to
	LogDir    string // where SLURM writes the jobs' output; it must exist before sbatch
	Shards    int    // tasks in the array
	Name      string // job name; the merge job is Name-merge
	// GPUs is how a task asks for its GPUs: --gres=gpu:N, or the user's
	// own GPU option, which replaces it (TaskGPUs). Count 0 (a grid on the
	// CPU) asks for none. A task runs one worker per GPU SLURM gives it
	// (run --devices).
	GPUs GPURequest
	// CPUsPerGPU is the --cpus-per-gpu of the jobs that ask for GPUs; 0
	// where the user's options ask for their CPUs (TaskCPUs).
	CPUsPerGPU int
	// Env holds variables the jobs set unless they already have them
	// ("HF_HOME=/scratch/hf"): the model cache is the only environment the
	// tasks need besides the binary.
	Env []string
	// Quality makes the merge job compute the quality metrics too; it then
	// asks for one GPU of the tasks' kind, where the judge model runs (on
	// the first device, as a run's quality step does).
	Quality bool
}

// ArrayName and MergeName are the scripts' file names in DIR/slurm.
const (
	ArrayName = "array.sbatch"
	MergeName = "merge.sbatch"
)

func (p *Plan) check() {
	if p.Shards < 1 || p.Binary == "" || p.Grid == "" || p.OutputDir == "" || p.LogDir == "" || p.GPUs.Count < 0 || p.CPUsPerGPU < 0 {
		panic(fmt.Sprintf("slurm: incomplete plan %+v", *p))
	}
}

func (p *Plan) name() string {
	if p.Name == "" {
		return "dllmbench"
	}
	return p.Name
}

// ArrayScript is the batch script of the array: task i measures shard i of
// Shards and appends to OutputDir/records/<array job>_<task>.jsonl, or
// <array job>_<task>-r<n>.jsonl after its n-th requeue (a new file, so that
// a line torn by a hard kill stays the last line of its file, where readers
// skip it). The binary is exec'd so that SLURM's signals reach it. The
// shard count is the plan's, not $SLURM_ARRAY_TASK_COUNT, which is 1 when
// one task is submitted again by hand (sbatch --array=3 array.sbatch) and
// less than Shards under a step (--array=0-7:2).
func (p *Plan) ArrayScript() string {
	p.check()
	var b strings.Builder
	fmt.Fprintf(&b, `#!/bin/bash
# Written by 'dllmbench slurm submit'. Task i of this array measures shard i
# of %[1]d of the cells of the grid (cell k belongs to shard k mod %[1]d) and
# appends its records to %[2]s/records/<array job>_<task>.jsonl.
# On SIGTERM (preemption, or the signal 120 s before the time limit) dllmbench
# abandons the cell in flight, requeues the task and exits 0; the task then
# measures only the cells still missing. A task whose cells all ran exits 0
# even when some failed: failures are results, and the merge job lists them.
`, p.Shards, p.OutputDir)
	for _, d := range p.directives(true) {
		b.WriteString("#SBATCH " + d + "\n")
	}
	b.WriteString("set -eu\n")
	p.writeEnv(&b)
	fmt.Fprintf(&b, "mkdir -p %s\n", Quote(p.LogDir))
	b.WriteString(`name=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}
if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then name=$name-r$SLURM_RESTART_COUNT; fi
`)
	args := []string{`"$DLLMBENCH"`, "run", "--config", Quote(p.Grid), "--output_dir", Quote(p.OutputDir),
		"--shard", fmt.Sprintf(`"$SLURM_ARRAY_TASK_ID/%d"`, p.Shards), "--records-name", `"$name"`, "--no-report", "--no-quality"}
	if n := p.GPUs.Count; n > 0 {
		// SLURM lists the task's GPUs in CUDA_VISIBLE_DEVICES, those a
		// command-line --gres of a task submitted again by hand or an
		// --exclusive gave it included; where it lists none (GPUs
		// configured without device files) the task takes as many as it
		// asked for, not every GPU the node has.
		//
		// Each worker's Go runtime takes its share of the CPUs SLURM gave
		// the task, as a task on the CPU takes them with --threads (which
		// sizes the CPU backend's pool; a GPU worker has none), and not
		// the node's CPUs where SLURM does not bind the task to its own.
		first := make([]string, n)
		for i := range first {
			first[i] = fmt.Sprint(i)
		}
		fmt.Fprintf(&b, `# One worker per GPU SLURM gave this task, as CUDA_VISIBLE_DEVICES lists them;
# where it lists none, one per GPU the task asked for: devices %[1]s.
if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then devices=all; else devices=%[1]s; fi
# Each worker's Go runtime takes its share of the CPUs SLURM gave the task.
IFS=, read -ra gpus <<<"${CUDA_VISIBLE_DEVICES:-%[1]s}"
if [ -z "${GOMAXPROCS:-}" ] && [ -n "${SLURM_CPUS_ON_NODE:-}" ]; then
	export GOMAXPROCS=$((SLURM_CPUS_ON_NODE > ${#gpus[@]} ? SLURM_CPUS_ON_NODE / ${#gpus[@]} : 1))
fi
`, strings.Join(first, ","))
		args = append(args, "--devices", `"$devices"`)
	} else {
		// As many threads as CPUs SLURM gave the task (TaskCPUs): where
		// it does not bind a task to its CPUs, a run would take one a CPU
		// of the node, and share them with the other jobs there.
		args = append(args, "--threads", `"${SLURM_CPUS_ON_NODE:-0}"`)
	}
	b.WriteString("exec " + strings.Join(args, " ") + "\n")
	return b.String()
}

// MergeScript is the batch script of the merge job, submitted with
// --dependency=afterany:<array job>: it ends the submission as a run on
// one machine ends, with run --no-measure on the same grid (the quality
// metrics under the grid's settings, then the reports, which draw them),
// and lists the cells that failed or are missing; it exits non-zero when a
// cell is missing or a step failed.
func (p *Plan) MergeScript() string {
	p.check()
	var b strings.Builder
	fmt.Fprintf(&b, `#!/bin/bash
# Written by 'dllmbench slurm submit'. Runs once every task of the array has
# ended (afterany), whatever their outcome: as 'dllmbench run' does after
# its cells, it builds %[2]s from all the records of
# %[1]s, then lists the cells that failed or are missing. Exits
# non-zero when a step failed or a cell is missing; submitting the grid
# again measures only what is missing.
`, p.OutputDir, map[bool]string{true: "the quality metrics, then the reports,", false: "the reports"}[p.Quality])
	for _, d := range p.directives(false) {
		b.WriteString("#SBATCH " + d + "\n")
	}
	b.WriteString("set -u\n")
	p.writeEnv(&b)
	out := Quote(p.OutputDir)
	b.WriteString("rc=0\n")
	// One command for both steps, in a run's order, so that the merge job
	// cannot drift from a local run's end: the reports drawn before the
	// quality metrics had no quality or Pareto figures.
	args := []string{`"$DLLMBENCH"`, "run", "--config", Quote(p.Grid), "--output_dir", out, "--no-measure"}
	switch {
	case !p.Quality:
		args = append(args, "--no-quality")
	case p.GPUs.Count == 0:
		// The judge runs on the CPUs SLURM gave the job, as a task's cells
		// do (ArrayScript).
		args = append(args, "--threads", `"${SLURM_CPUS_ON_NODE:-0}"`)
	}
	b.WriteString(strings.Join(args, " ") + " || rc=$?\n")
	fmt.Fprintf(&b, "\"$DLLMBENCH\" slurm status --output_dir %s --fail-missing || { s=$?; [ \"$rc\" -ne 0 ] || rc=$s; }\n", out)
	b.WriteString("exit \"$rc\"\n")
	return b.String()
}

// directives are the #SBATCH lines; options on sbatch's command line
// override them, but for the GPU request, which only the directives make.
func (p *Plan) directives(array bool) []string {
	var d []string
	if array {
		d = append(d, "--job-name="+p.name(), fmt.Sprintf("--array=0-%d", p.Shards-1),
			"--output="+filepath.Join(p.LogDir, "%x-%A_%a.out"))
	} else {
		d = append(d, "--job-name="+p.name()+"-merge", "--output="+filepath.Join(p.LogDir, "%x-%j.out"))
	}
	// One node (TaskNodes): a task's workers run where its script runs,
	// and SLURM may otherwise spread the tasks (-n 8) or GPUs (--gpus=4)
	// of one job over several nodes.
	d = append(d, "--nodes=1")
	// append: a requeued task continues its log instead of truncating it.
	d = append(d, "--open-mode=append")
	if array {
		d = append(d, "--signal=B:TERM@120", "--requeue")
	}
	var gpus int // the task's, or one for the merge job's judge
	switch {
	case array:
		gpus = p.GPUs.Count
	case p.Quality:
		gpus = min(p.GPUs.Count, 1)
	default:
		return d // the reports need no GPU, nor the GPUs' other resources
	}
	d = append(d, p.GPUs.Options(gpus)...)
	if gpus > 0 && p.CPUsPerGPU > 0 {
		d = append(d, fmt.Sprintf("--cpus-per-gpu=%d", p.CPUsPerGPU))
	}
	return d
}

func (p *Plan) writeEnv(b *strings.Builder) {
	for _, kv := range p.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !isName(k) {
			panic(fmt.Sprintf("slurm: environment entry %q is not NAME=VALUE", kv))
		}
		fmt.Fprintf(b, "if [ -z \"${%[1]s:-}\" ]; then export %[1]s=%[2]s; fi\n", k, Quote(v))
	}
	fmt.Fprintf(b, "DLLMBENCH=${DLLMBENCH:-%s}\n", Quote(p.Binary))
}

// ArrayArgs are sbatch's arguments for the array: opts (the user's, which
// override the script's directives) but for those that ask for GPUs,
// which the script's directives hold (GPURequest), then the script.
func (p *Plan) ArrayArgs(opts Options, script string) []string {
	return append(append([]string{"--parsable"}, withoutGPUs(opts).Words()...), script)
}

// MergeArgs are sbatch's arguments for the merge job. It takes only the
// options that place a job (partition, account, QOS, reservation, cluster,
// mail, time) unless it computes quality, when it needs the tasks'
// resources and takes them all but the array's own: --array (which would
// make it an array of merge jobs) and --dependency (which, later on the
// command line, would replace its dependency on the array; waiting for the
// array, it waits for what the array waits for), and the GPU request,
// which its script's directives make for one GPU.
func (p *Plan) MergeArgs(arrayJob string, opts Options, script string) []string {
	args := []string{"--parsable", "--dependency=afterany:" + arrayJob}
	if p.Quality {
		args = append(args, notArrayOnly(withoutGPUs(opts)).Words()...)
	} else {
		args = append(args, placement(opts).Words()...)
	}
	return append(args, script)
}

// placement keeps the options that say where and under whose account a
// job runs, with their values.
func placement(opts Options) Options {
	named, _ := opts.split("partition", "account", "qos", "reservation", "clusters", "mail-type", "mail-user", "time", "wckey", "comment")
	return named
}

// notArrayOnly drops the options that concern only the array (--array,
// --dependency) from opts, with their values.
func notArrayOnly(opts Options) Options {
	_, rest := opts.split("array", "dependency")
	return rest
}

func isName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Quote makes s one word for bash, single-quoted unless it is plain.
func Quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
