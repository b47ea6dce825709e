// Package pattern is a backtracking regular-expression matcher for the
// subset of Oniguruma syntax that Hugging Face pre-tokenizers use.
//
// tokenizers compiles Split patterns with Oniguruma (the onig crate, default
// syntax ONIG_SYNTAX_ONIGURUMA, UTF-8, no options). Go's regexp cannot run
// them: they need negative lookahead (\s+(?!\S)), possessive quantifiers
// (?+ ++ *+) and Oniguruma's Unicode classes. This package reproduces
// Oniguruma's semantics for what it accepts:
//
//   - ordered alternation, greedy (* + ? {n,m}), lazy (*? +? ?? {n,m}?) and
//     possessive (*+ ++ ?+) quantifiers; {,n} means {0,n}; a '{' that does
//     not start a valid interval is a literal;
//   - groups (...) (never captured), (?:...), (?>...) atomic, (?=...) and
//     (?!...) lookahead, (?#...) comments, option groups (?i:...) (?m:...)
//     (?-i:...) and isolated options (?i) that apply to the rest of the
//     enclosing group, as Oniguruma does;
//   - (?i) uses Unicode simple case folding (Oniguruma also applies
//     multi-character folds such as ß = ss; those are not reproduced);
//   - (?m) makes '.' match '\n' (Ruby meaning); ^ and $ always work on lines
//     ('\n' only), \A \z \Z are the text anchors, \b \B word boundaries;
//   - \s is Unicode White_Space, \d is Nd, \w is Alphabetic|M|Nd|Pc, \h is
//     [0-9A-Fa-f]; outside brackets \w, \W, \b and \B also count ¹ ² ³ ¼
//     ½ ¾ as word characters, as Oniguruma's Latin-1 table does; \p{..} \P{..} \p{^..} \pL take general categories (short
//     or long names, including C and Cn which cover unassigned code points),
//     scripts, and Any, Assigned, ASCII, Alpha, Alphabetic, Word, Space,
//     White_Space, Digit, Alnum;
//   - classes [...] with ranges, negation, nested classes and && intersection;
//   - escapes \t \n \r \f \v \a \e \xHH \x{H..} \uHHHH \0oo \o{..}.
//
// Anything else (lookbehind, backreferences, \K, \R, \X, POSIX brackets,
// conditionals, callouts, absent groups, nested quantifiers) is a compile
// error naming the construct and its byte offset. Tables are Go's unicode
// package (Unicode 15.0); Oniguruma may use a newer Unicode version, so code
// points assigned after 15.0 can classify differently.
//
// Matching works on UTF-8 text with byte offsets. An invalid byte is read as
// one character U+FFFD of width one, so any string can be matched.
package pattern

import (
	"fmt"
	"sync"
	"unicode/utf8"
)

// Regexp is a compiled pattern. It is safe for concurrent use.
type Regexp struct {
	expr  string
	prog  []inst
	nreg  int // null-check registers the program uses
	limit int // backtracking budget per start position
	pool  sync.Pool
}

// Error is a compile error: what is wrong and where in the pattern.
type Error struct {
	Offset int    // byte offset in the pattern
	Msg    string // e.g. `unsupported construct "(?<="`
}

func (e *Error) Error() string { return fmt.Sprintf("pattern: %s at offset %d", e.Msg, e.Offset) }

// retryLimit bounds the backtracking done from one start position, like
// Oniguruma's retry_limit_in_match (whose default is the same ten million).
// A start position that exhausts it counts as not matching there, so a
// pathological pattern slows matching down but cannot hang it.
const retryLimit = 10_000_000

// maxProg bounds the compiled program; counted repetition is expanded, so
// this is also what limits x{n,m}.
const maxProg = 100_000

// Compile parses an Oniguruma pattern.
func Compile(expr string) (*Regexp, error) {
	if !utf8.ValidString(expr) {
		return nil, &Error{Offset: firstInvalid(expr), Msg: "invalid UTF-8"}
	}
	p := parser{src: expr}
	n, err := p.parse()
	if err != nil {
		return nil, err
	}
	return build(expr, n)
}

// Literal returns a pattern matching exactly s, as tokenizers does for a
// Split pattern given as {"String": s}. It fails only for a literal too
// long to compile.
func Literal(s string) (*Regexp, error) {
	n := &node{kind: nConcat}
	for _, r := range s {
		n.subs = append(n.subs, &node{kind: nChar, r: r})
	}
	return build(s, n)
}

// MustCompile is Compile for patterns fixed in the program; it panics on error.
func MustCompile(expr string) *Regexp {
	re, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return re
}

func build(expr string, n *node) (*Regexp, error) {
	c := compiler{}
	if err := c.compile(n); err != nil {
		return nil, err
	}
	c.emit(inst{op: opMatch})
	if len(c.prog) > maxProg {
		return nil, &Error{Offset: 0, Msg: "pattern too large after expanding repetitions"}
	}
	return &Regexp{expr: expr, prog: c.prog, nreg: c.nreg, limit: retryLimit}, nil
}

// String returns the source pattern.
func (re *Regexp) String() string { return re.expr }

// Find returns the leftmost match that starts at or after byte offset from,
// choosing among matches at that start as a backtracking engine does (the
// first in priority order, not the longest). Text before from still counts
// for ^ and \b.
func (re *Regexp) Find(s string, from int) (start, end int, ok bool) {
	if from < 0 || from > len(s) {
		panic(fmt.Sprintf("pattern: Find from %d outside text of length %d", from, len(s)))
	}
	m := re.machine()
	defer re.pool.Put(m)
	return m.find(s, from)
}

// FindAll appends to dst the [start, end) byte offsets of the successive
// non-overlapping matches in s, as the onig crate's find_iter (which
// tokenizers' Split uses) produces them: each search starts where the
// previous match ended, and an empty match right where the previous match
// ended is dropped and the search moves on by one character.
func (re *Regexp) FindAll(dst [][2]int, s string) [][2]int {
	dst, _ = re.findAll(dst, s)
	return dst
}

// findAll is FindAll that also reports whether some start position ran out
// of backtracking budget.
func (re *Regexp) findAll(dst [][2]int, s string) ([][2]int, bool) {
	m := re.machine()
	defer re.pool.Put(m)
	m.exhausted = false
	last, lastMatch := 0, -1
	for last <= len(s) {
		start, end, ok := m.find(s, last)
		if !ok {
			break
		}
		if start == end && lastMatch == end {
			if last < len(s) {
				_, w := utf8.DecodeRuneInString(s[last:])
				last += w
			} else {
				last++
			}
			continue
		}
		last, lastMatch = end, end
		dst = append(dst, [2]int{start, end})
	}
	return dst, m.exhausted
}

func (m *machine) find(s string, from int) (start, end int, ok bool) {
	for start := from; ; {
		if end, ok := m.run(s, start); ok {
			return start, end, true
		}
		if start >= len(s) {
			return 0, 0, false
		}
		_, w := utf8.DecodeRuneInString(s[start:])
		start += w
	}
}

func (re *Regexp) machine() *machine {
	if m, ok := re.pool.Get().(*machine); ok {
		return m
	}
	return &machine{re: re, regs: make([]int, re.nreg)}
}

func firstInvalid(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, w := utf8.DecodeRuneInString(s[i:]); w == 1 {
				return i
			}
		}
	}
	return len(s)
}
