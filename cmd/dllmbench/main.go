// Command dllmbench benchmarks masked-diffusion language models (LLaDA)
// against autoregressive ones (LLaMA) on its own inference engine.
//
// Each subcommand lives in its own file; all logic is in the library
// packages. Only this package logs and chooses exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

// command is one subcommand: its flags are set up by setup, which returns the
// function that runs it once the flags are parsed.
type command struct {
	name     string
	summary  string
	usage    string // the synopsis after "dllmbench NAME"
	details  string // what the command computes, printed after the synopsis
	examples string
	setup    func(fs *flag.FlagSet) func(ctx context.Context, args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// usageError marks a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// out is where commands print their results: run's stdout. It keeps the
// first failed write, which run reports: a result lost to a full disk or a
// file that cannot be written must not exit 0.
var out = &errWriter{w: os.Stdout}

// errWriter is a writer that remembers its first error and fails every
// write after it.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// exitError carries a chosen exit status without a message of its own.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	out = &errWriter{w: stdout}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			c, ok := commands[args[1]]
			if !ok {
				return unknownCommand(stderr, args[1])
			}
			printCommandHelp(stdout, c, newFlagSet(c, stdout))
			return 0
		}
		printMainHelp(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "-v" || args[0] == "--version" {
		args = []string{"version"}
	}
	c, ok := commands[args[0]]
	if !ok {
		return unknownCommand(stderr, args[0])
	}
	fs := newFlagSet(c, stderr)
	runFn := c.setup(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandHelp(stdout, c, fs)
			return 0
		}
		fmt.Fprintf(stderr, "dllmbench %s: %s (see 'dllmbench %s --help')\n", c.name, oneLine(err.Error()), c.name)
		return 2
	}
	ctx, stop := signalContext()
	defer stop()
	err := runFn(ctx, fs.Args())
	if err == nil && out.err != nil {
		err = fmt.Errorf("writing the output: %w", out.err)
	}
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var sig interrupted
	if errors.Is(err, context.Canceled) && errors.As(context.Cause(ctx), &sig) {
		fmt.Fprintf(stderr, "dllmbench %s: %v\n", c.name, sig)
		return 128 + int(sig.sig) // as a shell reports a command the signal killed: 130 for SIGINT
	}
	var ue usageError
	if errors.As(err, &ue) {
		// Several mistakes (bench's overrides list one a line) still make one line.
		fmt.Fprintf(stderr, "dllmbench %s: %s (see 'dllmbench %s --help')\n", c.name, oneLine(err.Error()), c.name)
		return 2
	}
	fmt.Fprintf(stderr, "dllmbench %s: %v\n", c.name, oneLine(err.Error()))
	return 1
}

// interrupted is the cause of a command's context cancelled by a signal.
type interrupted struct{ sig syscall.Signal }

func (e interrupted) Error() string {
	name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[e.sig]
	if name == "" {
		name = e.sig.String()
	}
	return "interrupted by " + name
}

// repeatWindow is how long after the first signal more are the same
// event: timeout(1) signals its command and then its process group, and
// run's workers get a terminal's SIGINT and their parent's SIGTERM.
const repeatWindow = time.Second

// signalContext returns a context that the first SIGINT or SIGTERM cancels,
// with an interrupted cause, and the function that releases it. Commands
// stop at their next check of the context. A signal that comes
// repeatWindow or more after the first takes the default action and ends
// the process at once: the way out of a command that checks too rarely.
// (A SIGTERM that slurm.go watches for itself stays caught.)
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			sig, _ := s.(syscall.Signal)
			cancel(interrupted{sig})
		case <-done:
			return
		}
		repeats := time.After(repeatWindow)
		for {
			select {
			case <-ch: // the same event
			case <-repeats:
				signal.Stop(ch) // the next signal finds the default action
				return
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}

func unknownCommand(stderr io.Writer, name string) int {
	fmt.Fprintf(stderr, "dllmbench: unknown command %q; run 'dllmbench --help' for the list\n", name)
	return 2
}

// oneLine keeps an error message on one line, as users' logs expect: its
// lines joined by "; " (by a space after a line that ends in a colon, which
// introduces the next), blank lines and runs of spaces dropped.
func oneLine(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l == "" {
			continue
		}
		if b.Len() > 0 {
			if strings.HasSuffix(b.String(), ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(l)
	}
	return b.String()
}

func newFlagSet(c *command, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, by run
	fs.Usage = func() {}
	_ = out
	return fs
}

func printMainHelp(w io.Writer) {
	fmt.Fprint(w, `dllmbench benchmarks masked-diffusion language models (LLaDA) against
autoregressive ones (LLaMA-3) on its own inference engine: latency, throughput,
memory, energy and quality versus compute.

Usage:
  dllmbench COMMAND [FLAGS] [ARGS]

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, `
Run 'dllmbench COMMAND --help' for a command's flags and examples.
`)
}

func printCommandHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "dllmbench %s: %s\n\nUsage:\n  dllmbench %s %s\n", c.name, c.summary, c.name, c.usage)
	if c.details != "" {
		fmt.Fprintf(w, "\n%s", c.details)
	}
	// Flags, with aliases folded onto one line.
	type entry struct {
		names []string
		usage string
		def   string
	}
	byUsage := map[string]*entry{}
	var order []*entry
	fs.VisitAll(func(f *flag.Flag) {
		key := f.Usage
		if e, ok := byUsage[key]; ok {
			e.names = append(e.names, f.Name)
			return
		}
		e := &entry{names: []string{f.Name}, usage: f.Usage, def: f.DefValue}
		byUsage[key] = e
		order = append(order, e)
	})
	if len(order) > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		sort.Slice(order, func(i, j int) bool { return order[i].names[0] < order[j].names[0] })
		for _, e := range order {
			var ns []string
			for _, n := range e.names {
				ns = append(ns, "--"+n)
			}
			line := "  " + strings.Join(ns, ", ")
			fmt.Fprintf(w, "%s\n      %s", line, e.usage)
			// A usage that names its default itself ("default: gen-length")
			// gets no second one: the flag's zero value is a placeholder.
			if e.def != "" && e.def != "false" && e.def != "[]" && !strings.Contains(e.usage, "default") {
				fmt.Fprintf(w, " (default %s)", e.def)
			}
			fmt.Fprintln(w)
		}
	}
	if c.examples != "" {
		fmt.Fprintf(w, "\nExamples:\n%s", c.examples)
	}
}
