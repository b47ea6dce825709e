package report

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"dllmbench/bench"
)

// The figures, by file name (without extension) in DIR/figures/.
const (
	FigThroughput   = "throughput_latency" // tokens/s and latency versus batch size
	FigMemory       = "memory"             // peak memory versus prompt + generated tokens
	FigStepTime     = "step_time"          // LLaDA time per forward call versus steps
	FigQualityPPL   = "quality_judge_ppl"  // judge perplexity versus steps and NFE
	FigQualityBLEU  = "quality_bleu"       // BLEU versus steps and NFE
	FigQualityROUGE = "quality_rouge_l"    // ROUGE-L versus steps and NFE
	FigQualityTask  = "quality_accuracy"   // task accuracy (flexible-extract) versus steps and NFE, where scored
	FigParetoSpeed  = "pareto_throughput"  // judge perplexity versus tokens/s
	FigParetoEnergy = "pareto_energy"      // judge perplexity versus J/token
)

// Figure is one drawn figure.
type Figure struct {
	Name    string // file name without extension
	Title   string
	Caption string // the grid and hardware, and what the marks mean
	SVG     []byte // as written to Name.svg

	spec *figSpec
}

// PNG renders the figure as a PNG image at pngDPI.
func (f Figure) PNG() ([]byte, error) {
	c := vgimg.NewWith(vgimg.UseWH(f.spec.size()), vgimg.UseDPI(pngDPI))
	f.spec.draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("report: figure %s: %w", f.Name, err)
	}
	return buf.Bytes(), nil
}

// pngDPI makes a PNG twice as sharp as the 72 points per inch of the SVG.
const pngDPI = 144

// Skipped is a figure that was not drawn and why.
type Skipped struct {
	Name, Reason string
}

// Figures is what MakeFigures drew and what it skipped, in a fixed order.
type Figures struct {
	Drawn   []Figure
	Skipped []Skipped
}

// MakeFigures draws every figure whose data recs (and the quality metrics
// qm, which may be nil) hold:
//
//   - throughput_latency: generated tokens/s and latency per batch versus
//     batch size, one line per model and decoder (and per prompt and
//     generation length, backend or device where those vary), error bars of
//     ± one standard deviation over repetitions;
//   - memory: peak memory (see peakMemory) versus prompt + generated tokens,
//     one line per model and cache mode (and batch size where it varies),
//     the largest over the settings that share them;
//   - step_time: LLaDA's mean time per forward call versus fixed step
//     counts, one line per block length and cache;
//   - quality_judge_ppl, quality_bleu, quality_rouge_l: the metric of LLaDA
//     cells versus steps and versus NFE, intervals as error bars, each
//     autoregressive setting's value as a dashed horizontal line with its
//     interval shaded; the smallest batch stands for a setting, since
//     batching does not change what is generated;
//   - pareto_throughput and pareto_energy: judge perplexity versus
//     tokens/s and versus J/token of every cell, each model's Pareto
//     frontier (no other setting of the model is both faster, or cheaper,
//     and lower in perplexity) as a line.
//
// Non-finite measurements are left out. A failed cell is not drawn; the
// caption of a figure it would have been drawn in says how many are not
// (a quality figure, only those of a setting that no other batch size
// measured, since it draws a setting once). A figure without data is
// skipped with the reason. The same records and metrics give the same
// bytes.
//
// A series is drawn alike in every figure (see style): the same model and
// decoder setting has the same colour in the throughput, quality and
// Pareto figures.
func MakeFigures(recs []bench.Record, qm *QualityMetrics) Figures {
	recs = sortRecords(recs)
	var good, failed []bench.Record
	drawn := map[bench.Cell]bool{} // successful settings, the batch size aside
	for _, r := range recs {
		if ok(r) {
			good = append(good, r)
			drawn[unbatched(r.Cell)] = true
		} else {
			failed = append(failed, r)
		}
	}
	qx := indexQuality(qm)
	st := newStyler() // one for all figures: a series keeps its style
	var out Figures
	// add adds a figure, its caption saying how many of the failed cells
	// that would have been drawn in it (missing says which) are not.
	add := func(name string, spec *figSpec, reason string, missing func(bench.Cell) bool) {
		if spec == nil {
			out.Skipped = append(out.Skipped, Skipped{name, reason})
			return
		}
		n := 0
		for _, r := range failed {
			if missing(r.Cell) {
				n++
			}
		}
		spec.caption += failedNote(n)
		noteCoincident(spec)
		out.Drawn = append(out.Drawn, Figure{Name: name, Title: spec.title, Caption: spec.caption,
			SVG: spec.svg(), spec: spec})
	}
	every := func(bench.Cell) bool { return true }
	undrawn := func(c bench.Cell) bool { return !drawn[unbatched(c)] } // a quality figure draws a setting once
	add(FigThroughput, throughputFigure(good, st), "no successful cell with a finite tokens/s or latency", every)
	add(FigMemory, memoryFigure(good, st), "no successful cell with a memory measurement", every)
	add(FigStepTime, stepTimeFigure(good, st), "no LLaDA cell with a fixed step count and a step time", fixedSteps)
	noQuality := "no quality metrics (" + filepath.ToSlash(QualityFile) + " is absent or empty)"
	for _, m := range []struct{ fig, metric, what string }{
		{FigQualityPPL, QJudgePPL, "judge perplexity"},
		{FigQualityBLEU, QBLEU, "BLEU"},
		{FigQualityROUGE, QROUGEL, "ROUGE-L"},
	} {
		if qx.empty() {
			add(m.fig, nil, noQuality, nil)
			continue
		}
		add(m.fig, qualityFigure(good, qx, m.metric, st), "no LLaDA cell with "+m.what, undrawn)
	}
	// Task accuracy only where a task was scored: most grids have none.
	if qm.has(QTaskFlexible) {
		add(FigQualityTask, qualityFigure(good, qx, QTaskFlexible, st), "no LLaDA cell with task accuracy", undrawn)
	}
	if qx.empty() {
		add(FigParetoSpeed, nil, noQuality, nil)
		add(FigParetoEnergy, nil, noQuality, nil)
	} else {
		add(FigParetoSpeed, paretoFigure(good, qx, false, st), "no cell with both judge perplexity and tokens/s", every)
		add(FigParetoEnergy, paretoFigure(good, qx, true, st), "no cell with both judge perplexity and a measured energy per token", every)
	}
	return out
}

