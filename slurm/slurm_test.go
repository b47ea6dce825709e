package slurm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"dllmbench/bench"
)

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Shard
		err  string
	}{
		{"0/1", Shard{0, 1}, ""},
		{"3/4", Shard{3, 4}, ""},
		{" 1/2 ", Shard{1, 2}, ""},          // as a shell may pass it
		{"4/4", Shard{}, "must be in 0..3"}, // --array=1-4 instead of 0-3
		{"0/0", Shard{}, "at least 1"},
		{"-1/2", Shard{}, "must be in 0..1"},
		{"1", Shard{}, "want INDEX/COUNT"},
		{"/", Shard{}, "want INDEX/COUNT"},
		{"a/b", Shard{}, "want INDEX/COUNT"},
	} {
		got, err := ParseShard(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseShard(%q): %v, want an error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || got.String() != strings.TrimSpace(tc.in) {
			t.Errorf("ParseShard(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// Shards partition the cells: every cell in exactly one shard, cell k in
// shard k mod N, each shard in the grid's order.
func TestShardSelect(t *testing.T) {
	var cells []bench.Cell
	for i := range 11 {
		cells = append(cells, bench.Cell{Model: "m", Batch: i + 1})
	}
	for n := 1; n <= 12; n++ {
		seen := map[int]int{}
		for i := range n {
			got := Shard{i, n}.Select(cells)
			for j, c := range got {
				k := c.Batch - 1
				if k%n != i {
					t.Errorf("shard %d/%d holds cell %d", i, n, k)
				}
				if j > 0 && got[j-1].Batch >= c.Batch {
					t.Errorf("shard %d/%d out of order", i, n)
				}
				seen[k]++
			}
		}
		for k := range cells {
			if seen[k] != 1 {
				t.Errorf("%d shards: cell %d in %d shards", n, k, seen[k])
			}
		}
	}
	if got := (Shard{}).Select(cells); len(got) != len(cells) {
		t.Errorf("the zero shard holds %d of %d cells", len(got), len(cells))
	}
}

func testPlan() *Plan {
	return &Plan{Binary: "/opt/dll mbench/bin/dllmbench", Grid: "/data/out/slurm/grid-abc.yaml", OutputDir: "/data/out",
		LogDir: "/data/logs/slurm", Shards: 4, GPUs: GPURequest{Count: 1}, CPUsPerGPU: 2, Env: []string{"HF_HOME=/scratch/o'neil/hf"}, Quality: true}
}

// The scripts pass bash's syntax check and say what the tasks need.
func TestScripts(t *testing.T) {
	p := testPlan()
	array, merge := p.ArrayScript(), p.MergeScript()
	for _, want := range []string{
		"#SBATCH --array=0-3\n", "#SBATCH --nodes=1\n", "#SBATCH --signal=B:TERM@120\n", "#SBATCH --requeue\n",
		"#SBATCH --gres=gpu:1\n#SBATCH --cpus-per-gpu=2\n",
		"#SBATCH --output=/data/logs/slurm/%x-%A_%a.out\n", "#SBATCH --open-mode=append\n",
		`if [ -z "${HF_HOME:-}" ]; then export HF_HOME='/scratch/o'\''neil/hf'; fi`,
		`DLLMBENCH=${DLLMBENCH:-'/opt/dll mbench/bin/dllmbench'}`,
		`exec "$DLLMBENCH" run --config /data/out/slurm/grid-abc.yaml --output_dir /data/out --shard "$SLURM_ARRAY_TASK_ID/4" --records-name "$name" --no-report --no-quality --devices "$devices"` + "\n",
		`if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then devices=all; else devices=0; fi` + "\n",
		`IFS=, read -ra gpus <<<"${CUDA_VISIBLE_DEVICES:-0}"` + "\n",
	} {
		if !strings.Contains(array, want) {
			t.Errorf("array script lacks %q:\n%s", want, array)
		}
	}
	for _, want := range []string{"#SBATCH --job-name=dllmbench-merge\n", "#SBATCH --nodes=1\n", "#SBATCH --gres=gpu:1\n#SBATCH --cpus-per-gpu=2\n",
		`"$DLLMBENCH" run --config /data/out/slurm/grid-abc.yaml --output_dir /data/out --no-measure || rc=$?` + "\n",
		`"$DLLMBENCH" slurm status --output_dir /data/out --fail-missing`} {
		if !strings.Contains(merge, want) {
			t.Errorf("merge script lacks %q:\n%s", want, merge)
		}
	}
	// On the CPU the merge job's judge takes the CPUs SLURM gave it.
	p.GPUs = GPURequest{}
	if m := p.MergeScript(); strings.Contains(m, "gres") || !strings.Contains(m, ` --no-measure --threads "${SLURM_CPUS_ON_NODE:-0}" || rc=$?`) {
		t.Errorf("merge script on the CPU: a GPU, or no --threads:\n%s", m)
	}
	p.Quality, p.GPUs = false, GPURequest{Count: 2}
	if m := p.MergeScript(); strings.Contains(m, "gres") || strings.Contains(m, "cpus-per-gpu") || !strings.Contains(m, " --no-measure --no-quality ") {
		t.Errorf("merge script without quality asks for GPUs or computes quality:\n%s", m)
	}
	if a := p.ArrayScript(); !strings.Contains(a, "--gres=gpu:2") || !strings.Contains(a, ` --devices "$devices"`+"\n") {
		t.Errorf("two GPUs a task: no --gres=gpu:2 or no --devices:\n%s", a)
	}
	// The user's request (--gpus=a100:4 --gres=tmpdisk:100) is the
	// scripts' own: the array's, and one GPU of its kind for the merge job
	// with quality, where the judge runs on one device. Before, the scripts
	// wrote --gres=gpu:1 whatever the user asked for, and sbatch took
	// --gres=gpu:1 with --gpus=4 for four nodes of one GPU each; the merge
	// job took all the tasks' GPUs for its one device.
	p.GPUs, p.Quality = GPURequest{Option: "--gpus", Type: "a100", Count: 4, Other: []string{"tmpdisk:100"}}, true
	a, m := p.ArrayScript(), p.MergeScript()
	if !strings.Contains(a, "#SBATCH --gres=tmpdisk:100\n#SBATCH --gpus=a100:4\n#SBATCH --cpus-per-gpu=2\nset") || strings.Contains(a, "gpu:") {
		t.Errorf("the user's --gpus=a100:4 --gres=tmpdisk:100: array script\n%s", a)
	}
	if !strings.Contains(m, "#SBATCH --gres=tmpdisk:100\n#SBATCH --gpus=a100:1\n#SBATCH --cpus-per-gpu=2\nset") {
		t.Errorf("the user's --gpus=a100:4 --gres=tmpdisk:100: merge script\n%s", m)
	}
	p.GPUs = GPURequest{Option: "--gres", Count: 0}
	if a := p.ArrayScript(); strings.Contains(a, "gres") || strings.Contains(a, "gpus") || strings.Contains(a, "cpus-per-gpu") {
		t.Errorf("no GPUs: the array asks for some\n%s", a)
	}
	// The user's CPU request, on the command lines, replaces the scripts'.
	p.GPUs, p.CPUsPerGPU = GPURequest{Count: 4}, 0
	if a := p.ArrayScript(); !strings.Contains(a, "#SBATCH --gres=gpu:4\nset") {
		t.Errorf("no CPUs of the scripts' own: the array asks for some\n%s", a)
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash to check the syntax")
	}
	for name, s := range map[string]string{"array": array, "merge": merge} {
		cmd := exec.Command("bash", "-n")
		cmd.Stdin = strings.NewReader(s)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s script: bash -n: %v\n%s", name, err, out)
		}
	}
}

// The array script, run by bash as SLURM runs it, execs the binary with
// the task's shard and records name, a new one after a requeue.
func TestArrayScriptRuns(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "fake")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"$@\"\necho HF_HOME=$HF_HOME GOMAXPROCS=$GOMAXPROCS\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := &Plan{Binary: fake, Grid: "/g.yaml", OutputDir: "/out", LogDir: filepath.Join(dir, "logs"), Shards: 2, Env: []string{"HF_HOME=/hf"}}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		// a task on the CPU takes one thread a CPU SLURM gave it
		{[]string{"SLURM_ARRAY_JOB_ID=7", "SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_COUNT=2", "SLURM_CPUS_ON_NODE=16"},
			"run --config /g.yaml --output_dir /out --shard 1/2 --records-name 7_1 --no-report --no-quality --threads 16\nHF_HOME=/hf GOMAXPROCS=\n"},
		// one task submitted again by hand (sbatch --array=1 array.sbatch),
		// as users rerun a task that failed: SLURM_ARRAY_TASK_COUNT is then 1,
		// and the shard is still 1 of the plan's 2, not "1/1", which run refused
		{[]string{"SLURM_ARRAY_JOB_ID=9", "SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_COUNT=1", "SLURM_ARRAY_TASK_MIN=1", "SLURM_ARRAY_TASK_MAX=1"},
			"run --config /g.yaml --output_dir /out --shard 1/2 --records-name 9_1 --no-report --no-quality --threads 0\nHF_HOME=/hf GOMAXPROCS=\n"},
		// requeued twice, with a cache of its own
		{[]string{"SLURM_ARRAY_JOB_ID=7", "SLURM_ARRAY_TASK_ID=0", "SLURM_ARRAY_TASK_COUNT=2", "SLURM_RESTART_COUNT=2", "HF_HOME=/mine"},
			"run --config /g.yaml --output_dir /out --shard 0/2 --records-name 7_0-r2 --no-report --no-quality --threads 0\nHF_HOME=/mine GOMAXPROCS=\n"},
	} {
		cmd := exec.Command("bash", "-c", p.ArrayScript())
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tc.env...)
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != tc.want {
			t.Errorf("%v: %v\n%s\nwant\n%s", tc.env, err, out, tc.want)
		}
	}
	if _, err := os.Stat(p.LogDir); err != nil {
		t.Errorf("the script did not create the log folder: %v", err)
	}
	// A task runs one worker per GPU SLURM gave it, those that
	// CUDA_VISIBLE_DEVICES lists, or the first of the node as many as it
	// asked for where SLURM lists none. Before, a task ran one worker
	// unless the plan had more than one GPU, whatever SLURM gave it (a
	// --gres=gpu:4 on the command line of a task submitted again, an
	// --exclusive), and every GPU of the node where SLURM listed none.
	// Each worker's Go runtime takes its share of the CPUs SLURM gave the
	// task (GOMAXPROCS, a user's own kept); before, every worker took one
	// thread a CPU of the node.
	task := []string{"SLURM_ARRAY_JOB_ID=7", "SLURM_ARRAY_TASK_ID=0"}
	run := "run --config /g.yaml --output_dir /out --shard 0/2 --records-name 7_0 --no-report --no-quality"
	for _, tc := range []struct {
		gpus       int
		env        []string
		want       string
		gomaxprocs string
	}{
		{1, []string{"CUDA_VISIBLE_DEVICES=2,3,5,7", "SLURM_CPUS_ON_NODE=8"}, run + " --devices all", "2"},
		{4, []string{"CUDA_VISIBLE_DEVICES=2,3,5,7", "SLURM_CPUS_ON_NODE=10"}, run + " --devices all", "2"},
		{4, []string{"CUDA_VISIBLE_DEVICES=2,3,5,7", "SLURM_CPUS_ON_NODE=3"}, run + " --devices all", "1"},
		{4, []string{"SLURM_CPUS_ON_NODE=16"}, run + " --devices 0,1,2,3", "4"},
		{2, []string{"SLURM_CPUS_ON_NODE=16", "GOMAXPROCS=3"}, run + " --devices 0,1", "3"},
		{1, nil, run + " --devices 0", ""}, // not under SLURM
	} {
		p.GPUs = GPURequest{Count: tc.gpus}
		cmd := exec.Command("bash", "-c", p.ArrayScript())
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, append(tc.env, task...)...)
		out, err := cmd.CombinedOutput()
		want := tc.want + "\nHF_HOME=/hf GOMAXPROCS=" + tc.gomaxprocs + "\n"
		if err != nil || string(out) != want {
			t.Errorf("%d GPUs, %v: %v\n%s\nwant\n%s", tc.gpus, tc.env, err, out, want)
		}
	}
}

