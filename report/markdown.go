package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"dllmbench/bench"
)

// mdColumn is one column of the Markdown table: its title, whether it
// holds numbers (right-aligned), and its cell for a successful record.
type mdColumn struct {
	title  string
	number bool
	value  func(r bench.Record) string
}

var mdColumns = []mdColumn{
	{"model", false, func(r bench.Record) string { return r.Cell.Model }},
	{"family", false, func(r bench.Record) string { return r.Cell.Family }},
	{"backend", false, func(r bench.Record) string { return backend(r) }},
	{"batch", true, func(r bench.Record) string { return strconv.Itoa(r.Cell.Batch) }},
	{"prompt", true, promptLength},
	{"gen", true, func(r bench.Record) string { return strconv.Itoa(r.Cell.GenLen) }},
	{"decoder", false, func(r bench.Record) string { return Decoder(r.Cell) }},
	{"tok/s", true, func(r bench.Record) string { return meanStd(r.Stats, bench.MTokensPerS) }},
	{"useful tok/s", true, func(r bench.Record) string { return mean(r.Stats, bench.MUsefulPerS, 1) }},
	{"latency s", true, func(r bench.Record) string { return mean(r.Stats, bench.MLatency, 1) }},
	{"TTFT ms", true, func(r bench.Record) string { return mean(r.Stats, bench.MTTFT, 1e3) }},
	{"TPOT ms", true, func(r bench.Record) string { return mean(r.Stats, bench.MTPOT, 1e3) }},
	{"NFE", true, func(r bench.Record) string { return count(r.Stats, bench.MNFE) }},
	{"tok/step", true, func(r bench.Record) string { return fixed(r.Stats, bench.MTokensPerStep, 2) }},
	{"peak mem", true, func(r bench.Record) string { return iec(peakMemory(r.Memory)) }},
	{"power W", true, func(r bench.Record) string { return mean(r.Stats, bench.MPower, 1) }},
	{"SM MHz", true, func(r bench.Record) string { return clock(r.Stats) }},
}

// failedColumn is where a failed cell's row shows its error; the columns
// after it stay empty.
const failedColumn = 7 // tok/s

// maxErrorLen bounds an error in the table, in runes; raw_metrics.csv and
// records_summary.json keep it whole.
const maxErrorLen = 60

