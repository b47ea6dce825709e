package report

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"dllmbench/bench"
)

func TestParseQuality(t *testing.T) {
	nan := math.NaN()
	llada := bench.Cell{Model: "llada", Family: "llada", Batch: 1, GenLen: 8, Steps: 8}
	tests := []struct {
		name string
		in   string
		want *QualityMetrics
	}{
		{
			// What quality.WriteMetrics writes: an object with the cells,
			// the judge and the bootstrap; NaN costs as null.
			name: "quality step file",
			in: `{"schema_version": 1, "judge": {"id": "meta-llama/Meta-Llama-3-8B"}, "bootstrap": {"resamples": 500, "level": 0.9},
				"cells": [{"key": "k1", "cell": {"model": "llada", "family": "llada", "batch_size": 1, "gen_length": 8, "steps": 8},
				"cost": {"nfe": 8, "tokens_per_step": null},
				"metrics": {"judge_ppl": {"value": 12.5, "lo": 11, "hi": 14}, "bleu": {"value": 3, "lo": null, "hi": null}}}]}`,
			want: &QualityMetrics{Judge: "meta-llama/Meta-Llama-3-8B", Level: 0.9, Resamples: 500, Cells: []Quality{{
				Key: "k1", Cell: llada, Cost: map[string]float64{"nfe": 8},
				Metrics: map[string]Interval{QJudgePPL: {12.5, 11, 14}, QBLEU: {3, nan, nan}},
			}}},
		},
		{
			// A bare array, the cell's parameters at the top level, numbers
			// as strings, a metric as a bare number.
			name: "array, flat cell, strings",
			in: `[{"key": "k2", "model": "llada", "family": "llada", "batch_size": 1, "gen_length": 8, "steps": 8,
				"metrics": {"rouge_l": {"value": "NaN"}, "entropy": 4.5}, "cost": {"tokens_per_s": "12.5"}}]`,
			want: &QualityMetrics{Cells: []Quality{{
				Key: "k2", Cell: llada, Cost: map[string]float64{"tokens_per_s": 12.5},
				Metrics: map[string]Interval{QROUGEL: {nan, nan, nan}, QEntropy: {4.5, nan, nan}},
			}}},
		},
		{
			// One object per line.
			name: "JSON lines",
			in:   "{\"key\": \"a\", \"metrics\": {\"judge_ppl\": null}}\n{\"key\": \"b\"}\n",
			want: &QualityMetrics{Cells: []Quality{
				{Key: "a", Cost: map[string]float64{}, Metrics: map[string]Interval{QJudgePPL: {nan, nan, nan}}},
				{Key: "b", Cost: map[string]float64{}},
			}},
		},
		{
			name: "empty file",
			in:   "  \n",
			want: &QualityMetrics{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQuality([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{`{"cells": [{"metrics": {"bleu": {"value": "high"}}}]}`, `[{"key": 1}]`, `{"key": `} {
		if _, err := ParseQuality([]byte(bad)); err == nil {
			t.Errorf("ParseQuality(%s) did not fail", bad)
		}
	}
}

func TestReadQuality(t *testing.T) {
	dir := t.TempDir()
	qm, err := ReadQuality(dir)
	if qm != nil || err != nil {
		t.Fatalf("without a file: %v, %v; want nil, nil", qm, err)
	}
	p := filepath.Join(dir, QualityFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("[{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadQuality(dir); err == nil {
		t.Error("a torn file read without error")
	}
}

// TestQualityIndex finds a record's quality by key, and by cell where the
// file was written from another run's records.
func TestQualityIndex(t *testing.T) {
	r := diffRecord()
	other := r.Cell
	other.Steps = 32
	qx := indexQuality(&QualityMetrics{Cells: []Quality{
		{Key: "elsewhere", Cell: r.Cell, Metrics: map[string]Interval{QBLEU: {1, 0, 2}}},
		{Key: "ar1", Cell: arRecord().Cell, Metrics: map[string]Interval{QBLEU: {2, 1, 3}}},
		{Key: "x", Cell: other},
	}})
	if q := qx.of(arRecord()); q == nil || q.Key != "ar1" {
		t.Errorf("by key: %+v", q)
	}
	if q := qx.of(r); q == nil || q.Key != "elsewhere" {
		t.Errorf("by cell: %+v", q)
	}
	if q := qx.of(thrRecord()); q != nil {
		t.Errorf("no quality: %+v", q)
	}
	// A failed record generated nothing: another run's quality of its cell
	// is not its own (it is listed without a record instead).
	failed := r
	failed.Key, failed.Status, failed.Outputs = "failed-now", "failed", nil
	if q := qx.of(failed); q != nil {
		t.Errorf("a failed record took another run's quality: %+v", q)
	}
}
