package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"slices"
	"time"

	"dllmbench/compute/device"
	"dllmbench/decode"
	"dllmbench/model"
	"dllmbench/tokenizer"
)

func init() {
	register(&command{
		name:    "generate",
		summary: "generate text with a LLaMA (autoregressive) or LLaDA (diffusion) model",
		usage:   "--model DIR (--prompt TEXT | --prompt-ids 1,2,3)... [flags]",
		examples: `  # greedy continuation with a causal model
  dllmbench generate --model ~/models/Meta-Llama-3-8B --prompt "The capital of France is" --gen-length 32

  # LLaDA's reference decoder: 128 tokens, 128 steps, blocks of 32
  dllmbench generate --model GSAI-ML/LLaDA-8B-Base --prompt "Once upon a time" --steps 128 --block-length 32

  # Fast-dLLM: dual cache and confidence-threshold parallel decoding, JSON out
  dllmbench generate --model GSAI-ML/LLaDA-8B-Base --prompt "Q: 2+2?" --block-length 32 \
      --cache dual --threshold 0.9 --format json

  # a batch of two prompts given as token ids, sampled
  dllmbench generate --model ./tiny --prompt-ids 1,5,9 --prompt-ids 1,7 --temperature 0.8 --top-p 0.9 --seed 3

  # the built-in demo LLaDA, nothing to download
  dllmbench generate --model builtin:demo-llada --prompt "The game was" --gen-length 16 --steps 8
`,
		setup: setupGenerate,
	})
}

type generateFlags struct {
	model       string
	prompts     stringList
	promptIDs   idList
	genLength   int
	steps       int
	blockLength int
	remasking   string
	cfgScale    float64
	temperature float64
	topK        int
	topP        float64
	seed        uint64
	ignoreEOS   bool
	cache       string
	threshold   float64
	factor      float64
	format      string
	be          backendFlags
}

func setupGenerate(fs *flag.FlagSet) func(context.Context, []string) error {
	var f generateFlags
	fs.StringVar(&f.model, "model", "", "model directory, Hugging Face id (org/name[@revision], from the cache), or builtin:demo-llama / builtin:demo-llada")
	fs.Var(&f.prompts, "prompt", "prompt text, encoded like HF tokenizer(text) (repeat for a batch)")
	fs.Var(&f.promptIDs, "prompt-ids", "prompt as comma-separated token ids, used verbatim (repeat for a batch)")
	fs.IntVar(&f.genLength, "gen-length", 128, "tokens to generate")
	fs.IntVar(&f.steps, "steps", 0, "diffusion: sampling steps over the whole generation, a multiple of the blocks (default: gen-length; not with --threshold or --factor)")
	fs.IntVar(&f.blockLength, "block-length", 0, "diffusion: block length (default: gen-length)")
	fs.StringVar(&f.remasking, "remasking", "low_confidence", "diffusion: low_confidence or random")
	fs.Float64Var(&f.cfgScale, "cfg-scale", 0, "diffusion: classifier-free guidance scale")
	fs.Float64Var(&f.temperature, "temperature", 0, "sampling temperature (0: greedy; diffusion: Gumbel-max in float64, as LLaDA's generate)")
	fs.IntVar(&f.topK, "top-k", 0, "autoregressive: sample from the k most likely tokens and those tied with the k-th (0: all, where transformers' generate defaults to 50)")
	fs.Float64Var(&f.topP, "top-p", 1, "autoregressive: sample from the smallest set of most likely tokens whose probability reaches this, after top-k, as transformers' generate")
	fs.Uint64Var(&f.seed, "seed", 0, "random seed")
	fs.BoolVar(&f.ignoreEOS, "ignore-eos", false, "autoregressive: generate gen-length tokens, on past any EOS (vLLM's ignore_eos; transformers' min_new_tokens forbids EOS instead)")
	fs.StringVar(&f.cache, "cache", "none", "diffusion: Fast-dLLM cache: none, prefix or dual")
	fs.Float64Var(&f.threshold, "threshold", 0, "diffusion: commit every token whose confidence reaches this, in (0, 1], and at least the most confident one (Fast-dLLM)")
	fs.Float64Var(&f.factor, "factor", 0, "diffusion: Fast-dLLM's factor rule: commit the n most confident tokens while the n-th reaches 1 − factor/(n+1)")
	fs.StringVar(&f.format, "format", "text", "output: text or json (one object per prompt per line)")
	f.be.register(fs)
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q", args[0])
		}
		return runGenerate(ctx, &f, setFlags(fs))
	}
}

