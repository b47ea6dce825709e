package decode_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"dllmbench/decode"
	"dllmbench/internal/testbackend"
	"dllmbench/internal/testmodel"
	"dllmbench/model"
)

// The goldens of scripts/golden/engine_goldens.py for the tiny LLaDA trained
// on tiny Shakespeare (testdata/golden/README.md): every decision in them
// has a margin of at least 1e-3, so the CPU backend must reproduce every
// token, the NFE and the tokens per step.
type lladaGolden struct {
	MaskID            int `json:"mask_id"`
	ReferenceGenerate []struct {
		Prompt      []int   `json:"prompt"`
		Steps       int     `json:"steps"`
		GenLength   int     `json:"gen_length"`
		BlockLength int     `json:"block_length"`
		CFGScale    float64 `json:"cfg_scale"`
		Output      []int   `json:"output"`
	} `json:"reference_generate"`
	FastDLLM []struct {
		Prompt        []int   `json:"prompt"`
		Cache         string  `json:"cache"`
		Rule          string  `json:"rule"`
		Steps         int     `json:"steps"`
		GenLength     int     `json:"gen_length"`
		BlockLength   int     `json:"block_length"`
		Threshold     float64 `json:"threshold"`
		Factor        float64 `json:"factor"`
		Output        []int   `json:"output"`
		NFE           int     `json:"nfe"`
		TokensPerStep []int   `json:"tokens_per_step"`
	} `json:"fast_dllm"`
	LogLikelihood []struct {
		Prompt        []int   `json:"prompt"`
		Answer        []int   `json:"answer"`
		LogLikelihood float64 `json:"log_likelihood"`
		Batches       []struct {
			Noisy [][]int   `json:"noisy"`
			PMask []float64 `json:"p_mask"`
		} `json:"batches"`
		BatchLosses []float64 `json:"batch_losses"`
	} `json:"log_likelihood"`
}

func lladaGoldens(t *testing.T) (*model.Model, *lladaGolden) {
	t.Helper()
	dir := "../testdata/golden/engine/llada-tiny"
	raw, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatalf("golden missing: %v (regenerate with scripts/golden/engine_goldens.py)", err)
	}
	var g lladaGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	return testmodel.LoadDir(t, dir, testbackend.Open(t), model.LoadOptions{}), &g
}

// LLaDA's reference generate() at temperature 0 with low-confidence
// remasking, several schedules and a classifier-free guidance case, with
// the steps committed on the device where they can be, and on the host.
func TestReferenceGenerateGolden(t *testing.T) {
	m, g := lladaGoldens(t)
	if len(g.ReferenceGenerate) == 0 {
		t.Fatal("no reference generate cases")
	}
	for _, host := range []bool{false, true} {
		for i, c := range g.ReferenceGenerate {
			o := decode.DiffusionOptions{GenLength: c.GenLength, Steps: c.Steps, BlockLength: c.BlockLength,
				Remasking: decode.LowConfidence, CFGScale: c.CFGScale, Cache: decode.CacheNone, HostCommit: host}
			res, err := decode.Diffuse(m, testmodel.MustState(t)(decode.DiffusionState(m, 1, len(c.Prompt), o)), [][]int{c.Prompt}, o)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c.Output, res.IDs[0]); d != "" {
				t.Errorf("case %d (steps %d, gen %d, block %d, cfg %g, host commits %v) (-reference +dllmbench):\n%s",
					i, c.Steps, c.GenLength, c.BlockLength, c.CFGScale, host, d)
			}
		}
	}
}

