// Package testbackend picks the backend whole-model tests run on:
// DLLMBENCH_TEST_BACKEND=cuda runs them on the GPU (the golden tests then
// check the CUDA backend against the PyTorch references), anything else on
// the CPU.
package testbackend

import (
	"os"
	"testing"

	"dllmbench/compute"
	"dllmbench/compute/device"
)

// Open returns the backend for a test and closes it when the test ends.
func Open(t testing.TB) compute.Backend {
	t.Helper()
	name := os.Getenv("DLLMBENCH_TEST_BACKEND")
	if name == "" {
		name = "cpu"
	}
	b, info, err := device.Open(device.Options{Backend: name, Threads: 2})
	if err != nil {
		t.Fatalf("DLLMBENCH_TEST_BACKEND=%s: %v", name, err)
	}
	t.Cleanup(func() { device.Close(b) })
	t.Logf("backend %s (%s)", info.Backend, info.Name)
	return b
}

// Name is the backend tests run on.
func Name() string {
	if n := os.Getenv("DLLMBENCH_TEST_BACKEND"); n != "" {
		return n
	}
	return "cpu"
}
