package pattern

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// pieces runs FindAll and returns the matched substrings.
func pieces(t *testing.T, expr, text string) []string {
	t.Helper()
	re, err := Compile(expr)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	var out []string
	for _, m := range re.FindAll(nil, text) {
		out = append(out, text[m[0]:m[1]])
	}
	return out
}

func TestConstructs(t *testing.T) {
	tests := []struct {
		expr, text string
		want       []string
	}{
		// Alternation is ordered: the first branch that matches wins, even
		// when a later one would match more.
		{`a|ab`, "ab", []string{"a"}},
		{`ab|a`, "ab", []string{"ab"}},
		// Greedy, lazy and counted repetition.
		{`a+`, "aaa", []string{"aaa"}},
		{`a+?`, "aaa", []string{"a", "a", "a"}},
		{`a*?b`, "aab", []string{"aab"}},
		{`a{2,3}`, "aaaaaaa", []string{"aaa", "aaa"}},
		{`a{2}`, "aaaaa", []string{"aa", "aa"}},
		{`a{2,}`, "a aa aaaa", []string{"aa", "aaaa"}},
		{`a{,2}`, "aaa", []string{"aa", "a"}},
		{`a{1,3}?`, "aaa", []string{"a", "a", "a"}},
		{`\p{N}{1,3}`, "1234567", []string{"123", "456", "7"}},
		{`(?:ab){2}`, "ababab", []string{"abab"}},
		{`(?:ab|cd){1,2}`, "abcdab", []string{"abcd", "ab"}},
		// A '{' that starts no valid interval is a literal.
		{`a{x}`, "a{x}", []string{"a{x}"}},
		{`a{`, "a{", []string{"a{"}},
		// Possessive quantifiers never give back what they took.
		{`a++a`, "aaaa", nil},
		{`x?+x`, "x x", nil},
		{`x?x`, "x x", []string{"x", "x"}},
		{`a*+b|a`, "aab aa", []string{"aab", "a", "a"}},
		{`[^\r\n\p{L}]?+\p{L}+`, "'hello", []string{"'hello"}},
		// An atomic group commits to its first success.
		{`(?>a|ab)c`, "abc ac", []string{"ac"}},
		{`(?:a|ab)c`, "abc ac", []string{"abc", "ac"}},
		// Lookahead.
		{`\s+(?!\S)`, "a   b", []string{"  "}},
		{`\w+(?=,)`, "ab,cd", []string{"ab"}},
		{`(?=a)\w`, "ba", []string{"a"}},
		{`(?!a)\w`, "ab", []string{"b"}},
		// Plain, named and comment groups match alike; nothing is captured.
		{`(ab)+`, "ababa", []string{"abab"}},
		{`(?<word>ab)c`, "abc", []string{"abc"}},
		{`a(?#comment)b`, "ab", []string{"ab"}},
		// (?i) folds with Unicode simple case folding: ſ is an s, the
		// Kelvin sign a k, and title-case ǅ joins Ǆ and ǆ.
		{`(?i:'s)`, "'S 's 'ſ 'x", []string{"'S", "'s", "'ſ"}},
		{`(?i:k)`, "kK\u212a", []string{"k", "K", "\u212a"}},
		{`(?i:[sdmt])`, "SDMTſx", []string{"S", "D", "M", "T", "ſ"}},
		{`(?i:ǅ)`, "ǄǅǆDž", []string{"Ǆ", "ǅ", "ǆ"}},
		{`(?i:σ)`, "Σσς", []string{"Σ", "σ", "ς"}},
		{`(?i:[^a])`, "aAb", []string{"b"}},
		{`(?i:a)b`, "AB Ab", []string{"Ab"}},
		{`(?i:a(?-i:b))`, "AB Ab", []string{"Ab"}},
		// An isolated (?i) covers the rest of its group, later branches
		// included: a(?i)b|c is a(?i:b|c) in Oniguruma.
		{`(?i)ab|cd`, "AB CD", []string{"AB", "CD"}},
		{`a(?i)b|c`, "aB C aC", []string{"aB", "aC"}},
		// Classes: ranges, negation, nested classes, intersection, a
		// leading ']' or '-' as literals.
		{`[a-c]+`, "abcd", []string{"abc"}},
		{`[^a-c]+`, "abcd\n", []string{"d\n"}},
		{`[\p{L}&&[^aeiou]]+`, "hello", []string{"h", "ll"}},
		{`[a[0-9]]+`, "a1b2", []string{"a1", "2"}},
		{`[-a]+`, "a-b", []string{"a-"}},
		{`[a-]+`, "a-b", []string{"a-"}},
		{`[]a]+`, "]a", []string{"]a"}},
		{`[\x41-\x43]+`, "ABCD", []string{"ABC"}},
		{`[\s\p{N}]+`, "a 1\u00a02b", []string{" 1\u00a02"}},
		// Unicode properties.
		{`\p{L}+`, "héllo wörld 中文", []string{"héllo", "wörld", "中文"}},
		{`\p{N}+`, "a1½Ⅻ٣", []string{"1½Ⅻ٣"}},
		{`\P{L}+`, "ab12cd", []string{"12"}},
		{`\p{^L}+`, "ab12cd", []string{"12"}},
		{`\pL+`, "ab1", []string{"ab"}},
		{`\p{Lu}`, "aBcÉ", []string{"B", "É"}},
		{`\p{Uppercase_Letter}`, "aB", []string{"B"}},
		{`\p{lowercase letter}+`, "aB", []string{"a"}},
		{`\p{Han}+`, "a中文b", []string{"中文"}},
		{`\p{Cn}`, "a\u0378", []string{"\u0378"}},
		{`\p{C}`, "a\u0378\u200b", []string{"\u0378", "\u200b"}},
		{`\p{M}`, "e\u0301", []string{"\u0301"}},
		// \d is Nd only, \w adds letters, marks and connectors, \h is hex.
		{`\d+`, "12٣4x½", []string{"12٣4"}},
		{`\w+`, "héllo_wörld a1 e\u0301 !", []string{"héllo_wörld", "a1", "e\u0301"}},
		{`\W+`, "a, b", []string{", "}},
		// Outside brackets \w, \W and \b read Oniguruma's Latin-1 table, where
		// ¹ ² ³ ¼ ½ ¾ are word characters; [\w] and \p{Word} use the Word
		// ranges, where they are not (edge_anchors and edge_classes in
		// testdata/tokenizer/golden/patterns.json).
		{`\w+`, "59½1 x²", []string{"59½1", "x²"}},
		{`\W`, "½ ×", []string{" ", "×"}},
		{`[\w]+`, "59½1", []string{"59", "1"}},
		{`[^\w\s]`, "a½b", []string{"½"}},
		{`\p{Word}+`, "a¾b", []string{"a", "b"}},
		{`\b.`, " ½", []string{"½"}},
		{`\B.`, "a½", []string{"½"}},
		{`\h+`, "0fG", []string{"0f"}},
		{`\D+`, "a1b", []string{"a", "b"}},
		// '.' skips only '\n'; (?m) makes it take '\n' too.
		{`.`, "a\r\nb", []string{"a", "\r", "b"}},
		{`(?m:.)+`, "a\nb", []string{"a\nb"}},
		// ^ and $ are line anchors ('\n' only); \A \z \Z are text anchors.
		{`^a`, "a\na", []string{"a", "a"}},
		{`a$`, "a\na", []string{"a", "a"}},
		{`a$`, "a\r\n", nil},
		{`\Aa`, "a\na", []string{"a"}},
		{`a\z`, "a\na", []string{"a"}},
		{`a\Z`, "a\n", []string{"a"}},
		{`\bab\b`, "ab abc ab", []string{"ab", "ab"}},
		{`\Bb`, "ab b", []string{"b"}},
		// Escapes for single characters.
		{`\x41\x{1F600}\u00e9`, "A😀é", []string{"A😀é"}},
		{`\t\n\r\f\v\a\e`, "\t\n\r\f\v\a\x1b", []string{"\t\n\r\f\v\a\x1b"}},
		{`\012\0`, "\n\x00", []string{"\n\x00"}},
		{`\.\*\\`, ".*\\", []string{".*\\"}},
		{`[\b]`, "\b", []string{"\b"}},
		{`\o{101}`, "A", []string{"A"}},
	}
	for _, tc := range tests {
		got := pieces(t, tc.expr, tc.text)
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%q on %q (-want +got):\n%s", tc.expr, tc.text, d)
		}
	}
}

