package report

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"dllmbench/bench"
)

// HTML writes report.html: one self-contained page with the environment,
// the main table (report.Markdown's columns), the quality table with
// intervals, the Pareto summary and the figures as inline SVG. It has no
// script and references nothing outside itself (its Content-Security-Policy
// forbids loading anything), so it reads the same offline, attached to a
// mail or years later. Every string from records or the quality file is
// escaped by html/template. qm may be nil (no quality step ran); figs are
// MakeFigures' of the same records. Under its title the page says what
// merging recs hid (MergeNotes).
func HTML(w io.Writer, recs []bench.Record, qm *QualityMetrics, figs Figures) error {
	notes := MergeNotes(recs)
	recs = sortRecords(recs)
	qx := indexQuality(qm)
	page := htmlPage{
		Notes:     notes,
		Grid:      gridNames(recs),
		Cells:     len(recs),
		Envs:      environments(recs),
		MainHead:  make([]htmlHead, len(mdColumns)),
		Quality:   qualityTable(recs, qm, qx),
		Skipped:   figs.Skipped,
		QualityIn: qm != nil && len(qm.Cells) > 0,
	}
	for _, r := range recs {
		if !ok(r) {
			page.Failed++
		}
	}
	for i, c := range mdColumns {
		page.MainHead[i] = htmlHead{c.title, c.number}
	}
	for _, r := range recs {
		page.Main = append(page.Main, mainRow(r))
	}
	if qm != nil {
		page.Judge, page.JudgeNote = qm.Judge, qm.JudgeNote
		for _, m := range qualityColumns(qm) {
			if d, ok := qm.Definitions[m]; ok {
				page.Definitions = append(page.Definitions, [2]string{qualityTitle(m), d})
			}
		}
		if qm.Level > 0 {
			page.Level = strconv.FormatFloat(qm.Level*100, 'g', 4, 64) + "%"
		}
	}
	page.Pareto = paretoSentences(recs, qx)
	for _, f := range figs.Drawn {
		// The SVG draws its title and caption, as the files must: the
		// page repeats them only for screen readers, which read an
		// image's label and not its text.
		page.Figures = append(page.Figures, htmlFigure{Name: f.Name, SVG: inlineSVG(f.SVG, f.Title+". "+f.Caption)})
	}
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, page); err != nil {
		return fmt.Errorf("report: report.html: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

type htmlPage struct {
	Notes         []string
	Grid          string
	Cells, Failed int
	Envs          []htmlEnv
	MainHead      []htmlHead
	Main          []htmlRow
	QualityIn     bool
	Judge         string
	JudgeNote     string
	Level         string
	Definitions   [][2]string // a quality column's title and what its metric is
	Quality       htmlTable
	Pareto        []string
	Figures       []htmlFigure
	Skipped       []Skipped
}

type htmlHead struct {
	Title  string
	Number bool
}

type htmlCell struct {
	Text   string
	Number bool
	Span   int // columns this cell spans; 0 or 1 for one
	Class  string
	Title  string // shown on hovering
}

type htmlRow struct {
	Class string
	Cells []htmlCell
}

type htmlTable struct {
	Head []htmlHead
	Rows []htmlRow
}

type htmlEnv struct {
	Cells int
	Rows  [][2]string
}

type htmlFigure struct {
	Name string
	SVG  template.HTML
}

// mainRow is a record's row of the main table: Markdown's cells, and for a
// failed cell its error across the measurement columns.
func mainRow(r bench.Record) htmlRow {
	var row htmlRow
	for i, c := range mdColumns {
		if !ok(r) && i == failedColumn {
			msg := strings.ToUpper(cmpOr(r.Status, "failed"))
			if r.Error != "" {
				msg += ": " + firstLine(r.Error, 200)
			}
			row.Cells = append(row.Cells, htmlCell{Text: msg, Span: len(mdColumns) - failedColumn, Class: "error"})
			row.Class = "failed"
			break
		}
		cell := htmlCell{Text: c.value(r), Number: c.number}
		if c.title == "power W" && r.EnergyNote != "" {
			cell.Title = "no energy: " + r.EnergyNote
		}
		row.Cells = append(row.Cells, cell)
	}
	return row
}

// gridNames lists the grids of the records.
func gridNames(recs []bench.Record) string {
	var gs []string
	for _, r := range recs {
		if g := cmpOr(r.Grid, "unnamed"); !slices.Contains(gs, g) {
			gs = append(gs, g)
		}
	}
	slices.Sort(gs)
	return strings.Join(gs, ", ")
}

// environments describes each distinct environment of the records (merged
// jobs may have run on several machines), with its number of cells.
func environments(recs []bench.Record) []htmlEnv {
	var out []htmlEnv
	idx := map[string]int{}
	for _, r := range recs {
		if r.Env.Backend == "" && r.Env.CPU == "" && r.Env.GPU == nil {
			continue // a cell that failed before opening a backend
		}
		rows := envRows(r.Env)
		key := fmt.Sprint(rows)
		i, has := idx[key]
		if !has {
			i = len(out)
			idx[key] = i
			out = append(out, htmlEnv{Rows: rows})
		}
		out[i].Cells++
	}
	return out
}

func envRows(e bench.Env) [][2]string {
	var rows [][2]string
	add := func(k, v string) {
		if strings.TrimSpace(v) != "" {
			rows = append(rows, [2]string{k, v})
		}
	}
	d := e.Dllmbench
	v := d.Version
	if d.Commit != "" && d.Commit != "unknown" {
		c := d.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		v += ", commit " + c
	}
	if d.Modified {
		v += " (modified)"
	}
	if d.Date != "" && d.Date != "unknown" {
		v += ", built " + d.Date
	}
	if d.GoVersion != "" {
		v += ", " + d.GoVersion
	}
	add("dllmbench", v)
	add("backend", strings.TrimSpace(e.Backend+" "+paren(e.Device)))
	if g := e.GPU; g != nil {
		gpu := g.Name
		if g.MemoryBytes > 0 {
			gpu += ", " + iec(g.MemoryBytes)
		}
		if g.CC != "" {
			gpu += ", compute capability " + g.CC
		}
		add("GPU", gpu)
		drv := g.Driver
		if g.CUDA != "" {
			drv = strings.TrimSpace(drv + ", CUDA " + g.CUDA)
		}
		add("driver", drv)
		var clk []string
		switch {
		case g.SMMaxMHz > 0 && g.SMClockMHz > 0:
			clk = append(clk, fmt.Sprintf("SM %d MHz at most (%d when the run started)", g.SMMaxMHz, g.SMClockMHz))
		case g.SMClockMHz > 0:
			clk = append(clk, fmt.Sprintf("SM %d MHz when the run started", g.SMClockMHz))
		}
		if g.MemClockMHz > 0 {
			clk = append(clk, fmt.Sprintf("memory %d MHz", g.MemClockMHz))
		}
		add("clocks", strings.Join(clk, ", "))
		if g.PowerLimitW > 0 {
			add("power limit", strconv.FormatFloat(g.PowerLimitW, 'f', -1, 64)+" W")
		}
	} else {
		add("GPU", "none")
	}
	cpu := e.CPU
	if e.CPUs > 0 {
		cpu += fmt.Sprintf(", %d logical CPUs", e.CPUs)
	}
	add("CPU", cpu)
	if e.MemoryBytes > 0 {
		add("memory", iec(e.MemoryBytes))
	}
	add("system", strings.TrimSpace(e.OS+"/"+e.Arch+" "+e.Kernel))
	add("host", e.Hostname)
	if id := e.SLURM["SLURM_JOB_ID"]; id != "" {
		add("SLURM job", strings.TrimSpace(id+" "+paren(e.SLURM["SLURM_JOB_PARTITION"])))
	}
	add("notes", e.HardwareNotes)
	return rows
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

// qualityColumns are the metrics of the quality table: the known ones in
// qualityOrder, then any other in name order.
func qualityColumns(qm *QualityMetrics) []string {
	present := map[string]bool{}
	for _, q := range qm.Cells {
		for m := range q.Metrics {
			present[m] = true
		}
	}
	var cols []string
	for _, m := range qualityOrder {
		if present[m] {
			cols = append(cols, m)
			delete(present, m)
		}
	}
	var extra []string
	for m := range present {
		extra = append(extra, m)
	}
	slices.Sort(extra)
	return append(cols, extra...)
}

// qualityTitle is a metric's column title.
func qualityTitle(m string) string {
	switch m {
	case QJudgePPL:
		return "judge PPL"
	case QBLEU:
		return "BLEU"
	case QROUGEL:
		return "ROUGE-L"
	}
	if n, found := strings.CutPrefix(m, "distinct_"); found {
		return "distinct-" + n
	}
	return strings.ReplaceAll(m, "_", " ")
}

// qualityTable has one row per cell of the quality file, in report order:
// the cell, each metric as "value [lo, hi]", and what the cell cost.
func qualityTable(recs []bench.Record, qm *QualityMetrics, qx qualityIndex) htmlTable {
	var t htmlTable
	if qm == nil || len(qm.Cells) == 0 {
		return t
	}
	cols := qualityColumns(qm)
	for _, h := range []string{"model", "batch", "prompt", "gen", "decoder"} {
		t.Head = append(t.Head, htmlHead{h, h == "batch" || h == "prompt" || h == "gen"})
	}
	for _, m := range cols {
		t.Head = append(t.Head, htmlHead{qualityTitle(m), true})
	}
	t.Head = append(t.Head, htmlHead{"NFE", true}, htmlHead{"tok/s", true}, htmlHead{"J/token", true})
	type row struct {
		c bench.Cell
		r *bench.Record
		q *Quality
	}
	var rows []row
	matched := map[*Quality]bool{}
	for i := range recs {
		if q := qx.of(recs[i]); q != nil && !matched[q] {
			matched[q] = true
			rows = append(rows, row{recs[i].Cell, &recs[i], q})
		}
	}
	var rest []row // quality of cells these records do not have
	for i := range qm.Cells {
		if q := &qm.Cells[i]; !matched[q] {
			rest = append(rest, row{q.Cell, nil, q})
		}
	}
	slices.SortStableFunc(rest, func(a, b row) int { return compareCells(a.c, b.c) })
	for _, x := range append(rows, rest...) {
		c := x.c
		prompt := strconv.Itoa(c.PromptLen) // quality without its record: the prompts are not known
		if x.r != nil {
			prompt = promptLength(*x.r)
		}
		hr := htmlRow{Cells: []htmlCell{
			{Text: c.Model}, {Text: strconv.Itoa(c.Batch), Number: true}, {Text: prompt, Number: true},
			{Text: strconv.Itoa(c.GenLen), Number: true}, {Text: Decoder(c)},
		}}
		for _, m := range cols {
			hr.Cells = append(hr.Cells, htmlCell{Text: intervalText(x.q.Metrics[m], x.q.Metrics != nil && hasKey(x.q.Metrics, m)), Number: true})
		}
		var rec bench.Record
		if x.r != nil {
			rec = *x.r
		}
		for _, m := range []string{bench.MNFE, bench.MTokensPerS, bench.MEnergyPerTok} {
			s := "-"
			if v, has := cost(rec, x.q, m); has {
				s = round(v, decimals(v))
				if m == bench.MNFE && v == float64(int64(v)) {
					s = strconv.FormatInt(int64(v), 10)
				}
			}
			hr.Cells = append(hr.Cells, htmlCell{Text: s, Number: true})
		}
		t.Rows = append(t.Rows, hr)
	}
	return t
}

func hasKey(m map[string]Interval, k string) bool { _, has := m[k]; return has }

// intervalText writes "value [lo, hi]" with four significant digits, the
// value alone without bounds, "-" where the cell lacks the metric.
func intervalText(iv Interval, has bool) string {
	if !has || !finite(iv.Value) {
		return "-"
	}
	d := decimals(iv.Value)
	s := round(iv.Value, d)
	if iv.hasBounds() {
		s += " [" + round(iv.Lo, d) + ", " + round(iv.Hi, d) + "]"
	}
	return s
}

// paretoPick is a model's fastest setting at equal quality within one
// prompt and generation length on one machine.
type paretoPick struct {
	group  string // "" when the records have one prompt and generation length and one machine
	model  string
	family string
	r      bench.Record
	tps    float64
	ppl    Interval
}

// equalQuality picks, for each model (and each prompt and generation length
// and machine where those vary), the fastest setting at equal quality.
//
// Equal quality is defined on judge perplexity: a model's best setting is
// the one with the lowest judge perplexity; a setting is of equal quality
// when its interval overlaps the best one's, that is when its lower bound is
// at most the best setting's upper bound (a setting without an interval
// counts as the point interval at its value). Among those settings the
// fastest is the one with the most generated tokens per second (the
// record's mean, else the quality step's cost). Settings without a finite
// perplexity or throughput take no part.
func equalQuality(recs []bench.Record, qx qualityIndex) []paretoPick {
	type cand struct {
		r   bench.Record
		tps float64
		ppl Interval
	}
	var used []bench.Record
	for _, r := range recs {
		if !ok(r) {
			continue
		}
		_, has := qx.of(r).metric(QJudgePPL)
		if tps, hasT := cost(r, qx.of(r), bench.MTokensPerS); has && hasT && tps > 0 {
			used = append(used, r)
		}
	}
	if len(used) == 0 {
		return nil
	}
	v := varies(used)
	v.batch = false
	// A group holds both families, whose tokenizers count the same prompts
	// differently: the measured means would part them.
	v.asked = true
	byGroup := map[[2]string][]cand{}
	var order [][2]string
	for _, r := range used {
		k := [2]string{v.label(r, true, false), r.Cell.Model}
		if _, has := byGroup[k]; !has {
			order = append(order, k)
		}
		ppl, _ := qx.of(r).metric(QJudgePPL)
		tps, _ := cost(r, qx.of(r), bench.MTokensPerS)
		byGroup[k] = append(byGroup[k], cand{r, tps, ppl})
	}
	// Shorter prompts and generations first, then the machine, then the
	// model.
	slices.SortStableFunc(order, func(a, b [2]string) int {
		ca, cb := byGroup[a][0].r.Cell, byGroup[b][0].r.Cell
		return cmp.Or(cmp.Compare(ca.PromptLen, cb.PromptLen), cmp.Compare(ca.GenLen, cb.GenLen),
			cmp.Compare(hardware(byGroup[a][0].r), hardware(byGroup[b][0].r)), cmp.Compare(a[1], b[1]))
	})
	var out []paretoPick
	for _, k := range order {
		cs := byGroup[k]
		best := cs[0]
		for _, c := range cs[1:] {
			if c.ppl.Value < best.ppl.Value {
				best = c
			}
		}
		_, bestHi := best.ppl.bounds()
		pick := best
		for _, c := range cs {
			if lo, _ := c.ppl.bounds(); lo <= bestHi && c.tps > pick.tps {
				pick = c
			}
		}
		out = append(out, paretoPick{group: k[0], model: k[1], family: pick.r.Cell.Family, r: pick.r, tps: pick.tps, ppl: pick.ppl})
	}
	return out
}

// paretoSentences summarises equalQuality: one sentence per model, and per
// prompt and generation length where both families were measured, one
// comparing the fastest equal-quality settings of the two families.
func paretoSentences(recs []bench.Record, qx qualityIndex) []string {
	picks := equalQuality(recs, qx)
	var out []string
	var groups []string
	for _, p := range picks {
		prefix := ""
		if p.group != "" {
			prefix = p.group + ": a"
		} else {
			prefix = "A"
		}
		out = append(out, fmt.Sprintf("%st equal quality, the fastest setting of %s is %s at %s tok/s (judge PPL %s).",
			prefix, p.model, setting(p.r.Cell), round(p.tps, decimals(p.tps)), intervalText(p.ppl, true)))
		if !slices.Contains(groups, p.group) {
			groups = append(groups, p.group)
		}
	}
	for _, g := range groups {
		// The fastest pick of each family in the group.
		var ar, diff *paretoPick
		for i := range picks {
			p := &picks[i]
			if p.group != g {
				continue
			}
			slot := &ar
			if p.r.Cell.Diffusion() {
				slot = &diff
			}
			if *slot == nil || p.tps > (*slot).tps {
				*slot = p
			}
		}
		if ar == nil || diff == nil {
			continue
		}
		prefix := "Between the families"
		if g != "" {
			prefix += " (" + g + ")"
		}
		dlo, dhi := diff.ppl.bounds()
		alo, ahi := ar.ppl.bounds()
		var verdict string
		switch {
		case dlo <= ahi && alo <= dhi:
			verdict = "the perplexity intervals overlap, so the quality is equal at this confidence"
		case diff.ppl.Value > ar.ppl.Value:
			verdict = "the intervals do not overlap: " + diff.model + " generates worse text"
		default:
			verdict = "the intervals do not overlap: " + diff.model + " generates better text"
		}
		ratio := diff.tps / ar.tps
		out = append(out, fmt.Sprintf("%s: %s's fastest equal-quality setting reaches %s× the throughput of %s's (%s against %s tok/s), at judge PPL %s against %s; %s.",
			prefix, diff.model, round(ratio, decimals(ratio)), ar.model, round(diff.tps, decimals(diff.tps)),
			round(ar.tps, decimals(ar.tps)), intervalText(diff.ppl, true), intervalText(ar.ppl, true), verdict))
	}
	return out
}

// setting names a cell's decoder and batch size.
func setting(c bench.Cell) string {
	return Decoder(c) + " (batch " + strconv.Itoa(c.Batch) + ")"
}

var (
	svgHeader = regexp.MustCompile(`(?s)\A.*?<svg\b[^>]*>`)
	svgNum    = regexp.MustCompile(`viewBox="0 0 ([0-9.]+) ([0-9.]+)"`)
)

// inlineSVG turns a figure's SVG file into an element for HTML: no XML
// declaration or comment, no namespace attributes (the HTML parser puts
// <svg> in its namespace), the file's size as the viewBox only, so that CSS
// scales the figure to the page and keeps it inside narrow screens; label
// (title and caption) names it for screen readers.
func inlineSVG(svg []byte, label string) template.HTML {
	head := svgHeader.Find(svg)
	m := svgNum.FindSubmatch(head)
	if head == nil || m == nil {
		panic("report: not an SVG of vgsvg: " + string(svg[:min(len(svg), 80)]))
	}
	w, _ := strconv.ParseFloat(string(m[1]), 64)
	// Natural size: 1 pt = 4/3 CSS px.
	open := fmt.Sprintf(`<svg class="figure" viewBox="0 0 %s %s" style="max-width:%.0fpx" role="img" aria-label="%s">`,
		m[1], m[2], w*4/3, template.HTMLEscapeString(label))
	return template.HTML(open + string(svg[len(head):]))
}

// cellCount counts cells in words: "1 cell", "2 cells".
func cellCount(n int) string {
	if n == 1 {
		return "1 cell"
	}
	return strconv.Itoa(n) + " cells"
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{"cells": cellCount}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>dllmbench report: {{.Grid}}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", Arial, sans-serif; color: #1a1a1a; margin: 0 auto; padding: 1rem 1.25rem 3rem; max-width: 1200px; }
h1 { font-size: 1.6rem; margin: .5rem 0; }
h2 { font-size: 1.25rem; margin: 2rem 0 .6rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: .86rem; font-variant-numeric: tabular-nums; }
th, td { padding: .25rem .55rem; border-bottom: 1px solid #e4e4e4; text-align: left; white-space: nowrap; vertical-align: top; }
th { background: #f4f4f4; position: sticky; top: 0; }
td.num, th.num { text-align: right; }
tr.failed td { background: #fff3f0; }
td.error { color: #a12a00; white-space: normal; min-width: 20rem; }
table.env th { background: none; font-weight: 600; }
table.env caption { text-align: left; }
table.env td { white-space: normal; }
figure { margin: 1.5rem 0; }
svg.figure { display: block; width: 100%; height: auto; }
figcaption { font-size: .85rem; color: #444; margin-top: .3rem; }
.note { color: #555; }
ul.pareto li { margin: .3rem 0; }
dl.definitions { font-size: .86rem; }
dl.definitions dt { float: left; clear: left; font-weight: 600; margin-right: .4rem; }
dl.definitions dt::after { content: ":"; }
dl.definitions dd { margin: 0 0 .2rem; }
</style>
</head>
<body>
<header>
<h1>dllmbench report: {{.Grid}}</h1>
<p>{{cells .Cells}}{{if .Failed}}, {{.Failed}} failed{{end}}. Built from the records by <code>dllmbench report</code>.</p>
{{range .Notes}}<p class="note merge">{{.}}.</p>
{{end}}</header>

<section id="environment">
<h2>Environment</h2>
{{range $i, $e := .Envs}}<div class="scroll"><table class="env" id="env-{{$i}}">
<caption class="note">{{cells $e.Cells}} measured here</caption>
<tbody>
{{range $e.Rows}}<tr><th scope="row">{{index . 0}}</th><td>{{index . 1}}</td></tr>
{{end}}</tbody>
</table></div>
{{else}}<p class="note">No record says where it ran.</p>
{{end}}</section>

<section id="results">
<h2>Results</h2>
<div class="scroll"><table id="main-table">
<thead><tr>{{range .MainHead}}<th{{if .Number}} class="num"{{end}} scope="col">{{.Title}}</th>{{end}}</tr></thead>
<tbody>
{{range .Main}}<tr{{if .Class}} class="{{.Class}}"{{end}}>{{range .Cells}}<td{{if .Span}} colspan="{{.Span}}"{{end}}{{if .Class}} class="{{.Class}}"{{else if .Number}} class="num"{{end}}{{if .Title}} title="{{.Title}}"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table></div>
<p class="note">tok/s: generated tokens per second (mean ± standard deviation over repetitions); latency per batch; peak memory: the backend allocator's peak on a GPU, else the process's.</p>
</section>

<section id="quality">
<h2>Quality</h2>
{{if .QualityIn}}<p class="note">{{if .Judge}}Judge perplexity under {{.Judge}}. {{else if .JudgeNote}}No judge: {{.JudgeNote}}. {{end}}Intervals in brackets{{if .Level}}: {{.Level}} bootstrap confidence over prompts{{end}}.</p>
<div class="scroll"><table id="quality-table">
<thead><tr>{{range .Quality.Head}}<th{{if .Number}} class="num"{{end}} scope="col">{{.Title}}</th>{{end}}</tr></thead>
<tbody>
{{range .Quality.Rows}}<tr>{{range .Cells}}<td{{if .Number}} class="num"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table></div>
{{if .Definitions}}<dl class="note definitions">
{{range .Definitions}}<dt>{{index . 0}}</dt><dd>{{index . 1}}</dd>
{{end}}</dl>
{{end}}{{else}}<p class="note">No quality metrics: raw_data/quality_metrics.json is absent or empty. Run <code>dllmbench quality</code> for the quality table, the quality figures and the Pareto summary.</p>
{{end}}</section>

<section id="pareto">
<h2>Pareto summary</h2>
{{if .Pareto}}<ul class="pareto">
{{range .Pareto}}<li>{{.}}</li>
{{end}}</ul>
<p class="note">Equal quality: settings whose judge-perplexity interval overlaps that of the model's best setting (lowest perplexity); the fastest of them has the most generated tokens per second.</p>
{{else}}<p class="note">No cell has both a judge perplexity and a throughput.</p>
{{end}}</section>

<section id="figures">
<h2>Figures</h2>
{{range .Figures}}<figure id="fig-{{.Name}}">
{{.SVG}}
<figcaption>figures/{{.Name}}.svg, .png</figcaption>
</figure>
{{end}}{{if .Skipped}}<p class="note">Not drawn:</p>
<ul class="note" id="skipped">
{{range .Skipped}}<li>{{.Name}}: {{.Reason}}</li>
{{end}}</ul>
{{end}}</section>
</body>
</html>
`))
