package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dllmbench/bench"
	"dllmbench/compute/device"
	"dllmbench/internal/buildinfo"
)

// studyDir holds a realistic study: the records of LLaMA-3-8B and
// LLaDA-8B on one H100 and the quality step's metrics of their cells. The
// numbers are synthetic, shaped like measurements: a memory-bound LLaMA at
// batch 1 near 16 GB / 2 TB/s, LLaDA's step time growing with the sequence
// and the batch, judge perplexity falling with more steps.
var studyDir = filepath.Join("testdata", "study")

// studyCells is the number of cells in the study's records: 6 LLaMA cells,
// 24 LLaDA cells and one failed LLaDA cell. Every successful cell has
// quality metrics.
const studyCells, studyFailed = 31, 1

// studyEnv is an H100 run.
var studyEnv = bench.Env{
	Dllmbench: buildinfo.Info{Version: "v0.3.0", Commit: "6184149a0c1f3e5d2b7a9c8e4f1d0b2a3c4e5f60", Date: "2026-11-27T06:47:00Z", GoVersion: "go1.26.0"},
	Time:      time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC), Hostname: "gpu-node-07", OS: "linux", Arch: "amd64",
	Kernel: "6.1.0-28-amd64", CPU: "Intel(R) Xeon(R) Platinum 8480+", CPUs: 16, MemoryBytes: 128 << 30,
	Backend: "cuda", Device: "NVIDIA H100 80GB HBM3",
	GPU: &device.GPU{Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-5f0c2d1e-8a7b-4c3d-9e2f-1a0b3c4d5e6f", Driver: "560.35.03",
		CUDA: "12.6", CC: "9.0", MemoryBytes: 85520809984, SMClockMHz: 345, SMMaxMHz: 1980, MemClockMHz: 2619, PowerLimitW: 700},
	SLURM:         map[string]string{"SLURM_JOB_ID": "481516", "SLURM_JOB_PARTITION": "gpu"},
	HardwareNotes: "1× H100 SXM, exclusive node",
}

