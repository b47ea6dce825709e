package slurm

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
	"strings"
	"time"
)

// Runner runs a SLURM command and returns its standard output; a failure's
// error carries the command's own message. Tests pass fakes.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// Exec is the Runner that runs the commands on this machine.
func Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.Join(strings.Fields(stderr.String()), " ")
		if len(msg) > 400 {
			msg = msg[:400] + "..."
		}
		if msg == "" {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		return out, fmt.Errorf("%s: %w: %s", name, err, msg)
	}
	return out, nil
}

// Submission is one submit of a grid to an output folder, as
// DIR/slurm/submissions.jsonl keeps it (one line each, the latest last).
type Submission struct {
	ArrayJob  string    `json:"array_job"`
	MergeJob  string    `json:"merge_job,omitempty"`
	Shards    int       `json:"shards"`
	Grid      string    `json:"grid"` // the grid file the tasks read
	OutputDir string    `json:"output_dir"`
	Submitted time.Time `json:"submitted"`
	Options   []string  `json:"sbatch_options,omitempty"`
}

// Dir is where a results folder keeps its scripts and submissions.
func Dir(outputDir string) string { return filepath.Join(outputDir, "slurm") }

// Submit submits the array script, then the merge script with a dependency
// on the array, and records the submission in the output folder. When the
// merge job cannot be submitted, the array still runs: the returned
// Submission names it, with the error.
func Submit(ctx context.Context, run Runner, p *Plan, opts Options, arrayScript, mergeScript string) (*Submission, error) {
	s := &Submission{Shards: p.Shards, Grid: p.Grid, OutputDir: p.OutputDir, Submitted: time.Now().UTC(), Options: opts.Words()}
	out, err := run(ctx, "sbatch", p.ArrayArgs(opts, arrayScript)...)
	if err != nil {
		return nil, fmt.Errorf("slurm: submitting the array: %w", err)
	}
	if s.ArrayJob, err = parsableID(out); err != nil {
		return nil, fmt.Errorf("slurm: submitting the array: %w", err)
	}
	out, err = run(ctx, "sbatch", p.MergeArgs(s.ArrayJob, opts, mergeScript)...)
	if err == nil {
		s.MergeJob, err = parsableID(out)
	}
	if err != nil {
		end := "dllmbench run --config " + Quote(p.Grid) + " --output_dir " + Quote(p.OutputDir) + " --no-measure"
		if !p.Quality {
			end += " --no-quality"
		}
		err = fmt.Errorf("slurm: array job %s was submitted, but not the merge job (run '%s' when it ends): %w", s.ArrayJob, end, err)
	}
	if rerr := appendSubmission(p.OutputDir, s); rerr != nil && err == nil {
		err = rerr
	}
	return s, err
}

// parsableID reads what sbatch --parsable prints: "ID" or "ID;cluster".
func parsableID(out []byte) (string, error) {
	line := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = strings.TrimSpace(line[i+1:]) // warnings may come first
	}
	id, _, _ := strings.Cut(line, ";")
	if id == "" || strings.Trim(id, "0123456789") != "" {
		return "", fmt.Errorf("sbatch --parsable printed %q, not a job id", strings.TrimSpace(string(out)))
	}
	return id, nil
}

func appendSubmission(outputDir string, s *Submission) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	p := filepath.Join(Dir(outputDir), "submissions.jsonl")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("slurm: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("slurm: %w", err)
	}
	return nil
}

// ErrNoSubmission is returned by Submissions for a folder never submitted.
var ErrNoSubmission = errors.New("no submission")

// Submissions reads the submissions of an output folder, oldest first.
func Submissions(outputDir string) ([]Submission, error) {
	p := filepath.Join(Dir(outputDir), "submissions.jsonl")
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("slurm: %w in %s (submit with 'dllmbench slurm submit --output_dir %s')", ErrNoSubmission, Dir(outputDir), outputDir)
	}
	if err != nil {
		return nil, fmt.Errorf("slurm: %w", err)
	}
	var out []Submission
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var s Submission
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return nil, fmt.Errorf("slurm: %s:%d: %v", p, n, err)
		}
		// Status divides the cells among the shards and asks the scheduler
		// about the array job: a line without them (edited, or not one of
		// submit's) is refused here rather than crash or mislead there.
		if s.ArrayJob == "" || s.Shards < 1 || s.Grid == "" {
			return nil, fmt.Errorf("slurm: %s:%d: not a submission: want array_job, grid and shards of at least 1 (have %q, %q and %d)",
				p, n, s.ArrayJob, s.Grid, s.Shards)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("slurm: %s: %w", p, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("slurm: %w in %s", ErrNoSubmission, p)
	}
	return out, nil
}
