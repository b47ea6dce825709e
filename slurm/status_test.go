package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"dllmbench/bench"
)

// scontrolOut is `scontrol show job -o 1` and `-o 2` on slurm-wlm 22.05.8
// (scripts/test/slurm-local.sh) for `sbatch --array=0-3%1 -J 'my job'` and
// a job depending on it, with task 0 running; keys not read are cut.
const scontrolOut = `JobId=1 ArrayJobId=1 ArrayTaskId=1-3%1 ArrayTaskThrottle=1 JobName=my job UserId=root(0) JobState=PENDING Reason=JobArrayTaskLimit Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 ExitCode=0:0 RunTime=00:00:00 AllocNode:Sid=localhost:29164 NodeList= NumNodes=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* Command=(null) WorkDir=/tmp/sl2/jobs Power= 
JobId=3 ArrayJobId=1 ArrayTaskId=0 ArrayTaskThrottle=1 JobName=my job UserId=root(0) JobState=RUNNING Reason=None Dependency=(null) Requeue=1 Restarts=2 BatchFlag=1 ExitCode=0:0 RunTime=00:00:01 NodeList=localhost BatchHost=localhost Power= 
JobId=2 JobName=wrap UserId=root(0) JobState=PENDING Reason=Dependency Dependency=afterany:1_*(unfulfilled) Requeue=1 Restarts=0 ExitCode=0:0 RunTime=00:00:00 NodeList= Power= 
`