// studyRecords builds the study's records and quality metrics.
func studyRecords() ([]bench.Record, []byte) {
	// The shape of quality.Metrics (quality/metrics.go), which report
	// does not import: quality needs models.
	type qcell struct {
		Key     string                        `json:"key"`
		Grid    string                        `json:"grid"`
		Name    string                        `json:"name"`
		Cell    bench.Cell                    `json:"cell"`
		Prompts int                           `json:"prompts"`
		Cost    map[string]*float64           `json:"cost"`
		Metrics map[string]map[string]float64 `json:"metrics"`
		EOSCut  bool                          `json:"eos_cut"`
	}
	var recs []bench.Record
	var qs []qcell
	started := studyEnv.Time
	iv := func(v, rel float64) map[string]float64 {
		return map[string]float64{"value": v, "lo": v * (1 - rel), "hi": v * (1 + rel*1.1)}
	}
	add := func(c bench.Cell, stepS float64, nfe int, tps, lat, peakGiB, watts float64, ppl, bleu, rouge float64) {
		key := fmt.Sprintf("%016x", uint64(len(recs)+1)*0x9e3779b97f4a7c15)
		started = started.Add(time.Duration(lat*5e9) + 3*time.Second)
		var reps []bench.Rep
		var tpss []float64
		for i := range 3 {
			f := 1 + 0.01*float64(i-1) // ±1% between repetitions
			e := watts * lat * f
			reps = append(reps, bench.Rep{TotalS: lat * f, TokensPerS: tps / f, UsefulTokensPerS: tps / f * 0.93,
				EnergyJ: &e, EnergySource: "nvml",
				Batches: []bench.BatchMeasure{{Rows: c.Batch, LatencyS: lat * f, NFE: nfe,
					Processed: nfe * c.Batch * (c.PromptLen + c.GenLen), Generated: c.Batch * c.GenLen,
					Useful: int(float64(c.Batch*c.GenLen) * 0.93)}}})
			tpss = append(tpss, tps/f)
		}
		st := bench.Summarize(tpss)
		stats := map[string]bench.Stat{
			bench.MLatency:      {Mean: lat, Std: lat * 0.01, Median: lat, Min: lat * 0.99, Max: lat * 1.01, N: 3},
			bench.MNFE:          {Mean: float64(nfe), Median: float64(nfe), Min: float64(nfe), Max: float64(nfe), N: 3},
			bench.MTokensPerS:   st,
			bench.MUsefulPerS:   {Mean: st.Mean * 0.93, Std: st.Std * 0.93, Median: st.Median * 0.93, N: 3},
			bench.MEnergyPerTok: {Mean: watts / tps, Std: watts / tps * 0.01, N: 3},
		}
		if c.Diffusion() {
			stats[bench.MStepTime] = bench.Stat{Mean: stepS, Std: stepS * 0.02, N: 3}
			stats[bench.MTokensPerStep] = bench.Stat{Mean: float64(c.GenLen) / float64(nfe), N: 3}
		} else {
			ttft := 0.012 + 0.0006*float64(c.Batch)
			stats[bench.MTTFT] = bench.Stat{Mean: ttft, Std: ttft * 0.02, N: 3}
			stats[bench.MTPOT] = bench.Stat{Mean: (lat - ttft) / float64(c.GenLen-1), N: 3}
		}
		peak := int64(peakGiB * (1 << 30))
		mi := bench.ModelInfo{ID: c.ModelID, Arch: "LlamaForCausalLM", Params: 8030261248, WeightDT: "bf16"}
		if c.Diffusion() {
			mi = bench.ModelInfo{ID: c.ModelID, Arch: "LLaDAModelLM", Params: 8015826944, WeightDT: "bf16"}
		}
		recs = append(recs, bench.Record{Schema: bench.SchemaVersion, Key: key, Grid: "study-h100", Cell: c, Status: "ok",
			Started: started, Duration: lat * 5, Env: studyEnv, Model: mi,
			Prompts: []bench.PromptRecord{{Text: " The Tower Building of the Little Rock Arsenal", IDs: []int{578, 22703, 17283}}},
			Reps:    reps, Stats: stats,
			Memory: bench.Memory{Weights: mi.Params * 2, DevicePeak: peak, ProcessRSS: 1 << 30, ProcessPeak: 3 << 29,
				NVMLProcess: peak + 600<<20},
			Roofline: bench.Roofline{Bytes: float64(mi.Params * 2 * int64(nfe)), FLOPs: 2 * float64(mi.Params) * float64(nfe*c.Batch*(c.PromptLen+c.GenLen))},
		})
		var tpsp *float64 // null for LLaMA, as the quality step writes NaN
		if c.Diffusion() {
			tpsp = ptr(float64(c.GenLen) / float64(nfe))
		}
		qs = append(qs, qcell{Key: key, Grid: "study-h100", Name: c.Name(), Cell: c, Prompts: 64, EOSCut: true,
			Metrics: map[string]map[string]float64{
				QJudgePPL: iv(ppl, 0.07), QBLEU: iv(bleu, 0.12), QROUGEL: iv(rouge, 0.05),
				QEntropy: iv(5.1-ppl/60, 0.01), "distinct_1": iv(0.62, 0.03), "distinct_2": iv(0.91, 0.02),
				QRepetition: iv(0.02+ppl/1000, 0.2),
			},
			Cost: map[string]*float64{"nfe": ptr(float64(nfe)), "tokens_per_step": tpsp, "latency_s": &lat,
				"tokens_per_s": &tps, "useful_tokens_per_s": ptr(tps * 0.93), "energy_j_per_token": ptr(watts / tps)},
		})
	}
	for _, gen := range []int{128, 256} {
		for _, b := range []int{1, 4, 16} {
			llama := bench.Cell{Model: "llama3-8b", ModelID: "meta-llama/Meta-Llama-3-8B-Instruct", Family: "llama",
				Batch: b, PromptLen: 128, GenLen: gen, Precision: "bf16", Backend: "auto"}
			tpot := 0.0085 + 0.00035*float64(b) + 0.000004*float64(gen)
			lat := 0.012 + tpot*float64(gen-1)
			add(llama, 0, gen, float64(b*gen)/lat, lat, 15.1+float64(b*(128+gen))*128/(1<<20)+0.4, 310+12*float64(b),
				9.8+float64(gen)/256, 4.1, 0.181)
			for _, d := range []struct {
				steps   int
				thr     float64
				cache   string
				quality float64 // perplexity added to the best setting's
			}{{gen / 4, 0, "none", 5.6}, {gen / 2, 0, "none", 1.9}, {gen, 0, "none", 0}, {0, 0.9, "dual", 0.5}} {
				c := bench.Cell{Model: "llada-8b", ModelID: "GSAI-ML/LLaDA-8B-Instruct", Family: "llada",
					Batch: b, PromptLen: 128, GenLen: gen, Steps: d.steps, BlockLen: 32, Remasking: "low_confidence",
					Cache: d.cache, Threshold: d.thr, Precision: "bf16", Backend: "auto"}
				seq := float64(128 + gen)
				step := (0.004 + 0.000038*seq) * (0.75 + 0.25*float64(b)) // weights, then compute-bound
				nfe := d.steps
				if d.thr > 0 {
					nfe = int(math.Round(float64(gen) / 2.7))
					step *= 0.45 // the dual cache runs the current block only
				}
				lat := step * float64(nfe)
				add(c, step, nfe, float64(b*gen)/lat, lat, 15.0+float64(b)*seq*0.55/1024+0.3, 420+9*float64(b),
					11.2+float64(gen)/256+d.quality, 3.3-d.quality/4, 0.166-d.quality/120)
			}
		}
	}
	recs = append(recs, bench.Record{Schema: bench.SchemaVersion, Key: "00000000deadbeef", Grid: "study-h100", Status: "failed",
		Started: started.Add(time.Minute), Env: studyEnv,
		Error: "cuda: out of memory allocating 9.6 GiB for logits (batch 64 × 384 positions × 126464)\nat decode.Diffuse",
		Cell: bench.Cell{Model: "llada-8b", ModelID: "GSAI-ML/LLaDA-8B-Instruct", Family: "llada", Batch: 64, PromptLen: 128,
			GenLen: 256, Steps: 256, BlockLen: 32, Remasking: "low_confidence", Cache: "none", Precision: "bf16", Backend: "auto"}})
	qb, err := json.MarshalIndent(map[string]any{
		"schema_version": 1, "grids": []string{"study-h100"},
		"judge": map[string]string{"id": "meta-llama/Meta-Llama-3-8B", "arch": "LlamaForCausalLM", "weight_dtype": "bf16",
			"backend": "cuda"},
		"bootstrap": map[string]any{"resamples": 1000, "level": 0.95, "seed": 0},
		"definitions": map[string]string{"bleu": "sacreBLEU corpus_bleu(generations, [references])",
			"judge_ppl": "generative perplexity under the judge"},
		"failed_cells": studyFailed, "cells": qs,
	}, "", "  ")
	if err != nil {
		panic(err)
	}
	return recs, append(qb, '\n')
}