// jobs/benchmark_gpu.sbatch runs one worker per GPU SLURM gave the job, as
// CUDA_VISIBLE_DEVICES lists them: sbatch --gres=gpu:4 on its command line
// ran one, on the first GPU.
func TestJobScriptDevices(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	script, err := filepath.Abs(filepath.Join("..", "jobs", "benchmark_gpu.sbatch"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "fake")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := "run --config c.yaml --output_dir out --shard 1/2 --records-name 7_1"
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"CUDA_VISIBLE_DEVICES=0,1,2,3"}, nil, run + " --devices all --no-report --no-quality\n"},
		{[]string{"CUDA_VISIBLE_DEVICES=0,1,2,3"}, []string{"--devices", "0"}, run + " --devices all --no-report --no-quality --devices 0\n"},
		{nil, nil, run + " --no-report --no-quality\n"}, // no GPU: --gres=none, a CPU grid
	} {
		cmd := exec.Command("bash", append([]string{script}, tc.args...)...)
		cmd.Dir = dir
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "DLLMBENCH=" + fake, "CONFIG=c.yaml", "OUTPUT_DIR=out",
			"SLURM_ARRAY_JOB_ID=7", "SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_COUNT=2"}, tc.env...)
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != tc.want {
			t.Errorf("%v %q: %v\n%s\nwant\n%s", tc.env, tc.args, err, out, tc.want)
		}
	}
}