// unbatched is a cell without its batch size: batching does not change
// what a setting generates, so a quality figure draws each setting once.
func unbatched(c bench.Cell) bench.Cell {
	c.Batch = 0
	return c
}

// failedNote is the caption's sentence on n failed cells a figure leaves
// out, "" for none.
func failedNote(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return " 1 failed cell is not drawn; the results table gives its error."
	}
	return fmt.Sprintf(" %d failed cells are not drawn; the results table gives their errors.", n)
}

// WriteFigures draws the figures of recs, with the quality metrics of dir
// where it has them, and writes each as DIR/figures/NAME.png and .svg,
// removing the files of figures that are now skipped.
func WriteFigures(dir string, recs []bench.Record) (Figures, error) {
	qm, err := ReadQuality(dir)
	if err != nil {
		return Figures{}, err
	}
	figs := MakeFigures(recs, qm)
	return figs, writeFigures(dir, figs)
}

// writeFigures writes the drawn figures and removes the skipped ones.
func writeFigures(dir string, figs Figures) error {
	fd := filepath.Join(dir, "figures")
	for _, f := range figs.Drawn {
		png, err := f.PNG()
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(fd, f.Name+".svg"), f.SVG); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(fd, f.Name+".png"), png); err != nil {
			return err
		}
	}
	for _, s := range figs.Skipped {
		for _, ext := range []string{".svg", ".png"} {
			if err := os.Remove(filepath.Join(fd, s.Name+ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("report: %w", err)
			}
		}
	}
	return nil
}

// --- data ---

// stat is a metric's mean and standard deviation where the mean is finite.
func stat(r bench.Record, metric string) (mean, std float64, has bool) {
	s, has := r.Stats[metric]
	if !has || !finite(s.Mean) {
		return 0, 0, false
	}
	if !finite(s.Std) {
		s.Std = 0
	}
	return s.Mean, s.Std, true
}

// cost is a rate of a cell: the record's measurement, else the quality
// step's.
func cost(r bench.Record, q *Quality, metric string) (float64, bool) {
	if m, _, has := stat(r, metric); has {
		return m, true
	}
	if q != nil {
		if v, has := q.Cost[metric]; has && finite(v) {
			return v, true
		}
	}
	return 0, false
}

// hardware names where a record ran: the GPU, else the CPU model, with the
// backend.
func hardware(r bench.Record) string {
	name := r.Env.CPU
	if r.Env.GPU != nil && r.Env.GPU.Name != "" {
		name = r.Env.GPU.Name
	} else if name == "" {
		name = r.Env.Device
	}
	if b := backend(r); b != "" {
		name = strings.TrimSpace(name + " (" + b + ")")
	}
	return cmpOr(name, "unknown hardware")
}

// varying says which settings differ among the records of a figure; a
// series label names only those. asked names prompt lengths as the cells
// asked for them, without the measured mean beside them.
type varying struct{ batch, seq, hw, asked bool }

func varies(rs []bench.Record) varying {
	var v varying
	for _, r := range rs[min(1, len(rs)):] {
		v.batch = v.batch || r.Cell.Batch != rs[0].Cell.Batch
		v.seq = v.seq || r.Cell.PromptLen != rs[0].Cell.PromptLen || r.Cell.GenLen != rs[0].Cell.GenLen
		v.hw = v.hw || hardware(r) != hardware(rs[0])
	}
	return v
}

// label joins the parts of a series label with the settings that vary,
// except those on the x axis. A prompt length is named as the table names
// it (promptLength), "p600 (33) g128" for a cell whose prompts averaged 33
// tokens, so that a line is not read as the cost of prompts it never ran;
// unless v.asked.
func (v varying) label(r bench.Record, noBatch, noSeq bool, parts ...string) string {
	if v.batch && !noBatch {
		parts = append(parts, "b"+strconv.Itoa(r.Cell.Batch))
	}
	if v.seq && !noSeq {
		p := promptLength(r)
		if v.asked {
			p = strconv.Itoa(r.Cell.PromptLen)
		}
		parts = append(parts, fmt.Sprintf("p%s g%d", p, r.Cell.GenLen))
	}
	if v.hw {
		parts = append(parts, hardware(r))
	}
	return strings.Join(parts, " · ")
}

// variant is the part of a label that label adds to its parts: the
// settings that vary.
func (v varying) variant(r bench.Record, noBatch, noSeq bool) string {
	return v.label(r, noBatch, noSeq)
}

// decoderRest is a diffusion decoder without its step rule: "blk 32 / dual".
func decoderRest(c bench.Cell) string {
	_, rest, _ := strings.Cut(Decoder(c), " / ")
	return rest
}

// fixedSteps reports whether a LLaDA cell runs a fixed number of steps.
func fixedSteps(c bench.Cell) bool {
	return c.Diffusion() && c.Steps > 0 && c.Threshold == 0 && c.Factor == 0
}

// stepRule names how a LLaDA cell chooses its steps.
func stepRule(c bench.Cell) string {
	switch {
	case c.Threshold > 0:
		return "threshold"
	case c.Factor > 0:
		return "factor"
	}
	return "fixed steps"
}

// pt is a point with absolute bounds (NaN where there are none).
type pt struct {
	x, y, lo, hi float64
}

// series is a line of a panel.
type series struct {
	label string
	pts   []pt
	style style
	ref   bool // a horizontal reference line at pts[0]
	line  bool // connect the points (else glyphs only)
	front bool // a Pareto frontier drawn over its model's points

	cells   []bench.Cell // the cells of the points, which its style encodes
	variant string       // the settings its label names besides model and decoder
	note    string       // after the label in the legend, which does not shorten it
}

