package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"dllmbench/tokenizer/internal/pattern"
)

// gpt2Pattern is the split ByteLevel applies when use_regex is set.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// behavior is what a split does with the matched delimiters.
type behavior uint8

const (
	removed            behavior = iota // dropped
	isolated                           // pieces of their own
	mergedWithPrevious                 // appended to the piece before
	mergedWithNext                     // prepended to the piece after
	contiguous                         // runs of matches, and of non-matches, become pieces
)

var behaviors = map[string]behavior{
	"Removed": removed, "Isolated": isolated, "MergedWithPrevious": mergedWithPrevious,
	"MergedWithNext": mergedWithNext, "Contiguous": contiguous,
}

type stepKind uint8

const (
	stepSplit  stepKind = iota // split on re
	stepDigits                 // split on numeric characters
	stepPrefix                 // prepend a space unless the piece starts with one
)

// step is one stage of pre-tokenization; each maps every piece to pieces.
type step struct {
	kind       stepKind
	re         *pattern.Regexp
	behavior   behavior
	invert     bool
	individual bool // Digits: one piece per digit rather than per run
}

// span is a [start, end) range of a piece with whether it is a match.
type span struct {
	start, end int
	match      bool
}

// pretokenize appends to dst the pieces the steps make of s.
func pretokenize(dst []string, s string, steps []step, sc *scratch) []string {
	if s == "" {
		return dst
	}
	cur := append(sc.pieces[:0], s)
	for _, st := range steps {
		next := sc.next[:0]
		for _, p := range cur {
			next = st.apply(next, p, sc)
		}
		cur, sc.next = next, cur
	}
	dst = append(dst, cur...)
	sc.pieces = cur
	return dst
}

func (st *step) apply(dst []string, p string, sc *scratch) []string {
	switch st.kind {
	case stepPrefix:
		if !strings.HasPrefix(p, " ") {
			p = " " + p
		}
		return append(dst, p)
	case stepDigits:
		sp := sc.spans[:0]
		last := 0
		for i := 0; i < len(p); {
			r, w := utf8.DecodeRuneInString(p[i:])
			if unicode.IsNumber(r) {
				if last < i {
					sp = append(sp, span{last, i, false})
				}
				last = i + w
				sp = append(sp, span{i, last, true})
			}
			i += w
		}
		if last < len(p) {
			sp = append(sp, span{last, len(p), false})
		}
		sc.spans = sp
		b := isolated
		if !st.individual {
			b = contiguous
		}
		return split(dst, p, sp, b)
	}
	sc.found = st.re.FindAll(sc.found[:0], p)
	sp := sc.spans[:0]
	prev := 0
	for _, m := range sc.found {
		if prev != m[0] {
			sp = append(sp, span{prev, m[0], st.invert})
		}
		sp = append(sp, span{m[0], m[1], !st.invert})
		prev = m[1]
	}
	if prev != len(p) {
		sp = append(sp, span{prev, len(p), st.invert})
	}
	sc.spans = sp
	return split(dst, p, sp, st.behavior)
}

// split applies a delimiter behaviour to spans covering p, as
// NormalizedString::split does, and appends the non-empty pieces.
func split(dst []string, p string, sp []span, b behavior) []string {
	switch b {
	case removed:
		for _, s := range sp {
			if !s.match && s.end > s.start {
				dst = append(dst, p[s.start:s.end])
			}
		}
		return dst
	case isolated:
		for _, s := range sp {
			if s.end > s.start {
				dst = append(dst, p[s.start:s.end])
			}
		}
		return dst
	}
	// Merge spans in place, then emit; the fold runs backwards for
	// MergedWithNext exactly as tokenizers folds the reversed list.
	out := sp[:0:0]
	prevMatch := false
	if b == mergedWithNext {
		for i := len(sp) - 1; i >= 0; i-- {
			s := sp[i]
			if s.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].start = s.start
			} else {
				out = append(out, span{s.start, s.end, false})
			}
			prevMatch = s.match
		}
		for i := len(out) - 1; i >= 0; i-- {
			if out[i].end > out[i].start {
				dst = append(dst, p[out[i].start:out[i].end])
			}
		}
		return dst
	}
	for _, s := range sp {
		join := false
		switch b {
		case contiguous:
			join = s.match == prevMatch
		case mergedWithPrevious:
			join = s.match && !prevMatch
		}
		if join && len(out) > 0 {
			out[len(out)-1].end = s.end
		} else {
			out = append(out, span{s.start, s.end, false})
		}
		prevMatch = s.match
	}
	for _, s := range out {
		if s.end > s.start {
			dst = append(dst, p[s.start:s.end])
		}
	}
	return dst
}
