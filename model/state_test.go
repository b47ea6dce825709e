package model

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dllmbench/compute"
	"dllmbench/compute/cpu"
	"dllmbench/internal/testbackend"
)

// mustState fails the test on NewState's error and returns the state:
// mustState(t)(m.NewState(…)).
func mustState(tb testing.TB) func(*State, error) *State {
	return func(s *State, err error) *State {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
}

// deviceBackend hides the CPU backend's HostResident: a backend whose
// tensors NewState does not count against the machine's memory.
type deviceBackend struct{ compute.Backend }

// loadOn loads stories260K on b with a key/value cache of cache (0: by
// the weights, float32 here), closed when t ends.
func loadOn(t *testing.T, b compute.Backend, cache compute.DType) *Model {
	t.Helper()
	m, err := Load("../testdata/stories260K", b, LoadOptions{CacheDType: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// setMachine makes NewState see a machine of bytes (0: unknown) until t
// ends.
func setMachine(t *testing.T, bytes int64) {
	old := machineMemory
	machineMemory = func() int64 { return bytes }
	t.Cleanup(func() { machineMemory = old })
}

// A config whose context is beyond the machine fails Load with one line,
// before the RoPE tables of every position are allocated. Before, a
// max_position_embeddings of 10¹² ended the process out of memory.
func TestLoadContextBeyondMachine(t *testing.T) {
	setMachine(t, 16<<30)
	dir := t.TempDir()
	cfg, err := os.ReadFile("../testdata/stories260K/config.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), `"max_position_embeddings": 512`, `"max_position_embeddings": 1000000000000`, 1))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	weights, err := filepath.Abs("../testdata/stories260K/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(weights, filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	b := cpu.New(1)
	t.Cleanup(b.Close)
	m, err := Load(dir, b, LoadOptions{})
	if err == nil {
		m.Close()
	}
	want := "model: " + dir + ": RoPE tables for a context of 1000000000000 positions (max_position_embeddings) need 59605 GiB, the machine has 16.0 GiB"
	if fmt.Sprint(err) != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// StateBytes is what NewState allocates: its backend part is the sum
// State.Memory reports, its host part the lengths of the state's slices.
func TestStateBytes(t *testing.T) {
	b := cpu.New(1)
	t.Cleanup(b.Close)
	for _, c := range []struct {
		name       string
		cache      compute.DType
		B, N, T, M int
	}{
		{"one token", 0, 1, 1, 1, 1},
		{"a batch's prefill", 0, 3, 7, 20, 3},
		{"a diffusion canvas, bf16 cache", compute.BF16, 2, 16, 16, 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := loadOn(t, b, c.cache)
			s := mustState(t)(m.NewState(c.B, c.N, c.T, c.M))
			defer s.Close()
			backend, host := m.StateBytes(c.B, c.N, c.T, c.M)
			cache, act := s.Memory()
			if float64(cache+act) != backend {
				t.Errorf("backend bytes %v, the state holds %d", backend, cache+act)
			}
			ints := len(s.Tokens) + len(s.Pos) + len(s.Slots) + len(s.Span) + len(s.Out) + len(s.cacheRow) +
				len(s.outSlot) + len(s.staged) + len(s.selIDs) + len(s.inHost) + len(s.picks) + len(s.bits)
			floats := len(s.host) + len(s.selProbs)
			if want := float64(4 * (ints + floats)); host != want {
				t.Errorf("host bytes %v, the state's slices take %v", host, want)
			}
		})
	}
}

// A state larger than the machine's memory is refused with an error that
// says both sizes, before anything is allocated (a Go allocation beyond
// the machine ends the process); on a backend of host memory its tensors
// count too, on a device only its host slices. The bound is inclusive:
// a state of exactly the machine's memory is allocated.
func TestNewStateRefusesWhatCannotFit(t *testing.T) {
	b := cpu.New(1)
	t.Cleanup(b.Close)
	host := loadOn(t, b, 0)
	dev := loadOn(t, deviceBackend{b}, 0)
	const B, N, T, M = 2, 4, 8, 2
	backend, hostBytes := host.StateBytes(B, N, T, M)
	for _, c := range []struct {
		name    string
		m       *Model
		machine float64
		refused bool
	}{
		{"host memory: exactly the state", host, backend + hostBytes, false},
		{"host memory: a byte short", host, backend + hostBytes - 1, true},
		{"device: the host slices fit", dev, hostBytes, false},
		{"device: a byte short of the host slices", dev, hostBytes - 1, true},
		{"unknown machine", host, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			setMachine(t, int64(c.machine))
			s, err := c.m.NewState(B, N, T, M)
			if !c.refused {
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("allocated a state larger than the machine")
			}
			if s != nil {
				t.Errorf("a state %v with the error", s)
			}
			if msg := err.Error(); !strings.Contains(msg, "needs ") || !strings.Contains(msg, "the machine has ") {
				t.Errorf("error %q does not say what the state needs and what the machine has", msg)
			}
		})
	}
}

// On this machine (Linux), a batch of 10⁸ rows is refused, not allocated:
// the run that found it died of Go's out-of-memory fatal error.
func TestNewStateRefusesAHugeBatch(t *testing.T) {
	if machineMemory() == 0 {
		t.Skip("the machine's memory is unknown here (no /proc/meminfo)")
	}
	b := cpu.New(1)
	t.Cleanup(b.Close)
	m := loadOn(t, b, 0)
	const B = 100_000_000
	s, err := m.NewState(B, 8, 16, B)
	if err == nil {
		s.Close()
		t.Fatal("allocated a state of 10⁸ rows")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "GiB, the machine has") {
		t.Errorf("error %q", err)
	}
}

// More cache rows than int32 indices address are refused on a machine of
// unknown memory too, before anything is allocated.
func TestNewStateRefusesInt32Overflow(t *testing.T) {
	setMachine(t, 0)
	b := cpu.New(1)
	t.Cleanup(b.Close)
	m := loadOn(t, b, 0)
	s, err := m.NewState(1<<20, 1, 1<<12, 1) // 2³² cache rows
	if err == nil {
		s.Close()
		t.Fatal("allocated 2³² cache rows")
	}
	if !strings.Contains(err.Error(), "2³¹−1") {
		t.Errorf("error %q", err)
	}
}

// On a device, a state whose tensors the device cannot hold is NewState's
// error (the failed allocation taken at once, not by the first step run on
// it), and the backend goes on: a state that fits then runs. It runs with
// DLLMBENCH_TEST_BACKEND=cuda; host memory's states are checked above.
func TestNewStateDeviceFull(t *testing.T) {
	b := testbackend.Open(t)
	if _, ok := b.(compute.HostResident); ok {
		t.Skip("the backend keeps its tensors in host memory")
	}
	m := loadOn(t, b, 0)
	// stories260K's float32 caches: 5 layers × 2 × 4·10⁵ rows × 512 slots
	// × 32 columns × 4 B = 262 GB, more than any one GPU; the host's slices
	// take 14 MB.
	s, err := m.NewState(400_000, 1, 512, 1)
	if err == nil {
		s.Close()
		t.Fatal("allocated 262 GB of caches")
	}
	t.Log(err)
	s = mustState(t)(m.NewState(1, 1, 16, 1))
	defer s.Close()
	s.Tokens[0], s.Pos[0], s.Slots[0], s.Span[0], s.Span[1], s.Out[0] = 1, 0, 0, 0, 1, 0
	if err := m.Forward(s, 1, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Logits(s, 1); err != nil {
		t.Fatal(err)
	}
}
