package report

import (
	"bytes"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"dllmbench/bench"
	"dllmbench/compute/device"
)

// tableRows counts the body rows of the table with the given id.
func tableRows(t *testing.T, page, id string) int {
	t.Helper()
	i := strings.Index(page, `<table id="`+id+`">`)
	if i < 0 {
		return -1
	}
	rest := page[i:]
	body := rest[strings.Index(rest, "<tbody>"):strings.Index(rest, "</tbody>")]
	return strings.Count(body, "<tr")
}

// TestHTMLStudy writes the study's report and checks report.html: self-
// contained, with the environment, both tables, the Pareto summary and
// every figure.
func TestHTMLStudy(t *testing.T) {
	dir := copyStudy(t)
	recs, err := bench.ReadRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, recs); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	// Nothing to run, nothing to fetch: no script, no link, no URL.
	for _, bad := range []string{"<script", "src=", "href=", "url(", "@import", "http:", "https:", "<link", "<iframe", "<img"} {
		if strings.Contains(page, bad) {
			t.Errorf("report.html contains %q", bad)
		}
	}
	if n := tableRows(t, page, "main-table"); n != studyCells {
		t.Errorf("main table: %d rows, want %d", n, studyCells)
	}
	if n := tableRows(t, page, "quality-table"); n != studyCells-studyFailed {
		t.Errorf("quality table: %d rows, want %d", n, studyCells-studyFailed)
	}
	if n := strings.Count(page, `<svg class="figure"`); n != len(allFigures) {
		t.Errorf("%d inline figures, want %d", n, len(allFigures))
	}
	want := []string{
		// studyEnv's version, GPU, driver, clocks and power limit.
		"<td>v0.3.0, commit 6184149a0c1f, built 2026-11-27T06:47:00Z, go1.26.0</td>",
		"<td>NVIDIA H100 80GB HBM3, 79.6 GiB, compute capability 9.0</td>",
		"<td>560.35.03, CUDA 12.6</td>", "<td>SM 1980 MHz at most (345 when the run started), memory 2619 MHz</td>", "<td>700 W</td>",
		"<title>dllmbench report: study-h100</title>",
		// The failed cell's error across the measurement columns.
		`<td colspan="10" class="error">FAILED: cuda: out of memory allocating 9.6 GiB`,
		// A quality cell: studyRecords' LLaMA at g128 has judge PPL
		// 9.8 + 128/256 = 10.3 with bounds −7% and +7.7%.
		`<td class="num">10.30 [9.58, 11.09]</td>`,
		"Judge perplexity under meta-llama/Meta-Llama-3-8B. Intervals in brackets: 95% bootstrap confidence over prompts.",
		// Under the quality table, what its columns are, in their order.
		"<dt>judge PPL</dt><dd>generative perplexity under the judge</dd>\n<dt>BLEU</dt><dd>sacreBLEU corpus_bleu(generations, [references])</dd>",
		// LLaDA's threshold cell at batch 16 is the fastest within the
		// best one's interval (fixed steps = gen length, 11.7 [10.88,
		// 12.60]); its own PPL is 11.2 + 0.5 + 0.5.
		"p128 g128: at equal quality, the fastest setting of llada-8b is thr 0.9 / blk 32 / dual (batch 16) at ",
		" tok/s (judge PPL 12.20 [11.35, 13.14]).",
		"p128 g128: at equal quality, the fastest setting of llama3-8b is AR greedy (batch 16) at ",
		"Between the families (p128 g256): llada-8b&#39;s fastest equal-quality setting reaches ",
		"the intervals do not overlap: llada-8b generates worse text.",
	}
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("report.html lacks %q", w)
		}
	}
}

