package tokenizer

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// robertaFile is a hand-made tokenizer.json shaped like RoBERTa's
// (FacebookAI/roberta-large): the five special tokens first, ByteLevel
// pre-tokenizer and decoder, and the RobertaProcessing post-processor. Its
// merges make " hello" one token and " world" three (Ġwor l d).
const robertaFile = `{
  "version": "1.0",
  "added_tokens": [
    {"id": 0, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": true},
    {"id": 1, "content": "<pad>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": true},
    {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": true},
    {"id": 3, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": true},
    {"id": 20, "content": "<mask>", "single_word": false, "lstrip": true, "rstrip": false, "normalized": false, "special": true}
  ],
  "normalizer": null,
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
  "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": true, "add_prefix_space": true},
  "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
  "model": {
    "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "", "end_of_word_suffix": "",
    "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
    "vocab": {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "Ġ": 4, "h": 5, "e": 6, "l": 7, "o": 8, "w": 9,
      "r": 10, "d": 11, "Ġh": 12, "Ġw": 13, "ll": 14, "Ġhe": 15, "llo": 16, "Ġhello": 17, "or": 18, "Ġwor": 19},
    "merges": ["Ġ h", "Ġ w", "l l", "Ġh e", "ll o", "Ġhe llo", "o r", "Ġw or"]
  }
}`

func TestRobertaProcessing(t *testing.T) {
	tk, err := FromJSON([]byte(robertaFile))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text    string
		special bool
		want    []int
	}{
		// <s> A </s>, the prefix space making "hello" " hello".
		{"hello world", true, []int{0, 17, 19, 7, 11, 2}},
		{"hello world", false, []int{17, 19, 7, 11}},
		// A space already there is not doubled.
		{" hello", true, []int{0, 17, 2}},
		// The empty text still gets both special tokens.
		{"", true, []int{0, 2}},
		// Special tokens in the text are cut out first; <mask> takes the
		// space before it (lstrip).
		{"hello</s> hello <mask>", true, []int{0, 17, 2, 17, 20, 2}},
	}
	for _, tc := range tests {
		got := tk.Encode(tc.text, tc.special)
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("Encode(%q, %v) (-want +got):\n%s\ntokens %q", tc.text, tc.special, d, tokens(tk, got))
		}
	}
	pre, suf := tk.Template()
	if d := cmp.Diff([2][]int{{0}, {2}}, [2][]int{pre, suf}); d != "" {
		t.Errorf("Template (-want +got):\n%s", d)
	}
	if bos, _ := tk.BOS(); bos != 0 {
		t.Errorf("BOS = %d, want <s> (0)", bos)
	}
	if eos, _ := tk.EOS(); eos != 2 {
		t.Errorf("EOS = %d, want </s> (2)", eos)
	}
	if got := tk.Decode([]int{0, 17, 19, 7, 11, 2}, true); got != " hello world" {
		t.Errorf("Decode skipping specials = %q, want %q", got, " hello world")
	}
}

func TestRobertaProcessingErrors(t *testing.T) {
	tests := []struct {
		name, post, want string
	}{
		{"sep without id", `{"type": "RobertaProcessing", "sep": ["</s>"], "cls": ["<s>", 0]}`, `sep: want ["token", id]`},
		{"cls missing", `{"type": "RobertaProcessing", "sep": ["</s>", 2]}`, `cls: want ["token", id]`},
		{"id not a number", `{"type": "RobertaProcessing", "sep": ["</s>", "2"], "cls": ["<s>", 0]}`, `sep: want ["token", id]`},
		{"negative id", `{"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", -1]}`, `cls "<s>": id -1 out of range`},
	}
	start := strings.Index(robertaFile, `{"type": "RobertaProcessing"`)
	end := start + strings.Index(robertaFile[start:], "\n") - 1 // the line's trailing comma stays
	for _, tc := range tests {
		file := robertaFile[:start] + tc.post + robertaFile[end:]
		_, err := FromJSON([]byte(file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestUntypedModel loads a model written without "type", as the
// tokenizer.json files of roberta-base, roberta-large and gpt2 on the hub
// are (they predate the field; transformers PR 47837 names the RoBERTa
// ones). tokenizers' ModelWrapper then tries the models in turn, BPE first
// (models/mod.rs, ModelUntagged), and BPE takes any model with vocab and
// merges, so the file encodes as if it said "BPE".
func TestUntypedModel(t *testing.T) {
	untyped := strings.Replace(robertaFile, `"type": "BPE", `, "", 1)
	if untyped == robertaFile {
		t.Fatal(`robertaFile has no "type": "BPE" to remove`)
	}
	typed, err := FromJSON([]byte(robertaFile))
	if err != nil {
		t.Fatal(err)
	}
	tk, err := FromJSON([]byte(untyped))
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"hello world", "hello</s> hello <mask>"} {
		if d := cmp.Diff(typed.Encode(text, true), tk.Encode(text, true)); d != "" {
			t.Errorf("Encode(%q, true) (-typed +untyped):\n%s", text, d)
		}
	}
}
