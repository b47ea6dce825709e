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
	// Skipped counts the documents read and left out: too short for a
	// prompt of Body tokens of text and its reference, or blank once cut.
	Skipped, Body int
	// Docs is the documents of the source, those read or not.
	Docs int
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

// fewNote says, when the set has fewer than most prompts (any number when
// most ≤ 0) because documents were left out, or fewer than most because
// the source has fewer documents (a short prompt or task file), how many
// prompts cells of prompt length P and generation length G get and why;
// else "". Where a set is short of most, every document was read.
func (ps *promptSet) fewNote(P, G, most int) string {
	short := most > 0 && len(ps.Texts) < most
	if !short && (ps.Skipped == 0 || most > 0) {
		return ""
	}
	of := ""
	if most > 0 {
		of = fmt.Sprintf(", not the %d of max_prompts", most)
	}
	prompts := "prompts"
	if len(ps.Texts) == 1 {
		prompts = "prompt"
	}
	if ps.Skipped == 0 {
		docs := "documents"
		if ps.Docs == 1 {
			docs = "document"
		}
		return fmt.Sprintf("prompt_length %d (gen_length %d): %d %s%s: the prompt source has %d %s", P, G, len(ps.Texts), prompts, of, ps.Docs, docs)
	}
	docs := "documents of the source are"
	if ps.Skipped == 1 {
		docs = "document of the source is"
	}
	return fmt.Sprintf("prompt_length %d (gen_length %d): %d %s%s: %d %s shorter than %d+%d tokens (or blank) and left out",
		P, G, len(ps.Texts), prompts, of, ps.Skipped, docs, ps.Body, G)
}

// CountPrompts says what the cells of prompt length P and generation
// length G get in a run whose prompts are cut from docs under tok (the
// grid's first model's tokenizer) with most of max_prompts: n prompts, and
// the notice the run prints when n is short of most (fewNote), else "". It
// cuts them as the run does, so that a dry run counts what a run will
// measure; the error is the run's when no document gives a prompt.
func CountPrompts(docs []prompts.Doc, tok *tokenizer.Tokenizer, P, G, most int) (n int, note string, err error) {
	ps, err := cutPrompts(docs, tok, P, G, most)
	if err != nil {
		return 0, "", err
	}
	return len(ps.Texts), ps.fewNote(P, G, most), nil
}

// cutPrompts makes the prompts of length P tokens (and references of G
// tokens) under tok from the source documents, taking documents in order
// until most prompts are made. P counts the special tokens tok adds to a
// prompt (LLaMA-3's and LLaDA's BOS), as a model sees them: the text is
// cut to P less those, and to one token at least, and the reference is
// the document's next G tokens, so that it continues the prompt. A
// document with its own reference (a prompt file) keeps it, cut to its
// first G tokens when longer, and its prompt is cut only when longer, to
// its last tokens, as lm-evaluation-harness truncates a context from the
// left: the reference follows the text the model saw. Documents too short
// for a prompt and its reference are skipped and counted (Skipped).
func cutPrompts(docs []prompts.Doc, tok *tokenizer.Tokenizer, P, G, most int) (*promptSet, error) {
	special := len(tok.Encode("a", true)) - len(tok.Encode("a", false))
	body := max(P-special, 1) // the text's tokens
	ps := &promptSet{Body: body, Docs: len(docs)}
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
				text = tok.DecodeRaw(ids[wholeStart(tok, ids, len(ids)-body):], false)
			}
			if rids := tok.Encode(ref, false); len(rids) > G {
				ref = tok.DecodeRaw(rids[:wholeEnd(tok, rids, G)], false)
			}
		case len(ids) >= body+G:
			// The reference starts where the prompt's whole characters end.
			cut := wholeEnd(tok, ids, body)
			text, ref = tok.DecodeRaw(ids[:cut], false), tok.DecodeRaw(ids[cut:wholeEnd(tok, ids, cut+G)], false)
		default:
			ps.Skipped++ // too short to give a prompt and its continuation
			continue
		}
		if strings.TrimSpace(text) == "" {
			ps.Skipped++
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

// wholeEnd returns where to end ids[:n] so that it decodes to whole
// characters: n, or up to three tokens less where the last ones end inside
// a UTF-8 character (byte-level tokens can split one), so that a text
// never ends in a replacement character another tokenizer would see. A
// cut decodes raw, without transformers' clean-up of spaces that a
// tokenizer_config.json may ask for: a prompt and its reference are the
// document's own text, cut at a token boundary, not a model's output.
func wholeEnd(tok *tokenizer.Tokenizer, ids []int, n int) int {
	for drop := 0; drop <= 3 && drop < n; drop++ {
		s := tok.DecodeRaw(ids[:n-drop], false)
		if r, _ := utf8.DecodeLastRuneInString(s); r != utf8.RuneError {
			return n - drop
		}
	}
	return n
}

// wholeStart returns where to start ids[i:] so that it decodes to whole
// characters: i, or up to three tokens later where the first ones start
// inside a UTF-8 character.
func wholeStart(tok *tokenizer.Tokenizer, ids []int, i int) int {
	for skip := 0; skip <= 3 && i+skip < len(ids)-1; skip++ {
		s := tok.DecodeRaw(ids[i+skip:], false)
		if r, _ := utf8.DecodeRuneInString(s); r != utf8.RuneError {
			return i + skip
		}
	}
	return i
}
