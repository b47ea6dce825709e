package quality

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"dllmbench/bench"
	"dllmbench/compute"
	"dllmbench/decode"
	"dllmbench/model"
	"dllmbench/prompts"
	"dllmbench/tokenizer"
)

// SeqNLL is one generation scored by a judge: the negative log-likelihood
// in nats of its tokens and how many tokens were scored. Tokens = 0 marks
// an empty generation, which is counted but not scored.
type SeqNLL struct {
	NLL    float64
	Tokens int
}

// Perplexity is the generative perplexity of a cell under a judge model.
type Perplexity struct {
	// PPL = exp(Σ NLL / Σ tokens) over the cell's generations, with its
	// bootstrap interval over prompts (empty generations resampled too,
	// adding nothing to either sum).
	PPL       Interval `json:"ppl"`
	NLL       Number   `json:"nll"`       // Σ NLL in nats
	Tokens    int      `json:"tokens"`    // Σ tokens scored (the judge's tokens)
	Sequences int      `json:"sequences"` // generations scored
	Empty     int      `json:"empty"`     // generations with no token (EOS at once): not scored
	// Truncated counts generations whose prompt was cut from the left to
	// fit the judge's context window (or dropped, for a continuation that
	// fills it alone and is scored in rolling windows).
	Truncated int `json:"truncated,omitempty"`
}

// GenPerplexity aggregates per-generation scores into the cell's
// perplexity, exp(Σ NLL / Σ tokens): a token-weighted mean of the
// log-likelihood, so long generations count for more (MDLM's gen-PPL, not
// SEDD's mean of per-sequence perplexities). The interval resamples
// generations with b and recomputes the ratio; a resample of empty
// generations only has no value and is left out.
func GenPerplexity(seqs []SeqNLL, b Bootstrap) Perplexity {
	var p Perplexity
	for _, s := range seqs {
		if s.Tokens == 0 {
			p.Empty++
			continue
		}
		p.NLL += Number(s.NLL)
		p.Tokens += s.Tokens
		p.Sequences++
	}
	p.PPL = b.Interval(len(seqs), func(idx []int) float64 {
		var nll float64
		var tok int
		for _, i := range idx {
			nll += seqs[i].NLL
			tok += seqs[i].Tokens
		}
		if tok == 0 {
			return math.NaN()
		}
		return math.Exp(nll / float64(tok))
	})
	return p
}

// JudgeInfo identifies the judge model in quality_metrics.json.
type JudgeInfo struct {
	ID        string `json:"id"`
	Revision  string `json:"revision,omitempty"` // hub snapshot commit, when taken from the records
	Dir       string `json:"dir"`
	Arch      string `json:"arch"`
	WeightDT  string `json:"weight_dtype"`
	ConfigSHA string `json:"config_sha256"`
	TokSHA    string `json:"tokenizer_sha256"`
	Backend   string `json:"backend"`
}

// Judge is a causal model that scores generated text (generative
// perplexity). Text from any generating model is re-tokenized with the
// judge's own tokenizer, so models with different vocabularies are judged
// alike. A Judge is not safe for concurrent use.
type Judge struct {
	Info JudgeInfo
	m    *model.Model
	tok  *tokenizer.Tokenizer
	s    *model.State // B=1, grown to the longest sequence scored so far
	n    int          // tokens s holds
}

// LoadJudge loads the causal model id (a model directory, a Hugging Face id
// in the hub cache, or a built-in demo model) onto b.
func LoadJudge(id string, b compute.Backend, opt model.LoadOptions) (*Judge, error) {
	return loadJudge(bench.ModelSpec{ID: id}, b, opt)
}

// loadJudge loads a judge at a hub revision (a records' snapshot commit).
func loadJudge(spec bench.ModelSpec, b compute.Backend, opt model.LoadOptions) (*Judge, error) {
	id := spec.ID
	dir, cfg, err := locateJudge(spec)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("quality: judge %s: %w", id, err)
	}
	m, err := model.Load(dir, b, opt)
	if err != nil {
		return nil, fmt.Errorf("quality: judge %s: %w", id, err)
	}
	info := JudgeInfo{ID: id, Revision: spec.Revision, Dir: dir, Arch: cfg.Arch, WeightDT: m.Weights.Layers[0].WQ.DType().String(),
		ConfigSHA: bench.FileSHA(filepath.Join(dir, "config.json")), TokSHA: bench.FileSHA(filepath.Join(dir, "tokenizer.json"))}
	return &Judge{Info: info, m: m, tok: tok}, nil
}

// locateJudge finds a judge's directory and reads its config, checking
// what can be checked without its weights: a causal model with a
// tokenizer.
func locateJudge(spec bench.ModelSpec) (string, *model.Config, error) {
	id := spec.ID
	dir, err := bench.Locate(spec)
	if err != nil {
		return "", nil, fmt.Errorf("quality: judge %s: %w", id, err)
	}
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		return "", nil, fmt.Errorf("quality: judge %s: %w", id, err)
	}
	if !cfg.Family.Causal() {
		return "", nil, fmt.Errorf("quality: judge %s is %s (%s): generative perplexity needs a causal model", id, cfg.Arch, cfg.Family)
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
		return "", nil, fmt.Errorf("quality: judge %s has no tokenizer.json to re-tokenize generations with", id)
	}
	return dir, cfg, nil
}

