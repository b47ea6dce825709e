package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// shardGrid has 2 AR cells and 4 LLaDA cells on the demo pair, at toy sizes.
const shardGrid = `name: shard-test
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

// slowGrid takes long enough (a few seconds on two cores) to be signalled
// between its first cell and its last: 2 AR and 6 LLaDA cells.
const slowGrid = `name: slow-test
models:
  - id: builtin:demo-llama
  - id: builtin:demo-llada
backend: cpu
prompts:
  source: builtin
  max_prompts: 2
batch_size: [1, 2]
prompt_length: [32]
gen_length: [32]
diffusion:
  steps: [8, 16, 32]
  block_length: [32]
repetitions: 1
warmup: 0
`

// failGrid has one cell that runs and one that fails: a run state of 2³¹
// rows is more than model.NewState takes on any machine. (A generation
// beyond the model's context is an invalid combination, never measured.)
const failGrid = `name: fail-test
models:
  - id: builtin:demo-llama
backend: cpu
prompts:
  source: builtin
  max_prompts: 1
batch_size: [1, 2147483648]
prompt_length: [16]
gen_length: [8]
repetitions: 1
warmup: 0
`

// env is a test's folder with a grid and fake SLURM commands; commands run
// with its environment.
type env struct {
	dir  string
	vars []string
}

func newEnv(t *testing.T, grid string) *env {
	t.Helper()
	e := &env{dir: t.TempDir()}
	bin := filepath.Join(e.dir, "fakebin")
	must(t, os.MkdirAll(bin, 0o755))
	must(t, os.WriteFile(filepath.Join(e.dir, "grid.yaml"), []byte(grid), 0o644))
	// Fakes of the SLURM commands: each logs its arguments to calls.log.
	// sbatch prints ids 100, 101, …; scontrol show job prints show-ID
	// when there is one; scontrol requeue exits with $FAKE_REQUEUE_RC, after
	// sending SIGTERM to itself and its parent with $FAKE_REQUEUE_KILL set.
	fakes := map[string]string{
		"sbatch": `n=$(cat "$FAKE_DIR/next" 2>/dev/null || echo 100); echo $((n + 1)) > "$FAKE_DIR/next"; echo "$n;cluster"`,
		"scontrol": `if [ "$1" = show ]; then cat "$FAKE_DIR/show-$4" 2>/dev/null && exit 0
  echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1; fi
