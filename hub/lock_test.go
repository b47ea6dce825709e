//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package hub

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// pyLock takes the lock as Python's filelock (3.2x, which huggingface_hub
// uses) takes it: flock on the file at path, created if need be.
func pyLock(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o664)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	return f
}

// lockAsync calls lock on path in a goroutine; its unlock comes on the
// channel (a no-op after an error, which fails t).
func lockAsync(t *testing.T, path string) <-chan func() {
	got := make(chan func(), 1)
	go func() {
		unlock, err := lock(context.Background(), path)
		if err != nil {
			t.Error(err)
			unlock = func() {}
		}
		got <- unlock
	}()
	return got
}

// notLocked fails t if lock returns within d, while another holds the lock.
func notLocked(t *testing.T, got <-chan func(), d time.Duration, while string) {
	t.Helper()
	select {
	case unlock := <-got:
		unlock()
		t.Fatal("lock returned while " + while)
	case <-time.After(d):
	}
}

// locked waits for lock to return, after the lock was released.
func locked(t *testing.T, got <-chan func(), after string) func() {
	t.Helper()
	select {
	case unlock := <-got:
		return unlock
	case <-time.After(5 * time.Second):
		t.Fatal("lock did not return after " + after)
		return nil
	}
}

// TestLockAfterRemoval has Python's filelock release the lock as it does
// since 3.2x: it removes the lock file, then unlocks. A waiter that then
// gets the lock of the removed file holds nothing: a third process, which
// creates the file anew, locks it too. filelock checks st_nlink after flock
// and starts over; so must lock.
func TestLockAfterRemoval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etag.lock")
	first := pyLock(t, path)

	got := lockAsync(t, path)
	time.Sleep(300 * time.Millisecond) // lock has opened the file and waits on it

	// The first holder releases: it removes the file and, before it unlocks,
	// another Python process creates the file again and locks that (here at
	// once, by a rename, so that no other process can come in between).
	second := pyLock(t, path+".new")
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	first.Close()

	notLocked(t, got, 500*time.Millisecond, "another process held the lock file")

	// When the second releases in turn, lock gets it.
	os.Remove(path)
	second.Close()
	locked(t, got, "the lock file was released")()
}

// TestSoftLock is lock on a file system without flock (Lustre without its
// flock option answers ENOSYS), where huggingface_hub falls back to
// filelock's SoftFileLock: the lock file's existence is the lock. lock must
// wait while Python's lock file is there and remove its own when done; a
// lock file left behind would make every later Python download of the blob
// wait for ever.
func TestSoftLock(t *testing.T) {
	defer func(f func(int, int) error) { flock = f }(flock)
	flock = func(int, int) error { return syscall.ENOSYS }
	path := filepath.Join(t.TempDir(), "etag.lock")

	// Python holds the lock.
	if err := os.WriteFile(path, nil, 0o660); err != nil {
		t.Fatal(err)
	}
	got := lockAsync(t, path)
	notLocked(t, got, 300*time.Millisecond, "Python's lock file was there")

	// Python releases it.
	os.Remove(path)
	unlock := locked(t, got, "Python's lock file was removed")
	if _, err := os.Stat(path); err != nil {
		t.Errorf("while lock holds it, the lock file is not there: %v", err)
	}
	unlock()
	if _, err := os.Stat(path); err == nil {
		t.Error("the lock file is left after unlock")
	}

	// A wait that is cancelled says for which file.
	if err := os.WriteFile(path, nil, 0o660); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := lock(ctx, path)
	want := "waiting for the lock file " + path + " (another download's, or one a killed download left: remove it if no download runs): " + context.DeadlineExceeded.Error()
	if errString(err) != want {
		t.Errorf("cancelled wait:\n got %v\nwant %s", err, want)
	}
}
