package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"dllmbench/tokenizer/internal/pattern"
)

// goldenDir holds the output of scripts/golden/tokenizer_goldens.py, made
// with the real tokenizers and transformers libraries.
const goldenDir = "../testdata/tokenizer/golden"

// golden reads a golden file. Only a missing golden directory skips the
// test; once it exists every file must be there and match.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	if _, err := os.Stat(goldenDir); os.IsNotExist(err) {
		t.Skip("goldens not generated yet: run scripts/golden/tokenizer_goldens.py on the GPU machine")
	}
	data, err := os.ReadFile(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// piece is a pre-token with character offsets, as pre_tokenize_str gives.
type piece struct {
	Text       string
	Start, End int
}

func (p *piece) UnmarshalJSON(b []byte) error {
	var a []json.RawMessage
	if err := json.Unmarshal(b, &a); err != nil || len(a) != 3 {
		return fmt.Errorf("piece %s: want [text, start, end]", b)
	}
	if err := json.Unmarshal(a[0], &p.Text); err != nil {
		return err
	}
	if err := json.Unmarshal(a[1], &p.Start); err != nil {
		return err
	}
	return json.Unmarshal(a[2], &p.End)
}

// splitIsolated is Split(pattern, "isolated").pre_tokenize_str(text).
func splitIsolated(re *pattern.Regexp, text string) []piece {
	var out []piece
	add := func(start, end int) {
		if start < end {
			cs := utf8.RuneCountInString(text[:start])
			out = append(out, piece{text[start:end], cs, cs + utf8.RuneCountInString(text[start:end])})
		}
	}
	prev := 0
	for _, m := range re.FindAll(nil, text) {
		add(prev, m[0])
		add(m[0], m[1])
		prev = m[1]
	}
	add(prev, len(text))
	return out
}

func TestGoldenPatterns(t *testing.T) {
	var g struct {
		Texts    []string `json:"texts"`
		Patterns []struct {
			Name    string `json:"name"`
			Pattern string `json:"pattern"`
			Error   string `json:"error"`
			Results []struct {
				Pieces []piece `json:"pieces"`
				Error  string  `json:"error"`
			} `json:"results"`
		} `json:"patterns"`
	}
	golden(t, "patterns.json", &g)
	if len(g.Patterns) == 0 {
		t.Fatal("patterns.json has no patterns")
	}
	for _, p := range g.Patterns {
		re, err := pattern.Compile(p.Pattern)
		switch {
		case p.Error != "" && err == nil:
			t.Errorf("%s: tokenizers rejects %q (%s), we compile it", p.Name, p.Pattern, p.Error)
			continue
		case p.Error != "":
			continue
		case err != nil:
			t.Errorf("%s: %v", p.Name, err)
			continue
		case len(p.Results) != len(g.Texts):
			t.Errorf("%s: %d results for %d texts", p.Name, len(p.Results), len(g.Texts))
			continue
		}
		bad := 0
		for i, r := range p.Results {
			if r.Error != "" {
				t.Errorf("%s on %q: tokenizers failed: %s", p.Name, g.Texts[i], r.Error)
				continue
			}
			if d := cmp.Diff(r.Pieces, splitIsolated(re, g.Texts[i]), cmpopts.EquateEmpty()); d != "" {
				if bad++; bad <= 5 {
					t.Errorf("%s on %q (-tokenizers +ours):\n%s", p.Name, g.Texts[i], d)
				}
			}
		}
		if bad > 5 {
			t.Errorf("%s: %d of %d texts differ", p.Name, bad, len(g.Texts))
		}
	}
}

func TestGoldenEncodings(t *testing.T) {
	var g struct {
		Texts      []string `json:"texts"`
		Tokenizers []struct {
			Name      string          `json:"name"`
			Error     string          `json:"error"`
			HFError   string          `json:"hf_error"`
			VocabSize int             `json:"vocab_size"`
			TokenIDs  map[string]*int `json:"token_ids"`
			BOS       *int            `json:"hf_bos_token_id"`
			EOS       *int            `json:"hf_eos_token_id"`
			Pad       *int            `json:"hf_pad_token_id"`
			Cases     []struct {
				IDs         []int  `json:"ids"`
				IDsSpecial  []int  `json:"ids_special"`
				Decoded     string `json:"decoded"`
				DecodedSkip string `json:"decoded_skip"`
				HF          []int  `json:"hf_input_ids"`
			} `json:"cases"`
		} `json:"tokenizers"`
	}
	golden(t, "encodings.json", &g)
	if len(g.Tokenizers) == 0 {
		t.Fatal("encodings.json has no tokenizers")
	}
	for _, gt := range g.Tokenizers {
		t.Run(gt.Name, func(t *testing.T) {
			if gt.Error != "" || gt.HFError != "" {
				t.Fatalf("golden generation failed:\n%s%s", gt.Error, gt.HFError)
			}
			if len(gt.Cases) != len(g.Texts) {
				t.Fatalf("%d cases for %d texts", len(gt.Cases), len(g.Texts))
			}
			dir := filepath.Join(goldenDir, gt.Name)
			data, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
			if err != nil {
				t.Fatal(err)
			}
			file, err := FromJSON(data) // tokenizers.Tokenizer.from_file
			if err != nil {
				t.Fatal(err)
			}
			auto, err := Load(dir) // transformers.AutoTokenizer.from_pretrained
			if err != nil {
				t.Fatal(err)
			}
			if n := file.VocabSize(); n != gt.VocabSize {
				t.Errorf("VocabSize = %d, tokenizers says %d", n, gt.VocabSize)
			}
			for s, want := range gt.TokenIDs {
				id, ok := file.TokenID(s)
				if want == nil && ok || want != nil && (!ok || id != *want) {
					t.Errorf("TokenID(%q) = %d, %v; tokenizers says %v", s, id, ok, deref(want))
				}
			}
			for _, c := range []struct {
				name string
				got  func() (int, bool)
				want *int
			}{{"BOS", auto.BOS, gt.BOS}, {"EOS", auto.EOS, gt.EOS}, {"Pad", auto.Pad, gt.Pad}} {
				id, ok := c.got()
				if c.want == nil && ok || c.want != nil && (!ok || id != *c.want) {
					t.Errorf("%s() = %d, %v; transformers says %v", c.name, id, ok, deref(c.want))
				}
			}
			bad := 0
			report := func(format string, args ...any) {
				if bad++; bad <= 10 {
					t.Errorf(format, args...)
				}
			}
			for i, c := range gt.Cases {
				text := g.Texts[i]
				if d := cmp.Diff(c.IDs, file.Encode(text, false), nilEmpty); d != "" {
					report("Encode(%q, false) (-tokenizers +ours):\n%s", text, d)
				}
				if d := cmp.Diff(c.IDsSpecial, file.Encode(text, true), nilEmpty); d != "" {
					report("Encode(%q, true) (-tokenizers +ours):\n%s", text, d)
				}
				if got := file.Decode(c.IDsSpecial, false); got != c.Decoded {
					report("Decode(%v, false) = %q, tokenizers gives %q", c.IDsSpecial, got, c.Decoded)
				}
				if got := file.Decode(c.IDsSpecial, true); got != c.DecodedSkip {
					report("Decode(%v, true) = %q, tokenizers gives %q", c.IDsSpecial, got, c.DecodedSkip)
				}
				if d := cmp.Diff(c.HF, auto.Encode(text, true), nilEmpty); d != "" {
					report("directory Encode(%q, true) (-transformers +ours):\n%s", text, d)
				}
			}
			if bad > 10 {
				t.Errorf("%d mismatches in all", bad)
			}
		})
	}
}

// nilEmpty makes an empty id list equal a missing one.
var nilEmpty = cmpopts.EquateEmpty()

func deref(p *int) any {
	if p == nil {
		return "none"
	}
	return *p
}
