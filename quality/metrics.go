package quality

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"dllmbench/bench"
	"dllmbench/compute/device"
	"dllmbench/model"
	"dllmbench/prompts"
)

// MetricsSchema is the version of quality_metrics.json.
const MetricsSchema = 1

// MetricsFile is where [WriteMetrics] puts the metrics under a results
// directory.
const MetricsFile = "raw_data/quality_metrics.json"

// NoJudge as Options.Judge computes the model-free metrics only.
const NoJudge = "none"

// Metrics is the quality of every successful cell of a set of records, next
// to what the cell cost: quality_metrics.json.
type Metrics struct {
	Schema int      `json:"schema_version"`
	Grids  []string `json:"grids"` // the records' grid names, sorted
	// Judge is the causal model of generative perplexity; nil when there
	// was none, and JudgeNote says why.
	Judge     *JudgeInfo `json:"judge"`
	JudgeNote string     `json:"judge_note,omitempty"`
	// BERTScore is how the cells' bertscore_* metrics were computed: the
	// encoder, its layer, idf and baseline; nil when none was.
	BERTScore *BERTScoreEncoder `json:"bertscore,omitempty"`
	// BERTScoreNote says why BERTScore was asked for and skipped, and
	// which cells kept an earlier one (Options.Earlier).
	BERTScoreNote string        `json:"bertscore_note,omitempty"`
	Bootstrap     BootstrapInfo `json:"bootstrap"`
	// Definitions says what each metric of the cells is, by name: the
	// reference tool's call and options it reproduces, and how a cell
	// aggregates it.
	Definitions map[string]string `json:"definitions"`
	Task        string            `json:"task,omitempty"` // the task file of the accuracies
	Failed      int               `json:"failed_cells"`   // records not ok, left out
	Cells       []CellMetrics     `json:"cells"`
}

// BootstrapInfo is the bootstrap every interval of the file used.
type BootstrapInfo struct {
	Resamples int     `json:"resamples"`
	Level     float64 `json:"level"`
	Seed      uint64  `json:"seed"`
}

