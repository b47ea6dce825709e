package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"dllmbench/tokenizer/internal/pattern"
)

func loadTiny(t testing.TB) *Tokenizer {
	t.Helper()
	tk, err := Load(tinyFile)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestSplitBehaviors runs tokenizers' own example for the five delimiter
// behaviours ("the-final--countdown" split on "-", from the doc comment of
// SplitDelimiterBehavior), plus invert.
func TestSplitBehaviors(t *testing.T) {
	tests := []struct {
		behavior string
		invert   bool
		want     []string
	}{
		{"Removed", false, []string{"the", "final", "countdown"}},
		{"Isolated", false, []string{"the", "-", "final", "-", "-", "countdown"}},
		{"MergedWithPrevious", false, []string{"the-", "final-", "-", "countdown"}},
		{"MergedWithNext", false, []string{"the", "-final", "-", "-countdown"}},
		{"Contiguous", false, []string{"the", "-", "final", "--", "countdown"}},
		// Inverted, the words are the delimiters.
		{"Removed", true, []string{"-", "-", "-"}},
		{"MergedWithPrevious", true, []string{"the", "-final", "-", "-countdown"}},
	}
	for _, tc := range tests {
		s := spec{vocab: []string{"x"}, pre: map[string]any{"type": "Split", "pattern": map[string]string{"String": "-"},
			"behavior": tc.behavior, "invert": tc.invert}}
		got := s.load(t).PreTokenize("the-final--countdown")
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s invert=%v (-want +got):\n%s", tc.behavior, tc.invert, d)
		}
	}
}

func TestPreTokenizers(t *testing.T) {
	tests := []struct {
		name string
		pre  any
		text string
		want []string
	}{
		// Digits, tokenizers' own example: runs, or one digit each.
		{"digits", map[string]any{"type": "Digits", "individual_digits": false}, "Hey 123 friend!",
			[]string{"Hey ", "123", " friend!"}},
		{"individual digits", map[string]any{"type": "Digits", "individual_digits": true}, "Hey 123 friend!",
			[]string{"Hey ", "1", "2", "3", " friend!"}},
		// ByteLevel with its GPT-2 regex and a space added in front.
		{"byte level", map[string]any{"type": "ByteLevel", "add_prefix_space": true}, "Hello  world",
			[]string{" Hello", " ", " world"}},
		{"byte level, space already there", map[string]any{"type": "ByteLevel", "add_prefix_space": true}, " Hi",
			[]string{" Hi"}},
		// In a Sequence the prefix space goes before every piece so far.
		{"digits then prefix", map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Digits", "individual_digits": true},
			map[string]any{"type": "ByteLevel", "add_prefix_space": true, "use_regex": false}}},
			"a12", []string{" a", " 1", " 2"}},
		// Split with a regex, then byte level without its own regex.
		{"llama3", map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]string{"Regex": llama3Pattern}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}}},
			"I'M 12345\n\n", []string{"I", "'M", " ", "123", "45", "\n\n"}},
	}
	for _, tc := range tests {
		got := spec{vocab: []string{"x"}, pre: tc.pre}.load(t).PreTokenize(tc.text)
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s on %q (-want +got):\n%s", tc.name, tc.text, d)
		}
	}
}

// TestAddedTokens follows AddedVocabulary::find_matches: leftmost-longest,
// single_word, lstrip, rstrip, and raw tokens before normalized ones.
func TestAddedTokens(t *testing.T) {
	tok := func(content string, flags ...string) map[string]any {
		m := map[string]any{"content": content, "special": true, "normalized": false}
		for _, f := range flags {
			switch f {
			case "normalized":
				m["normalized"] = true
			case "plain":
				m["special"] = false
			default:
				m[f] = true
			}
		}
		return m
	}
	tests := []struct {
		name  string
		added []map[string]any
		text  string
		want  []string
	}{
		{"leftmost-longest", []map[string]any{tok("<a>"), tok("<a><b>"), tok("<b>")}, "x<a><b><b>y",
			[]string{"x", "<a><b>", "<b>", "y"}},
		{"leftmost wins over longer later", []map[string]any{tok("ab"), tok("bcd")}, "abcd",
			[]string{"ab", "c", "d"}},
		{"single_word inside a word", []map[string]any{tok("ab", "single_word")}, "xab ab ab_ (ab)",
			[]string{"x", "a", "b", " ", "ab", " ", "a", "b", "_", " ", "(", "ab", ")"}},
		{"lstrip takes the spaces before", []map[string]any{tok("<m>", "lstrip")}, "a  <m> b",
			[]string{"a", "  <m>", " ", "b"}},
		{"rstrip takes the spaces after", []map[string]any{tok("<m>", "rstrip")}, "a <m>\u3000 b",
			[]string{"a", " ", "<m>\u3000 ", "b"}},
		{"lstrip stops at the previous token", []map[string]any{tok("<m>", "lstrip", "rstrip")}, "<m>  <m>",
			[]string{"<m>  ", "<m>"}},
		{"raw token first, even to the right", []map[string]any{tok("bc"), tok("ab", "normalized", "plain")}, "abc",
			[]string{"a", "bc"}},
	}
	pre := map[string]any{"type": "Split", "pattern": map[string]string{"Regex": `\p{L}|\s+|.`}, "behavior": "Isolated", "invert": false}
	for _, tc := range tests {
		s := spec{vocab: []string{"x"}, pre: pre, added: tc.added}
		got := s.load(t).PreTokenize(tc.text)
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s on %q (-want +got):\n%s", tc.name, tc.text, d)
		}
	}
}

