package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"dllmbench/tokenizer/internal/pattern"
)

// Load reads a tokenizer from path, a tokenizer.json file or a directory
// holding one.
//
// A file alone behaves as the tokenizers library's Tokenizer.from_file. A
// directory behaves as transformers 5's AutoTokenizer.from_pretrained: its
// tokenizer_config.json (and special_tokens_map.json, which may be
// malformed, as LLaDA's is, and is then ignored) name the BOS, EOS and pad
// tokens, and special tokens they name that tokenizer.json lacks are added.
//
// The special tokens Encode(text, true) adds are always tokenizer.json's
// post-processor's, whatever the config's add_bos_token and add_eos_token
// say: transformers 5 drops both flags from the config whenever
// tokenizer.json is present (PreTrainedTokenizerBase._from_pretrained), so
// TokenizersBackend keeps the file's post-processor, and where the file has
// none it installs a template of the bare text. So a BOS template survives
// "add_bos_token": false, and "add_bos_token": true adds nothing to a file
// without a template; the llada and gpt2 goldens in
// testdata/tokenizer/golden (transformers 5.17.0) show both. For LLaDA-8B,
// whose config says false, BOS thus depends on its tokenizer.json alone.
// Flags passed to from_pretrained as arguments, which rebuild the template,
// have no counterpart here.
//
// The config's clean_up_tokenization_spaces (false when absent) asks
// transformers to apply clean_up_tokenization to decoded text, which drops
// the space before some punctuation and contractions. Since transformers
// 5.7 (PR #44915) TokenizersBackend._decode skips it for a BPE model, as
// every tokenizer Load reads is, unless the config also sets
// clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output;
// Decode does the same. So LLaMA-3-8B, whose config says true, decodes with
// its spaces kept, as LLaDA-8B-Base, whose config says false, does. A file
// read alone has no config and is never cleaned up, as in tokenizers.
func Load(path string) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if !st.IsDir() {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		return parse(data, path, nil)
	}
	file := filepath.Join(path, "tokenizer.json")
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	cfg, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	return parse(data, file, cfg)
}

// FromJSON builds a tokenizer from the contents of a tokenizer.json file,
// as the tokenizers library's Tokenizer.from_str does.
func FromJSON(data []byte) (*Tokenizer, error) {
	return parse(data, "tokenizer.json", nil)
}

