// Package report rebuilds a benchmark's outputs from its records: a raw
// CSV and a JSON summary per cell for analysis, a Go benchmark file for
// benchstat, and a llama-bench-style Markdown table. Every writer takes
// records as bench.ReadRecords returns them, merged from any number of runs
// or jobs; it keeps one record per cell (bench.Latest) and orders cells the
// same way (see sortRecords).
//
// Records come from measurements, and a measurement can be NaN or ±Inf (a
// zero-length timing, an energy counter that went backwards). No writer
// fails on one: CSV and bench.txt write or skip it, JSON writes null.
package report

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"dllmbench/bench"
)

// metrics is the order of bench's metric names in tables and CSV columns;
// metrics a record holds beyond these follow them in name order.
var metrics = []string{
	bench.MLatency,
	bench.MDeviceLatency,
	bench.MTTFT,
	bench.MTPOT,
	bench.MITL,
	bench.MStepTime,
	bench.MNFE,
	bench.MTokensPerStep,
	bench.MTokensPerS,
	bench.MUsefulPerS,
	bench.MEnergyPerTok,
	bench.MPower,
	bench.MSMClock,
	bench.MPowerCapped,
}

// metricNames lists metrics, then any other metric of recs in name order,
// so that a column is never lost and the order does not depend on the
// order of the records.
func metricNames(recs []bench.Record) []string {
	known := map[string]bool{}
	for _, m := range metrics {
		known[m] = true
	}
	var extra []string
	for _, r := range recs {
		for m := range r.Stats {
			if !known[m] {
				known[m] = true
				extra = append(extra, m)
			}
		}
	}
	sort.Strings(extra)
	return append(slices.Clone(metrics), extra...)
}

// pooledMetrics is the order of the pooled metrics (bench.Record.Pooled)
// in CSV columns, as metrics is of the others.
var pooledMetrics = []string{bench.MTTFT, bench.MTPOT, bench.MITL, bench.MLatency}

// pooledNames lists pooledMetrics, then any other pooled metric of recs in
// name order, as metricNames does.
func pooledNames(recs []bench.Record) []string {
	var extra []string
	for _, r := range recs {
		for m := range r.Pooled {
			if !slices.Contains(pooledMetrics, m) && !slices.Contains(extra, m) {
				extra = append(extra, m)
			}
		}
	}
	sort.Strings(extra)
	return append(slices.Clone(pooledMetrics), extra...)
}

// Write writes the files of a report into dir:
//
//	raw_data/raw_metrics.csv       one row per cell, every metric's mean and std over
//	                               repetitions, and the pooled metrics' summaries
//	raw_data/records_summary.json  one object per cell, no prompts or outputs
//	bench.txt                      Go benchmark format, one line per repetition, then
//	                               each failed cell as a "--- FAIL:" line
//	figures/NAME.svg, NAME.png     the figures of MakeFigures
//	report.html                    everything in one self-contained page (HTML)
//
// Figures and report.html use dir's raw_data/quality_metrics.json where the
// quality step wrote one. Files are replaced whole, so a report can be
// rebuilt in place.
func Write(dir string, recs []bench.Record) error {
	all := recs // for report.html, which says what merging them hid
	recs = sortRecords(recs)
	// Read before anything is written: a file that cannot be read leaves
	// the folder's files those of its last report.
	qm, err := ReadQuality(dir)
	if err != nil {
		return err
	}
	files := []struct {
		path  string
		write func([]bench.Record) ([]byte, error)
	}{
		{filepath.Join("raw_data", "raw_metrics.csv"), csvBytes},
		{filepath.Join("raw_data", "records_summary.json"), summaryBytes},
		{"bench.txt", benchBytes},
	}
	for _, f := range files {
		b, err := f.write(recs)
		if err != nil {
			return fmt.Errorf("report: %s: %w", f.path, err)
		}
		if err := writeFile(filepath.Join(dir, f.path), b); err != nil {
			return err
		}
	}
	figs := MakeFigures(recs, qm)
	if err := writeFigures(dir, figs); err != nil {
		return err
	}
	var page bytes.Buffer
	if err := HTML(&page, all, qm, figs); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "report.html"), page.Bytes())
}

