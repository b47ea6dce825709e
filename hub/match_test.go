package hub

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestMatch holds patterns to what Python's fnmatch.fnmatchcase says, the
// function behind huggingface_hub's allow_patterns.
func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*.safetensors", "model.safetensors", true},
		{"*.safetensors", "sub/model.safetensors", true}, // "*" crosses "/", unlike path.Match
		{"*.safetensors", "model.safetensors.index.json", false},
		{"config.json", "config.json", true},
		{"config.json", "sub/config.json", false},
		{"config.json", "configXjson", false},                                                   // "." is no wildcard
		{"wikitext-103-raw-v1/", "wikitext-103-raw-v1/validation-00000-of-00001.parquet", true}, // huggingface_hub adds "*"
		{"wikitext-103-raw-v1/", "wikitext-2-raw-v1/validation-00000-of-00001.parquet", false},
		{"model-0000?-of-00002.safetensors", "model-00001-of-00002.safetensors", true},
		{"?", "", false},
		{"*", "", true},
		{"**/*.json", "a/b/c.json", true},
		{"[ct]*.json", "tokenizer.json", true},
		{"[!t]*.json", "tokenizer.json", false},
		{"[!t]*.json", "config.json", true},
		{"[a-c]x", "bx", true},
		{"[]]x", "]x", true},   // "]" first in a set is a member
		{"[!]]x", "ax", true},  // and after "!"
		{"a[b", "a[b", true},   // "[" without "]" is itself
		{"[!]", "[!]", true},   // the same
		{"(a|b)+", "a", false}, // regexp syntax means nothing
		{"(a|b)+", "(a|b)+", true},
		{`a\b`, `a\b`, true},
		{"[^x]", "^", true}, // "^" in a set is a member, not a negation
		{"[^x]", "y", false},
	} {
		m, err := compile([]string{tc.pattern})
		if err != nil {
			t.Errorf("compile(%q): %v", tc.pattern, err)
			continue
		}
		if got := m.match(tc.name); got != tc.want {
			t.Errorf("%q matches %q: %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

// FuzzCompile checks that no pattern makes compile panic, and that a
// pattern without wildcards matches itself only. Names are UTF-8, as the
// hub's JSON delivers them.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"*.safetensors", "[!a-z]?", "a[", "[]]", "[!]", `\`, "$^.+(", "dir/"} {
		f.Add(s, "dir/model.safetensors")
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		m, err := compile([]string{pattern})
		if err != nil || !utf8.ValidString(name) || strings.ContainsAny(pattern, "*?[") || strings.HasSuffix(pattern, "/") {
			return
		}
		if got, want := m.match(name), name == pattern; got != want {
			t.Errorf("%q matches %q: %v, want %v", pattern, name, got, want)
		}
		if !m.match(pattern) {
			t.Errorf("%q does not match itself", pattern)
		}
	})
}
