package decode_test

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"dllmbench/decode"
	"dllmbench/internal/testmodel"
	"dllmbench/model"
	"dllmbench/tokenizer"
)

// tinyLlama is testmodel's tiny causal model with a context of maxSeq
// tokens, so that a few tokens overflow it.
func tinyLlama(t *testing.T, maxSeq int) *model.Model {
	spec := testmodel.Tiny(model.Llama)
	spec.MaxSeq = maxSeq
	return load(t, spec)
}

func randomIDs(n int, vocab int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 1))
	ids := make([]int, n)
	for i := range ids {
		ids[i] = 1 + rng.IntN(vocab-2)
	}
	return ids
}

func causalScore(t *testing.T, m *model.Model, ctx, text []int) []float64 {
	t.Helper()
	s := testmodel.MustState(t)(decode.ScoreState(m, 1, len(ctx)+len(text), 0))
	defer s.Close()
	lp, err := decode.CausalScore(m, s, ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	return lp
}

// near reports whether a and b are equal within 1e-9, relatively.
func near(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-9*math.Max(1, math.Abs(b[i])) {
			return false
		}
	}
	return true
}

// lm-evaluation-harness's own example of its rolling windows (the
// docstring of LM.loglikelihood_rolling, lm_eval/api/model.py): tokens 0–9,
// a BOS prefix, a context of 4: inputs BOS 0 1 2 | 3 4 5 6 | 5 6 7 8
// predicting 0 1 2 3 | 4 5 6 7 | 8 9. The contexts are the inputs less the
// predictions (make_disjoint_window).
func TestRollingWindowsLMEvalExample(t *testing.T) {
	const bos = 100
	ctx, pred := decode.RollingWindows(bos, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 4)
	if d := cmp.Diff([][]int{{bos}, {3}, {5, 6, 7}}, ctx); d != "" {
		t.Errorf("contexts (-want +got):\n%s", d)
	}
	if d := cmp.Diff([][]int{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}}, pred); d != "" {
		t.Errorf("predictions (-want +got):\n%s", d)
	}
}

// Every token is predicted once, in order, right after its window's
// context, which runs the model on maxLen tokens at most and on exactly
// maxLen in every window after the first.
func TestRollingWindowsCover(t *testing.T) {
	const bos = -7
	for maxLen := 1; maxLen <= 6; maxLen++ {
		for n := 1; n <= 20; n++ {
			tokens := make([]int, n)
			for i := range tokens {
				tokens[i] = i
			}
			full := append([]int{bos}, tokens...)
			ctx, pred := decode.RollingWindows(bos, tokens, maxLen)
			var all []int
			for i := range pred {
				all = append(all, pred[i]...)
				run := len(ctx[i]) + len(pred[i]) - 1
				if run > maxLen || i > 0 && run != maxLen {
					t.Errorf("maxLen %d, n %d, window %d: runs on %d tokens", maxLen, n, i, run)
				}
				at := slices.Index(full, pred[i][0]) // where the predictions start in full
				if !slices.Equal(full[at-len(ctx[i]):at], ctx[i]) {
					t.Errorf("maxLen %d, n %d, window %d: context %v is not what precedes %v", maxLen, n, i, ctx[i], pred[i])
				}
			}
			if !slices.Equal(all, tokens) {
				t.Errorf("maxLen %d, n %d: predicted %v", maxLen, n, all)
			}
		}
	}
}

// Context and text may hold one token more than the model's context, as in
// lm-evaluation-harness, whose input is (context+text)[:−1]: the last token
// is predicted, never run on. This was an error.
func TestCausalScoreContextPlusOne(t *testing.T) {
	m := tinyLlama(t, 8)
	seq := randomIDs(9, m.Config.VocabSize, 1)
	s := testmodel.MustState(t)(decode.ScoreState(m, 1, 8, 0))
	defer s.Close()
	lp, err := decode.CausalScore(m, s, seq[:1], seq[1:])
	if err != nil {
		t.Fatal(err)
	}
	if want := causalScore(t, m, seq[:1], seq[1:8]); len(lp) != 8 || !near(lp[:7], want) {
		t.Errorf("scores %v; the first 7 should be %v", lp, want)
	}
	if _, err := decode.CausalScore(m, s, seq[:2], append(seq[1:], 5)); err == nil || !strings.Contains(err.Error(), "exceed") {
		t.Errorf("11 tokens on a context of 8: %v", err)
	}
}

