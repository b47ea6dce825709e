//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package hub

import (
	"context"
	"os"
)

// lock creates the lock file, for the same layout everywhere, but does not
// lock it: this platform has no syscall.Flock. The size and sha256 checks
// still catch a file that two writers mixed up.
func lock(_ context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}
