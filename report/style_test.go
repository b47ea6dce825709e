package report

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gonum.org/v1/plot/plotter"

	"dllmbench/bench"
)

// demoGrid is the shape of the default grid: LLaDA at 4, 8, 16 and 32 steps
// and at threshold 0.9, each without a cache and with the dual cache, and
// LLaMA greedy; batch 1 and 4.
func demoGrid() []bench.Record {
	var recs []bench.Record
	add := func(c bench.Cell, tps float64) {
		for _, b := range []int{1, 4} {
			c.Batch = b
			recs = append(recs, bench.Record{Key: c.Name(), Grid: "default", Status: "ok", Cell: c, Env: bench.Env{CPU: "AMD EPYC", Backend: "cpu"},
				Stats: map[string]bench.Stat{
					bench.MTokensPerS: {Mean: tps * float64(b), N: 2},
					bench.MLatency:    {Mean: 32 / tps, N: 2},
				}})
		}
	}
	add(bench.Cell{Model: "demo-llama", Family: "llama", PromptLen: 32, GenLen: 32}, 2800)
	for i, steps := range []int{4, 8, 16, 32, 0} {
		for _, cache := range []string{"none", "dual"} {
			c := bench.Cell{Model: "demo-llada", Family: "llada", PromptLen: 32, GenLen: 32, Steps: steps, BlockLen: 32, Cache: cache}
			if steps == 0 {
				c.Steps, c.Threshold = 32, 0.9
			}
			add(c, 1000/float64(i+1))
		}
	}
	return recs
}

// TestThroughputStylesDistinct: the 11 series of the default grid once had
// 7 colours, so that "steps 4 / dual" and "thr 0.9 / none" differed by
// marker alone. Now a decoder setting has a colour and the cache its dash
// and marker fill: no two series share colour and dash, and 6 colours do.
func TestThroughputStylesDistinct(t *testing.T) {
	spec := throughputFigure(sortRecords(demoGrid()), newStyler())
	if len(spec.legend) != 11 {
		t.Fatalf("%d legend entries, want 11", len(spec.legend))
	}
	type look struct{ color, dash int }
	seen := map[look]string{}
	colors := map[int]bool{}
	for _, s := range spec.legend {
		k := look{s.style.color % len(palette), s.style.dash}
		if other, has := seen[k]; has {
			t.Errorf("%q and %q share colour and dash %+v", s.label, other, k)
		}
		seen[k] = s.label
		colors[s.style.color] = true
		dual := s.cells[0].Cache == "dual"
		if s.style.hollow != dual || (s.style.dash != 0) != dual {
			t.Errorf("%q: hollow %v, dash %d; want hollow and dashed for the dual cache alone", s.label, s.style.hollow, s.style.dash)
		}
	}
	if len(colors) != 6 {
		t.Errorf("%d colours, want 6 (4 step counts, a threshold, LLaMA)", len(colors))
	}
}

