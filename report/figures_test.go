package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"dllmbench/bench"
)

// allFigures is the order MakeFigures draws in.
var allFigures = []string{FigThroughput, FigMemory, FigStepTime, FigQualityPPL, FigQualityBLEU, FigQualityROUGE,
	FigParetoSpeed, FigParetoEnergy}

func names(figs Figures) (drawn, skipped []string) {
	for _, f := range figs.Drawn {
		drawn = append(drawn, f.Name)
	}
	for _, s := range figs.Skipped {
		skipped = append(skipped, s.Name)
	}
	return drawn, skipped
}

// TestFiguresStudy draws the study's figures and checks each SVG: well
// formed, titled, captioned with the grid and the GPU, with the series the
// study has in its legend; and each PNG's size.
func TestFiguresStudy(t *testing.T) {
	recs, qm := readStudy(t)
	figs := MakeFigures(recs, qm)
	drawn, skipped := names(figs)
	if diff := cmp.Diff(allFigures, drawn); diff != "" || len(skipped) != 0 {
		t.Fatalf("drawn (-want +got):\n%s\nskipped: %v", diff, figs.Skipped)
	}
	// Labels the legend of each figure must have: the study has two
	// generation lengths (so they are named) and one batch-size axis. Its
	// records keep one prompt of 3 tokens, so a length reads "p128 (3)"
	// as in the table.
	legends := map[string][]string{
		FigThroughput:   {"llama3-8b · AR greedy · p128 (3) g128", "llada-8b · thr 0.9 / blk 32 / dual · p128 (3) g256"},
		FigMemory:       {"llada-8b · diffusion, cache dual · b16", "llama3-8b · autoregressive, KV cache · b1"},
		FigStepTime:     {"llada-8b · blk 32 / none · b4 · p128 (3) g256"},
		FigQualityPPL:   {"llada-8b · fixed steps · blk 32 / none · p128 (3) g128", "llada-8b · threshold · blk 32 / dual · p128 (3) g256", "llama3-8b · AR greedy · p128 (3) g128 (reference)"},
		FigParetoSpeed:  {"llada-8b · p128 (3) g128 · all settings", "llama3-8b · p128 (3) g256 · Pareto frontier"},
		FigParetoEnergy: {"llada-8b · p128 (3) g256 · Pareto frontier"},
	}
	// Axis titles say where an axis is logarithmic: the study's tokens/s
	// and latencies span more than 20×, its time per step does not.
	axes := map[string][]string{
		FigThroughput:   {"generated tokens/s (log scale)", "latency per batch (s, log scale)"},
		FigStepTime:     {"time per step (ms)\n"},
		FigParetoEnergy: {"energy per generated token (J, lower is better, log scale)"},
	}
	for _, f := range figs.Drawn {
		texts := svgTexts(t, f.SVG)
		all := strings.Join(texts, "\n") + "\n"
		want := append([]string{f.Title, "grid study-h100 on NVIDIA H100 80GB HBM3 (cuda);"}, legends[f.Name]...)
		want = append(want, axes[f.Name]...)
		for _, w := range want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: no text %q in\n%s", f.Name, w, all)
			}
		}
		if !strings.Contains(string(f.SVG), "font-family:'Liberation Sans',Arial,Helvetica,sans-serif;") {
			t.Errorf("%s: no font fallbacks", f.Name)
		}
		if f.Name == FigThroughput || f.Name == FigQualityPPL { // two panels, the others one
			w, _ := f.spec.size()
			if w != 2*panelW+2*margin {
				t.Errorf("%s: %v pt wide, want two panels", f.Name, w)
			}
		}
	}
	// A PNG is the SVG's size at pngDPI (points are 1/72 inch).
	f := figs.Drawn[0]
	b, err := f.PNG()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	w, h := f.spec.size()
	if want := int(float64(w)*pngDPI/72 + 0.5); cfg.Width != want {
		t.Errorf("PNG %dx%d, want width %d (height %.0f)", cfg.Width, cfg.Height, want, float64(h)*pngDPI/72)
	}
}

