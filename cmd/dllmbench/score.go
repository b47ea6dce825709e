package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"

	"dllmbench/compute/device"
	"dllmbench/decode"
	"dllmbench/model"
)

func init() {
	register(&command{
		name:    "score",
		summary: "log-likelihood and perplexity of a text given a context",
		usage:   "--model DIR [--context TEXT | --context-ids …] (--text TEXT | --ids …) [flags]",
		details: `A causal model (LLaMA) scores the text as lm-evaluation-harness's HFLM does:
  - --context and --text are encoded together and split (TemplateLM._encode_pair):
    the context's trailing whitespace moves to the text ("is " + "Paris" is
    scored as "is" + " Paris"), the whole is encoded with the tokenizer's
    special tokens (LLaMA-3's BOS, not doubled when the context starts with its
    text), and the text's tokens are those after the context's own encoding
    (where the two disagree, the context's last token merging with the text's
    first, a warning says so). Token ids (--context-ids, --ids) are taken as
    they are; --text alone is encoded without special tokens.
  - Without a context the text is predicted from the prefix token: the
    tokenizer's BOS, else its EOS (lm-evaluation-harness's prefix_token_id);
    a text that starts with it is predicted from that first token. Every
    token of the text is scored, a one-token text too. A text longer than the
    model's context is scored in loglikelihood_rolling's windows: each token
    predicted once, every window after the first given the model's full
    context. (lm-evaluation-harness since 0.4.10 encodes a rolling text with
    the tokenizer's BOS too, so for LLaMA-3 its first window is BOS BOS … and
    scores the BOS itself; here the BOS is the prefix only.)
  - With a context, context and text may hold one token more than the model's
    context; beyond it the context is cut from the left (its BOS too) with a
    warning; a text longer than the model's context is an error.
  - is_greedy: every scored token is its prediction's argmax. Log-probabilities
    are log-softmax in float64 of float32 logits, summed in float64.
LLaDA scores with the official get_log_likelihood's Monte-Carlo bound (an
upper bound on the NLL, estimated: --mc-samples, --seed): text pairs encoded
as LLaDA's eval_llada.py does (the same split, no prefix token), context and
text within the model's context; nll is minus the estimate. --check-greedy
adds eval_llada.py's is_greedy: the text decoded back one token a step.
Units: perplexity is per scored token, exp(nll/tokens). Given --text, also
lm-evaluation-harness's perplexity-task units over the text as given:
word_perplexity exp(nll/words), words = len(re.split(r"\s+", text));
byte_perplexity exp(nll/bytes), bytes of its UTF-8; bits_per_byte
nll/bytes/ln 2. A value that overflows is printed as +Inf (null in JSON).
`,
		examples: `  # per-token log-probabilities under a causal model
  dllmbench score --model ~/models/Meta-Llama-3-8B --context "The capital of France is" --text " Paris." --format json

  # perplexity of a document (rolling windows past the model's context), per token, word and byte
  dllmbench score --model meta-llama/Meta-Llama-3-8B --text "$(cat wiki.test.txt)"

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
	checkGreedy     bool
	format          string
	be              backendFlags
}

func setupScore(fs *flag.FlagSet) func(context.Context, []string) error {
	var f scoreFlags
	fs.StringVar(&f.model, "model", "", "model directory, Hugging Face id (org/name[@revision], from the cache), or builtin:demo-llama / builtin:demo-llada")
	fs.StringVar(&f.context, "context", "", "context text (encoded with --text as lm-evaluation-harness encodes a pair)")
	fs.Var(&f.contextIDs, "context-ids", "context as comma-separated token ids")
	fs.StringVar(&f.text, "text", "", "text to score")
	fs.Var(&f.ids, "ids", "text to score as comma-separated token ids")
	fs.IntVar(&f.mcSamples, "mc-samples", 128, "LLaDA: Monte-Carlo samples of the likelihood bound")
	fs.IntVar(&f.batchSize, "batch-size", 16, "LLaDA: samples per forward call")
	fs.Float64Var(&f.cfgScale, "cfg-scale", 0, "LLaDA: classifier-free guidance scale")
	fs.Uint64Var(&f.seed, "seed", 0, "LLaDA: random seed of the masks")
	fs.BoolVar(&f.checkGreedy, "check-greedy", false, "LLaDA: also report is_greedy, eval_llada.py's suffix_greedy_prediction (one forward call per text token)")
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
	// ContextIDs is the context the text is scored after: for a causal
	// model without one, the prefix token (or the text's first token).
	ContextIDs []int     `json:"context_ids"`
	IDs        []int     `json:"ids"` // the tokens scored
	LogProbs   []float64 `json:"token_logprobs,omitempty"`
	Scored     int       `json:"scored_tokens"`
	NLL        float64   `json:"nll"`
	Perplexity jsonFloat `json:"perplexity"` // per token
	// Causal: lm-evaluation-harness's is_greedy, the rolling windows, and
	// the context tokens cut from the left to fit.
	IsGreedy  *bool `json:"is_greedy,omitempty"`
	Windows   int   `json:"windows,omitempty"`
	Truncated int   `json:"truncated_tokens,omitempty"`
	// ContextMerged: the context's own encoding is not a prefix of the
	// pair's (see decode.EncodePair).
	ContextMerged bool `json:"context_merged,omitempty"`
	// Given --text: lm-evaluation-harness's perplexity-task units.
	Words          int        `json:"words,omitempty"`
	Bytes          int        `json:"bytes,omitempty"`
	WordPerplexity *jsonFloat `json:"word_perplexity,omitempty"`
	BytePerplexity *jsonFloat `json:"byte_perplexity,omitempty"`
	BitsPerByte    *jsonFloat `json:"bits_per_byte,omitempty"`
	// LLaDA: the Monte-Carlo bound and its batch losses.
	Method      string    `json:"method"`
	BatchLosses []float64 `json:"batch_losses,omitempty"`
}

// jsonFloat is a float64 that JSON writes as null when it is not finite (a
// perplexity that overflows), where encoding/json would fail.
type jsonFloat float64

func (x jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsInf(float64(x), 0) || math.IsNaN(float64(x)) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(x))
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
	causal := cfg.Family == model.Llama
	if causal {
		for _, name := range []string{"mc-samples", "batch-size", "cfg-scale", "seed", "check-greedy"} {
			if set[name] {
				return usagef("--%s applies to LLaDA's likelihood bound only; %s is causal", name, cfg.Arch)
			}
		}
	} else if f.batchSize < 1 || f.mcSamples < f.batchSize || f.mcSamples%f.batchSize != 0 {
		return usagef("--mc-samples %d must be a positive multiple of --batch-size %d", f.mcSamples, f.batchSize)
	}
	tok, err := loadTokenizer(dir)
	if err != nil {
		return err
	}
	if (f.context != "" || f.text != "") && tok == nil {
		return fmt.Errorf("%s has no tokenizer.json: give token ids with --context-ids and --ids", dir)
	}
	r := scoreResult{}
	var ctxIDs, ids []int
	if len(f.contextIDs) == 1 {
		ctxIDs = f.contextIDs[0]
	}
	if len(f.ids) == 1 {
		ids = f.ids[0]
	}
	switch {
	case f.text != "" && (f.context != "" || !causal && len(ctxIDs) == 0):
		// A text pair, or LLaDA's text alone: eval_llada.py encodes an empty
		// context as the pair's too.
		ctxIDs, ids, r.ContextMerged = decode.EncodePair(tok, f.context, f.text)
	case f.text != "":
		ids = tok.Encode(f.text, false)
	case f.context != "":
		ctxIDs = decode.EncodeDefault(tok, f.context)
	}
	if len(ids) == 0 {
		return usagef("the text to score has no tokens")
	}
	L := cfg.MaxSeqLen
	rolling := causal && len(ctxIDs) == 0
	if rolling {
		prefix := decode.PrefixToken(tok, cfg)
		if ctxIDs, ids = decode.PrefixContext(ids, prefix); len(ids) == 0 {
			if prefix < 0 {
				return usagef("nothing to score: %s has no BOS or EOS id to predict a text without context from, so its first token is the context, and the text has only one; give --context (or --context-ids)", cfg.Arch)
			}
			return usagef("nothing to score: the text is the token %d alone, the prefix a text without context is predicted from; give --context (or --context-ids)", prefix)
		}
	}
	switch n := len(ctxIDs) + len(ids); {
	case causal && !rolling && len(ids) > L:
		return usagef("the text's %d tokens exceed %s's context of %d: score it without a context, in rolling windows", len(ids), cfg.Arch, L)
	case !causal && n > L:
		return usagef("context and text hold %d tokens, more than %s's context of %d", n, cfg.Arch, L)
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
	r.ContextIDs, r.IDs = ctxIDs, ids
	if r.ContextMerged {
		slog.Warn("the context's last token merges with the text's first when encoded together: the text's tokens are those after the context's own encoding, as lm-evaluation-harness takes them", "context_ids", ctxIDs, "ids", ids)
	}
	if causal {
		rows := min(len(ctxIDs)+len(ids)-1, L)
		s, err := decode.ScoreState(m, 1, rows, 0)
		if err != nil {
			return err
		}
		defer s.Close()
		var sc decode.Score
		if rolling {
			sc, err = decode.LoglikelihoodRolling(ctx, m, s, ctxIDs[0], ids)
		} else {
			sc, err = decode.Loglikelihood(m, s, ctxIDs, ids)
		}
		if err != nil {
			return err
		}
		if sc.Truncated > 0 {
			slog.Warn(fmt.Sprintf("context and text exceed %s's context of %d: the context's first %d tokens were cut, as lm-evaluation-harness cuts them", cfg.Arch, L, sc.Truncated))
		}
		r.Method, r.LogProbs, r.Scored, r.NLL = "exact", sc.LogProbs, len(sc.LogProbs), sc.NLL()
		r.IsGreedy, r.Windows, r.Truncated = &sc.Greedy, sc.Windows, sc.Truncated
	} else {
		n := len(ctxIDs) + len(ids)
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
		if f.checkGreedy {
			g, err := decode.ScoreState(m, 1, n, f.cfgScale)
			if err != nil {
				return err
			}
			defer g.Close()
			greedy, err := decode.SuffixGreedy(ctx, m, g, ctxIDs, ids, f.cfgScale)
			if err != nil {
				return err
			}
			r.IsGreedy = &greedy
		}
	}
	r.Perplexity = jsonFloat(math.Exp(r.NLL / float64(r.Scored)))
	if f.text != "" {
		r.Words, r.Bytes = decode.CountWords(f.text), len(f.text)
		wp, bp, bpb := jsonFloat(math.Exp(r.NLL/float64(r.Words))), jsonFloat(math.Exp(r.NLL/float64(r.Bytes))), jsonFloat(r.NLL/float64(r.Bytes)/math.Ln2)
		r.WordPerplexity, r.BytePerplexity, r.BitsPerByte = &wp, &bp, &bpb
	}
	if f.format == "json" {
		return json.NewEncoder(out).Encode(r)
	}
	how := r.Method
	if r.Windows > 1 {
		how += fmt.Sprintf(", %d rolling windows", r.Windows)
	}
	fmt.Fprintf(out, "tokens     %d scored (%s)\nnll        %.6f\nperplexity %.6f per token\n", r.Scored, how, r.NLL, float64(r.Perplexity))
	if r.WordPerplexity != nil {
		fmt.Fprintf(out, "word perplexity %.6f (%d words)\nbyte perplexity %.6f (%d bytes)\nbits per byte   %.6f\n",
			float64(*r.WordPerplexity), r.Words, float64(*r.BytePerplexity), r.Bytes, float64(*r.BitsPerByte))
	}
	if r.IsGreedy != nil {
		fmt.Fprintf(out, "is greedy  %v\n", *r.IsGreedy)
	}
	return nil
}
