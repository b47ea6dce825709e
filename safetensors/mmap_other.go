//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package safetensors

import (
	"io"
	"os"
)

// mmap reads the file into memory where syscall.Mmap is not available; the
// package then works, at the cost of reading every byte at Open.
func mmap(f *os.File, n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := io.ReadFull(f, b)
	return b, err
}

func munmap([]byte) error { return nil }