// TestFigureLabelsPromptMean: a legend that names a prompt length names it
// as the table does, the prompts' mean length in brackets where it is off
// the cell's by more than 10% (bench.PromptLengthOff).
func TestFigureLabelsPromptMean(t *testing.T) {
	asked, short := promptOffRecords()
	figs := MakeFigures([]bench.Record{asked, short}, nil)
	var texts []string
	for _, f := range figs.Drawn {
		if f.Name == FigThroughput {
			texts = svgTexts(t, f.SVG)
		}
	}
	for _, want := range []string{"llama · AR greedy · p128 g4", "llama · AR greedy · p600 (33) g4"} {
		if !hasEntry(texts, want) {
			t.Errorf("no legend entry %q in\n%s", want, strings.Join(texts, "\n"))
		}
	}
}

// Cells of two precisions (runs of one grid with --precision fp32 and
// bf16 in one folder) are two series, in the throughput and the memory
// figure alike: one line would keep one of them and drop the other's point.
func TestFigureLabelsPrecision(t *testing.T) {
	bf16 := arRecord()
	bf16.Cell.Precision = "bf16"
	fp32 := arRecord()
	fp32.Key = "fp32"
	fp32.Cell.Precision = "fp32"
	fp32.Memory.ProcessPeak = 2 * bf16.Memory.ProcessPeak
	figs := MakeFigures([]bench.Record{bf16, fp32}, nil)
	want := map[string][]string{
		FigThroughput: {"llama · AR greedy", "llama · AR greedy / fp32"},
		FigMemory:     {"llama · autoregressive, KV cache", "llama · autoregressive, KV cache, fp32"},
	}
	for _, f := range figs.Drawn {
		texts := svgTexts(t, f.SVG)
		for _, w := range want[f.Name] {
			if !hasEntry(texts, w) {
				t.Errorf("%s: no legend entry %q in\n%s", f.Name, w, strings.Join(texts, "\n"))
			}
		}
		delete(want, f.Name)
	}
	for name := range want {
		t.Errorf("%s not drawn", name)
	}
}

// hasEntry reports whether texts have the legend entry label, alone or
// with a note that another series hides it (noteCoincident).
func hasEntry(texts []string, label string) bool {
	return slices.ContainsFunc(texts, func(t string) bool {
		return t == label || strings.HasPrefix(t, label+" (coincides with ") ||
			strings.HasPrefix(t, strings.TrimSuffix(label, ")")+", coincides with ")
	})
}

// TestNoteCoincident: series with the same points in every panel, drawn
// one over the other, say so in the legend. The two precisions of
// TestFigureLabelsPrecision measured the same throughput and latency, and
// the bf16 line lay hidden under the fp32 one; their peak memory differs.
func TestNoteCoincident(t *testing.T) {
	bf16 := arRecord()
	fp32 := arRecord()
	fp32.Key = "fp32"
	fp32.Cell.Precision = "fp32"
	fp32.Memory.DevicePeak = 2*bf16.Memory.DevicePeak + 1<<30
	figs := MakeFigures([]bench.Record{bf16, fp32}, nil)
	want := map[string][]string{
		FigThroughput: {"llama · AR greedy (coincides with AR greedy / fp32)", "llama · AR greedy / fp32"},
		FigMemory:     {"llama · autoregressive, KV cache", "llama · autoregressive, KV cache, fp32"},
	}
	for _, f := range figs.Drawn {
		if want[f.Name] == nil {
			continue
		}
		var got []string
		for _, s := range f.spec.legend {
			got = append(got, strings.TrimSpace(s.label+" "+s.note))
		}
		if diff := cmp.Diff(want[f.Name], got); diff != "" {
			t.Errorf("%s: legend (-want +got):\n%s", f.Name, diff)
		}
	}
}