# As slurmctld ends a requeued job: SIGTERM to its processes, this one too.
[ -z "$FAKE_REQUEUE_KILL" ] || { kill -TERM $PPID $$; sleep 0.2; }
[ "${FAKE_REQUEUE_RC:-0}" = 0 ] || echo "scontrol: error: Requeue of job failed: Job is no longer pending execution" >&2
exit "${FAKE_REQUEUE_RC:-0}"`,
		"sacct": `echo "Slurm accounting storage is disabled" >&2; exit 1`,
	}
	for name, body := range fakes {
		script := "#!/bin/sh\necho \"" + name + " $*\" >> \"$FAKE_DIR/calls.log\"\n" + body + "\n"
		must(t, os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755))
	}
	e.vars = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "FAKE_DIR="+e.dir,
		"XDG_CACHE_HOME="+filepath.Join(e.dir, "cache"))
	e.vars = slices.DeleteFunc(e.vars, func(kv string) bool { return strings.HasPrefix(kv, "SLURM_") || strings.HasPrefix(kv, "SBATCH_") })
	return e
}

// run runs dllmbench in the folder with extra environment variables.
func (e *env) run(t *testing.T, extra []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir, cmd.Env = e.dir, append(slices.Clone(e.vars), extra...)
	return execute(t, cmd)
}

func (e *env) calls() []string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "calls.log"))
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// recordKeys reads every record under dir/records, by file name, and
// fails on a cell recorded twice.
func recordKeys(t *testing.T, dir string) (all []string, byFile map[string][]string) {
	t.Helper()
	byFile = map[string][]string{}
	files, _ := filepath.Glob(filepath.Join(dir, "records", "*.jsonl"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		must(t, err)
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var r struct{ Key string }
			must(t, json.Unmarshal(sc.Bytes(), &r))
			if slices.Contains(all, r.Key) {
				t.Errorf("cell %s recorded twice", r.Key)
			}
			all = append(all, r.Key)
			byFile[filepath.Base(f)] = append(byFile[filepath.Base(f)], r.Key)
		}
	}
	slices.Sort(all)
	return all, byFile
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// --shard i/N measures exactly cells i, i+N, … of the grid: two shards
// together are the whole grid, each cell once.
func TestRunShard(t *testing.T) {
	e := newEnv(t, shardGrid)
	if r := e.run(t, nil, "run", "--config", "grid.yaml", "--output_dir", "full", "--no-report", "--no-quality"); r.code != 0 {
		t.Fatalf("full run: %s", r.stderr)
	}
	full, _ := recordKeys(t, filepath.Join(e.dir, "full"))
	for _, s := range []string{"0", "1"} {
		r := e.run(t, nil, "run", "--config", "grid.yaml", "--output_dir", "sharded", "--shard", s+"/2", "--records-name", "s"+s,
			"--no-report", "--no-quality")
		if r.code != 0 {
			t.Fatalf("shard %s/2: %s", s, r.stderr)
		}
	}
	got, byFile := recordKeys(t, filepath.Join(e.dir, "sharded"))
	if d := cmp.Diff(full, got); d != "" || len(full) != 6 {
		t.Errorf("shards 0/2 and 1/2 measured other cells than the whole grid (%d) (-want +got):\n%s", len(full), d)
	}
	if len(byFile["s0.jsonl"]) != 3 || len(byFile["s1.jsonl"]) != 3 {
		t.Errorf("cells per shard: %d and %d, want 3 and 3", len(byFile["s0.jsonl"]), len(byFile["s1.jsonl"]))
	}
	// The first shard holds cells 0, 2 and 4 of the grid: AR batch 1, then
	// LLaDA b1 s4 and b2 s4.
	var r0 []struct{ Cell struct{ Family string } }
	data, _ := os.ReadFile(filepath.Join(e.dir, "sharded", "records", "s0.jsonl"))
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r struct{ Cell struct{ Family string } }
		must(t, json.Unmarshal([]byte(line), &r))
		r0 = append(r0, r)
	}
	if len(r0) != 3 || r0[0].Cell.Family != "llama" || r0[1].Cell.Family != "llada" {
		t.Errorf("shard 0 records: %+v", r0)
	}
	for _, bad := range []string{"2/2", "x", "1/0"} {
		if r := e.run(t, nil, "run", "--config", "grid.yaml", "--shard", bad); r.code != 2 {
			t.Errorf("--shard %s: code %d, %s", bad, r.code, r.stderr)
		}
	}
}

// --devices 0,1 on the CPU backend runs two worker processes, each with a
// records file of its own, that together measure the cells one worker does,
// and the reports merge them. Each worker has a thread of its own
// (--threads 1); without --threads, or with more threads than the CPUs
// hold, several workers on the CPU are refused: they would share its cores.
func TestRunDevices(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("two workers of one thread need two CPUs")
	}
	e := newEnv(t, shardGrid)
	if r := e.run(t, nil, "run", "--config", "grid.yaml", "--output_dir", "one", "--backend", "cpu", "--no-report", "--no-quality"); r.code != 0 {
		t.Fatalf("one worker: %s", r.stderr)
	}
	one, _ := recordKeys(t, filepath.Join(e.dir, "one"))
	for _, args := range [][]string{{"--backend", "cpu"}, {"--backend", "auto"},
		{"--backend", "cpu", "--threads", strconv.Itoa(runtime.NumCPU())}} {
		r := e.run(t, []string{"CUDA_VISIBLE_DEVICES=-1"}, append([]string{"run", "--config", "grid.yaml", "--output_dir", "refused",
			"--devices", "0,1"}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "--devices 0,1: ") || !strings.Contains(r.stderr, "give one device, or --threads N") ||
			strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v --devices 0,1: code %d, %q; want code 2 and one line", args, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, "refused")); err == nil {
		t.Error("a refused run wrote its output folder")
	}
	r := e.run(t, nil, "run", "--config", "grid.yaml", "--output_dir", "two", "--backend", "cpu", "--devices", "0,1", "--threads", "1",
		"--records-name", "job", "--no-quality")
	if r.code != 0 {
		t.Fatalf("two workers: code %d\n%s", r.code, r.stderr)
	}
	two, byFile := recordKeys(t, filepath.Join(e.dir, "two"))
	if d := cmp.Diff(one, two); d != "" {
		t.Errorf("two workers measured other cells than one (-want +got):\n%s", d)
	}
	if len(byFile) != 2 || len(byFile["job-dev0.jsonl"]) != 3 || len(byFile["job-dev1.jsonl"]) != 3 {
		t.Errorf("records files: %v", byFile)
	}
	for _, want := range []string{"dev0: [1/3", "dev1: [1/3", "run finished cells=6 measured=6"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, "two", "raw_data", "raw_metrics.csv")); err != nil {
		t.Errorf("no merged report: %v", err)
	}
	// A rerun measures nothing: the workers see each other's records. It
	// leaves the records folder as it was: each worker left an empty
	// records file of its own.
	listing := func() []string {
		entries, err := os.ReadDir(filepath.Join(e.dir, "two", "records"))
		must(t, err)
		var names []string
		for _, d := range entries {
			names = append(names, d.Name())
		}
		return names
	}
	before := listing()
	r = e.run(t, nil, "run", "--config", "grid.yaml", "--output_dir", "two", "--backend", "cpu", "--devices", "0,1", "--threads", "1",
		"--no-report", "--no-quality")
	if r.code != 0 || !strings.Contains(r.stderr, "measured=0 recorded_before=6") {
		t.Errorf("rerun: code %d\n%s", r.code, r.stderr)
	}
	if d := cmp.Diff(before, listing()); d != "" {
		t.Errorf("a rerun that measured nothing changed the records folder (-before +after):\n%s", d)
	}
	for _, bad := range []string{"0,0", "-1", "x", ""} {
		if r := e.run(t, nil, "run", "--config", "grid.yaml", "--devices", bad); r.code != 2 {
			t.Errorf("--devices %q: code %d, %s", bad, r.code, r.stderr)
		}
	}
}

// Ctrl-C in the middle of a --devices run stops every worker, exits 130 and
// counts the cells the workers measured; a rerun measures only the rest.
// Before, the parent said measured=0 whatever its workers had recorded.
func TestRunDevicesInterrupted(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("two workers of one thread need two CPUs")
	}
	e := newEnv(t, shardGrid)
	// The pauses keep the workers busy for seconds after their first cell
	// (the delay is part of a cell's key: the rerun has it too).
	args := []string{"run", "--config", "grid.yaml", "--output_dir", "out", "--backend", "cpu", "--devices", "0,1", "--threads", "1",
		"--delay", "1", "--no-report", "--no-quality"}
	cmd, sc, log := startWorkersCell(t, e, args...)
	must(t, cmd.Process.Signal(syscall.SIGINT))
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("interrupted run: %v, want exit 130\n%s", err, log.String())
	}
	keys, _ := recordKeys(t, filepath.Join(e.dir, "out"))
	if len(keys) == 0 || len(keys) == 6 {
		t.Fatalf("%d cells recorded before the interrupt, want 1 to 5\n%s", len(keys), log.String())
	}
	want := fmt.Sprintf("measured=%d ", len(keys))
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.HasPrefix(line, "dev") || !strings.Contains(line, "WARN interrupted") {
			continue
		}
		if !strings.Contains(line, want) {
			t.Errorf("the parent's line does not say %s:\n%s", want, line)
		}
		want = ""
	}
	if want != "" {
		t.Errorf("no line of the parent says it was interrupted:\n%s", log.String())
	}
	r := e.run(t, nil, args...)
	if r.code != 0 || !strings.Contains(r.stderr, fmt.Sprintf("measured=%d recorded_before=%d", 6-len(keys), len(keys))) {
		t.Errorf("rerun: code %d\n%s", r.code, r.stderr)
	}
	recordKeys(t, filepath.Join(e.dir, "out"))
}

// A --devices run killed with SIGKILL, which it cannot catch to stop its
// workers, takes them with it: each finds its standard input closed and
// stops within seconds, as on SIGTERM. Before, they measured on as
// orphans, outside the folder's lock, beside any run started anew on it.
func TestRunDevicesParentKilled(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("two workers of one thread need two CPUs")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("the workers are found in /proc")
	}
	e := newEnv(t, shardGrid)
	// After its first cell a worker pauses 30 s, writing nothing: an orphan
	// would sit it out (its next write, to its parent's closed pipe, would
	// end it with SIGPIPE).
	cmd, sc, log := startWorkersCell(t, e, "run", "--config", "grid.yaml", "--output_dir", "out", "--backend", "cpu",
		"--devices", "0,1", "--threads", "1", "--delay", "30", "--no-report", "--no-quality")
	workers := children(t, cmd.Process.Pid)
	t.Cleanup(func() {
		for _, w := range workers {
			syscall.Kill(w, syscall.SIGKILL) // what the failed test left running
		}
	})
	if len(workers) != 2 {
		cmd.Process.Kill()
		t.Fatalf("%d workers of the run, want 2\n%s", len(workers), log.String())
	}
	// Each worker holds the folder's lock file, inherited from its parent:
	// a new run is kept off the folder until the last worker has stopped,
	// whatever became of the parent.
	lock := filepath.Join(e.dir, "out", "records", ".run.lock")
	for _, w := range workers {
		if !holdsFile(w, lock) {
			t.Errorf("worker %d does not hold %s", w, lock)
		}
	}
	must(t, cmd.Process.Kill())
	for sc.Scan() {
	}
	cmd.Wait()
	killed := time.Now()
	for time.Since(killed) < 5*time.Second && slices.ContainsFunc(workers, running) {
		time.Sleep(50 * time.Millisecond)
	}
	for _, w := range workers {
		if running(w) {
			t.Errorf("worker %d still running %v after its parent was killed\n%s", w, time.Since(killed).Round(time.Millisecond), log.String())
		}
	}
}

// startWorkersCell starts dllmbench with args (a --devices run) in e and
// returns it, the scanner of its standard error and what it printed, once
// a worker has printed its first cell's progress line ("devN: [1/…").
func startWorkersCell(t *testing.T, e *env, args ...string) (*exec.Cmd, *bufio.Scanner, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir, cmd.Env = e.dir, e.vars
	stderr, err := cmd.StderrPipe()
	must(t, err)
	must(t, cmd.Start())
	log := new(strings.Builder)
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "dev") && strings.Contains(sc.Text(), ": [") {
			break
		}
	}
	return cmd, sc, log
}

// holdsFile reports whether process pid has path open, from /proc.
func holdsFile(pid int, path string) bool {
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && target == path {
			return true
		}
	}
	return false
}

// children lists the processes whose parent is pid, from /proc.
func children(t *testing.T, pid int) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	must(t, err)
	var kids []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // ended since
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			n, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			kids = append(kids, n)
		}
	}
	return kids
}

// running reports whether process pid runs: it exists and is not a zombie
// (an orphan's new parent may be slow to reap it, or never do).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// Under SLURM, SIGTERM in the middle of a run abandons the cell in flight,
// requeues the job with scontrol and exits 0; the rerun measures only what
// is missing. When the requeue fails, the exit is non-zero.
func TestRunSIGTERMUnderSLURM(t *testing.T) {
	for _, tc := range []struct {
		name      string
		requeueRC string
		kill      string // FAKE_REQUEUE_KILL
		code      int
		env       []string // SLURM_JOB_ID=4242 and these
		requeued  string   // the job scontrol requeues, "" for none
		show      string   // what scontrol show job says of it, "" for "Invalid job id"
	}{
		{"requeued", "0", "", 0, nil, "4242", "JobId=4242 JobName=x JobState=RUNNING Reason=None ExitCode=0:0"},
		{"requeue refused", "1", "", 1, nil, "4242", ""},
		{"requeued, the job's processes sent SIGTERM by the requeue", "0", "1", 0, nil, "4242", ""},
		// The last task of an array keeps the array's job id as its own
		// SLURM_JOB_ID (task 1 of array 4242 here), and scontrol requeue
		// 4242 requeued every task of the array, killing those still
		// running: the task is named by array and index.
		{"the last task of an array", "0", "", 0, []string{"SLURM_ARRAY_JOB_ID=4242", "SLURM_ARRAY_TASK_ID=1"}, "4242_1", ""},
		// scancel: SLURM has the job ending (COMPLETING, no reason) when
		// the SIGTERM comes, and the task requeued itself, undoing the
		// cancel. It ends as a SIGTERM ends a run outside SLURM.
		{"cancelled", "0", "", 143, nil, "", "JobId=4242 JobName=x JobState=COMPLETING Reason=None ExitCode=0:0"},
		// A time limit reached without the warning signal still requeues.
		{"time limit", "0", "", 0, nil, "4242", "JobId=4242 JobName=x JobState=COMPLETING Reason=TimeLimit ExitCode=0:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, slowGrid)
			cmd := exec.Command(binary, "run", "--config", "grid.yaml", "--output_dir", "out", "--shard", "0/1", "--no-report", "--no-quality")
			cmd.Dir, cmd.Env = e.dir, append(slices.Clone(e.vars), append([]string{"SLURM_JOB_ID=4242", "FAKE_REQUEUE_RC=" + tc.requeueRC,
				"FAKE_REQUEUE_KILL=" + tc.kill}, tc.env...)...)
			id := "4242"
			if tc.env != nil {
				id = "4242_1"
			}
			if tc.show != "" {
				must(t, os.WriteFile(filepath.Join(e.dir, "show-"+id), []byte(tc.show+"\n"), 0o644))
			}
			stderr, err := cmd.StderrPipe()
			must(t, err)
			must(t, cmd.Start())
			sc := bufio.NewScanner(stderr)
			var log strings.Builder
			for sc.Scan() {
				log.WriteString(sc.Text() + "\n")
				if strings.HasPrefix(sc.Text(), "[1/") {
					must(t, cmd.Process.Signal(syscall.SIGTERM))
					break
				}
			}
			for sc.Scan() {
				log.WriteString(sc.Text() + "\n")
			}
			err = cmd.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, log.String())
			}
			want := []string{"scontrol show job -o " + id}
			if tc.requeued != "" {
				want = append(want, "scontrol requeue "+tc.requeued)
			}
			if d := cmp.Diff(want, e.calls()); d != "" {
				t.Errorf("scontrol calls (-want +got):\n%s", d)
			}
			keys, _ := recordKeys(t, filepath.Join(e.dir, "out"))
			if len(keys) == 0 || len(keys) >= 8 {
				t.Errorf("%d of 8 cells recorded before the signal took effect", len(keys))
			}
			if tc.code == 0 && !strings.Contains(log.String(), "job requeued") {
				t.Errorf("no word of the requeue:\n%s", log.String())
			}
			if tc.requeued == "" && !strings.Contains(log.String(), "cancelled") {
				t.Errorf("no word of the cancel:\n%s", log.String())
			}
			if tc.code == 1 && !strings.Contains(log.String(), "Job is no longer pending execution") {
				t.Errorf("the requeue's error is not shown:\n%s", log.String())
			}
			// The requeued task, run again, measures the rest.
			r := e.run(t, []string{"SLURM_JOB_ID=4242", "SLURM_RESTART_COUNT=1"}, "run", "--config", "grid.yaml", "--output_dir", "out",
				"--shard", "0/1", "--no-report", "--no-quality")
			if all, _ := recordKeys(t, filepath.Join(e.dir, "out")); r.code != 0 || len(all) != 8 {
				t.Errorf("rerun: code %d, %d cells\n%s", r.code, len(all), r.stderr)
			}
		})
	}
}

// A shard whose only problem is failed cells exits 0 under SLURM (they are
// recorded and the merge job lists them), and 1 elsewhere.
func TestRunFailedCellsUnderSLURM(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   []string
		shard bool
		code  int
	}{
		{"SLURM task", []string{"SLURM_JOB_ID=7"}, true, 0},
		{"SLURM without --shard", []string{"SLURM_JOB_ID=7"}, false, 1},
		{"outside SLURM", nil, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, failGrid)
			args := []string{"run", "--config", "grid.yaml", "--output_dir", "out", "--no-report", "--no-quality"}
			if tc.shard {
				args = append(args, "--shard", "0/1")
			}
			r := e.run(t, tc.env, args...)
			if r.code != tc.code || !strings.Contains(r.stderr, "1 of 2 cells failed") {
				t.Errorf("code %d, want %d\n%s", r.code, tc.code, r.stderr)
			}
		})
	}
}

// The requeue and exit decisions, with the requeue command injected.
func TestSlurmJobOutcome(t *testing.T) {
	interrupted := context.Canceled
	var requeued []string
	ok := func(_ context.Context, id string) error { requeued = append(requeued, id); return nil }
	refused := func(context.Context, string) error { return errors.New("scontrol requeue 9: exit status 1") }
	term := func(requeue func(context.Context, string) error) *slurmJob {
		j := &slurmJob{id: "9", requeue: requeue, term: make(chan struct{})}
		close(j.term)
		return j
	}
	if err := term(ok).interrupted(interrupted); err != nil || len(requeued) != 1 || requeued[0] != "9" {
		t.Errorf("SIGTERM: %v, requeued %v", err, requeued)
	}
	if err := term(refused).interrupted(interrupted); err == nil || !strings.Contains(err.Error(), "requeueing SLURM job 9 failed") {
		t.Errorf("refused requeue: %v", err)
	}
	// Interrupted otherwise (Ctrl-C): no requeue, the error stands.
	start := time.Now()
	if err := (&slurmJob{id: "9", requeue: ok, term: make(chan struct{})}).interrupted(interrupted); err != interrupted || len(requeued) != 1 {
		t.Errorf("no SIGTERM: %v, requeued %v", err, requeued)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("waited %v for a SIGTERM", time.Since(start))
	}
	var outside *slurmJob
	if err := outside.interrupted(interrupted); err != interrupted {
		t.Errorf("outside SLURM: %v", err)
	}
	if outside.failedCells(true) == nil || term(ok).failedCells(false) == nil || term(ok).failedCells(true) != nil {
		t.Error("failedCells: want exit 0 only for a shard under SLURM")
	}
}

// submit writes the grid's copy and both scripts, submits the array and
// then the merge job depending on it; status reads them back with the
// scheduler's view and the records.
func TestSlurmSubmitAndStatus(t *testing.T) {
	e := newEnv(t, shardGrid)
	// --dry-run prints and writes nothing.
	r := e.run(t, nil, "slurm", "submit", "--config", "grid.yaml", "--output_dir", "out", "--shards", "2", "--dry-run", "--", "-p", "gpu", "-c", "4")
	if r.code != 0 || !strings.Contains(r.stdout, "#SBATCH --array=0-1") || !strings.Contains(r.stdout, "--dependency=afterany:<array job id>' -p gpu") {
		t.Fatalf("dry run: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The command lines it prints are the shell's: a folder with a blank
	// or a quote is one word, so that they can be run as printed.
	r = e.run(t, nil, "slurm", "submit", "--config", "grid.yaml", "--output_dir", "my 'out'", "--shards", "2", "--dry-run", "--", "-J", "a b", "-c", "4")
	arrayScript := filepath.Join(e.dir, "my 'out'", "slurm", "array.sbatch")
	if r.code != 0 || !strings.Contains(r.stdout, `#   sbatch --parsable -J 'a b' -c 4 '`+strings.ReplaceAll(arrayScript, "'", `'\''`)+"'\n") {
		t.Fatalf("dry run, a folder with a blank: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// An abbreviated CPU request is one (before, --cpus-per-t=4 was
	// refused as no CPU request), named in full on the command lines.
	r = e.run(t, nil, "slurm", "submit", "--config", "grid.yaml", "--output_dir", "out", "--shards", "2", "--dry-run", "--", "-p", "cpu", "--cpus-per-t=4")
	if r.code != 0 || !strings.Contains(r.stdout, "#   sbatch --parsable -p cpu --cpus-per-task=4 ") {
		t.Fatalf("dry run, --cpus-per-t=4: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "out")); err == nil || len(e.calls()) > 1 || e.calls()[0] != "" {
		t.Errorf("dry run wrote or submitted: %v %q", err, e.calls())
	}

	r = e.run(t, []string{"HF_HOME=/scratch/hf"}, "slurm", "submit", "--config", "grid.yaml", "--output_dir", "out", "--shards", "2", "--", "-p", "gpu", "-c", "4")
	if r.code != 0 || !strings.Contains(r.stdout, "submitted array job 100 (2 tasks for 6 cells) and merge job 101") {
		t.Fatalf("submit: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	dir := filepath.Join(e.dir, "out", "slurm")
	grids, _ := filepath.Glob(filepath.Join(dir, "grid-*.yaml"))
	array, err := os.ReadFile(filepath.Join(dir, "array.sbatch"))
	must(t, err)
	if len(grids) != 1 || !strings.Contains(string(array), "--config "+grids[0]) || !strings.Contains(string(array), "export HF_HOME=/scratch/hf") {
		t.Errorf("grid copies %v; array script:\n%s", grids, array)
	}
	want := []string{
		"sbatch --parsable -p gpu -c 4 " + filepath.Join(dir, "array.sbatch"),
		"sbatch --parsable --dependency=afterany:100 -p gpu -c 4 " + filepath.Join(dir, "merge.sbatch"),
	}
	if d := cmp.Diff(want, e.calls()); d != "" {
		t.Errorf("sbatch calls (-want +got):\n%s", d)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "logs", "slurm")); err != nil {
		t.Errorf("no log folder: %v", err)
	}

	// Task 0 ran (its records are there), task 1 is pending; the merge job
	// waits. The scheduler's answers as scontrol show job -o prints them.
	must(t, os.WriteFile(filepath.Join(e.dir, "show-100"), []byte(
		"JobId=100 ArrayJobId=100 ArrayTaskId=1 JobName=dllmbench JobState=PENDING Reason=Priority Restarts=0 ExitCode=0:0 RunTime=00:00:00 NodeList=\n"+
			"JobId=102 ArrayJobId=100 ArrayTaskId=0 JobName=dllmbench JobState=COMPLETED Reason=None Restarts=1 ExitCode=0:0 RunTime=00:00:04 NodeList=gpu07\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(e.dir, "show-101"), []byte(
		"JobId=101 JobName=dllmbench-merge JobState=PENDING Reason=Dependency Restarts=0 ExitCode=0:0 RunTime=00:00:00 NodeList=\n"), 0o644))
	if r := e.run(t, nil, "run", "--config", grids[0], "--output_dir", "out", "--shard", "0/2", "--records-name", "100_0", "--no-report", "--no-quality"); r.code != 0 {
		t.Fatalf("task 0: %s", r.stderr)
	}
	r = e.run(t, nil, "slurm", "status", "--output_dir", "out")
	for _, want := range []string{
		"array job 100 (2 shards), merge job 101",
		"0 100_0 COMPLETED 0:0 1 00:00:04 gpu07 3 3 0 0",
		"1 100_1 PENDING (Priority) 0:0 0 00:00:00 - 3 0 0 3",
		"merge job 101: PENDING (Dependency)",
		"cells: 6 in 2 shards: 3 done, 0 failed, 3 missing",
		"missing: demo-llama b2 p16 g8 (shard 1)",
	} {
		if !strings.Contains(squash(r.stdout), want) {
			t.Errorf("status lacks %q:\n%s%s", want, r.stdout, r.stderr)
		}
	}
	if r.code != 0 {
		t.Errorf("status: code %d", r.code)
	}
	if r := e.run(t, nil, "slurm", "status", "--output_dir", "out", "--fail-missing"); r.code != 1 {
		t.Errorf("--fail-missing with missing cells: code %d", r.code)
	}
	// Task 1's cells recorded with other repetitions are still missing:
	// a task of the submitted grid would measure them again.
	if r := e.run(t, nil, "run", "--config", grids[0], "--output_dir", "out", "--shard", "1/2", "--records-name", "100_1", "--no-report", "--no-quality", "--repetitions", "2"); r.code != 0 {
		t.Fatalf("task 1 with other repetitions: %s", r.stderr)
	}
	r = e.run(t, nil, "slurm", "status", "--output_dir", "out")
	for _, want := range []string{
		"cells: 6 in 2 shards: 3 done, 0 failed, 3 missing",
		"missing: demo-llama b2 p16 g8 (shard 1; recorded under another key only",
	} {
		if !strings.Contains(squash(r.stdout), want) {
			t.Errorf("status after other repetitions lacks %q:\n%s%s", want, r.stdout, r.stderr)
		}
	}
	// Forgotten by the scheduler, no accounting: the records still tell.
	must(t, os.Remove(filepath.Join(e.dir, "show-100")))
	r = e.run(t, nil, "slurm", "status", "--output_dir", "out")
	if r.code != 0 || !strings.Contains(r.stdout, "no longer knows job 100 (no accounting)") || !strings.Contains(squash(r.stdout), "0 100_0 unknown") {
		t.Errorf("forgotten array: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"slurm"}, 2, "want a subcommand"},
		{[]string{"slurm", "cancel"}, 2, `unknown subcommand "cancel"`},
		{[]string{"slurm", "status", "--output_dir", "nowhere"}, 1, "no submission in"},
		{[]string{"slurm", "submit", "--config", "grid.yaml", "--partition", "gpu"}, 2, "flag provided but not defined: -partition"},
		{[]string{"slurm", "submit", "--config", "grid.yaml", "--shards", "-1"}, 2, "--shards -1"},
		// An empty folder was the current directory, and --gpus -5 was
		// taken for its default.
		{[]string{"slurm", "submit", "--config", "grid.yaml", "--output_dir", "", "--dry-run", "--", "-c", "4"}, 2, "--output_dir: empty"},
		{[]string{"slurm", "status", "--output_dir", ""}, 2, "--output_dir: empty"},
		{[]string{"slurm", "submit", "--config", "grid.yaml", "--gpus", "-5", "--dry-run", "--", "-c", "4"}, 2, "--gpus -5: want 0 or more"},
		// A stray argument ended the flags: --config went to sbatch unseen.
		{[]string{"slurm", "submit", "--dry-run", "extra", "--config", "grid.yaml"}, 2, `unexpected argument "extra": sbatch options go after --`},
		{[]string{"slurm", "submit", "--config", "grid.yaml", "-p", "gpu"}, 2, "flag provided but not defined: -p"},
		// A grid on the CPU whose tasks would get SLURM's default CPUs,
		// often one core: before, it was submitted as it was.
		{[]string{"slurm", "submit", "--config", "grid.yaml", "--", "-p", "cpu", "--exclusive=user"}, 2,
			"the tasks run on the CPU, and the sbatch options ask for no CPUs: each would get SLURM's default, often one core, which measures nothing useful; give them cores after -- (-- --cpus-per-task=16, or -- --exclusive for whole nodes)"},
		{[]string{"slurm", "submit", "--config", "grid.yaml", "--dry-run"}, 2, "the sbatch options ask for no CPUs"},
		{[]string{"slurm", "submit", "--config", "grid.yaml", "--dry-run", "--", "--cpu=4"}, 2,
			"sbatch's --cpu is ambiguous (--cpu-freq, --cpus-per-gpu, --cpus-per-task): spell the option out"},
	} {
		if r := e.run(t, nil, tc.args...); r.code != tc.code || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%q: code %d, %q; want %d and one line with %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

// A submissions file whose line lacks what status needs (edited by hand,
// or not written by submit) is refused with one line naming it: before, a
// line of 0 shards made status divide by zero and panic.
func TestSlurmStatusBadSubmission(t *testing.T) {
	e := newEnv(t, shardGrid)
	dir := filepath.Join(e.dir, "out", "slurm")
	must(t, os.MkdirAll(dir, 0o755))
	grid := filepath.Join(e.dir, "grid.yaml")
	for _, line := range []string{
		`{"array_job":"100","shards":0,"grid":"` + grid + `"}`,
		`{"array_job":"100","shards":-2,"grid":"` + grid + `"}`,
		`{}`,
	} {
		must(t, os.WriteFile(filepath.Join(dir, "submissions.jsonl"), []byte(line+"\n"), 0o644))
		r := e.run(t, nil, "slurm", "status", "--output_dir", "out")
		if r.code != 1 || !strings.Contains(r.stderr, "submissions.jsonl:1: not a submission") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: code %d, %q; want 1 and one line naming the line", line, r.code, r.stderr)
		}
	}
}

// A GPU request given to sbatch after -- replaces the scripts' own: the
// array's directives hold it (so that sbatch is not also asked for the
// scripts' --gres=gpu:1, which with --gpus=4 it took for four nodes of one
// GPU each, and under --gpus-per-node=2 gave one GPU), the merge job asks
// for one of its kind when it computes quality, and the command lines
// carry the rest. Conflicting requests are refused with one line.
func TestSlurmSubmitGPUs(t *testing.T) {
	e := newEnv(t, strings.Replace(shardGrid, "backend: cpu", "backend: auto", 1))
	script := func(out, name string) string {
		b, err := os.ReadFile(filepath.Join(e.dir, out, "slurm", name))
		must(t, err)
		return string(b)
	}
	const cpus = "--cpus-per-gpu=2" // the scripts' own CPUs, without the user's
	for _, tc := range []struct {
		args         []string
		array, merge []string // #SBATCH lines that ask for GPUs, and CPUs
		opts         string   // what both command lines carry
	}{
		{[]string{"--", "-p", "gpu", "--gres=gpu:4"}, []string{"--gres=gpu:4", cpus}, []string{"--gres=gpu:1", cpus}, "-p gpu"},
		{[]string{"--gpus", "2", "--", "--gpus", "h100:2", "-t", "1:00:00"}, []string{"--gpus=h100:2", cpus}, []string{"--gpus=h100:1", cpus}, "-t 1:00:00"},
		{[]string{"--quality=false", "--", "--gpus-per-node=2", "-p", "gpu"}, []string{"--gpus-per-node=2", cpus}, nil, "-p gpu"},
		{[]string{"--", "--gres=tmpdisk:10", "-p", "gpu"}, []string{"--gres=gpu:1,tmpdisk:10", cpus}, []string{"--gres=gpu:1,tmpdisk:10", cpus}, "-p gpu"},
		// the user's CPUs replace the scripts' (sbatch refuses
		// --cpus-per-gpu with --cpus-per-task); before, the tasks asked
		// for none at all: SLURM's default, often one core for every worker
		{[]string{"--", "--gres=gpu:2", "-c", "8"}, []string{"--gres=gpu:2"}, []string{"--gres=gpu:1"}, "-c 8"},
		{[]string{"--", "--cpus-per-gpu=4"}, []string{"--gres=gpu:1"}, []string{"--gres=gpu:1"}, "--cpus-per-gpu=4"},
		// sbatch takes an abbreviation for the one option it begins, and
		// several short options in one word: before, --gpus-per-n=2 and
		// -vG2 were not GPU requests, and sbatch added them to the
		// scripts' --gres=gpu:1. The command lines name the options in full.
		{[]string{"--", "--gpus-per-n=2", "--part=gpu"}, []string{"--gpus-per-node=2", cpus}, []string{"--gpus-per-node=1", cpus}, "--partition=gpu"},
		{[]string{"--", "-vG2", "-p", "gpu"}, []string{"--gpus=2", cpus}, []string{"--gpus=1", cpus}, "-v -p gpu"},
	} {
		for _, f := range []string{"calls.log", "next", "out"} { // the fake sbatch's ids start at 100 again
			must(t, os.RemoveAll(filepath.Join(e.dir, f)))
		}
		r := e.run(t, nil, append([]string{"slurm", "submit", "--config", "grid.yaml", "--output_dir", "out", "--shards", "2"}, tc.args...)...)
		if r.code != 0 {
			t.Errorf("%q: code %d\n%s", tc.args, r.code, r.stderr)
			continue
		}
		for name, want := range map[string][]string{"array.sbatch": tc.array, "merge.sbatch": tc.merge} {
			var got []string
			for _, line := range strings.Split(script("out", name), "\n") {
				if d, ok := strings.CutPrefix(line, "#SBATCH "); ok && (strings.HasPrefix(d, "--gres") || strings.HasPrefix(d, "--gpus") || strings.HasPrefix(d, "--cpus")) {
					got = append(got, d)
				}
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("%q: %s's GPU and CPU directives (-want +got):\n%s", tc.args, name, d)
			}
		}
		dir := filepath.Join(e.dir, "out", "slurm")
		want := []string{"sbatch --parsable " + tc.opts + " " + filepath.Join(dir, "array.sbatch"),
			"sbatch --parsable --dependency=afterany:100 " + tc.opts + " " + filepath.Join(dir, "merge.sbatch")}
		if d := cmp.Diff(want, e.calls()); d != "" {
			t.Errorf("%q: sbatch calls (-want +got):\n%s", tc.args, d)
		}
	}
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--gpus", "2", "--", "--gres=gpu:4"}, "--gpus 2 and sbatch's --gres=gpu:4 ask for different GPU counts: give one of them"},
		{nil, []string{"--", "--gres=gpu:1", "--gpus=4"}, "sbatch's --gres and --gpus both ask for GPUs: give one"},
		{nil, []string{"--", "--gpus-per-socket=1"}, "sbatch's --gpus-per-socket=1: a task's GPUs are asked for with --gres=gpu:N"},
		// more nodes or tasks than the job's one process uses
		{nil, []string{"--", "-N", "2"}, "sbatch's -N 2: a job of dllmbench's runs on one node"},
		{nil, []string{"--", "--gpus-per-task=2", "-n", "2"}, "sbatch's --gpus-per-task=2 with -n 2 asks for GPUs for each of several SLURM tasks"},
		// an abbreviation of several options, which sbatch refuses too
		{nil, []string{"--", "--gre=gpu:2"}, "sbatch's --gre is ambiguous (--gres, --gres-flags): spell the option out"},
		{nil, []string{"--", "-p"}, "sbatch's -p wants a value"},
		{[]string{"SBATCH_GRES=gpu:1"}, nil, "SBATCH_GRES=gpu:1 in the environment would change the scripts' GPU request"},
		{nil, []string{"--backend-grid-cpu", "--", "--gres=gpu:2"}, "the grid runs on the CPU backend: its tasks would not use the GPUs sbatch's --gres=gpu:2 asks for"},
	} {
		config := "grid.yaml"
		if len(tc.args) > 0 && tc.args[0] == "--backend-grid-cpu" {
			must(t, os.WriteFile(filepath.Join(e.dir, "cpu.yaml"), []byte(shardGrid), 0o644))
			config, tc.args = "cpu.yaml", tc.args[1:]
		}
		r := e.run(t, tc.env, append([]string{"slurm", "submit", "--config", config, "--output_dir", "refused"}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v %q: code %d, %q; want code 2 and one line with %q", tc.env, tc.args, r.code, r.stderr, tc.want)
		}
		if _, err := os.Stat(filepath.Join(e.dir, "refused")); err == nil {
			t.Errorf("%v %q: a refused submission wrote its folder", tc.env, tc.args)
		}
	}
}

// The scripts of a submission, run by bash as SLURM runs them (both tasks
// of the array, then the merge job), leave the outputs a run of the grid
// on one machine leaves: the quality metrics, the quality and Pareto
// figures, report.html's quality section. Before, the merge job built the
// reports before it computed the quality metrics, and they had none of it.
func TestMergeJobEndsAsRun(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash to run the scripts")
	}
	e := newEnv(t, shardGrid)
	if r := e.run(t, nil, "slurm", "submit", "--config", "grid.yaml", "--output_dir", "cluster", "--shards", "2", "--", "-c", "2"); r.code != 0 {
		t.Fatalf("submit: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	script := func(name string, vars ...string) {
		t.Helper()
		cmd := exec.Command("bash", filepath.Join(e.dir, "cluster", "slurm", name))
		cmd.Dir, cmd.Env = e.dir, append(slices.Clone(e.vars), vars...)
		if r := execute(t, cmd); r.code != 0 {
			t.Fatalf("%s %v: exit %d\n%s%s", name, vars, r.code, r.stdout, r.stderr)
		}
	}
	for _, task := range []string{"0", "1"} {
		script("array.sbatch", "SLURM_ARRAY_JOB_ID=100", "SLURM_ARRAY_TASK_ID="+task, "SLURM_ARRAY_TASK_COUNT=2")
	}
	script("merge.sbatch", "SLURM_JOB_ID=101")
	if r := e.run(t, nil, "run", "--config", "grid.yaml", "--output_dir", "local"); r.code != 0 {
		t.Fatalf("local run: code %d\n%s", r.code, r.stderr)
	}
	// What each folder holds besides its records and the scripts.
	outputs := func(dir string) []string {
		var files []string
		root := filepath.Join(e.dir, dir)
		must(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() && (rel == "records" || rel == "slurm") {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				files = append(files, rel)
			}
			return nil
		}))
		return files
	}
	local, cluster := outputs("local"), outputs("cluster")
	if d := cmp.Diff(local, cluster); d != "" {
		t.Errorf("outputs of the merge job and of a local run differ (-local +cluster):\n%s", d)
	}
	for _, want := range []string{filepath.Join("raw_data", "quality_metrics.json"), filepath.Join("figures", "quality_judge_ppl.svg"),
		filepath.Join("figures", "pareto_throughput.svg")} {
		if !slices.Contains(cluster, want) {
			t.Errorf("the merge job wrote no %s: %q", want, cluster)
		}
	}
	html, err := os.ReadFile(filepath.Join(e.dir, "cluster", "report.html"))
	must(t, err)
	if strings.Contains(string(html), "No quality metrics") {
		t.Error("the merge job's report.html has no quality section")
	}
	// A folder without records has nothing to end, and is not created.
	r := e.run(t, nil, "run", "--config", "grid.yaml", "--output_dir", "none", "--no-measure")
	if r.code != 1 || !strings.Contains(r.stderr, "no records to report") {
		t.Errorf("--no-measure without records: code %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "none")); err == nil {
		t.Error("--no-measure created the output folder")
	}
}

// squash collapses runs of blanks, so that tests do not depend on column widths.
func squash(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

// go run's binary is deleted when it exits, or since Go 1.24 kept in the
// build cache until the cache is trimmed: submit refuses to write it into
// the jobs' scripts (unless DLLMBENCH names another), where a task would
// fail on a missing file.
func TestGoRunBinary(t *testing.T) {
	const hash = "b116fe5789f89ae32185fa6a463c9c204c013e94fabf90a525bce587225ff845"
	for path, want := range map[string]bool{
		"/tmp/go-build3542894061/b001/exe/dllmbench": true,
		"/scratch/tmp/go-build1/b017/exe/dllmbench":  true,
		// Go 1.26's go run, GOCACHE=/root/.cache/go-build
		"/root/.cache/go-build/b1/" + hash + "-d/dllmbench": true,
		"/home/me/dllmbench/bin/dllmbench":                  false,
		"/opt/exe/dllmbench":                                false,
		"/tmp/go-build1/dllmbench":                          false,
		// a folder named like a cache entry but not under its first byte
		"/opt/x/" + hash + "-d/dllmbench": false,
		"/opt/b1/b116-d/dllmbench":        false, // not a 64-digit hash
	} {
		if got := goRunBinary(path); got != want {
			t.Errorf("goRunBinary(%q) = %v, want %v", path, got, want)
		}
	}
}
