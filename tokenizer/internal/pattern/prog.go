package pattern

import "unicode"

type opcode uint8

const (
	opOne       opcode = iota // one character accepted by m
	opRepeat                  // m repeated min..max times, greedy, lazy or possessive
	opSplit                   // continue at x; on backtracking at y
	opJmp                     // continue at x
	opAssert                  // zero-width test
	opAtomic                  // open an atomic group
	opLook                    // open a lookahead; a negative one resumes at x when its body fails
	opCut                     // close an atomic group: drop the choices made inside it
	opLookEnd                 // close a lookahead
	opNullStart               // remember the position in register x
	opNullEnd                 // leave a loop (go to y) when its body matched empty
	opMatch
)

type matchKind uint8

const (
	mChar  matchKind = iota // r
	mFold                   // any rune of orbit
	mSet                    // set
	mAny                    // anything but '\n'
	mAnyNL                  // anything
)

// matcher accepts single characters.
type matcher struct {
	kind  matchKind
	r     rune
	orbit []rune
	set   *set
}

func (m *matcher) match(r rune) bool {
	switch m.kind {
	case mChar:
		return r == m.r
	case mFold:
		for _, o := range m.orbit {
			if o == r {
				return true
			}
		}
		return false
	case mSet:
		return m.set.has(r)
	case mAny:
		return r != '\n'
	}
	return true
}

type inst struct {
	op         opcode
	m          matcher
	x, y       int
	min, max   int // opRepeat; max < 0 is unbounded
	greedy     bool
	possessive bool
	neg        bool
	assert     assertKind
	guard      *set // opSplit: characters that can start branch x; nil if any can
}

type compiler struct {
	prog []inst
	nreg int
	err  error
}

func (c *compiler) emit(in inst) int {
	c.prog = append(c.prog, in)
	if len(c.prog) > maxProg && c.err == nil {
		c.err = &Error{Offset: 0, Msg: "pattern too large after expanding repetitions"}
	}
	return len(c.prog) - 1
}

func (c *compiler) compile(n *node) error {
	c.node(n)
	return c.err
}

func (c *compiler) node(n *node) {
	if c.err != nil {
		return
	}
	switch n.kind {
	case nEmpty:
	case nChar, nSet, nAny:
		c.emit(inst{op: opOne, m: single(n)})
	case nConcat:
		for _, s := range n.subs {
			c.node(s)
		}
	case nAlt:
		var jumps []int
		for i, s := range n.subs {
			if i == len(n.subs)-1 {
				c.node(s)
				break
			}
			split := c.emit(inst{op: opSplit, guard: firstSet(s)})
			c.prog[split].x = len(c.prog)
			c.node(s)
			jumps = append(jumps, c.emit(inst{op: opJmp}))
			if c.err != nil {
				return
			}
			c.prog[split].y = len(c.prog)
		}
		for _, j := range jumps {
			c.prog[j].x = len(c.prog)
		}
	case nRepeat:
		c.repeat(n)
	case nAtomic:
		c.emit(inst{op: opAtomic})
		c.node(n.subs[0])
		c.emit(inst{op: opCut})
	case nLook:
		look := c.emit(inst{op: opLook, neg: n.neg})
		c.node(n.subs[0])
		c.emit(inst{op: opLookEnd})
		if c.err == nil {
			c.prog[look].x = len(c.prog)
		}
	case nAssert:
		c.emit(inst{op: opAssert, assert: n.assert})
	}
}

