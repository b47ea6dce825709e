package quality

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestROUGETokens(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		// Nothing alphanumeric, no tokens.
		{"", nil},
		{"!? -- …", nil},
		// Lower-cased; punctuation and white space separate.
		{"Hello, World! It's 2024.", []string{"hello", "world", "it", "s", "2024"}},
		// Digits and letters run together; a hyphen or period separates.
		{"GPT-4o and v1.5", []string{"gpt", "4o", "and", "v1", "5"}},
		// Non-ASCII letters separate: "café" loses its é.
		{"café naïve", []string{"caf", "na", "ve"}},
		// Python lower-cases KELVIN SIGN to "k" and "İ" to "i" + U+0307, and
		// the combining dot separates.
		{"\u212aelvin \u0130stanbul", []string{"kelvin", "i", "stanbul"}},
		// Fullwidth digits are not [0-9].
		{"ｘ１２3", []string{"3"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ROUGETokens(tt.in), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("ROUGETokens(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestROUGEL(t *testing.T) {
	// Rows marked rouge_score are from google-research rouge/rouge_scorer_test.py
	// (their score(target, prediction) is our ROUGEL(prediction, target)).
	// The ROUGE-1.5.5 rows are its testRougeLAgainstRouge155 on lines 0 and
	// 1 of rouge/testdata/{prediction,target}.txt, checked there to 5 places.
	tests := []struct {
		name     string
		hyp, ref string
		want     ROUGE
		tol      float64
	}{
		{"rouge_score consecutive", "testing one", "testing one two", ROUGE{1, 2.0 / 3, 4.0 / 5}, 1e-15},
		{"rouge_score non-consecutive", "testing two", "testing one two", ROUGE{1, 2.0 / 3, 4.0 / 5}, 1e-15},
		{"rouge_score empty prediction", "", "testing one two", ROUGE{}, 0},
		{"only punctuation on one side", "/", "w1 w2", ROUGE{}, 0},
		// By hand: LCS of "a b c d" and "b d a" is "b d": P 2/3, R 2/4, F = 2·(2/3)(1/2)/(2/3+1/2) = 4/7.
		{"by hand", "B, D; A", "a b c d", ROUGE{2.0 / 3, 0.5, 4.0 / 7}, 1e-15},
		{"ROUGE-1.5.5 line 0",
			"rFDJCRtion Ht-LM EKtDXkME,yz'RBr q'wer wrojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxi\n",
			"ZfbCUIUuePaiLVUlCaUXxkpu XPeWing tUHfPMuZ',-Xd Y BrUgVJing M-HV.-DgdDaY.rFDJCRing Ht-LM EKBDXkME,yz'RBr q'wtion wIojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxer tKM L\n",
			ROUGE{0.68750, 0.40741, 0.51163}, 5e-6},
		{"ROUGE-1.5.5 line 1",
			"n cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMer pstion sbKao Q m qier LMmed HqqLFXe,XPY,J XsurkMeo ,ed nB'wH'bWVHjWFEer tQ.saefZwJtKrTlixYpMMNJtion UCAPwNHeYVjD\n",
			"KsJdPByEtAor fE-Qg Dpdbring cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMtion psing sbKao Q m qiing LMmer HqqLFXe,XPY,J XsurkMer ,ed nB'wH'bWVHjWFEing tQ.saefZwJtKrTlixYpMMsJing UCAPwNHeYVjDing c T BUySKtion gMPfJpwGw p'NvxAoping eu pBwMBKV'I DNxqelhu,PHPxDEq,mtion SN\n",
			ROUGE{0.65385, 0.40476, 0.50000}, 5e-6},
	}
	for _, tt := range tests {
		got := ROUGEL(tt.hyp, tt.ref)
		if math.Abs(got.Precision-tt.want.Precision) > tt.tol || math.Abs(got.Recall-tt.want.Recall) > tt.tol || math.Abs(got.F-tt.want.F) > tt.tol {
			t.Errorf("%s: ROUGEL = %+v, want %+v ± %g", tt.name, got, tt.want, tt.tol)
		}
	}
}

func TestLCS(t *testing.T) {
	tests := []struct {
		a, b []string
		want int
	}{
		// rouge_scorer_test.py testLcsTable: [1 2 3 4 5] and [2 5 3 4] share 2 3 4.
		{[]string{"1", "2", "3", "4", "5"}, []string{"2", "5", "3", "4"}, 3},
		// Same test: nothing in common.
		{[]string{"1", "2", "3", "4", "5"}, []string{"8", "9"}, 0},
		// Empty side.
		{nil, []string{"x"}, 0},
		// The LCS need not be contiguous, and is symmetric: a c e.
		{[]string{"a", "b", "c", "d", "e"}, []string{"a", "c", "e"}, 3},
		{[]string{"a", "c", "e"}, []string{"a", "b", "c", "d", "e"}, 3},
	}
	for _, tt := range tests {
		if got := lcs(tt.a, tt.b); got != tt.want {
			t.Errorf("lcs(%v, %v) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func FuzzROUGETokens(f *testing.F) {
	f.Add("Hello, \u212aelvin \u0130stanbul 42")
	f.Add("\xff\xfe bytes")
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range ROUGETokens(s) {
			if tok == "" {
				t.Fatal("empty token")
			}
			for _, r := range tok {
				if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
					t.Fatalf("token %q holds %q", tok, r)
				}
			}
		}
		if r := ROUGEL(s, s); len(ROUGETokens(s)) > 0 && r != (ROUGE{1, 1, 1}) {
			t.Fatalf("text against itself: %+v", r)
		}
	})
}