// TestHTMLEscapes: strings from records and the quality file are text,
// never markup, in tables, sentences and figures alike.
func TestHTMLEscapes(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	ar, diff := arRecord(), diffRecord()
	ar.Cell.Model, ar.Grid = evil, `"><b>grid`
	ar.Env.HardwareNotes = `<img src=x onerror=alert(1)>`
	failed := failedRecord()
	failed.Error = `<iframe src="javascript:alert(1)">`
	recs := []bench.Record{ar, diff, failed}
	qm := &QualityMetrics{Judge: evil, Cells: []Quality{
		{Key: ar.Key, Cell: ar.Cell, Metrics: map[string]Interval{QJudgePPL: {10, 9, 11}, "<b>odd</b>": {1, 0, 2}}},
		{Key: diff.Key, Cell: diff.Cell, Metrics: map[string]Interval{QJudgePPL: {12, 11, 13}}},
	}}
	var buf bytes.Buffer
	if err := HTML(&buf, recs, qm, MakeFigures(recs, qm)); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, bad := range []string{"<script", "<img", "<iframe", "<b>"} {
		if strings.Contains(page, bad) {
			t.Errorf("report.html contains %q", bad)
		}
	}
	for _, w := range []string{
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;",             // html/template in tables
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; · AR greedy", // vgsvg in the legends
		"&lt;img src=x onerror=alert(1)&gt;",
		"&lt;b&gt;odd&lt;/b&gt;",
	} {
		if !strings.Contains(page, w) {
			t.Errorf("report.html lacks %q", w)
		}
	}
}

// TestHTMLWithoutQuality: the hand-made fixture, with no quality step,
// says what is missing instead of showing empty tables; so does a quality
// file without cells (a quality step over failed cells alone), which is
// not absent.
func TestHTMLWithoutQuality(t *testing.T) {
	recs := fixture()
	var buf bytes.Buffer
	if err := HTML(&buf, recs, &QualityMetrics{}, MakeFigures(recs, nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "No quality metrics: raw_data/quality_metrics.json is absent or empty.") {
		t.Error("an empty quality file is said to be absent")
	}
	buf.Reset()
	if err := HTML(&buf, recs, nil, MakeFigures(recs, nil)); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if n := tableRows(t, page, "main-table"); n != 4 {
		t.Errorf("main table: %d rows, want 4 (the older attempt of fail1 merged away)", n)
	}
	for _, w := range []string{
		"No quality metrics: raw_data/quality_metrics.json is absent or empty.",
		"No cell has both a judge perplexity and a throughput.",
		"<li>pareto_energy: no quality metrics (raw_data/quality_metrics.json is absent or empty)</li>",
		// The CPU run and the GPU run are two environments: one cell, not
		// "1 cells", on the CPU.
		"<caption class=\"note\">1 cell measured here</caption>",
		"<td>Neoverse-V2, 72 logical CPUs</td>",
	} {
		if !strings.Contains(page, w) {
			t.Errorf("report.html lacks %q", w)
		}
	}
	if strings.Contains(page, `id="quality-table"`) {
		t.Error("a quality table without quality")
	}
	// Markdown's cells: +Inf ± NaN as the table writes it ('+' escaped).
	if !strings.Contains(page, `<td class="num">&#43;Inf ± NaN</td>`) {
		t.Error("thr1's tok/s is not +Inf ± NaN")
	}
}

// TestEqualQuality checks the definition of equal quality on small cases.
func TestEqualQuality(t *testing.T) {
	nan := math.NaN()
	type setting struct {
		steps int
		tps   float64
		ppl   Interval
	}
	tests := []struct {
		name     string
		settings []setting
		want     int // steps of the pick
	}{
		// The best is 64 steps (10 [9, 11]); 16 steps' interval [10, 12]
		// overlaps it and is faster.
		{"overlap", []setting{{64, 100, Interval{10, 9, 11}}, {16, 300, Interval{11, 10, 12}}}, 16},
		// 16 steps' interval starts above the best one's: not equal.
		{"apart", []setting{{64, 100, Interval{10, 9, 11}}, {16, 300, Interval{13, 11.5, 14}}}, 64},
		// Without intervals, equal means the same value.
		{"points equal", []setting{{64, 100, Interval{10, nan, nan}}, {16, 300, Interval{10, nan, nan}}}, 16},
		{"points apart", []setting{{64, 100, Interval{10, nan, nan}}, {16, 300, Interval{10.01, nan, nan}}}, 64},
		// A setting without perplexity takes no part.
		{"no perplexity", []setting{{64, 100, Interval{10, 9, 11}}, {16, 300, Interval{nan, nan, nan}}}, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var recs []bench.Record
			qm := &QualityMetrics{}
			for _, s := range tt.settings {
				r := diffRecord()
				r.Cell.Steps = s.steps
				r.Key = strings.Repeat("k", s.steps)
				r.Stats = map[string]bench.Stat{bench.MTokensPerS: {Mean: s.tps, N: 1}}
				recs = append(recs, r)
				qm.Cells = append(qm.Cells, Quality{Key: r.Key, Metrics: map[string]Interval{QJudgePPL: s.ppl}})
			}
			picks := equalQuality(recs, indexQuality(qm))
			if len(picks) != 1 || picks[0].r.Cell.Steps != tt.want {
				t.Errorf("picked %+v, want the setting of %d steps", picks, tt.want)
			}
		})
	}
}

