package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

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

// A document with its own reference (a JSONL prompt file, the builtin
// prompts) that is longer than the prompt keeps its last tokens, as
// lm-evaluation-harness truncates a context from the left, so that the
// reference still continues the text the model saw; a reference longer
// than gen_length is cut to its first G tokens, as the reference of a
// document without one is its next G tokens. Before, the prompt kept its
// first tokens (the builtin prompts, 32 tokens and a BOS, lost their last
// token in the default grid's 32) and the reference stayed whole (64
// tokens against 32 generated, a third of BLEU lost to its brevity penalty).
func TestCutPromptsWithReference(t *testing.T) {
	tok := demoTokenizer(t)
	docs, _, err := prompts.Load(prompts.Options{Source: "builtin"})
	if err != nil {
		t.Fatal(err)
	}
	const P, G = 16, 8
	ps, err := cutPrompts(docs, tok, P, G, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps.Texts) != len(docs) {
		t.Fatalf("%d prompts from %d documents", len(ps.Texts), len(docs))
	}
	for i, d := range docs {
		text, ref := ps.Texts[i], ps.Refs[i]
		if !strings.HasSuffix(d.Text, text) || len(tok.Encode(text, true)) != P {
			t.Errorf("prompt %d: %q (%d tokens with its BOS); want the last %d tokens of %q",
				i, text, len(tok.Encode(text, true)), P-1, d.Text)
		}
		if !strings.HasPrefix(d.Reference, ref) || len(tok.Encode(ref, false)) != G {
			t.Errorf("reference %d: %q (%d tokens); want the first %d tokens of %q", i, ref, len(tok.Encode(ref, false)), G, d.Reference)
		}
	}
	// Shorter than the cell's lengths: both kept whole.
	ps, err = cutPrompts(docs[:1], tok, 200, 200, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ps.Texts[0] != docs[0].Text || ps.Refs[0] != docs[0].Reference {
		t.Errorf("prompt %q and reference %q; want the document's own, whole", ps.Texts[0], ps.Refs[0])
	}
}

// A cut that falls inside a character (the demo tokenizer spells 日 and 語
// in three byte-level tokens) moves to the character's edge, and the
// reference starts where the prompt ends: the prompt and its reference are
// the document's own text, with no replacement character and no gap. Two
// paragraphs of the embedded WikiText subset were cut so for 32+32 tokens.
func TestCutPromptsWholeCharacters(t *testing.T) {
	tok := demoTokenizer(t)
	doc := strings.TrimSpace(strings.Repeat("日本語 ", 40))
	for P := 4; P <= 24; P++ { // from three tokens of text, one character's
		for _, d := range []prompts.Doc{{Text: doc}, {Text: doc, Reference: doc}} {
			ps, err := cutPrompts([]prompts.Doc{d}, tok, P, 7, 0)
			if err != nil {
				t.Fatal(err)
			}
			text, ref := ps.Texts[0], ps.Refs[0]
			whole := d.Reference == "" && strings.HasPrefix(doc, text+ref) ||
				d.Reference != "" && strings.HasSuffix(doc, text) && strings.HasPrefix(doc, ref)
			if !whole || strings.ContainsRune(text+ref, utf8.RuneError) {
				t.Errorf("P = %d, reference given %v: prompt %q, reference %q", P, d.Reference != "", text, ref)
			}
		}
	}
	wiki, _, err := prompts.Load(prompts.Options{Source: "wikitext", HubCache: t.TempDir()}) // the embedded subset
	if err != nil {
		t.Fatal(err)
	}
	ps, err := cutPrompts(wiki, tok, 32, 32, 0)
	if err != nil {
		t.Fatal(err)
	}
	j := 0
	for i := range ps.Texts {
		for !strings.HasPrefix(wiki[j].Text, ps.Texts[i]) {
			j++
		}
		if !strings.HasPrefix(wiki[j].Text, ps.Texts[i]+ps.Refs[i]) || strings.ContainsRune(ps.Refs[i], utf8.RuneError) {
			t.Errorf("prompt %q, reference %q: not the start of %.80q...", ps.Texts[i], ps.Refs[i], wiki[j].Text)
		}
		j++
	}
}

// Documents too short for a prompt and its reference are left out, and
// counted, so that a run can say how many prompts a cell got and why it is
// fewer than max_prompts.
func TestCutPromptsCountsSkipped(t *testing.T) {
	tok := demoTokenizer(t)
	long := strings.Repeat("a longer document, ", 20)
	docs := []prompts.Doc{{Text: "short"}, {Text: long}, {Text: "tiny"}, {Text: long + "again"}}
	tests := []struct {
		docs []prompts.Doc
		most int
		made int
		note string
	}{
		// Two long documents for four prompts: all four read, two left out.
		{docs, 4, 2, "prompt_length 16 (gen_length 8): 2 prompts, not the 4 of max_prompts: 2 documents of the source are shorter than 15+8 tokens (or blank) and left out"},
		// All the source's prompts, two of four documents left out.
		{docs, 0, 2, "prompt_length 16 (gen_length 8): 2 prompts: 2 documents of the source are shorter than 15+8 tokens (or blank) and left out"},
		// One prompt asked for and made: nothing to say.
		{docs, 1, 1, ""},
		// One prompt, one document left out: no plurals.
		{docs[1:3], 0, 1, "prompt_length 16 (gen_length 8): 1 prompt: 1 document of the source is shorter than 15+8 tokens (or blank) and left out"},
		// None left out, but the source (a short task or prompt file) has
		// fewer documents than max_prompts: said too. Before, nothing was.
		{[]prompts.Doc{docs[1], docs[3]}, 4, 2, "prompt_length 16 (gen_length 8): 2 prompts, not the 4 of max_prompts: the prompt source has 2 documents"},
		{[]prompts.Doc{{Text: "q", Reference: "a"}}, 3, 1, "prompt_length 16 (gen_length 8): 1 prompt, not the 3 of max_prompts: the prompt source has 1 document"},
		// All of a source's prompts asked for and made.
		{[]prompts.Doc{docs[1], docs[3]}, 0, 2, ""},
	}
	for _, tt := range tests {
		ps, err := cutPrompts(tt.docs, tok, 16, 8, tt.most)
		if err != nil {
			t.Fatal(err)
		}
		if note := ps.fewNote(16, 8, tt.most); len(ps.Texts) != tt.made || note != tt.note {
			t.Errorf("%d documents, most %d: %d prompts, note %q; want %d, %q", len(tt.docs), tt.most, len(ps.Texts), note, tt.made, tt.note)
		}
	}
}

// Few-shot task prompts longer than prompt_length keep their last tokens,
// so that a prompt loses its first shots, never its question, and the
// reference, the start of the answer, still follows it.
func TestCutPromptsTask(t *testing.T) {
	tok := demoTokenizer(t)
	docs, _, err := prompts.Load(prompts.Options{Source: "task", Path: "../testdata/tasks/gsm8k-mini.jsonl", Shots: 2,
		ShotsPath: "../testdata/tasks/gsm8k-mini-train.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	const P, G = 256, 16 // the longest question is 207 tokens, the shortest 2-shot prompt 346
	ps, err := cutPrompts(docs, tok, P, G, 0)
	if err != nil {
		t.Fatal(err)
	}
	cut := 0
	for i, d := range docs {
		text, ref := ps.Texts[i], ps.Refs[i]
		q := d.Text[strings.LastIndex(d.Text, "Question: "):]
		if !strings.HasSuffix(d.Text, text) || !strings.HasSuffix(text, q) || len(tok.Encode(text, true)) > P {
			t.Errorf("prompt %d: %q (%d tokens with its BOS); want at most the last %d tokens of %q, its question whole",
				i, text, len(tok.Encode(text, true)), P-1, d.Text)
		}
		if !strings.HasPrefix(d.Reference, ref) || len(tok.Encode(ref, false)) != G {
			t.Errorf("reference %d: %q; want the first %d tokens of %q", i, ref, G, d.Reference)
		}
		if text != d.Text {
			cut++
		}
	}
	if cut == 0 {
		t.Errorf("no 2-shot prompt is longer than %d tokens: the test cuts none", P)
	}
}
