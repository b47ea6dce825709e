package tokenizer

import (
	"sort"
	"unicode"
	"unicode/utf8"

	"dllmbench/tokenizer/internal/pattern"
)

// addedToken is an entry of added_tokens: matched in the raw text before
// anything else runs.
type addedToken struct {
	id         int
	content    string
	special    bool // skipped by Decode(ids, true)
	singleWord bool // only matches when not inside a word
	lstrip     bool // swallows the whitespace before it
	rstrip     bool // swallows the whitespace after it
	normalized bool // matched in the second pass (after the normalizer)
}

// addedSet finds added tokens leftmost-longest, as tokenizers' Aho-Corasick
// automaton (MatchKind::LeftmostLongest) does.
type addedSet struct {
	first [256][]*addedToken // by first byte, longest first
}

func newAddedSet(toks []*addedToken) *addedSet {
	if len(toks) == 0 {
		return nil
	}
	a := &addedSet{}
	for _, t := range toks {
		c := t.content[0]
		a.first[c] = append(a.first[c], t)
	}
	for i := range a.first {
		l := a.first[i]
		sort.SliceStable(l, func(x, y int) bool { return len(l[x].content) > len(l[y].content) })
	}
	return a
}

// find returns the leftmost token occurrence at or after from, the
// longest one where several start at the same place.
func (a *addedSet) find(s string, from int) (int, *addedToken) {
	for i := from; i < len(s); i++ {
		for _, t := range a.first[s[i]] {
			if len(s)-i >= len(t.content) && s[i:i+len(t.content)] == t.content {
				return i, t
			}
		}
	}
	return -1, nil
}

// segment is a run of text (id < 0) or an added token.
type segment struct {
	text string
	id   int
}

// splitAdded appends the segments of sentence, following tokenizers'
// AddedVocabulary::find_matches step by step, including its quirks: a
// match discarded by single_word is skipped over, not retried shorter, and
// the search resumes after the raw match even when rstrip took more.
func splitAdded(dst []segment, sentence string, a *addedSet) []segment {
	if a == nil || sentence == "" {
		if sentence != "" {
			dst = append(dst, segment{sentence, -1})
		}
		return dst
	}
	done := 0
	for i := 0; i < len(sentence); {
		at, tok := a.find(sentence, i)
		if tok == nil {
			break
		}
		start, stop := at, at+len(tok.content)
		i = stop
		if tok.singleWord {
			before := start == 0 || !endsWithWord(sentence[:start])
			after := stop == len(sentence) || !startsWithWord(sentence[stop:])
			if !before || !after {
				continue
			}
		}
		if tok.lstrip {
			start = max(trailingSpace(sentence[:start]), done)
		}
		if tok.rstrip {
			stop += leadingSpace(sentence[stop:])
		}
		if done < start {
			dst = append(dst, segment{sentence[done:start], -1})
		}
		dst = append(dst, segment{sentence[start:stop], tok.id})
		done = stop
	}
	if done != len(sentence) {
		dst = append(dst, segment{sentence[done:], -1})
	}
	return dst
}

// rustWord is \w of Rust's regex crate, which tokenizers uses for
// single_word: Alphabetic, marks, Nd, Pc and Join_Control.
func rustWord(r rune) bool {
	return pattern.IsAlphabetic(r) || unicode.Is(unicode.M, r) || unicode.Is(unicode.Nd, r) ||
		unicode.Is(unicode.Pc, r) || r == 0x200c || r == 0x200d
}

func endsWithWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return s != "" && rustWord(r)
}

func startsWithWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s != "" && rustWord(r)
}

// trailingSpace is where the run of whitespace ending s starts.
func trailingSpace(s string) int {
	for len(s) > 0 {
		r, w := utf8.DecodeLastRuneInString(s)
		if !pattern.IsSpace(r) {
			break
		}
		s = s[:len(s)-w]
	}
	return len(s)
}

// leadingSpace is the length of the run of whitespace starting s.
func leadingSpace(s string) int {
	n := 0
	for n < len(s) {
		r, w := utf8.DecodeRuneInString(s[n:])
		if !pattern.IsSpace(r) {
			break
		}
		n += w
	}
	return n
}