type fileJSON struct {
	Version       *string         `json:"version"`
	AddedTokens   []addedJSON     `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

type addedJSON struct {
	ID         int64   `json:"id"`
	Content    *string `json:"content"`
	SingleWord bool    `json:"single_word"`
	LStrip     bool    `json:"lstrip"`
	RStrip     bool    `json:"rstrip"`
	Normalized *bool   `json:"normalized"`
	Special    bool    `json:"special"`
}

func (a addedJSON) token() *addedToken {
	t := &addedToken{content: *a.Content, special: a.Special, singleWord: a.SingleWord,
		lstrip: a.LStrip, rstrip: a.RStrip, normalized: !a.Special}
	if a.Normalized != nil {
		t.normalized = *a.Normalized
	}
	return t
}

type modelJSON struct {
	Type                    string          `json:"type"`
	Dropout                 *float64        `json:"dropout"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 *bool           `json:"fuse_unk"`
	ByteFallback            *bool           `json:"byte_fallback"`
	IgnoreMerges            *bool           `json:"ignore_merges"`
	Vocab                   map[string]int  `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
}

// loader carries what parsing has found so far and names the file in errors.
type loader struct {
	file string
	t    *Tokenizer
}

func (l *loader) errorf(format string, args ...any) error {
	return fmt.Errorf("tokenizer: %s: "+format, append([]any{l.file}, args...)...)
}

func parse(data []byte, file string, cfg *config) (*Tokenizer, error) {
	l := &loader{file: file, t: &Tokenizer{bos: -1, eos: -1, pad: -1}}
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, l.errorf("%v", jsonError(err))
	}
	if f.Version != nil && *f.Version != "1.0" {
		return nil, l.errorf("unknown version %q (want 1.0)", *f.Version)
	}
	if isNull(f.Model) {
		return nil, l.errorf("model missing")
	}
	if err := l.model(f.Model); err != nil {
		return nil, err
	}
	if err := l.normalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if err := l.preTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	l.t.model.index()
	if err := l.decoder(f.Decoder); err != nil {
		return nil, err
	}
	var toks []*addedToken
	for i, a := range f.AddedTokens {
		if a.Content == nil {
			return nil, l.errorf("added_tokens[%d]: content missing", i)
		}
		if a.ID < 0 || a.ID > math.MaxUint32 {
			return nil, l.errorf("added_tokens[%d]: id %d out of range", i, a.ID)
		}
		toks = append(toks, a.token())
	}
	l.addTokens(toks)
	if err := l.postProcessor(f.PostProcessor); err != nil {
		return nil, err
	}
	if cfg != nil {
		l.applyConfig(cfg)
	}
	l.finish()
	return l.t, nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// jsonError keeps encoding/json's message on one line with an offset.
func jsonError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at offset %d: %v", se.Offset, err)
	}
	return err
}

func (l *loader) model(raw json.RawMessage) error {
	var m modelJSON
	if err := json.Unmarshal(raw, &m); err != nil {
		return l.errorf("model: %v", jsonError(err))
	}
	// Files written before tokenizers had the field (gpt2's, roberta-base's
	// and roberta-large's on the hub) have no type: tokenizers then tries
	// the models in turn, BPE first, and BPE takes any model with vocab and
	// merges (ModelUntagged in tokenizers' models/mod.rs).
	if m.Type == "" && m.Vocab != nil && !isNull(m.Merges) {
		m.Type = "BPE"
	}
	switch {
	case m.Type == "":
		return l.errorf("model: type missing and no merges, so not BPE (only BPE is supported)")
	case m.Type != "BPE":
		return l.errorf("model %s: unsupported (only BPE is)", m.Type)
	case m.Dropout != nil && *m.Dropout != 0:
		return l.errorf("model BPE: dropout %g unsupported (encoding would be random)", *m.Dropout)
	case m.ByteFallback != nil && *m.ByteFallback:
		return l.errorf("model BPE: byte_fallback unsupported")
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "":
		return l.errorf("model BPE: continuing_subword_prefix %q unsupported", *m.ContinuingSubwordPrefix)
	case m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return l.errorf("model BPE: end_of_word_suffix %q unsupported", *m.EndOfWordSuffix)
	case m.Vocab == nil || isNull(m.Merges):
		return l.errorf("model BPE: vocab or merges missing")
	}
	b := &bpe{vocab: m.Vocab, unk: -1, ignoreMerges: m.IgnoreMerges != nil && *m.IgnoreMerges}
	b.fuseUnk = m.FuseUnk != nil && *m.FuseUnk
	maxID := -1
	for tok, id := range m.Vocab {
		if id < 0 || int64(id) > math.MaxUint32 {
			return l.errorf("model BPE: vocab: id %d of %q out of range", id, tok)
		}
		maxID = max(maxID, id)
	}
	// Ids index a table; refuse files whose ids would make it absurdly
	// large for the number of tokens (tokenizers itself would accept them).
	if maxID >= 1<<26 || maxID > 16*len(m.Vocab)+1<<16 {
		return l.errorf("model BPE: vocab: ids too sparse (largest %d for %d tokens)", maxID, len(m.Vocab))
	}
	b.tokens = make([]string, maxID+1)
	b.has = make([]bool, maxID+1)
	// With duplicate ids the smallest token wins, so loading is
	// deterministic whatever order the map iterates in.
	for tok, id := range m.Vocab {
		if !b.has[id] || tok < b.tokens[id] {
			b.tokens[id], b.has[id] = tok, true
		}
	}
	if m.UnkToken != nil {
		id, ok := m.Vocab[*m.UnkToken]
		if !ok {
			return l.errorf("model BPE: unk_token %q not in vocab", *m.UnkToken)
		}
		b.unk = id
	}
	merges, err := l.merges(m.Merges)
	if err != nil {
		return err
	}
	b.merges = make(map[uint64]merge, len(merges))
	for i, pr := range merges {
		a, ok1 := m.Vocab[pr[0]]
		c, ok2 := m.Vocab[pr[1]]
		id, ok3 := m.Vocab[pr[0]+pr[1]]
		switch {
		case !ok1:
			return l.errorf("model BPE: merges[%d]: %q not in vocab", i, pr[0])
		case !ok2:
			return l.errorf("model BPE: merges[%d]: %q not in vocab", i, pr[1])
		case !ok3:
			return l.errorf("model BPE: merges[%d]: %q not in vocab", i, pr[0]+pr[1])
		case int64(i) > math.MaxInt32:
			return l.errorf("model BPE: too many merges")
		}
		// A repeated pair keeps its last rank, as tokenizers' HashMap does.
		b.merges[pairKey(int32(a), int32(c))] = merge{rank: int32(i), id: int32(id)}
	}
	l.t.model = b
	return nil
}

// merges reads both formats: ["a b", ...] (lines starting "#version"
// skipped) and [["a", "b"], ...].
func (l *loader) merges(raw json.RawMessage) ([][2]string, error) {
	raw = bytes.TrimSpace(raw)
	inner := bytes.TrimSpace(bytes.TrimPrefix(raw, []byte("[")))
	var out [][2]string
	if len(inner) > 0 && inner[0] == '[' {
		var pairs [][]string
		if err := json.Unmarshal(raw, &pairs); err != nil {
			return nil, l.errorf("model BPE: merges: %v", jsonError(err))
		}
		for i, p := range pairs {
			if len(p) != 2 {
				return nil, l.errorf("model BPE: merges[%d]: want 2 tokens, got %d", i, len(p))
			}
			out = append(out, [2]string{p[0], p[1]})
		}
		return out, nil
	}
	var lines []string
	if err := json.Unmarshal(raw, &lines); err != nil {
		return nil, l.errorf("model BPE: merges: %v", jsonError(err))
	}
	for _, s := range lines {
		if strings.HasPrefix(s, "#version") {
			continue
		}
		a, b, ok := strings.Cut(s, " ")
		if !ok || strings.Contains(b, " ") {
			return nil, l.errorf("model BPE: merges[%d]: %q is not two tokens separated by one space", len(out), s)
		}
		out = append(out, [2]string{a, b})
	}
	return out, nil
}

func (l *loader) normalizer(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var n struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return l.errorf("normalizer: %v", jsonError(err))
	}
	switch n.Type {
	case "Sequence":
		for _, sub := range n.Normalizers {
			if err := l.normalizer(sub); err != nil {
				return err
			}
		}
		return nil
	case "NFC", "NFD", "NFKC", "NFKD":
		return l.errorf("normalizer %s: unsupported (Unicode normalization needs tables the Go standard library lacks)", n.Type)
	}
	return l.errorf("normalizer %s: unsupported (only null is)", n.Type)
}

func (l *loader) preTokenizer(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var p struct {
		Type             string            `json:"type"`
		Pretokenizers    []json.RawMessage `json:"pretokenizers"`
		AddPrefixSpace   *bool             `json:"add_prefix_space"`
		UseRegex         *bool             `json:"use_regex"`
		Pattern          map[string]string `json:"pattern"`
		Behavior         string            `json:"behavior"`
		Invert           bool              `json:"invert"`
		IndividualDigits bool              `json:"individual_digits"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return l.errorf("pre_tokenizer: %v", jsonError(err))
	}
	if l.t.model.byteLevel {
		// The BPE stage maps raw bytes itself, which is only right when
		// ByteLevel is the last step.
		return l.errorf("pre_tokenizer %s after ByteLevel: unsupported", p.Type)
	}
	t := l.t
	switch p.Type {
	case "Sequence":
		for _, sub := range p.Pretokenizers {
			if err := l.preTokenizer(sub); err != nil {
				return err
			}
		}
	case "ByteLevel":
		if p.AddPrefixSpace != nil && *p.AddPrefixSpace {
			t.steps = append(t.steps, step{kind: stepPrefix})
		}
		if p.UseRegex == nil || *p.UseRegex {
			t.steps = append(t.steps, step{kind: stepSplit, re: pattern.MustCompile(gpt2Pattern), behavior: isolated})
		}
		t.model.byteLevel = true
	case "Split":
		b, ok := behaviors[p.Behavior]
		if !ok {
			return l.errorf("pre_tokenizer Split: behavior %q unknown", p.Behavior)
		}
		st := step{kind: stepSplit, behavior: b, invert: p.Invert}
		if len(p.Pattern) != 1 {
			return l.errorf("pre_tokenizer Split: pattern must be {\"Regex\": ...} or {\"String\": ...}")
		}
		var err error
		if s, ok := p.Pattern["String"]; ok {
			st.re, err = pattern.Literal(s)
		} else if s, ok := p.Pattern["Regex"]; ok {
			st.re, err = pattern.Compile(s)
		} else {
			return l.errorf("pre_tokenizer Split: pattern must be {\"Regex\": ...} or {\"String\": ...}")
		}
		if err != nil {
			return l.errorf("pre_tokenizer Split: %v", err)
		}
		t.steps = append(t.steps, st)
	case "Digits":
		t.steps = append(t.steps, step{kind: stepDigits, individual: p.IndividualDigits})
	case "":
		return l.errorf("pre_tokenizer: type missing")
	default:
		return l.errorf("pre_tokenizer %s: unsupported", p.Type)
	}
	return nil
}

