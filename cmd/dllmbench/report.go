package main

import (
	"context"
	"flag"
)

func init() {
	register(&command{
		name:    "report",
		summary: "rebuild tables and files from records (of one run or merged from many)",
		usage:   "[--output_dir DIR] [RECORDS.jsonl | DIR]...",
		examples: `  # rebuild results/ from results/records/*.jsonl and print the table
  dllmbench report

  # merge the records of several jobs into one folder's outputs
  dllmbench report --output_dir results/merged results/job-*/records/*.jsonl
`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			var dir string
			alias(fs, "output_dir", "output-dir")(func(n string) { fs.StringVar(&dir, n, "results", "results folder to write") })
			return func(_ context.Context, args []string) error {
				if err := flagAfterArgs(fs, args); err != nil {
					return err
				}
				set := setFlags(fs)
				if err := checkOutputDir(dir, set["output_dir"] || set["output-dir"], args); err != nil {
					return err
				}
				return buildReports(dir, args)
			}
		},
	})
}
