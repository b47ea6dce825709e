package slurm

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ParseOptions reads sbatch's options as sbatch 22.05.8's getopt_long does
// (each case checked against that sbatch, `sbatch -vvv WORDS --wrap true`).
func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		words  []string
		want   []string // each option as name=value; "?WORD" for a word sbatch's table lacks
		sbatch []string // the words sbatch gets
		err    string
	}{
		// full names, the value in the word or the next; short options likewise
		{[]string{"--gres=gpu:2", "--partition", "gpu", "-G2", "-c", "4"},
			[]string{"gres=gpu:2", "partition=gpu", "gpus=2", "cpus-per-task=4"}, nil, ""},
		// an abbreviation is the one option it begins, named in full for
		// sbatch: before, --gpus-per-n=2 was not taken for a GPU request
		{[]string{"--cpus-per-t=4", "--gpus-per-n", "2", "--part=gpu", "--dep=afterok:7", "--exclus"},
			[]string{"cpus-per-task=4", "gpus-per-node=2", "partition=gpu", "dependency=afterok:7", "exclusive="},
			[]string{"--cpus-per-task=4", "--gpus-per-node", "2", "--partition=gpu", "--dependency=afterok:7", "--exclusive"}, ""},
		// a name given in full is its option, though it begins others
		{[]string{"--gpus=4", "--mem=8G", "--nodes=1"}, []string{"gpus=4", "mem=8G", "nodes=1"}, nil, ""},
		// hidden aliases set the option they stand for
		{[]string{"--tasks-per-n=2", "--cluster=c2"}, []string{"ntasks-per-node=2", "clusters=c2"},
			[]string{"--tasks-per-node=2", "--cluster=c2"}, ""},
		// short options in one word, the first that takes a value ending it
		{[]string{"-vG2", "-Qc", "4", "-HN1"}, []string{"verbose=", "gpus=2", "quiet=", "cpus-per-task=4", "hold=", "nodes=1"},
			[]string{"-v", "-G2", "-Q", "-c", "4", "-H", "-N1"}, ""},
		// an optional value is the option's only in its word: "user" is
		// not --exclusive's (sbatch would take it for the script)
		{[]string{"--exclusive", "user", "--exclusive=user", "-k"}, []string{"exclusive=", "?user", "exclusive=user", "no-kill="}, nil, ""},
		// a value that looks like an option is the value
		{[]string{"-J", "--gpus=4", "--comment", "-G2"}, []string{"job-name=--gpus=4", "comment=-G2"}, nil, ""},
		// words the table lacks are kept as they are: a SPANK plugin's
		// option, an unknown short option, a lone -, a value of no name
		// (not an abbreviation of every option)
		{[]string{"--container-image=x", "-Z", "-vZ", "-", "--=x"}, []string{"?--container-image=x", "?-Z", "verbose=", "?-Z", "?-", "?--=x"},
			[]string{"--container-image=x", "-Z", "-v", "-Z", "-", "--=x"}, ""},
		{[]string{"--gre=gpu:2"}, nil, nil, "sbatch's --gre is ambiguous (--gres, --gres-flags): spell the option out"},
		{[]string{"--cpu", "4"}, nil, nil, "sbatch's --cpu is ambiguous (--cpu-freq, --cpus-per-gpu, --cpus-per-task)"},
		{[]string{"--nod=2"}, nil, nil, "(--nodefile, --nodelist, --nodes)"},
		{[]string{"-p", "gpu", "--gres"}, nil, nil, "sbatch's --gres wants a value"},
		{[]string{"--gpus-per-t"}, nil, nil, "sbatch's --gpus-per-t wants a value"},
		{[]string{"-vp"}, nil, nil, "sbatch's -p wants a value"},
	} {
		opts, err := ParseOptions(tc.words)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseOptions(%q): %v, want an error with %q", tc.words, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseOptions(%q): %v", tc.words, err)
			continue
		}
		var got []string
		for _, o := range opts {
			if o.name == "" {
				got = append(got, "?"+strings.Join(o.words, " "))
			} else {
				got = append(got, o.name+"="+o.value)
			}
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("ParseOptions(%q) (-want +got):\n%s", tc.words, d)
		}
		if tc.sbatch == nil {
			tc.sbatch = tc.words
		}
		if d := cmp.Diff(tc.sbatch, opts.Words()); d != "" {
			t.Errorf("ParseOptions(%q).Words() (-want +got):\n%s", tc.words, d)
		}
	}
}

// The tables agree with each other.
func TestOptionTables(t *testing.T) {
	for c, name := range shortOptions {
		if _, ok := sbatchOptions[name]; !ok {
			t.Errorf("-%c is --%s, which sbatchOptions lacks", c, name)
		}
	}
	for alias, name := range aliases {
		if sbatchOptions[alias] != sbatchOptions[name] {
			t.Errorf("--%s and --%s, the option it sets, take values differently", alias, name)
		}
	}
}