func (l *loader) decoder(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var d struct {
		Type     string            `json:"type"`
		Decoders []json.RawMessage `json:"decoders"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return l.errorf("decoder: %v", jsonError(err))
	}
	switch d.Type {
	case "ByteLevel":
		if l.t.decoder == decodeByteLevel {
			return l.errorf("decoder ByteLevel twice: unsupported")
		}
		l.t.decoder = decodeByteLevel
	case "Sequence":
		// A decoder, even one that does nothing, makes tokenizers join
		// the tokens with "" rather than " " (Tokenizer::decode).
		if l.t.decoder == decodeJoin {
			l.t.decoder = decodeConcat
		}
		for _, sub := range d.Decoders {
			if err := l.decoder(sub); err != nil {
				return err
			}
		}
	case "":
		return l.errorf("decoder: type missing")
	default:
		return l.errorf("decoder %s: unsupported (only ByteLevel is)", d.Type)
	}
	return nil
}

// addTokens registers added tokens as tokenizers' AddedVocabulary::
// add_tokens does: the id in the file is not used; a token keeps its
// vocabulary id or, if it has none, takes the next id after the vocabulary
// (or after the largest added id).
func (l *loader) addTokens(toks []*addedToken) {
	t := l.t
	if t.added == nil {
		t.added = map[int]*addedToken{}
		t.addedTok = map[string]int{}
		t.special = map[string]bool{}
	}
	vocabLen := len(t.model.vocab)
	next := vocabLen
	if len(t.added) > 0 {
		maxID := -1
		for id := range t.added {
			maxID = max(maxID, id)
		}
		if maxID >= vocabLen || vocabLen == 0 {
			next = maxID + 1
		}
	}
	for _, tok := range toks {
		if tok.content == "" {
			continue
		}
		if id, ok := t.addedTok[tok.content]; ok {
			if old := t.added[id]; old != nil && sameFlags(old, tok) {
				continue
			}
		}
		id, ok := t.TokenID(tok.content)
		if !ok {
			id = next
			next++
		}
		tok.id = id
		t.addedTok[tok.content] = id
		if tok.special {
			t.special[tok.content] = true
		}
		t.added[id] = tok
	}
}

func sameFlags(a, b *addedToken) bool {
	return a.content == b.content && a.special == b.special && a.singleWord == b.singleWord &&
		a.lstrip == b.lstrip && a.rstrip == b.rstrip && a.normalized == b.normalized
}

func (l *loader) postProcessor(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var p struct {
		Type       string            `json:"type"`
		Processors []json.RawMessage `json:"processors"`
		Single     []struct {
			SpecialToken *struct {
				ID string `json:"id"`
			} `json:"SpecialToken"`
			Sequence *struct {
				ID string `json:"id"`
			} `json:"Sequence"`
		} `json:"single"`
		SpecialTokens map[string]struct {
			IDs []int64 `json:"ids"`
		} `json:"special_tokens"`
		// RobertaProcessing's tokens, each [content, id].
		Sep []json.RawMessage `json:"sep"`
		Cls []json.RawMessage `json:"cls"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return l.errorf("post_processor: %v", jsonError(err))
	}
	switch p.Type {
	case "ByteLevel":
		// Only trims offsets; ids are unchanged.
	case "Sequence":
		for _, sub := range p.Processors {
			if err := l.postProcessor(sub); err != nil {
				return err
			}
		}
	case "TemplateProcessing":
		var tm template
		for i, pc := range p.Single {
			switch {
			case pc.Sequence != nil && pc.SpecialToken == nil:
				if pc.Sequence.ID != "A" {
					return l.errorf("post_processor TemplateProcessing: single[%d]: sequence %q unsupported (only A)", i, pc.Sequence.ID)
				}
				tm = append(tm, tmplPiece{seq: true})
			case pc.SpecialToken != nil && pc.Sequence == nil:
				st, ok := p.SpecialTokens[pc.SpecialToken.ID]
				if !ok {
					return l.errorf("post_processor TemplateProcessing: single[%d]: special token %q missing from special_tokens", i, pc.SpecialToken.ID)
				}
				var ids []int
				for _, id := range st.IDs {
					if id < 0 || id > math.MaxUint32 {
						return l.errorf("post_processor TemplateProcessing: special token %q: id %d out of range", pc.SpecialToken.ID, id)
					}
					ids = append(ids, int(id))
				}
				tm = append(tm, tmplPiece{ids: ids})
			default:
				return l.errorf("post_processor TemplateProcessing: single[%d]: want one of SpecialToken or Sequence", i)
			}
		}
		l.t.templates = append(l.t.templates, tm)
	case "RobertaProcessing":
		// <s> A </s> for one sequence. trim_offsets and add_prefix_space
		// only move offsets, which Encode does not return.
		cls, err := l.robertaToken("cls", p.Cls)
		if err != nil {
			return err
		}
		sep, err := l.robertaToken("sep", p.Sep)
		if err != nil {
			return err
		}
		l.t.templates = append(l.t.templates, template{{ids: []int{cls}}, {seq: true}, {ids: []int{sep}}})
	case "":
		return l.errorf("post_processor: type missing")
	default:
		return l.errorf("post_processor %s: unsupported (only TemplateProcessing, RobertaProcessing, ByteLevel and Sequence are)", p.Type)
	}
	return nil
}

