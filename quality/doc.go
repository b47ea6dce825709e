// Package quality scores what a model generated: the model-free metrics of a
// benchmark cell, each with a bootstrap interval over the cell's prompts.
//
// Text metrics reproduce the reference Python tools bit for bit, so numbers
// can be set beside published ones:
//   - BLEU as sacreBLEU computes it by default (13a tokenizer, order 4,
//     brevity penalty, 'exp' smoothing; sentence BLEU with effective order);
//   - ROUGE-L as google-research rouge_score computes it by default;
//   - GSM8K accuracy as lm-evaluation-harness's gsm8k task extracts and
//     matches answers (strict "#### n" and flexible last-number filters).
//
// Token metrics describe diversity and degeneration: distinct-n, sequence
// repetition and unigram entropy.
//
// Every cell statistic goes through [Bootstrap], which resamples prompts with
// a seeded generator, so intervals are reproducible and, with one seed, the
// metrics of a cell are resampled on the same prompt sets.
//
// Metrics that need a model (generative perplexity under a judge model,
// BERTScore) belong here too and follow the same shape: per-prompt values, a
// cell statistic, a bootstrap interval.
package quality