// grouper collects points into series in the order labels first appear.
type grouper struct {
	order []string
	by    map[string]*series
}

func (g *grouper) add(label, variant string, c bench.Cell, p pt) *series {
	if g.by == nil {
		g.by = map[string]*series{}
	}
	s, has := g.by[label]
	if !has {
		s = &series{label: label, line: true, variant: variant}
		g.by[label] = s
		g.order = append(g.order, label)
	}
	s.pts = append(s.pts, p)
	s.cells = append(s.cells, c)
	return s
}

// list returns the series with points sorted by x; a line drops a repeated
// x: the first point, in report order, stands for it.
func (g *grouper) list() []*series {
	var out []*series
	for _, l := range g.order {
		s := g.by[l]
		slices.SortStableFunc(s.pts, func(a, b pt) int { return cmp.Compare(a.x, b.x) })
		if s.line {
			s.pts = slices.CompactFunc(s.pts, func(a, b pt) bool { return a.x == b.x })
		}
		out = append(out, s)
	}
	return out
}

func stdBounds(y, std float64) (lo, hi float64) {
	if std <= 0 {
		return math.NaN(), math.NaN()
	}
	return y - std, y + std
}

// --- the figures ---

const sep = " · "

func throughputFigure(rs []bench.Record, st *styler) *figSpec {
	v := varies(rs)
	var tput, lat grouper
	var used []bench.Record
	for _, r := range rs {
		l, va := v.label(r, true, false, r.Cell.Model, Decoder(r.Cell)), v.variant(r, true, false)
		x := float64(r.Cell.Batch)
		got := false
		if m, s, has := stat(r, bench.MTokensPerS); has && m > 0 {
			lo, hi := stdBounds(m, s)
			tput.add(l, va, r.Cell, pt{x: x, y: m, lo: lo, hi: hi})
			got = true
		}
		if m, s, has := stat(r, bench.MLatency); has && m > 0 {
			lo, hi := stdBounds(m, s)
			lat.add(l, va, r.Cell, pt{x: x, y: m, lo: lo, hi: hi})
			got = true
		}
		if got {
			used = append(used, r)
		}
	}
	if len(used) == 0 {
		return nil
	}
	// One legend for both panels: series keep their label's style.
	t, l := tput.list(), lat.list()
	styles := st.assign(t, l)
	return &figSpec{
		title:   "Throughput and latency versus batch size",
		caption: caption(used, "Error bars: ± one standard deviation over repetitions."+cacheNote(used)),
		panels: []*panel{
			{title: "Throughput", x: "batch size (sequences)", y: "generated tokens/s", series: t, discreteX: true, zeroY: true},
			{title: "Latency", x: "batch size (sequences)", y: "latency per batch (s)", series: l, discreteX: true, zeroY: true},
		},
		legend: styles,
	}
}

func memoryFigure(rs []bench.Record, st *styler) *figSpec {
	v := varies(rs)
	var g grouper
	var used []bench.Record
	for _, r := range rs {
		peak := peakMemory(r.Memory)
		if peak <= 0 {
			continue
		}
		kind := "autoregressive, KV cache"
		if r.Cell.Diffusion() {
			kind = "diffusion, cache " + cmpOr(r.Cell.Cache, "none")
		}
		if p := precision(r.Cell); p != "" {
			kind += ", " + p
		}
		l := v.label(r, false, true, r.Cell.Model, kind)
		y := float64(peak) / (1 << 30)
		x := float64(r.Cell.PromptLen + r.Cell.GenLen)
		s := g.add(l, v.variant(r, false, true), r.Cell, pt{x: x, y: y, lo: math.NaN(), hi: math.NaN()})
		// The largest peak over the settings that share a point.
		for i := range s.pts[:len(s.pts)-1] {
			if s.pts[i].x == x {
				s.pts[i].y = max(s.pts[i].y, y)
				s.pts = s.pts[:len(s.pts)-1]
				break
			}
		}
		used = append(used, r)
	}
	if len(used) == 0 {
		return nil
	}
	ss := g.list()
	// The demo models peak at tens of MiB: 0.05 GiB reads worse than 50 MiB.
	unit, top := "GiB", 0.0
	for _, s := range ss {
		for _, p := range s.pts {
			top = max(top, p.y)
		}
	}
	if top < 1 {
		unit = "MiB"
		for _, s := range ss {
			for i := range s.pts {
				s.pts[i].y *= 1024
			}
		}
	}
	note := "Peak: the backend allocator's (GPU), else the process's; the largest over decoder settings."
	if n := distinctLengths(used); n == 1 {
		note += fmt.Sprintf(" The records have one sequence length (%d tokens), so each line is a single point.",
			used[0].Cell.PromptLen+used[0].Cell.GenLen)
	}
	// The x axis gives the lengths the cells asked for; where prompts came
	// shorter (a prompt file's, kept whole), a point is not the memory of
	// its length, and the legend, which does not name lengths, cannot say.
	short := 0
	for _, r := range used {
		if _, off := promptOff(r); off {
			short++
		}
	}
	switch short {
	case 0:
	case 1:
		note += " 1 cell ran prompts of another length than it asked for (the table's prompt column gives their mean); it stands at the length asked."
	default:
		note += fmt.Sprintf(" %d cells ran prompts of another length than they asked for (the table's prompt column gives their mean); they stand at the lengths asked.", short)
	}
	return &figSpec{
		title:   "Peak memory versus sequence length",
		caption: caption(used, note),
		panels:  []*panel{{title: "", x: "prompt + generated tokens", y: "peak memory (" + unit + ")", series: ss, discreteX: true, zeroY: true}},
		legend:  st.assign(ss),
	}
}

// distinctLengths counts the prompt + generated lengths of the records.
func distinctLengths(rs []bench.Record) int {
	seen := map[int]bool{}
	for _, r := range rs {
		seen[r.Cell.PromptLen+r.Cell.GenLen] = true
	}
	return len(seen)
}

