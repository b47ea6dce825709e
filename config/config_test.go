package config

import (
	"slices"
	"testing"

	"dllmbench/bench"
)

func TestNamesAndFile(t *testing.T) {
	want := []string{"default.yaml", "experiments.yaml", "experiments_mini.yaml"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"experiments_mini.yaml", true},   // the file name
		{"experiments_mini", true},        // without the extension
		{"missing", false},                // not embedded
		{"../config/default.yaml", false}, // no paths
		{"", false},                       // no name
	} {
		if _, ok := File(tc.name); ok != tc.ok {
			t.Errorf("File(%q): ok %v, want %v", tc.name, ok, tc.ok)
		}
	}
	d := Default()
	d[0] = '!' // Default returns a copy the caller may change
	if Default()[0] == '!' {
		t.Error("Default shares its bytes")
	}
}

// TestGrids parses every embedded grid and counts the cells Expand makes.
func TestGrids(t *testing.T) {
	for _, tc := range []struct {
		name     string
		families []string
		cells    int
		skipped  int
		check    func(t *testing.T, g *bench.Grid)
	}{
		// The demo pair: demo-llama makes batch {1, 4} = 2 cells; demo-llada
		// makes 2 batch sizes × 1 block × 2 caches × (4 step counts + 1
		// threshold) = 20, all valid (32 tokens are one block, so every
		// step count divides). 22 in all.
		{"default.yaml", []string{"llama", "llada"}, 22, 0, func(t *testing.T, g *bench.Grid) {
			if g.Prompts.Source != "builtin" || g.Prompts.MaxPrompts != 8 || g.Repetitions != 2 || g.Warmup != 1 || g.Backend != "auto" {
				t.Errorf("settings %+v", g)
			}
		}},
		// The smoke run: one LLaDA cell (16 steps over 4 blocks of 32) and
		// one LLaMA cell.
		{"experiments_mini.yaml", []string{"llada", "llama"}, 2, 0, func(t *testing.T, g *bench.Grid) {
			if g.Prompts.Source != "wikitext" || g.Prompts.MaxPrompts != 4 || g.Repetitions != 1 {
				t.Errorf("settings %+v", g)
			}
		}},
		// The study: LLaMA 4 batch sizes × 2 prompt lengths × 2 generation
		// lengths = 16; LLaDA 16 × 3 caches × (4 step counts + 1 threshold)
		// = 240 (4 or 8 blocks divide every step count), less the 8 × 3 of
		// 256 steps over 128 tokens, more than one step a token: 216.
		{"experiments.yaml", []string{"llada", "llama"}, 232, 24, func(t *testing.T, g *bench.Grid) {
			if g.Quality.Judge != "meta-llama/Meta-Llama-3-8B" || g.HardwareNotes == "" || g.Repetitions != 3 || g.Warmup != 2 {
				t.Errorf("settings %+v", g)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, ok := File(tc.name)
			if !ok {
				t.Fatal("not embedded")
			}
			g, err := bench.ParseGrid(data, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			cells, skipped := bench.Expand(g, tc.families)
			if len(cells) != tc.cells || len(skipped) != tc.skipped {
				t.Errorf("%d cells and %d skipped, want %d and %d", len(cells), len(skipped), tc.cells, tc.skipped)
			}
			for _, s := range skipped {
				if s.Cell.Steps <= s.Cell.GenLen {
					t.Errorf("skipped %s: %s", s.Cell.Name(), s.Reason)
				}
			}
			tc.check(t, g)
		})
	}
}