// TestFamilyComparison checks the sentence between the families: the ratio
// of throughputs, with the table's four significant digits, and whether
// the perplexity intervals overlap.
func TestFamilyComparison(t *testing.T) {
	tests := []struct {
		name    string
		ar, dif Interval
		arTPS   float64 // arRecord's is 72, diffRecord's 80
		ratio   string
		want    string
	}{
		{"overlap", Interval{10, 9, 11}, Interval{10.5, 10, 12}, 72, "1.111× the throughput of llama's (80.00 against 72.00 tok/s)",
			"the perplexity intervals overlap, so the quality is equal at this confidence."},
		{"worse", Interval{10, 9, 11}, Interval{13, 12, 14}, 72, "1.111×", "the intervals do not overlap: llada generates worse text."},
		{"better", Interval{13, 12, 14}, Interval{10, 9, 11}, 72, "1.111×", "the intervals do not overlap: llada generates better text."},
		// Two decimals made it "0.00×", as if LLaDA generated nothing.
		{"far slower", Interval{10, 9, 11}, Interval{10.5, 10, 12}, 20000, "0.004000× the throughput of llama's (80.00 against 20000 tok/s)",
			"the perplexity intervals overlap, so the quality is equal at this confidence."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ar, dif := arRecord(), diffRecord()
			ar.Stats[bench.MTokensPerS] = bench.Stat{Mean: tt.arTPS, N: 2}
			dif.Cell.GenLen = ar.Cell.GenLen // one group: the same lengths
			qm := &QualityMetrics{Cells: []Quality{
				{Key: ar.Key, Metrics: map[string]Interval{QJudgePPL: tt.ar}},
				{Key: dif.Key, Metrics: map[string]Interval{QJudgePPL: tt.dif}},
			}}
			got := paretoSentences([]bench.Record{ar, dif}, indexQuality(qm))
			if len(got) != 3 || !strings.HasPrefix(got[2], "Between the families: llada's fastest equal-quality setting reaches "+tt.ratio) ||
				!strings.HasSuffix(got[2], tt.want) {
				t.Errorf("got %q", got)
			}
			want := "At equal quality, the fastest setting of llama is AR greedy (batch 1) at " + round(tt.arTPS, decimals(tt.arTPS)) + " tok/s (judge PPL "
			if diff := cmp.Diff(want, got[1][:len(want)]); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestFamilyComparisonShortPrompts: the two families' cells of one prompt
// length are compared even where their tokenizers count the prompts at
// different mean lengths; the group is named by the length asked.
func TestFamilyComparisonShortPrompts(t *testing.T) {
	ar, dif, other := arRecord(), diffRecord(), arRecord()
	for i, r := range []*bench.Record{&ar, &dif} {
		r.Cell.PromptLen, r.Cell.GenLen = 600, 4
		r.Prompts = []bench.PromptRecord{{IDs: tokenIDs(33 + 2*i)}} // 33 and 35 tokens: a prompt file's, kept whole
	}
	other.Key = "ar128" // another length, so that groups are named
	qm := &QualityMetrics{}
	for _, r := range []bench.Record{ar, dif, other} {
		qm.Cells = append(qm.Cells, Quality{Key: r.Key, Metrics: map[string]Interval{QJudgePPL: {10, 9, 11}}})
	}
	got := paretoSentences([]bench.Record{ar, dif, other}, indexQuality(qm))
	want := "Between the families (p600 g4): llada's fastest equal-quality setting reaches"
	if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, want) }) {
		t.Errorf("no sentence %q… in %q", want, got)
	}
}

