package pattern

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// gen writes random patterns from the part of the syntax where Go's regexp
// means the same: Go promises the match a backtracking engine would pick,
// and its FindAll drops empty matches next to the previous match as
// find_iter does. Left out: \s \d \w (ASCII in Go), anchors (text anchors
// in Go), isolated (?i) (scoped differently), {,n} (a literal in Go),
// possessive and lookahead (absent in Go), and * + on groups (empty-loop
// rules differ).
type gen struct {
	r *rand.Rand
	b strings.Builder
}

var genAtoms = []string{"a", "b", "c", "A", "é", " ", ".", "[ab]", "[^a]", "[a-c]", "[^\\p{L}]",
	`\p{L}`, `\p{N}`, `\P{L}`, `\p{Lu}`, "1"}

func (g *gen) alt(depth int) {
	n := 1 + g.r.IntN(3)
	for i := 0; i < n; i++ {
		if i > 0 {
			g.b.WriteByte('|')
		}
		g.seq(depth)
	}
}

func (g *gen) seq(depth int) {
	n := g.r.IntN(4)
	for i := 0; i < n; i++ {
		if depth < 3 && g.r.IntN(4) == 0 {
			if g.r.IntN(3) == 0 {
				g.b.WriteString("(?i:")
			} else {
				g.b.WriteString("(?:")
			}
			g.alt(depth + 1)
			g.b.WriteByte(')')
			g.b.WriteString([]string{"", "", "?", "??", "{2}", "{1,2}", "{0,2}?"}[g.r.IntN(7)])
			continue
		}
		g.b.WriteString(genAtoms[g.r.IntN(len(genAtoms))])
		g.b.WriteString([]string{"", "", "*", "+", "?", "*?", "+?", "??", "{2}", "{1,3}", "{2,}", "{0,2}?"}[g.r.IntN(12)])
	}
}

func randomText(r *rand.Rand) string {
	const alphabet = "abcAB1 é\n.Éa"
	runes := []rune(alphabet)
	var b strings.Builder
	for n := r.IntN(12); n > 0; n-- {
		b.WriteRune(runes[r.IntN(len(runes))])
	}
	return b.String()
}

// TestAgainstGoRegexp compares FindAll with Go's FindAllStringIndex on
// random patterns and texts where both engines must agree.
func TestAgainstGoRegexp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		g := &gen{r: r}
		g.alt(0)
		expr := g.b.String()
		goRe, err := regexp.Compile(expr)
		if err != nil {
			t.Fatalf("generator made %q, which Go rejects: %v", expr, err)
		}
		re, err := Compile(expr)
		if err != nil {
			t.Fatalf("Compile(%q): %v", expr, err)
		}
		for j := 0; j < 5; j++ {
			text := randomText(r)
			want := goRe.FindAllStringIndex(text, -1)
			got := re.FindAll(nil, text)
			if d := cmp.Diff(toPairs(want), got); d != "" {
				t.Fatalf("%q on %q (-go +ours):\n%s", expr, text, d)
			}
		}
	}
}

func toPairs(ms [][]int) [][2]int {
	var out [][2]int
	for _, m := range ms {
		out = append(out, [2]int{m[0], m[1]})
	}
	return out
}

// goCompatible reports whether expr stays inside the syntax both engines
// read alike (see gen).
func goCompatible(expr string) bool {
	for _, bad := range []string{"\\s", "\\S", "\\d", "\\D", "\\w", "\\W", "\\b", "\\B", "\\A", "\\z", "\\Z",
		"$", "(?i)", "(?m", "(?-", "(?=", "(?!", "(?>", "(?<", "(?#", "{,", "*+", "++", "?+", "}+",
		")*", ")+", "&&", "[[", "\\x", "\\0", "\\o", "\\u", "\\h", "\\H", "\\v", "\\e", "\\a"} {
		if strings.Contains(expr, bad) {
			return false
		}
	}
	for i := 0; i < len(expr); i++ {
		if expr[i] == '^' && (i == 0 || expr[i-1] != '[') {
			return false
		}
		if expr[i] == ')' && i+1 < len(expr) && expr[i+1] == '{' && strings.Contains(expr[i:min(len(expr), i+8)], ",}") {
			return false
		}
	}
	return true
}

// FuzzPattern compiles and runs any pattern on any text: nothing may
// panic, matches must be well formed, and where Go's regexp reads the
// pattern the same way the matches must be Go's.
func FuzzPattern(f *testing.F) {
	for _, s := range []struct{ expr, text string }{
		{llama3, "Hello world! I'm 12345\n\n  x"},
		{gpt2, "don't  stop\t\n"},
		{llada, "'S 1 2\r\n"},
		{`(?i:a|b)*?c`, "ABc"},
		{`(?:a|a)*b`, "aaaaaaaaaaaaaaaaaaaaaaaaa"},
		{`[\p{L}&&[^a]]+|\s+(?!\S)`, "abc  d"},
		{`(?>a+)b|a*+`, "aaab"},
		{`^$|\b\w+\b`, "a\n\nb"},
		{`x{2,}?y{,3}`, "xxxyyyy"},
		{`(a`, "a"},
		{`.`, "a\xffb\xe2\x82"},
	} {
		f.Add(s.expr, s.text)
	}
	f.Fuzz(func(t *testing.T, expr, text string) {
		re, err := Compile(expr)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Offset < 0 || e.Offset > len(expr) {
				t.Fatalf("Compile(%q): %v is not an *Error with an offset inside the pattern", expr, err)
			}
			return
		}
		re.limit = 20_000 // keep exponential patterns fast
		got, exhausted := re.findAll(nil, text)
		checkMatches(t, text, got)
		if exhausted || !utf8.ValidString(text) || !goCompatible(expr) {
			return
		}
		goRe, err := regexp.Compile(expr)
		if err != nil {
			return
		}
		if d := cmp.Diff(toPairs(goRe.FindAllStringIndex(text, -1)), got); d != "" {
			t.Fatalf("%q on %q (-go +ours):\n%s", expr, text, d)
		}
	})
}