// Check finds the judge and the task file that o names, as [Compute]
// would, without loading weights or opening a device: the judge is located
// (built-in, directory or the hub cache, never the network) and its config
// read; the task file is read and parsed. A run checks its grid's quality
// section so before it measures, since Compute runs only after every
// measurement. An empty judge (the records' first causal model) or
// NoJudge passes.
func Check(o Options) error {
	if o.Task != "" {
		if _, err := prompts.LoadProblems(o.Task); err != nil {
			return fmt.Errorf("quality: task: %w", err)
		}
	}
	if o.Judge != "" && o.Judge != NoJudge {
		if _, _, err := locateJudge(bench.ModelSpec{ID: o.Judge}); err != nil {
			return err
		}
	}
	return nil
}

// Close frees the judge's weights and state.
func (j *Judge) Close() error {
	if j.s != nil {
		j.s.Close()
		j.s = nil
	}
	return j.m.Close()
}

// Score returns the NLL of continuation given prompt under the judge: the
// prompt encoded as transformers' tokenizer(prompt) (with its BOS), the
// continuation on its own without special tokens, and every continuation
// token scored. An empty prompt is lm-evaluation-harness's empty context:
// the continuation is predicted from the judge's BOS (else EOS) token, even
// where its tokenizer adds none (GPT-2's). An empty continuation scores
// {0, 0}.
//
// Unlike lm-evaluation-harness's loglikelihood, the two are not encoded
// together and split: prompts are cut from a document at the generating
// model's token boundaries, often inside a word ("Vandeg" + "rift"), where
// the split would attribute the word's first token to the prompt and drop it
// from the continuation; the continuation is scored as the judge tokenizes
// it alone.
//
// Prompt and continuation may hold one token more than the judge's context
// (the last token is predicted, not run on). Beyond it the prompt is cut
// from the left (its BOS kept, which lm-evaluation-harness cuts too); a
// continuation that fills the judge's context on its own is scored without
// its prompt in lm-evaluation-harness's rolling windows after the prompt's
// first token ([decode.RollingWindows]: each token once, each window after
// the first with the judge's full context before its last token), as
// 'dllmbench score' scores a long text. truncated says that the prompt was
// cut; every continuation token is scored.
func (j *Judge) Score(prompt, continuation string) (s SeqNLL, truncated bool, err error) {
	text := j.tok.Encode(continuation, false)
	if len(text) == 0 {
		return SeqNLL{}, false, nil
	}
	var ctx []int
	if prompt != "" {
		ctx = decode.EncodeDefault(j.tok, prompt)
	}
	if len(ctx) == 0 {
		ctx, text = decode.PrefixContext(text, decode.PrefixToken(j.tok, &j.m.Config))
		if len(text) == 0 { // the continuation is the prefix token alone
			return SeqNLL{}, false, nil
		}
	}
	limit := j.m.Config.MaxSeqLen + 1
	rolling := len(text) >= limit
	if keep := max(limit-len(text), 1); keep < len(ctx) {
		// BOS or the first token, then the last that fit; rolling windows
		// take the first as their prefix.
		ctx, truncated = append(ctx[:1:1], ctx[len(ctx)-(keep-1):]...), true
	}
	if err := j.grow(min(len(ctx)+len(text)-1, limit-1)); err != nil {
		return SeqNLL{}, truncated, err
	}
	var lp []float64
	if rolling {
		var sc decode.Score
		sc, err = decode.LoglikelihoodRolling(context.Background(), j.m, j.s, ctx[0], text)
		lp = sc.LogProbs
	} else {
		lp, err = decode.CausalScore(j.m, j.s, ctx, text)
	}
	if err != nil {
		return SeqNLL{}, truncated, err
	}
	for _, v := range lp {
		s.NLL -= v
	}
	s.Tokens = len(lp)
	return s, truncated, nil
}

// grow makes the judge's state hold n tokens at least, doubling it so that
// a cell's generations of growing lengths reallocate it seldom.
func (j *Judge) grow(n int) error {
	if j.s != nil && j.n >= n {
		return nil
	}
	if j.s != nil {
		j.s.Close()
		j.s = nil
	}
	j.n = min(max(n, 2*j.n), j.m.Config.MaxSeqLen)
	var err error
	j.s, err = decode.ScoreState(j.m, 1, j.n, 0)
	return err
}

// Perplexity scores the continuations of a cell given their prompts and
// aggregates them with [GenPerplexity].
func (j *Judge) Perplexity(prompts, continuations []string, b Bootstrap) (Perplexity, error) {
	if len(prompts) != len(continuations) {
		panic(fmt.Sprintf("quality: %d prompts for %d continuations", len(prompts), len(continuations)))
	}
	seqs := make([]SeqNLL, len(prompts))
	truncated := 0
	for i := range prompts {
		if err := b.context().Err(); err != nil {
			return Perplexity{}, err
		}
		s, cut, err := j.Score(prompts[i], continuations[i])
		if err != nil {
			return Perplexity{}, fmt.Errorf("quality: judge %s, generation %d: %w", j.Info.ID, i, err)
		}
		seqs[i] = s
		if cut {
			truncated++
		}
	}
	p := GenPerplexity(seqs, b)
	p.Truncated = truncated
	return p, nil
}