// A cell whose repetitions could not be given energy shows why on its
// power column; the others have no such title.
func TestHTMLEnergyNote(t *testing.T) {
	ar, diff := arRecord(), diffRecord()
	ar.EnergyNote = "the nvml energy counter, which moves every 100ms, needs 1s"
	recs := []bench.Record{ar, diff}
	var buf bytes.Buffer
	if err := HTML(&buf, recs, nil, MakeFigures(recs, nil)); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if n := strings.Count(page, ` title="no energy: `); n != 1 {
		t.Errorf("%d cells with an energy note, want 1", n)
	}
	if !strings.Contains(page, ` title="no energy: the nvml energy counter, which moves every 100ms, needs 1s">`) {
		t.Error("the note is not on the power column")
	}
}

// TestHTMLMergeNotes: report.html, which shows one record per cell, says
// what merging the records hid, as report and plot say it on the terminal:
// a cell measured on two machines, of which it shows the newest, and a
// cell in two rows that read the same. The records of one run say nothing.
func TestHTMLMergeNotes(t *testing.T) {
	h200 := arRecord()
	h200.Started = t0.Add(time.Hour)
	h200.Env.GPU = &device.GPU{Name: "NVIDIA H200"}
	again := diffRecord()
	again.Key = "diff1-other-repetitions"
	page := func(recs []bench.Record) string {
		dir := t.TempDir()
		if err := Write(dir, recs); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "report.html"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	merged := page(append(fixture(), h200, again))
	for _, want := range []string{
		`<p class="note merge">1 cell was measured on more than one machine (NVIDIA H100 80GB HBM3 (cuda), NVIDIA H200 (cuda)); the outputs show each one&#39;s newest only`,
		`<p class="note merge">1 cell is in more than one row that reads the same`,
	} {
		if !strings.Contains(merged, want) {
			t.Errorf("no note %q", want)
		}
	}
	if strings.Contains(page(fixture()), `class="note merge"`) {
		t.Error("a note on the records of one run")
	}
}

// TestHTMLCaptionOnce: a figure's title and caption show once on the page,
// drawn in its SVG, which the files need on their own; the <figcaption>
// repeated them under it. Screen readers, which read an image's label and
// not its text, have them in the label.
func TestHTMLCaptionOnce(t *testing.T) {
	recs, qm := readStudy(t)
	figs := MakeFigures(recs, qm)
	var buf bytes.Buffer
	if err := HTML(&buf, recs, qm, figs); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, f := range figs.Drawn {
		i := strings.Index(page, `<figure id="fig-`+f.Name+`">`)
		if i < 0 {
			t.Errorf("%s: no figure", f.Name)
			continue
		}
		fig := page[i : i+strings.Index(page[i:], "</figure>")]
		_, capt, _ := strings.Cut(fig, "<figcaption>")
		capt, _, _ = strings.Cut(capt, "</figcaption>")
		if want := "figures/" + f.Name + ".svg, .png"; capt != want {
			t.Errorf("%s: figcaption %q, want %q", f.Name, capt, want)
		}
		label := template.HTMLEscapeString(f.Title + ". " + f.Caption)
		if !strings.Contains(fig, `aria-label="`+label+`"`) {
			t.Errorf("%s: the SVG's label is not %q", f.Name, label)
		}
		if n := strings.Count(fig, ">"+template.HTMLEscapeString(f.Title)+"<"); n != 1 {
			t.Errorf("%s: the title shows %d times, want once", f.Name, n)
		}
	}
}
