package computetest

import (
	"strings"
	"testing"
)

// MustPanic runs f and reports, as test name, unless f panics with a
// message containing want (the ops' misuse panics: compute.Panicf's
// strings).
func MustPanic(t *testing.T, name, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("%s: no panic, want one with %q", name, want)
			return
		}
		if msg, _ := r.(string); !strings.Contains(msg, want) {
			t.Errorf("%s: panic %v, want one with %q", name, r, want)
		}
	}()
	f()
}
