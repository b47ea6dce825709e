//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package bench

import "os"

// flock creates the lock file, for the same layout everywhere, but does not
// lock it: this platform has no syscall.Flock.
func flock(path string, _, _ bool) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}
