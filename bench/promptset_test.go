package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"dllmbench/internal/demo"
	"dllmbench/model"
	"dllmbench/prompts"
	"dllmbench/tokenizer"
)

func demoTokenizer(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	dir, err := demo.Dir("builtin:demo-llama")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// A prompt of P tokens is P tokens as the model sees it, its BOS included:
// a cell's prompt_length is the length of the sequence the model runs on
// (LLaDA's reference step over 128 + 128 tokens is 256 rows, not 257).
func TestCutPromptsCountBOS(t *testing.T) {
	tok := demoTokenizer(t)
	if _, ok := tok.BOS(); !ok {
		t.Fatal("the demo tokenizer adds no BOS: this test needs one")
	}
	docs, _, err := prompts.Load(prompts.Options{Source: "wikitext", HubCache: t.TempDir()}) // the embedded subset
	if err != nil {
		t.Fatal(err)
	}
	for _, P := range []int{1, 2, 16, 128} {
		ps, err := cutPrompts(docs, tok, P, 32, 8)
		if err != nil {
			t.Fatal(err)
		}
		want := max(P, 2) // at least one token of text
		for i, text := range ps.Texts {
			if n := len(tok.Encode(text, true)); n != want {
				t.Errorf("P = %d: prompt %d encodes to %d tokens with its BOS, want %d", P, i, n, want)
			}
		}
	}
}

// Prompts longer than every document fail with one line that says how
// long the longest is and where longer prompts come from.
func TestCutPromptsTooLong(t *testing.T) {
	tok := demoTokenizer(t)
	docs := []prompts.Doc{{Text: "a short document"}, {Text: strings.Repeat("a longer document, ", 20)}}
	longest := len(tok.Encode(docs[1].Text, false))
	// A prompt of longest+1 tokens is its BOS and longest−1 of text; with a
	// continuation of 2 it needs longest + 1 tokens of text.
	ps, err := cutPrompts(docs, tok, longest, 2, 0)
	if err == nil {
		t.Fatalf("prompt of %d + 2 tokens from documents of at most %d: no error, %d prompts", longest, longest, len(ps.Texts))
	}
	for _, want := range []string{"has " + strconv.Itoa(longest-1) + "+2 tokens", "the longest has " + strconv.Itoa(longest),
		"a prompt of " + strconv.Itoa(longest) + " less the 1 special", "source: file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error of several lines: %q", err)
	}
	if ps, err := cutPrompts(docs, tok, longest, 1, 0); err != nil || len(ps.Texts) != 1 {
		t.Errorf("prompt of %d + 1 tokens: %v, %v", longest, ps, err)
	}
}

// A tokenizer_config.json that asks transformers to clean up spaces (with
// the override it needs for a BPE model) changes the generations' text, as
// transformers' decode does, but not the prompts and references, which are
// the documents' own text cut at a token boundary.
func TestCleanUpSpacesGenerationsOnly(t *testing.T) {
	demoDir, err := demo.Dir("builtin:demo-llama")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(demoDir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := `{"clean_up_tokenization_spaces": true, "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output": true}`
	for name, b := range map[string][]byte{"tokenizer.json": data, "tokenizer_config.json": []byte(cfg)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	// WikiText's raw text has these spaces before punctuation.
	doc := strings.Repeat("The game 's story , as told , does n't end . ", 8)
	ps, err := cutPrompts([]prompts.Doc{{Text: doc}}, tok, 24, 16, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps.Texts) != 1 || !strings.HasPrefix(doc, ps.Texts[0]+ps.Refs[0]) || !strings.Contains(ps.Texts[0], " ,") {
		t.Errorf("prompt %q and reference %q: want the document's own text, its \" ,\" kept", ps.Texts, ps.Refs)
	}
	ids := tok.Encode("It 's over , is n't it ?", false)
	if got, want := textOf(tok, &model.Config{}, ids), "It's over, isn't it?"; got != want {
		t.Errorf("generated text %q, want %q as transformers' decode cleans it up", got, want)
	}
}
