package quality

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode"
)

// BLEUOrder is the largest n-gram order BLEU counts, sacreBLEU's default.
const BLEUOrder = 4

// The language-dependent part of mteval-v13a as sacreBLEU writes it
// (tokenizers/tokenizer_re.py). Go's RE2 picks the same leftmost,
// non-overlapping matches as Python's re for these fixed-width patterns.
var (
	re13aPunct = regexp.MustCompile("([{-~\\[-` -&(-+:-@/])") // ASCII punctuation but ' , - .
	re13aDotL  = regexp.MustCompile(`([^0-9])([.,])`)         // period, comma after a non-digit
	re13aDotR  = regexp.MustCompile(`([.,])([^0-9])`)         // period, comma before a non-digit
	re13aDash  = regexp.MustCompile(`([0-9])(-)`)             // dash after a digit
)

// Tokenize13a splits a segment as sacreBLEU's default '13a' tokenizer does
// (mteval-v13a.pl): trailing white space is dropped; "<skipped>" and "-\n"
// are removed; newlines become spaces; &quot; &amp; &lt; &gt; are unescaped;
// ASCII punctuation other than ' , - . is split off; a period or comma is
// split off unless it sits between digits; a dash after a digit is split off.
//
// White space is Python's: unicode.IsSpace plus U+001C–U+001F. Text should be
// UTF-8; an invalid byte stays in its token, as one non-space character.
func Tokenize13a(s string) []string {
	s = strings.TrimRightFunc(s, pySpace)
	s = strings.ReplaceAll(s, "<skipped>", "")
	s = strings.ReplaceAll(s, "-\n", "")
	s = strings.ReplaceAll(s, "\n", " ")
	if strings.Contains(s, "&") {
		// Order matters and is sacreBLEU's: "&amp;lt;" becomes "<".
		s = strings.ReplaceAll(s, "&quot;", `"`)
		s = strings.ReplaceAll(s, "&amp;", "&")
		s = strings.ReplaceAll(s, "&lt;", "<")
		s = strings.ReplaceAll(s, "&gt;", ">")
	}
	s = " " + s + " "
	s = re13aPunct.ReplaceAllString(s, " ${1} ")
	s = re13aDotL.ReplaceAllString(s, "${1} ${2} ")
	s = re13aDotR.ReplaceAllString(s, " ${1} ${2}")
	s = re13aDash.ReplaceAllString(s, "${1} ${2} ")
	return strings.FieldsFunc(s, pySpace)
}

// pySpace reports whether Python's str.isspace holds for r: Go's
// unicode.IsSpace misses the four separators U+001C–U+001F.
func pySpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}

// BLEUStats are the sufficient statistics of BLEU for one sentence, or for a
// corpus when summed: corpus BLEU is a function of the sums alone, which is
// what lets a bootstrap resample sentences cheaply.
type BLEUStats struct {
	HypLen  int            // hypothesis tokens
	RefLen  int            // reference tokens
	Matches [BLEUOrder]int // clipped matches of n-grams, n = 1..4: Σ min(count in hyp, count in ref)
	Totals  [BLEUOrder]int // hypothesis n-grams, n = 1..4: max(0, HypLen−n+1)
}

// NewBLEUStats counts the BLEU statistics of hypothesis hyp against its one
// reference ref, both tokenized with [Tokenize13a], case-sensitive.
func NewBLEUStats(hyp, ref string) BLEUStats {
	h, r := Tokenize13a(hyp), Tokenize13a(ref)
	s := BLEUStats{HypLen: len(h), RefLen: len(r)}
	refCounts := ngramCounts(r)
	for g, c := range ngramCounts(h) {
		n := strings.Count(g, " ") // tokens hold no white space, so a space separates
		s.Totals[n] += c
		s.Matches[n] += min(c, refCounts[g])
	}
	return s
}

// ngramCounts counts the n-grams of toks for n = 1..BLEUOrder, keyed by the
// tokens joined with single spaces.
func ngramCounts(toks []string) map[string]int {
	m := make(map[string]int, BLEUOrder*len(toks))
	for n := 1; n <= BLEUOrder; n++ {
		for i := 0; i+n <= len(toks); i++ {
			m[strings.Join(toks[i:i+n], " ")]++
		}
	}
	return m
}

// Add returns the element-wise sum s + t.
func (s BLEUStats) Add(t BLEUStats) BLEUStats {
	s.HypLen += t.HypLen
	s.RefLen += t.RefLen
	for n := range BLEUOrder {
		s.Matches[n] += t.Matches[n]
		s.Totals[n] += t.Totals[n]
	}
	return s
}

// BLEUScore is a BLEU score with its parts, on sacreBLEU's 0–100 scale.
type BLEUScore struct {
	BLEUStats
	Score      float64            // BP · exp(Σ_{n≤N} ln p_n / N), in 0..100
	Precisions [BLEUOrder]float64 // p_n in 0..100, smoothed; 0 beyond the last order with n-grams
	BP         float64            // brevity penalty: 1 if HypLen ≥ RefLen, else exp(1 − RefLen/HypLen), 0 if HypLen = 0
}

// CorpusBLEU computes sacreBLEU's corpus_bleu with its defaults from the
// summed statistics of the sentences: N = 4 always, and an order with no
// match gets the 'exp' (mteval NIST) smoothing p_n = 100 / (2^k · Totals[n])
// for its k-th such order. An order with no n-grams at all, or a corpus with
// no match at any order, scores 0.
func CorpusBLEU(stats []BLEUStats) BLEUScore {
	var sum BLEUStats
	for _, s := range stats {
		sum = sum.Add(s)
	}
	return bleu(sum, false)
}

// SentenceBLEU computes sacreBLEU's sentence_bleu with its defaults: as
// [CorpusBLEU] on one sentence, but with effective order, N = the largest n
// with Totals[n] > 0, so that short sentences are not scored 0.
func SentenceBLEU(s BLEUStats) BLEUScore {
	return bleu(s, true)
}

// bleu follows sacreBLEU's BLEU.compute_bleu operation by operation, so that
// scores agree to the last bits, not just to the printed digits.
func bleu(s BLEUStats, effective bool) BLEUScore {
	if s.HypLen < 0 || s.RefLen < 0 {
		panic(fmt.Sprintf("quality: BLEU statistics with negative length %+v", s))
	}
	out := BLEUScore{BLEUStats: s, BP: 1}
	if s.HypLen < s.RefLen {
		out.BP = 0
		if s.HypLen > 0 {
			out.BP = math.Exp(1 - float64(s.RefLen)/float64(s.HypLen))
		}
	}
	if s.Matches == [BLEUOrder]int{} {
		return out // sacreBLEU #141: no match at all scores 0, whatever the smoothing
	}
	smooth := 1.0
	order := BLEUOrder
	for n := range BLEUOrder {
		if s.Totals[n] == 0 {
			break
		}
		if effective {
			order = n + 1
		}
		if s.Matches[n] == 0 {
			smooth *= 2
			out.Precisions[n] = 100 / (smooth * float64(s.Totals[n]))
		} else {
			out.Precisions[n] = 100 * float64(s.Matches[n]) / float64(s.Totals[n])
		}
	}
	logs := 0.0
	for _, p := range out.Precisions[:order] {
		if p == 0 {
			logs += -9999999999 // sacreBLEU's floored log, so the score underflows to 0
		} else {
			logs += math.Log(p)
		}
	}
	out.Score = out.BP * math.Exp(logs/float64(order))
	return out
}
