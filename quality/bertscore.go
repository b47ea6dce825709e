package quality

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"dllmbench/compute/device"
	"dllmbench/hub"
	"dllmbench/internal/files"
	"dllmbench/model"
	"dllmbench/tokenizer"
)

// DefaultEncoder is bert_score's encoder for English.
const DefaultEncoder = "roberta-large"

// ErrNoEncoder is wrapped by the errors of FindEncoder and OpenBERTScorer
// when the encoder's files are not on this machine: a caller for which
// BERTScore is optional skips it and says so.
var ErrNoEncoder = errors.New("BERTScore encoder not found")

// bertScoreLayers are bert_score's default layers (model2layers in
// bert_score/utils.py) of the encoders this engine runs.
var bertScoreLayers = map[string]int{
	"roberta-base": 10, "roberta-large": 17, "roberta-large-mnli": 19, "distilroberta-base": 5,
}

// encoderAliases maps the legacy hub names bert_score uses to the
// repositories the hub keeps them under now.
var encoderAliases = map[string]string{
	"roberta-base":       "FacebookAI/roberta-base",
	"roberta-large":      "FacebookAI/roberta-large",
	"roberta-large-mnli": "FacebookAI/roberta-large-mnli",
	"distilroberta-base": "distilbert/distilroberta-base",
}

// DefaultLayer is bert_score's layer for an encoder named by its hub id
// (legacy or current: roberta-large or FacebookAI/roberta-large).
func DefaultLayer(id string) (int, bool) {
	// A snapshot directory of the cache names its repository:
	// …/models--FacebookAI--roberta-large/snapshots/<commit>.
	if dir, _, ok := strings.Cut(filepath.ToSlash(id), "/snapshots/"); ok {
		if _, repo, ok := strings.Cut(filepath.Base(dir), "models--"); ok {
			id = strings.ReplaceAll(repo, "--", "/")
		}
	}
	name := id
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		if a, ok := encoderAliases[id[i+1:]]; !ok || a != id {
			return 0, false
		}
		name = id[i+1:]
	}
	l, ok := bertScoreLayers[name]
	return l, ok
}

// Baseline is bert_score's rescaling baseline of an encoder and layer: the
// mean P, R and F1 of unrelated sentence pairs. bert_score ships them in
// rescale_baseline/<lang>/<model>.tsv.
type Baseline struct {
	P float64 `json:"p"`
	R float64 `json:"r"`
	F float64 `json:"f"`
}

// RobertaLarge17 is roberta-large's English baseline at layer 17, row 17
// of bert_score's rescale_baseline/en/roberta-large.tsv.
var RobertaLarge17 = Baseline{P: 0.83150584, R: 0.8314941, F: 0.83122575}

// PRF is the BERTScore of one hypothesis against its reference.
type PRF struct {
	P float64 `json:"precision"`
	R float64 `json:"recall"`
	F float64 `json:"f1"`
}

// FindEncoder returns the directory of an encoder (a directory, or a hub id
// resolved in the Hugging Face cache; the legacy names bert_score uses,
// such as roberta-large, are also looked up under their current
// repository). It needs config.json, tokenizer.json and safetensors
// weights; when they are missing the error wraps ErrNoEncoder, and for a
// hub id says how to fetch them. It never touches the network.
func FindEncoder(id string) (string, error) {
	if id == "" {
		id = DefaultEncoder
	}
	cands := []string{id}
	if a, ok := encoderAliases[id]; ok {
		cands = []string{a, id}
	}
	hc, err := hub.New(hub.Options{Offline: true})
	if err != nil {
		return "", fmt.Errorf("quality: BERTScore encoder %s: %w", id, err)
	}
	var why, uncached []string
	fetch := false // a hub id, which 'dllmbench fetch' can complete; not a directory
	for _, c := range cands {
		dir, err := hc.ResolveModel(c)
		if errors.Is(err, hub.ErrNotCached) {
			uncached = append(uncached, c)
			continue
		}
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		if missing := missingEncoderFiles(dir); len(missing) > 0 {
			why = append(why, fmt.Sprintf("%s lacks %s", dir, strings.Join(missing, ", ")))
			fetch = fetch || dir != c // a snapshot in the cache
			continue
		}
		return dir, nil
	}
	if len(uncached) > 0 {
		what := uncached[0] + " is not"
		if len(uncached) > 1 {
			what = "neither " + strings.Join(uncached, " nor ") + " is"
		}
		why = append(why, fmt.Sprintf("%s in the Hugging Face cache %s", what, hc.Cache))
		fetch = true
	}
	if !fetch {
		return "", fmt.Errorf("quality: %w: %s", ErrNoEncoder, strings.Join(why, "; "))
	}
	return "", fmt.Errorf("quality: %w: %s; fetch %s (config.json, tokenizer.json, model.safetensors), e.g. with 'dllmbench fetch --model %s'",
		ErrNoEncoder, strings.Join(why, "; "), cands[0], cands[0])
}

