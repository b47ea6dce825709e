package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrBusy is the error of Lock when another run holds the folder.
var ErrBusy = errors.New("in use by another run")

// Lock reserves the results folder dir for a run that measures part of its
// cells: part names a shard, such as "shard-1-of-4", or is "" for every
// cell. Two runs of the same cells at once would each find them missing and
// measure them, on a shared device, and the folder would hold two records of
// each. A run of every cell excludes every other; runs of different shards
// share the folder, as the tasks of a job array do. unlock releases it, and
// so does the end of the process however it ends: a killed run leaves no
// stale lock. The locks are flocks on files in dir/records; where the file
// system has none (some NFS and Lustre mounts), and on platforms without
// flock, runs go on unlocked.
func Lock(dir, part string) (unlock func(), err error) {
	rd := filepath.Join(dir, "records")
	if err := os.MkdirAll(rd, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	whole := filepath.Join(rd, ".run.lock")
	all, err := flock(whole, part != "")
	if err != nil {
		return nil, fmt.Errorf("bench: %s is %w (%s is held): wait for it to end, or give another output folder", dir, err, whole)
	}
	if part == "" {
		return all, nil
	}
	p := filepath.Join(rd, ".run-"+part+".lock")
	one, err := flock(p, false)
	if err != nil {
		all()
		return nil, fmt.Errorf("bench: %s is %w of %s (%s is held): wait for it to end, or give another output folder", dir, err, part, p)
	}
	return func() { one(); all() }, nil
}
