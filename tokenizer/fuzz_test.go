package tokenizer

import (
	"os"
	"testing"
	"unicode/utf8"
)

// FuzzLoad feeds arbitrary bytes to FromJSON: it may refuse them, with an
// error, but must not panic, and what it accepts must encode and decode.
func FuzzLoad(f *testing.F) {
	tiny, err := os.ReadFile(tinyFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tiny)
	for _, s := range []string{
		`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}`,
		`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]], "ignore_merges": true, "unk_token": "a", "fuse_unk": true},
		  "added_tokens": [{"id": 9, "content": "<s>", "special": true, "lstrip": true, "rstrip": true, "single_word": true}],
		  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true},
		    {"type": "Split", "pattern": {"Regex": "\\s+(?!\\S)|(?i:ab)+|."}, "behavior": "MergedWithNext", "invert": true},
		    {"type": "ByteLevel", "add_prefix_space": true, "use_regex": true}]},
		  "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
		    "special_tokens": {"<s>": {"id": "<s>", "ids": [9], "tokens": ["<s>"]}}},
		  "decoder": {"type": "ByteLevel"}}`,
		`{"model": {"type": "BPE", "vocab": {"a": 4294967295}, "merges": []}}`,
		`{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "Split", "pattern": {"String": ""}, "behavior": "Contiguous", "invert": false}}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := FromJSON(data)
		if err != nil {
			return
		}
		for _, s := range []string{"", "ab a<s>b 12 \n\n", "\xff\xfe<s>"} {
			ids := tk.Encode(s, true)
			_ = tk.Decode(ids, false)
			_ = tk.Decode(ids, true)
			_ = tk.PreTokenize(s)
		}
		_ = tk.VocabSize()
		_ = tk.String()
	})
}

// FuzzRoundTrip checks that decoding gives back the text, for any valid
// UTF-8, on a byte-level tokenizer whose vocabulary holds every byte.
func FuzzRoundTrip(f *testing.F) {
	tk := loadTiny(f)
	for _, s := range []string{"", "Hello world", "I'M 12345\n\n\t x", "é e\u0301 🤗 \u00a0\u3000",
		"<|begin_of_text|>a<|mdm_mask|>", "'s'S'll'LL", "\r\n\r\n   "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := tk.Encode(s, false)
		if !utf8.ValidString(s) {
			return
		}
		if got := tk.Decode(ids, false); got != s {
			t.Fatalf("Decode(Encode(%q)) = %q (ids %v)", s, got, ids)
		}
	})
}