func missingEncoderFiles(dir string) []string {
	var missing []string
	for _, f := range []string{"config.json", "tokenizer.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			missing = append(missing, f)
		}
	}
	if len(files.Glob(dir, "*.safetensors")) == 0 {
		missing = append(missing, "safetensors weights")
	}
	return missing
}

// BERTScorer scores hypotheses against references with an encoder.
type BERTScorer struct {
	Enc   *model.Encoder
	Tok   *tokenizer.Tokenizer
	Layer int // hidden_states[Layer]: 0 is the embeddings, Enc.Config.NLayers the last layer
	// Baseline, when set, rescales P, R and F as bert_score's
	// rescale_with_baseline does.
	Baseline *Baseline
	// BatchTokens bounds the padded tokens of one encoder call; 0 means 8192.
	BatchTokens int

	dir   string       // the encoder's directory, when OpenBERTScorer found it
	close func() error // set by OpenBERTScorer

	// Embeddings of references already seen, at cacheLayer (see keep).
	cache      map[string]sentence
	cached     int // tokens in cache
	cacheLayer int
}

// BERTScore returns the BERTScore of each hypothesis against its reference
// with the hidden states after layer of enc, without rescaling: BERTScore (Zhang et al., "BERTScore: Evaluating Text Generation with
// BERT", ICLR 2020) as the bert_score package (Tiiiger/bert_score,
// score() with its defaults for lang="en") computes it:
//
//   - the encoder is roberta-large and the embeddings are the hidden states
//     after its layer 17 (transformers' hidden_states[17]);
//   - a sentence is stripped of surrounding whitespace (Python's str.strip)
//     and encoded with a space in front (the slow RoBERTa tokenizer's
//     add_prefix_space=True that bert_score passes) between <s> and </s>,
//     truncated to the model's 512 tokens; an empty sentence is <s></s>;
//   - no idf: every token weighs 1, except the tokens of the template (<s>
//     and </s>), whose weight is 0. They are still matched against: a
//     hypothesis token's best match may be the reference's <s>;
//   - similarities are cosines of the embeddings; precision is the weighted
//     mean over hypothesis tokens of their best similarity to a reference
//     token, recall the converse, F1 = 2PR/(P+R) (0 where undefined);
//   - a pair with an empty hypothesis or reference scores P = R = F = 0;
//   - no baseline rescaling unless asked for, and then each of P, R and F
//     becomes (s − b)/(1 − b) with its own baseline value b.
//
// One difference is deliberate: bert_score matches a batch of pairs at once
// and pads the shorter sentences with zero similarities, so a token whose
// similarities are all negative gets 0 instead of its best one when its
// partner is shorter than the longest sentence of its batch of 64. With
// real encoders (roberta-large's cosines are all far above 0) this never
// happens; here every pair is matched alone.
func BERTScore(enc *model.Encoder, tok *tokenizer.Tokenizer, hyps, refs []string, layer int) ([]PRF, error) {
	s := &BERTScorer{Enc: enc, Tok: tok, Layer: layer}
	return s.Score(hyps, refs)
}