// The merge script, run by bash, ends the submission with one command,
// run --no-measure on the grid, which computes the quality metrics before
// it builds the reports as a run on one machine does, then lists the
// cells; its exit status is the first failure's. Before, it built the
// reports first and then computed the quality metrics, with the quality
// command's defaults rather than the grid's, and the reports lacked the
// quality and Pareto figures.
func TestMergeScriptRuns(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "fake")
	// Logs its arguments, and exits with $FAIL_RUN or $FAIL_STATUS.
	if err := os.WriteFile(fake, []byte(`#!/bin/sh
echo "$@"
case "$1" in run) exit "${FAIL_RUN:-0}" ;; slurm) exit "${FAIL_STATUS:-0}" ;; esac
`), 0o755); err != nil {
		t.Fatal(err)
	}
	// The plan's grid is on the CPU: the judge takes SLURM's CPUs (none
	// set here: 0, one thread per CPU).
	for _, tc := range []struct {
		quality bool
		env     []string
		want    string
		rc      int
	}{
		{true, nil, "run --config /g.yaml --output_dir /out --no-measure --threads 0\nslurm status --output_dir /out --fail-missing\n", 0},
		// --quality=false: the reports only, as run --no-quality ends
		{false, nil, "run --config /g.yaml --output_dir /out --no-measure --no-quality\nslurm status --output_dir /out --fail-missing\n", 0},
		// a failed step does not stop the listing; the first failure is the exit status
		{true, []string{"FAIL_RUN=3", "FAIL_STATUS=1"}, "run --config /g.yaml --output_dir /out --no-measure --threads 0\nslurm status --output_dir /out --fail-missing\n", 3},
		{true, []string{"FAIL_STATUS=1"}, "run --config /g.yaml --output_dir /out --no-measure --threads 0\nslurm status --output_dir /out --fail-missing\n", 1},
	} {
		p := &Plan{Binary: fake, Grid: "/g.yaml", OutputDir: "/out", LogDir: filepath.Join(dir, "logs"), Shards: 2, Quality: tc.quality}
		cmd := exec.Command("bash", "-c", p.MergeScript())
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tc.env...)
		out, err := cmd.Output()
		rc := 0
		if ee, ok := err.(*exec.ExitError); ok {
			rc = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if string(out) != tc.want || rc != tc.rc {
			t.Errorf("quality %v, %v: exit %d\n%s\nwant exit %d\n%s", tc.quality, tc.env, rc, out, tc.rc, tc.want)
		}
	}
}

