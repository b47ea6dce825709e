package prompts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"dllmbench/internal/demo"
)

func TestParseFile(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []Doc
		err  string // the error, where one is wanted
	}{
		// Plain text: one prompt per non-empty line, blanks around dropped.
		{"plain", "first prompt\n\n  second prompt \r\nthird", []Doc{{Text: "first prompt"}, {Text: "second prompt"}, {Text: "third"}}, ""},
		// Lines ended by a lone carriage return, as classic Mac OS wrote
		// them, are lines, not one prompt.
		{"CR", "first prompt\rsecond prompt\r\rthird\r", []Doc{{Text: "first prompt"}, {Text: "second prompt"}, {Text: "third"}}, ""},
		// And in JSONL, where an error names the line as an editor counts it.
		{"CR jsonl", "{\"prompt\": \"a\"}\r{\"prompt\": \"b\"}\r{\"prompt\": 3}\r", nil, `prompts: p.txt:3: "prompt" is a JSON number, not a string`},
		// A line starting with '{' later on does not make a file JSONL.
		{"plain with brace", "a\n{b}\n", []Doc{{Text: "a"}, {Text: "{b}"}}, ""},
		// JSONL, decided by the first non-empty line; text kept verbatim,
		// reference optional.
		{"jsonl", "\n  \n{\"prompt\": \" The cat\", \"reference\": \" sat \"}\n\n{\"prompt\": \"x\"}\r\n", []Doc{{" The cat", " sat "}, {Text: "x"}}, ""},
		// A byte-order mark before the first line is not part of it.
		{"BOM", "\uFEFF{\"prompt\": \"x\"}\n", []Doc{{Text: "x"}}, ""},
		// An empty file.
		{"empty", "", nil, "prompts: p.txt: no prompts (the file is empty or blank)"},
		// Only blank lines.
		{"blank", " \n\r\n\t\n", nil, "prompts: p.txt: no prompts (the file is empty or blank)"},
		// A key other than prompt and reference.
		{"unknown key", "{\"prompt\": \"a\"}\n{\"prompt\": \"b\", \"answer\": \"c\"}\n", nil, `prompts: p.txt:2: unknown key "answer" (want "prompt" and optionally "reference")`},
		// A line that is not JSON.
		{"malformed", "{\"prompt\": \"a\"}\n\nplain text\n", nil, "prompts: p.txt:3: malformed JSON: invalid character 'p' looking for beginning of value"},
		// A line cut short.
		{"truncated", "{\"prompt\": \"a", nil, "prompts: p.txt:1: malformed JSON: unexpected EOF (read as JSONL: its first line starts with '{')"},
		// Plain text whose first line starts with a brace: the error says why
		// the file was read as JSONL.
		{"brace text", "{braces} open this line\nplain text\n", nil, "prompts: p.txt:1: malformed JSON: invalid character 'b' looking for beginning of object key string (read as JSONL: its first line starts with '{')"},
		// Two objects on one line.
		{"two values", "{\"prompt\": \"a\"} {\"prompt\": \"b\"}", nil, "prompts: p.txt:1: more than one JSON value on the line (read as JSONL: its first line starts with '{')"},
		// A reference that is not a string.
		{"number", "{\"prompt\": \"a\", \"reference\": 3}", nil, `prompts: p.txt:1: "reference" is a JSON number, not a string`},
		// An array where an object belongs.
		{"array", "{\"prompt\": \"a\"}\n[\"b\"]", nil, "prompts: p.txt:2: a JSON array, not an object"},
		// No prompt.
		{"no prompt", "{\"reference\": \"a\"}", nil, `prompts: p.txt:1: no "prompt"`},
		// An empty prompt.
		{"empty prompt", "{\"prompt\": \"\"}", nil, `prompts: p.txt:1: empty "prompt"`},
		// Bytes that are not UTF-8.
		{"latin-1", "caf\xe9\n", nil, "prompts: p.txt:1: not UTF-8 text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFile("p.txt", tt.text)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadFile reads a file through Load.
func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "prompts.jsonl")
	if err := os.WriteFile(p, []byte("{\"prompt\": \"a\", \"reference\": \"b\"}\n{\"prompt\": \"c\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	docs, org, err := Load(Options{Source: "file", Path: p, Max: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := Origin{Source: "file", From: "file", Path: p, Total: 2, Docs: 1, SHA256: Hash(docs)}
	if diff := cmp.Diff(want, org); diff != "" || len(docs) != 1 {
		t.Errorf("%d documents, origin (-want +got):\n%s", len(docs), diff)
	}
}

// TestBuiltin checks that builtin gives the demo pair's held-out prompts,
// every one with a reference.
func TestBuiltin(t *testing.T) {
	if demoPrompts != string(demo.Prompts()) {
		t.Error("data/demo-prompts.jsonl differs from the demo pair's held-out prompts (internal/demo/files/prompts.jsonl)")
	}
	docs, org, err := Load(Options{Source: "builtin"})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(demoPrompts, "\n"); len(docs) != n || org.Total != n || org.From != "embedded" {
		t.Errorf("%d documents from %+v, want %d", len(docs), org, n)
	}
	for _, d := range docs {
		if d.Text == "" || d.Reference == "" {
			t.Errorf("document %q", d)
		}
	}
}

// FuzzParseFile checks that any file gives documents with prompts, or an
// error on one line.
func FuzzParseFile(f *testing.F) {
	f.Add("a\nb\n")
	f.Add("{\"prompt\": \"a\", \"reference\": \"b\"}\n")
	f.Add("{\"prompt\": 1}\n{")
	f.Fuzz(func(t *testing.T, text string) {
		docs, err := parseFile("f", text)
		if err != nil {
			if strings.Contains(err.Error(), "\n") || len(docs) != 0 {
				t.Fatalf("error %q with %d documents", err, len(docs))
			}
			return
		}
		for _, d := range docs {
			if d.Text == "" {
				t.Fatal("an empty prompt")
			}
		}
	})
}