// robertaToken reads RobertaProcessing's cls or sep, a [content, id] pair.
// The id is used as given, as tokenizers does, whatever the vocabulary says.
func (l *loader) robertaToken(name string, raw []json.RawMessage) (int, error) {
	var content string
	var id int64
	if len(raw) != 2 || json.Unmarshal(raw[0], &content) != nil || json.Unmarshal(raw[1], &id) != nil {
		return 0, l.errorf("post_processor RobertaProcessing: %s: want [\"token\", id]", name)
	}
	if id < 0 || id > math.MaxUint32 {
		return 0, l.errorf("post_processor RobertaProcessing: %s %q: id %d out of range", name, content, id)
	}
	return int(id), nil
}

// finish builds the matchers and fills in what the template implies.
func (l *loader) finish() {
	t := l.t
	var raw, norm []*addedToken
	ids := make([]int, 0, len(t.added))
	for id := range t.added {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		if a := t.added[id]; a.normalized {
			norm = append(norm, a)
		} else {
			raw = append(raw, a)
		}
	}
	t.rawSet, t.normSet = newAddedSet(raw), newAddedSet(norm)
	pre, suf := t.Template()
	if t.bos < 0 && len(pre) > 0 {
		t.bos = pre[0]
	}
	if t.eos < 0 && len(suf) > 0 {
		t.eos = suf[len(suf)-1]
	}
}

