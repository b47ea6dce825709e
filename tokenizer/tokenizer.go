// Package tokenizer reads Hugging Face tokenizer.json files of the
// byte-level BPE kind (LLaMA-3, LLaDA, GPT-2) and encodes and decodes text
// with the same ids the tokenizers library gives.
//
// Encoding follows tokenizers step by step: added tokens are cut out of the
// text first (leftmost-longest, honouring single_word, lstrip and rstrip),
// the remaining runs go through the pre-tokenizer (Split with Oniguruma
// patterns, ByteLevel, Digits), each pre-token through BPE, and the
// post-processor (TemplateProcessing, or RoBERTa's RobertaProcessing:
// <s> A </s>) adds its special tokens when asked. Decode maps byte-level
// characters back to bytes and repairs invalid UTF-8 as Rust does, then
// cleans up spaces before punctuation where transformers would (see
// Decode).
//
// Truncation and padding settings in tokenizer.json are ignored: Encode
// never truncates or pads.
package tokenizer

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Tokenizer encodes text to token ids and back. It is safe for concurrent
// use.
type Tokenizer struct {
	model *bpe

	added     map[int]*addedToken // by id
	addedTok  map[string]int      // content -> id
	special   map[string]bool     // contents of special added tokens
	rawSet    *addedSet           // added tokens with normalized=false
	normSet   *addedSet           // added tokens with normalized=true
	steps     []step              // pre-tokenizer
	templates []template          // post-processor; empty: none
	decoder   decoderKind
	cleanUp   bool // Decode applies transformers' clean_up_tokenization

	bos, eos, pad int // -1 when unknown

	pool sync.Pool // *scratch
}

type decoderKind uint8

const (
	decodeJoin      decoderKind = iota // no decoder: tokens joined with spaces
	decodeConcat                       // a decoder that changes nothing (an empty Sequence): tokens joined
	decodeByteLevel                    // byte-level characters back to bytes
)

// template is a TemplateProcessing "single" template: the sequence with
// special tokens around it.
type template []tmplPiece

type tmplPiece struct {
	seq bool  // the encoded text
	ids []int // a special token's ids, when not seq
}

// scratch is the per-call working memory of Encode; the BPE cache lives
// here too, so hits need neither locks nor allocations (tokenizers keeps a
// thread-local cache for the same reason).
type scratch struct {
	segs, segs2  []segment
	pieces, next []string
	out          []string
	spans        []span
	found        [][2]int
	syms         []symbol
	queue        []candidate
	cache        map[string][]int
}

func (t *Tokenizer) scratch() *scratch {
	if sc, ok := t.pool.Get().(*scratch); ok {
		return sc
	}
	return &scratch{cache: make(map[string][]int)}
}

// Encode returns the ids of text. With addSpecial the post-processor adds
// its special tokens, as transformers' tokenizer(text) does; without, the
// result is tokenizers' encode(text, add_special_tokens=False). Invalid
// UTF-8, which tokenizers never receives, is split as if each bad byte were
// U+FFFD and encoded byte by byte, so Decode gives U+FFFD back.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int {
	return t.AppendEncode(nil, text, addSpecial)
}

// AppendEncode appends the ids of text to dst, like Encode.
func (t *Tokenizer) AppendEncode(dst []int, text string, addSpecial bool) []int {
	if len(t.templates) == 0 {
		return t.encode(dst, text)
	}
	start := len(dst)
	dst = t.encode(dst, text)
	for _, tm := range t.templates {
		var before, after int
		seen := false
		for _, p := range tm {
			switch {
			case p.seq:
				seen = true
			case !addSpecial:
			case seen:
				after += len(p.ids)
			default:
				before += len(p.ids)
			}
		}
		if before+after == 0 {
			continue
		}
		n := len(dst) - start
		dst = slices.Grow(dst, before+after)
		dst = dst[:len(dst)+before+after]
		copy(dst[start+before:], dst[start:start+n])
		i, j := start, start+before+n
		seen = false
		for _, p := range tm {
			switch {
			case p.seq:
				seen = true
			case !addSpecial:
			case seen:
				j += copy(dst[j:], p.ids)
			default:
				i += copy(dst[i:], p.ids)
			}
		}
	}
	return dst
}

