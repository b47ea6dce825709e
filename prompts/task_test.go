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

// The task source makes one document per problem of its file: the
// question in lm-eval's gsm8k layout after the shots, the answer as its
// reference. The shots are the first of the shots' file, or of the same
// file less the question itself.
func TestLoadTask(t *testing.T) {
	const (
		test  = "../testdata/tasks/gsm8k-mini.jsonl"
		train = "../testdata/tasks/gsm8k-mini-train.jsonl"
	)
	tests, err := LoadProblems(test)
	if err != nil {
		t.Fatal(err)
	}
	trains, err := LoadProblems(train)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		o      Options
		shots  func(q string) []Problem // the shots wanted before q, in order
		origin string                   // Origin.String up to its counts
	}{
		// Two shots from the training file, the harness's layout.
		{"train", Options{Shots: 2, ShotsPath: train}, func(string) []Problem { return trains[:2] },
			"task: file " + test + ", 2 shots from " + train},
		// Without a file of shots, the first of the same file other than
		// the question: the first question's shots are the second and third.
		{"same file", Options{Shots: 2}, func(q string) []Problem {
			if q == tests[0].Question {
				return tests[1:3]
			}
			if q == tests[1].Question {
				return []Problem{tests[0], tests[2]}
			}
			return tests[:2]
		}, "task: file " + test + ", 2 shots from its own problems"},
		// Zero-shot: the question alone, in the layout.
		{"zero-shot", Options{}, func(string) []Problem { return nil }, "task: file " + test + ", 0 shots"},
		// As many shots as the training file has.
		{"all shots", Options{Shots: 8, ShotsPath: train}, func(string) []Problem { return trains }, "task: file " + test + ", 8 shots from " + train},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Source, tt.o.Path, tt.o.Seed = "task", test, 3
			docs, org, err := Load(tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) != len(tests) || org.Total != len(tests) || org.Docs != len(tests) || org.SHA256 != Hash(docs) {
				t.Fatalf("%d documents, origin %+v; want %d", len(docs), org, len(tests))
			}
			if want := tt.origin + ": 50 of 50 documents, sha256 " + org.SHA256; org.String() != want {
				t.Errorf("origin %q, want %q", org.String(), want)
			}
			if org.Shots == nil || *org.Shots != tt.o.Shots || org.ShotsPath != tt.o.ShotsPath || org.From != "file" || org.Path != test {
				t.Errorf("origin %+v", org)
			}
			byAnswer := map[string]Problem{}
			for _, p := range tests {
				byAnswer[p.Answer] = p
			}
			seen := map[string]bool{}
			for _, d := range docs {
				p, ok := byAnswer[d.Reference]
				if !ok || seen[p.Question] {
					t.Fatalf("reference %q is no problem's answer, or a second one's", d.Reference)
				}
				seen[p.Question] = true
				var want strings.Builder
				for _, s := range tt.shots(p.Question) {
					want.WriteString("Question: " + s.Question + "\nAnswer: " + s.Answer + "\n\n")
				}
				want.WriteString("Question: " + p.Question + "\nAnswer:")
				if d.Text != want.String() {
					t.Fatalf("prompt of %.30q:\n%q\nwant\n%q", p.Question, d.Text, want.String())
				}
			}
			// The documents are shuffled with the seed, as every source's.
			if docs[0].Reference == tests[0].Answer && docs[1].Reference == tests[1].Answer {
				t.Errorf("documents in the file's order: not shuffled")
			}
		})
	}
}

func TestLoadTaskErrors(t *testing.T) {
	const (
		test  = "../testdata/tasks/gsm8k-mini.jsonl"
		train = "../testdata/tasks/gsm8k-mini-train.jsonl"
	)
	dir := t.TempDir()
	write := writer(t, dir)
	broken := write("broken.jsonl", `{"question": "q", "answer": "#### 1"}`+"\n"+`{"question": "r", "answer": "2"}`+"\n")
	twice := write("twice.jsonl", `{"question": "q", "answer": "#### 1"}`+"\n"+`{"question": "q", "answer": "#### 1"}`+"\n"+`{"question": "r", "answer": "#### 2"}`+"\n")
	one := write("one.jsonl", `{"question": "q", "answer": "#### 1"}`+"\n")
	missing := filepath.Join(dir, "missing.jsonl")
	for _, tt := range []struct {
		name string
		o    Options
		want string
	}{
		// More shots than the training file holds.
		{"too many shots", Options{Source: "task", Path: test, Shots: 9, ShotsPath: train}, "prompts: 9 shots, but " + train + " has 8 problems"},
		{"one problem of shots", Options{Source: "task", Path: test, Shots: 2, ShotsPath: one}, "prompts: 2 shots, but " + one + " has 1 problem"},
		// From the same file, a question is never its own shot.
		{"too many from itself", Options{Source: "task", Path: test, Shots: 50},
			"prompts: 50 shots, but " + test + " has 50 problems and a question is never its own shot: at most 49 from it, or give a file of shots (shots_path)"},
		// A question the file holds twice has one shot fewer than the others.
		{"question twice", Options{Source: "task", Path: twice, Shots: 2},
			"prompts: " + twice + ": problem 1: few-shot prompt needs 2 shots, have 1 other than the question"},
		{"negative shots", Options{Source: "task", Path: test, Shots: -1}, "prompts: -1 shots (want ≥ 0)"},
		{"no path", Options{Source: "task"}, "prompts: source task needs a path"},
		// The task file's errors name its line, as quality's do.
		{"broken task", Options{Source: "task", Path: broken}, "prompts: " + broken + `:2: need a question and an answer with "#### "`},
		{"broken shots", Options{Source: "task", Path: test, Shots: 1, ShotsPath: broken}, "prompts: shots: " + broken + `:2: need a question and an answer with "#### "`},
		{"missing task", Options{Source: "task", Path: missing}, "prompts: open " + missing + ": no such file or directory"},
		// Shots belong to the task source only.
		{"shots for a file", Options{Source: "file", Path: test, Shots: 2}, "prompts: shots are for source task, not file"},
		{"shots file for wikitext", Options{ShotsPath: train}, "prompts: shots are for source task, not wikitext"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load(tt.o)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