// config is what transformers reads besides tokenizer.json.
type config struct {
	named   map[string]*addedToken // bos_token, eos_token, ... -> token
	decoder []*addedToken          // added_tokens_decoder, by id
	extra   []*addedToken          // additional/extra special tokens

	cleanUp    bool // clean_up_tokenization_spaces
	cleanUpBPE bool // clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output
}

var namedTokens = []string{"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}

func readConfig(dir string) (*config, error) {
	cfg := &config{named: map[string]*addedToken{}}
	// special_tokens_map.json is the older place for the same names; it
	// only fills gaps, and a malformed one (LLaDA ships one) is skipped.
	if data, err := os.ReadFile(filepath.Join(dir, "special_tokens_map.json")); err == nil {
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) == nil {
			for _, k := range namedTokens {
				if tok := tokenValue(m[k], true); tok != nil {
					cfg.named[k] = tok
				}
			}
		}
	}
	file := filepath.Join(dir, "tokenizer_config.json")
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		if len(cfg.named) == 0 {
			return nil, nil
		}
		return cfg, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %v", file, jsonError(err))
	}
	for _, k := range namedTokens {
		if raw, ok := m[k]; ok {
			if tok := tokenValue(raw, true); tok != nil {
				cfg.named[k] = tok
			} else {
				delete(cfg.named, k)
			}
		}
	}
	// add_bos_token and add_eos_token are not read: transformers drops
	// them when tokenizer.json exists, which Load requires (see Load).
	cfg.cleanUp = truthy(m["clean_up_tokenization_spaces"])
	cfg.cleanUpBPE = truthy(m["clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output"])
	if raw, ok := m["added_tokens_decoder"]; ok {
		var dec map[string]addedJSON
		if err := json.Unmarshal(raw, &dec); err != nil {
			return nil, fmt.Errorf("tokenizer: %s: added_tokens_decoder: %v", file, err)
		}
		type entry struct {
			id  int
			tok *addedToken
		}
		var es []entry
		for k, a := range dec {
			var id int
			if _, err := fmt.Sscan(k, &id); err != nil || a.Content == nil {
				return nil, fmt.Errorf("tokenizer: %s: added_tokens_decoder: bad entry %q", file, k)
			}
			es = append(es, entry{id, a.token()})
		}
		sort.Slice(es, func(i, j int) bool { return es[i].id < es[j].id })
		for _, e := range es {
			cfg.decoder = append(cfg.decoder, e.tok)
		}
	}
	for _, k := range []string{"additional_special_tokens", "extra_special_tokens"} {
		var list []json.RawMessage
		if json.Unmarshal(m[k], &list) != nil {
			continue // absent, null, or a dict of named extras: nothing to add
		}
		for _, raw := range list {
			if tok := tokenValue(raw, true); tok != nil {
				cfg.extra = append(cfg.extra, tok)
			}
		}
	}
	return cfg, nil
}