// CellMetrics is one cell's quality and cost.
type CellMetrics struct {
	Key            string     `json:"key"`
	Grid           string     `json:"grid"`
	Name           string     `json:"name"`
	Cell           bench.Cell `json:"cell"`
	ModelConfigSHA string     `json:"model_config_sha256"` // the generating model's config
	Prompts        int        `json:"prompts"`
	Cost           Cost       `json:"cost"`
	// Metrics are the cell's quality metrics by name (the M constants), each
	// with its interval; a metric the cell cannot have is absent.
	Metrics map[string]Interval `json:"metrics"`
	// Perplexity is the judge's score with its counts (its PPL is also
	// Metrics[MJudgePPL]); nil without a judge or without texts.
	Perplexity *Perplexity `json:"judge_perplexity"`
	// TokenUnit is what the token metrics (entropy, distinct-n, repetition)
	// counted: TokenWords, or TokenIDs for cells without decoded texts.
	TokenUnit string `json:"token_unit"`
	// EOSCut: the token metrics saw each generation up to its first EOS (as
	// the decoded texts always end); false when the EOS ids were unknown and
	// whole outputs were used.
	EOSCut bool `json:"eos_cut"`
	// TextsSHA is the SHA-256 of the generated texts and the references the
	// text metrics were computed from (see textsSHA); absent without texts.
	// A later computation that cannot redo a metric keeps it only where
	// this is unchanged.
	TextsSHA string   `json:"texts_sha256,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

// The units of the token metrics (CellMetrics.TokenUnit).
const (
	// TokenWords: the decoded texts' words as sacreBLEU's 13a tokenizer
	// splits them, the same for every model whatever its tokenizer, so
	// that LLaDA's cells and LLaMA's compare.
	TokenWords = "words"
	// TokenIDs: the generating model's token ids, where there are no texts
	// (a model without tokenizer.json); they compare only between models
	// of one tokenizer.
	TokenIDs = "ids"
)

// The names of CellMetrics.Metrics, as the report reads them.
const (
	MJudgePPL     = "judge_ppl"     // generative perplexity under the judge
	MBERTScoreP   = "bertscore_p"   // BERTScore precision against the reference
	MBERTScoreR   = "bertscore_r"   // BERTScore recall
	MBERTScoreF1  = "bertscore_f1"  // BERTScore F1
	MEntropy      = "entropy"       // mean unigram entropy of the generated words (CellMetrics.TokenUnit), bits
	MDistinct     = "distinct_"     // + n, n = 1..MaxN: distinct-n pooled over the cell, without bounds (Diversity says why)
	MRepetition   = "repetition"    // mean seq-rep-4
	MBLEU         = "bleu"          // corpus BLEU against the references, 0..100
	MROUGEL       = "rouge_l"       // mean ROUGE-L F against the references, 0..1
	MTaskStrict   = "task_strict"   // task accuracy, strict-match answers
	MTaskFlexible = "task_flexible" // task accuracy, flexible-extract answers
)

// Cost is what the cell spent, means over repetitions (bench.Stats);
// NaN (null) where not measured.
type Cost struct {
	NFE           Number `json:"nfe"`             // forward calls per batch
	TokensPerStep Number `json:"tokens_per_step"` // diffusion: tokens committed per call and row
	LatencyS      Number `json:"latency_s"`       // per batch
	TokensPerS    Number `json:"tokens_per_s"`
	UsefulPerS    Number `json:"useful_tokens_per_s"`
	JPerToken     Number `json:"energy_j_per_token"`
}

// Options configure [Compute].
type Options struct {
	// Judge is the causal model of generative perplexity (model directory,
	// hub id or built-in model); "" takes the records' first causal model,
	// NoJudge none.
	Judge     string
	JudgeLoad model.LoadOptions
	Device    device.Options
	// Task is a JSONL task file (see [prompts.ReadProblems]); cells whose prompts
	// are its questions get accuracies. "" skips accuracy.
	Task      string
	Bootstrap Bootstrap
	// BERTScore, when set, also scores every cell's generations against
	// its references with BERTScore (Metrics bertscore_p, _r, _f1). Without
	// the encoder's files Compute fails with an error wrapping
	// ErrNoEncoder, or, when BERTScore.Optional, skips it with a note.
	BERTScore *BERTScoreOptions
	// Earlier is the metrics this computation replaces (the results
	// folder's quality_metrics.json), or nil. When an optional BERTScore is
	// skipped, a cell keeps its BERTScore from Earlier if that was computed
	// from the same texts and references with the same bootstrap, encoder,
	// layer and baseline: a user's BERTScore is not lost because the
	// encoder is missing this time.
	Earlier *Metrics
	// Notice receives one-line notices; nil drops them.
	Notice func(string)
}

// Compute scores every successful record: model-free metrics always, and
// generative perplexity when a judge is named or the records have a causal
// model. The judge is loaded once for all cells. Cells come out in the
// order their models first appear in recs, then by their parameters.
//
// Once ctx is cancelled, Compute stops soon (between bootstrap resamples,
// judged generations and encoder calls) and returns ctx's error.
func Compute(ctx context.Context, recs []bench.Record, o Options) (*Metrics, error) {
	if err := o.Bootstrap.Validate(); err != nil {
		return nil, fmt.Errorf("quality: %w", err)
	}
	o.Bootstrap.ctx = ctx // every metric's bootstrap, the judge and BERTScore watch it
	notice := o.Notice
	if notice == nil {
		notice = func(string) {}
	}
	out := &Metrics{Schema: MetricsSchema, Grids: []string{}, Cells: []CellMetrics{}, Task: o.Task,
		Bootstrap: BootstrapInfo{Resamples: o.Bootstrap.Resamples, Level: o.Bootstrap.Level, Seed: o.Bootstrap.Seed}}
	if out.Bootstrap.Resamples == 0 {
		out.Bootstrap.Resamples = 1000
	}
	if out.Bootstrap.Level == 0 {
		out.Bootstrap.Level = 0.95
	}
	var ok []bench.Record
	for _, r := range recs {
		if !slices.Contains(out.Grids, r.Grid) {
			out.Grids = append(out.Grids, r.Grid)
		}
		if r.Status == "ok" {
			ok = append(ok, r)
		} else {
			out.Failed++
		}
	}
	sort.Strings(out.Grids)
	sortCells(ok)

	var problems []prompts.Problem
	if o.Task != "" {
		var err error
		if problems, err = prompts.LoadProblems(o.Task); err != nil {
			return nil, fmt.Errorf("quality: %w", err)
		}
	}
	judge, note, err := openJudge(ok, o)
	if err != nil {
		return nil, err
	}
	if judge != nil {
		defer judge.close()
		out.Judge = &judge.j.Info
	} else {
		out.JudgeNote = note
		notice(note)
	}
	var scorer *BERTScorer
	var kept map[string]CellMetrics // by key: the earlier cells whose BERTScore still holds, when skipped
	if o.BERTScore != nil {
		bo := *o.BERTScore
		bo.Bootstrap = o.Bootstrap
		switch scorer, err = OpenBERTScorer(bo); {
		case errors.Is(err, ErrNoEncoder) && bo.Optional:
			var stale int
			kept, stale = earlierBERTScore(ok, o.Earlier, out.Bootstrap, bo)
			out.BERTScoreNote = "BERTScore skipped: " + err.Error()
			if len(kept) > 0 {
				out.BERTScore = o.Earlier.BERTScore
				out.BERTScoreNote += fmt.Sprintf("; kept the earlier BERTScore of %d of %d cells, whose generations it scored", len(kept), len(ok))
			}
			if stale > 0 {
				out.BERTScoreNote += fmt.Sprintf("; dropped the earlier BERTScore of %d of %d cells, whose generations, bootstrap or encoder changed since", stale, len(ok))
			}
			notice(out.BERTScoreNote)
			scorer = nil
		case err != nil:
			return nil, err
		default:
			defer scorer.Close()
			out.BERTScore = scorer.encoderInfo(bo.Encoder)
		}
	}
	eos := eosTable{}
	for _, r := range ok {
		// A cancelled bootstrap leaves NaN bounds behind: they never come out.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cm, err := scoreCell(r, judge, problems, eos, o)
		if err != nil {
			return nil, err
		}
		if refs, ok := references(r); scorer != nil && len(r.Texts) == len(r.Prompts) && ok {
			bs, err := BERTScoreCell(scorer, r.Texts, refs, o.Bootstrap)
			if err != nil {
				return nil, err
			}
			cm.Metrics[MBERTScoreP], cm.Metrics[MBERTScoreR], cm.Metrics[MBERTScoreF1] = bs.Precision, bs.Recall, bs.F1
		}
		if e, ok := kept[r.Key]; ok {
			for _, name := range []string{MBERTScoreP, MBERTScoreR, MBERTScoreF1} {
				cm.Metrics[name] = e.Metrics[name]
			}
		}
		out.Cells = append(out.Cells, cm)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out.Definitions = out.definitions()
	return out, nil
}

// earlierBERTScore returns, by key, the cells of earlier whose BERTScore
// still describes the record of the same key in recs: computed from the
// same texts and references (CellMetrics.TextsSHA) with the same bootstrap
// and the encoder and settings that o asks for. It also counts the cells of
// recs whose earlier BERTScore does not: their generations changed, or
// earlier has no fingerprint of them or of its encoder.
func earlierBERTScore(recs []bench.Record, earlier *Metrics, b BootstrapInfo, o BERTScoreOptions) (map[string]CellMetrics, int) {
	if earlier == nil {
		return nil, 0
	}
	byKey := map[string]CellMetrics{}
	for _, c := range earlier.Cells {
		if _, ok := c.Metrics[MBERTScoreF1]; ok {
			byKey[c.Key] = c
		}
	}
	kept, stale := map[string]CellMetrics{}, 0
	for _, r := range recs {
		e, ok := byKey[r.Key]
		if !ok {
			continue
		}
		refs, all := references(r)
		if all && len(r.Texts) == len(r.Prompts) && e.TextsSHA == textsSHA(r.Texts, refs) && earlier.Bootstrap == b && o.asks(earlier.BERTScore) {
			kept[r.Key] = e
		} else {
			stale++
		}
	}
	return kept, stale
}

// references returns the references of r's prompts, in order, and whether
// every prompt has one: BLEU, ROUGE-L and BERTScore score a cell only then,
// so that a cell's reference metrics cover the same prompts.
func references(r bench.Record) ([]string, bool) {
	refs := make([]string, len(r.Prompts))
	all := true
	for i, p := range r.Prompts {
		refs[i] = p.Reference
		all = all && p.Reference != ""
	}
	return refs, all
}

// textsSHA fingerprints what a cell's text metrics are computed from: its
// generated texts and its prompts' references, in prompt order.
func textsSHA(texts, refs []string) string {
	b, err := json.Marshal(struct {
		Texts      []string `json:"texts"`
		References []string `json:"references"`
	}{texts, refs})
	if err != nil {
		panic("quality: " + err.Error()) // strings always encode
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// sortCells orders records by the first appearance of their model, then by
// the cell's parameters, then by key: an order that does not depend on the
// order in which cells were measured or record files merged.
func sortCells(recs []bench.Record) {
	first := map[string]int{}
	for i, r := range recs {
		if _, ok := first[r.Cell.ModelID]; !ok {
			first[r.Cell.ModelID] = i
		}
	}
	key := func(c bench.Cell) string {
		rule := 0 // fixed steps, then thresholds, then factors
		if c.Threshold > 0 {
			rule = 1
		} else if c.Factor > 0 {
			rule = 2
		}
		// Fixed-width numbers sort numerically as text.
		return fmt.Sprintf("%s|%08d|%08d|%08d|%s|%s|%08d|%d|%08d|%020.10f|%020.10f|%020.10f|%020.10f|%08d|%020.10f|%s|%s",
			c.Model, c.PromptLen, c.GenLen, c.Batch, c.Cache, c.Remasking, c.BlockLen, rule, c.Steps, c.Threshold,
			c.Factor, c.CFGScale, c.Temperature, c.TopK, c.TopP, c.Precision, c.Backend)
	}
	sort.SliceStable(recs, func(a, b int) bool {
		ra, rb := recs[a], recs[b]
		if fa, fb := first[ra.Cell.ModelID], first[rb.Cell.ModelID]; fa != fb {
			return fa < fb
		}
		if ka, kb := key(ra.Cell), key(rb.Cell); ka != kb {
			return ka < kb
		}
		return ra.Key < rb.Key
	})
}

// loadedJudge is the judge of one Compute call and the backend it runs on.
type loadedJudge struct {
	j     *Judge
	close func()
}

// openJudge loads o.Judge, or the records' first causal model; with none,
// it returns nil and a one-line note.
func openJudge(recs []bench.Record, o Options) (*loadedJudge, string, error) {
	spec := bench.ModelSpec{ID: o.Judge}
	if spec.ID == NoJudge {
		return nil, "no judge (--judge none): generative perplexity not computed", nil
	}
	if spec.ID == "" {
		for _, r := range recs {
			if r.Cell.Family == model.Llama.String() {
				spec = bench.ModelSpec{ID: r.Model.ID, Revision: hubRevision(r.Model)}
				break
			}
		}
	}
	id := spec.ID
	if id == "" {
		return nil, "no judge: the records have no causal model and none was named (--judge, or quality.judge in the grid): generative perplexity not computed", nil
	}
	b, info, err := device.Open(o.Device)
	if err != nil {
		return nil, "", fmt.Errorf("quality: judge %s: %w", id, err)
	}
	j, err := loadJudge(spec, b, o.JudgeLoad)
	if err != nil {
		device.Close(b)
		return nil, "", err
	}
	j.Info.Backend = info.Backend
	return &loadedJudge{j: j, close: func() { j.Close(); device.Close(b) }}, "", nil
}

// hubRevision is the snapshot commit a record's model was resolved to on
// the hub, or "" (built-in and local models).
func hubRevision(m bench.ModelInfo) string {
	if m.Revision == "builtin" {
		return ""
	}
	return m.Revision
}

// eosTable caches the EOS ids of generating models, by model id.
type eosTable map[string][]int

// of returns the EOS ids of r's model from its config, or false when the
// config cannot be found here.
func (t eosTable) of(r bench.Record) ([]int, bool) {
	if e, ok := t[r.Model.ID]; ok {
		return e, e != nil
	}
	cfg, err := model.LoadConfig(r.Model.Dir)
	if err != nil {
		cfg = nil
		if dir, lerr := bench.Locate(bench.ModelSpec{ID: r.Model.ID, Revision: hubRevision(r.Model)}); lerr == nil {
			cfg, _ = model.LoadConfig(dir)
		}
	}
	if cfg == nil {
		t[r.Model.ID] = nil
		return nil, false
	}
	t[r.Model.ID] = cfg.EOS
	return cfg.EOS, true
}

func scoreCell(r bench.Record, judge *loadedJudge, problems []prompts.Problem, eos eosTable, o Options) (CellMetrics, error) {
	cm := CellMetrics{Key: r.Key, Grid: r.Grid, Name: r.Cell.Name(), Cell: r.Cell, ModelConfigSHA: r.Model.ConfigSHA,
		Prompts: len(r.Prompts), Cost: costOf(r.Stats), Metrics: map[string]Interval{}}
	if len(r.Outputs) != len(r.Prompts) {
		return cm, fmt.Errorf("quality: record %s (%s): %d outputs for %d prompts", r.Key, cm.Name, len(r.Outputs), len(r.Prompts))
	}
	texts := r.Texts
	haveTexts := len(texts) == len(r.Prompts)
	var d Diversity
	if haveTexts {
		// Token metrics on the texts' words, which end at the first EOS (the
		// runner decodes up to it): every model's cells count the same units.
		words := make([][]string, len(texts))
		for i, s := range texts {
			words[i] = Tokenize13a(s)
		}
		cm.TokenUnit, cm.EOSCut = TokenWords, true
		d = ScoreTokens(words, o.Bootstrap)
	} else {
		// On the generating model's ids, up to the first EOS (LLaDA pads its
		// canvas with EOS; the autoregressive cells ignore EOS).
		cm.Notes = append(cm.Notes, "no decoded texts (the model has no tokenizer.json): no text metrics, perplexity or accuracy; token metrics over the model's token ids")
		seqs := r.Outputs
		if ids, ok := eos.of(r); ok {
			cm.EOSCut = true
			seqs = make([][]int, len(r.Outputs))
			for i, s := range r.Outputs {
				if k := slices.IndexFunc(s, func(id int) bool { return slices.Contains(ids, id) }); k >= 0 {
					s = s[:k]
				}
				seqs[i] = s
			}
		} else {
			cm.Notes = append(cm.Notes, "model config not found here: token metrics over whole outputs, EOS included")
		}
		cm.TokenUnit = TokenIDs
		d = ScoreTokens(seqs, o.Bootstrap)
	}
	cm.Metrics[MEntropy], cm.Metrics[MRepetition] = d.Entropy, d.Repetition
	for n, iv := range d.Distinct {
		cm.Metrics[MDistinct+strconv.Itoa(n+1)] = iv
	}

	prompts := make([]string, len(r.Prompts))
	for i, p := range r.Prompts {
		prompts[i] = p.Text
	}
	refs, haveRefs := references(r)
	if haveTexts {
		cm.TextsSHA = textsSHA(texts, refs)
	}
	if haveTexts && judge != nil {
		p, err := judge.j.Perplexity(prompts, texts, o.Bootstrap)
		if err != nil {
			return cm, fmt.Errorf("%w (record %s, %s)", err, r.Key, cm.Name)
		}
		cm.Perplexity = &p
		cm.Metrics[MJudgePPL] = p.PPL
	}
	if haveTexts && haveRefs {
		ts := ScoreTexts(texts, refs, o.Bootstrap)
		cm.Metrics[MBLEU], cm.Metrics[MROUGEL] = ts.BLEU, ts.ROUGEL
	} else if haveTexts {
		cm.Notes = append(cm.Notes, "prompts without reference continuations: no BLEU, ROUGE-L or BERTScore")
	}
	if haveTexts && problems != nil {
		if ps, missing := matchProblems(r.Prompts, problems); missing == 0 {
			ts := ScoreTask(texts, ps, o.Bootstrap)
			cm.Metrics[MTaskStrict], cm.Metrics[MTaskFlexible] = ts.Strict, ts.Flexible
		} else {
			cm.Notes = append(cm.Notes, fmt.Sprintf("%d of %d prompts are not questions of the task file: no accuracy", missing, len(r.Prompts)))
		}
	}
	return cm, nil
}

func costOf(st map[string]bench.Stat) Cost {
	get := func(k string) Number {
		if s, ok := st[k]; ok && s.N > 0 {
			return Number(s.Mean)
		}
		return Number(math.NaN())
	}
	return Cost{NFE: get(bench.MNFE), TokensPerStep: get(bench.MTokensPerStep), LatencyS: get(bench.MLatency),
		TokensPerS: get(bench.MTokensPerS), UsefulPerS: get(bench.MUsefulPerS), JPerToken: get(bench.MEnergyPerTok)}
}

// matchProblems finds the problem each prompt asks: the prompt is the
// question itself, a few-shot prompt ending in it ([prompts.FewShot]), or its
// reference is the problem's answer, or the start of one problem's answer
// only (a run cuts a reference to gen_length tokens). It returns the
// problems in prompt order and how many prompts matched none.
func matchProblems(recs []bench.PromptRecord, problems []prompts.Problem) ([]prompts.Problem, int) {
	out := make([]prompts.Problem, len(recs))
	missing := 0
	for i, p := range recs {
		found := false
		for _, q := range problems {
			if p.Text == q.Question || strings.HasSuffix(p.Text, "Question: "+q.Question+"\nAnswer:") ||
				p.Reference != "" && p.Reference == q.Answer {
				out[i], found = q, true
				break
			}
		}
		if !found && p.Reference != "" {
			n := 0
			for _, q := range problems {
				if strings.HasPrefix(q.Answer, p.Reference) {
					out[i], n = q, n+1
				}
			}
			if found = n == 1; !found {
				out[i] = prompts.Problem{}
			}
		}
		if !found {
			missing++
		}
	}
	return out, missing
}

// WriteMetrics writes m as indented JSON to dir/raw_data/quality_metrics.json
// through a temporary file and a rename, so a reader never sees half a file.
// It returns the path written.
func WriteMetrics(dir string, m *Metrics) (string, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", fmt.Errorf("quality: encoding metrics: %w", err)
	}
	b = append(b, '\n')
	path := filepath.Join(dir, MetricsFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("quality: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".quality_metrics-*.json")
	if err != nil {
		return "", fmt.Errorf("quality: %w", err)
	}
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(f.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("quality: writing %s: %w", path, werr)
	}
	return path, nil
}

// ReadMetrics reads a quality_metrics.json file (or the one under a
// results directory).
func ReadMetrics(path string) (*Metrics, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, MetricsFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("quality: %w", err)
	}
	var m Metrics
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("quality: %s: %w", path, err)
	}
	if m.Schema > MetricsSchema {
		return nil, fmt.Errorf("quality: %s: schema version %d is newer than this dllmbench (%d)", path, m.Schema, MetricsSchema)
	}
	return &m, nil
}

// Number is a float64 that JSON encodes as null when NaN or ±Inf (which
// JSON cannot write) and decodes null as NaN.
type Number float64

// MarshalJSON implements json.Marshaler.
func (n Number) MarshalJSON() ([]byte, error) { return marshalFloat(float64(n)), nil }

// UnmarshalJSON implements json.Unmarshaler.
func (n *Number) UnmarshalJSON(b []byte) error {
	f, err := unmarshalFloat(b)
	*n = Number(f)
	return err
}

func marshalFloat(f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null")
	}
	b, _ := json.Marshal(f)
	return b
}

func unmarshalFloat(b []byte) (float64, error) {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return math.NaN(), nil
	}
	var f float64
	err := json.Unmarshal(b, &f)
	return f, err
}

// intervalJSON is how an Interval is written: {"value", "lo", "hi"}.
type intervalJSON struct {
	Value Number `json:"value"`
	Lo    Number `json:"lo"`
	Hi    Number `json:"hi"`
}

// MarshalJSON writes {"value", "lo", "hi"}, null where not finite.
func (iv Interval) MarshalJSON() ([]byte, error) {
	return json.Marshal(intervalJSON{Number(iv.Value), Number(iv.Lo), Number(iv.Hi)})
}

// UnmarshalJSON reads what MarshalJSON writes, null as NaN.
func (iv *Interval) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*iv = Interval{math.NaN(), math.NaN(), math.NaN()}
		return nil
	}
	j := intervalJSON{Number(math.NaN()), Number(math.NaN()), Number(math.NaN())}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*iv = Interval{float64(j.Value), float64(j.Lo), float64(j.Hi)}
	return nil
}
