package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"dllmbench/bench"
	"dllmbench/compute/device"
	"dllmbench/quality"
	"dllmbench/report"
)

func init() {
	register(&command{
		name:    "quality",
		summary: "score the generations of recorded cells: judge perplexity, entropy, diversity, BLEU, ROUGE-L, BERTScore",
		usage:   "[--output_dir DIR] [--judge ID] [--task FILE] [--compute_bertscore [--bertscore_model ID] [--bertscore_layer N]] [--backend …]",
		examples: `  # score the records of the last 'dllmbench run' (run does this itself at the end)
  dllmbench quality

  # the study, judged by LLaMA-3-8B on the GPU
  dllmbench quality --output_dir results/study --judge meta-llama/Meta-Llama-3-8B --backend cuda

  # a built-in judge for a grid without a causal model; GSM8K accuracy too
  dllmbench quality --output_dir results/llada --judge builtin:demo-llama --task gsm8k_test.jsonl

  # model-free metrics only (no judge is loaded)
  dllmbench quality --judge none

  # BERTScore against the prompts' references, with roberta-large (bert_score's layer 17)
  dllmbench quality --compute_bertscore

  # BERTScore with a local encoder directory, whose layer must be named
  dllmbench quality --bertscore_model ./my-roberta --bertscore_layer 10
`,
		setup: setupQuality,
	})
}

type qualityFlags struct {
	outputDir string
	judge     string
	task      string
	resamples int
	seed      uint64
	bertScore bool
	encoder   string
	layer     int
	be        backendFlags
}

func setupQuality(fs *flag.FlagSet) func(context.Context, []string) error {
	var f qualityFlags
	alias(fs, "output_dir", "output-dir")(func(n string) {
		fs.StringVar(&f.outputDir, n, "results", "results folder: its records are read, raw_data/quality_metrics.json written")
	})
	fs.StringVar(&f.judge, "judge", "", "causal model of generative perplexity: a model directory, hub id or builtin:NAME; none for no judge (default: the records' first causal model)")
	fs.StringVar(&f.task, "task", "", "JSONL task file ({\"question\", \"answer\"}, GSM8K's): accuracy of cells whose prompts ask its problems (README: Task accuracy)")
	fs.IntVar(&f.resamples, "resamples", 1000, "bootstrap resamples of the 95% intervals")
	fs.Uint64Var(&f.seed, "seed", 0, "bootstrap seed")
	alias(fs, "compute_bertscore", "compute-bertscore")(func(n string) {
		fs.BoolVar(&f.bertScore, n, false, "BERTScore of each generation against its prompt's reference")
	})
	alias(fs, "bertscore_model", "bertscore-model")(func(n string) {
		fs.StringVar(&f.encoder, n, "", "BERTScore's encoder: a directory or hub id (default roberta-large); implies --compute_bertscore")
	})
	alias(fs, "bertscore_layer", "bertscore-layer")(func(n string) {
		fs.IntVar(&f.layer, n, 0, "the encoder layer BERTScore compares (default: bert_score's for a known encoder)")
	})
	f.be.register(fs)
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q", args[0])
		}
		if f.resamples < 1 {
			return usagef("--resamples %d: want at least 1", f.resamples)
		}
		if f.layer < 0 {
			return usagef("--bertscore_layer %d: want 0 (the encoder's default) or more", f.layer)
		}
		lopt, err := f.be.loadOptions()
		if err != nil {
			return err
		}
		o := quality.Options{Judge: f.judge, JudgeLoad: lopt, Task: f.task,
			Device:    device.Options{Backend: f.be.backend, Device: f.be.device, Threads: f.be.threads},
			Bootstrap: quality.Bootstrap{Resamples: f.resamples, Seed: f.seed}}
		if f.bertScore || f.encoder != "" || f.layer > 0 {
			o.BERTScore = &quality.BERTScoreOptions{Encoder: f.encoder, Layer: f.layer, Device: o.Device}
		}
		return computeQuality(ctx, f.outputDir, o)
	}
}

// computeQuality scores dir's records, writes dir/raw_data/quality_metrics.json
// and prints the table. Once ctx is cancelled it stops and writes nothing.
func computeQuality(ctx context.Context, dir string, o quality.Options) error {
	recs, err := readRecords(dir, nil)
	if err != nil {
		return err
	}
	recs = bench.Latest(recs)
	if o.Notice == nil {
		o.Notice = func(s string) { slog.Info(s) }
	}
	if o.Task == "" {
		o.Task = recordsTask(recs, o.Notice)
	}
	if o.BERTScore != nil && o.BERTScore.Optional {
		// Skipped for want of its encoder, BERTScore is kept from the file
		// this one replaces where it still holds. An unreadable file fails
		// rather than being overwritten with what it held.
		earlier, err := quality.ReadMetrics(filepath.Join(dir, quality.MetricsFile))
		switch {
		case err == nil:
			o.Earlier = earlier
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("keeping the earlier BERTScore: %w", err)
		}
	}
	m, err := quality.Compute(ctx, recs, o)
	if err != nil {
		return err
	}
	path, err := quality.WriteMetrics(dir, m)
	if err != nil {
		return err
	}
	printQuality(out, m)
	slog.Info("quality metrics written", "path", path, "cells", len(m.Cells), "judge", judgeName(m))
	return nil
}