// parse is ParseOptions of words that parse.
func parse(t *testing.T, words ...string) Options {
	t.Helper()
	o, err := ParseOptions(words)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestMergeArgs(t *testing.T) {
	p := testPlan()
	p.Quality = false
	opts := []string{"--partition=gpu", "-A", "proj", "--gres=gpu:4", "--time", "2:00:00", "-qhigh", "--exclusive", "--mem=64G"}
	got := p.MergeArgs("12", parse(t, opts...), "m.sbatch")
	want := []string{"--parsable", "--dependency=afterany:12", "--partition=gpu", "-A", "proj", "--time", "2:00:00", "-qhigh", "m.sbatch"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("merge job without quality (-want +got):\n%s", d)
	}
	// abbreviated, named in full; before, the merge job lost them
	got = p.MergeArgs("12", parse(t, "--part=gpu", "--acco", "proj", "--qo=high", "--mem=64G"), "m.sbatch")
	want = []string{"--parsable", "--dependency=afterany:12", "--partition=gpu", "--account", "proj", "--qos=high", "m.sbatch"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("merge job without quality (-want +got):\n%s", d)
	}
	p.Quality = true
	// all the options but the GPUs, which its script asks for (one)
	if got := p.MergeArgs("12", parse(t, opts...), "m.sbatch"); len(got) != len(opts)+2 || slices.Contains(got, "--gres=gpu:4") {
		t.Errorf("merge job with quality takes all the options but the GPUs: %q", got)
	}
	// but not those of the array alone: an --array (a throttle, such as
	// 0-3%2) made the merge job an array of merge jobs, and a --dependency,
	// the later one on sbatch's command line, replaced the merge job's
	// afterany on the array, so that it could start before the tasks ended.
	opts = []string{"--array=0-3%2", "-a", "0-3", "-a0-3", "--array", "0-3", "--dependency=afterok:7", "-d", "afterok:7",
		"-dafterok:7", "--dependency", "singleton", "--arr=0-1", "--dep", "singleton", "--mem=64G"}
	want = []string{"--parsable", "--dependency=afterany:12", "--mem=64G", "m.sbatch"}
	if d := cmp.Diff(want, p.MergeArgs("12", parse(t, opts...), "m.sbatch")); d != "" {
		t.Errorf("merge job with quality, array-only options (-want +got):\n%s", d)
	}
}

// The GPU options are the scripts' (their directives hold the request),
// not the command lines': sbatch adds a --gpus to a directive's --gres, and
// the merge job asks for one GPU, not the tasks'.
func TestArgsWithoutGPUs(t *testing.T) {
	p := testPlan()
	opts := []string{"-p", "gpu", "--gres=gpu:4", "-G", "4", "-G4", "--gpus", "a100:2", "--gpus-per-node=2", "--gpus-per-task", "1",
		"--gres", "gpu:2", "--gpus-per-socket=1", "--mem=64G", "--gres-flags=enforce-binding"}
	rest := []string{"-p", "gpu", "--mem=64G", "--gres-flags=enforce-binding"}
	if d := cmp.Diff(append(append([]string{"--parsable"}, rest...), "a.sbatch"), p.ArrayArgs(parse(t, opts...), "a.sbatch")); d != "" {
		t.Errorf("array (-want +got):\n%s", d)
	}
	if d := cmp.Diff(append(append([]string{"--parsable", "--dependency=afterany:12"}, rest...), "m.sbatch"), p.MergeArgs("12", parse(t, opts...), "m.sbatch")); d != "" {
		t.Errorf("merge job with quality (-want +got):\n%s", d)
	}
}

func TestParseGPUs(t *testing.T) {
	for _, tc := range []struct {
		opts []string
		want GPURequest
		ok   bool
		err  string
	}{
		{nil, GPURequest{}, false, ""},
		{[]string{"-p", "gpu", "-c", "8"}, GPURequest{}, false, ""},
		{[]string{"--gres=gpu:4"}, GPURequest{"--gres", "", 4, nil}, true, ""},
		{[]string{"--gres", "gpu:a100:4"}, GPURequest{"--gres", "a100", 4, nil}, true, ""},
		{[]string{"--gres=gpu"}, GPURequest{"--gres", "", 1, nil}, true, ""},          // SLURM's count defaults to 1
		{[]string{"--gres=gpu:h100"}, GPURequest{"--gres", "h100", 1, nil}, true, ""}, // a type, not a count
		{[]string{"--gres=none"}, GPURequest{"--gres", "", 0, nil}, true, ""},
		{[]string{"--gres=tmpdisk:100,gpu:2"}, GPURequest{"--gres", "", 2, []string{"tmpdisk:100"}}, true, ""},
		// other resources only: the GPUs are still the scripts' to ask for
		{[]string{"--gres=tmpdisk:100"}, GPURequest{Other: []string{"tmpdisk:100"}}, false, ""},
		{[]string{"-G", "4"}, GPURequest{"--gpus", "", 4, nil}, true, ""},
		{[]string{"-Gvolta:2"}, GPURequest{"--gpus", "volta", 2, nil}, true, ""},
		{[]string{"--gpus=0"}, GPURequest{"--gpus", "", 0, nil}, true, ""},
		{[]string{"--gpus-per-node=a100:8"}, GPURequest{"--gpus-per-node", "a100", 8, nil}, true, ""},
		{[]string{"--gpus-per-task", "2", "-n", "1"}, GPURequest{"--gpus-per-task", "", 2, nil}, true, ""},
		// several SLURM tasks of 2 GPUs each, whose one process the
		// request would give 2: before, the task ran on all 4, and the
		// merge job asked for 1 GPU a task, 2
		{[]string{"--gpus-per-task=2", "-n", "2"}, GPURequest{}, false,
			"sbatch's --gpus-per-task=2 with -n 2 asks for GPUs for each of several SLURM tasks, and a job of dllmbench's is one process: ask for all its GPUs with --gres=gpu:N or --gpus=N"},
		{[]string{"--ntasks-per-node=4", "--gpus-per-task=1"}, GPURequest{}, false, "with --ntasks-per-node=4 asks for GPUs for each of several"},
		{[]string{"--gpus=4", "-n", "2"}, GPURequest{"--gpus", "", 4, nil}, true, ""}, // the job's GPUs, on its one node
		{[]string{"--gpus-per-node=2", "--gres=tmpdisk:1"}, GPURequest{"--gpus-per-node", "", 2, []string{"tmpdisk:1"}}, true, ""},
		// sbatch takes --gres=gpu:1 with --gpus=4 for four nodes of one GPU
		{[]string{"--gres=gpu:1", "--gpus=4"}, GPURequest{}, false, "sbatch's --gres and --gpus both ask for GPUs: give one"},
		{[]string{"--gpus=4", "-G", "4"}, GPURequest{}, false, "--gpus is given twice"},
		{[]string{"--gres=gpu:2", "--gres=tmpdisk:1"}, GPURequest{}, false, "--gres is given twice"},
		{[]string{"--gpus-per-socket=2"}, GPURequest{}, false, "--gpus-per-socket=2: a task's GPUs are asked for with --gres=gpu:N"},
		{[]string{"--gpus=volta:3,kepler:1"}, GPURequest{}, false, "want [TYPE:]N, one GPU type"},
		{[]string{"--gpus=four"}, GPURequest{}, false, "want [TYPE:]N"},
		{[]string{"--gpus=:4"}, GPURequest{}, false, "want [TYPE:]N"},
		{[]string{"--gres=gpu:a:b:1"}, GPURequest{}, false, "want gpu[:TYPE][:N]"},
		{[]string{"--gres=gpu:1,gpu:a100:1"}, GPURequest{}, false, "one gpu entry"},
		{[]string{"--gres=shard:2"}, GPURequest{}, false, "shard is a share of a GPU"},
		{[]string{"-p", "gpu", "--gres"}, GPURequest{}, false, "sbatch's --gres wants a value"},
	} {
		var got GPURequest
		var ok bool
		o, err := ParseOptions(tc.opts)
		if err == nil {
			got, ok, err = ParseGPUs(o)
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseGPUs(%q): %v, want an error with %q", tc.opts, err, tc.err)
			}
			continue
		}
		if err != nil || ok != tc.ok {
			t.Errorf("ParseGPUs(%q): ok %v, %v; want ok %v", tc.opts, ok, err, tc.ok)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("ParseGPUs(%q) (-want +got):\n%s", tc.opts, d)
		}
	}
}

