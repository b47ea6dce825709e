package slurm

import (
	"fmt"
	"slices"
	"strings"
)

// argument says whether an sbatch option takes a value.
type argument int

const (
	needsValue    argument = iota // --name=V or --name V; -xV or -x V
	optionalValue                 // only in the option's word: --name=V, -xV
	noValue
)

// sbatchOptions are sbatch's long options, as sbatch 22.05.8 (Debian 12's
// slurm-wlm) reads them with getopt_long: the table that its
// src/common/slurm_opt.c builds for sbatch (common_options with a setter
// for sbatch). man sbatch lists them all but the hidden --cluster,
// --context, --ntasks-per-tres and --tasks-per-node. A newer sbatch has
// more, and a site's SPANK plugins add their own: ParseOptions passes the
// options it does not know to sbatch as they are.
var sbatchOptions = map[string]argument{
	// a value
	"account": needsValue, "acctg-freq": needsValue, "array": needsValue, "batch": needsValue, "bb": needsValue,
	"bbf": needsValue, "begin": needsValue, "chdir": needsValue, "cluster": needsValue, "cluster-constraint": needsValue,
	"clusters": needsValue, "comment": needsValue, "constraint": needsValue, "container": needsValue,
	"context": needsValue, "core-spec": needsValue, "cores-per-socket": needsValue, "cpu-freq": needsValue,
	"cpus-per-gpu": needsValue, "cpus-per-task": needsValue, "deadline": needsValue, "delay-boot": needsValue,
	"dependency": needsValue, "distribution": needsValue, "error": needsValue, "exclude": needsValue,
	"export": needsValue, "export-file": needsValue, "extra-node-info": needsValue, "gid": needsValue,
	"gpu-bind": needsValue, "gpu-freq": needsValue, "gpus": needsValue, "gpus-per-node": needsValue,
	"gpus-per-socket": needsValue, "gpus-per-task": needsValue, "gres": needsValue, "gres-flags": needsValue,
	"hint": needsValue, "input": needsValue, "job-name": needsValue, "kill-on-invalid-dep": needsValue,
	"licenses": needsValue, "mail-type": needsValue, "mail-user": needsValue, "mcs-label": needsValue, "mem": needsValue,
	"mem-bind": needsValue, "mem-per-cpu": needsValue, "mem-per-gpu": needsValue, "mincpus": needsValue,
	"network": needsValue, "nodefile": needsValue, "nodelist": needsValue, "nodes": needsValue, "ntasks": needsValue,
	"ntasks-per-core": needsValue, "ntasks-per-gpu": needsValue, "ntasks-per-node": needsValue,
	"ntasks-per-socket": needsValue, "ntasks-per-tres": needsValue, "open-mode": needsValue, "output": needsValue,
	"partition": needsValue, "power": needsValue, "prefer": needsValue, "priority": needsValue, "profile": needsValue,
	"qos": needsValue, "reservation": needsValue, "signal": needsValue, "sockets-per-node": needsValue,
	"switches": needsValue, "tasks-per-node": needsValue, "thread-spec": needsValue, "threads-per-core": needsValue,
	"time": needsValue, "time-min": needsValue, "tmp": needsValue, "uid": needsValue, "wait-all-nodes": needsValue,
	"wckey": needsValue, "wrap": needsValue,
	// values only in the option's word
	"exclusive": optionalValue, "get-user-env": optionalValue, "nice": optionalValue, "no-kill": optionalValue, "propagate": optionalValue,
	// no value
	"contiguous": noValue, "help": noValue, "hold": noValue, "ignore-pbs": noValue, "no-requeue": noValue,
	"overcommit": noValue, "oversubscribe": noValue, "parsable": noValue, "quiet": noValue, "reboot": noValue,
	"requeue": noValue, "spread-job": noValue, "test-only": noValue, "usage": noValue, "use-min-nodes": noValue,
	"verbose": noValue, "version": noValue, "wait": noValue,
}

// shortOptions are sbatch's short options (the same table's), by the long
// option each one is.
var shortOptions = map[byte]string{
	'A': "account", 'a': "array", 'B': "extra-node-info", 'b': "begin", 'C': "constraint", 'c': "cpus-per-task",
	'D': "chdir", 'd': "dependency", 'e': "error", 'F': "nodefile", 'G': "gpus", 'H': "hold", 'h': "help",
	'i': "input", 'J': "job-name", 'k': "no-kill", 'L': "licenses", 'M': "clusters", 'm': "distribution",
	'N': "nodes", 'n': "ntasks", 'O': "overcommit", 'o': "output", 'p': "partition", 'Q': "quiet", 'q': "qos",
	'S': "core-spec", 's': "oversubscribe", 't': "time", 'V': "version", 'v': "verbose", 'W': "wait",
	'w': "nodelist", 'x': "exclude",
}