// Markdown writes a llama-bench-style table of recs, one row per cell
// (bench.Latest), sorted by model, batch, prompt length, generation length
// and decoder. Columns are padded so that the table also reads well in a
// terminal, numbers are right-aligned and rounded to four significant
// digits (the prompt length as the cell asked, with its prompts' mean
// token count in brackets where that differs by more than 10%; tok/s as
// mean ± sample standard deviation over repetitions; NFE
// whole where it is, tokens per step with two decimals; power the mean
// draw by the energy counter; SM MHz the GPU's mean clock, with the share of
// its samples held down by the power limit), "-"
// marks a metric the cell's family does not have, and a failed cell is a
// row whose tok/s column holds its error.
func Markdown(w io.Writer, recs []bench.Record) error {
	recs = sortRecords(recs)
	rows := make([][]string, 0, len(recs)+1)
	head := make([]string, len(mdColumns))
	for i, c := range mdColumns {
		head[i] = c.title
	}
	rows = append(rows, head)
	for _, r := range recs {
		row := make([]string, len(mdColumns))
		for i, c := range mdColumns {
			switch {
			case ok(r) || i < failedColumn:
				row[i] = c.value(r)
			case i == failedColumn:
				row[i] = strings.ToUpper(cmpOr(r.Status, "failed"))
				if r.Error != "" {
					row[i] += ": " + firstLine(r.Error, maxErrorLen)
				}
			}
			row[i] = mdEscape(row[i])
		}
		rows = append(rows, row)
	}
	width := make([]int, len(mdColumns))
	for _, row := range rows {
		for i, s := range row {
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	var b strings.Builder
	for k, row := range rows {
		b.WriteByte('|')
		for i, s := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(s))
			if mdColumns[i].number && !(k > 0 && !ok(recs[k-1]) && i == failedColumn) {
				s = pad + s
			} else {
				s += pad
			}
			b.WriteString(" " + s + " |")
		}
		b.WriteByte('\n')
		if k == 0 {
			b.WriteByte('|')
			for i, c := range mdColumns {
				if c.number {
					b.WriteString(" " + strings.Repeat("-", width[i]-1) + ": |")
				} else {
					b.WriteString(" " + strings.Repeat("-", width[i]) + " |")
				}
			}
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// promptLength is the cell's prompt length, followed by the mean token
// count of its prompts in brackets where that differs from it by more than
// 10%: prompts that come with their own references are kept whole when
// shorter than asked, so a cell of prompt_length 600 may have run on
// prompts of 33 tokens, "600 (33)".
func promptLength(r bench.Record) string {
	s := strconv.Itoa(r.Cell.PromptLen)
	if m, off := promptOff(r); off {
		s += fmt.Sprintf(" (%.0f)", m)
	}
	return s
}

// promptOff returns the mean token count of a record's prompts and whether
// it is off the cell's prompt length (bench.PromptLengthOff), where the
// table shows it.
func promptOff(r bench.Record) (mean float64, off bool) {
	m, ok := promptMean(r)
	return m, ok && bench.PromptLengthOff(m, r.Cell.PromptLen)
}

// promptMean is the mean token count of a record's prompts; false without
// prompts.
func promptMean(r bench.Record) (float64, bool) {
	if len(r.Prompts) == 0 {
		return 0, false
	}
	n := 0
	for _, p := range r.Prompts {
		n += len(p.IDs)
	}
	return float64(n) / float64(len(r.Prompts)), true
}

// backend is the backend a cell ran on, or the one it asked for where the
// record does not say (a cell that failed before opening one).
func backend(r bench.Record) string {
	if r.Env.Backend != "" {
		return r.Env.Backend
	}
	return r.Cell.Backend
}

// Decoder describes how a cell decodes, as every output names it: "AR
// greedy" or "AR T=0.7 / top-k 40 / top-p 0.9" for autoregressive cells;
// for diffusion the step rule ("steps 64", "thr 0.9" or "fac 1"), the block
// length and the cache, then settings away from their defaults (remasking,
// CFG, temperature); for both, a weight precision other than bf16.
func Decoder(c bench.Cell) string {
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	var parts []string
	if !c.Diffusion() {
		if c.Temperature == 0 {
			parts = append(parts, "AR greedy")
		} else {
			parts = append(parts, "AR T="+g(c.Temperature))
		}
		if c.TopK != 0 {
			parts = append(parts, "top-k "+strconv.Itoa(c.TopK))
		}
		if c.TopP != 0 {
			parts = append(parts, "top-p "+g(c.TopP))
		}
		if p := precision(c); p != "" {
			parts = append(parts, p)
		}
		return strings.Join(parts, " / ")
	}
	switch {
	case c.Threshold > 0:
		parts = append(parts, "thr "+g(c.Threshold))
	case c.Factor > 0:
		parts = append(parts, "fac "+g(c.Factor))
	default:
		parts = append(parts, "steps "+strconv.Itoa(c.Steps))
	}
	parts = append(parts, "blk "+strconv.Itoa(c.BlockLen), cmpOr(c.Cache, "none"))
	if c.Remasking != "" && c.Remasking != "low_confidence" {
		parts = append(parts, c.Remasking)
	}
	if c.CFGScale != 0 {
		parts = append(parts, "cfg "+g(c.CFGScale))
	}
	if c.Temperature != 0 {
		parts = append(parts, "T="+g(c.Temperature))
	}
	if p := precision(c); p != "" {
		parts = append(parts, p)
	}
	return strings.Join(parts, " / ")
}

// precision is the cell's weight precision where it is not bf16 (the
// grids' default, which bench.txt's names leave out as well), else "".
func precision(c bench.Cell) string {
	if c.Precision == "bf16" {
		return ""
	}
	return c.Precision
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// mean is a metric's mean times scale, or "-" where the record lacks it.
func mean(stats map[string]bench.Stat, metric string, scale float64) string {
	s, has := stats[metric]
	if !has {
		return "-"
	}
	x := s.Mean * scale
	return round(x, decimals(x))
}

// count is the mean of a metric that counts per batch (NFE): whole where
// it is whole, else with one decimal; "-" where the record lacks it.
func count(stats map[string]bench.Stat, metric string) string {
	s, has := stats[metric]
	switch {
	case !has:
		return "-"
	case s.Mean == math.Trunc(s.Mean):
		return round(s.Mean, 0)
	}
	return round(s.Mean, 1)
}

// fixed is a metric's mean with d decimals, or "-" where the record lacks it.
func fixed(stats map[string]bench.Stat, metric string, d int) string {
	s, has := stats[metric]
	if !has {
		return "-"
	}
	return round(s.Mean, d)
}

// meanStd is "mean ± std", both with the mean's decimals, or the mean
// alone for a single repetition.
func meanStd(stats map[string]bench.Stat, metric string) string {
	s, has := stats[metric]
	if !has {
		return "-"
	}
	d := decimals(s.Mean)
	if s.N < 2 {
		return round(s.Mean, d)
	}
	return round(s.Mean, d) + " ± " + round(s.Std, d)
}

// sigDigits is the precision of the table's numbers: enough to tell cells
// apart, few enough to read (benchstat shows three or four as well).
const sigDigits = 4

// decimals is the number of decimals that shows x with sigDigits
// significant digits, at most 6 (a millionth of the unit) and none for
// numbers of sigDigits digits or more.
func decimals(x float64) int {
	if x == 0 || !finite(x) {
		return 0
	}
	d := sigDigits - 1 - int(math.Floor(math.Log10(math.Abs(x))))
	return min(max(d, 0), 6)
}

// round writes x with d decimals; NaN and ±Inf as "NaN", "+Inf", "-Inf".
func round(x float64, d int) string {
	if !finite(x) {
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	s := strconv.FormatFloat(x, 'f', d, 64)
	if strings.Trim(s, "-0.") == "" {
		s = strings.TrimPrefix(s, "-") // no "-0.00"
	}
	return s
}

// clock is the GPU's mean SM clock, with the share of its samples that the
// power limit held down where any was; "-" where not measured.
func clock(stats map[string]bench.Stat) string {
	s, has := stats[bench.MSMClock]
	if !has {
		return "-"
	}
	out := round(s.Mean, 0)
	if c := stats[bench.MPowerCapped]; c.Mean > 0 {
		out += " (power cap " + round(100*c.Mean, 0) + "%)"
	}
	return out
}

// peakMemory is the most telling peak a record has: the backend
// allocator's (GPU), else the process's on the device (NVML), else the
// process's peak resident memory (CPU), else the sum of what the cell
// allocated.
func peakMemory(m bench.Memory) int64 {
	for _, v := range []int64{m.DevicePeak, m.NVMLProcess, m.ProcessPeak} {
		if v > 0 {
			return v
		}
	}
	return m.Weights + m.Cache + m.Activations + m.Workspace
}

// iec writes a byte count in binary units with three significant digits
// ("15.0 GiB", "512 MiB"); "-" for none.
func iec(b int64) string {
	if b <= 0 {
		return "-"
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	x, u := float64(b), 0
	for x >= 1024 && u < len(units)-1 {
		x /= 1024
		u++
	}
	if u == 0 {
		return strconv.FormatInt(b, 10) + " B"
	}
	d := 2
	switch {
	case x >= 100:
		d = 0
	case x >= 10:
		d = 1
	}
	return strconv.FormatFloat(x, 'f', d, 64) + " " + units[u]
}

// firstLine is s up to its first line break, at most n runes, with "…"
// where it was cut.
func firstLine(s string, n int) string {
	s = strings.TrimSpace(s)
	cut := false
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s, cut = strings.TrimSpace(s[:i]), true
	}
	if utf8.RuneCountInString(s) > n {
		s, cut = string([]rune(s)[:n-1]), true
	}
	if cut {
		s += "…"
	}
	return s
}

// mdEscape keeps a cell inside its column: a '|' would end it.
func mdEscape(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}
