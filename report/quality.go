package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"dllmbench/bench"
)

// QualityFile is where the quality step writes its metrics, relative to a
// results folder.
var QualityFile = filepath.Join("raw_data", "quality_metrics.json")

// Quality metric and cost names of quality_metrics.json that figures and
// the HTML report know; others are shown in the quality table after them.
const (
	QJudgePPL   = "judge_ppl"
	QEntropy    = "entropy"
	QBLEU       = "bleu"
	QROUGEL     = "rouge_l"
	QRepetition = "repetition"
	// QTaskFlexible is task accuracy with lm-evaluation-harness's
	// flexible-extract filter (task_strict, its strict-match, is in the
	// quality table).
	QTaskFlexible = "task_flexible"
)

// qualityOrder is the column order of the quality table.
var qualityOrder = []string{QJudgePPL, QBLEU, QROUGEL, QEntropy,
	"distinct_1", "distinct_2", "distinct_3", "distinct_4", QRepetition}

// Interval is a quality metric: its value on the cell's prompts and a
// confidence interval; NaN where the file has null or nothing.
type Interval struct {
	Value, Lo, Hi float64
}

// hasBounds reports whether both bounds are finite.
func (iv Interval) hasBounds() bool { return finite(iv.Lo) && finite(iv.Hi) }

// bounds is the interval, or the value twice where it has none.
func (iv Interval) bounds() (lo, hi float64) {
	if iv.hasBounds() {
		return iv.Lo, iv.Hi
	}
	return iv.Value, iv.Value
}

// UnmarshalJSON reads {"value","lo","hi"} (each a number, null, or a string
// such as "NaN"), or a bare number as a value without an interval.
func (iv *Interval) UnmarshalJSON(b []byte) error {
	*iv = Interval{math.NaN(), math.NaN(), math.NaN()}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] != '{' {
		var v jsonFloat
		err := v.UnmarshalJSON(b)
		iv.Value = float64(v)
		return err
	}
	var o struct {
		Value, Lo, Hi *jsonFloat
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	for _, f := range []struct {
		dst *float64
		src *jsonFloat
	}{{&iv.Value, o.Value}, {&iv.Lo, o.Lo}, {&iv.Hi, o.Hi}} {
		if f.src != nil {
			*f.dst = float64(*f.src)
		}
	}
	return nil
}

// jsonFloat is a number that may be written as null or as a string ("NaN",
// "+Inf"), as writers that refuse non-finite JSON numbers do; both read
// as NaN or the number the string spells.
type jsonFloat float64

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*f = jsonFloat(math.NaN())
		return nil
	}
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("not a number: %s", b)
	}
	*f = jsonFloat(x)
	return nil
}

// Quality is one cell of quality_metrics.json.
type Quality struct {
	Key     string
	Cell    bench.Cell
	Metrics map[string]Interval
	Cost    map[string]float64 // nfe, latency_s, tokens_per_s, useful_tokens_per_s, energy_j_per_token
}

// metric returns a metric and whether the cell has a finite value of it.
func (q *Quality) metric(name string) (Interval, bool) {
	if q == nil {
		return Interval{}, false
	}
	iv, has := q.Metrics[name]
	return iv, has && finite(iv.Value)
}

// QualityMetrics is what reports use of quality_metrics.json.
type QualityMetrics struct {
	Cells     []Quality
	Judge     string  // the judge model of judge_ppl; "" when none or not said
	JudgeNote string  // why there was no judge
	Level     float64 // confidence level of the intervals; 0 when not said
	Resamples int     // bootstrap resamples of the intervals; 0 when not said
	// Definitions says what each metric is, by name: the reference
	// tool's variant it reproduces; empty when not said.
	Definitions map[string]string
}

