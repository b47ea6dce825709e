package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
}

// cutPrompts makes the prompts of length P tokens (and references of G
// tokens) under tok from the source documents, taking documents in order
// until most prompts are made. A document with its own reference (a prompt
// file) keeps it, and its prompt is cut only when longer than P.
func cutPrompts(docs []prompts.Doc, tok *tokenizer.Tokenizer, P, G, most int) (*promptSet, error) {
	ps := &promptSet{}
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
			if len(ids) > P {
				text = decodeWhole(tok, ids[:P])
			}
		case len(ids) >= P+G:
			text, ref = decodeWhole(tok, ids[:P]), decodeWhole(tok, ids[P:P+G])
		default:
			continue // too short to give a prompt and its continuation
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		ps.Texts, ps.Refs = append(ps.Texts, text), append(ps.Refs, ref)
	}
	if len(ps.Texts) == 0 {
		return nil, fmt.Errorf("bench: no document of the prompt source has %d+%d tokens (the longest has %d); "+
			"for longer prompts give prompts: {source: file, path: ...} with one long document per line", P, G, longest)
	}
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
func decodeWhole(tok *tokenizer.Tokenizer, ids []int) string {
	for drop := 0; drop <= 3 && drop < len(ids); drop++ {
		s := tok.Decode(ids[:len(ids)-drop], false)
		if r, _ := utf8.DecodeLastRuneInString(s); r != utf8.RuneError {
			return s
		}
	}
	return tok.Decode(ids, false)
}
