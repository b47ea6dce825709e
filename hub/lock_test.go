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

// TestLockAfterRemoval has Python's filelock release the lock as it does
// since 3.2x: it removes the lock file, then unlocks. A waiter that then
// gets the lock of the removed file holds nothing: a third process, which
// creates the file anew, locks it too. filelock checks st_nlink after flock
// and starts over; so must lock.
func TestLockAfterRemoval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etag.lock")
	first := pyLock(t, path)

	got := make(chan func(), 1)
	go func() {
		unlock, err := lock(context.Background(), path)
		if err != nil {
			t.Error(err)
			unlock = func() {}
		}
		got <- unlock
	}()
	time.Sleep(300 * time.Millisecond) // lock has opened the file and waits on it

	// The first holder releases: it removes the file and, before it unlocks,
	// another Python process creates the file again and locks that (here at
	// once, by a rename, so that no other process can come in between).
	second := pyLock(t, path+".new")
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	first.Close()

	select {
	case unlock := <-got:
		unlock()
		t.Fatal("lock returned while another process held the lock file")
	case <-time.After(500 * time.Millisecond):
	}

	// When the second releases in turn, lock gets it.
	os.Remove(path)
	second.Close()
	select {
	case unlock := <-got:
		unlock()
	case <-time.After(5 * time.Second):
		t.Fatal("lock did not return after the lock file was released")
	}
}
