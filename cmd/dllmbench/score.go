package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"

	"dllmbench/compute/device"
	"dllmbench/decode"
	"dllmbench/model"
)

func init() {
	register(&command{
		name:    "score",
		summary: "log-likelihood and perplexity of a text given a context",
		usage:   "--model DIR [--context TEXT | --context-ids …] (--text TEXT | --ids …) [flags]",
		examples: `  # per-token log-probabilities under a causal model
  dllmbench score --model ~/models/Meta-Llama-3-8B --context "The capital of France is" --text " Paris." --format json

  # LLaDA's Monte-Carlo likelihood bound (128 samples in batches of 16)
  dllmbench score --model GSAI-ML/LLaDA-8B-Base --context "Roof shingle removal: A man is sitting on a roof. He" \
      --text " is using wrap to wrap a pair of skis." --mc-samples 128
`,
		setup: setupScore,
	})
}

type scoreFlags struct {
	model           string
	context, text   string
	contextIDs, ids idList
	mcSamples       int
	batchSize       int
	cfgScale        float64
	seed            uint64
	format          string
	be              backendFlags
}

func setupScore(fs *flag.FlagSet) func(context.Context, []string) error {
	var f scoreFlags
	fs.StringVar(&f.model, "model", "", "model directory, Hugging Face id, or builtin:demo-llama / builtin:demo-llada")
	fs.StringVar(&f.context, "context", "", "context text (encoded with the tokenizer's special tokens)")
	fs.Var(&f.contextIDs, "context-ids", "context as comma-separated token ids")
	fs.StringVar(&f.text, "text", "", "text to score (encoded without special tokens)")
	fs.Var(&f.ids, "ids", "text to score as comma-separated token ids")
	fs.IntVar(&f.mcSamples, "mc-samples", 128, "LLaDA: Monte-Carlo samples of the likelihood bound")
	fs.IntVar(&f.batchSize, "batch-size", 16, "LLaDA: samples per forward call")
	fs.Float64Var(&f.cfgScale, "cfg-scale", 0, "LLaDA: classifier-free guidance scale")
	fs.Uint64Var(&f.seed, "seed", 0, "LLaDA: random seed of the masks")
	fs.StringVar(&f.format, "format", "text", "output: text or json")
	f.be.register(fs)
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q", args[0])
		}
		return runScore(ctx, &f, setFlags(fs))
	}
}

// scoreResult is what --format json prints.
type scoreResult struct {
	ContextIDs []int     `json:"context_ids"`
	IDs        []int     `json:"ids"`
	LogProbs   []float64 `json:"token_logprobs,omitempty"`
	Scored     int       `json:"scored_tokens"`
	NLL        float64   `json:"nll"`
	Perplexity float64   `json:"perplexity"`
	// LLaDA: the Monte-Carlo bound and its batch losses.
	Method      string    `json:"method"`
	BatchLosses []float64 `json:"batch_losses,omitempty"`
}

func runScore(ctx context.Context, f *scoreFlags, set map[string]bool) error {
	if f.format != "text" && f.format != "json" {
		return usagef("--format %q: want text or json", f.format)
	}
	if (f.text != "") == (len(f.ids) > 0) || len(f.ids) > 1 {
		return usagef("give the text to score once, as --text or --ids")
	}
	if f.context != "" && len(f.contextIDs) > 0 || len(f.contextIDs) > 1 {
		return usagef("give the context once, as --context or --context-ids")
	}
	if !(f.cfgScale >= 0) || math.IsInf(f.cfgScale, 1) { // NaN fails ≥ too
		return usagef("--cfg-scale %g: want a finite number ≥ 0 (0: no guidance)", f.cfgScale)
	}
	dir, err := resolveModel(f.model)
	if err != nil {
		return err
	}
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		return err
	}
	if cfg.Family == model.Llama {
		for _, name := range []string{"mc-samples", "batch-size", "cfg-scale", "seed"} {
			if set[name] {
				return usagef("--%s applies to LLaDA's likelihood bound only; %s is causal", name, cfg.Arch)
			}
		}
	}
	tok, err := loadTokenizer(dir)
	if err != nil {
		return err
	}
	var ctxIDs, ids []int
	if len(f.contextIDs) == 1 {
		ctxIDs = f.contextIDs[0]
	}
	if len(f.ids) == 1 {
		ids = f.ids[0]
	}
	if f.context != "" || f.text != "" {
		if tok == nil {
			return fmt.Errorf("%s has no tokenizer.json: give token ids with --context-ids and --ids", dir)
		}
		if f.context != "" {
			ctxIDs = tok.Encode(f.context, true)
		}
		if f.text != "" {
			ids = tok.Encode(f.text, false)
		}
	}
	if len(ids) == 0 {
		return usagef("the text to score has no tokens")
	}
	if cfg.Family == model.Llama && len(ctxIDs) == 0 && len(ids) == 1 {
		// decode.CausalScore scores the first token from the context only.
		return usagef("no context: a causal model scores each token from the ones before it, and the text has only one; give --context (or --context-ids with the BOS id)")
	}
	lopt, err := f.be.loadOptions()
	if err != nil {
		return err
	}
	b, _, err := f.be.open()
	if err != nil {
		return err
	}
	defer device.Close(b)
	m, err := model.Load(dir, b, lopt)
	if err != nil {
		return err
	}
	defer m.Close()
	r := scoreResult{ContextIDs: ctxIDs, IDs: ids}
	n := len(ctxIDs) + len(ids)
	if cfg.Family == model.Llama {
		s, err := decode.ScoreState(m, 1, n, 0)
		if err != nil {
			return err
		}
		defer s.Close()
		lp, err := decode.CausalScore(m, s, ctxIDs, ids)
		if err != nil {
			return err
		}
		r.Method, r.LogProbs, r.Scored = "exact", lp, len(lp)
		for _, v := range lp {
			r.NLL -= v
		}
	} else {
		if f.batchSize < 1 || f.mcSamples < f.batchSize || f.mcSamples%f.batchSize != 0 {
			return usagef("--mc-samples %d must be a positive multiple of --batch-size %d", f.mcSamples, f.batchSize)
		}
		s, err := decode.ScoreState(m, f.batchSize, n, f.cfgScale)
		if err != nil {
			return err
		}
		defer s.Close()
		ll, losses, err := decode.LogLikelihoodContext(ctx, m, s, ctxIDs, ids, f.mcSamples, f.batchSize, f.cfgScale, f.seed)
		if err != nil {
			return err
		}
		r.Method, r.NLL, r.BatchLosses, r.Scored = "monte-carlo bound", -ll, losses, len(ids)
	}
	if r.Scored > 0 {
		r.Perplexity = math.Exp(r.NLL / float64(r.Scored))
	}
	if f.format == "json" {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	fmt.Printf("tokens     %d scored (%s)\nnll        %.6f\nperplexity %.6f\n", r.Scored, r.Method, r.NLL, r.Perplexity)
	return nil
}
