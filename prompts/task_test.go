package prompts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadProblems(t *testing.T) {
	tests := []struct {
		in      string
		want    []Problem
		wantErr string
	}{
		// Two items, a blank line and CRLF endings, an extra field ignored.
		{"{\"question\":\"q1\",\"answer\":\"a\\n#### 1\"}\r\n\n{\"question\":\"q2\",\"answer\":\"#### 2\",\"id\":7}",
			[]Problem{{"q1", "a\n#### 1"}, {"q2", "#### 2"}}, ""},
		// Empty input: no problems, no error.
		{"", nil, ""},
		// A byte-order mark before the first line, as some editors write.
		{"\uFEFF{\"question\":\"q1\",\"answer\":\"#### 1\"}\n", []Problem{{"q1", "#### 1"}}, ""},
		// Broken JSON names its line.
		{"{\"question\":\"q\",\"answer\":\"#### 1\"}\n{\"question\":", nil, "task:2: unexpected end of JSON input"},
		// A field of the wrong type.
		{`{"question":7,"answer":"#### 7"}`, nil, "task:1: cannot unmarshal number into Go struct field Problem.question of type string"},
		// An answer without the GSM8K marker cannot be scored.
		{`{"question":"q","answer":"42"}`, nil, `task:1: need a question and an answer with "#### "`},
		// Nor can an item without a question.
		{`{"answer":"#### 42"}`, nil, `task:1: need a question and an answer with "#### "`},
	}
	for _, tt := range tests {
		got, err := ReadProblems(strings.NewReader(tt.in))
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ReadProblems(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ReadProblems(%q): %v", tt.in, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ReadProblems(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// A task file with no problems is a mistake (a wrong or truncated file),
// not a task on which no cell can score: LoadProblems refuses it, as the
// prompt files are refused.
func TestLoadProblemsEmpty(t *testing.T) {
	for _, in := range []string{"", " \n\r\n\t\n"} {
		path := filepath.Join(t.TempDir(), "task.jsonl")
		if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
			t.Fatal(err)
		}
		ps, err := LoadProblems(path)
		if want := path + ": no problems (the file is empty or blank)"; err == nil || err.Error() != want {
			t.Errorf("LoadProblems of %q: %v, %v; want the error %q", in, ps, err, want)
		}
	}
}

// A task file's error names it and the line, path:N, as the prompt
// files' do, on one line.
func TestLoadProblemsNamesLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "task.jsonl")
	if err := os.WriteFile(path, []byte("{\"question\":\"q\",\"answer\":\"#### 1\"}\r\n\r\n{\"question\": \"q2\", \"answer\": 2}\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadProblems(path)
	if want := path + ":3: cannot unmarshal number into Go struct field Problem.answer of type string"; err == nil || err.Error() != want {
		t.Errorf("LoadProblems: %v; want the error %q", err, want)
	}
}

func TestFewShot(t *testing.T) {
	shots := []Problem{{"1+1?", "2\n#### 2"}, {"2+2?", "#### 4"}, {"3+3?", "#### 6"}}
	tests := []struct {
		k        int
		question string
		want     string
		wantErr  bool
	}{
		// The harness's layout: "Question: q\nAnswer: a\n\n" per shot.
		{2, "5+5?", "Question: 1+1?\nAnswer: 2\n#### 2\n\nQuestion: 2+2?\nAnswer: #### 4\n\nQuestion: 5+5?\nAnswer:", false},
		// Zero-shot is the question alone.
		{0, "5+5?", "Question: 5+5?\nAnswer:", false},
		// The question itself is skipped among the shots.
		{2, "1+1?", "Question: 2+2?\nAnswer: #### 4\n\nQuestion: 3+3?\nAnswer: #### 6\n\nQuestion: 1+1?\nAnswer:", false},
		// Too few shots once the question is excluded.
		{3, "2+2?", "", true},
		{-1, "5+5?", "", true},
	}
	for _, tt := range tests {
		got, err := FewShot(shots, tt.k, tt.question)
		if (err != nil) != tt.wantErr {
			t.Errorf("FewShot(k=%d, %q) error %v, want error %v", tt.k, tt.question, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("FewShot(k=%d, %q) =\n%q\nwant\n%q", tt.k, tt.question, got, tt.want)
		}
	}
}

func FuzzReadProblems(f *testing.F) {
	f.Add(`{"question":"q","answer":"x\n#### 1"}` + "\n\n" + `{"question":"r","answer":"#### 2"}`)
	f.Add("{\"question\":")
	f.Add("\xff\n{}")
	f.Fuzz(func(t *testing.T, in string) {
		ps, err := ReadProblems(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.Question == "" || !strings.Contains(p.Answer, "#### ") {
				t.Fatalf("accepted %+v", p)
			}
		}
	})
}