func stepTimeFigure(rs []bench.Record, st *styler) *figSpec {
	var sel []bench.Record
	for _, r := range rs {
		if _, _, has := stat(r, bench.MStepTime); has && fixedSteps(r.Cell) {
			sel = append(sel, r)
		}
	}
	if len(sel) == 0 {
		return nil
	}
	v := varies(sel)
	var g grouper
	for _, r := range sel {
		m, s, _ := stat(r, bench.MStepTime)
		lo, hi := stdBounds(m*1e3, s*1e3)
		g.add(v.label(r, false, false, r.Cell.Model, decoderRest(r.Cell)), v.variant(r, false, false), r.Cell, pt{x: float64(r.Cell.Steps), y: m * 1e3, lo: lo, hi: hi})
	}
	ss := g.list()
	return &figSpec{
		title:   "LLaDA time per step versus steps",
		caption: caption(sel, "Mean time per forward call; error bars: ± one standard deviation over repetitions."+cacheNote(sel)),
		panels:  []*panel{{x: "diffusion steps", y: "time per step (ms)", series: ss, discreteX: true, zeroY: true}},
		legend:  st.assign(ss),
	}
}

// qualityLabels are the y-axis titles of quality metrics.
var qualityLabels = map[string]string{
	QJudgePPL:     "judge perplexity (lower is better)",
	QBLEU:         "BLEU (higher is better)",
	QROUGEL:       "ROUGE-L (higher is better)",
	QTaskFlexible: "accuracy, flexible-extract (higher is better)",
}

var qualityTitles = map[string]string{
	QJudgePPL:     "Judge perplexity",
	QBLEU:         "BLEU",
	QROUGEL:       "ROUGE-L",
	QTaskFlexible: "Task accuracy",
}

func qualityFigure(rs []bench.Record, qx qualityIndex, metric string, st *styler) *figSpec {
	type cellQ struct {
		r  bench.Record
		iv Interval
	}
	var diff, ar []cellQ
	var used []bench.Record
	seen := map[bench.Cell]bool{} // settings without the batch size
	for _, r := range rs {
		iv, has := qx.of(r).metric(metric)
		if !has || seen[unbatched(r.Cell)] {
			continue
		}
		seen[unbatched(r.Cell)] = true
		if r.Cell.Diffusion() {
			diff = append(diff, cellQ{r, iv})
		} else {
			ar = append(ar, cellQ{r, iv})
		}
		used = append(used, r)
	}
	if len(diff) == 0 {
		return nil
	}
	v := varies(used)
	var bySteps, byNFE, refs grouper
	point := func(c cellQ, x float64) pt {
		lo, hi := math.NaN(), math.NaN()
		if c.iv.hasBounds() {
			lo, hi = c.iv.Lo, c.iv.Hi
		}
		return pt{x: x, y: c.iv.Value, lo: lo, hi: hi}
	}
	// A setting has one label, and so one colour and marker, in both panels.
	for _, c := range diff {
		l, va := v.label(c.r, true, false, c.r.Cell.Model, stepRule(c.r.Cell), decoderRest(c.r.Cell)), v.variant(c.r, true, false)
		if fixedSteps(c.r.Cell) {
			bySteps.add(l, va, c.r.Cell, point(c, float64(c.r.Cell.Steps)))
		}
		if nfe, has := cost(c.r, qx.of(c.r), bench.MNFE); has && nfe > 0 {
			byNFE.add(l, va, c.r.Cell, point(c, nfe))
		}
	}
	for _, c := range ar {
		refs.add(v.label(c.r, true, false, c.r.Cell.Model, Decoder(c.r.Cell))+" (reference)", v.variant(c.r, true, false),
			c.r.Cell, point(c, 0)).ref = true
	}
	stepSeries, nfeSeries, refSeries := bySteps.list(), byNFE.list(), refs.list()
	legend := st.assign(stepSeries, nfeSeries, refSeries)
	var panels []*panel
	if len(stepSeries) > 0 {
		panels = append(panels, &panel{title: "versus steps", x: "diffusion steps", y: qualityLabels[metric],
			series: append(slices.Clone(stepSeries), refSeries...), discreteX: true})
	}
	if len(nfeSeries) > 0 {
		panels = append(panels, &panel{title: "versus NFE", x: "NFE (forward calls per batch)", y: qualityLabels[metric],
			series: append(slices.Clone(nfeSeries), refSeries...)})
	}
	if len(panels) == 0 {
		return nil
	}
	return &figSpec{
		title:   qualityTitles[metric] + " of LLaDA versus compute",
		caption: caption(used, "Error bars and shaded bands: the quality step's confidence intervals; horizontal lines with shaded bands: autoregressive references."+cacheNote(used)),
		panels:  panels,
		legend:  legend,
	}
}

// paretoFigure plots judge perplexity against tokens/s or, with energy,
// against joules per token.
func paretoFigure(rs []bench.Record, qx qualityIndex, energy bool, st *styler) *figSpec {
	metric, xTitle := bench.MTokensPerS, "generated tokens/s (higher is better)"
	if energy {
		metric, xTitle = bench.MEnergyPerTok, "energy per generated token (J, lower is better)"
	}
	var used []bench.Record
	for _, r := range rs {
		q := qx.of(r)
		_, has := q.metric(QJudgePPL)
		if x, hasX := cost(r, q, metric); has && hasX && x > 0 {
			used = append(used, r)
		}
	}
	if len(used) == 0 {
		return nil
	}
	// A model's settings compete within one prompt and generation length
	// and one machine: perplexities of other lengths are other tasks.
	v := varies(used)
	var g grouper
	var groups []string
	for _, r := range used {
		q := qx.of(r)
		iv, _ := q.metric(QJudgePPL)
		x, _ := cost(r, q, metric)
		lo, hi := math.NaN(), math.NaN()
		if iv.hasBounds() {
			lo, hi = iv.Lo, iv.Hi
		}
		group := v.label(r, true, false, r.Cell.Model)
		if !slices.Contains(groups, group) {
			groups = append(groups, group)
		}
		g.add(group, v.variant(r, true, false), r.Cell, pt{x: x, y: iv.Value, lo: lo, hi: hi}).line = false
	}
	var ss []*series
	for _, group := range groups {
		s := g.by[group]
		f := &series{label: group + sep + "Pareto frontier", pts: frontier(s.pts, !energy), line: true, front: true,
			cells: s.cells, variant: s.variant}
		s.label = group + sep + "all settings"
		ss = append(ss, s, f)
	}
	st.assign(ss)
	title := "Quality versus throughput (Pareto frontier)"
	if energy {
		title = "Quality versus energy (Pareto frontier)"
	}
	return &figSpec{
		title:   title,
		caption: caption(used, "Every setting of every model; circled and joined by a line: each model's Pareto-optimal settings. Error bars: judge perplexity intervals."),
		panels:  []*panel{{x: xTitle, y: qualityLabels[QJudgePPL], series: ss}},
		legend:  ss,
	}
}

