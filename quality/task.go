package quality

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Problem is one item of a GSM8K-style task.
type Problem struct {
	Question string `json:"question"`
	Answer   string `json:"answer"` // worked solution whose last line is "#### <number>"
}

// ReadProblems reads a JSONL task: one {"question": …, "answer": …} object a
// line, blank lines skipped, other fields ignored, a UTF-8 byte-order mark
// before the first line too. Every answer must contain "#### ", the GSM8K
// marker of the final answer. Errors name the line, "task:N: …".
func ReadProblems(r io.Reader) ([]Problem, error) {
	return readProblems("task", r)
}

// readProblems is ReadProblems with errors that name name:line.
func readProblems(name string, r io.Reader) ([]Problem, error) {
	var ps []Problem
	br := bufio.NewReader(r)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\uFEFF")) // a byte-order mark some editors write
		}
		if t := bytes.TrimSpace(b); len(t) > 0 {
			var p Problem
			if jerr := json.Unmarshal(t, &p); jerr != nil {
				return nil, fmt.Errorf("%s:%d: %s", name, line, strings.TrimPrefix(jerr.Error(), "json: "))
			}
			if p.Question == "" || !strings.Contains(p.Answer, "#### ") {
				return nil, fmt.Errorf("%s:%d: need a question and an answer with \"#### \"", name, line)
			}
			ps = append(ps, p)
		}
		if err == io.EOF {
			return ps, nil
		}
	}
}

// LoadProblems reads the JSONL task file at path (see [ReadProblems]); a
// file without problems is an error. Errors name path:line.
func LoadProblems(path string) ([]Problem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ps, err := readProblems(path, f)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%s: no problems (the file is empty or blank)", path)
	}
	return ps, nil
}

// FewShot builds lm-evaluation-harness's gsm8k prompt for question with k
// solved examples:
//
//	Question: {shot question}\nAnswer: {shot answer}\n\n   (k times)
//	Question: {question}\nAnswer:
//
// The shots are the first k of shots whose question differs from question,
// so a test item never sees itself; take shots from the training split.
// (The harness draws its shots at random from the training split with seed
// 1234; first-k keeps prompts stable across runs and cells.) It fails if
// fewer than k shots qualify or k < 0.
func FewShot(shots []Problem, k int, question string) (string, error) {
	if k < 0 {
		return "", fmt.Errorf("few-shot prompt with %d shots", k)
	}
	var b strings.Builder
	n := 0
	for _, s := range shots {
		if n == k {
			break
		}
		if s.Question == question {
			continue
		}
		fmt.Fprintf(&b, "Question: %s\nAnswer: %s\n\n", s.Question, s.Answer)
		n++
	}
	if n < k {
		return "", fmt.Errorf("few-shot prompt needs %d shots, have %d other than the question", k, n)
	}
	fmt.Fprintf(&b, "Question: %s\nAnswer:", question)
	return b.String(), nil
}

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
func ScoreTask(gens []string, problems []Problem, b Bootstrap) TaskScores {
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
