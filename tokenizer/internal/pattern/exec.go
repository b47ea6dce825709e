package pattern

import "unicode/utf8"

type frameKind uint8

const (
	fAlt     frameKind = iota // resume at pc, pos
	fGive                     // greedy opRepeat at pc: give back one character (down to a)
	fMore                     // lazy opRepeat at pc: take one more character (count a)
	fRestore                  // set register a back to pos
	fAtomic                   // barrier of an atomic group
	fLook                     // barrier of a positive lookahead started at pos
	fNegLook                  // barrier of a negative lookahead: body failed, resume at pc, pos
)

type frame struct {
	kind frameKind
	pc   int
	pos  int
	a    int
}

// machine is the state of one match attempt; Regexp pools them.
type machine struct {
	re        *Regexp
	stack     []frame
	regs      []int
	exhausted bool // a run gave up on its budget
}

// decode reads the character at i; an invalid byte is U+FFFD of width 1.
func decode(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// run matches the program anchored at start and returns the end of the
// first match in priority order. This is the hot loop of pre-tokenization.
func (m *machine) run(s string, start int) (int, bool) {
	prog := m.re.prog
	st := m.stack[:0]
	defer func() { m.stack = st[:0] }()
	budget := m.re.limit
	pc, pos := 0, start
	for {
		in := &prog[pc]
		ok := true
		switch in.op {
		case opOne:
			ok = false
			if pos < len(s) {
				if r, w := decode(s, pos); in.m.match(r) {
					pos += w
					pc++
					ok = true
				}
			}
		case opRepeat:
			n, p := 0, pos
			minPos := pos
			for (in.max < 0 || n < in.max) && p < len(s) {
				if in.min <= n && !in.greedy {
					break
				}
				r, w := decode(s, p)
				if !in.m.match(r) {
					break
				}
				p += w
				n++
				if n == in.min {
					minPos = p
				}
			}
			if n < in.min {
				ok = false
				break
			}
			switch {
			case in.possessive:
			case in.greedy:
				if p > minPos {
					st = append(st, frame{kind: fGive, pc: pc, pos: p, a: minPos})
				}
			default:
				if in.max < 0 || n < in.max {
					st = append(st, frame{kind: fMore, pc: pc, pos: p, a: n})
				}
			}
			pos = p
			pc++
		case opSplit:
			if in.guard != nil {
				if pos >= len(s) {
					pc = in.y
					break
				}
				if r, _ := decode(s, pos); !in.guard.has(r) {
					pc = in.y
					break
				}
			}
			st = append(st, frame{kind: fAlt, pc: in.y, pos: pos})
			pc = in.x
		case opJmp:
			pc = in.x
		case opAssert:
			ok = assert(in.assert, s, pos)
			pc++
		case opAtomic:
			st = append(st, frame{kind: fAtomic, pos: pos})
			pc++
		case opLook:
			if in.neg {
				st = append(st, frame{kind: fNegLook, pc: in.x, pos: pos})
			} else {
				st = append(st, frame{kind: fLook, pos: pos})
			}
			pc++
		case opCut:
			_, _, st = cut(st)
			pc++
		case opLookEnd:
			var kind frameKind
			var at int
			kind, at, st = cut(st)
			if kind == fNegLook {
				ok = false // the body matched, so (?!...) fails
				break
			}
			pos = at
			pc++
		case opNullStart:
			st = append(st, frame{kind: fRestore, a: in.x, pos: m.regs[in.x]})
			m.regs[in.x] = pos
			pc++
		case opNullEnd:
			if m.regs[in.x] == pos {
				pc = in.y
			} else {
				pc++
			}
		case opMatch:
			return pos, true
		}
		if ok {
			continue
		}
		// Backtrack to the most recent choice.
		for resumed := false; !resumed; {
			if len(st) == 0 {
				return 0, false
			}
			f := &st[len(st)-1]
			switch f.kind {
			case fAlt:
				pc, pos = f.pc, f.pos
				st = st[:len(st)-1]
				resumed = true
			case fGive:
				_, w := utf8.DecodeLastRuneInString(s[f.a:f.pos])
				f.pos -= w
				pc, pos = f.pc+1, f.pos
				if f.pos <= f.a {
					st = st[:len(st)-1]
				}
				resumed = true
			case fMore:
				rep := &prog[f.pc]
				if f.pos >= len(s) {
					st = st[:len(st)-1]
					continue
				}
				r, w := decode(s, f.pos)
				if !rep.m.match(r) {
					st = st[:len(st)-1]
					continue
				}
				f.pos += w
				f.a++
				pc, pos = f.pc+1, f.pos
				if rep.max >= 0 && f.a >= rep.max {
					st = st[:len(st)-1]
				}
				resumed = true
			case fRestore:
				m.regs[f.a] = f.pos
				st = st[:len(st)-1]
			case fAtomic, fLook:
				st = st[:len(st)-1]
			case fNegLook:
				pc, pos = f.pc, f.pos
				st = st[:len(st)-1]
				resumed = true
			}
			if resumed {
				if budget--; budget < 0 {
					m.exhausted = true
					return 0, false
				}
			}
		}
	}
}

// cut removes the innermost barrier and every choice above it, keeping the
// register restores so that registers still unwind correctly. It returns
// the barrier's kind and position.
func cut(st []frame) (frameKind, int, []frame) {
	b := len(st) - 1
	for ; b >= 0; b-- {
		if k := st[b].kind; k == fAtomic || k == fLook || k == fNegLook {
			break
		}
	}
	if b < 0 {
		panic("pattern: barrier missing in a compiled program")
	}
	kind, at := st[b].kind, st[b].pos
	keep := b
	for i := b + 1; i < len(st); i++ {
		if st[i].kind == fRestore {
			st[keep] = st[i]
			keep++
		}
	}
	return kind, at, st[:keep]
}

func assert(k assertKind, s string, pos int) bool {
	switch k {
	case aLineBegin:
		return pos == 0 || pos < len(s) && s[pos-1] == '\n'
	case aLineEnd:
		return pos == len(s) || s[pos] == '\n'
	case aTextBegin:
		return pos == 0
	case aTextEnd:
		return pos == len(s)
	case aTextEndNL:
		return pos == len(s) || pos == len(s)-1 && s[pos] == '\n'
	case aWord, aNotWord:
		before, after := false, false
		if pos > 0 {
			r, _ := utf8.DecodeLastRuneInString(s[:pos])
			before = isWordChar(r)
		}
		if pos < len(s) {
			r, _ := decode(s, pos)
			after = isWordChar(r)
		}
		return (before != after) == (k == aWord)
	}
	return false
}
