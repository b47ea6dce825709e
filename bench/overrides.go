package bench

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// The command-line flags that override a grid, spelt as the Python
// scaffold spelt them.
const (
	FlagSteps      = "steps"
	FlagBatchSize  = "batch_size"
	FlagMaxPrompts = "max_prompts"
	FlagPromptFile = "prompt_file"
	FlagBERTScore  = "compute_bertscore"
	FlagDelay      = "delay"
	// Flags of the grid's other axes, for a llama-bench-like run without a
	// grid file of its own.
	FlagModel        = "model"
	FlagPromptLength = "prompt_length"
	FlagGenLength    = "gen_length"
	FlagBlockLength  = "block_length"
	FlagRepetitions  = "repetitions"
	FlagWarmup       = "warmup"
	// Flags of few-shot task prompts, as lm-eval's --tasks and
	// --num_fewshot.
	FlagTask  = "task"
	FlagShots = "shots"
	// FlagShotsPath is the file the shots come from (prompts.shots_path).
	FlagShotsPath = "shots_path"
)

// Overrides are command-line changes to a grid.
type Overrides struct {
	Steps      []int   // --steps: replaces diffusion.steps
	BatchSizes []int   // --batch_size: replaces batch_size
	MaxPrompts int     // --max_prompts: replaces prompts.max_prompts
	PromptFile string  // --prompt_file: prompts from this file (source file)
	BERTScore  bool    // --compute_bertscore: sets quality.bertscore
	Delay      float64 // --delay: replaces delay (seconds)

	Models        []string // --model (repeated): replaces models, by id
	PromptLengths []int    // --prompt_length: replaces prompt_length
	GenLengths    []int    // --gen_length: replaces gen_length
	BlockLengths  []int    // --block_length: replaces diffusion.block_length
	Repetitions   int      // --repetitions: replaces repetitions
	Warmup        int      // --warmup: replaces warmup (0 is a value: needs Set)
	// Task (--task) gives the prompts from this task file (source task),
	// which quality.task then defaults to (Grid.QualityTask).
	Task string
	// Shots (--shots) replaces prompts.shots (0 is a value: needs Set);
	// the source must be a task, --task's or the grid's.
	Shots int
	// ShotsPath (--shots_path) replaces prompts.shots_path: the file whose
	// first problems are the shots (a training split).
	ShotsPath string
	// Set names the flags given on the command line (as flag.Visit lists
	// them, without dashes). When it is nil, the fields that are not zero
	// apply; when it is not, exactly the flags it names apply, so that a
	// flag given a zero value (--max_prompts 0) is rejected rather than
	// ignored and --compute_bertscore=false turns BERTScore off. Names of
	// other flags are ignored.
	Set map[string]bool
}

// given reports whether a flag applies.
func (o Overrides) given(flag string, nonZero bool) bool {
	if o.Set == nil {
		return nonZero
	}
	return o.Set[flag]
}