func (c *compiler) repeat(n *node) {
	sub := n.subs[0]
	if sub.kind == nChar || sub.kind == nSet || sub.kind == nAny {
		// One instruction that scans a run: single-character loops such
		// as \p{L}+ and \s* dominate pre-tokenization.
		c.emit(inst{op: opRepeat, m: single(sub), min: n.min, max: n.max, greedy: n.greedy, possessive: n.possessive})
		return
	}
	if n.possessive {
		c.emit(inst{op: opAtomic})
	}
	for i := 0; i < n.min && c.err == nil; i++ {
		c.node(sub)
	}
	switch {
	case n.max < 0:
		// L: split body, exit; body: [null check] sub; jmp L
		loop := c.emit(inst{op: opSplit})
		body := len(c.prog)
		reg := -1
		if nullable(sub) {
			reg = c.nreg
			c.nreg++
			c.emit(inst{op: opNullStart, x: reg})
		}
		c.node(sub)
		end := -1
		if reg >= 0 {
			end = c.emit(inst{op: opNullEnd, x: reg})
		}
		c.emit(inst{op: opJmp, x: loop})
		if c.err != nil {
			return
		}
		exit := len(c.prog)
		c.branch(loop, body, exit, n.greedy)
		if end >= 0 {
			c.prog[end].y = exit
		}
	default:
		var splits []int
		for i := n.min; i < n.max && c.err == nil; i++ {
			splits = append(splits, c.emit(inst{op: opSplit}))
			c.node(sub)
		}
		if c.err != nil {
			return
		}
		exit := len(c.prog)
		for _, s := range splits {
			c.branch(s, s+1, exit, n.greedy)
		}
	}
	if n.possessive {
		c.emit(inst{op: opCut})
	}
}

// branch sets split s to prefer taking the body (greedy) or skipping it.
func (c *compiler) branch(s, body, exit int, greedy bool) {
	if greedy {
		c.prog[s].x, c.prog[s].y = body, exit
	} else {
		c.prog[s].x, c.prog[s].y = exit, body
	}
}

func single(n *node) matcher {
	switch n.kind {
	case nSet:
		n.set.freeze()
		return matcher{kind: mSet, set: n.set}
	case nAny:
		if n.nl {
			return matcher{kind: mAnyNL}
		}
		return matcher{kind: mAny}
	}
	if n.fold {
		orbit := []rune{n.r}
		for f := unicode.SimpleFold(n.r); f != n.r; f = unicode.SimpleFold(f) {
			orbit = append(orbit, f)
		}
		if len(orbit) > 1 {
			return matcher{kind: mFold, r: n.r, orbit: orbit}
		}
	}
	return matcher{kind: mChar, r: n.r}
}

// firstSet returns a class holding every character that can start a match
// of n, or nil when n can match empty. A split guarded by it skips a branch
// that cannot match at the next character without trying it; for an
// alternation like LLaMA-3's this avoids most backtracking.
func firstSet(n *node) *set {
	if n.guardDone {
		return n.guard
	}
	n.guardDone = true
	if subs, ok := first(n, nil); ok {
		n.guard = &set{subs: subs}
		n.guard.freeze()
	}
	return n.guard
}

// first appends to acc classes whose union covers the first characters of
// n; ok is false when n can match the empty string.
func first(n *node, acc []*set) ([]*set, bool) {
	switch n.kind {
	case nChar:
		return append(acc, &set{ranges: []rune{n.r, n.r}, fold: n.fold}), true
	case nSet:
		return append(acc, n.set), true
	case nAny:
		if n.nl {
			return append(acc, &set{props: []prop{{fn: func(rune) bool { return true }}}}), true
		}
		return append(acc, &set{ranges: []rune{'\n', '\n'}, neg: true}), true
	case nConcat:
		for _, s := range n.subs {
			var ok bool
			if acc, ok = first(s, acc); ok {
				return acc, true
			}
		}
		return acc, false
	case nAlt:
		all := true
		for _, s := range n.subs {
			var ok bool
			acc, ok = first(s, acc)
			all = all && ok
		}
		return acc, all
	case nRepeat:
		acc, ok := first(n.subs[0], acc)
		return acc, ok && n.min > 0
	case nAtomic:
		return first(n.subs[0], acc)
	}
	// Empty, assertions and lookahead consume nothing: what follows them
	// decides (a superset is all a guard needs).
	return acc, false
}

// nullable reports whether n can match the empty string.
func nullable(n *node) bool {
	switch n.kind {
	case nChar, nSet, nAny:
		return false
	case nConcat:
		for _, s := range n.subs {
			if !nullable(s) {
				return false
			}
		}
		return true
	case nAlt:
		for _, s := range n.subs {
			if nullable(s) {
				return true
			}
		}
		return false
	case nRepeat:
		return n.min == 0 || nullable(n.subs[0])
	case nAtomic:
		return nullable(n.subs[0])
	}
	return true // empty, lookahead, assertions
}