// ReadQuality reads dir's quality_metrics.json. A missing file is no error:
// it returns nil, and reports leave out what needs quality.
func ReadQuality(dir string) (*QualityMetrics, error) {
	path := filepath.Join(dir, QualityFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	qm, err := ParseQuality(b)
	if err != nil {
		return nil, fmt.Errorf("report: %s: %w (rewrite it with 'dllmbench quality')", path, err)
	}
	return qm, nil
}

// ParseQuality reads quality_metrics.json leniently, since the quality step
// evolves on its own: an object with the cells under "cells" (the judge
// under "judge", the bootstrap under "bootstrap"), a bare JSON array of
// cells, or one cell object per line; a cell's parameters under "cell" or
// at its top level; numbers that may be null or strings.
func ParseQuality(b []byte) (*QualityMetrics, error) {
	type entry struct {
		Key     string                `json:"key"`
		Cell    *bench.Cell           `json:"cell"`
		Metrics map[string]Interval   `json:"metrics"`
		Cost    map[string]*jsonFloat `json:"cost"`
	}
	type file struct {
		Cells []json.RawMessage `json:"cells"`
		Judge *struct {
			ID string `json:"id"`
		} `json:"judge"`
		JudgeNote   string            `json:"judge_note"`
		Definitions map[string]string `json:"definitions"`
		Bootstrap   struct {
			Resamples int       `json:"resamples"`
			Level     jsonFloat `json:"level"`
		} `json:"bootstrap"`
	}
	qm := &QualityMetrics{}
	var raws []json.RawMessage
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return qm, nil
	case b[0] == '[':
		if err := json.Unmarshal(b, &raws); err != nil {
			return nil, err
		}
	default:
		dec := json.NewDecoder(bytes.NewReader(b))
		for {
			var m json.RawMessage
			if err := dec.Decode(&m); err == io.EOF {
				break
			} else if err != nil {
				return nil, err
			}
			raws = append(raws, m)
		}
		var f file
		if len(raws) == 1 && json.Unmarshal(raws[0], &f) == nil && f.Cells != nil {
			raws = f.Cells
			if f.Judge != nil {
				qm.Judge = f.Judge.ID
			}
			qm.JudgeNote, qm.Resamples, qm.Definitions = f.JudgeNote, f.Bootstrap.Resamples, f.Definitions
			if l := float64(f.Bootstrap.Level); finite(l) {
				qm.Level = l
			}
		}
	}
	for i, raw := range raws {
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("cell %d: %w", i, err)
		}
		q := Quality{Key: e.Key, Metrics: e.Metrics, Cost: map[string]float64{}}
		if e.Cell != nil {
			q.Cell = *e.Cell
		} else if err := json.Unmarshal(raw, &q.Cell); err != nil {
			return nil, fmt.Errorf("cell %d: %w", i, err)
		}
		for k, v := range e.Cost {
			if v != nil && finite(float64(*v)) {
				q.Cost[k] = float64(*v)
			}
		}
		qm.Cells = append(qm.Cells, q)
	}
	return qm, nil
}

// qualityIndex finds the quality of a record: by key, or else by equal
// cell parameters (a quality file written from records of another run).
type qualityIndex struct {
	byKey  map[string]*Quality
	byCell map[bench.Cell]*Quality
}

// has reports whether some cell of qm has the metric.
func (qm *QualityMetrics) has(metric string) bool {
	if qm == nil {
		return false
	}
	for _, c := range qm.Cells {
		if _, ok := c.Metrics[metric]; ok {
			return true
		}
	}
	return false
}

func indexQuality(qm *QualityMetrics) qualityIndex {
	ix := qualityIndex{byKey: map[string]*Quality{}, byCell: map[bench.Cell]*Quality{}}
	if qm == nil {
		return ix
	}
	qs := qm.Cells
	for i := range qs {
		q := &qs[i]
		if q.Key != "" {
			ix.byKey[q.Key] = q
		}
		if q.Cell.Model != "" {
			ix.byCell[q.Cell] = q
		}
	}
	return ix
}

func (ix qualityIndex) of(r bench.Record) *Quality {
	if q, has := ix.byKey[r.Key]; has {
		return q
	}
	if r.Status != "ok" {
		return nil // it generated nothing: no other run's quality is its
	}
	return ix.byCell[r.Cell]
}

func (ix qualityIndex) empty() bool { return len(ix.byKey) == 0 && len(ix.byCell) == 0 }