// Apply changes the grid by the overrides, after checking them as
// ParseGrid checks the file. On error, which names every bad flag, the grid
// is unchanged.
func (g *Grid) Apply(o Overrides) error {
	var errs []string
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	ints := func(flag string, vs []int) {
		if len(vs) == 0 {
			bad(flag, "no values: give at least one")
		}
		for i, v := range vs {
			if msg := atLeast(1)(v); msg != "" {
				bad(flag, "%s", msg)
			} else if slices.Index(vs, v) < i {
				bad(flag, "%d is listed twice", v)
			}
		}
	}
	steps := o.given(FlagSteps, len(o.Steps) > 0)
	batches := o.given(FlagBatchSize, len(o.BatchSizes) > 0)
	maxPrompts := o.given(FlagMaxPrompts, o.MaxPrompts != 0)
	promptFile := o.given(FlagPromptFile, o.PromptFile != "")
	bertScore := o.given(FlagBERTScore, o.BERTScore)
	delay := o.given(FlagDelay, o.Delay != 0)
	models := o.given(FlagModel, len(o.Models) > 0)
	promptLengths := o.given(FlagPromptLength, len(o.PromptLengths) > 0)
	genLengths := o.given(FlagGenLength, len(o.GenLengths) > 0)
	blockLengths := o.given(FlagBlockLength, len(o.BlockLengths) > 0)
	repetitions := o.given(FlagRepetitions, o.Repetitions != 0)
	warmup := o.Set[FlagWarmup]
	task := o.given(FlagTask, o.Task != "")
	shots := o.given(FlagShots, o.Shots != 0)
	shotsPath := o.given(FlagShotsPath, o.ShotsPath != "")
	var specs []ModelSpec
	if models {
		labels := map[string]string{}
		for _, id := range o.Models {
			m := ModelRef(strings.TrimSpace(id))
			if msg := m.problem(); msg != "" {
				bad(FlagModel, "%s", msg)
				continue
			}
			if other, dup := labels[m.Label()]; dup {
				bad(FlagModel, "%s and %s are both labelled %q: name them in a grid file", other, m.ID, m.Label())
				continue
			}
			labels[m.Label()] = m.ID
			specs = append(specs, m)
		}
		if len(o.Models) == 0 {
			bad(FlagModel, "no model: give a Hugging Face id, a directory or builtin:demo-llama")
		}
	}
	for _, l := range []struct {
		flag  string
		given bool
		vs    []int
	}{{FlagPromptLength, promptLengths, o.PromptLengths}, {FlagGenLength, genLengths, o.GenLengths}, {FlagBlockLength, blockLengths, o.BlockLengths}} {
		if l.given {
			ints(l.flag, l.vs)
		}
	}
	if repetitions {
		if msg := atLeast(1)(o.Repetitions); msg != "" {
			bad(FlagRepetitions, "%s", msg)
		}
	}
	if warmup {
		if msg := atLeast(0)(o.Warmup); msg != "" {
			bad(FlagWarmup, "%s", msg)
		}
	}
	if steps {
		ints(FlagSteps, o.Steps)
	}
	if batches {
		ints(FlagBatchSize, o.BatchSizes)
	}
	if maxPrompts {
		if msg := atLeast(1)(o.MaxPrompts); msg != "" {
			bad(FlagMaxPrompts, "%s", msg)
		}
	}
	if promptFile && strings.TrimSpace(o.PromptFile) == "" {
		bad(FlagPromptFile, "empty path")
	}
	if task && strings.TrimSpace(o.Task) == "" {
		bad(FlagTask, "empty path")
	} else if task && promptFile {
		bad(FlagTask, "and --%s both give the prompts: give one", FlagPromptFile)
	}
	if shots {
		if msg := atLeast(0)(o.Shots); msg != "" {
			bad(FlagShots, "%s", msg)
		} else if !task && (promptFile || g.Prompts.Source != "task") {
			bad(FlagShots, "shots are asked before the questions of a task: give --%s FILE (or a grid of prompts: {source: task})", FlagTask)
		}
	}
	if shotsPath {
		switch {
		case strings.TrimSpace(o.ShotsPath) == "":
			bad(FlagShotsPath, "empty path")
		case !task && (promptFile || g.Prompts.Source != "task"):
			bad(FlagShotsPath, "shots are asked before the questions of a task: give --%s FILE (or a grid of prompts: {source: task})", FlagTask)
		case !(shots && o.Shots > 0) && !(!shots && g.Prompts.Shots > 0):
			bad(FlagShotsPath, "no shots to take from it: give --%s N", FlagShots)
		}
	}
	if delay {
		if math.IsNaN(o.Delay) || math.IsInf(o.Delay, 0) {
			bad(FlagDelay, "want a finite number of seconds, have %g", o.Delay)
		} else if msg := delayRange(o.Delay); msg != "" {
			bad(FlagDelay, "%s", msg)
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	if steps {
		g.Diffusion.Steps = slices.Clone(o.Steps)
	}
	if batches {
		g.BatchSizes = slices.Clone(o.BatchSizes)
	}
	if maxPrompts {
		g.Prompts.MaxPrompts = o.MaxPrompts
	}
	if promptFile {
		// A grid's shots were the task source's.
		g.Prompts.Source, g.Prompts.Path, g.Prompts.Shots, g.Prompts.ShotsPath = "file", o.PromptFile, 0, ""
	}
	if task {
		// A task grid's shots and their file stay, as its other settings do.
		g.Prompts.Source, g.Prompts.Path = "task", o.Task
	}
	if shots {
		g.Prompts.Shots = o.Shots
	}
	if shotsPath {
		g.Prompts.ShotsPath = o.ShotsPath
	}
	if bertScore {
		g.Quality.BERTScore = o.BERTScore
	}
	if delay {
		g.Delay = o.Delay
	}
	if models {
		g.Models = specs
	}
	if promptLengths {
		g.PromptLengths = slices.Clone(o.PromptLengths)
	}
	if genLengths {
		g.GenLengths = slices.Clone(o.GenLengths)
	}
	if blockLengths {
		g.Diffusion.BlockLength = slices.Clone(o.BlockLengths)
	}
	if repetitions {
		g.Repetitions = o.Repetitions
	}
	if warmup {
		g.Warmup = o.Warmup
	}
	return nil
}
