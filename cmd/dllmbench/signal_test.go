package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"dllmbench/bench"
)

// interruptible writes a results folder whose quality takes minutes: two
// cells of 200 generations each, bootstrapped a million times a metric.
func interruptible(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "records"), 0o755))
	f, err := os.Create(filepath.Join(dir, "records", "slow.jsonl"))
	must(t, err)
	defer f.Close()
	for _, key := range []string{"a", "b"} {
		r := bench.Record{Schema: bench.SchemaVersion, Key: key, Grid: "slow", Status: "ok",
			Cell:  bench.Cell{Model: "m", ModelID: "nowhere/m", Family: "llada", Batch: 1, GenLen: 4, BlockLen: 4, Steps: 4, Cache: "none"},
			Model: bench.ModelInfo{ID: "nowhere/m"}}
		for i := range 200 {
			r.Prompts = append(r.Prompts, bench.PromptRecord{Text: "p", Reference: "a cat sat on a mat", IDs: []int{1}})
			r.Outputs = append(r.Outputs, []int{i, i + 1, i + 2, i})
			r.Texts = append(r.Texts, "the cat sat on the mat")
		}
		b, err := json.Marshal(r)
		must(t, err)
		_, err = f.Write(append(b, '\n'))
		must(t, err)
	}
	return dir
}

// Ctrl-C (SIGINT) and SIGTERM stop a command in the middle of its work: it
// prints one line saying so and exits as a shell reports a command the
// signal killed (128 + the signal), within seconds, writing nothing.
// Before, quality, score and generate ran on until SIGKILL.
func TestInterruptStopsCommands(t *testing.T) {
	const llada = "../../testdata/golden/engine/llada-tiny"
	results := interruptible(t)
	metrics := filepath.Join(results, "raw_data", "quality_metrics.json")
	must(t, os.MkdirAll(filepath.Dir(metrics), 0o755))
	must(t, os.WriteFile(metrics, []byte("earlier metrics\n"), 0o644))
	cache := bigModelCache(t)
	for _, tc := range []struct {
		name  string
		args  []string
		sig   syscall.Signal
		code  int
		ready string // a line of stderr that says the work has begun; "" waits a second
	}{
		// Hashing 20 GiB, 15 s on one core; before, it ran to the end and
		// exited 1 for the mismatch, the signal ignored.
		{"fetch --local-files-only", []string{"fetch", "--model", "org/big", "--model-cache-dir", cache, "--local-files-only"},
			syscall.SIGINT, 130, "model.safetensors"},
		{"quality, SIGINT", []string{"quality", "--output_dir", results, "--judge", "none", "--resamples", "1000000"}, syscall.SIGINT, 130, "no judge"},
		{"quality, SIGTERM", []string{"quality", "--output_dir", results, "--judge", "none", "--resamples", "1000000"}, syscall.SIGTERM, 143, "no judge"},
		// About a minute of batches of the likelihood bound.
		{"score", []string{"score", "--model", llada, "--ids", "5,6,7", "--mc-samples", "10000000", "--backend", "cpu"}, syscall.SIGINT, 130, ""},
		// 500 steps, 16 s on the CPU.
		{"generate", []string{"generate", "--model", llada, "--prompt-ids", "1", "--gen-length", "500", "--steps", "500", "--backend", "cpu"},
			syscall.SIGINT, 130, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(binary, tc.args...)
			cmd.Env = append(os.Environ(), "HF_HOME="+t.TempDir()) // the records' model is nowhere
			stderr, err := cmd.StderrPipe()
			must(t, err)
			must(t, cmd.Start())
			lines := make(chan string)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
			var log []string
			if tc.ready == "" {
				time.Sleep(time.Second) // past the start, where the handler is set up
			} else {
				for l := range lines {
					log = append(log, l)
					if strings.Contains(l, tc.ready) {
						break
					}
				}
			}
			sent := time.Now()
			must(t, cmd.Process.Signal(tc.sig))
			timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
			defer timer.Stop()
			for l := range lines {
				log = append(log, l)
			}
			err = cmd.Wait()
			took := time.Since(sent)
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			want := "dllmbench " + tc.args[0] + ": interrupted by " + map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[tc.sig]
			if code != tc.code || len(log) == 0 || log[len(log)-1] != want {
				t.Errorf("exit %d after %v, want %d and the last line %q:\n%s", code, took.Round(time.Millisecond), tc.code, want, strings.Join(log, "\n"))
			}
			if took > 5*time.Second {
				t.Errorf("exited %v after the signal, want within seconds", took.Round(time.Millisecond))
			}
		})
	}
	t.Cleanup(func() {
		if b, _ := os.ReadFile(metrics); string(b) != "earlier metrics\n" {
			t.Errorf("an interrupted quality rewrote %s:\n%.200s", metrics, b)
		}
	})
}

