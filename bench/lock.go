package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"dllmbench/internal/files"
)

// ErrBusy is the error of Lock when another run holds the folder.
var ErrBusy = errors.New("in use by another run")

// Lock reserves the results folder dir for a run that measures part of its
// cells: shard shard of shards, as a task of a job array does, or every
// cell when shards is 0. Two runs of the same cells at once would each find
// them missing and measure them, on a shared device, and the folder would
// hold two records of each. A run of every cell excludes every other; runs
// of different shards of one count share the folder, as the tasks of a job
// array do; shards of different counts overlap (cell 5 is in shard 1 of 4
// and in shard 5 of 8), so a run of one count excludes those of another.
// Release releases it, and so does the end of the process however it
// ends: a killed run leaves no stale lock. The locks are flocks on files in
// dir/records; where the file system has none (some NFS and Lustre mounts),
// and on platforms without flock, runs go on unlocked.
func Lock(dir string, shard, shards int) (*Reservation, error) {
	rd := filepath.Join(dir, "records")
	if err := os.MkdirAll(rd, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	whole := filepath.Join(rd, ".run.lock")
	all, err := flock(whole, shards > 0, false)
	if err != nil {
		return nil, fmt.Errorf("bench: %s is %w (%s is held): wait for it to end, or give another output folder", dir, err, whole)
	}
	if shards == 0 {
		return &Reservation{[]*os.File{all}}, nil
	}
	one, err := lockShard(dir, shard, shards)
	if err != nil {
		all.Close()
		return nil, err
	}
	return &Reservation{[]*os.File{one, all}}, nil
}

// A Reservation is a results folder held by Lock.
type Reservation struct {
	files []*os.File // the lock files, each holding its flock
}

// Files are the open lock files. A flock belongs to the open file, not to
// the process: a child that inherits them (exec.Cmd.ExtraFiles) holds the
// folder with this process, and after it, until the last of them has
// ended. The workers of --devices inherit them, so that a parent killed
// with SIGKILL leaves the folder held until its workers, which stop when
// it ends, have stopped.
// A nil Reservation (none taken) has none.
func (r *Reservation) Files() []*os.File {
	if r == nil {
		return nil
	}
	return r.files
}

// Release closes this process's lock files; the folder is free once no
// process holds them.
func (r *Reservation) Release() {
	for _, f := range r.files {
		f.Close()
	}
}

// lockShard takes .run-shard-I-of-N.lock, the lock of shard I of N,
// unless a run of another count holds its own. The count is read from the
// names of the files held, so it is trusted only while a live process
// holds one: a killed run's files stay, its locks do not. The files of
// other counts are probed with an exclusive lock let go at once. Starting
// runs probe and take one at a time, each holding .run-start.lock for that
// moment only: a task taking its own lock never finds it held by another's
// probe, and of two arrays of different counts that start together the
// second sees the first.
func lockShard(dir string, shard, shards int) (*os.File, error) {
	rd := filepath.Join(dir, "records")
	gate, err := flock(filepath.Join(rd, ".run-start.lock"), false, true)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer gate.Close()
	for _, p := range files.Glob(rd, ".run-shard-*-of-*.lock") {
		var i, n int
		if _, err := fmt.Sscanf(filepath.Base(p), ".run-shard-%d-of-%d.lock", &i, &n); err != nil || n == shards {
			continue
		}
		probe, err := flock(p, false, false)
		if errors.Is(err, ErrBusy) {
			return nil, fmt.Errorf("bench: %s is %w, shard %d of %d (%s is held), whose cells overlap those of shard %d of %d: "+
				"give every run on the folder the same shard count, wait for it to end, or give another output folder",
				dir, err, i, n, p, shard, shards)
		}
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		probe.Close()
	}
	p := filepath.Join(rd, fmt.Sprintf(".run-shard-%d-of-%d.lock", shard, shards))
	one, err := flock(p, false, false)
	if err != nil {
		return nil, fmt.Errorf("bench: %s is %w of shard %d of %d (%s is held): wait for it to end, or give another output folder",
			dir, err, shard, shards, p)
	}
	return one, nil
}