// BERTScoreOptions configure OpenBERTScorer.
type BERTScoreOptions struct {
	Encoder  string    // directory or hub id; "" means DefaultEncoder
	Layer    int       // 0 means bert_score's layer for Encoder (DefaultLayer)
	Baseline *Baseline // nil: no rescaling
	// Device is the backend the encoder runs on, opened for the scorer
	// alone: the zero value is auto (the GPU where CUDA loads, else the
	// CPU with one worker per CPU).
	Device    device.Options
	Bootstrap Bootstrap
	// Optional, for Compute: without the encoder's files (ErrNoEncoder),
	// BERTScore is skipped with a note (Metrics.BERTScoreNote) instead of
	// failing the whole computation, and cells keep the BERTScore of
	// Options.Earlier that still holds.
	Optional bool
}

// OpenBERTScorer finds and loads an encoder and its tokenizer onto a
// backend of its own (o.Device). Close releases both. Without the
// encoder's files the error wraps ErrNoEncoder.
func OpenBERTScorer(o BERTScoreOptions) (*BERTScorer, error) {
	id := o.Encoder
	if id == "" {
		id = DefaultEncoder
	}
	// The encoder first: a path that is not there is that, whatever its layer.
	dir, err := FindEncoder(id)
	if err != nil {
		return nil, err
	}
	layer := o.Layer
	if layer == 0 {
		var ok bool
		if layer, ok = DefaultLayer(id); !ok {
			return nil, fmt.Errorf("quality: BERTScore encoder %s: bert_score has no default layer for it; name one (--bertscore_layer, or quality.bertscore_layer in the grid)", id)
		}
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("quality: BERTScore encoder %s: %w", id, err)
	}
	if pre, suf := tok.Template(); len(pre) == 0 || len(suf) == 0 {
		return nil, fmt.Errorf("quality: BERTScore encoder %s: its tokenizer adds no <s> … </s> around a sentence", id)
	}
	b, _, err := device.Open(o.Device)
	if err != nil {
		return nil, fmt.Errorf("quality: BERTScore encoder %s: %w", id, err)
	}
	enc, err := model.LoadEncoder(dir, b)
	if err != nil {
		device.Close(b)
		return nil, fmt.Errorf("quality: BERTScore encoder %s: %w", id, err)
	}
	if layer < 0 || layer > enc.Config.NLayers {
		enc.Close()
		device.Close(b)
		return nil, fmt.Errorf("quality: BERTScore encoder %s: layer %d outside [0, %d]", id, layer, enc.Config.NLayers)
	}
	return &BERTScorer{Enc: enc, Tok: tok, Layer: layer, Baseline: o.Baseline, dir: dir, close: func() error {
		err := enc.Close()
		device.Close(b)
		return err
	}}, nil
}

// Close releases what OpenBERTScorer loaded; it does nothing for a scorer
// built by hand.
func (s *BERTScorer) Close() error {
	if s.close == nil {
		return nil
	}
	err := s.close()
	s.close = nil
	return err
}

// Encode returns the token ids of a sentence as bert_score's sent_encode
// gives them for RoBERTa: stripped, a space in front, <s> … </s>, at most
// the encoder's positions.
func (s *BERTScorer) Encode(text string) []int {
	text = strings.TrimFunc(text, pySpace) // as in bleu.go: Python's str.isspace
	if text != "" {
		text = " " + text
	}
	ids := s.Tok.Encode(text, true)
	if n := s.Enc.Config.MaxTokens(); len(ids) > n {
		// Truncation keeps the template: <s>, the first tokens, </s>.
		_, suf := s.Tok.Template()
		ids = append(ids[:n-len(suf)], suf...)
	}
	return ids
}

// sentence is one encoded sentence: unit-length embeddings and weights.
type sentence struct {
	emb [][]float64 // (tokens, Dim), each row of norm 1
	w   []float64   // 1, or 0 for the template's tokens
}

// pairChunk is how many pairs are encoded together: it bounds the
// embeddings kept at once.
const pairChunk = 64

// Score returns the BERTScore of each hypothesis against its reference.
func (s *BERTScorer) Score(hyps, refs []string) ([]PRF, error) {
	return s.score(context.Background(), hyps, refs)
}

