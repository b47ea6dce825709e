package model

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// MachineMemory is the machine's total memory in bytes, as NewState
// bounds a run state by (0 where it is unknown).
func MachineMemory() int64 { return machineMemory() }

// machineMemory is the machine's total memory in bytes (MemTotal of
// /proc/meminfo), or 0 where it cannot be read (not Linux): then no state
// is refused for its size. A variable, so that tests can set a machine.
var machineMemory = func() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil || kb <= 0 {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