// bigModelCache returns a hub cache that holds org/big, whose weights are
// a sparse file of 20 GiB: quick to make, slow to hash.
func bigModelCache(t *testing.T) string {
	cache := t.TempDir()
	repo := filepath.Join(cache, "models--org--big")
	commit, sum := strings.Repeat("ab", 20), strings.Repeat("cd", 32)
	snap := filepath.Join(repo, "snapshots", commit)
	must(t, os.MkdirAll(snap, 0o755))
	must(t, os.MkdirAll(filepath.Join(repo, "refs"), 0o755))
	must(t, os.MkdirAll(filepath.Join(repo, "blobs"), 0o755))
	must(t, os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(commit), 0o644))
	must(t, os.WriteFile(filepath.Join(repo, "blobs", "json"), []byte("{}"), 0o644))
	f, err := os.Create(filepath.Join(repo, "blobs", sum))
	must(t, err)
	must(t, f.Truncate(20<<30))
	must(t, f.Close())
	for name, blob := range map[string]string{"config.json": "json", "tokenizer.json": "json", "model.safetensors": sum} {
		must(t, os.Symlink(filepath.Join("..", "..", "blobs", blob), filepath.Join(snap, name)))
	}
	return cache
}

// Ctrl-C ends a tokenize that waits for its input, as it ends every other
// command. Before, the first was ignored until the input ended, and then
// the ids printed.
func TestInterruptTokenize(t *testing.T) {
	cmd := exec.Command(binary, "tokenize", "--tokenizer", "../../testdata/golden/engine/llada-tiny")
	stdin, err := cmd.StdinPipe() // never closed: a terminal's input
	must(t, err)
	defer stdin.Close()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	must(t, cmd.Start())
	_, err = io.WriteString(stdin, "typed so far")
	must(t, err)
	time.Sleep(time.Second) // past the start, where the handler is set up
	must(t, cmd.Process.Signal(syscall.SIGINT))
	timer := time.AfterFunc(5*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 || stdout.String() != "" ||
		stderr.String() != "dllmbench tokenize: interrupted by SIGINT\n" {
		t.Errorf("%v, stdout %q, stderr %q; want exit status 130, no ids and the interrupted line", err, stdout.String(), stderr.String())
	}
}

// A second signal, past the repeats of the first, ends a command at once,
// even one that does not look at its context (tokenize, blocked opening a
// tokenizer file that is a pipe no one writes). A repeat that comes with
// the first, as timeout(1) sends its signal to its command and then to its
// process group, does not.
func TestSecondSignalKills(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(binary, "tokenize", "--tokenizer", fifo)
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// killed says whether err is the end of a process killed by SIGINT,
	// rather than one that exited after its context was cancelled.
	killed := func(err error) bool {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			return false
		}
		ws := ee.Sys().(syscall.WaitStatus)
		return ws.Signaled() && ws.Signal() == syscall.SIGINT
	}
	time.Sleep(time.Second) // past the start, where the handler is set up
	must(t, cmd.Process.Signal(syscall.SIGINT))
	time.Sleep(50 * time.Millisecond)
	must(t, cmd.Process.Signal(syscall.SIGINT)) // a repeat
	select {
	case err := <-done:
		if killed(err) {
			t.Fatalf("tokenize killed by a repeat of the first SIGINT: %v", err)
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
			t.Fatalf("tokenize ended with %v after one SIGINT, want exit 130", err)
		}
		return // it looks at its context now: nothing left to kill
	case <-time.After(500 * time.Millisecond):
	}
	time.Sleep(repeatWindow) // past the repeats
	must(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-done:
		if !killed(err) {
			t.Errorf("tokenize ended with %v, want killed by the second SIGINT", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("tokenize still running 10 s after a second SIGINT")
	}
}
