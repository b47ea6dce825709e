package quality_test

import (
	"context"
	"testing"
	"time"

	"dllmbench/bench"
	"dllmbench/compute/device"
	"dllmbench/quality"
)

// The quality-versus-compute trade-off the project exists to measure, on the
// demo pair of the embedded default grid: LLaDA decoding one token per step
// (32 steps for 32 tokens) must be judged better by the demo LLaMA than
// decoding eight tokens per step (4 steps), by more than both 95% intervals.
// A failure means the demo pair no longer shows the trade-off: retrain it
// (scripts/golden/train_demo.py), do not loosen this test.
func TestStepsTradeOffOnDemoPair(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and judges 42 sequences on the CPU")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	start := time.Now()
	g := &bench.Grid{
		Name:          "tradeoff",
		Models:        []bench.ModelSpec{{ID: "builtin:demo-llada"}},
		Backend:       "cpu",
		Prompts:       bench.PromptSpec{Source: "builtin"}, // all 21 held-out prompts
		BatchSizes:    []int{4},
		PromptLengths: []int{32}, // the default grid's
		GenLengths:    []int{32},
		Diffusion:     bench.DiffusionAxes{Steps: []int{4, 32}, BlockLength: []int{32}, Cache: []string{"none"}},
		Repetitions:   1,
	}
	dir := t.TempDir()
	dev := device.Options{Backend: "cpu"}
	if _, err := bench.Run(context.Background(), g, bench.Options{OutputDir: dir, Device: dev}); err != nil {
		t.Fatal(err)
	}
	recs, err := bench.ReadRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := quality.Compute(context.Background(), bench.Latest(recs), quality.Options{Judge: "builtin:demo-llama", Device: dev})
	if err != nil {
		t.Fatal(err)
	}
	ppl := map[int]*quality.Perplexity{}
	for _, c := range m.Cells {
		if c.Perplexity == nil {
			t.Fatalf("%s: no judge perplexity", c.Name)
		}
		ppl[c.Cell.Steps] = c.Perplexity
		t.Logf("%s: judge PPL %.3f [%.3f, %.3f] over %d sequences (%d empty), entropy %.3f bits, BLEU %.2f",
			c.Name, c.Perplexity.PPL.Value, c.Perplexity.PPL.Lo, c.Perplexity.PPL.Hi, c.Perplexity.Sequences,
			c.Perplexity.Empty, c.Metrics[quality.MEntropy].Value, c.Metrics[quality.MBLEU].Value)
	}
	fine, coarse := ppl[32], ppl[4]
	if fine == nil || coarse == nil {
		t.Fatalf("cells measured: %d, want steps 4 and 32", len(m.Cells))
	}
	if fine.Sequences < 16 || coarse.Sequences < 16 {
		t.Errorf("only %d and %d sequences judged, want at least 16 of 21", fine.Sequences, coarse.Sequences)
	}
	if !(fine.PPL.Hi < coarse.PPL.Lo) {
		t.Errorf("steps 32: PPL %.3f [%.3f, %.3f]; steps 4: PPL %.3f [%.3f, %.3f]: want the first interval wholly below the second",
			fine.PPL.Value, fine.PPL.Lo, fine.PPL.Hi, coarse.PPL.Value, coarse.PPL.Lo, coarse.PPL.Hi)
	}
	t.Logf("generation and judging took %v", time.Since(start).Round(time.Millisecond))
}
