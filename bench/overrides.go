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
)

// Overrides are command-line changes to a grid.
type Overrides struct {
	Steps      []int   // --steps: replaces diffusion.steps
	BatchSizes []int   // --batch_size: replaces batch_size
	MaxPrompts int     // --max_prompts: replaces prompts.max_prompts
	PromptFile string  // --prompt_file: prompts from this file (source file)
	BERTScore  bool    // --compute_bertscore: sets quality.bertscore
	Delay      float64 // --delay: replaces delay (seconds)
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
		g.Prompts.Source, g.Prompts.Path = "file", o.PromptFile
	}
	if bertScore {
		g.Quality.BERTScore = o.BERTScore
	}
	if delay {
		g.Delay = o.Delay
	}
	return nil
}