// Fast-dLLM's generate, generate_with_prefix_cache and
// generate_with_dual_cache, with fixed steps, a threshold and the factor
// rule: tokens, NFE and tokens per forward call; fixed steps both with the
// commits on the device and on the host.
func TestFastDLLMGolden(t *testing.T) {
	m, g := lladaGoldens(t)
	if len(g.FastDLLM) != 9 {
		t.Fatalf("%d Fast-dLLM cases, want 9 (3 caches × 3 rules)", len(g.FastDLLM))
	}
	for _, host := range []bool{false, true} {
		for _, c := range g.FastDLLM {
			if host && c.Rule != "steps" {
				continue // a threshold or the factor commits on the host anyway
			}
			where := "device"
			if host || c.Rule != "steps" {
				where = "host"
			}
			t.Run(fmt.Sprintf("%s/%s/%s", c.Cache, c.Rule, where), func(t *testing.T) {
				o := decode.DiffusionOptions{GenLength: c.GenLength, Steps: c.Steps, BlockLength: c.BlockLength,
					Remasking: decode.LowConfidence, Cache: decode.Cache(c.Cache), Threshold: c.Threshold, Factor: c.Factor,
					HostCommit: host}
				if c.Threshold != 0 || c.Factor != 0 {
					o.Steps = 0
				}
				res, err := decode.Diffuse(m, testmodel.MustState(t)(decode.DiffusionState(m, 1, len(c.Prompt), o)), [][]int{c.Prompt}, o)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(c.Output, res.IDs[0]); d != "" {
					t.Errorf("tokens (-Fast-dLLM +dllmbench):\n%s", d)
				}
				if res.NFE[0] != c.NFE {
					t.Errorf("NFE %d, Fast-dLLM %d", res.NFE[0], c.NFE)
				}
				if d := cmp.Diff(c.TokensPerStep, res.TokensPerStep[0]); d != "" {
					t.Errorf("tokens per step (-Fast-dLLM +dllmbench):\n%s", d)
				}
			})
		}
	}
}

// get_log_likelihood's per-batch losses from its own masks, within 1e-4.
func TestLogLikelihoodGolden(t *testing.T) {
	m, g := lladaGoldens(t)
	if len(g.LogLikelihood) == 0 {
		t.Fatal("no likelihood cases")
	}
	for i, c := range g.LogLikelihood {
		seq := append(append([]int(nil), c.Prompt...), c.Answer...)
		s := testmodel.MustState(t)(decode.ScoreState(m, len(c.Batches[0].Noisy), len(seq), 0))
		var sum float64
		for j, b := range c.Batches {
			got, err := decode.MaskedLoss(m, s, seq, len(c.Prompt), decode.MaskedBatch{Noisy: b.Noisy, PMask: b.PMask}, 0)
			if err != nil {
				t.Fatal(err)
			}
			sum += got
			if want := c.BatchLosses[j]; math.Abs(got-want) > 1e-4*math.Max(1, math.Abs(want)) {
				t.Errorf("case %d batch %d: loss %.6f, reference %.6f", i, j, got, want)
			}
		}
		if got := -sum / float64(len(c.Batches)); math.Abs(got-c.LogLikelihood) > 1e-4*math.Max(1, math.Abs(c.LogLikelihood)) {
			t.Errorf("case %d: log-likelihood %.6f, reference %.6f", i, got, c.LogLikelihood)
		}
	}
}

// Sampled diffusion (Gumbel-max at temperature 0.8, on the device where
// the backend draws) depends on the seed alone: the same seed gives the
// same tokens, another seed other tokens, and no mask is left in the
// canvas.
func TestSampledDiffusionIsSeeded(t *testing.T) {
	m, g := lladaGoldens(t)
	prompt := g.FastDLLM[0].Prompt
	run := func(seed uint64) []int {
		o := decode.DiffusionOptions{GenLength: 16, Steps: 8, BlockLength: 8, Remasking: decode.LowConfidence,
			Cache: decode.CacheNone, Temperature: 0.8, Seed: seed}
		res, err := decode.Diffuse(m, testmodel.MustState(t)(decode.DiffusionState(m, 1, len(prompt), o)), [][]int{prompt}, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range res.IDs[0] {
			if id == m.Config.MaskID {
				t.Fatalf("seed %d: a mask left in %v", seed, res.IDs[0])
			}
		}
		return res.IDs[0]
	}
	a, b, c := run(1), run(1), run(2)
	if d := cmp.Diff(a, b); d != "" {
		t.Errorf("seed 1 twice (-first +second):\n%s", d)
	}
	if cmp.Equal(a, c) {
		t.Errorf("seeds 1 and 2 gave the same tokens %v", a)
	}
}
