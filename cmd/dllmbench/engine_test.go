package main

import (
	"strings"
	"testing"
)

// A negative thread count or device index, or a thread count no machine
// has CPUs for, is refused where the flag is parsed, by every command that
// runs a model (run's --devices list has its own checks, in
// TestRunDevices). Before, --threads 99999999999 ran out of memory.
func TestBackendFlagsNegative(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--dry-run", "--threads", "-1"}, `invalid value "-1" for flag -threads: want an integer from 0 (one per CPU) to 4096`},
		{[]string{"generate", "--model", "../../testdata/stories260K", "--prompt-ids", "1", "--threads", "-1"}, `invalid value "-1" for flag -threads`},
		{[]string{"generate", "--model", "../../testdata/stories260K", "--prompt-ids", "1", "--devices", "-1"}, `invalid value "-1" for flag -devices`},
		{[]string{"score", "--model", "../../testdata/stories260K", "--ids", "5", "--threads", "-2"}, `invalid value "-2" for flag -threads`},
		{[]string{"quality", "--threads", "-1"}, `invalid value "-1" for flag -threads`},
		{[]string{"generate", "--threads", "x"}, `invalid value "x" for flag -threads: want an integer from 0`},
		{[]string{"generate", "--model", "../../testdata/stories260K", "--prompt-ids", "1", "--threads", "99999999999"}, `invalid value "99999999999" for flag -threads`},
		{[]string{"run", "--dry-run", "--threads", "4097"}, `invalid value "4097" for flag -threads`},
	} {
		r := dllmbench(t, "", tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: code %d, %q; want code 2 and one line with %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
