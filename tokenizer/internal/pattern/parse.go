package pattern

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type nodeKind uint8

const (
	nEmpty  nodeKind = iota
	nChar            // r, under fold when fold is set
	nSet             // a character class
	nAny             // '.', nl tells whether it also matches '\n'
	nConcat          // subs in order
	nAlt             // subs in priority order
	nRepeat          // subs[0] min..max times (max < 0: unbounded)
	nAtomic          // (?>subs[0])
	nLook            // (?=subs[0]) or, with neg, (?!subs[0])
	nAssert          // zero-width test
)

type assertKind uint8

const (
	aLineBegin assertKind = iota // ^
	aLineEnd                     // $
	aTextBegin                   // \A
	aTextEnd                     // \z
	aTextEndNL                   // \Z: end, or before a final '\n'
	aWord                        // \b
	aNotWord                     // \B
)

type node struct {
	kind       nodeKind
	r          rune
	fold       bool
	nl         bool
	neg        bool
	set        *set
	subs       []*node
	min, max   int
	greedy     bool
	possessive bool
	assert     assertKind

	guard     *set // firstSet, computed once per node: repetition compiles a node many times
	guardDone bool
}

// flags are the options in force at a point of the pattern.
type flags struct {
	fold  bool // (?i)
	dotNL bool // (?m): '.' matches '\n'
}

type parser struct {
	src string
	pos int
}

func (p *parser) errorf(off int, format string, args ...any) error {
	return &Error{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// unsupported reports construct c, which starts at off, with an optional
// note on what Oniguruma would make of it.
func (p *parser) unsupported(off int, c string, note ...string) error {
	msg := "unsupported construct " + quote(c)
	for _, n := range note {
		msg += " (" + n + ")"
	}
	return &Error{Offset: off, Msg: msg}
}

// quote wraps s in double quotes, escaping only when s is not printable, so
// that `\K` reads as "\K" rather than "\\K".
func quote(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == '"' {
			return strconv.Quote(s)
		}
	}
	return `"` + s + `"`
}

func (p *parser) parse() (*node, error) {
	n, err := p.alt(flags{}, 0)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.src) { // only an unmatched ')' stops alt early
		return nil, p.errorf(p.pos, "unmatched )")
	}
	return n, nil
}

// alt parses alternatives up to a ')' (left in place) or the end.
func (p *parser) alt(f flags, depth int) (*node, error) {
	if depth > 1000 {
		return nil, p.errorf(p.pos, "groups nested too deeply")
	}
	var alts []*node
	for {
		seq, done, err := p.seq(f, depth)
		if err != nil {
			return nil, err
		}
		alts = append(alts, seq)
		if done || p.pos >= len(p.src) || p.src[p.pos] != '|' {
			break
		}
		p.pos++
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return &node{kind: nAlt, subs: alts}, nil
}

// seq parses one alternative. done reports that an isolated option such as
// (?i) consumed the rest of the enclosing group, alternatives included,
// which is how Oniguruma's default syntax scopes it.
func (p *parser) seq(f flags, depth int) (n *node, done bool, err error) {
	var items []*node
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '|' || c == ')' {
			break
		}
		start := p.pos
		if strings.HasPrefix(p.src[p.pos:], "(?") {
			if nf, ok, err := p.isolatedOption(f); err != nil {
				return nil, false, err
			} else if ok {
				rest, err := p.alt(nf, depth+1)
				if err != nil {
					return nil, false, err
				}
				items = append(items, rest)
				return concat(items), true, nil
			}
		}
		atom, err := p.atom(f, depth)
		if err != nil {
			return nil, false, err
		}
		if atom == nil { // a comment group
			continue
		}
		atom, err = p.quantifiers(atom, start)
		if err != nil {
			return nil, false, err
		}
		items = append(items, atom)
	}
	return concat(items), false, nil
}

func concat(items []*node) *node {
	switch len(items) {
	case 0:
		return &node{kind: nEmpty}
	case 1:
		return items[0]
	}
	return &node{kind: nConcat, subs: items}
}

// isolatedOption parses (?imx-imx) when it stands alone; it leaves the
// position unchanged when the group has a body.
func (p *parser) isolatedOption(f flags) (flags, bool, error) {
	i := p.pos + 2
	nf, j, err := p.options(f, i)
	if err != nil || j == i || j >= len(p.src) || p.src[j] != ')' {
		return f, false, nil // not a bare option group; atom reports errors
	}
	p.pos = j + 1
	return nf, true, nil
}

