package tokenizer

import (
	"os"
	"strings"
	"testing"
)

// model is a valid BPE model for building broken files around.
const model = `"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}`

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		json string
		want string
	}{
		{"not JSON", `{`,
			`tokenizer: tokenizer.json: invalid JSON at offset 1: unexpected end of JSON input`},
		{"wrong shape", `{"model": 5}`,
			`tokenizer: tokenizer.json: model: json: cannot unmarshal number into Go value of type tokenizer.modelJSON`},
		{"version", `{"version": "2.0", ` + model + `}`,
			`tokenizer: tokenizer.json: unknown version "2.0" (want 1.0)`},
		{"no model", `{"version": "1.0"}`,
			`tokenizer: tokenizer.json: model missing`},
		{"other model", `{"model": {"type": "WordPiece", "vocab": {}}}`,
			`tokenizer: tokenizer.json: model WordPiece: unsupported (only BPE is)`},
		// Without a type, vocab and merges make a BPE model (TestUntypedModel);
		// vocab alone is WordPiece or WordLevel to tokenizers.
		{"untyped model without merges", `{"model": {"vocab": {}}}`,
			`tokenizer: tokenizer.json: model: type missing and no merges, so not BPE (only BPE is supported)`},
		{"byte fallback", `{"model": {"type": "BPE", "byte_fallback": true, "vocab": {}, "merges": []}}`,
			`tokenizer: tokenizer.json: model BPE: byte_fallback unsupported`},
		{"dropout", `{"model": {"type": "BPE", "dropout": 0.1, "vocab": {}, "merges": []}}`,
			`tokenizer: tokenizer.json: model BPE: dropout 0.1 unsupported (encoding would be random)`},
		{"subword prefix", `{"model": {"type": "BPE", "continuing_subword_prefix": "##", "vocab": {}, "merges": []}}`,
			`tokenizer: tokenizer.json: model BPE: continuing_subword_prefix "##" unsupported`},
		{"no merges", `{"model": {"type": "BPE", "vocab": {}}}`,
			`tokenizer: tokenizer.json: model BPE: vocab or merges missing`},
		{"merge outside vocab", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a x"]}}`,
			`tokenizer: tokenizer.json: model BPE: merges[0]: "x" not in vocab`},
		{"merge result outside vocab", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]}}`,
			`tokenizer: tokenizer.json: model BPE: merges[0]: "ab" not in vocab`},
		{"three-part merge", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a a a"]}}`,
			`tokenizer: tokenizer.json: model BPE: merges[0]: "a a a" is not two tokens separated by one space`},
		{"one-part merge pair", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a"]]}}`,
			`tokenizer: tokenizer.json: model BPE: merges[0]: want 2 tokens, got 1`},
		{"negative id", `{"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}}`,
			`tokenizer: tokenizer.json: model BPE: vocab: id -1 of "a" out of range`},
		{"sparse ids", `{"model": {"type": "BPE", "vocab": {"a": 4000000000}, "merges": []}}`,
			`tokenizer: tokenizer.json: model BPE: vocab: ids too sparse (largest 4000000000 for 1 tokens)`},
		{"unk outside vocab", `{"model": {"type": "BPE", "unk_token": "<unk>", "vocab": {}, "merges": []}}`,
			`tokenizer: tokenizer.json: model BPE: unk_token "<unk>" not in vocab`},
		{"NFC", `{"normalizer": {"type": "NFC"}, ` + model + `}`,
			`tokenizer: tokenizer.json: normalizer NFC: unsupported (Unicode normalization needs tables the Go standard library lacks)`},
		{"lowercase in a sequence", `{"normalizer": {"type": "Sequence", "normalizers": [{"type": "Lowercase"}]}, ` + model + `}`,
			`tokenizer: tokenizer.json: normalizer Lowercase: unsupported (only null is)`},
		{"lookbehind", `{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\s+|\\p{N}++|(?<=a)b"}, "behavior": "Isolated", "invert": false}, ` + model + `}`,
			`tokenizer: tokenizer.json: pre_tokenizer Split: pattern: unsupported construct "(?<=" at offset 12`},
		{"bad behavior", `{"pre_tokenizer": {"type": "Split", "pattern": {"String": "x"}, "behavior": "Shuffled", "invert": false}, ` + model + `}`,
			`tokenizer: tokenizer.json: pre_tokenizer Split: behavior "Shuffled" unknown`},
		{"bad pattern kind", `{"pre_tokenizer": {"type": "Split", "pattern": {"Glob": "x"}, "behavior": "Isolated"}, ` + model + `}`,
			`tokenizer: tokenizer.json: pre_tokenizer Split: pattern must be {"Regex": ...} or {"String": ...}`},
		{"metaspace", `{"pre_tokenizer": {"type": "Metaspace"}, ` + model + `}`,
			`tokenizer: tokenizer.json: pre_tokenizer Metaspace: unsupported`},
		{"split after byte level", `{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "Digits"}]}, ` + model + `}`,
			`tokenizer: tokenizer.json: pre_tokenizer Digits after ByteLevel: unsupported`},
		{"decoder", `{"decoder": {"type": "WordPiece"}, ` + model + `}`,
			`tokenizer: tokenizer.json: decoder WordPiece: unsupported (only ByteLevel is)`},
		{"post processor", `{"post_processor": {"type": "BertProcessing"}, ` + model + `}`,
			`tokenizer: tokenizer.json: post_processor BertProcessing: unsupported (only TemplateProcessing, RobertaProcessing, ByteLevel and Sequence are)`},
		{"template without its token", `{"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {}}, ` + model + `}`,
			`tokenizer: tokenizer.json: post_processor TemplateProcessing: single[0]: special token "<s>" missing from special_tokens`},
		{"template with B", `{"post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "B", "type_id": 0}}], "special_tokens": {}}, ` + model + `}`,
			`tokenizer: tokenizer.json: post_processor TemplateProcessing: single[0]: sequence "B" unsupported (only A)`},
		{"added token without content", `{"added_tokens": [{"id": 3, "special": true}], ` + model + `}`,
			`tokenizer: tokenizer.json: added_tokens[0]: content missing`},
	}
	for _, tc := range tests {
		_, err := FromJSON([]byte(tc.json))
		if err == nil {
			t.Errorf("%s: loaded, want error %s", tc.name, tc.want)
			continue
		}
		if got := err.Error(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", tc.name, err)
		}
	}
}

func TestLoadPaths(t *testing.T) {
	if _, err := Load("../testdata/tokenizer/no-such-dir"); err == nil || !strings.HasPrefix(err.Error(), "tokenizer: stat ") {
		t.Errorf("missing path: err = %v, want a stat error", err)
	}
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "tokenizer.json") {
		t.Errorf("directory without tokenizer.json: err = %v", err)
	}
	copyFile(t, tinyFile, dir+"/tokenizer.json")
	if err := os.WriteFile(dir+"/tokenizer_config.json", []byte("{oops"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	want := "tokenizer: " + dir + "/tokenizer_config.json: invalid JSON at offset 2: invalid character 'o' looking for beginning of object key string"
	if err == nil || err.Error() != want {
		t.Errorf("bad config:\n got %v\nwant %s", err, want)
	}
}