// aliases are the hidden long options that set another one.
var aliases = map[string]string{"cluster": "clusters", "tasks-per-node": "ntasks-per-node"}

// Options are the sbatch options a user gives after --, each read as
// sbatch reads it (ParseOptions).
type Options []option

// option is one option of an sbatch command line.
type option struct {
	words []string // as sbatch gets it: [--gres=gpu:2], [--gres gpu:2], [-G2], [-G 2]
	name  string   // the long option it is ("gres", "gpus"; --cluster is "clusters"); "" for a word sbatch's table lacks
	value string
}

// ParseOptions reads sbatch options as sbatch 22.05's getopt_long reads
// them. A long option is named in full or by a prefix that only it has
// (--cpus-per-t is --cpus-per-task; --gpus is --gpus, not one of
// --gpus-per-*), with its value in its word (--name=V) or, when it needs
// one, in the next (--name V); several short options may share a word, the
// last with its value (-vG2: -v, then -G 2). An abbreviated option's words
// name it in full, so that sbatch takes it for what dllmbench took it for,
// whatever its version. A word sbatch's table does not know is kept as it
// is, an option of no name: sbatch judges it. The errors, one line each,
// are an abbreviation of several options (--gre: --gres or --gres-flags),
// which sbatch refuses too, and an option that needs a value, last.
func ParseOptions(words []string) (Options, error) {
	var opts Options
	// add adds o, given as said, with the next word for its value where
	// it needs one that its word does not hold.
	add := func(o option, said string, hasValue bool, i *int) error {
		if !hasValue && sbatchOptions[o.name] == needsValue {
			if *i+1 == len(words) {
				return fmt.Errorf("sbatch's %s wants a value", said)
			}
			*i++
			o.words, o.value = append(o.words, words[*i]), words[*i]
		}
		if a, ok := aliases[o.name]; ok {
			o.name = a
		}
		opts = append(opts, o)
		return nil
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case strings.HasPrefix(w, "--") && len(w) > 2 && w[2] != '=':
			given, v, hasValue := strings.Cut(w[2:], "=")
			name, err := longOption(given)
			if err != nil {
				return nil, err
			}
			if name == "" {
				opts = append(opts, option{words: []string{w}})
				continue
			}
			o := option{words: []string{"--" + name}, name: name, value: v}
			if hasValue {
				o.words[0] += "=" + v
			}
			if err := add(o, w, hasValue, &i); err != nil {
				return nil, err
			}
		case strings.HasPrefix(w, "-") && len(w) > 1 && shortOptions[w[1]] != "":
			for j := 1; j < len(w); j++ {
				name := shortOptions[w[j]]
				if name == "" { // sbatch refuses it
					opts = append(opts, option{words: []string{"-" + w[j:]}})
					break
				}
				// The rest of the word is the value of an option that takes one.
				hasValue := j+1 < len(w) && sbatchOptions[name] != noValue
				o := option{words: []string{"-" + w[j:j+1]}, name: name}
				if hasValue {
					o.words[0], o.value = "-"+w[j:], w[j+1:]
				}
				if err := add(o, o.words[0], hasValue, &i); err != nil {
					return nil, err
				}
				if hasValue {
					break
				}
			}
		default:
			opts = append(opts, option{words: []string{w}})
		}
	}
	return opts, nil
}

// longOption is the long option that --given names: itself, or the one
// option it abbreviates; "" for none. getopt_long takes an abbreviation
// of several options for the first of them when they are the same option
// under two names; no prefix of sbatch's table is shared by such a pair.
func longOption(given string) (string, error) {
	if _, ok := sbatchOptions[given]; ok {
		return given, nil
	}
	var names []string
	for name := range sbatchOptions {
		if strings.HasPrefix(name, given) {
			names = append(names, "--"+name)
		}
	}
	switch len(names) {
	case 0:
		return "", nil
	case 1:
		return names[0][2:], nil
	}
	slices.Sort(names)
	return "", fmt.Errorf("sbatch's --%s is ambiguous (%s): spell the option out", given, strings.Join(names, ", "))
}

// Words are the options' words, in their order: sbatch's command line.
func (o Options) Words() []string {
	var w []string
	for _, opt := range o {
		w = append(w, opt.words...)
	}
	return w
}

// split parts the options into those of the long names given and the rest.
func (o Options) split(names ...string) (named, rest Options) {
	for _, opt := range o {
		if opt.name != "" && slices.Contains(names, opt.name) {
			named = append(named, opt)
		} else {
			rest = append(rest, opt)
		}
	}
	return named, rest
}
