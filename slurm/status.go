package slurm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"dllmbench/bench"
)

// Task is what the scheduler says about one task of an array, or about a
// job that is not part of one (the merge job).
type Task struct {
	JobID     string // as SLURM prints it: 12_3 for a task, 14 for a job
	RawID     string // the task's own job id, SLURM_JOB_ID inside it
	ArrayTask int    // the task's index, -1 for a job outside an array
	State     string // PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ...
	Reason    string // why it is pending or how it ended; "" or "None" when nothing to say
	ExitCode  string // code:signal, as 0:0
	Restarts  int    // requeues so far; -1 when unknown (sacct does not tell)
	Elapsed   string
	Node      string
	From      string // "scontrol" or "sacct"
}

// Jobs asks the scheduler about jobs (an array job id names all its
// tasks): scontrol show job -o first, which knows a job until MinJobAge
// seconds after it ends (300 by default), then sacct for the jobs it has
// forgotten, where the cluster keeps accounting. A job found by neither is
// named in the notes. The error is for a scheduler that cannot be asked
// at all.
func Jobs(ctx context.Context, run Runner, ids ...string) ([]Task, []string, error) {
	var tasks []Task
	var forgotten, notes []string
	for _, id := range ids {
		out, err := run(ctx, "scontrol", "show", "job", "-o", id)
		switch {
		case err == nil:
			tasks = append(tasks, parseScontrol(string(out))...)
		case strings.Contains(err.Error(), "Invalid job id"):
			forgotten = append(forgotten, id)
		case errors.Is(err, exec.ErrNotFound):
			return nil, nil, fmt.Errorf("slurm: scontrol is not installed here: run status on a node of the cluster")
		default:
			return nil, nil, fmt.Errorf("slurm: asking scontrol about job %s: %w", id, err)
		}
	}
	if len(forgotten) == 0 {
		return tasks, nil, nil
	}
	out, err := run(ctx, "sacct", "-n", "-X", "-P", "-j", strings.Join(forgotten, ","),
		"-o", "JobID,JobIDRaw,State,ExitCode,Elapsed,NodeList")
	if err != nil {
		why := "no accounting"
		if !strings.Contains(err.Error(), "accounting storage is disabled") {
			why = oneLine(err.Error())
		}
		return tasks, []string{fmt.Sprintf("the scheduler no longer knows job %s (%s): the records below tell what ran",
			strings.Join(forgotten, ", "), why)}, nil
	}
	found := parseSacct(string(out))
	for _, id := range forgotten {
		if !slices.ContainsFunc(found, func(t Task) bool { return t.RawID == id || strings.HasPrefix(t.JobID, id+"_") }) {
			notes = append(notes, fmt.Sprintf("neither scontrol nor sacct knows job %s", id))
		}
	}
	return append(tasks, found...), notes, nil
}

// State asks scontrol where one job or array task (12_3) stands.
func State(ctx context.Context, run Runner, id string) (Task, error) {
	out, err := run(ctx, "scontrol", "show", "job", "-o", id)
	if err != nil {
		return Task{}, fmt.Errorf("slurm: asking scontrol about job %s: %w", id, err)
	}
	tasks := parseScontrol(string(out))
	if len(tasks) != 1 {
		return Task{}, fmt.Errorf("slurm: scontrol show job %s: %d jobs, want 1", id, len(tasks))
	}
	return tasks[0], nil
}

// Cancelled reports whether a job that has just been sent SIGTERM is being
// cancelled (scancel): SLURM has it ending (COMPLETING, or CANCELLED) with
// no reason of its own, where a time limit gives TimeLimit and the warning
// signal of --signal, a preemption's grace time or scancel --signal find
// it RUNNING.
func (t Task) Cancelled() bool {
	return t.State == "CANCELLED" || t.State == "COMPLETING" && (t.Reason == "" || t.Reason == "None")
}

