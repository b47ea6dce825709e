package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"dllmbench/prompts"
	"dllmbench/tokenizer"
)

// promptSet is the text every model of a cell gets: the same prompts and
// the same reference continuations, cut under the first model's tokenizer.
type promptSet struct {
	Texts, Refs []string
	Hash        string // identifies the set in cell keys
	// Tokens is the mean length of a prompt under the tokenizer, special
	// tokens included: less than P where documents with references are
	// shorter than P.
	Tokens float64
}

// PromptLengthOff says that prompts of mean length mean tokens are not
// what a cell of prompt length P asked for: more than 10% off. A run says
// so once, and the report's prompt column shows the mean beside P.
func PromptLengthOff(mean float64, P int) bool {
	return math.Abs(mean-float64(P)) > 0.1*float64(P)
}

// shortNote says, when the prompts' mean length is off P
// (PromptLengthOff), that cells of prompt length P measure prompts of
// another length; else "".
func (ps *promptSet) shortNote(P, G int) string {
	if !PromptLengthOff(ps.Tokens, P) {
		return ""
	}
	return fmt.Sprintf("prompt_length %d (gen_length %d): the prompts average %.0f tokens, since prompts with references are kept whole "+
		"when shorter; tables show %d (%.0f)", P, G, ps.Tokens, P, ps.Tokens)
}

// cutPrompts makes the prompts of length P tokens (and references of G
// tokens) under tok from the source documents, taking documents in order
// until most prompts are made. P counts the special tokens tok adds to a
// prompt (LLaMA-3's and LLaDA's BOS), as a model sees them: the text is
// cut to P less those, and to one token at least. A document with its own
// reference (a prompt file) keeps it, and its prompt is cut only when
// longer.
func cutPrompts(docs []prompts.Doc, tok *tokenizer.Tokenizer, P, G, most int) (*promptSet, error) {
	ps := &promptSet{}
	special := len(tok.Encode("a", true)) - len(tok.Encode("a", false))
	body := max(P-special, 1) // the text's tokens
	longest := 0
	for _, d := range docs {
		if most > 0 && len(ps.Texts) == most {
			break
		}
		ids := tok.Encode(d.Text, false)
		longest = max(longest, len(ids))
		var text, ref string
		switch {
		case d.Reference != "":
			text, ref = d.Text, d.Reference
			if len(ids) > body {
				text = decodeWhole(tok, ids[:body])
			}
		case len(ids) >= body+G:
			text, ref = decodeWhole(tok, ids[:body]), decodeWhole(tok, ids[body:body+G])
		default:
			continue // too short to give a prompt and its continuation
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		ps.Texts, ps.Refs = append(ps.Texts, text), append(ps.Refs, ref)
		ps.Tokens += float64(len(tok.Encode(text, true)))
	}
	if len(ps.Texts) == 0 {
		with := ""
		if special > 0 {
			with = fmt.Sprintf(", a prompt of %d less the %d special tokens the tokenizer adds", P, special)
		}
		return nil, fmt.Errorf("bench: no document of the prompt source has %d+%d tokens (the longest has %d%s); "+
			"for longer prompts give prompts: {source: file, path: ...} with one long document per line", body, G, longest, with)
	}
	ps.Tokens /= float64(len(ps.Texts))
	h := sha256.New()
	for i := range ps.Texts {
		fmt.Fprintf(h, "%d:%s\x00%d:%s\x00", len(ps.Texts[i]), ps.Texts[i], len(ps.Refs[i]), ps.Refs[i])
	}
	ps.Hash = hex.EncodeToString(h.Sum(nil))[:16]
	return ps, nil
}

// decodeWhole decodes ids, dropping up to three trailing tokens that end
// inside a UTF-8 character (byte-level tokens can split one), so that the
// text never ends in a replacement character another tokenizer would see.
// It decodes raw, without transformers' clean-up of spaces that a
// tokenizer_config.json may ask for: a prompt and its reference are the
// document's own text, cut at a token boundary, not a model's output.
func decodeWhole(tok *tokenizer.Tokenizer, ids []int) string {
	for drop := 0; drop <= 3 && drop < len(ids); drop++ {
		s := tok.DecodeRaw(ids[:len(ids)-drop], false)
		if r, _ := utf8.DecodeLastRuneInString(s); r != utf8.RuneError {
			return s
		}
	}
	return tok.DecodeRaw(ids, false)
}