// options reads option letters from i and returns the new flags and the
// offset after them.
func (p *parser) options(f flags, i int) (flags, int, error) {
	neg := false
	for ; i < len(p.src); i++ {
		switch p.src[i] {
		case '-':
			neg = true
		case 'i':
			f.fold = !neg
		case 'm':
			f.dotNL = !neg
		default:
			return f, i, nil
		}
	}
	return f, i, nil
}

func (p *parser) atom(f flags, depth int) (*node, error) {
	start := p.pos
	c := p.src[p.pos]
	switch c {
	case '(':
		return p.group(f, depth)
	case '[':
		p.pos++
		s, err := p.class(f, start, 0, true)
		if err != nil {
			return nil, err
		}
		return &node{kind: nSet, set: s}, nil
	case '.':
		p.pos++
		return &node{kind: nAny, nl: f.dotNL}, nil
	case '^':
		p.pos++
		return &node{kind: nAssert, assert: aLineBegin}, nil
	case '$':
		p.pos++
		return &node{kind: nAssert, assert: aLineEnd}, nil
	case '\\':
		return p.escape(f)
	case '*', '+', '?':
		return nil, p.errorf(start, "target of repeat operator is not specified")
	case '{':
		if _, _, _, ok := p.interval(p.pos); ok {
			return nil, p.errorf(start, "target of repeat operator is not specified")
		}
	}
	r, w := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += w
	return &node{kind: nChar, r: r, fold: f.fold}, nil
}

func (p *parser) group(f flags, depth int) (*node, error) {
	start := p.pos
	p.pos++ // '('
	kind := nConcat
	neg := false
	if strings.HasPrefix(p.src[p.pos:], "?") {
		rest := p.src[p.pos+1:]
		switch {
		case strings.HasPrefix(rest, ":"):
			p.pos += 2
		case strings.HasPrefix(rest, ">"):
			p.pos += 2
			kind = nAtomic
		case strings.HasPrefix(rest, "="):
			p.pos += 2
			kind = nLook
		case strings.HasPrefix(rest, "!"):
			p.pos += 2
			kind, neg = nLook, true
		case strings.HasPrefix(rest, "#"):
			end := strings.IndexByte(rest, ')')
			if end < 0 {
				return nil, p.errorf(start, "end pattern in group")
			}
			p.pos += 1 + end + 1
			return nil, nil
		case strings.HasPrefix(rest, "<=") || strings.HasPrefix(rest, "<!"):
			return nil, p.unsupported(start, "(?"+rest[:2])
		case strings.HasPrefix(rest, "<"):
			// Named group: matched like a plain group, never captured.
			end := strings.IndexByte(rest, '>')
			if end < 2 || !isName(rest[1:end]) {
				return nil, p.errorf(start, "invalid group name")
			}
			p.pos += 1 + end + 1
		default:
			nf, j, _ := p.options(f, p.pos+1)
			if j == p.pos+1 || j >= len(p.src) || p.src[j] != ':' {
				c := "(?"
				if len(rest) > 0 {
					_, w := utf8.DecodeRuneInString(rest)
					c += rest[:w]
				}
				return nil, p.unsupported(start, c)
			}
			f = nf
			p.pos = j + 1
		}
	}
	body, err := p.alt(f, depth+1)
	if err != nil {
		return nil, err
	}
	if p.pos >= len(p.src) || p.src[p.pos] != ')' {
		return nil, p.errorf(start, "missing )")
	}
	p.pos++
	switch kind {
	case nAtomic:
		return &node{kind: nAtomic, subs: []*node{body}}, nil
	case nLook:
		return &node{kind: nLook, neg: neg, subs: []*node{body}}, nil
	}
	return body, nil
}

func isName(s string) bool {
	for i, r := range s {
		if !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9') {
			return false
		}
	}
	return s != ""
}