func TestKeysOf(t *testing.T) {
	llada := func(steps int, thr float64, cache string) bench.Cell {
		return bench.Cell{Model: "llada", Family: "llada", Steps: steps, Threshold: thr, BlockLen: 32, Cache: cache}
	}
	llama := bench.Cell{Model: "llama", Family: "llama"}
	tests := []struct {
		name  string
		cells []bench.Cell
		want  styleKeys
	}{
		// A line over batch sizes: one decoder setting.
		{"one setting", []bench.Cell{llada(64, 0, "dual"), llada(64, 0, "dual")},
			styleKeys{color: "llada steps 64 blk 32", cache: "dual", variant: "g128"}},
		// A line over step counts: the rule without its value.
		{"steps vary", []bench.Cell{llada(32, 0, "none"), llada(64, 0, "none")},
			styleKeys{color: "llada fixed steps blk 32", cache: "none", variant: "g128"}},
		// Every setting of a model (Pareto, memory): the model alone.
		{"rules vary", []bench.Cell{llada(32, 0, "none"), llada(32, 0.9, "dual")},
			styleKeys{color: "llada blk 32", variant: "g128"}},
		// An autoregressive decoder has no cache to choose.
		{"autoregressive", []bench.Cell{llama}, styleKeys{color: "llama AR greedy", variant: "g128"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, keysOf(tt.cells, "g128"), cmp.AllowUnexported(styleKeys{})); diff != "" {
			t.Errorf("%s: keysOf (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestStylesAcrossFigures: a series keeps its colour from figure to figure.
// Styles were once given per figure in legend order, so that demo-llama was
// pink in the throughput figure, black as the quality reference and orange
// in the Pareto figure.
func TestStylesAcrossFigures(t *testing.T) {
	recs, qm := readStudy(t)
	figs := MakeFigures(recs, qm)
	colors := map[string]map[int]string{} // series → colour → a figure that has it
	for _, f := range figs.Drawn {
		for _, s := range f.spec.legend {
			for _, id := range []string{
				"llama3-8b · AR greedy · p128 (3) g128",    // throughput, references
				"llama3-8b · p128 (3) g128 · all settings", // Pareto: one setting
				"llada-8b · thr 0.9 / blk 32 / dual · p128 (3) g256",
				"llada-8b · threshold · blk 32 / dual · p128 (3) g256", // one threshold
			} {
				if s.label == id || s.label == id+" (reference)" {
					id = keysOf(s.cells, s.variant).color
					if colors[id] == nil {
						colors[id] = map[int]string{}
					}
					colors[id][s.style.color] = f.Name + ": " + s.label
				}
			}
		}
	}
	if len(colors) != 2 {
		t.Errorf("%d colour keys, want 2: %v", len(colors), colors)
	}
	for id, cs := range colors {
		if len(cs) != 1 {
			t.Errorf("%s has %d colours: %v", id, len(cs), cs)
		}
	}
}

// TestAssignDistinctInFigure: a figure's keys take distinct colours while
// the palette has them, even where the keys' colours elsewhere coincide.
func TestAssignDistinctInFigure(t *testing.T) {
	st := newStyler()
	var first []*series
	for i := range len(palette) {
		first = append(first, &series{label: strconv.Itoa(i), cells: []bench.Cell{{Model: "m" + strconv.Itoa(i)}}})
	}
	st.assign(first)
	// Key m7 wraps to m0's colour globally; here it meets m0.
	second := []*series{
		{label: "a", cells: []bench.Cell{{Model: "m0"}}},
		{label: "b", cells: []bench.Cell{{Model: "m7"}}},
	}
	st.assign(second)
	if a, b := second[0].style.color%len(palette), second[1].style.color%len(palette); a == b || a != 0 {
		t.Errorf("colours %d and %d, want m0's 0 and another", a, b)
	}
}

// TestFrontierGlyph: a Pareto frontier circles its points, in the plot and
// in its legend entry, so that a frontier of a single point (LLaMA's, where
// its batch sizes share a perplexity) is told from the model's other
// settings: it was once drawn with their glyph, its legend showing a line.
func TestFrontierGlyph(t *testing.T) {
	recs, qm := readStudy(t)
	spec := paretoFigure(sortRecords(recs), indexQuality(qm), false, newStyler())
	var fronts int
	for _, s := range spec.legend {
		if !s.front {
			if _, halo := glyphStyle(s).Shape.(haloGlyph); halo {
				t.Errorf("%q: circled, but not a frontier", s.label)
			}
			continue
		}
		fronts++
		var glyphs int
		for _, th := range thumbnails(s) {
			if sc, is := th.(*plotter.Scatter); is {
				if _, halo := sc.GlyphStyle.Shape.(haloGlyph); halo {
					glyphs++
				}
			}
		}
		if glyphs != 1 {
			t.Errorf("%q: %d circles in the legend entry, want 1", s.label, glyphs)
		}
	}
	if fronts != 4 {
		t.Errorf("%d frontiers, want 4", fronts)
	}
}

// TestShapeMeansVariant: in every figure of the study, a marker shape
// stands for one generation length. A colour key past the palette's seven
// once moved its series' shape on, so that LLaDA's g128 points were squares
// beside LLaMA's g128 circles in the Pareto figure.
func TestShapeMeansVariant(t *testing.T) {
	recs, qm := readStudy(t)
	for _, f := range MakeFigures(recs, qm).Drawn {
		shapeOf := map[string]int{}
		for _, s := range f.spec.legend {
			if s.ref || s.front {
				continue
			}
			sh := (s.style.shape + s.style.color/len(palette)) % len(shapes)
			if was, has := shapeOf[s.variant]; has && was != sh {
				t.Errorf("%s: %q has shape %d, another series of %q shape %d", f.Name, s.label, sh, s.variant, was)
			}
			shapeOf[s.variant] = sh
		}
	}
}
