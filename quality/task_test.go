package quality

import (
	"regexp"
	"strings"
	"testing"

	"dllmbench/prompts"
)

func loadMini(t *testing.T) (test, train []prompts.Problem) {
	t.Helper()
	test, err := prompts.LoadProblems("../testdata/tasks/gsm8k-mini.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	train, err = prompts.LoadProblems("../testdata/tasks/gsm8k-mini-train.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return test, train
}

func TestMiniTask(t *testing.T) {
	test, train := loadMini(t)
	// testdata/tasks/README.md: the first 50 test and 8 train items.
	if len(test) != 50 || len(train) != 8 {
		t.Fatalf("%d test and %d train problems, want 50 and 8", len(test), len(train))
	}
	// GSM8K test line 1 (Janet's ducks) ends in "#### 18".
	if got := Normalize(test[0].Answer); got != "18" {
		t.Errorf("first answer normalises to %q, want 18", got)
	}
	// The gold solutions themselves are correct under both filters: the
	// strict one finds "#### n", the flexible one the last number, n.
	gens := make([]string, len(test))
	for i, p := range test {
		gens[i] = p.Answer
	}
	s := ScoreTask(gens, test, Bootstrap{})
	if s.Strict != (Interval{1, 1, 1}) || s.Flexible != (Interval{1, 1, 1}) {
		t.Errorf("gold answers score %+v", s)
	}
	// Every reference answer is a plain integer after normalisation.
	num := regexp.MustCompile(`^-?[0-9]+$`)
	for i, p := range test {
		if n := Normalize(p.Answer); !num.MatchString(n) {
			t.Errorf("problem %d: answer normalises to %q", i, n)
		}
	}
	// A test question never appears among its own shots.
	for _, p := range test {
		prompt, err := prompts.FewShot(train, 8, p.Question)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(prompt, p.Question) != 1 || strings.Count(prompt, "Question: ") != 9 {
			t.Fatalf("prompt for %q has the wrong shots:\n%s", p.Question, prompt)
		}
	}
}

func TestExtract(t *testing.T) {
	tests := []struct {
		gen              string
		strict, flexible string
	}{
		// A clean solution: both find 1,234.
		{"She earns 5 + 7 = 12.\n#### 1,234", "1,234", "1,234"},
		// Strict takes the first "#### n", flexible the last number.
		{"#### 3\nQuestion 2: 9 and then #### 4", "3", "4"},
		// No "#### ": strict fails; flexible takes "42." over the lone "3".
		{"I think 3 and then 42.", Invalid, "42."},
		// "$" counts in the flexible run; a lone digit is the fallback.
		{"It costs $18 and 7", Invalid, "7"},
		{"It costs $18", Invalid, "$18"},
		// Negative numbers, in both filters.
		{"#### -3.5", "-3.5", "-3.5"},
		// "####42" lacks the space the strict pattern needs.
		{"####42", Invalid, "42"},
		// Two-character runs of punctuation are numbers to the flexible filter.
		{"Done.. ok", Invalid, ".."},
		// Nothing numeric.
		{"no idea", Invalid, Invalid},
	}
	for _, tt := range tests {
		if got := ExtractStrict(tt.gen); got != tt.strict {
			t.Errorf("ExtractStrict(%q) = %q, want %q", tt.gen, got, tt.strict)
		}
		if got := ExtractFlexible(tt.gen); got != tt.flexible {
			t.Errorf("ExtractFlexible(%q) = %q, want %q", tt.gen, got, tt.flexible)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		// Commas and dollars go, then one trailing period.
		{"$1,234.", "1234"},
		// Everything through the last "#### " goes.
		{"Step 1\n#### 7\nfix\n#### 8", "8"},
		// Only one trailing period, and one before a final newline.
		{"5..", "5."},
		{"5.\n", "5\n"},
		// Lower-cased, as the harness's ignore_case asks.
		{Invalid, "[invalid]"},
		{"ABC", "abc"},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCut(t *testing.T) {
	tests := []struct{ in, want string }{
		// The earliest stop sequence wins, whichever it is.
		{" 4 + 4 = 8.\n#### 8\n\nQuestion: next</s>", " 4 + 4 = 8.\n#### 8\n\n"},
		{"a</s>b Question: c", "a"},
		{"no stop", "no stop"},
	}
	for _, tt := range tests {
		if got := Cut(tt.in); got != tt.want {
			t.Errorf("Cut(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestScoreTask(t *testing.T) {
	ps := []prompts.Problem{{Question: "a", Answer: "#### 18"}, {Question: "b", Answer: "#### 1,000"}, {Question: "c", Answer: "#### 5"}, {Question: "d", Answer: "#### 3"}}
	gens := []string{
		"9 * 2 = 18.\n#### 18",            // right under both
		"That makes $1000 in total.",      // no "####": flexible only
		"#### 4\nQuestion: c2\n#### 5",    // cut before the second question: wrong under both
		"The answer is 3.\n#### 3.</s>41", // the trailing period goes; "41" is cut
	}
	s := ScoreTask(gens, ps, Bootstrap{})
	if s.Strict.Value != 0.5 || s.Flexible.Value != 0.75 {
		t.Errorf("strict %v, flexible %v; want 0.5, 0.75", s.Strict.Value, s.Flexible.Value)
	}
}

func FuzzExtract(f *testing.F) {
	f.Add("The answer is $1,234.50.\n#### 1,234")
	f.Add("-.-,$$")
	f.Fuzz(func(t *testing.T, gen string) {
		num := regexp.MustCompile(`^-?[$0-9.,]+$`)
		for _, got := range []string{ExtractStrict(gen), ExtractFlexible(gen)} {
			if got != Invalid && !num.MatchString(got) {
				t.Fatalf("extracted %q from %q", got, gen)
			}
		}
		if c := Cut(gen); !strings.HasPrefix(gen, c) {
			t.Fatalf("Cut(%q) = %q is not a prefix", gen, c)
		}
	})
}
