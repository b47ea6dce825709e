//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package bench

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// part is a run's part of the cells: shard Index of Count, or every cell.
type part struct{ index, count int }

// Two runs of the same cells never hold a results folder at once; runs of
// different shards of one count do (the tasks of a job array), runs of
// different counts, whose cells overlap, do not, and a released folder is
// free again. Before, nothing was locked: two runs started on one folder
// each measured every cell, and the folder held two records of each; and
// then an array of 8 shards started beside one of 4 went on, measuring
// again the cells they share.
func TestLock(t *testing.T) {
	all := part{}
	for _, tc := range []struct {
		name          string
		first, second part
		busy          string // what the second's error says; "" when it may run
	}{
		{"the same command twice", all, all, "in use by another run"},
		{"the same shard twice (an array submitted twice)", part{1, 4}, part{1, 4}, "in use by another run of shard 1 of 4"},
		{"two shards of an array", part{0, 4}, part{1, 4}, ""},
		{"the whole grid while a shard runs", part{0, 4}, all, "in use by another run"},
		{"a shard while the whole grid runs", all, part{0, 4}, "in use by another run"},
		// Cell 1 is in shard 1 of 4 and shard 1 of 8.
		{"a shard of another count", part{0, 4}, part{1, 8}, "in use by another run, shard 0 of 4"},
		{"a shard of one shard while an array runs", part{2, 4}, part{0, 1}, "in use by another run, shard 2 of 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			r1, err := Lock(dir, tc.first.index, tc.first.count)
			if err != nil {
				t.Fatal(err)
			}
			r2, err := Lock(dir, tc.second.index, tc.second.count)
			if tc.busy == "" && err != nil || tc.busy != "" && (!errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), tc.busy)) {
				t.Fatalf("second Lock(%v) after Lock(%v): %v, want %q", tc.second, tc.first, err, tc.busy)
			}
			if err == nil {
				r2.Release()
			}
			r1.Release()
			r3, err := Lock(dir, tc.second.index, tc.second.count)
			if err != nil {
				t.Fatalf("Lock(%v) after Release: %v", tc.second, err)
			}
			r3.Release()
		})
	}
}

// A task of an array of 4 shards, a process of its own, keeps an array of 8
// off the folder while it runs, shares it with the other tasks of its
// array, and once killed (SIGKILL: its lock files stay) keeps no one off.
func TestLockKilledShard(t *testing.T) {
	if dir := os.Getenv("BENCH_LOCK_HOLDER"); dir != "" {
		// The task: shard 0 of 4 until it is killed.
		if _, err := Lock(dir, 0, 4); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		os.Exit(1)
	}
	dir := t.TempDir()
	task := exec.Command(os.Args[0], "-test.run=^TestLockKilledShard$")
	task.Env = append(os.Environ(), "BENCH_LOCK_HOLDER="+dir)
	out, err := task.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(); err != nil {
		t.Fatal(err)
	}
	defer task.Process.Kill()
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "locked\n" {
		t.Fatalf("the task did not lock: %q", line)
	}
	if _, err := Lock(dir, 1, 8); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "shard 0 of 4") {
		t.Errorf("shard 1 of 8 beside a live shard 0 of 4: %v, want busy naming shard 0 of 4", err)
	}
	r, err := Lock(dir, 1, 4)
	if err != nil {
		t.Fatalf("shard 1 of 4 beside shard 0 of 4: %v", err)
	}
	r.Release()
	if err := task.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	task.Wait()
	r, err = Lock(dir, 1, 8)
	if err != nil {
		t.Fatalf("shard 1 of 8 after shard 0 of 4 was killed: %v", err)
	}
	r.Release()
}

// A child that inherits a reservation's files holds the folder after this
// process has released its own, until the child ends: the way a --devices
// worker keeps the folder from a new run after its parent is killed.
func TestLockInherited(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh to hold the files")
	}
	dir := t.TempDir()
	r, err := Lock(dir, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The child holds the files until its standard input ends.
	child := exec.Command("/bin/sh", "-c", "read x")
	child.ExtraFiles = r.Files()
	in, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	r.Release()
	if _, err := Lock(dir, 0, 0); !errors.Is(err, ErrBusy) {
		t.Errorf("Lock while a child holds the inherited files: %v, want busy", err)
	}
	in.Close()
	child.Wait()
	r, err = Lock(dir, 0, 0)
	if err != nil {
		t.Fatalf("Lock once the child has ended: %v", err)
	}
	r.Release()
}
