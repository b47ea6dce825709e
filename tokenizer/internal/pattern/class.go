package pattern

import (
	"strings"
	"unicode"
)

// set is a character class: the union of ranges, properties and nested
// classes, intersected with and (when set), then negated when neg is set.
// Under fold a character is in the class when any character of its simple
// case-folding orbit is in the union, which is Oniguruma's case-fold closure.
type set struct {
	neg    bool
	fold   bool
	ranges []rune // lo, hi pairs, inclusive
	props  []prop
	subs   []*set
	and    *set

	// lo caches membership below 0x800 (ASCII, Latin, Greek, Cyrillic,
	// Hebrew, Arabic), the hot path when splitting text; filled by freeze.
	lo     [0x800 / 64]uint64
	frozen bool
}

type prop struct {
	fn func(rune) bool
}

func (s *set) empty() bool { return len(s.ranges) == 0 && len(s.props) == 0 && len(s.subs) == 0 }

// freeze fills the cache; the set must not change afterwards.
func (s *set) freeze() {
	if s.frozen {
		return
	}
	for _, sub := range s.subs {
		sub.freeze()
	}
	if s.and != nil {
		s.and.freeze()
	}
	for r := rune(0); r < 0x800; r++ {
		if s.slow(r) {
			s.lo[r>>6] |= 1 << (r & 63)
		}
	}
	s.frozen = true
}

// has reports whether r is in the class. This is a hot spot.
func (s *set) has(r rune) bool {
	if r < 0x800 && r >= 0 {
		return s.lo[r>>6]&(1<<(r&63)) != 0
	}
	return s.slow(r)
}

func (s *set) slow(r rune) bool {
	in := s.union(r)
	if !in && s.fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if s.union(f) {
				in = true
				break
			}
		}
	}
	return in != s.neg
}

func (s *set) union(r rune) bool {
	in := false
	for i := 0; i+1 < len(s.ranges); i += 2 {
		if s.ranges[i] <= r && r <= s.ranges[i+1] {
			in = true
			break
		}
	}
	if !in {
		for _, p := range s.props {
			if p.fn(r) {
				in = true
				break
			}
		}
	}
	if !in {
		for _, sub := range s.subs {
			if sub.has(r) {
				in = true
				break
			}
		}
	}
	return in && (s.and == nil || s.and.has(r))
}

// isSpace is Oniguruma's \s in Unicode mode: the White_Space property.
// U+200B and U+FEFF are not in it; U+0085, U+00A0 and U+3000 are.
func isSpace(r rune) bool {
	switch {
	case r < 0x80:
		return r == ' ' || '\t' <= r && r <= '\r'
	case r < 0x1680:
		return r == 0x85 || r == 0xa0
	}
	return r == 0x1680 || 0x2000 <= r && r <= 0x200a || r == 0x2028 || r == 0x2029 ||
		r == 0x202f || r == 0x205f || r == 0x3000
}

// isDigit is Oniguruma's \d in Unicode mode: general category Nd.
func isDigit(r rune) bool {
	if r < 0x80 {
		return '0' <= r && r <= '9'
	}
	return unicode.Is(unicode.Nd, r)
}

// isWord is Oniguruma's \w in Unicode mode: Alphabetic, marks, Nd and Pc.
// Unlike UTS #18 (and Rust's regex) it leaves out Join_Control.
func isWord(r rune) bool {
	if r < 0x80 {
		return r == '_' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	return isAlpha(r) || unicode.Is(unicode.M, r) || unicode.Is(unicode.Nd, r) || unicode.Is(unicode.Pc, r)
}

// isWordChar is Oniguruma's word test for a single character
// (ONIGENC_IS_MBC_WORD), which \b, \B and a \w or \W outside brackets use.
// Below U+0100 Oniguruma reads its Latin-1 ctype table instead of the Word
// ranges, and that table marks the superscript digits and vulgar fractions
// ¹ ² ³ ¼ ½ ¾ (category No) as word characters. [\w], [^\w] and \p{Word}
// are built from the ranges, where they are not: "½" matches \w and
// [^\w\s] alike. Everywhere else the two agree.
func isWordChar(r rune) bool {
	switch r {
	case '¹', '²', '³', '¼', '½', '¾':
		return true
	}
	return isWord(r)
}

// isAlpha is the Alphabetic property: L, Nl and Other_Alphabetic.
func isAlpha(r rune) bool {
	return unicode.IsLetter(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Other_Alphabetic, r)
}

// IsSpace reports whether r is in Oniguruma's \s (Unicode White_Space).
func IsSpace(r rune) bool { return isSpace(r) }

// IsAlphabetic reports whether r has the Unicode Alphabetic property.
func IsAlphabetic(r rune) bool { return isAlpha(r) }

var longCategory = map[string]string{
	"letter": "L", "casedletter": "LC", "uppercaseletter": "Lu", "lowercaseletter": "Ll",
	"titlecaseletter": "Lt", "modifierletter": "Lm", "otherletter": "Lo",
	"mark": "M", "combiningmark": "M", "nonspacingmark": "Mn", "spacingmark": "Mc", "enclosingmark": "Me",
	"number": "N", "decimalnumber": "Nd", "letternumber": "Nl", "othernumber": "No",
	"punctuation": "P", "connectorpunctuation": "Pc", "dashpunctuation": "Pd",
	"openpunctuation": "Ps", "closepunctuation": "Pe", "initialpunctuation": "Pi",
	"finalpunctuation": "Pf", "otherpunctuation": "Po",
	"symbol": "S", "mathsymbol": "Sm", "currencysymbol": "Sc", "modifiersymbol": "Sk", "othersymbol": "So",
	"separator": "Z", "spaceseparator": "Zs", "lineseparator": "Zl", "paragraphseparator": "Zp",
	"other": "C", "control": "Cc", "format": "Cf", "surrogate": "Cs", "privateuse": "Co", "unassigned": "Cn",
}

// property resolves a \p{...} name the way Oniguruma looks names up:
// case, spaces, '-' and '_' do not matter.
func property(name string) (func(rune) bool, bool) {
	key := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '_' {
			return -1
		}
		return unicode.ToLower(r)
	}, name)
	if key == "" {
		return nil, false
	}
	if short, ok := longCategory[key]; ok {
		key = strings.ToLower(short)
	}
	for cat, t := range unicode.Categories {
		if strings.ToLower(cat) == key {
			return func(r rune) bool { return unicode.Is(t, r) }, true
		}
	}
	switch key {
	case "any":
		return func(rune) bool { return true }, true
	case "assigned":
		return func(r rune) bool { return !unicode.Is(unicode.Cn, r) }, true
	case "ascii":
		return func(r rune) bool { return r < 0x80 }, true
	case "alpha", "alphabetic":
		return isAlpha, true
	case "word":
		return isWord, true
	case "space", "whitespace":
		return isSpace, true
	case "digit":
		return isDigit, true
	case "alnum":
		return func(r rune) bool { return isAlpha(r) || isDigit(r) }, true
	}
	for sc, t := range unicode.Scripts {
		if strings.ToLower(sc) == key {
			return func(r rune) bool { return unicode.Is(t, r) }, true
		}
	}
	return nil, false
}