// score is Score, stopped between encoder calls once ctx is cancelled.
func (s *BERTScorer) score(ctx context.Context, hyps, refs []string) ([]PRF, error) {
	if len(hyps) != len(refs) {
		return nil, fmt.Errorf("quality: BERTScore of %d hypotheses against %d references", len(hyps), len(refs))
	}
	out := make([]PRF, len(hyps))
	for lo := 0; lo < len(hyps); lo += pairChunk {
		hi := min(lo+pairChunk, len(hyps))
		// Each distinct sentence is encoded once, and the references, which
		// every cell of a grid shares, are kept for the next calls.
		sents := map[string]sentence{}
		var texts []string
		for _, t := range slices.Concat(hyps[lo:hi], refs[lo:hi]) {
			if _, ok := sents[t]; ok {
				continue
			}
			if c, ok := s.cache[t]; ok && s.cacheLayer == s.Layer {
				sents[t] = c
				continue
			}
			sents[t] = sentence{}
			texts = append(texts, t)
		}
		embs, err := s.embed(ctx, texts)
		if err != nil {
			return nil, err
		}
		for k, t := range texts {
			sents[t] = embs[k]
		}
		for _, t := range refs[lo:hi] {
			s.keep(t, sents[t])
		}
		for i := lo; i < hi; i++ {
			out[i] = s.rescale(greedyMatch(sents[hyps[i]], sents[refs[i]]))
		}
	}
	return out, nil
}

// cacheTokens bounds the tokens whose embeddings a BERTScorer keeps:
// 16384 tokens of roberta-large are 128 MiB.
const cacheTokens = 1 << 14

// keep caches a reference's embeddings while the cache has room. Hidden
// states do not depend on the batch, so a cached sentence scores exactly
// as a new one.
func (s *BERTScorer) keep(text string, sent sentence) {
	if s.cacheLayer != s.Layer {
		s.cache, s.cached, s.cacheLayer = nil, 0, s.Layer
	}
	if _, ok := s.cache[text]; ok || s.cached+len(sent.emb) > cacheTokens {
		return
	}
	if s.cache == nil {
		s.cache = map[string]sentence{}
	}
	s.cache[text] = sent
	s.cached += len(sent.emb)
}