// TestAddedIDs checks tokenizers' id assignment: the id written in the file
// is not used; a token keeps its vocabulary id, otherwise takes the next id
// after the vocabulary.
func TestAddedIDs(t *testing.T) {
	s := spec{vocab: []string{"a", "b", "<s>"}, added: []map[string]any{
		{"id": 7, "content": "<x>", "special": true},
		{"id": 9, "content": "<s>", "special": true},
		{"id": 1, "content": "<y>", "special": false},
		{"id": 1, "content": "", "special": true},
	}}
	tk := s.load(t)
	got := map[string]int{}
	for _, c := range []string{"<x>", "<s>", "<y>", "a"} {
		id, ok := tk.TokenID(c)
		if !ok {
			t.Fatalf("TokenID(%q) missing", c)
		}
		got[c] = id
	}
	want := map[string]int{"<x>": 3, "<s>": 2, "<y>": 4, "a": 0}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int{2, 3}, tk.SpecialIDs()); d != "" {
		t.Errorf("SpecialIDs (-want +got):\n%s", d)
	}
	if n := tk.VocabSize(); n != 5 {
		t.Errorf("VocabSize = %d, want 5 (3 in the vocabulary, 2 added)", n)
	}
}

func TestDecode(t *testing.T) {
	bl := map[string]any{"type": "ByteLevel"}
	s := spec{vocab: []string{"a", "Ġ", "Ã", "©", "â", "Ĥ", "¬", "ð", "Ł", "Ĳ"}, decoder: bl,
		added: []map[string]any{{"content": "<|s|>", "special": true}, {"content": "<t>", "special": false},
			{"content": "x y", "special": false}}}
	tk := s.load(t)
	id := func(s string) int {
		i, ok := tk.TokenID(s)
		if !ok {
			t.Fatalf("no token %q", s)
		}
		return i
	}
	tests := []struct {
		name string
		ids  []int
		skip bool
		want string
	}{
		{"bytes back to text", []int{id("a"), id("Ġ"), id("Ã"), id("©")}, false, "a é"},
		// Broken UTF-8 becomes U+FFFD per maximal subpart, as Rust's
		// from_utf8_lossy: E2 82 and F0 9F 90 are unfinished sequences, one
		// U+FFFD each, and a lone 0xAC (¬ stands for it) is one of its own.
		{"truncated three-byte sequence", []int{id("â"), id("Ĥ"), id("a")}, false, "\ufffda"},
		{"stray continuation byte", []int{id("¬"), id("¬")}, false, "\ufffd\ufffd"},
		{"truncated four-byte sequence", []int{id("ð"), id("Ł"), id("Ĳ")}, false, "\ufffd"},
		// Added tokens decode as their content; special ones can be skipped.
		{"specials kept", []int{id("<|s|>"), id("a"), id("<t>")}, false, "<|s|>a<t>"},
		{"specials skipped", []int{id("<|s|>"), id("a"), id("<t>")}, true, "a<t>"},
		// A token with characters outside the byte alphabet (the space)
		// is copied as it is.
		{"content outside the alphabet", []int{id("x y")}, false, "x y"},
		// Unknown ids vanish.
		{"unknown ids", []int{-1, id("a"), 1 << 30}, false, "a"},
	}
	for _, tc := range tests {
		if got := tk.Decode(tc.ids, tc.skip); got != tc.want {
			t.Errorf("%s: Decode(%v) = %q, want %q", tc.name, tc.ids, got, tc.want)
		}
	}
	// Without a decoder tokenizers joins tokens with spaces.
	plain := spec{vocab: []string{"ab", "c"}}.load(t)
	if got := plain.Decode([]int{0, 1}, false); got != "ab c" {
		t.Errorf("no decoder: got %q, want %q", got, "ab c")
	}
	// A decoder that changes nothing, an empty Sequence, leaves the tokens
	// to Decoder::decode, which joins them with "" (decoders/sequence.rs,
	// tokenizer/mod.rs).
	empty := spec{vocab: []string{"ab", "c"}, decoder: map[string]any{"type": "Sequence", "decoders": []any{}}}.load(t)
	if got := empty.Decode([]int{0, 1}, false); got != "abc" {
		t.Errorf("empty Sequence decoder: got %q, want %q", got, "abc")
	}
}