// Without a context the text is scored in rolling windows: a text that fits
// is one window, every token predicted from the prefix on; a longer one is
// every token once, the last from the full context before it.
func TestLoglikelihoodRolling(t *testing.T) {
	const L = 8
	m := tinyLlama(t, L)
	s := testmodel.MustState(t)(decode.ScoreState(m, 1, L, 0))
	defer s.Close()
	bos := m.Config.BOS
	short := randomIDs(L, m.Config.VocabSize, 2)
	sc, err := decode.LoglikelihoodRolling(context.Background(), m, s, bos, short)
	if err != nil {
		t.Fatal(err)
	}
	if want := causalScore(t, m, []int{bos}, short); sc.Windows != 1 || !near(sc.LogProbs, want) {
		t.Errorf("a text that fits: %d windows, %v; want 1, %v", sc.Windows, sc.LogProbs, want)
	}
	long := randomIDs(3*L+3, m.Config.VocabSize, 3)
	sc, err = decode.LoglikelihoodRolling(context.Background(), m, s, bos, long)
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.LogProbs) != len(long) || sc.Windows != 4 {
		t.Fatalf("%d tokens in %d windows; want %d in 4", len(sc.LogProbs), sc.Windows, len(long))
	}
	if want := causalScore(t, m, []int{bos}, long[:L]); !near(sc.LogProbs[:L], want) {
		t.Errorf("first window %v, want %v", sc.LogProbs[:L], want)
	}
	n := len(long)
	if want := causalScore(t, m, long[n-1-L:n-1], long[n-1:]); !near(sc.LogProbs[n-1:], want) {
		t.Errorf("last token %v, want %v from the %d tokens before it", sc.LogProbs[n-1:], want, L)
	}
}

// With a context, what exceeds the model's context plus one token is cut
// from the context's left, as lm-evaluation-harness cuts it; a text longer
// than the model's context is an error.
func TestLoglikelihoodTruncates(t *testing.T) {
	const L = 8
	m := tinyLlama(t, L)
	s := testmodel.MustState(t)(decode.ScoreState(m, 1, L, 0))
	defer s.Close()
	ids := randomIDs(20, m.Config.VocabSize, 4)
	for _, tc := range []struct {
		ctx, text, cut int
	}{
		{5, 4, 0}, // 9 = L+1 tokens: nothing cut
		{6, 4, 1}, // one too many
		{9, 8, 8}, // the text fills the context; one context token left
	} {
		ctx, text := ids[:tc.ctx], ids[tc.ctx:tc.ctx+tc.text]
		sc, err := decode.Loglikelihood(m, s, ctx, text)
		if err != nil {
			t.Fatal(err)
		}
		if want := causalScore(t, m, ctx[tc.cut:], text); sc.Truncated != tc.cut || !near(sc.LogProbs, want) {
			t.Errorf("%d+%d tokens: cut %d, %v; want %d cut, %v", tc.ctx, tc.text, sc.Truncated, sc.LogProbs, tc.cut, want)
		}
	}
	if _, err := decode.Loglikelihood(m, s, ids[:1], ids[1:L+2]); err == nil || !strings.Contains(err.Error(), "text's 9 tokens exceed") {
		t.Errorf("a text of L+1 tokens: %v", err)
	}
}

