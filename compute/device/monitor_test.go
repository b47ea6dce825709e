package device

import (
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
