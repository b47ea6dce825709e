package quality

import "fmt"

// TextScores holds the reference-based text metrics of a cell.
type TextScores struct {
	BLEU   Interval  // corpus BLEU, 0..100, resampling sentences
	Corpus BLEUScore // the corpus BLEU of the full cell with its parts
	ROUGEL Interval  // mean ROUGE-L F-measure, 0..1
}

// ScoreTexts scores a cell's generations hyps against their references refs,
// one reference each, resampling prompts with b. It panics if the lengths
// differ.
func ScoreTexts(hyps, refs []string, b Bootstrap) TextScores {
	if len(hyps) != len(refs) {
		panic(fmt.Sprintf("quality: %d hypotheses for %d references", len(hyps), len(refs)))
	}
	stats := make([]BLEUStats, len(hyps))
	f := make([]float64, len(hyps))
	for i := range hyps {
		stats[i] = NewBLEUStats(hyps[i], refs[i])
		f[i] = ROUGEL(hyps[i], refs[i]).F
	}
	return TextScores{
		BLEU: b.Interval(len(stats), func(idx []int) float64 {
			var s BLEUStats
			for _, i := range idx {
				s = s.Add(stats[i])
			}
			return bleu(s, false).Score
		}),
		Corpus: CorpusBLEU(stats),
		ROUGEL: b.Mean(f),
	}
}
