// Package quality scores what a model generated: the model-free metrics of a
// benchmark cell, each with a bootstrap interval over the cell's prompts
// (except distinct-n, see [Diversity]).
//
// Text metrics reproduce the reference Python tools bit for bit, so numbers
// can be set beside published ones:
//   - BLEU as sacreBLEU computes it by default (13a tokenizer, order 4,
//     brevity penalty, 'exp' smoothing; sentence BLEU with effective order).
//     A cell reports corpus BLEU, sacrebleu.corpus_bleu(generations,
//     [references]) on 0..100, not a mean of sentence BLEUs;
//   - ROUGE-L as google-research rouge_score computes it by default
//     (RougeScorer(["rougeL"]), no stemming; not rougeLsum). A cell reports
//     the mean over its generations of the F-measure, on 0..1;
//   - GSM8K accuracy as lm-evaluation-harness's gsm8k task extracts and
//     matches answers (strict "#### n" and flexible last-number filters).
//
// Token metrics describe diversity and degeneration: distinct-n pooled over
// the cell, sequence repetition and unigram entropy, in bits. They count the
// words of the decoded texts as sacreBLEU's 13a tokenizer splits them, so
// that cells of models with different tokenizers (LLaDA's, LLaMA-3's)
// compare; a model without tokenizer.json has no texts, and its cells count
// its token ids instead (up to the first EOS where its config is found),
// which CellMetrics.TokenUnit says.
//
// Every cell statistic but distinct-n goes through [Bootstrap], which
// resamples prompts with a seeded generator, so intervals are reproducible
// and, with one seed, the metrics of a cell are resampled on the same prompt
// sets. Distinct-n has no interval: a resample repeats generations, which
// adds n-grams and no distinct ones, so every resample falls below the cell.
//
// Metrics that need a model (generative perplexity under a judge model,
// BERTScore) belong here too and follow the same shape: per-prompt values, a
// cell statistic, a bootstrap interval.
package quality