// parseScontrol reads scontrol show job -o: one job or task per line, as
// Key=Value words; a pending array's remaining tasks share one line whose
// ArrayTaskId is a range such as 2-5,7%2.
func parseScontrol(out string) []Task {
	var tasks []Task
	for _, line := range strings.Split(out, "\n") {
		kv := fields(line)
		if kv["JobId"] == "" {
			continue
		}
		t := Task{RawID: kv["JobId"], JobID: kv["JobId"], ArrayTask: -1, State: kv["JobState"], Reason: kv["Reason"],
			ExitCode: kv["ExitCode"], Elapsed: kv["RunTime"], Node: kv["NodeList"], From: "scontrol"}
		t.Restarts, _ = strconv.Atoi(kv["Restarts"])
		if t.Node == "(null)" {
			t.Node = ""
		}
		arr := kv["ArrayJobId"]
		if arr == "" {
			tasks = append(tasks, t)
			continue
		}
		for _, i := range taskRange(kv["ArrayTaskId"]) {
			u := t
			u.ArrayTask, u.JobID = i, fmt.Sprintf("%s_%d", arr, i)
			tasks = append(tasks, u)
		}
	}
	return tasks
}

// fields splits a line of Key=Value words; a word without a key continues
// the previous value (a job name or path with spaces).
func fields(line string) map[string]string {
	m := map[string]string{}
	last := ""
	for _, w := range strings.Fields(line) {
		k, v, ok := strings.Cut(w, "=")
		if ok && k != "" && strings.IndexFunc(k, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(":/_", r))
		}) < 0 {
			m[k], last = v, k
			continue
		}
		if last != "" {
			m[last] += " " + w
		}
	}
	return m
}

// taskRange expands "3", "0-3", "1,4-5" or "0-7%2" (a throttle).
func taskRange(s string) []int {
	s, _, _ = strings.Cut(s, "%")
	var out []int
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(a)
		if err != nil {
			continue
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(b); err != nil {
				continue
			}
		}
		for i := lo; i <= hi; i++ {
			out = append(out, i)
		}
	}
	return out
}

// parseSacct reads sacct -n -X -P -o JobID,JobIDRaw,State,ExitCode,Elapsed,NodeList.
func parseSacct(out string) []Task {
	var tasks []Task
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) < 6 || f[0] == "" {
			continue
		}
		state, reason, _ := strings.Cut(f[2], " ") // "CANCELLED by 0"
		t := Task{JobID: f[0], RawID: f[1], ArrayTask: -1, State: state, Reason: reason, ExitCode: f[3], Elapsed: f[4],
			Node: f[5], Restarts: -1, From: "sacct"}
		if t.Node == "None assigned" {
			t.Node = ""
		}
		arr, idx, isTask := strings.Cut(f[0], "_")
		if !isTask {
			tasks = append(tasks, t)
			continue
		}
		for _, i := range taskRange(strings.Trim(idx, "[]")) {
			u := t
			u.ArrayTask, u.JobID = i, fmt.Sprintf("%s_%d", arr, i)
			tasks = append(tasks, u)
		}
	}
	return tasks
}

// Cells lists the cells of a grid in bench.Expand's order, the order
// shards split (bench.GridCells: it reads each model's config.json but no
// weights, so the models must be where the tasks will find them, the hub
// cache).
func Cells(g *bench.Grid) ([]bench.Cell, error) {
	cells, _, _, err := bench.GridCells(g)
	return cells, err
}

// CellState is where one cell of a submitted grid stands.
type CellState struct {
	Cell   bench.Cell
	Shard  int
	Status string // "ok", "failed" or "missing"
	Error  string // a failed cell's error
	// Stale marks a missing cell recorded under another key only: other
	// repetitions, warm-up, delay, prompts or model revision than the
	// grid's now, so a task measures it again.
	Stale bool
}

// Tally matches records to the cells of a grid split in shards. With keys
// (bench.GridKeys, one per cell), a record counts for a cell under the
// cell's key, as a run reuses it; without (nil), under the grid's name and
// the cell's settings, whatever else changed. A successful record wins
// over failed ones, as in bench.Latest.
func Tally(cells []bench.Cell, keys []string, grid string, shards int, recs []bench.Record) []CellState {
	if keys != nil && len(keys) != len(cells) {
		panic(fmt.Sprintf("slurm: %d keys for %d cells", len(keys), len(cells)))
	}
	out := make([]CellState, len(cells))
	byCell := make(map[bench.Cell]int, len(cells))
	byKey := make(map[string]int, len(keys))
	for i, c := range cells {
		out[i] = CellState{Cell: c, Shard: i % shards, Status: "missing"}
		byCell[c] = i
		if keys != nil {
			byKey[keys[i]] = i
		}
	}
	for _, r := range recs {
		c, isCell := byCell[r.Cell]
		i, ok := c, isCell
		if keys != nil {
			if i, ok = byKey[r.Key]; !ok && isCell && r.Grid == grid {
				out[c].Stale = true
			}
		} else if r.Grid != grid {
			continue
		}
		if !ok || out[i].Status == "ok" {
			continue
		}
		if r.Status == "ok" {
			out[i].Status, out[i].Error = "ok", ""
		} else {
			out[i].Status, out[i].Error = "failed", r.Error
		}
	}
	return out
}

