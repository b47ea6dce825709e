package bench

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"dllmbench/internal/demo"
	"dllmbench/prompts"
	"dllmbench/tokenizer"
)

// Prompts longer than every document fail with one line that says how
// long the longest is and where longer prompts come from.
func TestCutPromptsTooLong(t *testing.T) {
	dir, err := demo.Dir("builtin:demo-llama")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	docs := []prompts.Doc{{Text: "a short document"}, {Text: strings.Repeat("a longer document, ", 20)}}
	longest := len(tok.Encode(docs[1].Text, false))
	ps, err := cutPrompts(docs, tok, longest, 1, 0)
	if err == nil {
		t.Fatalf("prompt of %d + 1 tokens from documents of at most %d: no error, %d prompts", longest, longest, len(ps.Texts))
	}
	for _, want := range []string{"has " + strconv.Itoa(longest) + "+1 tokens", "the longest has " + strconv.Itoa(longest), "source: file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error of several lines: %q", err)
	}
	if ps, err := cutPrompts(docs, tok, longest-1, 1, 0); err != nil || len(ps.Texts) != 1 {
		t.Errorf("prompt of %d + 1 tokens: %v, %v", longest-1, ps, err)
	}
}