func TestParseScontrol(t *testing.T) {
	got := parseScontrol(scontrolOut)
	pending := Task{RawID: "1", ArrayTask: 1, JobID: "1_1", State: "PENDING", Reason: "JobArrayTaskLimit", ExitCode: "0:0", Elapsed: "00:00:00", From: "scontrol"}
	p2, p3 := pending, pending
	p2.ArrayTask, p2.JobID = 2, "1_2"
	p3.ArrayTask, p3.JobID = 3, "1_3"
	want := []Task{pending, p2, p3,
		{JobID: "1_0", RawID: "3", ArrayTask: 0, State: "RUNNING", Reason: "None", ExitCode: "0:0", Restarts: 2, Elapsed: "00:00:01", Node: "localhost", From: "scontrol"},
		{JobID: "2", RawID: "2", ArrayTask: -1, State: "PENDING", Reason: "Dependency", ExitCode: "0:0", Elapsed: "00:00:00", From: "scontrol"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if f := fields(scontrolOut[:strings.IndexByte(scontrolOut, '\n')]); f["JobName"] != "my job" || f["ReqB:S:C:T"] != "0:0:*:*" {
		t.Errorf("fields: JobName %q, ReqB:S:C:T %q", f["JobName"], f["ReqB:S:C:T"])
	}
}

func TestTaskRange(t *testing.T) {
	for in, want := range map[string][]int{"3": {3}, "0-3": {0, 1, 2, 3}, "1,4-5": {1, 4, 5}, "0-7%2": {0, 1, 2, 3, 4, 5, 6, 7}, "": nil} {
		if d := cmp.Diff(want, taskRange(in)); d != "" {
			t.Errorf("%q: %s", in, d)
		}
	}
}

// fakeScheduler answers scontrol and sacct from canned outputs; a job
// missing from scontrol is "Invalid job id", as slurmctld answers once
// MinJobAge has passed.
type fakeScheduler struct {
	scontrol map[string]string
	sacct    string // "" is a cluster without accounting
	calls    []string
}

func (f *fakeScheduler) run(_ context.Context, name string, args ...string) ([]byte, error) {
	f.calls = append(f.calls, name+" "+strings.Join(args, " "))
	switch name {
	case "scontrol":
		if out, ok := f.scontrol[args[len(args)-1]]; ok {
			return []byte(out), nil
		}
		return nil, errors.New("scontrol: exit status 1: slurm_load_jobs error: Invalid job id specified")
	case "sacct":
		if f.sacct == "" {
			return nil, errors.New("sacct: exit status 1: Slurm accounting storage is disabled")
		}
		return []byte(f.sacct), nil
	}
	return nil, errors.New(name + ": not faked")
}

func TestJobs(t *testing.T) {
	ctx := context.Background()
	// Both known to scontrol: sacct is not asked.
	f := &fakeScheduler{scontrol: map[string]string{"1": scontrolOut[:strings.Index(scontrolOut, "JobId=2")], "2": scontrolOut[strings.Index(scontrolOut, "JobId=2"):]}}
	tasks, notes, err := Jobs(ctx, f.run, "1", "2")
	if err != nil || len(tasks) != 5 || len(notes) != 0 || len(f.calls) != 2 {
		t.Errorf("known jobs: %d tasks, notes %q, %v, calls %q", len(tasks), notes, err, f.calls)
	}
	// Forgotten by slurmctld, and no accounting: a note, no error.
	f = &fakeScheduler{scontrol: map[string]string{}}
	tasks, notes, err = Jobs(ctx, f.run, "12", "14")
	if err != nil || len(tasks) != 0 || len(notes) != 1 || !strings.Contains(notes[0], "no longer knows job 12, 14 (no accounting)") {
		t.Errorf("forgotten jobs: %v, %q, %v", tasks, notes, err)
	}
	// Forgotten, with accounting (sacct -X -P; a pending array in brackets).
	f.sacct = "12_0|13|COMPLETED|0:0|00:05:01|gpu01\n12_[1-2]|12|PENDING|0:0|00:00:00|None assigned\n14|14|CANCELLED by 0|0:0|00:00:00|None assigned\n"
	tasks, notes, err = Jobs(ctx, f.run, "12", "14")
	want := []Task{
		{JobID: "12_0", RawID: "13", ArrayTask: 0, State: "COMPLETED", ExitCode: "0:0", Elapsed: "00:05:01", Node: "gpu01", Restarts: -1, From: "sacct"},
		{JobID: "12_1", RawID: "12", ArrayTask: 1, State: "PENDING", ExitCode: "0:0", Elapsed: "00:00:00", Restarts: -1, From: "sacct"},
		{JobID: "12_2", RawID: "12", ArrayTask: 2, State: "PENDING", ExitCode: "0:0", Elapsed: "00:00:00", Restarts: -1, From: "sacct"},
		{JobID: "14", RawID: "14", ArrayTask: -1, State: "CANCELLED", Reason: "by 0", ExitCode: "0:0", Elapsed: "00:00:00", Restarts: -1, From: "sacct"},
	}
	if d := cmp.Diff(want, tasks); d != "" || err != nil || len(notes) != 0 {
		t.Errorf("sacct: %v, notes %q (-want +got):\n%s", err, notes, d)
	}
	if last := f.calls[len(f.calls)-1]; last != "sacct -n -X -P -j 12,14 -o JobID,JobIDRaw,State,ExitCode,Elapsed,NodeList" {
		t.Errorf("sacct call: %q", last)
	}
	// scontrol fails otherwise: an error.
	bad := func(context.Context, string, ...string) ([]byte, error) {
		return nil, errors.New("scontrol: exit status 1: slurm_load_jobs error: Unable to contact slurm controller")
	}
	if _, _, err := Jobs(ctx, bad, "1"); err == nil || !strings.Contains(err.Error(), "Unable to contact") {
		t.Errorf("unreachable controller: %v", err)
	}
}

func TestTallyAndReport(t *testing.T) {
	cells := []bench.Cell{
		{Model: "llama", Family: "llama", Batch: 1, PromptLen: 16, GenLen: 8},
		{Model: "llama", Family: "llama", Batch: 2, PromptLen: 16, GenLen: 8},
		{Model: "llada", Family: "llada", Batch: 1, PromptLen: 16, GenLen: 8, Steps: 8, BlockLen: 8, Remasking: "low_confidence", Cache: "none"},
		{Model: "llada", Family: "llada", Batch: 2, PromptLen: 16, GenLen: 8, Steps: 8, BlockLen: 8, Remasking: "low_confidence", Cache: "none"},
		{Model: "llada", Family: "llada", Batch: 4, PromptLen: 16, GenLen: 8, Steps: 8, BlockLen: 8, Remasking: "low_confidence", Cache: "none"},
	}
	recs := []bench.Record{
		{Grid: "g", Cell: cells[0], Status: "ok"},
		{Grid: "g", Cell: cells[1], Status: "failed", Error: "out of memory"},
		{Grid: "g", Cell: cells[2], Status: "failed", Error: "first try"},
		{Grid: "g", Cell: cells[2], Status: "ok"}, // a rerun succeeded
		{Grid: "other", Cell: cells[3], Status: "ok"},
	}
	got := Tally(cells, nil, "g", 2, recs)
	var states []string
	for _, c := range got {
		states = append(states, c.Status+"/"+string(rune('0'+c.Shard)))
	}
	if d := cmp.Diff([]string{"ok/0", "failed/1", "ok/0", "missing/1", "missing/0"}, states); d != "" {
		t.Errorf("tally (-want +got):\n%s", d)
	}
	// With keys, as a run reuses records: under the cell's key, whatever
	// the grid's name; a record of the cell under another key leaves it
	// missing, marked stale.
	keys := []string{"k0", "k1", "k2", "k3", "k4"}
	keyed := []bench.Record{
		{Key: "k0", Grid: "g", Cell: cells[0], Status: "ok"},
		{Key: "old1", Grid: "g", Cell: cells[1], Status: "ok"},
		{Key: "k2", Grid: "renamed", Cell: cells[2], Status: "failed", Error: "oom"},
		{Key: "old3", Grid: "g", Cell: cells[3], Status: "ok"},
		{Key: "k3", Grid: "g", Cell: cells[3], Status: "ok"},
	}
	states = nil
	for _, c := range Tally(cells, keys, "g", 2, keyed) {
		states = append(states, fmt.Sprintf("%s/%v", c.Status, c.Stale))
	}
	if d := cmp.Diff([]string{"ok/false", "missing/true", "failed/false", "ok/true", "missing/false"}, states); d != "" {
		t.Errorf("tally by keys (-want +got):\n%s", d)
	}
	r := &Report{
		Submission: Submission{ArrayJob: "1", MergeJob: "2", Shards: 2, Grid: "/g.yaml", OutputDir: "/out", Submitted: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		Tasks:      parseScontrol(scontrolOut),
		Cells:      got,
		Notes:      []string{"a note"},
	}
	var b bytes.Buffer
	r.Write(&b)
	for _, want := range []string{
		"array job 1 (2 shards), merge job 2",
		"0      1_0   RUNNING                      0:0   2         00:00:01  localhost  3      2     0       1",
		"1      1_1   PENDING (JobArrayTaskLimit)  0:0   0         00:00:00  -          2      0     1       1",
		"merge job 2: PENDING (Dependency), exit 0:0",
		"note: a note",
		"cells: 5 in 2 shards: 2 done, 1 failed, 2 missing",
		"failed: llama b2 p16 g8 (shard 1): out of memory",
		"missing: llada b2 p16 g8 s8 blk8 none (shard 1)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

// Cancelled tells scancel's SIGTERM from the ones a task requeues itself
// on; the states are what scontrol showed inside a job on the local cluster.
func TestCancelled(t *testing.T) {
	for _, tc := range []struct {
		state, reason string
		want          bool
	}{
		{"COMPLETING", "None", true},       // scancel, seen from the job's trap
		{"CANCELLED", "None", true},        // the same, once it has ended
		{"RUNNING", "None", false},         // --signal's warning, scancel --signal=TERM, a preemption's grace time
		{"COMPLETING", "TimeLimit", false}, // a time limit reached without the warning
	} {
		if got := (Task{State: tc.state, Reason: tc.reason}).Cancelled(); got != tc.want {
			t.Errorf("%s (%s): cancelled %v, want %v", tc.state, tc.reason, got, tc.want)
		}
	}
}