// encode appends the ids of text without post-processing.
func (t *Tokenizer) encode(dst []int, text string) []int {
	if text == "" {
		return dst
	}
	sc := t.scratch()
	defer t.pool.Put(sc)
	segs := splitAdded(sc.segs[:0], text, t.rawSet)
	if t.normSet != nil {
		// No normalizer is supported, so the second pass of tokenizers'
		// extract_and_normalize sees the text unchanged.
		segs2 := sc.segs2[:0]
		for _, s := range segs {
			if s.id >= 0 {
				segs2 = append(segs2, s)
			} else {
				segs2 = splitAdded(segs2, s.text, t.normSet)
			}
		}
		sc.segs, sc.segs2 = segs, segs2
		segs = segs2
	} else {
		sc.segs = segs
	}
	for _, s := range segs {
		if s.id >= 0 {
			dst = append(dst, s.id)
			continue
		}
		sc.out = pretokenize(sc.out[:0], s.text, t.steps, sc)
		for _, p := range sc.out {
			dst = t.model.encode(dst, p, sc)
		}
	}
	sc.release()
	return dst
}

// release drops the scratch's references into the caller's text, so that a
// pooled scratch does not keep a large input alive.
func (sc *scratch) release() {
	clear(sc.segs)
	clear(sc.segs2)
	clear(sc.pieces)
	clear(sc.next)
	clear(sc.out)
}

// PreTokenize returns the pre-tokens of text in order, added tokens
// included, before BPE; byte-level pieces are shown as raw text. It is the
// piece list tokenizers' pre_tokenize_str gives, for inspection and tests.
func (t *Tokenizer) PreTokenize(text string) []string {
	sc := t.scratch()
	defer t.pool.Put(sc)
	var out []string
	for _, s := range splitAdded(nil, text, t.rawSet) {
		if s.id >= 0 {
			out = append(out, s.text)
			continue
		}
		for _, s2 := range splitAdded(nil, s.text, t.normSet) {
			if s2.id >= 0 {
				out = append(out, s2.text)
				continue
			}
			out = pretokenize(out, s2.text, t.steps, sc)
		}
	}
	sc.release()
	return out
}

// Decode turns ids back into text as transformers 5.17's
// tokenizer.decode(ids, skip_special_tokens=skipSpecial) does for a
// tokenizer Load read from a directory, and as tokenizers' decode does for
// one read from a file alone: unknown ids are dropped, special tokens too
// when skipSpecial is set, and bytes that do not form valid UTF-8 become
// U+FFFD (DecodeRaw). Then, where the directory's tokenizer_config.json
// asks for it in the way transformers still honours for a BPE model (see
// Load), come transformers' clean-up replacements (" ." to ".", " n't" to
// "n't", ...). Generations and the quality metrics get this text.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) string {
	s := t.DecodeRaw(ids, skipSpecial)
	if t.cleanUp {
		s = cleanUpTokenization(s)
	}
	return s
}

// DecodeRaw is Decode without transformers' clean-up, whatever the config
// says: tokenizers' decode, the text the tokens spell. Text cut from a
// document at a token boundary stays the document's own text.
func (t *Tokenizer) DecodeRaw(ids []int, skipSpecial bool) string {
	var buf []byte
	var words []string
	for _, id := range ids {
		tok, ok := t.Token(id)
		if !ok || skipSpecial && t.special[tok] {
			continue
		}
		switch t.decoder {
		case decodeByteLevel:
			var ok bool
			if buf, ok = unmapBytes(buf, tok); !ok {
				buf = append(buf, tok...)
			}
		default:
			words = append(words, tok)
		}
	}
	switch t.decoder {
	case decodeJoin:
		return strings.Join(words, " ")
	case decodeConcat:
		return strings.Join(words, "")
	}
	return lossy(buf)
}

