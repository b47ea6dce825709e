package tokenizer

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// spec describes a small tokenizer.json for tests.
type spec struct {
	vocab        []string // ids in order
	merges       []string // "a b" form
	ignoreMerges bool
	unk          string
	fuseUnk      bool
	pre          any // pre_tokenizer; nil for none
	decoder      any
	added        []map[string]any
	post         any
}

func (s spec) json() []byte {
	vocab := map[string]int{}
	for i, v := range s.vocab {
		vocab[v] = i
	}
	model := map[string]any{"type": "BPE", "vocab": vocab, "merges": s.merges, "ignore_merges": s.ignoreMerges,
		"fuse_unk": s.fuseUnk, "dropout": nil, "byte_fallback": false}
	if s.merges == nil {
		model["merges"] = []string{}
	}
	if s.unk != "" {
		model["unk_token"] = s.unk
	}
	f := map[string]any{"version": "1.0", "model": model, "pre_tokenizer": s.pre, "decoder": s.decoder,
		"added_tokens": s.added, "post_processor": s.post, "normalizer": nil}
	data, err := json.Marshal(f)
	if err != nil {
		panic(err)
	}
	return data
}

func (s spec) load(t *testing.T) *Tokenizer {
	t.Helper()
	tk, err := FromJSON(s.json())
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// tokens maps ids back to vocabulary strings for readable diffs.
func tokens(tk *Tokenizer, ids []int) []string {
	var out []string
	for _, id := range ids {
		s, _ := tk.Token(id)
		out = append(out, s)
	}
	return out
}

func TestBPE(t *testing.T) {
	tests := []struct {
		spec spec
		text string
		want []string
	}{
		// The lowest rank merges first wherever it is: b+c (rank 0) before
		// a+b (rank 1), which then can no longer apply.
		{spec{vocab: []string{"a", "b", "c", "ab", "bc", "abc"}, merges: []string{"b c", "a b", "a bc"}},
			"abc", []string{"abc"}},
		{spec{vocab: []string{"a", "b", "c", "ab", "bc", "abc"}, merges: []string{"a b", "b c", "ab c"}},
			"abc", []string{"abc"}},
		{spec{vocab: []string{"a", "b", "c", "ab", "bc"}, merges: []string{"a b", "b c"}},
			"abc", []string{"ab", "c"}},
		// Equal pairs merge leftmost first.
		{spec{vocab: []string{"a", "aa"}, merges: []string{"a a"}}, "aaa", []string{"aa", "a"}},
		{spec{vocab: []string{"a", "aa"}, merges: []string{"a a"}}, "aaaaa", []string{"aa", "aa", "a"}},
		{spec{vocab: []string{"a", "aa", "aaaa"}, merges: []string{"a a", "aa aa"}}, "aaaaa", []string{"aaaa", "a"}},
		// ignore_merges: a piece found whole in the vocabulary is one token
		// even when the merges cannot build it.
		{spec{vocab: []string{"a", "b", "c", "abc"}, ignoreMerges: true}, "abc", []string{"abc"}},
		{spec{vocab: []string{"a", "b", "c", "abc"}}, "abc", []string{"a", "b", "c"}},
		// Characters missing from the vocabulary are dropped without an unk_token...
		{spec{vocab: []string{"a", "b"}}, "axb", []string{"a", "b"}},
		// ...and become unk with one, fused into one unk with fuse_unk.
		{spec{vocab: []string{"<unk>", "a"}, unk: "<unk>"}, "xya", []string{"<unk>", "<unk>", "a"}},
		{spec{vocab: []string{"<unk>", "a"}, unk: "<unk>", fuseUnk: true}, "xyaz", []string{"<unk>", "a", "<unk>"}},
		// Byte level: pieces are raw bytes, the vocabulary holds their
		// printable stand-ins (Ġ for a space, Ã© for é's two bytes).
		{spec{vocab: []string{"Ġ", "a", "Ã", "©", "Ġa", "Ã©"}, merges: []string{"Ġ a", "Ã ©"},
			pre: map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}},
			" aé", []string{"Ġa", "Ã©"}},
	}
	for _, tc := range tests {
		tk := tc.spec.load(t)
		got := tokens(tk, tk.Encode(tc.text, false))
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("vocab %v merges %v on %q (-want +got):\n%s", tc.spec.vocab, tc.spec.merges, tc.text, d)
		}
	}
}

// TestMergeFormats checks that "a b" strings and ["a", "b"] pairs load the
// same merges.
func TestMergeFormats(t *testing.T) {
	base := `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "c": 3, "abc": 4}, "merges": %s}}`
	var got [][]int
	for _, merges := range []string{`["a b", "ab c"]`, `[["a", "b"], ["ab", "c"]]`, `["#version: 0.2", "a b", "ab c"]`} {
		tk, err := FromJSON([]byte(fmt.Sprintf(base, merges)))
		if err != nil {
			t.Fatalf("merges %s: %v", merges, err)
		}
		got = append(got, tk.Encode("abcab", false))
	}
	want := [][]int{{4, 2}, {4, 2}, {4, 2}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