// truthy is the truth value Python gives a config value, as transformers
// tests the clean-up flags with a bare if: null, false, 0, "" and empty
// lists and objects are false, an absent key too.
func truthy(raw json.RawMessage) bool {
	var v any
	if isNull(raw) || json.Unmarshal(raw, &v) != nil {
		return false
	}
	switch v := v.(type) {
	case bool:
		return v
	case float64:
		return v != 0
	case string:
		return v != ""
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return false
}

// tokenValue reads a token given as a string or as an AddedToken object.
func tokenValue(raw json.RawMessage, special bool) *addedToken {
	if isNull(raw) {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil
		}
		return &addedToken{content: s, special: special}
	}
	var a addedJSON
	if json.Unmarshal(raw, &a) != nil || a.Content == nil || *a.Content == "" {
		return nil
	}
	tok := a.token()
	tok.special = special
	return tok
}

// applyConfig does what transformers' TokenizersBackend.__init__ does with
// tokenizer_config.json. It leaves the post-processor alone (see Load).
func (l *loader) applyConfig(cfg *config) {
	t := l.t
	// Config entries that differ from tokenizer.json's added tokens, then
	// named and extra special tokens not yet known, are added.
	var add []*addedToken
	known := map[string]bool{}
	for s := range t.addedTok {
		known[s] = true
	}
	for _, tok := range cfg.decoder {
		if id, ok := t.addedTok[tok.content]; ok && sameFlags(t.added[id], tok) {
			continue
		}
		add = append(add, tok)
		known[tok.content] = true
	}
	for _, k := range namedTokens {
		if tok := cfg.named[k]; tok != nil && !known[tok.content] {
			add = append(add, tok)
			known[tok.content] = true
		}
	}
	for _, tok := range cfg.extra {
		if !known[tok.content] {
			add = append(add, tok)
			known[tok.content] = true
		}
	}
	l.addTokens(add)

	id := func(k string) int {
		if tok := cfg.named[k]; tok != nil {
			if id, ok := t.TokenID(tok.content); ok {
				return id
			}
		}
		return -1
	}
	t.bos, t.eos, t.pad = id("bos_token"), id("eos_token"), id("pad_token")

	// The model is BPE, for which transformers cleans up only with both
	// flags (see Load).
	t.cleanUp = cfg.cleanUp && cfg.cleanUpBPE
}