// cleanUps are the replacements of transformers'
// PreTrainedTokenizerBase.clean_up_tokenization, made one after another in
// this order: each runs over the text the one before left, so a later one
// can match what an earlier one made (" ' " then " 's": "a  ' s" ends as
// "a's").
var cleanUps = [...]struct{ old, new string }{
	{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
	{" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
}

// cleanUpTokenization is transformers' clean_up_tokenization: the English
// tokenization artifacts of WordPiece tokenizers (a space before
// punctuation and before a contraction) removed. Python's str.replace, like
// strings.ReplaceAll, replaces non-overlapping matches from the left.
func cleanUpTokenization(s string) string {
	if !strings.Contains(s, " ") {
		return s
	}
	for _, r := range cleanUps {
		s = strings.ReplaceAll(s, r.old, r.new)
	}
	return s
}

// VocabSize is the number of distinct tokens, added tokens included, as
// tokenizers' get_vocab_size(with_added_tokens=True) counts them. A model's
// embedding table may have more rows.
func (t *Tokenizer) VocabSize() int {
	n := len(t.model.vocab)
	for s := range t.addedTok {
		if _, ok := t.model.vocab[s]; !ok {
			n++
		}
	}
	return n
}

// TokenID returns the id of a token as stored in the vocabulary (byte-level
// characters, e.g. "Ġthe") or of an added token's content.
func (t *Tokenizer) TokenID(s string) (int, bool) {
	if id, ok := t.addedTok[s]; ok {
		return id, true
	}
	id, ok := t.model.vocab[s]
	return id, ok
}

// Token returns the token with the given id, an added token's content
// taking precedence over the vocabulary.
func (t *Tokenizer) Token(id int) (string, bool) {
	if a, ok := t.added[id]; ok {
		return a.content, true
	}
	if id < 0 || id >= len(t.model.tokens) || !t.model.has[id] {
		return "", false
	}
	return t.model.tokens[id], true
}

// BOS returns the beginning-of-sequence id: tokenizer_config.json's
// bos_token, else the special token the template puts first.
func (t *Tokenizer) BOS() (int, bool) { return t.bos, t.bos >= 0 }

// EOS returns the end-of-sequence id: tokenizer_config.json's eos_token,
// else the special token the template puts last.
func (t *Tokenizer) EOS() (int, bool) { return t.eos, t.eos >= 0 }

// Pad returns tokenizer_config.json's pad_token id.
func (t *Tokenizer) Pad() (int, bool) { return t.pad, t.pad >= 0 }

// SpecialIDs returns the ids of the special added tokens in increasing order.
func (t *Tokenizer) SpecialIDs() []int {
	var ids []int
	for id, a := range t.added {
		if a.special {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	return ids
}

// IsSpecial reports whether id is a special added token.
func (t *Tokenizer) IsSpecial(id int) bool {
	a, ok := t.added[id]
	return ok && a.special
}

// Template returns the ids Encode(text, true) puts before and after the
// encoded text.
func (t *Tokenizer) Template() (prefix, suffix []int) {
	for _, tm := range t.templates {
		var pre, suf []int
		seen := false
		for _, p := range tm {
			switch {
			case p.seq:
				seen = true
			case seen:
				suf = append(suf, p.ids...)
			default:
				pre = append(pre, p.ids...)
			}
		}
		prefix = append(pre, prefix...)
		suffix = append(suffix, suf...)
	}
	return prefix, suffix
}

// String describes the tokenizer in one line.
func (t *Tokenizer) String() string {
	pre, suf := t.Template()
	return fmt.Sprintf("BPE tokenizer: %d tokens (%d added), %d merges, template %v+text+%v",
		t.VocabSize(), len(t.added), len(t.model.merges), pre, suf)
}