func judgeName(m *quality.Metrics) string {
	if m.Judge == nil {
		return "none"
	}
	return m.Judge.ID
}

// recordsTask is the task file the records' prompts were made from (source
// task), so that accuracy is scored without --task; "" where they name
// none, several, or one that is not on this machine (said through notice).
func recordsTask(recs []bench.Record, notice func(string)) string {
	var paths []string
	for _, r := range recs {
		if ps := r.PromptSource; ps != nil && ps.Source == "task" && !slices.Contains(paths, ps.Path) {
			paths = append(paths, ps.Path)
		}
	}
	switch {
	case len(paths) == 0:
		return ""
	case len(paths) > 1:
		notice(fmt.Sprintf("the records' prompts come from %d task files (%s): accuracy needs one, named with --task", len(paths), strings.Join(paths, ", ")))
		return ""
	}
	if _, err := os.Stat(paths[0]); err != nil {
		notice(fmt.Sprintf("the records' task file %s is not here: accuracy not computed (--task FILE names it)", paths[0]))
		return ""
	}
	return paths[0]
}

// printQuality prints one row per cell: quality next to throughput, each
// cell named by its model, batch, prompt and generation lengths and decoder.
func printQuality(w io.Writer, m *quality.Metrics) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	bertScore, task := false, false // columns only where some cell has them
	for _, c := range m.Cells {
		_, ok := c.Metrics[quality.MBERTScoreF1]
		bertScore = bertScore || ok
		_, ok = c.Metrics[quality.MTaskStrict]
		task = task || ok
	}
	head := "model\tbatch\tprompt\tgen\tdecoder\tjudge PPL [95%]\tentropy\tBLEU\tROUGE-L\t"
	if bertScore {
		head += "BERTScore F1\t"
	}
	if task {
		head += "accuracy strict [95%]\tflexible [95%]\t"
	}
	fmt.Fprintf(tw, "%stok/s\t\n", head)
	for _, c := range m.Cells {
		ppl := "-"
		if p := c.Perplexity; p != nil {
			ppl = fmt.Sprintf("%s [%s, %s]", num(p.PPL.Value, 4), num(p.PPL.Lo, 4), num(p.PPL.Hi, 4))
			if p.Empty > 0 {
				ppl += fmt.Sprintf(" (%d empty)", p.Empty)
			}
		}
		metric := func(name string) string {
			if iv, ok := c.Metrics[name]; ok {
				return num(iv.Value, 3)
			}
			return "-"
		}
		row := fmt.Sprintf("%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t", c.Cell.Model, c.Cell.Batch, c.Cell.PromptLen, c.Cell.GenLen, report.Decoder(c.Cell), ppl,
			metric(quality.MEntropy), metric(quality.MBLEU), metric(quality.MROUGEL))
		if bertScore {
			row += metric(quality.MBERTScoreF1) + "\t"
		}
		if task {
			for _, name := range []string{quality.MTaskStrict, quality.MTaskFlexible} {
				iv, ok := c.Metrics[name]
				if !ok {
					row += "-\t"
					continue
				}
				row += fmt.Sprintf("%s [%s, %s]\t", num(iv.Value, 3), num(iv.Lo, 3), num(iv.Hi, 3))
			}
		}
		fmt.Fprintf(tw, "%s%s\t\n", row, num(float64(c.Cost.TokensPerS), 4))
	}
	tw.Flush()
	if m.Judge != nil {
		fmt.Fprintf(w, "judge: %s (config sha256 %.12s)\n", m.Judge.ID, m.Judge.ConfigSHA)
	}
	// What each column is, as the file defines it (entropy: below).
	for _, col := range [][2]string{{"judge PPL", quality.MJudgePPL}, {"BLEU", quality.MBLEU}, {"ROUGE-L", quality.MROUGEL},
		{"BERTScore F1", quality.MBERTScoreF1}, {"accuracy strict", quality.MTaskStrict}, {"flexible", quality.MTaskFlexible}} {
		if d, ok := m.Definitions[col[1]]; ok {
			fmt.Fprintf(w, "%s: %s\n", col[0], d)
		}
	}
	ids := 0
	for _, c := range m.Cells {
		if c.TokenUnit == quality.TokenIDs {
			ids++
		}
	}
	switch {
	case ids == 0:
		fmt.Fprintln(w, "entropy: bits per word of the generations (sacreBLEU's 13a words, up to EOS)")
	case ids == len(m.Cells):
		fmt.Fprintln(w, "entropy: bits per token id of the generating model (no decoded texts)")
	default:
		fmt.Fprintf(w, "entropy: bits per word of the generations; per token id for %d of the %d cells (no decoded texts)\n", ids, len(m.Cells))
	}
}

// num prints v with sig significant digits, "-" when it has no value.
func num(v float64, sig int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	if math.Abs(v) >= math.Pow10(sig) {
		return strconv.FormatFloat(v, 'f', 0, 64) // no exponent for a large perplexity
	}
	return strconv.FormatFloat(v, 'g', sig, 64)
}