// TestWhitespace checks \s against Oniguruma's Unicode Space table
// (CR_Space in unicode_property_data.c, the White_Space property).
func TestWhitespace(t *testing.T) {
	space := []rune{'\t', '\n', '\v', '\f', '\r', ' ', 0x85, 0xa0, 0x1680,
		0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
		0x2028, 0x2029, 0x202f, 0x205f, 0x3000}
	// Python's str.isspace takes U+001C-U+001F; U+180E left White_Space in
	// Unicode 6.3; U+200B and U+FEFF never were.
	notSpace := []rune{0x1c, 0x1d, 0x1e, 0x1f, 0x180e, 0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, 'a', 0}
	re := MustCompile(`\s`)
	for _, r := range space {
		if s, e, ok := re.Find(string(r), 0); !ok || s != 0 || e != len(string(r)) {
			t.Errorf(`\s does not match U+%04X`, r)
		}
	}
	re = MustCompile(`\S`)
	for _, r := range notSpace {
		if _, _, ok := re.Find(string(r), 0); !ok {
			t.Errorf(`\S does not match U+%04X`, r)
		}
	}
}

// TestEmptyMatches checks find_iter's rule: an empty match right after the
// previous match is dropped and the search steps over one character.
func TestEmptyMatches(t *testing.T) {
	tests := []struct {
		expr, text string
		want       [][2]int
	}{
		// Go's regexp gives the same for these.
		{`a*`, "baac", [][2]int{{0, 0}, {1, 3}, {4, 4}}},
		{`x*`, "é", [][2]int{{0, 0}, {2, 2}}},
		{`a*`, "", [][2]int{{0, 0}}},
		// ^ does not match at the very end, even after '\n' (Oniguruma's
		// BEGIN_LINE); $ matches before '\n' and at the end.
		{`^`, "a\n", [][2]int{{0, 0}}},
		{`^`, "a\nb", [][2]int{{0, 0}, {2, 2}}},
		{`$`, "a\n", [][2]int{{1, 1}, {2, 2}}},
		// \p{N}*+ matches empty between non-digits.
		{`\p{N}*+`, "1a22", [][2]int{{0, 1}, {2, 4}}},
		// (?:a|)* takes its empty branch once and stops, as Oniguruma's
		// empty-loop check does.
		{`(?:a|)*b`, "aab", [][2]int{{0, 3}}},
		{`(?:a?)*`, "aa", [][2]int{{0, 2}}},
	}
	for _, tc := range tests {
		got := MustCompile(tc.expr).FindAll(nil, tc.text)
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%q on %q (-want +got):\n%s", tc.expr, tc.text, d)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		expr string
		want string
	}{
		// Lookbehind, backreferences and the escapes Oniguruma has and we do not.
		{`ab(?<=a)b`, `pattern: unsupported construct "(?<=" at offset 2`},
		{`(?<!a)b`, `pattern: unsupported construct "(?<!" at offset 0`},
		{`(a)\1`, `pattern: unsupported construct "\1" (backreference) at offset 3`},
		{`a\K`, `pattern: unsupported construct "\K" at offset 1`},
		{`\R`, `pattern: unsupported construct "\R" at offset 0`},
		{`\X`, `pattern: unsupported construct "\X" at offset 0`},
		{`\G`, `pattern: unsupported construct "\G" at offset 0`},
		{`\q`, `pattern: unsupported construct "\q" at offset 0`},
		{`[[:alpha:]]`, `pattern: unsupported construct "[:" (POSIX bracket) at offset 1`},
		{`(?~a)`, `pattern: unsupported construct "(?~" at offset 0`},
		{`(?(1)a)`, `pattern: unsupported construct "(?(" at offset 0`},
		{`(?P<n>a)`, `pattern: unsupported construct "(?P" at offset 0`},
		// Options other than i and m; 's' does not exist in this syntax.
		{`(?x:a)`, `pattern: unsupported construct "(?x" at offset 0`},
		{`(?s:a)`, `pattern: unsupported construct "(?s" at offset 0`},
		// Quantifier forms Oniguruma reads differently from Perl.
		{`a**`, `pattern: unsupported construct "**" (nested quantifier) at offset 1`},
		{`a+?+`, `pattern: unsupported construct "+?+" (nested quantifier) at offset 1`},
		{`a{2}?`, `pattern: unsupported construct "{2}?" (Oniguruma reads a{n}? as (?:a{n})?) at offset 1`},
		{`a{1,2}+`, `pattern: unsupported construct "{1,2}+" (Oniguruma reads a{n,m}+ as (?:a{n,m})+) at offset 1`},
		{`a{3,1}`, `pattern: unsupported construct "{3,1}" (Oniguruma reads it as a possessive {m,n}) at offset 1`},
		// Syntax errors.
		{`*a`, `pattern: target of repeat operator is not specified at offset 0`},
		{`a|+`, `pattern: target of repeat operator is not specified at offset 2`},
		{`^*`, `pattern: target of repeat operator is invalid at offset 1`},
		{`(a`, `pattern: missing ) at offset 0`},
		{`a)`, `pattern: unmatched ) at offset 1`},
		{`[a`, `pattern: premature end of char-class at offset 0`},
		{`[z-a]`, `pattern: empty range in char class at offset 2`},
		{`[a-\s]`, `pattern: char-class value at end of range at offset 3`},
		{`\p{Foo}`, `pattern: unknown character property "Foo" at offset 0`},
		{`\`, `pattern: end pattern at escape at offset 0`},
		{`\x{110000}`, `pattern: invalid code point value at offset 0`},
		{`\uD800`, `pattern: invalid code point value at offset 0`},
		{"a\xffb", `pattern: invalid UTF-8 at offset 1`},
		{`(?:(?:ab|c){1000}){1000}`, `pattern: pattern too large after expanding repetitions at offset 0`},
	}
	for _, tc := range tests {
		_, err := Compile(tc.expr)
		if err == nil {
			t.Errorf("Compile(%q) succeeded, want %s", tc.expr, tc.want)
			continue
		}
		if got := err.Error(); got != tc.want {
			t.Errorf("Compile(%q):\n got %s\nwant %s", tc.expr, got, tc.want)
		}
	}
}

// The three pre-tokenizer patterns, on texts whose splits were worked out
// by hand from Oniguruma's rules (and agree with tiktoken's for LLaMA-3).
const (
	llama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	gpt2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	llada  = `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`
	// lladaNoApos is the LLaDA pattern as the project notes quote it,
	// without the leading apostrophe: every s, d, m and t splits off.
	lladaNoApos = `(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`
)

func TestPreTokenizerPatterns(t *testing.T) {
	tests := []struct {
		expr, text string
		want       []string
	}{
		// LLaMA-3: contractions fold case, a letter run takes one leading
		// non-letter, digits go in threes, newlines gather.
		{llama3, "Hello world", []string{"Hello", " world"}},
		{llama3, "I'm here, you're there", []string{"I", "'m", " here", ",", " you", "'re", " there"}},
		{llama3, "DON'T", []string{"DON", "'T"}},
		{llama3, "12345 1234567", []string{"123", "45", " ", "123", "456", "7"}},
		{llama3, "a\n\nb", []string{"a", "\n\n", "b"}},
		{llama3, "  x", []string{" ", " x"}},
		{llama3, "x  \n", []string{"x", "  \n"}},
		{llama3, "x   ", []string{"x", "   "}},
		{llama3, "::\n\nx", []string{"::\n\n", "x"}},
		{llama3, "'s'S", []string{"'s", "'S"}},
		{llama3, "\t\tfoo", []string{"\t", "\tfoo"}},
		{llama3, "café 🤗!", []string{"café", " 🤗!"}},
		{llama3, "\u00a0x", []string{"\u00a0x"}},
		{llama3, "a\u3000\u3000b", []string{"a", "\u3000", "\u3000b"}},
		{llama3, "e\u0301t\u00e9", []string{"e", "\u0301t\u00e9"}},
		// GPT-2: case-sensitive contractions, one optional space before
		// every class, whitespace before a word left to the word.
		{gpt2, "Hello world", []string{"Hello", " world"}},
		{gpt2, "I'M", []string{"I", "'", "M"}},
		{gpt2, "  12345", []string{" ", " 12345"}},
		{gpt2, "x   \n\ny", []string{"x", "   \n", "\n", "y"}},
		{gpt2, "don't", []string{"don", "'t"}},
		// LLaDA: single digits, one newline per piece; its possessive
		// quantifiers sit on classes disjoint from what follows, so they
		// split like greedy ones.
		{llada, "12345", []string{"1", "2", "3", "4", "5"}},
		{llada, "'hello don't", []string{"'hello", " don", "'t"}},
		{llada, "a\n\n\nb", []string{"a", "\n\n\n", "b"}},
		{llada, "x ..\n\ny", []string{"x", " ..\n\n", "y"}},
		{llada, " !x", []string{" !", "x"}},
		{lladaNoApos, "this is", []string{"t", "his", " is"}},
		{lladaNoApos, "me'd", []string{"m", "e", "'d"}},
	}
	for _, tc := range tests {
		got := pieces(t, tc.expr, tc.text)
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%q on %q (-want +got):\n%s", tc.expr, tc.text, d)
		}
	}
}

// TestBudget checks that an exponential pattern gives up instead of
// hanging: every start position exhausts its budget and counts as no match.
func TestBudget(t *testing.T) {
	re := MustCompile(`(?:a|a)*b`)
	re.limit = 10_000
	got, exhausted := re.findAll(nil, strings.Repeat("a", 40))
	if len(got) != 0 || !exhausted {
		t.Errorf("got %v, exhausted %v; want no match and exhausted", got, exhausted)
	}
	// With room to finish, the same pattern matches where it can.
	got, exhausted = MustCompile(`(?:a|a)*b`).findAll(nil, "aab")
	if d := cmp.Diff([][2]int{{0, 3}}, got); d != "" || exhausted {
		t.Errorf("aab: exhausted %v (-want +got):\n%s", exhausted, d)
	}
}

// TestLiteral checks Split's {"String": ...} patterns, metacharacters
// included, and the empty literal, which matches between characters.
func TestLiteral(t *testing.T) {
	tests := []struct {
		lit, text string
		want      [][2]int
	}{
		// Metacharacters are plain characters.
		{".*", "a.*b.*", [][2]int{{1, 3}, {4, 6}}},
		// Non-overlapping, left to right.
		{"aa", "aaa", [][2]int{{0, 2}}},
		// Empty: every character boundary, as Oniguruma's empty regex.
		{"", "ab", [][2]int{{0, 0}, {1, 1}, {2, 2}}},
	}
	if _, err := Literal(strings.Repeat("x", maxProg+1)); err == nil {
		t.Error("Literal of more than maxProg characters compiled")
	}
	for _, tc := range tests {
		re, err := Literal(tc.lit)
		if err != nil {
			t.Fatal(err)
		}
		got := re.FindAll(nil, tc.text)
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("Literal(%q) on %q (-want +got):\n%s", tc.lit, tc.text, d)
		}
	}
}

// checkMatches verifies what must hold for any pattern and text: matches
// in order, not overlapping, inside the text, on character boundaries.
func checkMatches(t *testing.T, text string, ms [][2]int) {
	t.Helper()
	starts := map[int]bool{len(text): true}
	for i := 0; i < len(text); {
		starts[i] = true
		_, w := utf8.DecodeRuneInString(text[i:])
		i += w
	}
	prev := 0
	for i, m := range ms {
		if m[0] < prev || m[1] < m[0] || m[1] > len(text) || !starts[m[0]] || !starts[m[1]] {
			t.Fatalf("match %d %v of %v is out of order, overlapping or off a boundary in %q", i, m, ms, text)
		}
		if i > 0 && m[0] == m[1] && m[1] == ms[i-1][1] {
			t.Fatalf("empty match %d %v right after the previous one in %v", i, m, ms)
		}
		prev = m[1]
	}
}
