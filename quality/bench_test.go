package quality

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// A GSM8K-sized cell: 1319 prompts of 256 generated tokens from a 32k
// vocabulary with a Zipf-like skew, the shape ScoreTokens meets in a run.
func cellTokens() [][]int32 {
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.1, 1, 32000)
	seqs := make([][]int32, 1319)
	for i := range seqs {
		seqs[i] = make([]int32, 256)
		for j := range seqs[i] {
			seqs[i][j] = int32(z.Uint64())
		}
	}
	return seqs
}

func BenchmarkScoreTokens(b *testing.B) {
	seqs := cellTokens()
	for b.Loop() {
		ScoreTokens(seqs, Bootstrap{})
	}
}

func BenchmarkScoreTexts(b *testing.B) {
	words := strings.Fields("the a of to and in is it that for on was with he as I his at by be this had not are but from or have an they which one you were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three")
	r := rand.New(rand.NewPCG(3, 4))
	sentence := func() string {
		var sb strings.Builder
		for range 60 {
			sb.WriteString(words[r.IntN(len(words))])
			sb.WriteString(" ")
		}
		return sb.String()
	}
	hyps, refs := make([]string, 1319), make([]string, 1319)
	for i := range hyps {
		hyps[i], refs[i] = sentence(), sentence()
	}
	for b.Loop() {
		ScoreTexts(hyps, refs, Bootstrap{})
	}
}