// studyFiles are the study's files as the run and quality steps write them.
func studyFiles() map[string][]byte {
	recs, q := studyRecords()
	var jl bytes.Buffer
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			panic(err)
		}
		jl.Write(append(b, '\n'))
	}
	return map[string][]byte{
		filepath.Join("records", "study-h100.jsonl"): jl.Bytes(),
		QualityFile: q,
	}
}

// TestStudyFixture keeps testdata/study in step with studyRecords; -update
// rewrites it.
func TestStudyFixture(t *testing.T) {
	for name, want := range studyFiles() {
		p := filepath.Join(studyDir, name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run go test ./report -run TestStudyFixture -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from studyRecords (run go test ./report -run TestStudyFixture -update)", p)
		}
	}
	recs, err := bench.ReadRecords(studyDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != studyCells {
		t.Errorf("got %d records, want %d", len(recs), studyCells)
	}
	qm, err := ReadQuality(studyDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(qm.Cells) != studyCells-studyFailed || qm.Judge == "" || qm.Level != 0.95 {
		t.Errorf("got %d quality cells, judge %q, level %v; want %d, the judge's id, 0.95",
			len(qm.Cells), qm.Judge, qm.Level, studyCells-studyFailed)
	}
}

// readStudy reads the study from testdata.
func readStudy(t *testing.T) ([]bench.Record, *QualityMetrics) {
	t.Helper()
	recs, err := bench.ReadRecords(studyDir)
	if err != nil {
		t.Fatal(err)
	}
	qm, err := ReadQuality(studyDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || qm == nil || len(qm.Cells) == 0 {
		t.Fatalf("no study in %s (run go test ./report -run TestStudyFixture -update)", studyDir)
	}
	return recs, qm
}

// copyStudy copies the study into a new folder, as a results folder.
func copyStudy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name := range studyFiles() {
		b, err := os.ReadFile(filepath.Join(studyDir, name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
