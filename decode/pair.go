package decode

import (
	"strings"
	"unicode"

	"dllmbench/model"
	"dllmbench/tokenizer"
)

// EncodeDefault encodes text as transformers' tokenizer(text) does, with
// the post-processor's special tokens (LLaMA-3's BOS), except that a text
// that already starts with the BOS token's content gets none, so that its
// BOS is not doubled: lm-evaluation-harness's HFLM.tok_encode with
// add_special_tokens unset (lm_eval/models/huggingface.py, has_bos_prefix).
func EncodeDefault(tok *tokenizer.Tokenizer, text string) []int {
	if bos, ok := tok.BOS(); ok {
		if s, ok := tok.Token(bos); ok && s != "" && strings.HasPrefix(text, s) {
			return tok.Encode(text, false)
		}
	}
	return tok.Encode(text, true)
}

// EncodePair encodes a context and its continuation for scoring as
// lm-evaluation-harness's TemplateLM._encode_pair does for a causal model
// (lm_eval/api/model.py) and LLaDA's eval_llada.py does for LLaDA: the
// context's trailing whitespace moves to the front of the continuation, the
// two are encoded together ([EncodeDefault]) and the continuation's tokens
// are those after as many tokens as the context encodes to alone. merged
// reports that the two encodings disagree on the context's tokens (the
// context's last token merges with the continuation's first, as "12"+"34"
// do into "123" "4"): the continuation's tokens then start where the
// context's own encoding ends, as lm-evaluation-harness takes them, and are
// not exactly the continuation's text.
//
// An empty context (after the move) encodes to what the tokenizer adds to
// any text: LLaMA-3's BOS, nothing for LLaDA's tokenizer. lm-evaluation-
// harness conditions a causal model's continuation on its prefix token
// instead when the context is empty: see [PrefixContext].
func EncodePair(tok *tokenizer.Tokenizer, context, continuation string) (ctx, cont []int, merged bool) {
	trimmed := strings.TrimRightFunc(context, isPySpace)
	continuation = context[len(trimmed):] + continuation
	whole := EncodeDefault(tok, trimmed+continuation)
	ctx = EncodeDefault(tok, trimmed)
	n := min(len(ctx), len(whole))
	for i := range n {
		if ctx[i] != whole[i] {
			merged = true
			break
		}
	}
	return ctx, whole[n:], merged || n < len(ctx)
}

// PrefixContext returns the context of a causal model's continuation that
// has none, as lm-evaluation-harness's TemplateLM.loglikelihood does for an
// empty context (lm_eval/api/model.py): the prefix token (HFLM's
// prefix_token_id: the tokenizer's BOS, else its EOS), or, when the
// continuation already starts with it, that first token, which is then not
// scored. prefix < 0 (a model with neither) takes the continuation's first
// token as the context. cont is not empty.
func PrefixContext(cont []int, prefix int) (ctx, rest []int) {
	if prefix < 0 || cont[0] == prefix {
		return cont[:1], cont[1:]
	}
	return []int{prefix}, cont
}

// PrefixToken returns what a causal model's text without context is
// predicted from: lm-evaluation-harness's HFLM.prefix_token_id, the
// tokenizer's BOS, else its EOS, and without a tokenizer (tok nil) the
// config's; -1 for none.
func PrefixToken(tok *tokenizer.Tokenizer, cfg *model.Config) int {
	if tok != nil {
		if id, ok := tok.BOS(); ok {
			return id
		}
		if id, ok := tok.EOS(); ok {
			return id
		}
	}
	if cfg.BOS >= 0 {
		return cfg.BOS
	}
	if len(cfg.EOS) > 0 {
		return cfg.EOS[0]
	}
	return -1
}

// isPySpace is Python's str.isspace, what str.rstrip strips and re's \s
// matches in a str: Go's unicode.IsSpace and the separators U+001C–U+001F.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}

// CountWords counts the words of text as lm-evaluation-harness's
// perplexity tasks do (Task.count_words, lm_eval/api/task.py):
// len(re.split(r"\s+", text)), one more than the runs of whitespace, so a
// leading or trailing space counts an empty word.
func CountWords(text string) int {
	n, in := 1, false
	for _, r := range text {
		sp := isPySpace(r)
		if sp && !in {
			n++
		}
		in = sp
	}
	return n
}
