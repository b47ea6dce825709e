// Package slurm runs an experiment grid as a SLURM job array: it renders
// the sbatch scripts (an array whose task i measures shard i of the cells,
// and a merge job that starts once every task has ended), submits them with
// sbatch, and summarises a submission from what the scheduler and the
// records say.
//
// Sharding is static and deterministic: cell k of bench.Expand's order
// belongs to shard k mod N. Every task, a requeued task and a later rerun
// agree on it without talking to each other, and the interleaving spreads
// each model's cells, and the cheap and dear ones, over all shards.
package slurm

import (
	"fmt"
	"strconv"
	"strings"

	"dllmbench/bench"
)

// Shard is shard Index of Count. The zero Shard holds every cell.
type Shard struct {
	Index, Count int
}

// ParseShard reads "i/N" with 0 ≤ i < N, as SLURM's
// $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT gives it for --array=0-(N-1).
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	switch {
	case !ok || err1 != nil || err2 != nil:
		return Shard{}, fmt.Errorf("shard %q: want INDEX/COUNT, such as 0/4", s)
	case n < 1:
		return Shard{}, fmt.Errorf("shard %q: the count must be at least 1", s)
	case i < 0 || i >= n:
		return Shard{}, fmt.Errorf("shard %q: the index must be in 0..%d (an array of N tasks needs --array=0-%d)", s, n-1, n-1)
	}
	return Shard{i, n}, nil
}

// String is "i/N", or "all" for the zero Shard.
func (s Shard) String() string {
	if s.Count == 0 {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Holds reports whether cell k of the grid's order is in the shard.
func (s Shard) Holds(k int) bool {
	if s.Count == 0 {
		return true
	}
	if s.Count < 0 || s.Index < 0 || s.Index >= s.Count {
		panic(fmt.Sprintf("slurm: invalid shard %d/%d", s.Index, s.Count))
	}
	return k%s.Count == s.Index
}

// Select returns the cells of the shard, in their order; it is
// bench.Options.Select for one task.
func (s Shard) Select(cells []bench.Cell) []bench.Cell {
	var out []bench.Cell
	for k, c := range cells {
		if s.Holds(k) {
			out = append(out, c)
		}
	}
	return out
}
