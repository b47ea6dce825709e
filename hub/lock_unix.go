//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package hub

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// lock takes the exclusive flock on path that huggingface_hub (through the
// filelock package) takes for the same blob, so that no two downloads, ours
// or Python's, write one .incomplete file at once. On a file system without
// flock (some Lustre and NFS mounts) it goes on unlocked: the size and
// sha256 checks still catch a file that two writers mixed up.
//
// filelock (3.2x) removes the lock file when it releases the lock, so a lock
// taken on a file that is no longer there holds nothing against a process
// that creates the file anew: lock then opens the file again, as filelock
// does.
func lock(ctx context.Context, path string) (unlock func(), err error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			return nil, err
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil && removed(f) {
			f.Close()
			continue
		}
		if err == nil || !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return func() { f.Close() }, nil // closing releases the lock
		}
		f.Close()
		// Polled rather than blocking, so that ctx can end the wait.
		select {
		case <-ctx.Done():
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