// frontier returns the Pareto-optimal points: lower y is better, and higher
// x (higherX) or lower x. A point is kept when no other point is at least as
// good in both and better in one. The result is sorted by x.
func frontier(pts []pt, higherX bool) []pt {
	s := slices.Clone(pts)
	better := func(a, b float64) bool { return a < b }
	if higherX {
		better = func(a, b float64) bool { return a > b }
	}
	// Best x first; among equal x, lowest y first.
	slices.SortStableFunc(s, func(a, b pt) int {
		switch {
		case better(a.x, b.x):
			return -1
		case better(b.x, a.x):
			return 1
		}
		return cmp.Compare(a.y, b.y)
	})
	var out []pt
	bestY := math.Inf(1)
	for _, p := range s {
		if p.y < bestY {
			out = append(out, p)
			bestY = p.y
		}
	}
	slices.SortStableFunc(out, func(a, b pt) int { return cmp.Compare(a.x, b.x) })
	return out
}

// cacheNote says how a figure draws Fast-dLLM's cache modes (see style)
// where its diffusion cells use more than one, else "".
func cacheNote(rs []bench.Record) string {
	var modes []string
	for _, r := range rs {
		if m := cmpOr(r.Cell.Cache, "none"); r.Cell.Diffusion() && !slices.Contains(modes, m) {
			modes = append(modes, m)
		}
	}
	if len(modes) < 2 {
		return ""
	}
	slices.SortFunc(modes, func(a, b string) int { return cmp.Compare(cacheRank[a], cacheRank[b]) })
	how := map[string]string{"none": "solid and filled: no cache", "dual": "dashed and hollow: the dual cache",
		"prefix": "dotted and hollow: the prefix cache"}
	var parts []string
	for _, m := range modes {
		if h, ok := how[m]; ok {
			parts = append(parts, h)
		}
	}
	return " Lines and markers " + strings.Join(parts, "; ") + "."
}

// caption names the grid, the hardware and the cell count of the records a
// figure shows, then a note.
func caption(rs []bench.Record, note string) string {
	var grids, hw []string
	for _, r := range rs {
		if g := cmpOr(r.Grid, "unnamed"); !slices.Contains(grids, g) {
			grids = append(grids, g)
		}
		if h := hardware(r); !slices.Contains(hw, h) {
			hw = append(hw, h)
		}
	}
	slices.Sort(grids)
	slices.Sort(hw)
	noun := "grid"
	if len(grids) > 1 {
		noun = "grids"
	}
	cells := "cells"
	if len(rs) == 1 {
		cells = "cell"
	}
	return fmt.Sprintf("%s %s on %s; %d %s. %s", noun, strings.Join(grids, ", "), strings.Join(hw, ", "), len(rs), cells, note)
}

// --- drawing ---

func withAlpha(c color.Color) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0x30}
}

var sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

func textStyle(size vg.Length) text.Style {
	return text.Style{Color: color.Black, Font: font.From(sansFont, size), Handler: plot.DefaultTextHandler}
}

// Sizes, in points (1/72 inch).
const (
	panelW      = 330 // each of several panels
	singleW     = 460 // a figure of one panel
	panelH      = 250
	margin      = 8
	titleSize   = 13
	captionSize = 8.5
	legendSize  = 9
	thumbW      = 22
	maxLabel    = 72 // runes of a legend entry
)

// panel is one plot of a figure.
type panel struct {
	title, x, y string
	series      []*series
	discreteX   bool // ticks at the values present (batch sizes, steps)
	zeroY       bool // a linear y axis starts at zero (amounts, not scores)
}

// figSpec is a figure before rendering: panels side by side, a legend in
// columns below them, and the caption under it.
type figSpec struct {
	title, caption string
	panels         []*panel
	legend         []*series // one per label, in order
}

type layout struct {
	w, h                     vg.Length
	titleH, legendH, capH    vg.Length
	cols, rows               int
	entryH                   vg.Length
	captionLines, legendText []string
}

func (f *figSpec) layout() layout {
	var l layout
	l.w = max(vg.Length(len(f.panels))*panelW, singleW) + 2*margin
	ts := textStyle(titleSize)
	l.titleH = ts.Height(f.title) + 6
	ls := textStyle(legendSize)
	var widest vg.Length
	for _, s := range f.legend {
		t := s.label
		if r := []rune(t); len(r) > maxLabel {
			t = string(r[:maxLabel-1]) + "…"
		}
		switch base, ref := strings.CutSuffix(t, " (reference)"); {
		case s.note != "" && ref: // one bracket: "… (reference, coincides with …)"
			t = base + " (reference, " + strings.TrimPrefix(s.note, "(")
		case s.note != "":
			t += " " + s.note
		}
		l.legendText = append(l.legendText, t)
		widest = max(widest, ls.Width(t))
	}
	colW := thumbW + ls.Width(" ") + widest + 14
	avail := l.w - 2*margin
	l.cols = max(1, min(len(f.legend), int(avail/colW)))
	l.rows = (len(f.legend) + l.cols - 1) / l.cols
	l.entryH = ls.Height("Mg") + 3
	l.legendH = vg.Length(l.rows)*l.entryH + 6
	cs := textStyle(captionSize)
	l.captionLines = wrap(cs, f.caption, avail)
	l.capH = vg.Length(len(l.captionLines))*cs.Height("Mg") + 4
	l.h = margin + l.titleH + panelH + l.legendH + l.capH + margin
	return l
}

