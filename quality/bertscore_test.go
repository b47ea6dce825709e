package quality

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"dllmbench/bench"
	"dllmbench/compute/cpu"
	"dllmbench/compute/device"
	"dllmbench/internal/testbackend"
	"dllmbench/model"
	"dllmbench/safetensors"
	"dllmbench/tokenizer"
)

// byteLevel is GPT-2's bytes_to_unicode: the printable bytes map to
// themselves, the others to U+0100 onwards in byte order.
func byteLevel() []string {
	out := make([]string, 256)
	n := 0
	for b := range 256 {
		if b >= '!' && b <= '~' || b >= 0xa1 && b <= 0xac || b >= 0xae {
			out[b] = string(rune(b))
		} else {
			out[b] = string(rune(256 + n))
			n++
		}
	}
	return out
}

// writeTinyBERTScoreModel writes a RoBERTa-shaped checkpoint with random
// weights and a byte-level tokenizer whose vocabulary covers every byte:
// specials 0-3 (<s>, <pad>, </s>, <unk>), the 256 bytes, a few merges.
func writeTinyBERTScoreModel(t *testing.T, seed uint64) string {
	t.Helper()
	dir := t.TempDir()
	vocab := map[string]int{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
	for _, s := range byteLevel() {
		vocab[s] = len(vocab)
	}
	merges := []string{"Ġ t", "h e", "Ġt he", "Ġ c", "a t", "Ġc at", "Ġ s", "Ġs at"}
	for _, m := range merges {
		vocab[strings.ReplaceAll(m, " ", "")] = len(vocab)
	}
	added := []map[string]any{}
	for _, s := range []string{"<s>", "<pad>", "</s>", "<unk>"} {
		added = append(added, map[string]any{"id": vocab[s], "content": s, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": true, "special": true})
	}
	tj := map[string]any{
		"version": "1.0", "added_tokens": added, "normalizer": nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": map[string]any{"type": "RobertaProcessing", "sep": []any{"</s>", 2}, "cls": []any{"<s>", 0}, "trim_offsets": true, "add_prefix_space": false},
		"decoder":        map[string]any{"type": "ByteLevel"},
		"model":          map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "vocab": vocab, "merges": merges},
	}
	const dim, ffn, layers, heads, maxPos = 16, 24, 3, 2, 40
	cfg := map[string]any{"architectures": []string{"RobertaModel"}, "model_type": "roberta", "hidden_size": dim,
		"intermediate_size": ffn, "num_hidden_layers": layers, "num_attention_heads": heads, "vocab_size": len(vocab),
		"max_position_embeddings": maxPos, "type_vocab_size": 1, "pad_token_id": 1, "layer_norm_eps": 1e-5, "hidden_act": "gelu"}
	for name, v := range map[string]any{"tokenizer.json": tj, "config.json": cfg} {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	var w safetensors.Writer
	add := func(name string, shape []int, std, mean float64) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		b := make([]byte, 4*n)
		for i := range n {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(mean+std*rng.NormFloat64())))
		}
		w.Add(name, safetensors.F32, shape, b)
	}
	add("embeddings.word_embeddings.weight", []int{len(vocab), dim}, 1, 0)
	add("embeddings.position_embeddings.weight", []int{maxPos, dim}, 1, 0)
	add("embeddings.token_type_embeddings.weight", []int{1, dim}, 1, 0)
	norm := func(p string) {
		add(p+".weight", []int{dim}, 0.1, 1)
		add(p+".bias", []int{dim}, 0.1, 0)
	}
	norm("embeddings.LayerNorm")
	for l := range layers {
		p := fmt.Sprintf("encoder.layer.%d.", l)
		for _, m := range []string{"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"} {
			add(p+m+".weight", []int{dim, dim}, 0.25, 0)
			add(p+m+".bias", []int{dim}, 0.1, 0)
		}
		add(p+"intermediate.dense.weight", []int{ffn, dim}, 0.25, 0)
		add(p+"intermediate.dense.bias", []int{ffn}, 0.1, 0)
		add(p+"output.dense.weight", []int{dim, ffn}, 0.2, 0)
		add(p+"output.dense.bias", []int{dim}, 0.1, 0)
		norm(p + "attention.output.LayerNorm")
		norm(p + "output.LayerNorm")
	}
	if err := w.WriteFile(filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func openTinyScorer(t *testing.T, dir string, layer int) *BERTScorer {
	t.Helper()
	b := cpu.New(2)
	t.Cleanup(b.Close)
	enc, err := model.LoadEncoder(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close() })
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &BERTScorer{Enc: enc, Tok: tok, Layer: layer}
}

// refBERTScore is bert_score's definition written out for one pair, each
// sentence encoded alone: cosines, best matches, weights 0 for <s> and </s>.
func refBERTScore(t *testing.T, s *BERTScorer, hyp, ref string) PRF {
	t.Helper()
	emb := func(text string) ([][]float64, []float64) {
		ids := s.Encode(text)
		h, err := s.Enc.Hidden([][]int{ids}, s.Layer)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]float64
		var w []float64
		for j, v := range h[0] {
			var n float64
			for _, x := range v {
				n += float64(x) * float64(x)
			}
			e := make([]float64, len(v))
			for c, x := range v {
				e[c] = float64(x) / math.Sqrt(n)
			}
			out = append(out, e)
			w = append(w, map[bool]float64{true: 0, false: 1}[ids[j] == 0 || ids[j] == 2])
		}
		return out, w
	}
	he, hw := emb(hyp)
	re, rw := emb(ref)
	cos := func(a, b []float64) float64 {
		var d float64
		for i := range a {
			d += a[i] * b[i]
		}
		return d
	}
	side := func(a [][]float64, w []float64, b [][]float64) float64 {
		var s, ws float64
		for i, x := range a {
			best := math.Inf(-1)
			for _, y := range b {
				best = max(best, cos(x, y))
			}
			s += w[i] * best
			ws += w[i]
		}
		return s / ws
	}
	p, r := side(he, hw, re), side(re, rw, he)
	return PRF{p, r, 2 * p * r / (p + r)}
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestBERTScoreAgainstDefinition(t *testing.T) {
	s := openTinyScorer(t, writeTinyBERTScoreModel(t, 1), 3)
	hyps := []string{"the cat sat", "the cat", "a dog barked at the cat", "  the cat sat\n", "cat"}
	refs := []string{"the cat sat", "the cat sat on the mat", "the cat", "the cat sat", "the hat"}
	got, err := s.Score(hyps, refs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range hyps {
		want := refBERTScore(t, s, hyps[i], refs[i])
		if !near(got[i].P, want.P, 1e-12) || !near(got[i].R, want.R, 1e-12) || !near(got[i].F, want.F, 1e-12) {
			t.Errorf("pair %d (%q, %q): got %+v, want %+v", i, hyps[i], refs[i], got[i], want)
		}
	}
	t.Logf("scores: %+v", got)
	// A sentence against itself: every token's best match is itself.
	for _, i := range []int{0, 3} {
		if !near(got[i].P, 1, 1e-6) || !near(got[i].R, 1, 1e-6) || !near(got[i].F, 1, 1e-6) {
			t.Errorf("pair %d, identical after stripping: %+v, want 1, 1, 1", i, got[i])
		}
	}
	// Precision one way is recall the other way.
	back, err := s.Score(refs, hyps)
	if err != nil {
		t.Fatal(err)
	}
	for i := range hyps {
		if back[i].P != got[i].R || back[i].R != got[i].P {
			t.Errorf("pair %d: P, R = %v, %v one way and R, P = %v, %v the other", i, got[i].P, got[i].R, back[i].R, back[i].P)
		}
	}
	// Batching does not change a bit: one sentence per encoder call, and
	// no cached references.
	small, err := (&BERTScorer{Enc: s.Enc, Tok: s.Tok, Layer: s.Layer, BatchTokens: 1}).Score(hyps, refs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if small[i] != got[i] {
			t.Errorf("pair %d: %+v in batches, %+v one by one", i, got[i], small[i])
		}
	}
	// The references were kept; at another layer they are not reused.
	if len(s.cache) == 0 || s.cached == 0 {
		t.Errorf("no reference kept: %d sentences, %d tokens", len(s.cache), s.cached)
	}
	s.Layer = 1
	l1, err := s.Score(hyps, refs)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := (&BERTScorer{Enc: s.Enc, Tok: s.Tok, Layer: 1}).Score(hyps, refs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range l1 {
		// Pairs 0 and 3 are identical sentences, 1 at every layer.
		if l1[i] != fresh[i] || i != 0 && i != 3 && l1[i] == got[i] {
			t.Errorf("pair %d at layer 1: %+v, a fresh scorer %+v, layer 3 %+v", i, l1[i], fresh[i], got[i])
		}
	}
}

// The special tokens weigh nothing but can still be the best match.
func TestGreedyMatch(t *testing.T) {
	u := func(v ...float64) []float64 { return v }
	// Hypothesis: <s>, a, </s>; reference: <s>, b, </s>. a is closest to
	// the reference's <s> (cos 0.8) and to b at 0.6; b is closest to a.
	hyp := sentence{emb: [][]float64{u(1, 0, 0), u(0.8, 0.6, 0), u(0, 0, 1)}, w: []float64{0, 1, 0}}
	ref := sentence{emb: [][]float64{u(1, 0, 0), u(0, 1, 0), u(0, 0, 1)}, w: []float64{0, 1, 0}}
	got := greedyMatch(hyp, ref)
	// P: a's best is max(0.8, 0.6, 0) = 0.8. R: b's best is max(0, 0.6, 0) = 0.6.
	want := PRF{0.8, 0.6, 2 * 0.8 * 0.6 / 1.4}
	if !near(got.P, want.P, 1e-15) || !near(got.R, want.R, 1e-15) || !near(got.F, want.F, 1e-15) {
		t.Errorf("greedyMatch = %+v, want %+v", got, want)
	}
	// An empty sentence (<s></s>) scores 0 on both sides, as bert_score sets it.
	empty := sentence{emb: [][]float64{u(1, 0, 0), u(0, 0, 1)}, w: []float64{0, 0}}
	if got := greedyMatch(empty, ref); got != (PRF{}) {
		t.Errorf("empty hypothesis: %+v, want zeros", got)
	}
	if got := greedyMatch(hyp, empty); got != (PRF{}) {
		t.Errorf("empty reference: %+v, want zeros", got)
	}
	// Orthogonal tokens: P = R = 0 leaves F undefined, which is 0.
	x := sentence{emb: [][]float64{u(1, 0, 0)}, w: []float64{1}}
	y := sentence{emb: [][]float64{u(0, 1, 0)}, w: []float64{1}}
	if got := greedyMatch(x, y); got != (PRF{}) {
		t.Errorf("orthogonal tokens: %+v, want zeros", got)
	}
}

func TestBERTScoreEncode(t *testing.T) {
	s := openTinyScorer(t, writeTinyBERTScoreModel(t, 2), 1)
	tid := func(tok string) int {
		id, ok := s.Tok.TokenID(tok)
		if !ok {
			t.Fatalf("no token %q", tok)
		}
		return id
	}
	tests := []struct {
		text string
		want []int
	}{
		// Stripped, then a space in front: " the cat" is Ġthe Ġcat.
		{"\t the cat \x1f\n", []int{0, tid("Ġthe"), tid("Ġcat"), 2}},
		{"the cat", []int{0, tid("Ġthe"), tid("Ġcat"), 2}},
		// Nothing left: <s></s>.
		{" \n ", []int{0, 2}},
	}
	for _, tc := range tests {
		if got := s.Encode(tc.text); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
	// Truncated to the positions (40 − pad − 1 = 38), keeping </s>.
	long := s.Encode(strings.Repeat("the ", 100))
	if len(long) != s.Enc.Config.MaxTokens() || long[0] != 0 || long[len(long)-1] != 2 || long[len(long)-2] != tid("Ġthe") {
		t.Errorf("long sentence: %d tokens %v, want %d ending in Ġthe </s>", len(long), long, s.Enc.Config.MaxTokens())
	}
	if _, err := s.Score([]string{strings.Repeat("the cat ", 100)}, []string{"the cat"}); err != nil {
		t.Errorf("a sentence longer than the positions: %v", err)
	}
}

func TestBERTScoreEmptyAndBaseline(t *testing.T) {
	s := openTinyScorer(t, writeTinyBERTScoreModel(t, 3), 2)
	raw, err := s.Score([]string{"", "the cat", "the cat sat"}, []string{"the cat", "   ", "the cat"})
	if err != nil {
		t.Fatal(err)
	}
	if raw[0] != (PRF{}) || raw[1] != (PRF{}) {
		t.Errorf("empty hypothesis or reference: %+v, %+v, want zeros", raw[0], raw[1])
	}
	s.Baseline = &RobertaLarge17
	scaled, err := s.Score([]string{"", "the cat sat"}, []string{"the cat", "the cat"})
	if err != nil {
		t.Fatal(err)
	}
	b := RobertaLarge17
	want := []PRF{{-b.P / (1 - b.P), -b.R / (1 - b.R), -b.F / (1 - b.F)},
		{(raw[2].P - b.P) / (1 - b.P), (raw[2].R - b.R) / (1 - b.R), (raw[2].F - b.F) / (1 - b.F)}}
	for i := range want {
		if !near(scaled[i].P, want[i].P, 1e-12) || !near(scaled[i].R, want[i].R, 1e-12) || !near(scaled[i].F, want[i].F, 1e-12) {
			t.Errorf("rescaled pair %d: %+v, want %+v", i, scaled[i], want[i])
		}
	}
	if _, err := s.Score([]string{"a"}, nil); err == nil {
		t.Error("Score accepted 1 hypothesis for 0 references")
	}
}

func TestBERTScoreCell(t *testing.T) {
	s := openTinyScorer(t, writeTinyBERTScoreModel(t, 4), 3)
	hyps := []string{"the cat sat", "a cat", "the dog", "sat"}
	refs := []string{"the cat sat", "the cat", "the cat sat", "the cat sat"}
	prf, err := s.Score(hyps, refs)
	if err != nil {
		t.Fatal(err)
	}
	c, err := BERTScoreCell(s, hyps, refs, Bootstrap{Resamples: 200, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	var mp, mr, mf float64
	for _, v := range prf {
		mp, mr, mf = mp+v.P/4, mr+v.R/4, mf+v.F/4
	}
	if c.Pairs != 4 || !near(c.Precision.Value, mp, 1e-12) || !near(c.Recall.Value, mr, 1e-12) || !near(c.F1.Value, mf, 1e-12) {
		t.Errorf("cell %+v, want 4 pairs and means %v %v %v", c, mp, mr, mf)
	}
	if !(c.F1.Lo <= c.F1.Value && c.F1.Value <= c.F1.Hi && c.F1.Lo < c.F1.Hi) {
		t.Errorf("F1 interval [%v, %v] around %v", c.F1.Lo, c.F1.Hi, c.F1.Value)
	}
}

func TestDefaultLayer(t *testing.T) {
	for _, c := range []struct {
		id    string
		layer int
		ok    bool
	}{
		{"roberta-large", 17, true}, // bert_score's default for English
		{"FacebookAI/roberta-large", 17, true},
		{"roberta-base", 10, true},
		{"someone/roberta-large", 0, false}, // a different repository of the same name
		{"/models/my-encoder", 0, false},
		// A snapshot of the cache is known by its repository.
		{"/hf/hub/models--FacebookAI--roberta-large/snapshots/0123abcd", 17, true},
		{"/hf/hub/models--roberta-base/snapshots/0123abcd", 10, true},
	} {
		if l, ok := DefaultLayer(c.id); l != c.layer || ok != c.ok {
			t.Errorf("DefaultLayer(%q) = %d, %v; want %d, %v", c.id, l, ok, c.layer, c.ok)
		}
	}
}

// FindEncoder looks in the Hugging Face cache, under the current name of a
// legacy one, and says what is missing.
func TestFindEncoder(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_HUB_OFFLINE", "1")
	if _, err := FindEncoder(""); !errors.Is(err, ErrNoEncoder) ||
		!strings.Contains(err.Error(), "neither FacebookAI/roberta-large nor roberta-large is in the Hugging Face cache "+cache) {
		t.Fatalf("empty cache: %v, want ErrNoEncoder naming FacebookAI/roberta-large and the cache", err)
	}
	const commit = "0123456789abcdef0123456789abcdef01234567"
	repo := filepath.Join(cache, "models--FacebookAI--roberta-large")
	snap := filepath.Join(repo, "snapshots", commit)
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(repo, "refs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(commit), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "tokenizer.json"} {
		if err := os.WriteFile(filepath.Join(snap, f), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Python's cache often holds only pytorch_model.bin.
	if _, err := FindEncoder("roberta-large"); !errors.Is(err, ErrNoEncoder) || !strings.Contains(err.Error(), "lacks safetensors weights") {
		t.Fatalf("no weights: %v, want ErrNoEncoder saying the weights are missing", err)
	}
	if err := os.WriteFile(filepath.Join(snap, "model.safetensors"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dir, err := FindEncoder("roberta-large")
	if err != nil || dir != snap {
		t.Fatalf("FindEncoder = %q, %v; want %s", dir, err, snap)
	}
	// A directory is taken as it is.
	if dir, err := FindEncoder(snap); err != nil || dir != snap {
		t.Errorf("FindEncoder(dir) = %q, %v", dir, err)
	}
}

// quality_metrics.json says how its BERTScore was computed: the encoder as
// named, where it was found, its layer and backend, no idf, no baseline.
// Cells without texts or references, and failed ones, get none.
func TestComputeBERTScoreEncoder(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	dir := writeTinyBERTScoreModel(t, 5)
	rec := func(key, status string, texts []string, refs ...string) bench.Record {
		r := refRecord(key, texts, refs...)
		r.Status = status
		return r
	}
	recs := []bench.Record{
		rec("a", "ok", []string{"the cat sat", "the hat"}, "the cat sat", "the cat"),
		rec("b", "ok", nil, "the cat"),                 // no texts
		rec("c", "ok", []string{"the cat"}, ""),        // no reference
		rec("d", "failed", []string{"x"}, "the cat"),   // left out
		rec("e", "ok", []string{"sat"}, "the cat sat"), // another cell
	}
	// The encoder on the tests' backend (DLLMBENCH_TEST_BACKEND=cuda: the GPU).
	be := testbackend.Name()
	m, err := Compute(context.Background(), recs, Options{Judge: NoJudge, Bootstrap: Bootstrap{Resamples: 50},
		BERTScore: &BERTScoreOptions{Encoder: dir, Layer: 2, Device: device.Options{Backend: be, Threads: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	want := &BERTScoreEncoder{ID: dir, Dir: dir, Arch: "RobertaModel", Layer: 2, Backend: be}
	if diff := cmp.Diff(want, m.BERTScore); diff != "" {
		t.Errorf("encoder (-want +got):\n%s", diff)
	}
	if len(m.Cells) != 4 {
		t.Fatalf("%d cells, want the 4 that succeeded", len(m.Cells))
	}
	for i, scored := range []bool{true, false, false, true} {
		if _, has := m.Cells[i].Metrics[MBERTScoreF1]; has != scored {
			t.Errorf("cell %s: BERTScore %v, want %v", m.Cells[i].Key, has, scored)
		}
	}
	b, err := json.Marshal(m)
	if err != nil || !strings.Contains(string(b), `"bertscore":{"id":`) || !strings.Contains(string(b), `"idf":false,"baseline":null}`) {
		t.Errorf("encoding: %v, %s", err, b)
	}
}

// Compute scores BERTScore, as BLEU and ROUGE-L, only for cells whose
// prompts all have a reference; a prompt without one was scored against
// the empty text, P = R = F = 0, into the cell's mean.
func TestComputeBERTScoreNeedsReferences(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	recs := []bench.Record{
		refRecord("a", []string{"the cat sat", "the hat"}, "the cat sat", "the cat"),
		refRecord("b", []string{"the cat sat", "the hat"}, "the cat sat", ""), // its second prompt has no reference
	}
	encoder := BERTScoreOptions{Encoder: writeTinyBERTScoreModel(t, 5), Layer: 2, Device: device.Options{Backend: "cpu", Threads: 1}}
	m, err := Compute(context.Background(), recs, Options{Judge: NoJudge, Bootstrap: Bootstrap{Resamples: 50}, BERTScore: &encoder})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		c := m.Cells[i]
		for _, name := range []string{MBLEU, MROUGEL, MBERTScoreP, MBERTScoreR, MBERTScoreF1} {
			if _, has := c.Metrics[name]; has != want {
				t.Errorf("cell %s: %s present %v, want %v", c.Key, name, has, want)
			}
		}
	}
	if notes := strings.Join(m.Cells[1].Notes, "; "); !strings.Contains(notes, "no BLEU, ROUGE-L or BERTScore") {
		t.Errorf("cell b: notes %q, want one saying it has no reference metrics", notes)
	}
}

// BERTScore asked of Compute without its encoder fails, unless optional
// (run's quality step, whose measurements stand without it), when it is
// skipped with a note. The error says what is missing: fetch advice for a
// hub id only, and a missing directory before any want of a layer.
func TestComputeBERTScoreWithoutEncoder(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "1")
	missing := filepath.Join(t.TempDir(), "nonexistent")
	recs := []bench.Record{{Key: "a", Grid: "g", Status: "ok", Texts: []string{"the cat"}, Outputs: [][]int{{1}},
		Prompts: []bench.PromptRecord{{Text: "p", Reference: "the cat"}}, Cell: bench.Cell{Model: "m", ModelID: "nowhere/m"}}}
	for _, tc := range []struct {
		name   string
		o      BERTScoreOptions
		want   string // in the error
		advice bool   // 'dllmbench fetch' advised
	}{
		{"a directory that is not there, with its layer", BERTScoreOptions{Encoder: missing, Layer: 3}, missing + ": no such directory", false},
		{"a directory that is not there, without a layer", BERTScoreOptions{Encoder: missing}, missing + ": no such directory", false},
		{"a hub id not in the cache", BERTScoreOptions{}, "neither FacebookAI/roberta-large nor roberta-large is in the Hugging Face cache", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compute(context.Background(), recs, Options{Judge: NoJudge, BERTScore: &tc.o})
			if !errors.Is(err, ErrNoEncoder) || m != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want no metrics and ErrNoEncoder saying %q", m, err, tc.want)
			}
			if advice := strings.Contains(err.Error(), "dllmbench fetch"); advice != tc.advice {
				t.Errorf("fetch advised: %v, want %v: %v", advice, tc.advice, err)
			}
			opt := tc.o
			opt.Optional = true
			var notices []string
			m, err = Compute(context.Background(), recs, Options{Judge: NoJudge, BERTScore: &opt, Notice: func(s string) { notices = append(notices, s) }})
			if err != nil || m == nil || len(m.Cells) != 1 || !strings.Contains(m.BERTScoreNote, tc.want) ||
				!strings.Contains(strings.Join(notices, "\n"), "BERTScore skipped") {
				t.Fatalf("optional: %v, %v; want the metrics with a BERTScore note saying %q", m, err, tc.want)
			}
			if _, has := m.Cells[0].Metrics[MBERTScoreF1]; has {
				t.Errorf("optional: a BERTScore without an encoder")
			}
		})
	}
}

// Where an optional BERTScore is skipped, a cell keeps the BERTScore of
// the metrics it replaces, exactly, if that was computed from the same
// generations and references with the same bootstrap, and loses it
// otherwise; the note says how many were kept and dropped. An encoder that
// is here recomputes BERTScore whatever the earlier file says.
func TestComputeKeepsEarlierBERTScore(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "1")
	recs := []bench.Record{
		refRecord("a", []string{"the cat sat", "the hat"}, "the cat sat", "the cat"),
		refRecord("b", []string{"sat"}, "the cat sat"),
	}
	boot := Bootstrap{Resamples: 50}
	encoder := BERTScoreOptions{Encoder: writeTinyBERTScoreModel(t, 5), Layer: 2, Device: device.Options{Backend: "cpu", Threads: 1}}
	earlier, err := Compute(context.Background(), recs, Options{Judge: NoJudge, Bootstrap: boot, BERTScore: &encoder})
	if err != nil {
		t.Fatal(err)
	}
	// Through the file, as the quality step reads it.
	dir := t.TempDir()
	if _, err := WriteMetrics(dir, earlier); err != nil {
		t.Fatal(err)
	}
	if earlier, err = ReadMetrics(dir); err != nil {
		t.Fatal(err)
	}
	legacy := *earlier // a file written before cells had texts_sha256
	legacy.Cells = slices.Clone(earlier.Cells)
	for i := range legacy.Cells {
		legacy.Cells[i].TextsSHA = ""
	}
	changed := func(i int, f func(*bench.Record)) []bench.Record {
		rs := slices.Clone(recs)
		rs[i].Prompts = slices.Clone(rs[i].Prompts)
		rs[i].Texts = slices.Clone(rs[i].Texts)
		f(&rs[i])
		return rs
	}
	// The earlier encoder, no longer here.
	away := filepath.Join(t.TempDir(), "away")
	if err := os.Rename(encoder.Encoder, away); err != nil {
		t.Fatal(err)
	}
	missing := BERTScoreOptions{Encoder: encoder.Encoder, Layer: 2, Optional: true}
	anonymous := *earlier // a file written before it named its encoder
	anonymous.BERTScore = nil
	for _, tc := range []struct {
		name    string
		recs    []bench.Record
		earlier *Metrics
		boot    Bootstrap
		asked   BERTScoreOptions
		kept    []bool // per cell of recs
		note    string // in the note, besides "BERTScore skipped"
	}{
		{"no earlier metrics", recs, nil, boot, missing, []bool{false, false}, ""},
		{"the same generations", recs, earlier, boot, missing, []bool{true, true}, "kept the earlier BERTScore of 2 of 2 cells"},
		{"cell b generated again, differently", changed(1, func(r *bench.Record) { r.Texts[0] = "the cat" }), earlier, boot, missing,
			[]bool{true, false}, "dropped the earlier BERTScore of 1 of 2 cells"},
		{"cell a's second reference changed", changed(0, func(r *bench.Record) { r.Prompts[1].Reference = "a hat" }), earlier, boot, missing,
			[]bool{false, true}, "kept the earlier BERTScore of 1 of 2 cells"},
		// The file's one bootstrap describes every interval in it.
		{"another bootstrap seed", recs, earlier, Bootstrap{Resamples: 50, Seed: 1}, missing, []bool{false, false}, "dropped the earlier BERTScore of 2 of 2 cells"},
		// Nothing tells whether its generations are those of now.
		{"an earlier file without fingerprints", recs, &legacy, boot, missing, []bool{false, false}, "dropped the earlier BERTScore of 2 of 2 cells"},
		// The earlier BERTScore is another encoder's, or another layer's, or
		// nothing says whose: it is not the one asked for.
		{"another encoder asked for", recs, earlier, boot, BERTScoreOptions{Encoder: away + "-base", Layer: 2, Optional: true},
			[]bool{false, false}, "dropped the earlier BERTScore of 2 of 2 cells"},
		{"another layer asked for", recs, earlier, boot, BERTScoreOptions{Encoder: encoder.Encoder, Layer: 3, Optional: true},
			[]bool{false, false}, "dropped the earlier BERTScore of 2 of 2 cells"},
		{"an earlier file without its encoder", recs, &anonymous, boot, missing, []bool{false, false}, "dropped the earlier BERTScore of 2 of 2 cells"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var notices []string
			m, err := Compute(context.Background(), tc.recs, Options{Judge: NoJudge, Bootstrap: tc.boot, BERTScore: &tc.asked,
				Earlier: tc.earlier, Notice: func(s string) { notices = append(notices, s) }})
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range m.Cells {
				for _, name := range []string{MBERTScoreP, MBERTScoreR, MBERTScoreF1} {
					got, has := c.Metrics[name]
					if has != tc.kept[i] {
						t.Errorf("cell %s: %s present %v, want %v", c.Key, name, has, tc.kept[i])
					}
					if want := earlier.Cells[i].Metrics[name]; has && got != want {
						t.Errorf("cell %s: %s %+v, want the earlier %+v", c.Key, name, got, want)
					}
				}
			}
			var bertNotices []string
			for _, s := range notices {
				if strings.Contains(s, "BERTScore") {
					bertNotices = append(bertNotices, s)
				}
			}
			if len(bertNotices) != 1 || bertNotices[0] != m.BERTScoreNote || !strings.HasPrefix(m.BERTScoreNote, "BERTScore skipped: ") ||
				!strings.Contains(m.BERTScoreNote, tc.note) || tc.note == "" && strings.Contains(m.BERTScoreNote, "earlier") {
				t.Errorf("notices %q, note %q; want the note once, saying %q", notices, m.BERTScoreNote, tc.note)
			}
			// The kept BERTScore keeps its encoder's description.
			var want *BERTScoreEncoder
			if slices.Contains(tc.kept, true) {
				want = earlier.BERTScore
			}
			if diff := cmp.Diff(want, m.BERTScore); diff != "" {
				t.Errorf("encoder (-want +got):\n%s", diff)
			}
		})
	}

	// With its encoder, BERTScore is computed anew, not taken from the file.
	if err := os.Rename(away, encoder.Encoder); err != nil {
		t.Fatal(err)
	}
	bogus := *earlier
	bogus.Cells = slices.Clone(earlier.Cells)
	bogus.Cells[0].Metrics = maps.Clone(earlier.Cells[0].Metrics)
	bogus.Cells[0].Metrics[MBERTScoreF1] = Interval{42, 42, 42}
	m, err := Compute(context.Background(), recs, Options{Judge: NoJudge, Bootstrap: boot, BERTScore: &encoder, Earlier: &bogus})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Cells[0].Metrics[MBERTScoreF1], earlier.Cells[0].Metrics[MBERTScoreF1]; got != want || m.BERTScoreNote != "" {
		t.Errorf("with the encoder: F1 %+v, note %q; want the recomputed %+v and no note", got, m.BERTScoreNote, want)
	}
}

// refRecord is a cell of model m whose prompts have the references refs
// (an empty one: none) and whose generations are texts.
func refRecord(key string, texts []string, refs ...string) bench.Record {
	r := bench.Record{Key: key, Grid: "g", Status: "ok", Texts: texts, Cell: bench.Cell{Model: "m", ModelID: "nowhere/m"}}
	for i, ref := range refs {
		r.Prompts = append(r.Prompts, bench.PromptRecord{Text: "p", Reference: ref})
		r.Outputs = append(r.Outputs, []int{i})
	}
	return r
}