// quantifiers applies the quantifier following atom, if any.
func (p *parser) quantifiers(atom *node, start int) (*node, error) {
	if p.pos >= len(p.src) {
		return atom, nil
	}
	qpos := p.pos
	min, max, fixed := 0, 0, false
	switch p.src[p.pos] {
	case '*':
		min, max = 0, -1
		p.pos++
	case '+':
		min, max = 1, -1
		p.pos++
	case '?':
		min, max = 0, 1
		p.pos++
	case '{':
		lo, hi, end, ok := p.interval(p.pos)
		if !ok {
			return atom, nil // a literal '{', read as the next atom
		}
		if hi >= 0 && lo > hi {
			// Oniguruma reads {n,m} with n > m as a possessive {m,n}.
			return nil, p.unsupported(qpos, p.src[qpos:end], "Oniguruma reads it as a possessive {m,n}")
		}
		min, max, fixed = lo, hi, !strings.Contains(p.src[qpos:end], ",")
		p.pos = end
	default:
		return atom, nil
	}
	if atom.kind == nAssert || atom.kind == nLook {
		return nil, p.errorf(qpos, "target of repeat operator is invalid")
	}
	n := &node{kind: nRepeat, subs: []*node{atom}, min: min, max: max, greedy: true}
	interval := p.src[qpos] == '{'
	if p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == '?' && fixed:
			return nil, p.unsupported(qpos, p.src[qpos:p.pos+1], "Oniguruma reads a{n}? as (?:a{n})?")
		case c == '?':
			n.greedy = false
			p.pos++
		case c == '+' && interval:
			return nil, p.unsupported(qpos, p.src[qpos:p.pos+1], "Oniguruma reads a{n,m}+ as (?:a{n,m})+")
		case c == '+':
			n.possessive = true
			p.pos++
		}
	}
	if p.pos < len(p.src) {
		switch p.src[p.pos] {
		case '*', '+', '?':
			return nil, p.unsupported(qpos, p.src[qpos:p.pos+1], "nested quantifier")
		case '{':
			if _, _, end, ok := p.interval(p.pos); ok {
				return nil, p.unsupported(qpos, p.src[qpos:end], "nested quantifier")
			}
		}
	}
	return n, nil
}

// interval parses {n}, {n,}, {n,m} or {,m} at i. It returns max -1 for no
// upper bound and the offset after '}'.
func (p *parser) interval(i int) (min, max, end int, ok bool) {
	s := p.src
	if i >= len(s) || s[i] != '{' {
		return 0, 0, 0, false
	}
	j := i + 1
	lo, j2 := number(s, j)
	hasLo := j2 > j
	j = j2
	if j >= len(s) {
		return 0, 0, 0, false
	}
	max = lo
	if s[j] == ',' {
		j++
		hi, j3 := number(s, j)
		switch {
		case j3 > j:
			max = hi
		case !hasLo:
			return 0, 0, 0, false // {,}
		default:
			max = -1
		}
		j = j3
	} else if !hasLo {
		return 0, 0, 0, false
	}
	if j >= len(s) || s[j] != '}' || lo < 0 || max < -1 {
		return 0, 0, 0, false
	}
	return lo, max, j + 1, true
}

// number reads decimal digits at i; a value beyond 100000 (Oniguruma's
// repeat limit) comes back as -2 so that the interval is rejected.
func number(s string, i int) (int, int) {
	n := 0
	j := i
	for j < len(s) && '0' <= s[j] && s[j] <= '9' {
		if n <= 100000 {
			n = n*10 + int(s[j]-'0')
		}
		j++
	}
	if n > 100000 {
		n = -2
	}
	return n, j
}

// escape parses a backslash sequence outside a class.
func (p *parser) escape(f flags) (*node, error) {
	start := p.pos
	if p.pos+1 >= len(p.src) {
		return nil, p.errorf(start, "end pattern at escape")
	}
	c := p.src[p.pos+1]
	switch c {
	case 'A':
		p.pos += 2
		return &node{kind: nAssert, assert: aTextBegin}, nil
	case 'z':
		p.pos += 2
		return &node{kind: nAssert, assert: aTextEnd}, nil
	case 'Z':
		p.pos += 2
		return &node{kind: nAssert, assert: aTextEndNL}, nil
	case 'b':
		p.pos += 2
		return &node{kind: nAssert, assert: aWord}, nil
	case 'B':
		p.pos += 2
		return &node{kind: nAssert, assert: aNotWord}, nil
	case '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return nil, p.unsupported(start, p.src[start:start+2], "backreference")
	}
	if s, ok, err := p.classEscape(f, false); err != nil {
		return nil, err
	} else if ok {
		return &node{kind: nSet, set: s}, nil
	}
	r, err := p.charEscape(false)
	if err != nil {
		return nil, err
	}
	return &node{kind: nChar, r: r, fold: f.fold}, nil
}