func (f *figSpec) size() (w, h vg.Length) {
	l := f.layout()
	return l.w, l.h
}

// wrap breaks s into lines no wider than w.
func wrap(sty text.Style, s string, w vg.Length) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		try := strings.TrimSpace(line + " " + word)
		if line != "" && sty.Width(try) > w {
			lines = append(lines, line)
			try = word
		}
		line = try
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// svg renders the figure as SVG. vgsvg names the font family alone;
// fallbacks keep the text sans-serif where Liberation Sans is not installed.
func (f *figSpec) svg() []byte {
	c := vgsvg.New(f.size())
	f.draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		panic("report: rendering SVG into memory: " + err.Error()) // bytes.Buffer does not fail
	}
	return bytes.ReplaceAll(buf.Bytes(), []byte("font-family:Liberation Sans;"),
		[]byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"))
}

func (f *figSpec) draw(dc draw.Canvas) {
	l := f.layout()
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	inner := draw.Crop(dc, margin, -margin, margin, -margin)

	// Title, centred at the top.
	ts := textStyle(titleSize)
	ts.XAlign, ts.YAlign = draw.XCenter, draw.YTop
	inner.FillText(ts, vg.Point{X: inner.Center().X, Y: inner.Max.Y}, f.title)

	// Caption lines at the bottom.
	cs := textStyle(captionSize)
	cs.Color = color.Gray{0x44}
	cs.YAlign = draw.YTop
	y := inner.Min.Y + l.capH
	for _, line := range l.captionLines {
		inner.FillText(cs, vg.Point{X: inner.Min.X, Y: y}, line)
		y -= cs.Height("Mg")
	}

	// Legend in columns, filled column by column.
	legendTop := inner.Min.Y + l.capH + l.legendH
	colW := (inner.Max.X - inner.Min.X) / vg.Length(l.cols)
	for col := range l.cols {
		leg := plot.NewLegend()
		leg.TextStyle = textStyle(legendSize)
		leg.Top, leg.Left = true, true
		leg.ThumbnailWidth = thumbW
		leg.Padding = 3
		for i := col * l.rows; i < min((col+1)*l.rows, len(f.legend)); i++ {
			leg.Add(l.legendText[i], thumbnails(f.legend[i])...)
		}
		x0 := inner.Min.X + vg.Length(col)*colW
		lc := draw.Canvas{Canvas: inner.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: x0, Y: inner.Min.Y + l.capH},
			Max: vg.Point{X: x0 + colW, Y: legendTop - 4},
		}}
		leg.Draw(lc)
	}

	// Panels side by side between the title and the legend.
	area := draw.Canvas{Canvas: inner.Canvas, Rectangle: vg.Rectangle{
		Min: vg.Point{X: inner.Min.X, Y: legendTop},
		Max: vg.Point{X: inner.Max.X, Y: inner.Max.Y - l.titleH},
	}}
	pw := (area.Max.X - area.Min.X) / vg.Length(len(f.panels))
	for i, p := range f.panels {
		pc := area
		pc.Min.X = area.Min.X + vg.Length(i)*pw
		pc.Max.X = pc.Min.X + pw
		p.draw(pc)
	}
}

// axisLabelStyle is the style of the axis titles, which draw writes itself.
func axisLabelStyle() text.Style { return textStyle(10) }

// labelPad is the space between an axis title and its tick labels.
const labelPad = 3

// draw draws the panel into c with its axis titles. gonum places an axis
// title's glyph box at the data value halfway between the axis ends, which
// on a log axis is near the top (or right) end: the box of a long title
// then sticks out of the canvas, and gonum shrinks the data area to fit it,
// leaving an empty band above the plot. So the plot is drawn without axis
// titles, and each title is centred on the data area beside it.
func (p *panel) draw(c draw.Canvas) {
	pl, pc := p.plotIn(c)
	pl.Draw(pc)
	da := pl.DataCanvas(pc)
	ls := axisLabelStyle()
	descent := ls.FontExtents().Descent
	xt, yt := p.titles()

	ys := ls
	ys.Rotation = math.Pi / 2
	ys.XAlign, ys.YAlign = draw.XCenter, draw.YBottom
	c.FillText(ys, vg.Point{X: c.Min.X + ls.Height(yt) - descent, Y: da.Center().Y}, yt)

	xs := ls
	xs.XAlign, xs.YAlign = draw.XCenter, draw.YBottom
	c.FillText(xs, vg.Point{X: da.Center().X, Y: c.Min.Y + labelPad/2}, xt)
}

// thumbnails draws a series' legend entry: its line and glyph, a dashed
// line for a reference.
func thumbnails(s *series) []plot.Thumbnailer {
	if s.ref {
		return []plot.Thumbnailer{refLine{s: s}}
	}
	var th []plot.Thumbnailer
	if s.line {
		th = append(th, &plotter.Line{LineStyle: lineStyle(s)})
	}
	th = append(th, &plotter.Scatter{GlyphStyle: glyphStyle(s)})
	return th
}

func lineStyle(s *series) draw.LineStyle {
	ls := draw.LineStyle{Color: s.style.colour(), Width: vg.Points(1.4), Dashes: s.style.dashes()}
	if s.front {
		ls.Width = vg.Points(2)
	}
	return ls
}