// embed encodes texts in batches of similar lengths.
func (s *BERTScorer) embed(ctx context.Context, texts []string) ([]sentence, error) {
	ids := make([][]int, len(texts))
	order := make([]int, len(texts))
	for i, t := range texts {
		ids[i], order[i] = s.Encode(t), i
	}
	// Longest first, so a batch pads little.
	slices.SortStableFunc(order, func(a, b int) int { return len(ids[b]) - len(ids[a]) })
	pre, suf := s.Tok.Template()
	special := append(slices.Clone(pre), suf...)
	budget := s.BatchTokens
	if budget <= 0 {
		budget = 8192
	}
	out := make([]sentence, len(texts))
	for lo := 0; lo < len(order); {
		L := len(ids[order[lo]])
		hi := lo + 1
		for hi < len(order) && (hi-lo+1)*L <= budget {
			hi++
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch := make([][]int, hi-lo)
		for k := range batch {
			batch[k] = ids[order[lo+k]]
		}
		states, err := s.Enc.Hidden(batch, s.Layer)
		if err != nil {
			return nil, fmt.Errorf("quality: BERTScore: %w", err)
		}
		for k, st := range states {
			sent := sentence{emb: make([][]float64, len(st)), w: make([]float64, len(st))}
			for j, v := range st {
				var n2 float64
				for _, x := range v {
					n2 += float64(x) * float64(x)
				}
				inv := 1 / math.Sqrt(n2)
				e := make([]float64, len(v))
				for c, x := range v {
					e[c] = float64(x) * inv
				}
				sent.emb[j] = e
				if !slices.Contains(special, batch[k][j]) {
					sent.w[j] = 1
				}
			}
			out[order[lo+k]] = sent
		}
		lo = hi
	}
	return out, nil
}

// greedyMatch is bert_score's greedy_cos_idf for one pair.
func greedyMatch(hyp, ref sentence) PRF {
	sim := make([][]float64, len(hyp.emb))
	for i, h := range hyp.emb {
		sim[i] = make([]float64, len(ref.emb))
		for j, r := range ref.emb {
			var d float64
			for c := range h {
				d += h[c] * r[c]
			}
			sim[i][j] = d
		}
	}
	var p, wp, r, wr float64
	for i := range hyp.emb {
		best := math.Inf(-1)
		for j := range ref.emb {
			best = max(best, sim[i][j])
		}
		p += hyp.w[i] * best
		wp += hyp.w[i]
	}
	for j := range ref.emb {
		best := math.Inf(-1)
		for i := range hyp.emb {
			best = max(best, sim[i][j])
		}
		r += ref.w[j] * best
		wr += ref.w[j]
	}
	// A sentence of special tokens only (the empty one) scores 0, as
	// bert_score sets it.
	if wp == 0 || wr == 0 {
		return PRF{}
	}
	p, r = p/wp, r/wr
	f := 2 * p * r / (p + r)
	if math.IsNaN(f) {
		f = 0
	}
	return PRF{P: p, R: r, F: f}
}

func (s *BERTScorer) rescale(v PRF) PRF {
	if s.Baseline == nil {
		return v
	}
	b := s.Baseline
	return PRF{P: (v.P - b.P) / (1 - b.P), R: (v.R - b.R) / (1 - b.R), F: (v.F - b.F) / (1 - b.F)}
}

// CellBERTScore is a cell's BERTScore: the means over its prompts of P, R
// and F1, each with its bootstrap interval (the same resamples for all
// three).
type CellBERTScore struct {
	Pairs     int      `json:"pairs"`
	Precision Interval `json:"precision"`
	Recall    Interval `json:"recall"`
	F1        Interval `json:"f1"`
}

// BERTScoreCell scores a cell's generations against their references and
// summarises them with b.
func BERTScoreCell(s *BERTScorer, hyps, refs []string, b Bootstrap) (CellBERTScore, error) {
	prf, err := s.score(b.context(), hyps, refs)
	if err != nil {
		return CellBERTScore{}, err
	}
	p, r, f := make([]float64, len(prf)), make([]float64, len(prf)), make([]float64, len(prf))
	for i, v := range prf {
		p[i], r[i], f[i] = v.P, v.R, v.F
	}
	return CellBERTScore{Pairs: len(prf), Precision: b.Mean(p), Recall: b.Mean(r), F1: b.Mean(f)}, nil
}

// BERTScoreEncoder is how the BERTScore of quality_metrics.json was
// computed: the encoder, the layer of its hidden states, and bert_score's
// options.
type BERTScoreEncoder struct {
	ID       string    `json:"id"` // as named, DefaultEncoder by default
	Dir      string    `json:"dir"`
	Arch     string    `json:"arch"`
	Layer    int       `json:"layer"` // hidden_states[Layer]: 0 is the embeddings
	Backend  string    `json:"backend"`
	IDF      bool      `json:"idf"`      // always false: bert_score's default
	Baseline *Baseline `json:"baseline"` // null: not rescaled
}

// encoderInfo describes the encoder and settings of s, opened as id.
func (s *BERTScorer) encoderInfo(id string) *BERTScoreEncoder {
	return &BERTScoreEncoder{ID: cmp.Or(id, DefaultEncoder), Dir: s.dir, Arch: s.Enc.Config.Arch, Layer: s.Layer,
		Backend: s.Enc.Backend().Name(), Baseline: s.Baseline}
}

// asks reports whether e is the encoder and settings o asks for, as far as
// o tells without the encoder's files: the same model (bert_score's legacy
// hub name or the current one), the layer o names or else bert_score's
// default for it, no idf and the same baseline.
func (o BERTScoreOptions) asks(e *BERTScoreEncoder) bool {
	if e == nil {
		return false
	}
	canon := func(id string) string {
		id = cmp.Or(id, DefaultEncoder)
		return cmp.Or(encoderAliases[id], id)
	}
	id := canon(o.Encoder)
	layer := o.Layer
	if layer == 0 {
		layer, _ = DefaultLayer(id) // 0 where bert_score has none: any
	}
	sameBaseline := o.Baseline == nil && e.Baseline == nil || o.Baseline != nil && e.Baseline != nil && *o.Baseline == *e.Baseline
	return id == canon(e.ID) && (layer == 0 || layer == e.Layer) && !e.IDF && sameBaseline
}