// classEscape parses \s \S \d \D \w \W \h \H \p \P at p.pos; inClass
// says whether it stands inside [...], which changes what \w and \W mean
// for six Latin-1 characters (see isWordChar).
func (p *parser) classEscape(f flags, inClass bool) (*set, bool, error) {
	start := p.pos
	c := p.src[p.pos+1]
	var s *set
	switch c {
	case 's', 'S':
		s = &set{props: []prop{{fn: isSpace}}}
	case 'd', 'D':
		s = &set{props: []prop{{fn: isDigit}}}
	case 'w', 'W':
		s = &set{props: []prop{{fn: isWord}}}
		if !inClass {
			s = &set{props: []prop{{fn: isWordChar}}}
		}
	case 'h', 'H':
		s = &set{ranges: []rune{'0', '9', 'A', 'F', 'a', 'f'}}
	case 'p', 'P':
		p.pos += 2
		name := ""
		switch {
		case p.pos < len(p.src) && p.src[p.pos] == '{':
			end := strings.IndexByte(p.src[p.pos:], '}')
			if end < 0 {
				return nil, false, p.errorf(start, "invalid character property name")
			}
			name = p.src[p.pos+1 : p.pos+end]
			p.pos += end + 1
		case p.pos < len(p.src):
			r, w := utf8.DecodeRuneInString(p.src[p.pos:])
			name = string(r)
			p.pos += w
		default:
			return nil, false, p.errorf(start, "invalid character property name")
		}
		neg := c == 'P'
		if strings.HasPrefix(name, "^") {
			neg, name = !neg, name[1:]
		}
		fn, ok := property(name)
		if !ok {
			return nil, false, p.errorf(start, "unknown character property %s", quote(name))
		}
		return &set{props: []prop{{fn: fn}}, neg: neg, fold: f.fold}, true, nil
	default:
		return nil, false, nil
	}
	p.pos += 2
	s.neg = 'A' <= c && c <= 'Z'
	s.fold = f.fold
	return s, true, nil
}

// charEscape parses an escape that stands for one character. In a class,
// \b is backspace and \1-\7 start an octal number.
func (p *parser) charEscape(inClass bool) (rune, error) {
	start := p.pos
	c := p.src[p.pos+1]
	p.pos += 2
	switch c {
	case 't':
		return '\t', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 'f':
		return '\f', nil
	case 'v':
		return '\v', nil
	case 'a':
		return '\a', nil
	case 'e':
		return 0x1b, nil
	case 'x':
		if p.pos < len(p.src) && p.src[p.pos] == '{' {
			end := strings.IndexByte(p.src[p.pos:], '}')
			if end < 2 || end > 9 {
				return 0, p.errorf(start, "invalid code point value")
			}
			return p.codePoint(start, p.src[p.pos+1:p.pos+end], 16, end+1)
		}
		n := 0
		for n < 2 && p.pos+n < len(p.src) && isHex(p.src[p.pos+n]) {
			n++
		}
		if n == 0 {
			return 0, p.errorf(start, "invalid code point value")
		}
		return p.codePoint(start, p.src[p.pos:p.pos+n], 16, n)
	case 'u':
		if p.pos+4 > len(p.src) {
			return 0, p.errorf(start, "too short digits")
		}
		for i := 0; i < 4; i++ {
			if !isHex(p.src[p.pos+i]) {
				return 0, p.errorf(start, "too short digits")
			}
		}
		return p.codePoint(start, p.src[p.pos:p.pos+4], 16, 4)
	case 'o':
		if p.pos < len(p.src) && p.src[p.pos] == '{' {
			end := strings.IndexByte(p.src[p.pos:], '}')
			if end < 2 || end > 12 {
				return 0, p.errorf(start, "invalid code point value")
			}
			return p.codePoint(start, p.src[p.pos+1:p.pos+end], 8, end+1)
		}
	case 'b':
		if inClass {
			return '\b', nil
		}
	case '0', '1', '2', '3', '4', '5', '6', '7':
		if c == '0' || inClass {
			n := 0
			for n < 2 && p.pos+n < len(p.src) && '0' <= p.src[p.pos+n] && p.src[p.pos+n] <= '7' {
				n++
			}
			v, _ := strconv.ParseUint(p.src[p.pos-1:p.pos+n], 8, 32)
			p.pos += n
			return rune(v), nil
		}
	}
	if c >= utf8.RuneSelf {
		r, w := utf8.DecodeRuneInString(p.src[start+1:])
		p.pos = start + 1 + w
		return r, nil
	}
	if !isAlnum(c) {
		return rune(c), nil
	}
	return 0, p.unsupported(start, p.src[start:start+2])
}

