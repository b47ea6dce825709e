package hub

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// matcher selects repository files by the patterns of huggingface_hub's
// allow_patterns, which are Python fnmatch patterns: unlike path.Match, "*"
// and "?" also match "/", so "*.safetensors" finds weights in
// subdirectories too.
type matcher []*regexp.Regexp

// compile translates each pattern to a regular expression as Python's
// fnmatch.translate does. A pattern ending in "/" gets a "*", as
// huggingface_hub adds, so that "dir/" matches everything below dir.
func compile(patterns []string) (matcher, error) {
	m := make(matcher, 0, len(patterns))
	for _, p := range patterns {
		if !utf8.ValidString(p) {
			return nil, fmt.Errorf("file pattern %q is not UTF-8", p)
		}
		if strings.HasSuffix(p, "/") {
			p += "*"
		}
		re, err := regexp.Compile(translate(p))
		if err != nil {
			return nil, fmt.Errorf("bad file pattern %q: %v", p, err)
		}
		m = append(m, re)
	}
	return m, nil
}

// match reports whether name matches one of the patterns.
func (m matcher) match(name string) bool {
	for _, re := range m {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

// translate turns an fnmatch pattern into an anchored regular expression:
// "*" is any string, "?" any character, "[seq]" and "[!seq]" a set, and a
// "[" without its "]" an ordinary character.
func translate(p string) string {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; c {
		case '*':
			b.WriteString(`.*`)
			for i+1 < len(rs) && rs[i+1] == '*' {
				i++
			}
		case '?':
			b.WriteString(`.`)
		case '[':
			// As Python: a "]" right after "[" or "[!" belongs to the set.
			j := i + 1
			if j < len(rs) && rs[j] == '!' {
				j++
			}
			if j < len(rs) && rs[j] == ']' {
				j++
			}
			for j < len(rs) && rs[j] != ']' {
				j++
			}
			if j >= len(rs) {
				b.WriteString(`\[`)
				continue
			}
			set := rs[i+1 : j]
			i = j
			b.WriteString(`[`)
			if set[0] == '!' {
				b.WriteString(`^`)
				set = set[1:]
			}
			for _, r := range set {
				if r == '-' {
					b.WriteRune(r) // a range, as in Python
				} else {
					b.WriteString(regexp.QuoteMeta(string(r)))
				}
			}
			b.WriteString(`]`)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`)$`)
	return b.String()
}