// glyphStyle is a series' marker; a Pareto frontier circles its points, so
// that a frontier of one point is told from the model's other settings.
func glyphStyle(s *series) draw.GlyphStyle {
	if s.front {
		return draw.GlyphStyle{Color: s.style.colour(), Radius: vg.Points(5.5), Shape: haloGlyph{}}
	}
	return draw.GlyphStyle{Color: s.style.colour(), Radius: vg.Points(2.6), Shape: s.style.glyph()}
}

// plotIn returns the panel's plot and the part of c it is drawn in: c less
// the axis titles' room on the left and at the bottom.
func (p *panel) plotIn(c draw.Canvas) (*plot.Plot, draw.Canvas) {
	ls := axisLabelStyle()
	xt, yt := p.titles()
	yw := ls.Height(yt) + ls.FontExtents().Descent + labelPad
	xh := ls.Height(xt) + labelPad/2
	return p.plot(), draw.Crop(c, yw, 0, xh, 0)
}

// values returns the x values and the y values (bounds included) that the
// panel's axes span.
func (p *panel) values() (xs, ys []float64) {
	for _, s := range p.series {
		for _, q := range s.pts {
			if !s.ref {
				xs = append(xs, q.x)
			}
			ys = append(ys, q.y)
			if finite(q.lo) && finite(q.hi) {
				ys = append(ys, q.lo, q.hi)
			}
		}
	}
	return xs, ys
}

// titles returns the axis titles, each saying "log scale" where its axis
// has one.
func (p *panel) titles() (x, y string) {
	xs, ys := p.values()
	return logTitle(p.x, useLog(xs)), logTitle(p.y, useLog(ys))
}

// logTitle adds "log scale" to an axis title: inside its last parentheses,
// "tokens/s (higher is better, log scale)", else in its own.
func logTitle(title string, log bool) string {
	switch {
	case !log:
		return title
	case strings.HasSuffix(title, ")"):
		return strings.TrimSuffix(title, ")") + ", log scale)"
	}
	return title + " (log scale)"
}

// plot builds the gonum plot of a panel, without axis titles (see draw).
func (p *panel) plot() *plot.Plot {
	pl := plot.New()
	pl.Title.Text = p.title
	pl.Title.TextStyle = textStyle(11)
	pl.Title.TextStyle.XAlign, pl.Title.TextStyle.YAlign = draw.XCenter, draw.YTop
	pl.Title.Padding = 4
	for _, a := range []*plot.Axis{&pl.X, &pl.Y} {
		a.Tick.Label.Font = font.From(sansFont, 8.5)
		a.Tick.Length = vg.Points(5)
		a.Padding = 2
	}
	pl.X.Tick.Marker, pl.Y.Tick.Marker = linearTicks{}, linearTicks{}
	pl.Add(plotter.NewGrid())

	xs, ys := p.values()
	logX, logY := useLog(xs), useLog(ys)
	for _, s := range p.series {
		if s.ref {
			pl.Add(refLine{s: s})
			continue
		}
		xys := make(plotter.XYs, len(s.pts))
		var bars errPoints
		for i, q := range s.pts {
			xys[i] = plotter.XY{X: q.x, Y: q.y}
			if finite(q.lo) && finite(q.hi) && q.hi > q.lo {
				lo := q.lo
				if logY && lo <= 0 {
					lo = q.y // no lower bar below zero on a log axis
				}
				bars.XYs = append(bars.XYs, xys[i])
				bars.YErrors = append(bars.YErrors, struct{ Low, High float64 }{q.y - lo, q.hi - q.y})
			}
		}
		if len(bars.XYs) > 0 && !s.front {
			eb, err := plotter.NewYErrorBars(bars)
			if err == nil {
				eb.LineStyle = draw.LineStyle{Color: s.style.colour(), Width: vg.Points(0.8)}
				eb.CapWidth = vg.Points(4)
				pl.Add(eb)
			}
		}
		if s.line && len(xys) > 1 {
			ln, err := plotter.NewLine(xys)
			if err == nil {
				ln.LineStyle = lineStyle(s)
				pl.Add(ln)
			}
		}
		if sc, err := plotter.NewScatter(xys); err == nil {
			sc.GlyphStyle = glyphStyle(s)
			pl.Add(sc)
		}
	}
	if logX {
		pl.X.Scale = plot.LogScale{}
		pl.X.Min, pl.X.Max = pad(slices.Min(xs), slices.Max(xs))
	}
	if logY {
		pl.Y.Scale = plot.LogScale{}
		pl.Y.Min, pl.Y.Max = pad(slices.Min(ys), slices.Max(ys))
		pl.Y.Tick.Marker = logTicks{}
	}
	switch {
	case p.discreteX:
		pl.X.Tick.Marker = valueTicks(xs)
		if !logX && len(xs) > 0 {
			span := math.Max(slices.Max(xs)-slices.Min(xs), 1)
			pl.X.Min, pl.X.Max = slices.Min(xs)-span*0.05, slices.Max(xs)+span*0.05
		}
	case logX:
		pl.X.Tick.Marker = logTicks{}
	case len(xs) > 0:
		// A margin, so that the points at the ends (NFE 32, the fewest
		// forward calls) do not sit on the y axis.
		lo, hi := slices.Min(xs), slices.Max(xs)
		m := math.Max(hi-lo, math.Abs(hi)) * 0.03
		pl.X.Min, pl.X.Max = lo-m, hi+m
	}
	if p.zeroY && !logY {
		pl.Y.Min = 0
	}
	return pl
}

// useLog chooses a log axis for positive data spanning 20× or more.
func useLog(v []float64) bool {
	if len(v) == 0 || slices.Min(v) <= 0 {
		return false
	}
	return slices.Max(v)/slices.Min(v) >= 20
}

// pad widens a log axis by a ninth of an octave-ish margin on each side.
func pad(lo, hi float64) (float64, float64) { return lo / 1.15, hi * 1.15 }

