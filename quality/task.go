package quality

import (
	"fmt"
	"regexp"
	"strings"

	"dllmbench/prompts"
)

// Stop lists the harness's gsm8k stop sequences ("until").
var Stop = []string{"Question:", "</s>", "<|im_end|>"}

// Cut returns gen up to the first occurrence of any [Stop] sequence, as the
// harness cuts a generation; a diffusion model fills its whole canvas, so its
// output needs the same cut after the fact.
func Cut(gen string) string {
	for _, s := range Stop {
		if i := strings.Index(gen, s); i >= 0 {
			gen = gen[:i]
		}
	}
	return gen
}

// Invalid is what extraction yields when no answer is found, as in the
// harness; it never matches a numeric answer.
const Invalid = "[invalid]"

// The harness's gsm8k filters (lm_eval/tasks/gsm8k/gsm8k.yaml).
var (
	strictRE   = regexp.MustCompile(`#### (-?[0-9.,]+)`)
	flexibleRE = regexp.MustCompile(`(-?[$0-9.,]{2,})|(-?[0-9]+)`)
)

// ExtractStrict returns the number after the first "#### " in gen, the
// harness's "strict-match" filter, or Invalid.
func ExtractStrict(gen string) string {
	m := strictRE.FindStringSubmatch(gen)
	if m == nil {
		return Invalid
	}
	return m[1]
}

// ExtractFlexible returns the last number-like run in gen, the harness's
// "flexible-extract" filter: runs of at least two of "-$0123456789.,"
// (a leading minus only), else a lone digit; or Invalid.
func ExtractFlexible(gen string) string {
	ms := flexibleRE.FindAllStringSubmatch(gen, -1)
	if ms == nil {
		return Invalid
	}
	m := ms[len(ms)-1]
	if m[1] != "" {
		return m[1]
	}
	return m[2]
}

// Normalize applies the harness's gsm8k exact-match normalisation, in its
// order: delete every "," and "$", delete everything through the last
// "#### ", delete one "." at the end (or before a final newline, as Python's
// "$" allows), lower-case.
func Normalize(s string) string {
	s = strings.ReplaceAll(s, ",", "")
	s = strings.ReplaceAll(s, "$", "")
	if i := strings.LastIndex(s, "#### "); i >= 0 {
		s = s[i+len("#### "):]
	}
	if t, ok := strings.CutSuffix(s, ".\n"); ok {
		s = t + "\n"
	} else {
		s = strings.TrimSuffix(s, ".")
	}
	return strings.ToLower(s)
}

// Correct reports whether an extracted answer matches the reference answer
// after both are normalised.
func Correct(extracted, answer string) bool {
	return Normalize(extracted) == Normalize(answer)
}

// TaskScores holds the accuracies of a cell on a GSM8K-style task.
type TaskScores struct {
	Strict   Interval // fraction correct with ExtractStrict
	Flexible Interval // fraction correct with ExtractFlexible
}

// ScoreTask scores a cell's generations gens against problems, resampling
// prompts with b. Each generation is [Cut] first. It panics if the lengths
// differ.
func ScoreTask(gens []string, problems []prompts.Problem, b Bootstrap) TaskScores {
	if len(gens) != len(problems) {
		panic(fmt.Sprintf("quality: %d generations for %d problems", len(gens), len(problems)))
	}
	strict := make([]float64, len(gens))
	flex := make([]float64, len(gens))
	for i, g := range gens {
		g = Cut(g)
		if Correct(ExtractStrict(g), problems[i].Answer) {
			strict[i] = 1
		}
		if Correct(ExtractFlexible(g), problems[i].Answer) {
			flex[i] = 1
		}
	}
	return TaskScores{Strict: b.Mean(strict), Flexible: b.Mean(flex)}
}
