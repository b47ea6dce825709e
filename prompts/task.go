package prompts

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
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

// readTask makes the documents of the task source: one per problem of
// o.Path, in the file's order, whose text is its question as
// lm-evaluation-harness's gsm8k task asks it with o.Shots solved problems
// before it ([FewShot]), and whose reference is its answer. The shots are
// the first of o.ShotsPath's problems (a training split), or without one
// the first of o.Path's other than the question. Asking for more shots
// than the file holds is an error, not fewer shots.
func readTask(o Options) ([]Doc, Origin, error) {
	if o.Path == "" {
		return nil, Origin{}, fmt.Errorf("prompts: source task needs a path")
	}
	if o.Shots < 0 {
		return nil, Origin{}, fmt.Errorf("prompts: %d shots (want ≥ 0)", o.Shots)
	}
	ps, err := LoadProblems(o.Path)
	if err != nil {
		return nil, Origin{}, fmt.Errorf("prompts: %w", err)
	}
	shots := ps
	if o.ShotsPath != "" {
		if shots, err = LoadProblems(o.ShotsPath); err != nil {
			return nil, Origin{}, fmt.Errorf("prompts: shots: %w", err)
		}
		if o.Shots > len(shots) {
			return nil, Origin{}, fmt.Errorf("prompts: %d shots, but %s has %s", o.Shots, o.ShotsPath, problems(len(shots)))
		}
	} else if o.Shots >= len(ps) {
		return nil, Origin{}, fmt.Errorf("prompts: %d shots, but %s has %s and a question is never its own shot: "+
			"at most %d from it, or give a file of shots (shots_path)", o.Shots, o.Path, problems(len(ps)), len(ps)-1)
	}
	docs := make([]Doc, len(ps))
	for i, p := range ps {
		text, err := FewShot(shots, o.Shots, p.Question)
		if err != nil {
			// Its question is among the shots' file more than once.
			return nil, Origin{}, fmt.Errorf("prompts: %s: problem %d: %v", o.Path, i+1, err)
		}
		docs[i] = Doc{Text: text, Reference: p.Answer}
	}
	k := o.Shots
	return docs, Origin{Source: "task", From: "file", Path: o.Path, Shots: &k, ShotsPath: o.ShotsPath}, nil
}

// problems is "1 problem" or "n problems".
func problems(n int) string {
	if n == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", n)
}