// valueTicks labels each distinct value (batch sizes, step counts).
func valueTicks(xs []float64) plot.ConstantTicks {
	v := slices.Clone(xs)
	slices.Sort(v)
	v = slices.Compact(v)
	ticks := make(plot.ConstantTicks, len(v))
	for i, x := range v {
		ticks[i] = plot.Tick{Value: x, Label: tickLabel(x)}
	}
	return ticks
}

// logTicks labels 1, 2 and 5 times the powers of ten in range, with minor
// ticks at the other multiples: gonum's LogTicks labels only powers of ten,
// which may leave a short axis with one label. An axis over more than
// logDense decades labels the powers of ten alone: three labels a decade
// would overlap there.
type logTicks struct{}

// logDense is the most decades an axis labels at 1, 2 and 5.
const logDense = 2.5

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	dense := math.Log10(hi/lo) <= logDense
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		base := math.Pow(10, e)
		for m := 1; m < 10; m++ {
			x := float64(m) * base
			if x < lo || x > hi {
				continue
			}
			t := plot.Tick{Value: x}
			if m == 1 || dense && (m == 2 || m == 5) {
				t.Label = tickLabel(x)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// linearTicks labels multiples of 1, 2 or 5 times a power of ten, the step
// that gives the number of labels nearest five, with a minor tick halfway:
// gonum's DefaultTicks may step by 3 or 4 (0, 9, 18 ms).
type linearTicks struct{}

func (linearTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || !finite(lo) || !finite(hi) {
		return []plot.Tick{{Value: lo, Label: tickLabel(lo)}}
	}
	mag := math.Pow(10, math.Floor(math.Log10(hi-lo)))
	step := mag
	for _, m := range []float64{0.1, 0.2, 0.5, 1, 2, 5} {
		if s := m * mag; math.Abs((hi-lo)/s-5) < math.Abs((hi-lo)/step-5) {
			step = s
		}
	}
	var ticks []plot.Tick
	half := step / 2
	// A tick at an end of the range is kept where rounding puts it just
	// outside (0.2·0.1 is 0.020000000000000004, so the eleventh of 0.01
	// past 0.1), and drawn at that end.
	const eps = 1e-9 // of a half step
	for k := math.Ceil(lo/half - eps); k*half <= hi+half*eps; k++ {
		x := min(max(k*half, lo), hi)
		t := plot.Tick{Value: x}
		if math.Mod(k, 2) == 0 {
			t.Label = tickLabel(x)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// superscript writes exponents of ten.
var superscript = strings.NewReplacer("-", "⁻", "0", "⁰", "1", "¹", "2", "²", "3", "³", "4", "⁴", "5", "⁵",
	"6", "⁶", "7", "⁷", "8", "⁸", "9", "⁹")

// tickLabel writes a tick value in at most four significant digits, as a
// plain number (20000, 0.005) from 0.001 to below a million, else as a
// power of ten (10⁶, 2×10⁻⁴), never as Go's 1e+05; a minus sign, not a
// hyphen, below zero.
func tickLabel(x float64) string {
	if x == 0 {
		return "0"
	}
	x, _ = strconv.ParseFloat(strconv.FormatFloat(x, 'g', 4, 64), 64) // no 0.30000000000000004
	if a := math.Abs(x); a >= 1e-3 && a < 1e6 {
		return strings.Replace(strconv.FormatFloat(x, 'f', -1, 64), "-", "−", 1)
	}
	m, e, _ := strings.Cut(strconv.FormatFloat(x, 'e', -1, 64), "e")
	e = strings.TrimLeft(strings.TrimPrefix(e, "+"), "0")
	if strings.HasPrefix(e, "-") {
		e = "-" + strings.TrimLeft(e[1:], "0")
	}
	p := "10" + superscript.Replace(e)
	switch m {
	case "1":
		return p
	case "-1":
		return "−" + p
	}
	return m + "×" + p
}

// errPoints are points with their error bars, for plotter.NewYErrorBars.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// refLine is a horizontal reference across a panel: a dashed line at the
// value and a shaded band over its interval.
type refLine struct{ s *series }

func (l refLine) style() draw.LineStyle {
	return draw.LineStyle{Color: l.s.style.colour(), Width: vg.Points(1.4), Dashes: refDashes[l.s.style.dash%len(refDashes)]}
}

// refDashes are the patterns of a figure's references in turn: each later
// one sparser, so that where two coincide the one drawn first shows
// between the dashes of the other.
var refDashes = [][]vg.Length{
	{vg.Points(6), vg.Points(3)},
	{vg.Points(2), vg.Points(4)},
	{vg.Points(10), vg.Points(2), vg.Points(2), vg.Points(2)},
}

// Plot implements plot.Plotter.
func (l refLine) Plot(c draw.Canvas, p *plot.Plot) {
	_, trY := p.Transforms(&c)
	q := l.s.pts[0]
	if finite(q.lo) && finite(q.hi) && q.hi > q.lo {
		lo, hi := max(q.lo, p.Y.Min), min(q.hi, p.Y.Max)
		if hi > lo {
			c.FillPolygon(withAlpha(l.s.style.colour()), []vg.Point{
				{X: c.Min.X, Y: trY(lo)}, {X: c.Max.X, Y: trY(lo)}, {X: c.Max.X, Y: trY(hi)}, {X: c.Min.X, Y: trY(hi)},
			})
		}
	}
	y := trY(q.y)
	c.StrokeLines(l.style(), c.ClipLinesY([]vg.Point{{X: c.Min.X, Y: y}, {X: c.Max.X, Y: y}})...)
}

// DataRange implements plot.DataRanger: the value and its interval, and no
// constraint on x.
func (l refLine) DataRange() (xmin, xmax, ymin, ymax float64) {
	q := l.s.pts[0]
	ymin, ymax = q.y, q.y
	if finite(q.lo) && finite(q.hi) {
		ymin, ymax = min(ymin, q.lo), max(ymax, q.hi)
	}
	return math.Inf(1), math.Inf(-1), ymin, ymax
}

// Thumbnail implements plot.Thumbnailer.
func (l refLine) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(l.style(), c.Min.X, y, c.Max.X, y)
}