// svgTexts parses an SVG and returns its <text> contents, unescaped.
func svgTexts(t *testing.T, svg []byte) []string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	var texts []string
	in := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			in = e.Name.Local == "text"
		case xml.EndElement:
			in = false
		case xml.CharData:
			if in {
				texts = append(texts, string(e))
			}
		}
	}
	return texts
}

// TestFiguresDeterministic: the same records, in any order and merged with
// duplicates, give the same bytes.
func TestFiguresDeterministic(t *testing.T) {
	recs, qm := readStudy(t)
	a := MakeFigures(recs, qm)
	shuffled := slices.Clone(recs)
	slices.Reverse(shuffled)
	shuffled = append(shuffled, recs[3], recs[7]) // a job's records merged twice
	b := MakeFigures(shuffled, qm)
	for i := range a.Drawn {
		if !bytes.Equal(a.Drawn[i].SVG, b.Drawn[i].SVG) {
			t.Errorf("%s: SVG differs between orders", a.Drawn[i].Name)
		}
	}
	p1, err1 := a.Drawn[0].PNG()
	p2, err2 := b.Drawn[0].PNG()
	if err1 != nil || err2 != nil || !bytes.Equal(p1, p2) {
		t.Errorf("PNG differs between orders (%v, %v)", err1, err2)
	}
}

