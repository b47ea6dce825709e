package quality

import (
	"fmt"
	"math"
	"testing"
)

func TestDistinct(t *testing.T) {
	seqs := [][]int32{{1, 2, 1, 2}, {1, 2, 3}}
	tests := []struct {
		n    int
		want float64
	}{
		// Unigrams: 7 tokens, distinct {1 2 3}.
		{1, 3.0 / 7},
		// Bigrams: 12 21 12 | 12 23 = 5, distinct {12 21 23}; the 2→1 across
		// the sequence boundary is not a bigram.
		{2, 3.0 / 5},
		// Trigrams: 121 212 | 123, all distinct.
		{3, 3.0 / 3},
		// 4-grams: only 1212.
		{4, 1},
	}
	for _, tt := range tests {
		if got := Distinct(seqs, tt.n); got != tt.want {
			t.Errorf("Distinct(n=%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
	// No sequence long enough: undefined.
	if got := Distinct([][]int32{{1}, {}}, 2); !math.IsNaN(got) {
		t.Errorf("Distinct of too-short sequences = %v, want NaN", got)
	}
	// Any comparable token type works: words here.
	if got := Distinct([][]string{{"a", "rose", "is", "a", "rose"}}, 2); got != 3.0/4 {
		t.Errorf("Distinct of words = %v, want 3/4", got)
	}
}

func TestRepetition(t *testing.T) {
	tests := []struct {
		seq  []int32
		n    int
		want float64
	}{
		// a b c d a b c d a: 4-grams abcd bcda cdab dabc abcd bcda, 4 distinct of 6.
		{[]int32{1, 2, 3, 4, 1, 2, 3, 4, 1}, 4, 1 - 4.0/6},
		// No repeat at all.
		{[]int32{1, 2, 3, 4, 5}, 4, 0},
		// One token repeated: 7 4-grams, 1 distinct.
		{[]int32{9, 9, 9, 9, 9, 9, 9, 9, 9, 9}, 4, 1 - 1.0/7},
		// Unigram repetition: 2 distinct of 4.
		{[]int32{5, 6, 5, 6}, 1, 0.5},
	}
	for _, tt := range tests {
		if got := Repetition(tt.seq, tt.n); math.Abs(got-tt.want) > 1e-15 {
			t.Errorf("Repetition(%v, %d) = %v, want %v", tt.seq, tt.n, got, tt.want)
		}
	}
	if got := Repetition([]int32{1, 2, 3}, 4); !math.IsNaN(got) {
		t.Errorf("Repetition of 3 tokens at n=4 = %v, want NaN", got)
	}
}

func TestEntropy(t *testing.T) {
	tests := []struct {
		seq  []int32
		want float64
	}{
		// Two tokens, equally often: one bit.
		{[]int32{1, 1, 2, 2}, 1},
		// Four distinct tokens: two bits.
		{[]int32{1, 2, 3, 4}, 2},
		// A constant sequence carries nothing.
		{[]int32{7, 7, 7}, 0},
		// Frequencies 3/4, 1/4.
		{[]int32{1, 1, 1, 2}, -(0.75*math.Log2(0.75) + 0.25*math.Log2(0.25))},
	}
	for _, tt := range tests {
		if got := Entropy(tt.seq); math.Abs(got-tt.want) > 1e-15 {
			t.Errorf("Entropy(%v) = %v, want %v", tt.seq, got, tt.want)
		}
	}
	if got := Entropy([]int32{}); !math.IsNaN(got) {
		t.Errorf("Entropy of nothing = %v, want NaN", got)
	}
}

func TestScoreTokens(t *testing.T) {
	seqs := [][]int32{
		{1, 2, 3, 4, 1, 2, 3, 4, 1},
		{5, 6, 7, 8, 9, 10},
		{1, 1, 1, 1, 1},
		{2, 3}, // too short for 4-grams: left out of the repetition mean
		{},     // empty: left out of the entropy mean
	}
	b := Bootstrap{Seed: 3}
	d := ScoreTokens(seqs, b)
	for n := 1; n <= MaxN; n++ {
		if got, want := d.Distinct[n-1].Value, Distinct(seqs, n); got != want {
			t.Errorf("distinct-%d = %v, want %v", n, got, want)
		}
		// No interval: resampling with replacement repeats sequences.
		if iv := d.Distinct[n-1]; !math.IsNaN(iv.Lo) || !math.IsNaN(iv.Hi) {
			t.Errorf("distinct-%d has bounds [%v, %v]", n, iv.Lo, iv.Hi)
		}
	}
	if iv := d.Repetition; !(iv.Lo <= iv.Value && iv.Value <= iv.Hi) {
		t.Errorf("repetition %v outside its interval [%v, %v]", iv.Value, iv.Lo, iv.Hi)
	}
	wantRep := (Repetition(seqs[0], 4) + Repetition(seqs[1], 4) + Repetition(seqs[2], 4)) / 3
	if math.Abs(d.Repetition.Value-wantRep) > 1e-15 {
		t.Errorf("repetition = %v, want %v", d.Repetition.Value, wantRep)
	}
	wantEnt := (Entropy(seqs[0]) + Entropy(seqs[1]) + Entropy(seqs[2]) + Entropy(seqs[3])) / 4
	if math.Abs(d.Entropy.Value-wantEnt) > 1e-15 {
		t.Errorf("entropy = %v, want %v", d.Entropy.Value, wantEnt)
	}
	if again := ScoreTokens(seqs, b); fmt.Sprint(again) != fmt.Sprint(d) { // NaN bounds: compare as text
		t.Errorf("same seed, different result:\n%+v\n%+v", again, d)
	}
}

func TestNGramOrderPanics(t *testing.T) {
	for _, n := range []int{0, MaxN + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Distinct with n=%d did not panic", n)
				}
			}()
			Distinct([][]int32{{1, 2}}, n)
		}()
	}
}
