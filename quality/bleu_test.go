package quality

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestTokenize13a(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		// Words split on white space; an empty line has no tokens.
		{"", nil},
		{" \t ", nil},
		{"The cat", []string{"The", "cat"}},
		// ASCII punctuation is split off, but not ' and - between letters.
		{"Hello, world! (it's well-known)", []string{"Hello", ",", "world", "!", "(", "it's", "well-known", ")"}},
		// Period and comma stay inside numbers, split elsewhere.
		{"1,234.56 and 3.5.", []string{"1,234.56", "and", "3.5", "."}},
		// A period between a non-digit and a digit splits on its left only.
		{"v.2 and 2.v", []string{"v", ".", "2", "and", "2", ".", "v"}},
		// Repeated periods: the left-to-right non-overlapping substitution
		// splits each one.
		{"Wait...", []string{"Wait", ".", ".", "."}},
		// A dash after a digit is split; before a digit it stays on it.
		{"10-20 -5 a-1", []string{"10", "-", "20", "-5", "a-1"}},
		// HTML entities are unescaped once, in sacreBLEU's order, then split.
		{"&quot;x&quot; &amp;lt;", []string{`"`, "x", `"`, "<"}},
		// <skipped> disappears, a hyphen at a line break joins the halves.
		{"foo <skipped> bar-\nbaz", []string{"foo", "barbaz"}},
		// Trailing white space goes first, so "-\n" at the end is not a
		// line-break hyphen.
		{"dash-\n", []string{"dash-"}},
		// Python's white space includes U+001C..U+001F and the Unicode spaces.
		{"a\u001cb\u00a0c\u3000d", []string{"a", "b", "c", "d"}},
		// Non-ASCII letters and punctuation are left alone.
		{"café’s «x»", []string{"café’s", "«x»"}},
		// Characters in the punctuation ranges of the first rule: {-~ [-` space-& (-+ :-@ /.
		{"a{b|c}d~e[f\\g]h^i_j`k\"l#m$n%o&p(q)r*s+t:u;v<w=x>y?z@A/B", strings.Split("a { b | c } d ~ e [ f \\ g ] h ^ i _ j ` k \" l # m $ n % o & p ( q ) r * s + t : u ; v < w = x > y ? z @ A / B", " ")},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Tokenize13a(tt.in), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Tokenize13a(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestNewBLEUStats(t *testing.T) {
	tests := []struct {
		hyp, ref string
		want     BLEUStats
	}{
		// sacreBLEU test/test_bleu.py, test_case_statistics.
		{"am I am a character sequence", "I am a symbol string sequence a a",
			BLEUStats{HypLen: 6, RefLen: 8, Matches: [4]int{4, 2, 1, 0}, Totals: [4]int{6, 5, 4, 3}}},
		// By hand: hyp unigrams the×2 cat×2 against ref the×2 cat×1 clip to
		// 2+1; bigrams "the cat"×2 "cat the" against one "the cat" give 1;
		// no trigram or 4-gram of the hyp is in the ref.
		{"the cat the cat", "the cat on the mat",
			BLEUStats{HypLen: 4, RefLen: 5, Matches: [4]int{3, 1, 0, 0}, Totals: [4]int{4, 3, 2, 1}}},
		// Matching is case-sensitive and on 13a tokens: "The" ≠ "the", and
		// "mat." is two tokens in both.
		{"The mat.", "the mat.",
			BLEUStats{HypLen: 3, RefLen: 3, Matches: [4]int{2, 1, 0, 0}, Totals: [4]int{3, 2, 1, 0}}},
		// An empty hypothesis has no n-grams; the reference length still counts.
		{"", "one two", BLEUStats{RefLen: 2}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, NewBLEUStats(tt.hyp, tt.ref)); diff != "" {
			t.Errorf("NewBLEUStats(%q, %q) (-want +got):\n%s", tt.hyp, tt.ref, diff)
		}
	}
}

// relClose reports |got − want| ≤ tol·|want|, or got == want when want is 0.
func relClose(got, want, tol float64) bool {
	if want == 0 {
		return got == 0
	}
	return math.Abs(got-want) <= tol*math.Abs(want)
}

func TestBLEUFromStats(t *testing.T) {
	tests := []struct {
		name      string
		s         BLEUStats
		effective bool
		want      float64
		tol       float64 // absolute
	}{
		{"sacreBLEU test_bleu.py test_case_scoring: 0.8375922397 ± 1e-8 on 0..1",
			BLEUStats{HypLen: 11, RefLen: 11, Matches: [4]int{9, 7, 5, 3}, Totals: [4]int{10, 8, 6, 4}}, false,
			83.75922397, 1e-6},
		{"exp smoothing of the 4-gram order and brevity penalty, by hand",
			BLEUStats{HypLen: 6, RefLen: 8, Matches: [4]int{4, 2, 1, 0}, Totals: [4]int{6, 5, 4, 3}}, false,
			math.Exp(1-8.0/6) * math.Pow(400.0/6*40*25*(100.0/(2*3)), 0.25), 1e-12},
		{"two orders without matches halve the smoothing twice, by hand",
			BLEUStats{HypLen: 3, RefLen: 2, Matches: [4]int{2, 0, 0, 0}, Totals: [4]int{3, 2, 1, 0}}, true,
			math.Cbrt(200.0 / 3 * (100.0 / (2 * 2)) * (100.0 / (4 * 1))), 1e-12},
		{"corpus BLEU without effective order: a missing order scores 0",
			BLEUStats{HypLen: 3, RefLen: 2, Matches: [4]int{2, 0, 0, 0}, Totals: [4]int{3, 2, 1, 0}}, false,
			0, 0},
		{"sacreBLEU #141: no match at all scores 0 even when smoothed",
			BLEUStats{HypLen: 4, RefLen: 2, Totals: [4]int{4, 3, 2, 1}}, true,
			0, 0},
		{"empty hypothesis: brevity penalty 0",
			BLEUStats{RefLen: 5}, true, 0, 0},
	}
	for _, tt := range tests {
		got := bleu(tt.s, tt.effective).Score
		if math.Abs(got-tt.want) > tt.tol {
			t.Errorf("%s: BLEU = %.17g, want %.17g", tt.name, got, tt.want)
		}
	}
}

func TestSentenceBLEUPublished(t *testing.T) {
	tests := []struct {
		name     string
		hyp, ref string
		want     float64
		tol      float64 // absolute, the tolerance of the source
	}{
		// sacreBLEU test/test_sentence_bleu.py, example from issue #98, exp smoothing, 13a.
		{"sacreBLEU #98", "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;",
			"producţia de zahăr brut se exprimă în zahăr alb;", 8.493, 1e-3},
		// Same file, issue #141: no match scores 0.
		{"sacreBLEU #141", "this is a cat", "okay thanks", 0, 1e-3},
		// sacreBLEU test/test_bleu.py test_case_effective_order: one order,
		// BP = exp(1 − 2/1); smoothing does not enter since every order matches.
		{"effective order 1", "test", "a test", 100 * 0.3678794411714425, 1e-6},
		{"effective order 2", "a test", "a test", 100, 1e-6},
	}
	for _, tt := range tests {
		got := SentenceBLEU(NewBLEUStats(tt.hyp, tt.ref)).Score
		if math.Abs(got-tt.want) > tt.tol {
			t.Errorf("%s: SentenceBLEU = %.10g, want %.10g ± %g", tt.name, got, tt.want, tt.tol)
		}
	}
}

func TestCorpusBLEU(t *testing.T) {
	// The hypotheses of sacreBLEU's README and test_bleu.py, against their
	// first reference stream only. Counts by hand:
	//   "The dog bit the man ." = its reference: matches 6,5,4,3 of 6,5,4,3;
	//   "It wasn't surprising ." vs "It was not unexpected .": unigrams
	//   It and . match, nothing longer: 2,0,0,0 of 4,3,2,1; ref 5;
	//   "The man had just bitten him ." vs "The man bit him first .": The,
	//   man, him, . and "The man": 4,1,0,0 of 7,6,5,4; ref 6.
	hyps := []string{"The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."}
	refs := []string{"The dog bit the man.", "It was not unexpected.", "The man bit him first."}
	var stats []BLEUStats
	for i := range hyps {
		stats = append(stats, NewBLEUStats(hyps[i], refs[i]))
	}
	got := CorpusBLEU(stats)
	wantStats := BLEUStats{HypLen: 17, RefLen: 17, Matches: [4]int{12, 6, 4, 3}, Totals: [4]int{17, 14, 11, 8}}
	if diff := cmp.Diff(wantStats, got.BLEUStats); diff != "" {
		t.Errorf("summed statistics (-want +got):\n%s", diff)
	}
	want := math.Pow(1200.0/17*(600.0/14)*(400.0/11)*(300.0/8), 0.25) // BP = 1
	if !relClose(got.Score, want, 1e-13) || got.BP != 1 {
		t.Errorf("CorpusBLEU = %.17g (BP %v), want %.17g (BP 1)", got.Score, got.BP, want)
	}
	wantP := [4]float64{1200.0 / 17, 600.0 / 14, 400.0 / 11, 300.0 / 8}
	if diff := cmp.Diff(wantP, got.Precisions); diff != "" {
		t.Errorf("precisions (-want +got):\n%s", diff)
	}
	// Summing is order-free: corpus BLEU of a permutation is identical.
	if p := CorpusBLEU([]BLEUStats{stats[2], stats[0], stats[1]}); p.Score != got.Score {
		t.Errorf("permuted corpus BLEU %v != %v", p.Score, got.Score)
	}
}

func TestScoreTexts(t *testing.T) {
	hyps := []string{"The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."}
	refs := []string{"The dog bit the man.", "It was not unexpected.", "The man bit him first."}
	got := ScoreTexts(hyps, refs, Bootstrap{Seed: 7})
	var stats []BLEUStats
	var f float64
	for i := range hyps {
		stats = append(stats, NewBLEUStats(hyps[i], refs[i]))
		f += ROUGEL(hyps[i], refs[i]).F
	}
	if c := CorpusBLEU(stats); got.BLEU.Value != c.Score || got.Corpus != c {
		t.Errorf("BLEU %v, corpus %+v; want %v", got.BLEU.Value, got.Corpus, c.Score)
	}
	if !relClose(got.ROUGEL.Value, f/3, 1e-15) {
		t.Errorf("ROUGE-L %v, want mean %v", got.ROUGEL.Value, f/3)
	}
	for _, iv := range []Interval{got.BLEU, got.ROUGEL} {
		if !(iv.Lo <= iv.Hi) || math.IsNaN(iv.Lo) {
			t.Errorf("interval %+v is not ordered", iv)
		}
	}
}

func FuzzNewBLEUStats(f *testing.F) {
	f.Add("The cat sat on the mat.", "The cat is on the mat.")
	f.Add("&amp;lt;skipped&gt; 1,000.5-\n", "x\u001cy")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, hyp, ref string) {
		s := NewBLEUStats(hyp, ref)
		for n := range BLEUOrder {
			if s.Totals[n] != max(0, s.HypLen-n) || s.Matches[n] < 0 || s.Matches[n] > s.Totals[n] {
				t.Fatalf("inconsistent statistics %+v", s)
			}
		}
		if sc := SentenceBLEU(s).Score; !(sc >= 0 && sc <= 100*(1+1e-12)) {
			t.Fatalf("sentence BLEU %v outside 0..100", sc)
		}
		self := NewBLEUStats(hyp, hyp)
		if self.Matches != self.Totals {
			t.Fatalf("a hypothesis against itself: %+v", self)
		}
		for _, tok := range Tokenize13a(hyp) {
			if tok == "" || strings.IndexFunc(tok, pySpace) >= 0 {
				t.Fatalf("token %q is empty or holds white space", tok)
			}
		}
	})
}