// Report is the status of a submission.
type Report struct {
	Submission Submission
	Tasks      []Task      // the array's tasks and the merge job, as the scheduler tells
	Cells      []CellState // nil when the grid's cells could not be listed
	Notes      []string
}

// Counts returns how many cells are done, failed and missing.
func (r *Report) Counts() (done, failed, missing int) {
	for _, c := range r.Cells {
		switch c.Status {
		case "ok":
			done++
		case "failed":
			failed++
		default:
			missing++
		}
	}
	return
}

// Write prints the report: one line per shard with its task's state and
// its cells, the merge job, the totals, then every failed and missing cell.
func (r *Report) Write(w io.Writer) {
	s := r.Submission
	merge := s.MergeJob
	if merge == "" {
		merge = "none"
	}
	fmt.Fprintf(w, "submitted %s: array job %s (%d shards), merge job %s\n  grid %s\n  output %s\n",
		s.Submitted.Format("2006-01-02 15:04:05 MST"), s.ArrayJob, s.Shards, merge, s.Grid, s.OutputDir)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "shard\ttask\tstate\texit\trestarts\telapsed\tnode\tcells\tdone\tfailed\tmissing")
	for i := 0; i < s.Shards; i++ {
		t, ok := r.task(func(t Task) bool { return t.ArrayTask == i && strings.HasPrefix(t.JobID, s.ArrayJob+"_") })
		cells, done, failed, missing := "-", "-", "-", "-"
		if r.Cells != nil {
			var n, d, f, m int
			for _, c := range r.Cells {
				if c.Shard != i {
					continue
				}
				n++
				switch c.Status {
				case "ok":
					d++
				case "failed":
					f++
				default:
					m++
				}
			}
			cells, done, failed, missing = strconv.Itoa(n), strconv.Itoa(d), strconv.Itoa(f), strconv.Itoa(m)
		}
		if !ok {
			t = Task{JobID: fmt.Sprintf("%s_%d", s.ArrayJob, i), State: "unknown", Restarts: -1}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i, t.JobID, t.state(), dash(t.ExitCode),
			restarts(t.Restarts), dash(t.Elapsed), dash(t.Node), cells, done, failed, missing)
	}
	tw.Flush()
	if s.MergeJob != "" {
		if t, ok := r.task(func(t Task) bool { return t.JobID == s.MergeJob }); ok {
			fmt.Fprintf(w, "merge job %s: %s, exit %s\n", t.JobID, t.state(), dash(t.ExitCode))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
	if r.Cells == nil {
		return
	}
	done, failed, missing := r.Counts()
	fmt.Fprintf(w, "cells: %d in %d shards: %d done, %d failed, %d missing\n", len(r.Cells), s.Shards, done, failed, missing)
	for _, c := range r.Cells {
		if c.Status == "failed" {
			fmt.Fprintf(w, "failed: %s (shard %d): %s\n", c.Cell.Name(), c.Shard, c.Error)
		}
	}
	for _, c := range r.Cells {
		if c.Status == "missing" {
			stale := ""
			if c.Stale {
				stale = "; recorded under another key only: other repetitions, warm-up, delay, prompts or model revision"
			}
			fmt.Fprintf(w, "missing: %s (shard %d%s)\n", c.Cell.Name(), c.Shard, stale)
		}
	}
}

func (r *Report) task(match func(Task) bool) (Task, bool) {
	i := slices.IndexFunc(r.Tasks, match)
	if i < 0 {
		return Task{}, false
	}
	return r.Tasks[i], true
}

func (t Task) state() string {
	if t.Reason != "" && t.Reason != "None" {
		return t.State + " (" + t.Reason + ")"
	}
	return t.State
}

func restarts(n int) string {
	if n < 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
