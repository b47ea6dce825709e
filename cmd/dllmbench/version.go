package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"dllmbench/internal/buildinfo"
)

func init() {
	register(&command{
		name:    "version",
		summary: "print the version, commit, build date and Go version",
		usage:   "[--json]",
		examples: `  dllmbench version
  dllmbench version --json
`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			asJSON := fs.Bool("json", false, "print as JSON")
			return func(_ context.Context, args []string) error {
				if len(args) > 0 {
					return usagef("unexpected argument %q", args[0])
				}
				in := buildinfo.Get()
				if *asJSON {
					enc := json.NewEncoder(out)
					enc.SetIndent("", "  ")
					return enc.Encode(in)
				}
				dirty := ""
				if in.Modified {
					dirty = " (modified)"
				}
				fmt.Fprintf(out, "dllmbench %s\ncommit  %s%s\nbuilt   %s\ngo      %s\n", in.Version, in.Commit, dirty, in.Date, in.GoVersion)
				return nil
			}
		},
	})
}