func (p *parser) codePoint(start int, digits string, base, skip int) (rune, error) {
	v, err := strconv.ParseUint(digits, base, 32)
	if err != nil || v > utf8.MaxRune || 0xd800 <= v && v <= 0xdfff {
		return 0, p.errorf(start, "invalid code point value")
	}
	p.pos += skip
	return rune(v), nil
}

// class parses the body of [...] after '['; open is the offset of '['.
// The right operand of && is parsed as a body of its own, which may not
// be negated with '^'.
func (p *parser) class(f flags, open, depth int, top bool) (*set, error) {
	if depth > 100 {
		return nil, p.errorf(open, "char-classes nested too deeply")
	}
	s := &set{fold: f.fold}
	first := top
	if top && p.pos < len(p.src) && p.src[p.pos] == '^' {
		s.neg = true
		p.pos++
	}
	for {
		if p.pos >= len(p.src) {
			return nil, p.errorf(open, "premature end of char-class")
		}
		c := p.src[p.pos]
		switch {
		case c == ']' && !first:
			p.pos++
			return s, nil
		case c == '&' && strings.HasPrefix(p.src[p.pos:], "&&"):
			// Everything so far, intersected with what follows.
			p.pos += 2
			left := &set{fold: f.fold, ranges: s.ranges, props: s.props, subs: s.subs}
			right, err := p.class(f, open, depth+1, false)
			if err != nil {
				return nil, err
			}
			// An empty operand leaves the other one alone, as in Oniguruma.
			switch {
			case right.empty():
			case left.empty():
				s.ranges, s.props, s.subs = nil, nil, []*set{right}
			default:
				s.ranges, s.props, s.subs = nil, nil, []*set{left}
				s.and = right
			}
			return s, nil
		case c == '[':
			if strings.HasPrefix(p.src[p.pos:], "[:") {
				return nil, p.unsupported(p.pos, "[:", "POSIX bracket")
			}
			at := p.pos
			p.pos++
			sub, err := p.class(f, at, depth+1, true)
			if err != nil {
				return nil, err
			}
			s.subs = append(s.subs, sub)
		default:
			lo, isChar, err := p.classAtom(f, s)
			if err != nil {
				return nil, err
			}
			if isChar {
				hi := lo
				if p.pos+1 < len(p.src) && p.src[p.pos] == '-' && p.src[p.pos+1] != ']' {
					at := p.pos
					p.pos++
					if p.src[p.pos] == '[' {
						return nil, p.errorf(at, "invalid range in char-class")
					}
					var ok bool
					hi, ok, err = p.classAtom(f, nil)
					if err != nil {
						return nil, err
					}
					if !ok {
						return nil, p.errorf(at, "char-class value at end of range")
					}
					if hi < lo {
						return nil, p.errorf(at, "empty range in char class")
					}
				}
				s.ranges = append(s.ranges, lo, hi)
			}
		}
		first = false
	}
}

// classAtom reads one class member. For a character it returns it with
// isChar; a class escape (\s, \p{..}) is added to s instead. s is nil where
// only a character is allowed (the end of a range).
func (p *parser) classAtom(f flags, s *set) (r rune, isChar bool, err error) {
	if p.src[p.pos] != '\\' {
		r, w := utf8.DecodeRuneInString(p.src[p.pos:])
		p.pos += w
		return r, true, nil
	}
	if p.pos+1 >= len(p.src) {
		return 0, false, p.errorf(p.pos, "end pattern at escape")
	}
	at := p.pos
	sub, ok, err := p.classEscape(f, true)
	if err != nil {
		return 0, false, err
	}
	if ok {
		if s == nil {
			return 0, false, p.errorf(at, "char-class value at end of range")
		}
		s.subs = append(s.subs, sub)
		return 0, false, nil
	}
	r, err = p.charEscape(true)
	return r, err == nil, err
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
