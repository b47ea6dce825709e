//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package hub

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// flock is syscall.Flock; tests replace it to play a file system without
// flock.
var flock = syscall.Flock

// lock takes the lock on path that huggingface_hub (through the filelock
// package) takes for the same blob, so that no two downloads, ours or
// Python's, write one .incomplete file at once: an exclusive flock.
//
// filelock (3.2x) removes the lock file when it releases the lock, so a lock
// taken on a file that is no longer there holds nothing against a process
// that creates the file anew: lock then opens the file again, as filelock
// does.
//
// On a file system without flock (Lustre without its flock option answers
// ENOSYS) huggingface_hub falls back to filelock's SoftFileLock, for which
// the lock file's existence is the lock, and so does lock: it creates the
// file, waits while another process's is there, and removes its own when
// done. On other failures of flock it goes on unlocked, as before: the size
// and sha256 checks still catch a file that two writers mixed up.
func lock(ctx context.Context, path string) (unlock func(), err error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		created := err == nil
		if errors.Is(err, fs.ErrExist) {
			f, err = os.OpenFile(path, os.O_RDWR, 0)
			if errors.Is(err, fs.ErrNotExist) {
				continue // its holder removed it in between
			}
		}
		if err != nil {
			return nil, err
		}
		soft := false
		switch err := flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); {
		case err == nil && removed(f):
			f.Close()
			continue
		case err == nil:
			return func() { f.Close() }, nil // closing releases the lock
		case errors.Is(err, syscall.ENOSYS) && created:
			return func() { os.Remove(path); f.Close() }, nil
		case errors.Is(err, syscall.ENOSYS):
			soft = true // another process's soft lock
		case !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR):
			return func() { f.Close() }, nil
		}
		f.Close()
		// Polled rather than blocking, so that ctx can end the wait.
		select {
		case <-ctx.Done():
			if soft {
				return nil, fmt.Errorf("waiting for the lock file %s (another download's, or one a killed download left: remove it if no download runs): %w", path, ctx.Err())
			}
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// removed reports whether the open file f has no name left.
func removed(f *os.File) bool {
	var st syscall.Stat_t
	return syscall.Fstat(int(f.Fd()), &st) == nil && st.Nlink == 0
}