// TestFiguresSkipped checks which figures are skipped, and why, when data
// is missing.
func TestFiguresSkipped(t *testing.T) {
	recs, qm := readStudy(t)
	noEnergy := slices.Clone(recs)
	for i := range noEnergy {
		st := map[string]bench.Stat{}
		for k, v := range noEnergy[i].Stats {
			if k != bench.MEnergyPerTok {
				st[k] = v
			}
		}
		noEnergy[i].Stats = st
	}
	qmNoEnergy := &QualityMetrics{}
	for _, q := range qm.Cells {
		cost := map[string]float64{}
		for k, v := range q.Cost {
			if k != bench.MEnergyPerTok {
				cost[k] = v
			}
		}
		q.Cost = cost
		qmNoEnergy.Cells = append(qmNoEnergy.Cells, q)
	}
	var arOnly []bench.Record
	for _, r := range recs {
		if !r.Cell.Diffusion() {
			arOnly = append(arOnly, r)
		}
	}
	noQuality := "no quality metrics (raw_data/quality_metrics.json is absent or empty)"
	tests := []struct {
		name string
		recs []bench.Record
		qm   *QualityMetrics
		want []Skipped
	}{
		{"nothing", nil, nil, []Skipped{
			{FigThroughput, "no successful cell with a finite tokens/s or latency"},
			{FigMemory, "no successful cell with a memory measurement"},
			{FigStepTime, "no LLaDA cell with a fixed step count and a step time"},
			{FigQualityPPL, noQuality}, {FigQualityBLEU, noQuality}, {FigQualityROUGE, noQuality},
			{FigParetoSpeed, noQuality}, {FigParetoEnergy, noQuality},
		}},
		{"no quality step", recs, nil, []Skipped{
			{FigQualityPPL, noQuality}, {FigQualityBLEU, noQuality}, {FigQualityROUGE, noQuality},
			{FigParetoSpeed, noQuality}, {FigParetoEnergy, noQuality},
		}},
		{"no energy counter", noEnergy, qmNoEnergy, []Skipped{
			{FigParetoEnergy, "no cell with both judge perplexity and a measured energy per token"},
		}},
		{"autoregressive only", arOnly, qm, []Skipped{
			{FigStepTime, "no LLaDA cell with a fixed step count and a step time"},
			{FigQualityPPL, "no LLaDA cell with judge perplexity"},
			{FigQualityBLEU, "no LLaDA cell with BLEU"},
			{FigQualityROUGE, "no LLaDA cell with ROUGE-L"},
		}},
		// The hand-made fixture: NaN and ±Inf measurements, a failed
		// cell; what is finite is drawn.
		{"broken measurements", fixture(), nil, []Skipped{
			{FigQualityPPL, noQuality}, {FigQualityBLEU, noQuality}, {FigQualityROUGE, noQuality},
			{FigParetoSpeed, noQuality}, {FigParetoEnergy, noQuality},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MakeFigures(tt.recs, tt.qm)
			if diff := cmp.Diff(tt.want, got.Skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
			if len(got.Drawn)+len(got.Skipped) != len(allFigures) {
				t.Errorf("%d drawn and %d skipped of %d", len(got.Drawn), len(got.Skipped), len(allFigures))
			}
		})
	}
}

// TestFiguresFailedNote: a failed cell is not drawn, and a figure that
// would have drawn it says so in its caption. The study's failed cell is
// LLaDA at batch 64 with 256 fixed steps, a setting its smaller batches
// measured, which the quality figures draw; without them, they would
// have drawn the failed one.
func TestFiguresFailedNote(t *testing.T) {
	recs, qm := readStudy(t)
	var alone []bench.Record // the failed cell's setting at batch 64 only
	var failed bench.Record
	for _, r := range recs {
		if !ok(r) {
			failed = r
		}
	}
	for _, r := range recs {
		if ok(r) && unbatched(r.Cell) == unbatched(failed.Cell) {
			continue
		}
		alone = append(alone, r)
	}
	const note = "1 failed cell is not drawn; the results table gives its error."
	tests := []struct {
		name string // a row's case
		recs []bench.Record
		want map[string]bool // figure → whether its caption has the note
	}{
		{"its setting measured at other batch sizes", recs, map[string]bool{
			FigThroughput: true, FigMemory: true, FigStepTime: true,
			FigQualityPPL: false, FigQualityBLEU: false, FigQualityROUGE: false,
			FigParetoSpeed: true, FigParetoEnergy: true,
		}},
		{"its setting measured by the failed cell alone", alone, map[string]bool{
			FigThroughput: true, FigMemory: true, FigStepTime: true,
			FigQualityPPL: true, FigQualityBLEU: true, FigQualityROUGE: true,
			FigParetoSpeed: true, FigParetoEnergy: true,
		}},
	}
	for _, tt := range tests {
		figs := MakeFigures(tt.recs, qm)
		for _, f := range figs.Drawn {
			if got := strings.Contains(f.Caption, note); got != tt.want[f.Name] {
				t.Errorf("%s: %s: caption %q: note %v, want %v", tt.name, f.Name, f.Caption, got, tt.want[f.Name])
			}
			if all := strings.Join(svgTexts(t, f.SVG), " "); tt.want[f.Name] && !strings.Contains(all, "failed cell is not drawn") {
				t.Errorf("%s: %s: the SVG does not say it:\n%s", tt.name, f.Name, all)
			}
		}
	}
	// Two failed cells of a figure are counted in one sentence; an
	// autoregressive one is not a step-time figure's.
	arFailed := failedRecord()
	arFailed.Key, arFailed.Cell = "fail-ar", arRecord().Cell
	arFailed.Cell.Batch = 64
	figs := MakeFigures(append(slices.Clone(recs), arFailed), qm)
	for _, f := range figs.Drawn {
		want := map[string]string{FigThroughput: "2 failed cells are not drawn; the results table gives their errors.",
			FigStepTime: note}[f.Name]
		if want != "" && !strings.Contains(f.Caption, want) {
			t.Errorf("%s: caption %q, want %q", f.Name, f.Caption, want)
		}
	}
}

// TestWriteFigures writes the files, and removes a figure's files when a
// rebuild skips it.
func TestWriteFigures(t *testing.T) {
	dir := copyStudy(t)
	recs, err := bench.ReadRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteFigures(dir, recs); err != nil {
		t.Fatal(err)
	}
	list := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "figures", "*"))
		var out []string
		for _, p := range m {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	var want []string
	for _, n := range allFigures {
		want = append(want, n+".png", n+".svg")
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, list()); diff != "" {
		t.Fatalf("files (-want +got):\n%s", diff)
	}
	if err := os.Remove(filepath.Join(dir, QualityFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteFigures(dir, recs); err != nil {
		t.Fatal(err)
	}
	want = []string{"memory.png", "memory.svg", "step_time.png", "step_time.svg", "throughput_latency.png", "throughput_latency.svg"}
	if diff := cmp.Diff(want, list()); diff != "" {
		t.Errorf("files without quality (-want +got):\n%s", diff)
	}
}

func TestFrontier(t *testing.T) {
	p := func(x, y float64) pt { return pt{x: x, y: y} }
	tests := []struct {
		name    string
		pts     []pt
		higherX bool
		want    []pt
	}{
		// Throughput: (300, 12) is fastest; (100, 10) is slower but better;
		// (200, 13) is beaten by (300, 12) in both.
		{"throughput", []pt{p(100, 10), p(200, 13), p(300, 12)}, true, []pt{p(100, 10), p(300, 12)}},
		// Energy, lower is better: (1, 14) is cheapest, (2, 11) better.
		{"energy", []pt{p(2, 11), p(1, 14), p(3, 11.5)}, false, []pt{p(1, 14), p(2, 11)}},
		// Equal x: only the lower y; equal y at a worse x: dominated.
		{"ties", []pt{p(5, 3), p(5, 2), p(4, 2)}, true, []pt{p(5, 2)}},
		{"one", []pt{p(1, 1)}, true, []pt{p(1, 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := frontier(tt.pts, tt.higherX)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b pt) bool { return a.x == b.x && a.y == b.y })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLogTicks(t *testing.T) {
	var labels []string
	for _, tk := range (logTicks{}).Ticks(30, 700) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
		if tk.Value < 30 || tk.Value > 700 {
			t.Errorf("tick %v outside [30, 700]", tk.Value)
		}
	}
	if diff := cmp.Diff([]string{"50", "100", "200", "500"}, labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	// Over five decades (the demo grid's judge perplexities), three labels a
	// decade overlapped: only the powers of ten are labelled.
	if diff := cmp.Diff([]string{"10", "100", "1000", "10000", "100000"}, tickLabels(logTicks{}, 2, 1.2e5)); diff != "" {
		t.Errorf("labels over five decades (-want +got):\n%s", diff)
	}
	if !useLog([]float64{1, 20}) || useLog([]float64{1, 19}) || useLog([]float64{0, 100}) || useLog(nil) || useLog([]float64{math.Inf(1)}) {
		t.Error("useLog: log axes for positive data spanning 20× or more")
	}
}

// TestPanelDataAreaLogY checks that a panel's data area reaches up to its
// top on a log y axis as on a linear one: gonum once shrank it to make room
// for the y title's glyph box, placed at the arithmetic middle of the axis,
// near its top end on a log scale, and left an empty band over the plot of
// the quality and Pareto figures.
func TestPanelDataAreaLogY(t *testing.T) {
	tests := []struct {
		name string
		ys   []float64
	}{
		{"linear", []float64{2, 10}},
		// Judge perplexities of the demo grid's LLaDA cells: 2 to 1e5.
		{"log", []float64{2, 500, 1e5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pts []pt
			for i, y := range tt.ys {
				pts = append(pts, pt{x: float64(i + 1), y: y, lo: math.NaN(), hi: math.NaN()})
			}
			p := &panel{x: "diffusion steps", y: "judge perplexity (lower is better)",
				series: []*series{{label: "s", pts: pts, line: true}}, discreteX: true}
			c := draw.New(vgimg.New(singleW, panelH))
			pl, pc := p.plotIn(c)
			da := pl.DataCanvas(pc)
			// Half a tick label sticks out above the top tick: 10 pt at most.
			if gap := c.Max.Y - da.Max.Y; gap > 10 {
				t.Errorf("%v pt between the panel's top and its data area, want at most 10", gap)
			}
		})
	}
}

// tickLabels returns the labels of the major ticks of m over [lo, hi].
func tickLabels(m plot.Ticker, lo, hi float64) []string {
	var out []string
	for _, tk := range m.Ticks(lo, hi) {
		if tk.Label != "" {
			out = append(out, tk.Label)
		}
	}
	return out
}

func TestLinearTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		want   []string
	}{
		// Time per step, 0 to 19 ms: gonum's DefaultTicks gave 0, 9, 18.
		{0, 19, []string{"0", "5", "10", "15"}},
		// Judge perplexity 9.5 to 19.2: gonum gave 10, 14, 18.
		{9.5, 19.2, []string{"10", "12", "14", "16", "18"}},
		// BLEU 0.3 to 3.9: gonum gave 0.5, 2.0, 3.5.
		{0.3, 3.9, []string{"1", "2", "3"}},
		// ROUGE-L: steps of 0.02 without float noise (0.060000000000000005).
		{0.05, 0.13, []string{"0.06", "0.08", "0.1", "0.12"}},
		// Below zero.
		{-1, 1, []string{"−1", "−0.5", "0", "0.5", "1"}},
		// Ends on a tick that a step of float noise (0.2·0.1 =
		// 0.020000000000000004) put past them: a latency of 0.1 s, an
		// accuracy of 0.6 at most, a range starting on a tick.
		{0, 0.1, []string{"0", "0.02", "0.04", "0.06", "0.08", "0.1"}},
		{0, 0.6, []string{"0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6"}},
		{0.1, 0.3, []string{"0.1", "0.15", "0.2", "0.25", "0.3"}},
		{0, 3e-4, []string{"0", "5×10⁻⁵", "10⁻⁴", "1.5×10⁻⁴", "2×10⁻⁴", "2.5×10⁻⁴", "3×10⁻⁴"}},
		// An empty range (one value) gets its value.
		{3, 3, []string{"3"}},
	}
	for _, tt := range tests {
		got := tickLabels(linearTicks{}, tt.lo, tt.hi)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("[%v, %v] (-want +got):\n%s", tt.lo, tt.hi, diff)
		}
	}
}

func TestTickLabel(t *testing.T) {
	tests := []struct {
		x    float64
		want string
	}{
		{0, "0"},
		{100000, "100000"}, // not 1e+05
		{2500, "2500"},
		{0.005, "0.005"}, // not 5e-03
		{0.30000000000000004, "0.3"},
		{123456, "123500"}, // four significant digits
		{1e6, "10⁶"},
		{2e6, "2×10⁶"},
		{5e-4, "5×10⁻⁴"},
		{-1e7, "−10⁷"},
		{-0.5, "−0.5"},
	}
	for _, tt := range tests {
		if got := tickLabel(tt.x); got != tt.want {
			t.Errorf("tickLabel(%v) = %q, want %q", tt.x, got, tt.want)
		}
	}
}

// TestQualityFigureStyles checks that a quality figure draws a setting in
// one colour and marker in both panels: the steps panel once labelled its
// series without the step rule, and the same fixed-step cells took a second
// legend entry and another colour in the NFE panel.
func TestQualityFigureStyles(t *testing.T) {
	recs, qm := readStudy(t)
	spec := qualityFigure(sortRecords(recs), indexQuality(qm), QJudgePPL, newStyler())
	if len(spec.panels) != 2 {
		t.Fatalf("%d panels, want steps and NFE", len(spec.panels))
	}
	styles := map[string]style{}
	for _, s := range spec.panels[1].series {
		styles[s.label] = s.style
	}
	for _, s := range spec.panels[0].series {
		if st, has := styles[s.label]; !has || st != s.style {
			t.Errorf("%q: style %+v in the steps panel, in the NFE panel %+v (present: %v)", s.label, s.style, st, has)
		}
	}
	// The study: two lengths × (fixed steps, threshold) and two references.
	if len(spec.legend) != 6 {
		var ls []string
		for _, s := range spec.legend {
			ls = append(ls, s.label)
		}
		t.Errorf("%d legend entries, want 6:\n%s", len(ls), strings.Join(ls, "\n"))
	}
}

func TestLogTitle(t *testing.T) {
	tests := []struct {
		title string
		log   bool
		want  string
	}{
		{"generated tokens/s", true, "generated tokens/s (log scale)"},
		// Into the title's own parentheses, not a second pair.
		{"judge perplexity (lower is better)", true, "judge perplexity (lower is better, log scale)"},
		{"latency per batch (s)", false, "latency per batch (s)"},
	}
	for _, tt := range tests {
		if got := logTitle(tt.title, tt.log); got != tt.want {
			t.Errorf("logTitle(%q, %v) = %q, want %q", tt.title, tt.log, got, tt.want)
		}
	}
}

// TestMemoryFigureUnits checks that the memory figure writes peaks under a
// GiB in MiB (the demo models peak near 50 MiB, which read as 0.05 GiB),
// and says so when the records have a single sequence length, where every
// line is one point.
func TestMemoryFigureUnits(t *testing.T) {
	small := arRecord()
	small.Memory = bench.Memory{ProcessPeak: 56 << 20}
	spec := memoryFigure([]bench.Record{small}, newStyler())
	p := spec.panels[0]
	if p.y != "peak memory (MiB)" || p.series[0].pts[0].y != 56 {
		t.Errorf("y %q, point %v; want peak memory (MiB), 56", p.y, p.series[0].pts[0].y)
	}
	n := small.Cell.PromptLen + small.Cell.GenLen
	if want := fmt.Sprintf("one sequence length (%d tokens)", n); !strings.Contains(spec.caption, want) {
		t.Errorf("caption %q does not say %q", spec.caption, want)
	}

	large := arRecord() // a device peak of 17 GiB
	longer := arRecord()
	longer.Key = "longer"
	longer.Cell.GenLen *= 2
	spec = memoryFigure([]bench.Record{large, longer}, newStyler())
	if p := spec.panels[0]; p.y != "peak memory (GiB)" || p.series[0].pts[0].y != 17 {
		t.Errorf("y %q, point %v; want peak memory (GiB), 17", p.y, p.series[0].pts[0].y)
	}
	if strings.Contains(spec.caption, "one sequence length") {
		t.Errorf("caption %q: the records have two lengths", spec.caption)
	}
}

// TestMemoryFigurePromptMean: the memory figure's x axis is the prompt
// and generation lengths the cells asked for, and its legend names no
// length; a cell whose prompts' mean is off its prompt length (shown
// "600 (33)" in the table and the other figures' legends) is said to stand
// at the length asked, not at the tokens it ran.
func TestMemoryFigurePromptMean(t *testing.T) {
	asked, short := promptOffRecords()
	const note = "1 cell ran prompts of another length than it asked for (the table's prompt column gives their mean); it stands at the length asked."
	if spec := memoryFigure([]bench.Record{asked, short}, newStyler()); !strings.Contains(spec.caption, note) {
		t.Errorf("caption %q does not say %q", spec.caption, note)
	}
	if spec := memoryFigure([]bench.Record{asked}, newStyler()); strings.Contains(spec.caption, "another length") {
		t.Errorf("caption %q: the prompts are as long as asked", spec.caption)
	}
}

// TestPanelXMargin checks that a linear x axis of measured values (NFE)
// reaches past its first and last points, which sat on the y axis.
func TestPanelXMargin(t *testing.T) {
	p := &panel{x: "NFE", y: "BLEU", series: []*series{{label: "s", line: true,
		pts: []pt{{x: 32, y: 1, lo: math.NaN(), hi: math.NaN()}, {x: 256, y: 2, lo: math.NaN(), hi: math.NaN()}}}}}
	pl := p.plot()
	if !(pl.X.Min < 32 && pl.X.Max > 256) {
		t.Errorf("x axis [%v, %v], want a margin around [32, 256]", pl.X.Min, pl.X.Max)
	}
}

// A reference line that another hides says both in one bracket: "…
// (reference, coincides with …)", not "(reference) (coincides with …)".
func TestLegendTextReferenceNote(t *testing.T) {
	f := &figSpec{title: "t", panels: []*panel{{}}, legend: []*series{
		{label: "llama · AR greedy · g128 (reference)", note: "(coincides with g256)", ref: true},
		{label: "llada · fixed steps · g128", note: "(coincides with g256)"},
		{label: "llama · AR greedy · g256 (reference)", ref: true},
	}}
	want := []string{"llama · AR greedy · g128 (reference, coincides with g256)", "llada · fixed steps · g128 (coincides with g256)",
		"llama · AR greedy · g256 (reference)"}
	if diff := cmp.Diff(want, f.layout().legendText); diff != "" {
		t.Errorf("legend (-want +got):\n%s", diff)
	}
}

// A figure whose diffusion cells use more than one cache mode says in its
// caption how each is drawn, in the order none, prefix, dual; one mode (or
// autoregressive cells only) says nothing.
func TestCacheNote(t *testing.T) {
	want := " Lines and markers solid and filled: no cache; dashed and hollow: the dual cache."
	if got := cacheNote([]bench.Record{diffRecord(), arRecord(), thrRecord()}); got != want {
		t.Errorf("none and dual: %q, want %q", got, want)
	}
	if got := cacheNote([]bench.Record{diffRecord(), arRecord()}); got != "" {
		t.Errorf("dual only: %q, want none", got)
	}
	figs := MakeFigures([]bench.Record{diffRecord(), arRecord(), thrRecord()}, nil)
	i := slices.IndexFunc(figs.Drawn, func(f Figure) bool { return f.Name == FigThroughput })
	if i < 0 || !strings.HasSuffix(figs.Drawn[i].spec.caption, want) {
		t.Errorf("throughput figure %d of %d drawn; its caption does not end %q", i, len(figs.Drawn), want)
	}
}

// Task accuracy is drawn where the quality file scored a task, after the
// other quality figures, and neither drawn nor listed as skipped where it
// did not (most grids have no task).
func TestFiguresTaskAccuracy(t *testing.T) {
	recs, qm := readStudy(t)
	if drawn, skipped := names(MakeFigures(recs, qm)); slices.Contains(drawn, FigQualityTask) || slices.Contains(skipped, FigQualityTask) {
		t.Fatalf("no task scored, yet %s is drawn or skipped: %v, %v", FigQualityTask, drawn, skipped)
	}
	for i := range qm.Cells {
		if qm.Cells[i].Metrics == nil {
			qm.Cells[i].Metrics = map[string]Interval{}
		}
		qm.Cells[i].Metrics[QTaskFlexible] = Interval{Value: 0.25 + 0.01*float64(i), Lo: 0.1, Hi: 0.5}
	}
	figs := MakeFigures(recs, qm)
	drawn, _ := names(figs)
	want := slices.Insert(slices.Clone(allFigures), slices.Index(allFigures, FigQualityROUGE)+1, FigQualityTask)
	if d := cmp.Diff(want, drawn); d != "" {
		t.Fatalf("drawn (-want +got):\n%s", d)
	}
	for _, f := range figs.Drawn {
		if f.Name != FigQualityTask {
			continue
		}
		all := strings.Join(svgTexts(t, f.SVG), "\n")
		for _, w := range []string{"Task accuracy of LLaDA versus compute", "accuracy, flexible-extract (higher is better)"} {
			if !strings.Contains(all, w) {
				t.Errorf("no text %q in\n%s", w, all)
			}
		}
	}
}

// promptOffRecords are two cells of one model: one whose prompt is as long
// as it asked (128 tokens), one that asked for 600 and ran a prompt file's
// shorter prompts whole (30 and 36 tokens).
func promptOffRecords() (asked, short bench.Record) {
	asked, short = arRecord(), arRecord()
	short.Key = "ar600"
	short.Cell.PromptLen = 600
	short.Prompts = []bench.PromptRecord{{IDs: tokenIDs(30)}, {IDs: tokenIDs(36)}}
	return asked, short
}
