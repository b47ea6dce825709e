//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package bench

import (
	"errors"
	"testing"
)

// Two runs of the same cells never hold a results folder at once; runs of
// different shards do (the tasks of a job array), and a released folder is
// free again. Before, nothing was locked: two runs started on one folder
// each measured every cell, and the folder held two records of each.
func TestLock(t *testing.T) {
	for _, tc := range []struct {
		name          string
		first, second string
		busy          bool
	}{
		{"the same command twice", "", "", true},
		{"the same shard twice (an array submitted twice)", "shard-1-of-4", "shard-1-of-4", true},
		{"two shards of an array", "shard-0-of-4", "shard-1-of-4", false},
		{"the whole grid while a shard runs", "shard-0-of-4", "", true},
		{"a shard while the whole grid runs", "", "shard-0-of-4", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			unlock, err := Lock(dir, tc.first)
			if err != nil {
				t.Fatal(err)
			}
			u2, err := Lock(dir, tc.second)
			if got := errors.Is(err, ErrBusy); got != tc.busy {
				t.Fatalf("second Lock(%q) after Lock(%q): %v, want busy %v", tc.second, tc.first, err, tc.busy)
			}
			if err == nil {
				u2()
			}
			unlock()
			u3, err := Lock(dir, tc.second)
			if err != nil {
				t.Fatalf("Lock(%q) after unlock: %v", tc.second, err)
			}
			u3()
		})
	}
}
