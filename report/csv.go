package report

import (
	"bytes"
	"encoding/csv"
	"strconv"

	"dllmbench/bench"
)

// cellColumns are the leading columns of raw_metrics.csv, before the
// metrics and the pooled metrics; memoryColumns and the rate and energy
// columns follow them.
var cellColumns = []string{
	"key", "status", "error", "grid", "model", "model_id", "family", "backend", "device",
	"batch_size", "prompt_length", "prompt_tokens_mean", "prompt_count", "gen_length", "steps", "block_length", "remasking", "cache",
	"threshold", "factor", "cfg_scale", "temperature", "top_k", "top_p", "precision", "repetitions",
}

// memoryColumns name bench.Memory's fields, in bytes.
var memoryColumns = []string{
	"mem_weights_bytes", "mem_cache_bytes", "mem_activations_bytes", "mem_workspace_bytes",
	"mem_device_peak_bytes", "mem_process_rss_bytes", "mem_process_peak_rss_bytes",
	"mem_nvml_process_bytes", "mem_nvml_device_bytes",
}

// pooledColumns name bench.Dist's fields: a pooled metric m has the
// columns m_pooled_n, m_pooled_mean and so on, apart from m_mean and m_std,
// which are over repetitions.
var pooledColumns = []string{"n", "mean", "std", "median", "p90", "p99"}

// csvHeader is the header row of raw_metrics.csv for the given metrics
// and pooled metrics.
func csvHeader(names, pooled []string) []string {
	h := append([]string(nil), cellColumns...)
	for _, m := range names {
		h = append(h, m+"_mean", m+"_std")
	}
	for _, m := range pooled {
		for _, c := range pooledColumns {
			h = append(h, m+"_pooled_"+c)
		}
	}
	h = append(h, memoryColumns...)
	return append(h, "gb_per_s", "tflop_per_s", "energy_j", "energy_source", "energy_note")
}

// csvBytes renders raw_metrics.csv: a header row, then one row per record
// in the order given. An empty cell means "not measured": a metric of the
// other family, a setting the cell's family does not have (steps of an
// autoregressive cell, a threshold that is off), a memory figure the
// backend does not report, anything of a failed cell. Non-finite values
// are written as strconv writes them (NaN, +Inf, -Inf), which Go, Python
// and pandas read back.
func csvBytes(recs []bench.Record) ([]byte, error) {
	names, pooled := metricNames(recs), pooledNames(recs)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(csvHeader(names, pooled)); err != nil {
		return nil, err
	}
	for _, r := range recs {
		if err := w.Write(csvRow(r, names, pooled)); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

func csvRow(r bench.Record, names, pooled []string) []string {
	c := r.Cell
	row := []string{
		r.Key, r.Status, r.Error, r.Grid, c.Model, c.ModelID, c.Family, r.Env.Backend, r.Env.Device,
		strconv.Itoa(c.Batch), strconv.Itoa(c.PromptLen), promptTokens(r), nonZeroInt(len(r.Prompts)), strconv.Itoa(c.GenLen),
		nonZeroInt(c.Steps), nonZeroInt(c.BlockLen), c.Remasking, c.Cache,
		nonZeroFloat(c.Threshold), nonZeroFloat(c.Factor), nonZeroFloat(c.CFGScale), csvFloat(c.Temperature),
		nonZeroInt(c.TopK), nonZeroFloat(c.TopP), c.Precision,
		strconv.Itoa(len(r.Reps)),
	}
	for _, m := range names {
		s, has := r.Stats[m]
		if !has || !ok(r) {
			row = append(row, "", "")
			continue
		}
		row = append(row, csvFloat(s.Mean), csvFloat(s.Std))
	}
	for _, m := range pooled {
		d, has := r.Pooled[m]
		if !has || !ok(r) {
			row = append(row, make([]string, len(pooledColumns))...)
			continue
		}
		row = append(row, strconv.Itoa(d.N), csvFloat(d.Mean), csvFloat(d.Std), csvFloat(d.Median),
			csvFloat(d.P90), csvFloat(d.P99))
	}
	if !ok(r) {
		// Its memory, rates and energy: a cell that fails in its second
		// repetition keeps the first, whose energy is not the cell's.
		row = append(row, make([]string, len(memoryColumns)+4)...)
		return append(row, r.EnergyNote)
	}
	mem := r.Memory
	for _, b := range []int64{mem.Weights, mem.Cache, mem.Activations, mem.Workspace, mem.DevicePeak,
		mem.ProcessRSS, mem.ProcessPeak, mem.NVMLProcess, mem.NVMLDevice} {
		row = append(row, nonZeroInt64(b))
	}
	row = append(row, nonZeroFloat(r.Roofline.GBPerS), nonZeroFloat(r.Roofline.TFLOPS))
	energy, source := repEnergy(r.Reps)
	return append(row, energy, source, r.EnergyNote)
}

// promptTokens is the mean token count of a record's prompts (the
// prompt_length a cell asks for is a bound: prompts that come with their
// own references may be shorter), "" without prompts.
func promptTokens(r bench.Record) string {
	m, ok := promptMean(r)
	if !ok {
		return ""
	}
	return csvFloat(m)
}

// repEnergy is the mean energy of the repetitions that measured it, in
// joules, and the counter it came from ("" when none did).
func repEnergy(reps []bench.Rep) (mean, source string) {
	var sum float64
	var n int
	for _, rp := range reps {
		if rp.EnergyJ != nil {
			sum += *rp.EnergyJ
			n++
			source = rp.EnergySource
		}
	}
	if n == 0 {
		return "", ""
	}
	return csvFloat(sum / float64(n)), source
}

// csvFloat writes x exactly (the shortest text that reads back as x).
func csvFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// nonZeroFloat writes x, or "" for zero: the value of a setting that is
// off or of a rate nobody measured.
func nonZeroFloat(x float64) string {
	if x == 0 {
		return ""
	}
	return csvFloat(x)
}

func nonZeroInt(x int) string { return nonZeroInt64(int64(x)) }

func nonZeroInt64(x int64) string {
	if x == 0 {
		return ""
	}
	return strconv.FormatInt(x, 10)
}