// is_greedy: the model's own greedy continuation is greedy; one token
// changed is not.
func TestScoreGreedy(t *testing.T) {
	m := tinyLlama(t, 64)
	prompt := []int{m.Config.BOS, 5, 9, 13}
	as := testmodel.MustState(t)(decode.ARState(m, 1, len(prompt), 6, 0))
	defer as.Close()
	res, err := decode.Generate(m, as, [][]int{prompt}, decode.AROptions{MaxNew: 6, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	gen := res.IDs[0]
	s := testmodel.MustState(t)(decode.ScoreState(m, 1, 64, 0))
	defer s.Close()
	sc, err := decode.Loglikelihood(m, s, prompt, gen)
	if err != nil || !sc.Greedy {
		t.Errorf("greedy continuation %v: greedy %v, %v", gen, sc.Greedy, err)
	}
	other := slices.Clone(gen)
	other[len(other)-1] = (other[len(other)-1] + 1) % m.Config.VocabSize
	if sc, err := decode.Loglikelihood(m, s, prompt, other); err != nil || sc.Greedy {
		t.Errorf("last token changed: greedy %v, %v", sc.Greedy, err)
	}
	if sc, err := decode.LoglikelihoodRolling(context.Background(), m, s, prompt[0], append(prompt[1:], gen...)); err != nil || sc.Greedy {
		// The prompt's own tokens are random, not the model's choices.
		t.Errorf("rolling over the random prompt: greedy %v, %v", sc.Greedy, err)
	}
}

func demoTokenizer(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.Load("../internal/demo/files/demo-llama")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// EncodePair is lm-evaluation-harness's _encode_pair: the context's
// trailing whitespace moves to the continuation, the pair is encoded whole
// with the template's BOS (once, even when the context starts with its
// text) and split after the context's own tokens.
func TestEncodePair(t *testing.T) {
	tok := demoTokenizer(t)
	bos, _ := tok.BOS()
	bosText, _ := tok.Token(bos)
	// "by " + "Thomas" is "by" + " Thomas": the space is the continuation's.
	c1, t1, m1 := decode.EncodePair(tok, "The film was directed by ", "Thomas")
	c2, t2, m2 := decode.EncodePair(tok, "The film was directed by", " Thomas")
	if !slices.Equal(c1, c2) || !slices.Equal(t1, t2) || m1 || m2 {
		t.Errorf("trailing space: %v %v (%v) and %v %v (%v) differ", c1, t1, m1, c2, t2, m2)
	}
	if want := tok.Encode(" Thomas", false); !slices.Equal(t1, want) {
		t.Errorf("continuation %v, want %v", t1, want)
	}
	if c1[0] != bos || c1[1] == bos {
		t.Errorf("context %v: want one BOS first", c1)
	}
	// A context that starts with BOS's text gets no second BOS.
	if c, _, _ := decode.EncodePair(tok, bosText+"Hi there", " you"); c[0] != bos || c[1] == bos {
		t.Errorf("context with BOS text: %v", c)
	}
	// An empty context is what the template adds: BOS.
	if c, x, _ := decode.EncodePair(tok, "", "abc"); !slices.Equal(c, []int{bos}) || !slices.Equal(x, tok.Encode("abc", false)) {
		t.Errorf("empty context: %v %v", c, x)
	}
	// "hello" + "world" encodes "helloworld" across the boundary: the
	// continuation is what follows the context's own tokens, and the merge
	// is reported.
	c, x, merged := decode.EncodePair(tok, "hello", "world")
	whole := tok.Encode("helloworld", true)
	if !merged || !slices.Equal(x, whole[len(c):]) {
		t.Errorf("merged pair: %v %v, merged %v; whole %v", c, x, merged, whole)
	}
}

// PrefixContext: the prefix token, or the continuation's first token when
// it is the prefix already (lm-evaluation-harness's loglikelihood with an
// empty context), or when there is no prefix.
func TestPrefixContext(t *testing.T) {
	for _, tc := range []struct {
		cont      []int
		prefix    int
		ctx, rest []int
	}{
		{[]int{5, 6}, 1, []int{1}, []int{5, 6}}, // BOS before the text
		{[]int{1, 5}, 1, []int{1}, []int{5}},    // the text starts with BOS: not doubled
		{[]int{5, 6}, -1, []int{5}, []int{6}},   // no BOS or EOS: the first token is the context
		{[]int{5}, 1, []int{1}, []int{5}},       // one token, scored
	} {
		ctx, rest := decode.PrefixContext(tc.cont, tc.prefix)
		if !slices.Equal(ctx, tc.ctx) || !slices.Equal(rest, tc.rest) {
			t.Errorf("PrefixContext(%v, %d) = %v, %v; want %v, %v", tc.cont, tc.prefix, ctx, rest, tc.ctx, tc.rest)
		}
	}
}

// Words as lm-evaluation-harness counts them, len(re.split(r"\s+", s));
// the expected counts are Python 3's.
func TestCountWords(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want int
	}{
		{"", 1},
		{"a", 1},
		{"hello world", 2},
		{" hello world", 3},    // a leading space splits off an empty word
		{"hello world ", 3},    // and a trailing one
		{"a  \t\n b", 2},       // one run of whitespace
		{"a\x1cb", 2},          // Python's whitespace includes U+001C–U+001F
		{"a\u00a0b\u3000c", 3}, // and Unicode's spaces
		{"a\u200bb", 1},        // not a zero-width space
		{"\n", 2},
	} {
		if got := decode.CountWords(tc.s); got != tc.want {
			t.Errorf("CountWords(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
}

// eval_llada.py's suffix_greedy_prediction: what LLaDA's reference decoder
// generates one token a step in one block (temperature 0, low-confidence
// remasking: the same rule) is greedy, with and without guidance; one token
// changed is not.
func TestSuffixGreedy(t *testing.T) {
	m, g := lladaGoldens(t)
	prompt := g.ReferenceGenerate[0].Prompt
	for _, cfg := range []float64{0, 1.5} {
		const n = 8
		o := decode.DiffusionOptions{GenLength: n, Steps: n, BlockLength: n, Remasking: decode.LowConfidence, CFGScale: cfg,
			Cache: decode.CacheNone, HostCommit: true}
		res, err := decode.Diffuse(m, testmodel.MustState(t)(decode.DiffusionState(m, 1, len(prompt), o)), [][]int{prompt}, o)
		if err != nil {
			t.Fatal(err)
		}
		answer := res.IDs[0]
		if len(answer) != n {
			t.Fatalf("generated %v, want %d tokens", answer, n)
		}
		s := testmodel.MustState(t)(decode.ScoreState(m, 1, len(prompt)+n, cfg))
		ok, err := decode.SuffixGreedy(context.Background(), m, s, prompt, answer, cfg)
		if err != nil || !ok {
			t.Errorf("cfg %g: the decoder's own %v: greedy %v, %v", cfg, answer, ok, err)
		}
		other := slices.Clone(answer)
		other[n-1] = (other[n-1] + 1) % m.Config.MaskID
		if ok, err := decode.SuffixGreedy(context.Background(), m, s, prompt, other, cfg); err != nil || ok {
			t.Errorf("cfg %g: last token changed: greedy %v, %v", cfg, ok, err)
		}
		s.Close()
	}
}

// MaskedLoss under guidance is get_log_likelihood's: each masked position's
// log-probability under un + (cfg+1)(cond − un), the unconditional row the
// sequence with its prompt masked, computed here from the two rows' own
// logits on the host.
func TestMaskedLossGuided(t *testing.T) {
	m := load(t, testmodel.Tiny(model.LLaDA))
	mask := m.Config.MaskID
	seq := []int{3, 9, 4, 7, 11, 5}
	const promptLen, cfg = 2, 1.5
	noisy := []int{3, 9, mask, 7, mask, mask}
	b := decode.MaskedBatch{Noisy: [][]int{noisy}, PMask: []float64{0.75}}
	s := testmodel.MustState(t)(decode.ScoreState(m, 1, len(seq), cfg))
	got, err := decode.MaskedLoss(m, s, seq, promptLen, b, cfg)
	if err != nil {
		t.Fatal(err)
	}

	// The definition: both rows through the model, their logits combined.
	n := len(seq)
	r := testmodel.MustState(t)(m.NewState(2, n, n, 2*n))
	for row := range 2 {
		for i, id := range noisy {
			if row == 1 && i < promptLen {
				id = mask
			}
			k := row*n + i
			r.Tokens[k], r.Pos[k], r.Slots[k], r.Out[k] = int32(id), int32(i), int32(i), int32(k)
		}
		r.Span[2*row], r.Span[2*row+1] = 0, int32(n)
	}
	if err := m.Forward(r, n, 2*n); err != nil {
		t.Fatal(err)
	}
	lg, err := m.Logits(r, 2*n)
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.VocabSize
	guided := make([]float32, V)
	var want float64
	for i, id := range noisy {
		if id != mask {
			continue
		}
		c, u := lg[i*V:(i+1)*V], lg[(n+i)*V:(n+i+1)*V]
		for v := range guided {
			guided[v] = u[v] + float32(float32(cfg+1)*(c[v]-u[v]))
		}
		want -= decode.LogProb(guided, seq[i]) / b.PMask[0]
	}
	if got != want {
		t.Errorf("guided loss %.17g, the definition %.17g", got, want)
	}
}