// A task's GPUs: the user's sbatch request, else submit's --gpus, else
// 1, or 0 on the CPU backend; the Options are those the scripts write.
func TestTaskGPUs(t *testing.T) {
	for _, tc := range []struct {
		backend string
		gpus    int
		opts    []string
		env     []string
		want    []string // the array's GPU directives
		err     string
	}{
		{"auto", -1, nil, nil, []string{"--gres=gpu:1"}, ""},
		{"cpu", -1, nil, nil, nil, ""},
		{"cuda", 2, nil, nil, []string{"--gres=gpu:2"}, ""},
		// the user's request replaces the scripts' own --gres=gpu:1
		{"auto", -1, []string{"--gpus=4"}, nil, []string{"--gpus=4"}, ""},
		{"auto", -1, []string{"--gres=gpu:a100:4"}, nil, []string{"--gres=gpu:a100:4"}, ""},
		{"auto", 4, []string{"--gres=gpu:a100:4"}, nil, []string{"--gres=gpu:a100:4"}, ""}, // the same count twice
		{"auto", -1, []string{"--gres=tmpdisk:9"}, nil, []string{"--gres=gpu:1,tmpdisk:9"}, ""},
		{"cpu", -1, []string{"--gres=tmpdisk:9"}, nil, []string{"--gres=tmpdisk:9"}, ""},
		{"auto", -1, []string{"--gres=none"}, nil, nil, ""},
		{"cpu", 0, []string{"--gpus=0"}, nil, nil, ""},
		{"auto", 2, []string{"--gpus-per-node=4"}, nil, nil, "--gpus 2 and sbatch's --gpus-per-node=4 ask for different GPU counts: give one of them"},
		{"cpu", -1, []string{"--gres=gpu:2"}, nil, nil, "the grid runs on the CPU backend: its tasks would not use the GPUs sbatch's --gres=gpu:2 asks for"},
		{"cpu", 1, nil, nil, nil, "would not use the GPUs --gpus 1 asks for"},
		{"cuda", 0, nil, nil, nil, "the grid runs on the cuda backend: its tasks need GPUs, and --gpus 0 asks for none"},
		{"gpu", -1, []string{"--gres=none"}, nil, nil, "its tasks need GPUs, and sbatch's --gres=none asks for none"},
		{"auto", -1, nil, []string{"HOME=/root", "SBATCH_GPUS=2"}, nil, "SBATCH_GPUS=2 in the environment would change the scripts' GPU request"},
		{"auto", -1, []string{"--gpus=1,2"}, nil, nil, "want [TYPE:]N"},
	} {
		var r GPURequest
		o, err := ParseOptions(tc.opts)
		if err == nil {
			r, err = TaskGPUs(tc.backend, tc.gpus, o, tc.env)
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s, --gpus %d, %q, %q: %v, want an error with %q", tc.backend, tc.gpus, tc.opts, tc.env, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s, --gpus %d, %q: %v", tc.backend, tc.gpus, tc.opts, err)
			continue
		}
		if d := cmp.Diff(tc.want, r.Options(r.Count)); d != "" {
			t.Errorf("%s, --gpus %d, %q (-want +got):\n%s", tc.backend, tc.gpus, tc.opts, d)
		}
	}
}

