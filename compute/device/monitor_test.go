package device

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The CPU monitor sums the packages' counters only. A laptop's platform
// domain (psys, a top-level zone like the packages) already holds the
// package's energy, and a package's sub-domains (core, uncore, dram) are
// parts of it: counting either would count joules twice.
func TestRAPLPackagesOnly(t *testing.T) {
	root := t.TempDir()
	zone := func(dir, name, uj string) {
		d := filepath.Join(root, dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for f, v := range map[string]string{"name": name + "\n", "energy_uj": uj + "\n", "max_energy_range_uj": "262143328850\n"} {
			if err := os.WriteFile(filepath.Join(d, f), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	zone("intel-rapl:0", "package-0", "1000000")
	zone("intel-rapl:0:0", "core", "400000")
	zone("intel-rapl:0:1", "uncore", "100000")
	zone("intel-rapl:1", "psys", "5000000")
	zone("intel-rapl:2", "package-1", "2000000")
	m := newRAPLMonitor(root)
	j, ok := m.Energy()
	if !ok || j != 3 {
		t.Errorf("energy %g J (ok %v), want 3 J: packages 0 and 1, not psys or the sub-domains", j, ok)
	}
}

// A package counter that wraps to 0 at max_energy_range_uj between two
// readings is counted on past the wrap: the energy between them is what
// the package spent, where EnergyDelta refused a counter that went
// backwards and the repetition had none.
func TestRAPLWrap(t *testing.T) {
	root := t.TempDir()
	d := filepath.Join(root, "intel-rapl:0")
	write := func(f, v string) {
		if err := os.WriteFile(filepath.Join(d, f), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	write("name", "package-0")
	write("max_energy_range_uj", "1000000")
	write("energy_uj", "900000")
	m := newRAPLMonitor(root)
	before, ok1 := m.Energy()
	write("energy_uj", "100000") // 0.1 J past 1 J and back to 0
	after, ok2 := m.Energy()
	d2, ok := EnergyDelta(before, after)
	if !ok1 || !ok2 || !ok || math.Abs(d2-0.2) > 1e-12 {
		t.Errorf("energy across the wrap: %g J (ok %v %v %v), want 0.2 J", d2, ok1, ok2, ok)
	}
}
