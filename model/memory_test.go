package model_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"dllmbench/compute/cpu"
	"dllmbench/internal/testmodel"
	"dllmbench/model"
)

// rssAnon reads this process's anonymous resident memory from
// /proc/self/status (Linux), in bytes.
func rssAnon(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("no RssAnon in /proc/self/status")
	return 0
}

// An 8B bf16 checkpoint loads with no float32 copy of its weights: a sparse
// checkpoint with the exact LLaMA-3-8B shapes (16 GB of holes on disk) is
// loaded and run for one token while this process's anonymous memory stays
// under 2 GiB. The weights live in the page cache, mapped, never copied.
func TestLlama3_8BShapesFitWithoutCopies(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 16 GB of (sparse) weights")
	}
	dir := t.TempDir()
	spec := testmodel.Llama3_8B()
	spec.Sparse = true
	if err := testmodel.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	b := cpu.New(0)
	defer b.Close()
	t0 := time.Now()
	m, err := model.Load(dir, b, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// 8,030,261,248 bf16 parameters, of which the 65 norm vectors of 4096
	// are widened to float32 (the only copy: 1 MiB).
	if got, want := m.WeightBytes(), int64(8030261248*2+65*4096*2); got != want {
		t.Errorf("weights take %d bytes, want %d", got, want)
	}
	s := testmodel.MustState(t)(m.NewState(1, 1, 1, 1))
	s.Tokens[0], s.Pos[0], s.Slots[0], s.Span[0], s.Span[1], s.Out[0] = 128000, 0, 0, 0, 1, 0
	if err := m.Forward(s, 1, 1); err != nil {
		t.Fatal(err)
	}
	logits, err := m.Logits(s, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range logits {
		if v != 0 { // all-zero weights give all-zero logits, and no NaN
			t.Fatalf("logit %v from zero weights", v)
		}
	}
	anon := rssAnon(t)
	t.Logf("load + one token in %v; anonymous resident memory %.1f MiB", time.Since(t0).Round(time.Millisecond), float64(anon)/(1<<20))
	if anon >= 2<<30 {
		t.Errorf("anonymous resident memory %.2f GiB, want < 2 GiB", float64(anon)/(1<<30))
	}
}