// writeFile replaces path with b through a temporary file and a rename, so
// that a reader never sees half a file.
func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := cmp.Or(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Overwritten lists the machines of cells measured on more than one: a
// cell's key names its settings, not the hardware, so bench.Latest keeps
// one record of such a cell (its newest success) and every output shows
// only that machine's. It returns how many cells that is and the machines
// (hardware: the GPU, else the CPU, with the backend) their records came
// from, sorted. A cell measured again on the same kind of hardware (a
// failed cell retried, a node of the same GPU) is not counted.
func Overwritten(recs []bench.Record) (cells int, machines []string) {
	seen := map[string]map[string]bool{}
	for _, r := range recs {
		if r.Status != "ok" {
			continue
		}
		if seen[r.Key] == nil {
			seen[r.Key] = map[string]bool{}
		}
		seen[r.Key][hardware(r)] = true
	}
	all := map[string]bool{}
	for _, hw := range seen {
		if len(hw) < 2 {
			continue
		}
		cells++
		for h := range hw {
			all[h] = true
		}
	}
	return cells, slices.Sorted(maps.Keys(all))
}

// Repeated counts the cells that the outputs show in more than one row:
// records of the same settings (bench.Cell) under different keys, which a
// grid changed between runs into one folder gives (other repetitions,
// warm-up, delay, prompt set or model revision, which the key holds and
// the rows do not show).
func Repeated(recs []bench.Record) int {
	rows := map[bench.Cell]int{}
	for _, r := range bench.Latest(recs) {
		rows[r.Cell]++
	}
	n := 0
	for _, k := range rows {
		if k > 1 {
			n++
		}
	}
	return n
}

// MergeNotes says what merging recs hides, one sentence each: cells
// measured on more than one machine, of which the outputs show the newest
// (Overwritten), and cells in more than one row that reads the same
// (Repeated). None for the records of one run.
func MergeNotes(recs []bench.Record) []string {
	var notes []string
	if n := Repeated(recs); n > 0 {
		is := "cells are"
		if n == 1 {
			is = "cell is"
		}
		notes = append(notes, fmt.Sprintf("%d %s in more than one row that reads the same, measured with other repetitions, warm-up, delay, prompts or model revision (the records' keys differ): give each grid its own --output_dir to compare them", n, is))
	}
	if n, machines := Overwritten(recs); n > 0 {
		were := "cells were"
		if n == 1 {
			were = "cell was"
		}
		notes = append(notes, fmt.Sprintf("%d %s measured on more than one machine (%s); the outputs show each one's newest only: give each machine's records a report of its own (--output_dir)",
			n, were, strings.Join(machines, ", ")))
	}
	return notes
}

// sortRecords keeps one record per cell key (bench.Latest) and orders them
// by model, batch, prompt length, generation length and decoder, so that
// every output lists cells in the same order whatever order the records
// were merged in.
func sortRecords(recs []bench.Record) []bench.Record {
	out := bench.Latest(recs)
	slices.SortStableFunc(out, func(a, b bench.Record) int {
		return cmp.Or(compareCells(a.Cell, b.Cell), cmp.Compare(a.Key, b.Key))
	})
	return out
}

// cacheRank orders Fast-dLLM's cache modes from none to the most reuse.
var cacheRank = map[string]int{"none": 0, "prefix": 1, "dual": 2}

// compareCells orders cells by model, batch, prompt, generation length and
// then decoder: autoregressive before diffusion; fixed step counts (by
// count), then thresholds, then factors; then block length, cache mode and
// the remaining settings.
func compareCells(a, b bench.Cell) int {
	rule := func(c bench.Cell) int { // 0 fixed steps, 1 threshold, 2 factor
		switch {
		case c.Threshold > 0:
			return 1
		case c.Factor > 0:
			return 2
		}
		return 0
	}
	rank := func(cache string) int {
		if r, ok := cacheRank[cache]; ok {
			return r
		}
		return len(cacheRank)
	}
	return cmp.Or(
		cmp.Compare(a.Model, b.Model),
		cmp.Compare(a.ModelID, b.ModelID),
		cmp.Compare(a.Batch, b.Batch),
		cmp.Compare(a.PromptLen, b.PromptLen),
		cmp.Compare(a.GenLen, b.GenLen),
		cmp.Compare(boolInt(a.Diffusion()), boolInt(b.Diffusion())),
		cmp.Compare(rule(a), rule(b)),
		cmp.Compare(a.Steps, b.Steps),
		cmp.Compare(a.Threshold, b.Threshold),
		cmp.Compare(a.Factor, b.Factor),
		cmp.Compare(a.BlockLen, b.BlockLen),
		cmp.Compare(rank(a.Cache), rank(b.Cache)),
		cmp.Compare(a.Cache, b.Cache),
		cmp.Compare(a.Remasking, b.Remasking),
		cmp.Compare(a.CFGScale, b.CFGScale),
		cmp.Compare(a.Temperature, b.Temperature),
		cmp.Compare(a.TopK, b.TopK),
		cmp.Compare(a.TopP, b.TopP),
		cmp.Compare(a.Precision, b.Precision),
		cmp.Compare(a.Backend, b.Backend),
	)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// finite reports whether x is neither NaN nor ±Inf.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// ok reports whether a record holds a measurement.
func ok(r bench.Record) bool { return r.Status == "ok" }