// A job runs on one node: the one its script starts on, where the task
// starts its workers. Before, -N 2 gave a task two nodes, of which it used
// one.
func TestTaskNodes(t *testing.T) {
	for _, tc := range []struct {
		opts []string
		err  string
	}{
		{nil, ""},
		{[]string{"-N", "1", "-n", "8"}, ""}, // eight SLURM tasks' CPUs, on the one node
		{[]string{"--nodes=1-1"}, ""},
		{[]string{"-N", "2"}, "sbatch's -N 2: a job of dllmbench's runs on one node"},
		{[]string{"-N2"}, "sbatch's -N2: "},
		{[]string{"--nodes=1-4"}, "sbatch's --nodes=1-4: "},
		{[]string{"--nodes", "2"}, "sbatch's --nodes 2: "},
	} {
		err := TaskNodes(parse(t, tc.opts...))
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("TaskNodes(%q): %v, want an error with %q", tc.opts, err, tc.err)
		}
	}
}

// Tasks on the CPU need a CPU request: SLURM's default is often one core.
// Tasks on GPUs ask for CPUsPerGPU a GPU unless the user asks for their
// CPUs: before, they asked for none, and got SLURM's default, one core for
// all their workers where the cluster sets no DefCpuPerGPU.
func TestTaskCPUs(t *testing.T) {
	for _, tc := range []struct {
		gpus      int
		opts, env []string
		perGPU    int // the scripts' --cpus-per-gpu
		ok        bool
	}{
		{0, nil, nil, 0, false},
		{0, []string{"-p", "cpu", "--mem=64G", "--time=1:00:00"}, nil, 0, false},
		{0, []string{"--cpus-per-task=16"}, nil, 0, true},
		{0, []string{"-c", "16"}, nil, 0, true},
		{0, []string{"-c16"}, nil, 0, true},
		{0, []string{"--cpus-per-t=16"}, nil, 0, true},
		{0, []string{"--mincpus", "8"}, nil, 0, true},
		{0, []string{"-n", "8"}, nil, 0, true}, // the batch step holds the CPUs of the job's one node
		{0, []string{"--ntasks-per-node=8"}, nil, 0, true},
		{0, []string{"--exclusive"}, nil, 0, true},
		{0, []string{"--exclusive=user"}, nil, 0, false}, // the node is the user's, not its CPUs
		{0, []string{"--cpus-per-gpu=4"}, nil, 0, false}, // no GPU, no CPU
		{0, nil, []string{"SBATCH_EXCLUSIVE="}, 0, true},
		{0, nil, []string{"SBATCH_EXCLUSIVE=user"}, 0, false},
		{2, nil, nil, CPUsPerGPU, true},
		{2, []string{"-p", "gpu", "--mem-per-cpu=4G"}, nil, CPUsPerGPU, true},
		// the user's own request replaces the scripts' (sbatch refuses
		// --cpus-per-gpu with --cpus-per-task)
		{2, []string{"--cpus-per-gpu=8"}, nil, 0, true},
		{2, []string{"-c", "6"}, nil, 0, true},
		{2, []string{"--cpus-per-t=6"}, nil, 0, true},
		// the node's every CPU, and GPU: CPUsPerGPU of each could be more
		// than the node has
		{2, []string{"--exclusive"}, nil, 0, true},
		{2, nil, []string{"SBATCH_EXCLUSIVE=1"}, 0, true},
		// SLURM gives the larger of these and the scripts' count
		{2, []string{"-n", "8"}, nil, CPUsPerGPU, true},
		{2, []string{"--mincpus=8", "--exclusive=user"}, nil, CPUsPerGPU, true},
	} {
		perGPU, err := TaskCPUs(tc.gpus, parse(t, tc.opts...), tc.env)
		if (err == nil) != tc.ok || perGPU != tc.perGPU {
			t.Errorf("TaskCPUs(%d, %q, %q): %d, %v; want %d, ok %v", tc.gpus, tc.opts, tc.env, perGPU, err, tc.perGPU, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "-- --cpus-per-task=16") {
			t.Errorf("TaskCPUs(%q): %v does not say what to give", tc.opts, err)
		}
	}
}

// fakeSbatch answers sbatch with ids 100, 101, … and logs the calls.
type fakeSbatch struct {
	calls [][]string
	fail  int    // the call (1-based) that fails
	out   string // printed after the id, such as ";cluster"
}

func (f *fakeSbatch) run(_ context.Context, name string, args ...string) ([]byte, error) {
	f.calls = append(f.calls, append([]string{name}, args...))
	if len(f.calls) == f.fail {
		return nil, errors.New("sbatch: exit status 1: sbatch: error: Batch job submission failed: Invalid partition name specified")
	}
	return fmt.Appendf(nil, "%d%s\n", 99+len(f.calls), f.out), nil
}

func TestSubmit(t *testing.T) {
	out := t.TempDir()
	if err := os.MkdirAll(Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	p := testPlan()
	p.OutputDir = out
	f := &fakeSbatch{out: ";cluster1"}
	s, err := Submit(context.Background(), f.run, p, parse(t, "-p", "gpu"), "a.sbatch", "m.sbatch")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"sbatch", "--parsable", "-p", "gpu", "a.sbatch"},
		{"sbatch", "--parsable", "--dependency=afterany:100", "-p", "gpu", "m.sbatch"},
	}
	if d := cmp.Diff(want, f.calls); d != "" {
		t.Errorf("sbatch calls (-want +got):\n%s", d)
	}
	if s.ArrayJob != "100" || s.MergeJob != "101" || s.Shards != 4 {
		t.Errorf("submission %+v", s)
	}
	// A merge job that cannot be submitted: the array is still recorded.
	f = &fakeSbatch{fail: 2}
	_, err = Submit(context.Background(), f.run, p, nil, "a.sbatch", "m.sbatch")
	// The error says how to end the submission by hand, as the merge job
	// would have: run --no-measure computes the quality metrics before the
	// reports ('dllmbench report', which it named, has no quality).
	if err == nil || !strings.Contains(err.Error(), "array job 100 was submitted") || !strings.Contains(err.Error(), "Invalid partition") ||
		!strings.Contains(err.Error(), "dllmbench run --config /data/out/slurm/grid-abc.yaml --output_dir "+Quote(out)+" --no-measure") {
		t.Errorf("failed merge: %v", err)
	}
	subs, err := Submissions(out)
	if err != nil || len(subs) != 2 || subs[0].MergeJob != "101" || subs[1].ArrayJob != "100" || subs[1].MergeJob != "" {
		t.Errorf("submissions: %+v, %v", subs, err)
	}
	if _, err := Submit(context.Background(), (&fakeSbatch{fail: 1}).run, p, nil, "a", "m"); err == nil {
		t.Error("a failed array submission gave no error")
	}
	if _, err := Submissions(t.TempDir()); !errors.Is(err, ErrNoSubmission) {
		t.Errorf("no submission: %v", err)
	}
}
