package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"

	"dllmbench/bench"
	"dllmbench/report"
)

func init() {
	register(&command{
		name:    "plot",
		summary: "draw the figures (PNG and SVG) from records, without the other report files",
		usage:   "[--output_dir DIR] [RECORDS.jsonl | DIR]...",
		examples: `  # draw results/figures/*.{png,svg} from results/records/*.jsonl
  dllmbench plot

  # the figures of several jobs' records, merged, with results/merged's quality metrics
  dllmbench plot --output_dir results/merged results/job-*/records/*.jsonl
`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			var dir string
			alias(fs, "output_dir", "output-dir")(func(n string) {
				fs.StringVar(&dir, n, "results", "results folder: figures go to DIR/figures, quality metrics come from DIR/raw_data/quality_metrics.json")
			})
			return func(_ context.Context, args []string) error {
				if err := flagAfterArgs(fs, args); err != nil {
					return err
				}
				set := setFlags(fs)
				if err := checkOutputDir(dir, set["output_dir"] || set["output-dir"], args); err != nil {
					return err
				}
				return plotFigures(dir, args)
			}
		},
	})
}

// plotFigures draws the figures of dir's records (or of the given record
// files) into dir/figures and lists what it drew and what it skipped.
func plotFigures(dir string, files []string) error {
	recs, err := readRecords(dir, files)
	if err != nil {
		return err
	}
	figs, err := report.WriteFigures(dir, bench.Latest(recs))
	if err != nil {
		return err
	}
	noteOverwritten(recs)
	for _, f := range figs.Drawn {
		p := filepath.Join(dir, "figures", f.Name)
		fmt.Fprintf(out, "%s.svg  %s.png  %s\n", p, p, f.Title)
	}
	for _, s := range figs.Skipped {
		fmt.Fprintf(out, "skipped %s: %s\n", s.Name, s.Reason)
	}
	return nil
}