// TestLossy checks the U+FFFD substitution of maximal subparts (Unicode
// standard, chapter 3, "U+FFFD Substitution of Maximal Subparts").
func TestLossy(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"a\xc0\xafb", "a\ufffd\ufffdb"},                                      // C0 never starts a sequence
		{"\xe0\x80\xaf", "\ufffd\ufffd\ufffd"},                                // E0 needs A0..BF next
		{"\xf4\x90\x80\x80", "\ufffd\ufffd\ufffd\ufffd"},                      // beyond U+10FFFF
		{"\xed\xa0\x80", "\ufffd\ufffd\ufffd"},                                // a surrogate
		{"\xe1\x80\xe2\xf0\x91\x92\xf1\xbf\x41", "\ufffd\ufffd\ufffd\ufffdA"}, // four cut-off prefixes
		{"ok\u00e9", "ok\u00e9"},
	}
	for _, tc := range tests {
		if got := lossy([]byte(tc.in)); got != tc.want {
			t.Errorf("lossy(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTiny(t *testing.T) {
	tk := loadTiny(t)
	bos, ok := tk.BOS()
	if !ok || bos != 956 {
		t.Fatalf("BOS() = %d, %v; want 956 from the template", bos, ok)
	}
	if pre, suf := tk.Template(); !slices.Equal(pre, []int{956}) || len(suf) != 0 {
		t.Errorf("Template() = %v, %v; want [956], []", pre, suf)
	}
	for _, text := range []string{"", "Hello world", "First Citizen:\nBefore we proceed any further, hear me speak.\n\n",
		"héllo 🤗 12345\t\ttabs\r\n", "<|mdm_mask|>masked<|end_of_text|>", "\u00a0\u3000\u200b\ufeff"} {
		plain := tk.Encode(text, false)
		withBOS := tk.Encode(text, true)
		if d := cmp.Diff(append([]int{956}, plain...), withBOS); d != "" {
			t.Errorf("%q: Encode(true) is not BOS + Encode(false) (-want +got):\n%s", text, d)
		}
		if got := tk.Decode(plain, false); got != text {
			t.Errorf("Decode(Encode(%q)) = %q", text, got)
		}
		want := strings.NewReplacer("<|mdm_mask|>", "", "<|end_of_text|>", "", "<|begin_of_text|>", "").Replace(text)
		if got := tk.Decode(withBOS, true); got != want {
			t.Errorf("Decode(Encode(%q, true), skip) = %q, want %q", text, got, want)
		}
	}
	// Special tokens in the text are single ids.
	mask, _ := tk.TokenID("<|mdm_mask|>")
	if got := tk.Encode("a<|mdm_mask|>b", false); !slices.Contains(got, mask) || !tk.IsSpecial(mask) {
		t.Errorf("Encode(a<|mdm_mask|>b) = %v, want %d in it and special", got, mask)
	}
	// AppendEncode appends.
	if got := tk.AppendEncode([]int{-5}, "Hi", true); got[0] != -5 || got[1] != 956 {
		t.Errorf("AppendEncode = %v, want -5, 956, ...", got)
	}
}

// TestLlamaCases uses the 46 texts llama.cpp tests LLaMA-3's tokenizer
// with. The vocabulary is not available, so it checks what the split
// alone decides: the pieces cover the text exactly, and there are no more
// pieces than LLaMA-3's ids (every piece becomes at least one token).
func TestLlamaCases(t *testing.T) {
	f, err := os.Open("../testdata/tokenizer/llama-bpe-cases.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := pattern.MustCompile(llama3Pattern)
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var c struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		n++
		var b strings.Builder
		ms := re.FindAll(nil, c.Text)
		prev := 0
		for _, m := range ms {
			if m[0] != prev {
				t.Errorf("%q: gap before %v", c.Text, m)
			}
			b.WriteString(c.Text[m[0]:m[1]])
			prev = m[1]
		}
		if b.String() != c.Text {
			t.Errorf("%q: pieces join to %q", c.Text, b.String())
		}
		if len(ms) > len(c.IDs) {
			t.Errorf("%q: %d pieces but LLaMA-3 gives %d ids", c.Text, len(ms), len(c.IDs))
		}
	}
	if n != 46 {
		t.Errorf("read %d cases, want 46", n)
	}
}

// TestConcurrent encodes from several goroutines; the results must equal
// the sequential ones (run with -race to check the scratch pool).
func TestConcurrent(t *testing.T) {
	tk := loadTiny(t)
	texts := []string{"one two three", "Before we proceed", "12345 678", "<|mdm_mask|> x", "ünïcödé"}
	want := make([][]int, len(texts))
	for i, s := range texts {
		want[i] = tk.Encode(s, true)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 200; k++ {
				i := k % len(texts)
				if got := tk.Encode(texts[i], true); !slices.Equal(got, want[i]) {
					errs <- texts[i]
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Errorf("concurrent Encode(%q) differs", s)
	}
}

// TestConfigDir loads a directory as transformers would, with LLaDA-8B's
// real tokenizer_config.json and its malformed special_tokens_map.json next
// to the tiny tokenizer.json (whose template adds <|begin_of_text|>).
func TestConfigDir(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, tinyFile, filepath.Join(dir, "tokenizer.json"))
	for _, f := range []string{"special_tokens_map.json", "tokenizer_config.json"} {
		copyFile(t, filepath.Join("../testdata/tokenizer/llada-8b-base", f), filepath.Join(dir, f))
	}
	tk, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The config's added tokens missing from tokenizer.json get ids after
	// the 959 known ones, in the config's id order: <|startoftext|> first.
	start, _ := tk.TokenID("<|startoftext|>")
	end, _ := tk.TokenID("<|endoftext|>")
	role, _ := tk.TokenID("</role>")
	mask, _ := tk.TokenID("<|mdm_mask|>")
	bos, _ := tk.BOS()
	eos, _ := tk.EOS()
	pad, _ := tk.Pad()
	got := []int{start, end, bos, eos, pad, mask}
	if d := cmp.Diff([]int{959, 960, 959, 960, 960, 958}, got); d != "" {
		t.Errorf("ids of <|startoftext|>, <|endoftext|>, BOS, EOS, pad, <|mdm_mask|> (-want +got):\n%s", d)
	}
	// The template of tokenizer.json stays whatever the config's
	// add_bos_token says: transformers 5 drops the flag when tokenizer.json
	// exists (the llada and gpt2 cases of testdata/tokenizer/golden show
	// it). So the text starts with the template's <|begin_of_text|> (956),
	// not the config's BOS.
	tmplBOS, _ := tk.TokenID("<|begin_of_text|>")
	want := append([]int{tmplBOS}, tk.Encode("Hi</role>", false)...)
	if got := tk.Encode("Hi</role>", true); !slices.Equal(got, want) || tmplBOS != 956 || got[len(got)-1] != role || role < 961 {
		t.Errorf("Encode(Hi</role>, true) = %v: want %v, <|begin_of_text|> (956) first and </role> (%d, a new id) last", got, want, role)
	}
	for _, flags := range []string{
		`"add_bos_token": false, "add_eos_token": true`,
		`"add_bos_token": true, "add_eos_token": true`, // asks for both: still the template
	} {
		cfg, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
		if err != nil {
			t.Fatal(err)
		}
		cfg = []byte(regexp.MustCompile(`"add_bos_token": \w+,\s*"add_eos_token": \w+`).ReplaceAllString(string(cfg), flags))
		if !strings.Contains(string(cfg), flags) {
			t.Fatalf("could not set %s in the config", flags)
		}
		if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		tk, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := tk.Encode("Hi</role>", true); !slices.Equal(got, want) {
			t.Errorf("with %s: Encode(Hi</role>, true) = %v, want %v as without", flags, got, want)
		}
	}
	// Without a post-processor in tokenizer.json the flags add nothing
	// either (the golden gpt2 tokenizer has add_bos_token and add_eos_token
	// true and only a ByteLevel post-processor; digits_prefix has none).
	// The config still says true and true from the loop above.
	data, err := os.ReadFile(tinyFile)
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	file["post_processor"] = nil
	data, err = json.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	tk, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, plain := tk.Encode("Hi", true), tk.Encode("Hi", false); !slices.Equal(got, plain) {
		t.Errorf("no post-processor, add_bos_token true: Encode(Hi, true) = %v, want %v", got, plain)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
