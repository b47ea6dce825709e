package quality

import "strings"

// ROUGE is a precision, recall and F-measure triple in 0..1.
type ROUGE struct {
	Precision float64 // matched / hypothesis tokens
	Recall    float64 // matched / reference tokens
	F         float64 // 2PR / (P + R), 0 when P + R = 0
}

// ROUGETokens splits text as rouge_score's default tokenizer does without
// stemming: lower-case (Python's str.lower), then every maximal run of
// [a-z0-9] is a token and everything else separates. Python's lower-casing
// brings two non-ASCII letters into that range: U+212A KELVIN SIGN becomes
// "k", and U+0130 "İ" becomes "i" plus a combining dot, which separates.
func ROUGETokens(text string) []string {
	var toks []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			toks = append(toks, b.String())
			b.Reset()
		}
	}
	for _, r := range text {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + 'a' - 'A')
		case r == '\u212a':
			b.WriteByte('k')
		case r == '\u0130':
			b.WriteByte('i')
			flush()
		default:
			flush()
		}
	}
	flush()
	return toks
}

// ROUGEL computes rouge_score's default ROUGE-L of hypothesis hyp against
// reference ref (rouge_score calls them prediction and target): with L the
// length of a longest common subsequence of their [ROUGETokens],
// P = L/|hyp|, R = L/|ref|, F = 2PR/(P+R). Either side without tokens gives
// all zeros.
func ROUGEL(hyp, ref string) ROUGE {
	h, r := ROUGETokens(hyp), ROUGETokens(ref)
	if len(h) == 0 || len(r) == 0 {
		return ROUGE{}
	}
	l := float64(lcs(h, r))
	p, rc := l/float64(len(h)), l/float64(len(r))
	f := 0.0
	if p+rc > 0 {
		f = 2 * p * rc / (p + rc) // rouge_score's order of operations, for identical bits
	}
	return ROUGE{Precision: p, Recall: rc, F: f}
}

// lcs is the length of a longest common subsequence of a and b, by the
// textbook dynamic programme kept to two rows: O(|a|·|b|) time, O(|b|) space.
func lcs(a, b []string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for i := range a {
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(prev[j+1], cur[j])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
