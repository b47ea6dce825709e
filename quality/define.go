package quality

import (
	"fmt"
	"strings"
)

// define says what the metric of quality_metrics.json called name is,
// precisely enough to set it beside the number of the tool it reproduces:
// the tool's call and options, and how a cell aggregates it. bs is how
// BERTScore was computed. It returns "" for a name it does not know.
func define(name string, bs *BERTScoreEncoder) string {
	const words = "counting the generations' words as sacreBLEU's 13a tokenizer splits them (the model's token ids where token_unit says ids)"
	switch name {
	case MJudgePPL:
		return "generative perplexity exp(Σ NLL / Σ tokens) under the judge over the cell's generations (MDLM's, token-weighted), " +
			"each re-tokenized by the judge and scored after its prompt; empty generations not scored"
	case MBLEU:
		return "sacreBLEU corpus_bleu(generations, [references]), 0–100, its defaults: nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp; " +
			"not a mean of sentence BLEUs"
	case MROUGEL:
		return "rouge_score RougeScorer(['rougeL']) F-measure, its defaults: its tokenizer, no stemming, " +
			"one LCS over each whole text (not rougeLsum); mean over the generations, 0–1"
	case MBERTScoreP, MBERTScoreR, MBERTScoreF1:
		part := map[string]string{MBERTScoreP: "precision", MBERTScoreR: "recall", MBERTScoreF1: "F1"}[name]
		how := "its encoder"
		if bs != nil {
			rescaled := "not rescaled"
			if b := bs.Baseline; b != nil {
				rescaled = fmt.Sprintf("rescaled with baseline P %g, R %g, F %g", b.P, b.R, b.F)
			}
			how = fmt.Sprintf("%s, layer %d, no idf, %s", bs.ID, bs.Layer, rescaled)
		}
		return fmt.Sprintf("bert_score %s (%s; a text longer than the encoder takes keeps its first tokens), mean over the generations", part, how)
	case MEntropy:
		return "unigram entropy in bits of each generation, " + words + ", mean over the non-empty generations"
	case MRepetition:
		return "seq-rep-4 (Welleck et al. 2020): 1 − distinct / all 4-grams of each generation, " + words +
			", mean over the generations of 4 tokens or more"
	case MTaskStrict:
		return "lm-evaluation-harness gsm8k strict-match: the number after the first '#### ' of the generation cut at its stop sequences, " +
			"exact match after its normalisation; fraction correct"
	case MTaskFlexible:
		return "lm-evaluation-harness gsm8k flexible-extract: the last number of the generation cut at its stop sequences, " +
			"exact match after its normalisation; fraction correct"
	}
	if n, ok := strings.CutPrefix(name, MDistinct); ok {
		return fmt.Sprintf("distinct %s-grams / all %s-grams pooled over all the cell's generations, %s; no interval", n, n, words)
	}
	return ""
}

// definitions defines the metrics that some cell of m has, by name.
func (m *Metrics) definitions() map[string]string {
	defs := map[string]string{}
	for _, c := range m.Cells {
		for name := range c.Metrics {
			if _, ok := defs[name]; !ok {
				if d := define(name, m.BERTScore); d != "" {
					defs[name] = d
				}
			}
		}
	}
	return defs
}