var (
	diffusionOnly = []string{"steps", "block-length", "remasking", "cfg-scale", "cache", "threshold", "factor"}
	causalOnly    = []string{"top-k", "top-p", "ignore-eos"}
)

// generation is one prompt's result as --format json prints it.
type generation struct {
	Prompt        int       `json:"prompt_index"`
	PromptIDs     []int     `json:"prompt_ids"`
	OutputIDs     []int     `json:"output_ids"`
	Text          *string   `json:"text,omitempty"`
	NFE           int       `json:"nfe"`
	TokensPerStep []int     `json:"tokens_per_step,omitempty"`
	Timings       genTiming `json:"timings"`
	Backend       string    `json:"backend"`
}

type genTiming struct {
	LoadMS     float64 `json:"load_ms"`
	TTFTMS     float64 `json:"ttft_ms,omitempty"`
	TotalMS    float64 `json:"total_ms"`
	TokensPerS float64 `json:"tokens_per_s"`
}

func runGenerate(ctx context.Context, f *generateFlags, set map[string]bool) error {
	if f.format != "text" && f.format != "json" {
		return usagef("--format %q: want text or json", f.format)
	}
	if len(f.prompts) > 0 && len(f.promptIDs) > 0 {
		return usagef("give prompts either as --prompt or as --prompt-ids, not both")
	}
	if len(f.prompts) == 0 && len(f.promptIDs) == 0 {
		return usagef("no prompt: give --prompt TEXT or --prompt-ids 1,2,3")
	}
	if f.genLength < 1 {
		return usagef("--gen-length %d: want at least 1", f.genLength)
	}
	if f.steps < 0 || f.blockLength < 0 {
		return usagef("--steps %d and --block-length %d: want at least 1, or leave them out for gen-length", f.steps, f.blockLength)
	}
	dir, err := resolveModel(f.model)
	if err != nil {
		return err
	}
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		return err
	}
	wrong := causalOnly
	if cfg.Family == model.Llama {
		wrong = diffusionOnly
	}
	for _, name := range wrong {
		if set[name] {
			return usagef("--%s does not apply to %s, a %s model", name, cfg.Arch, cfg.Family)
		}
	}
	// Fast-dLLM's rules commit what their confidences allow, step after
	// step, until the block is done: no step count is kept.
	for _, r := range []struct {
		name string
		v    float64
	}{{"threshold", f.threshold}, {"factor", f.factor}} {
		if set["steps"] && r.v != 0 {
			return usagef("--steps does not apply with --%s, which commits tokens until the block is done", r.name)
		}
	}
	tok, err := loadTokenizer(dir)
	if err != nil {
		return err
	}
	prompts := [][]int(f.promptIDs)
	if len(f.prompts) > 0 {
		if tok == nil {
			return fmt.Errorf("%s has no tokenizer.json: give the prompt as --prompt-ids", dir)
		}
		for _, p := range f.prompts {
			prompts = append(prompts, tok.Encode(p, true))
		}
	}
	lopt, err := f.be.loadOptions()
	if err != nil {
		return err
	}
	// Validate the decoding request before loading weights.
	dopt := decode.DiffusionOptions{GenLength: f.genLength, Steps: f.steps, BlockLength: f.blockLength,
		Remasking: decode.Remasking(f.remasking), Temperature: f.temperature, CFGScale: f.cfgScale,
		Cache: decode.Cache(f.cache), Threshold: f.threshold, Factor: f.factor, Seed: f.seed}
	if dopt.Steps == 0 {
		dopt.Steps = f.genLength
	}
	if dopt.BlockLength == 0 {
		dopt.BlockLength = f.genLength
	}
	// Written so that NaN fails every test: it compares false with anything.
	if !(f.temperature >= 0) || math.IsInf(f.temperature, 0) || f.topK < 0 || !(f.topP > 0 && f.topP <= 1) {
		return usagef("--temperature must be finite and ≥ 0, --top-k ≥ 0 and --top-p in (0, 1] (got %g, %d and %g)", f.temperature, f.topK, f.topP)
	}
	if f.temperature == 0 && (f.topK > 0 || f.topP < 1) {
		return usagef("--top-k and --top-p restrict sampling: give --temperature > 0 too (0 is greedy)")
	}
	if err := dopt.Check(); err != nil && cfg.Family == model.LLaDA {
		return usagef("%v", err)
	}
	b, info, err := f.be.open()
	if err != nil {
		return err
	}
	defer device.Close(b)
	t0 := time.Now()
	m, err := model.Load(dir, b, lopt)
	if err != nil {
		return err
	}
	defer m.Close()
	load := time.Since(t0)
	promptLen := 0
	for _, p := range prompts {
		promptLen = max(promptLen, len(p))
	}
	var gens []generation
	if cfg.Family == model.LLaDA {
		if err := decode.CheckDiffusion(m, prompts, dopt); err != nil {
			return err
		}
		s, err := decode.DiffusionState(m, len(prompts), promptLen, dopt)
		if err != nil {
			return err
		}
		defer s.Close()
		t1 := time.Now()
		res, err := decode.DiffuseContext(ctx, m, s, prompts, dopt)
		if err != nil {
			return err
		}
		total := time.Since(t1)
		for i, p := range prompts {
			gens = append(gens, generation{Prompt: i, PromptIDs: p, OutputIDs: res.IDs[i], NFE: res.NFE[i],
				TokensPerStep: res.TokensPerStep[i], Timings: genTiming{TotalMS: ms(total),
					TokensPerS: float64(f.genLength*len(prompts)) / total.Seconds()}})
		}
	} else {
		if err := decode.CheckAR(m, prompts, f.genLength); err != nil {
			return err
		}
		s, err := decode.ARState(m, len(prompts), promptLen, f.genLength, 0)
		if err != nil {
			return err
		}
		defer s.Close()
		t1 := time.Now()
		// TTFT from the clock the total is timed on (decode.AROptions.Start).
		res, err := decode.GenerateContext(ctx, m, s, prompts, decode.AROptions{MaxNew: f.genLength, IgnoreEOS: f.ignoreEOS,
			Sampler: decode.NewSampler(f.temperature, f.topK, f.topP, f.seed), Start: t1})
		if err != nil {
			return err
		}
		total := time.Since(t1)
		n := 0
		for _, ids := range res.IDs {
			n += len(ids)
		}
		for i, p := range prompts {
			gens = append(gens, generation{Prompt: i, PromptIDs: p, OutputIDs: res.IDs[i], NFE: res.NFE,
				Timings: genTiming{TTFTMS: ms(res.Prefill), TotalMS: ms(total), TokensPerS: float64(n) / total.Seconds()}})
		}
	}
	enc := json.NewEncoder(out)
	for i := range gens {
		g := &gens[i]
		g.Timings.LoadMS, g.Backend = ms(load), info.Backend
		if tok != nil {
			text := decodeText(tok, &m.Config, g.OutputIDs)
			g.Text = &text
		}
		if f.format == "json" {
			if err := enc.Encode(g); err != nil {
				return err
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(out)
		}
		if g.Text != nil {
			fmt.Fprintln(out, *g.Text)
		} else {
			fmt.Fprintln(out, jsonInts(g.OutputIDs))
		}
	}
	return nil
}

// decodeText is the text a user reads: the generated ids up to the first
// end-of-sequence token (LLaDA pads its canvas with EOS), special tokens
// left out, as transformers' decode gives it (tokenizer.Decode).
func decodeText(tok *tokenizer.Tokenizer, c *model.Config, ids []int) string {
	if i := slices.IndexFunc(ids, c.IsEOS); i >= 0 {
		ids = ids[:i]
	}
	return tok.Decode(ids, true)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func jsonInts(v []int) string {
	b, _ := json.Marshal(v)
	return string(b)
}
