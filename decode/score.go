package decode

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"dllmbench/model"
)

// ScoreState returns a run state for scoring sequences of up to n tokens,
// rows at a time (doubled under classifier-free guidance), or NewState's
// error for one that cannot fit.
func ScoreState(m *model.Model, rows, n int, cfg float64) (*model.State, error) {
	if cfg > 0 {
		rows = mulSat(rows, 2)
	}
	return m.NewState(rows, n, n, mulSat(rows, n))
}

// CausalScore returns the log-probability of each token of text given the
// context under a causal model, in float64. Without context the first token
// of text has nothing to be predicted from and is not scored: the result
// then has len(text)−1 entries. The model runs on every token but the last
// (whose prediction nothing needs), so context and text together may hold
// one token more than the model's context, as lm-evaluation-harness allows
// (its input is (context+text)[:−1]); s needs room for that many tokens.
func CausalScore(m *model.Model, s *model.State, context, text []int) ([]float64, error) {
	lp, _, err := causalScore(m, s, context, text)
	return lp, err
}

// causalScore is CausalScore that also reports whether every scored token
// is its prediction's argmax (lm-evaluation-harness's is_greedy).
func causalScore(m *model.Model, s *model.State, context, text []int) ([]float64, bool, error) {
	if m.Config.Family != model.Llama {
		return nil, false, fmt.Errorf("decode: causal scoring needs a causal model; %s is %s", m.Config.Arch, m.Config.Family)
	}
	seq := append(append([]int(nil), context...), text...)
	if err := checkIDs(m, seq); err != nil {
		return nil, false, err
	}
	first := len(context)
	if first == 0 {
		first = 1
	}
	n := len(seq) - 1 // the tokens the model runs on
	if n > m.Config.MaxSeqLen {
		return nil, false, fmt.Errorf("decode: %d tokens exceed the model's context of %d (and the one token scored after it)", len(seq), m.Config.MaxSeqLen)
	}
	out := len(seq) - first
	if out <= 0 {
		return nil, true, nil
	}
	if s.B != 1 || s.N < n || s.M < n {
		panic(fmt.Sprintf("decode: score state B=%d N=%d M=%d for %d tokens", s.B, s.N, s.M, n))
	}
	for i, id := range seq[:n] {
		s.Tokens[i], s.Pos[i], s.Slots[i] = int32(id), int32(i), int32(i)
	}
	s.Span[0], s.Span[1] = 0, int32(n)
	for j := range out {
		s.Out[j] = int32(first - 1 + j) // position p predicts token p+1
	}
	if err := m.Forward(s, n, out); err != nil {
		return nil, false, err
	}
	logits, err := m.Logits(s, out)
	if err != nil {
		return nil, false, err
	}
	V := m.Config.VocabSize
	lp := make([]float64, out)
	greedy := true
	for j := range out {
		lg := logits[j*V : (j+1)*V]
		lp[j] = LogProb(lg, seq[first+j])
		greedy = greedy && Argmax(lg) == seq[first+j]
	}
	return lp, greedy, nil
}

// Score is a text's score under a causal model.
type Score struct {
	LogProbs []float64 // log p of each scored token, in order, in nats
	// Greedy: every scored token is the argmax of its prediction (the
	// first of equal logits, as torch.argmax), lm-evaluation-harness's
	// is_greedy.
	Greedy    bool
	Windows   int // forward passes: 1, or the rolling windows
	Truncated int // context tokens dropped from the left to fit the model
}

// NLL returns −Σ LogProbs in float64.
func (sc Score) NLL() float64 {
	var nll float64
	for _, v := range sc.LogProbs {
		nll -= v
	}
	return nll
}

// Loglikelihood scores text after a non-empty context as
// lm-evaluation-harness's HFLM._loglikelihood_tokens does
// (lm_eval/models/huggingface.py): every token of text, the context cut from
// the left (BOS included) when the two hold more than the model's context
// plus one token. A text longer than the model's context is an error, as
// there. s needs room for min(len(context)+len(text)−1, MaxSeqLen) tokens.
func Loglikelihood(m *model.Model, s *model.State, context, text []int) (Score, error) {
	L := m.Config.MaxSeqLen
	switch {
	case len(context) == 0:
		panic("decode: Loglikelihood needs a context (see PrefixContext)")
	case len(text) == 0:
		return Score{}, fmt.Errorf("decode: nothing to score: the text has no tokens")
	case len(text) > L:
		return Score{}, fmt.Errorf("decode: the text's %d tokens exceed the model's context of %d", len(text), L)
	}
	var sc Score
	if over := len(context) + len(text) - (L + 1); over > 0 {
		context, sc.Truncated = context[over:], over
	}
	var err error
	sc.LogProbs, sc.Greedy, err = causalScore(m, s, context, text)
	sc.Windows = 1
	return sc, err
}

// RollingWindows cuts tokens into lm-evaluation-harness's rolling windows
// for a model of maxLen tokens of context (get_rolling_token_windows with
// context_len 1 and make_disjoint_window, lm_eval/utils.py): each window is
// a context and the tokens it predicts, every token predicted exactly once,
// the first from prefix alone, and every window after the first given the
// full maxLen tokens before its last prediction. Each window's context and
// predictions hold maxLen+1 tokens at most, the model running on maxLen.
func RollingWindows(prefix int, tokens []int, maxLen int) (ctx, pred [][]int) {
	if maxLen < 1 {
		panic(fmt.Sprintf("decode: rolling windows of %d tokens", maxLen))
	}
	if len(tokens) == 0 {
		return nil, nil
	}
	first := min(maxLen, len(tokens))
	ctx, pred = append(ctx, []int{prefix}), append(pred, tokens[:first])
	for done := first; done < len(tokens); {
		k := min(len(tokens)-done, maxLen) // predictions of this window
		end := done + k
		// Inputs tokens[end−maxLen−1 : end−1], made disjoint from the
		// predictions tokens[end−k : end].
		ctx = append(ctx, tokens[end-maxLen-1:end-k])
		pred = append(pred, tokens[end-k:end])
		done = end
	}
	return ctx, pred
}

// LoglikelihoodRolling scores tokens with no context as
// lm-evaluation-harness's loglikelihood_rolling does: the first token
// predicted from prefix (its BOS), a text longer than the model's context in
// [RollingWindows], the log-probabilities concatenated. Greedy covers every
// window. s needs room for min(len(tokens), MaxSeqLen) tokens. It stops
// before its next window once ctx is cancelled and returns ctx's error.
func LoglikelihoodRolling(ctx context.Context, m *model.Model, s *model.State, prefix int, tokens []int) (Score, error) {
	if len(tokens) == 0 {
		return Score{}, fmt.Errorf("decode: nothing to score: the text has no tokens")
	}
	cs, ps := RollingWindows(prefix, tokens, m.Config.MaxSeqLen)
	sc := Score{Greedy: true, LogProbs: make([]float64, 0, len(tokens))}
	for i := range cs {
		if err := ctx.Err(); err != nil {
			return Score{}, err
		}
		lp, g, err := causalScore(m, s, cs[i], ps[i])
		if err != nil {
			return Score{}, err
		}
		sc.LogProbs = append(sc.LogProbs, lp...)
		sc.Greedy = sc.Greedy && g
		sc.Windows++
	}
	return sc, nil
}

func checkIDs(m *model.Model, ids []int) error {
	for _, id := range ids {
		if id < 0 || id >= m.Config.VocabSize {
			return fmt.Errorf("decode: token id %d outside the vocabulary of %d", id, m.Config.VocabSize)
		}
	}
	return nil
}

// MaskedBatch is one Monte-Carlo batch of LLaDA's likelihood estimate: each
// row of Noisy is the sequence with some answer tokens replaced by the mask,
// PMask[r] the fraction of the answer masked in row r.
type MaskedBatch struct {
	Noisy [][]int
	PMask []float64
}

// MaskedLoss returns get_log_likelihood's loss of one batch: the sum over
// rows and masked positions of −log p(seq[i]) / PMask[row], divided by the
// number of rows. Under guidance (cfg > 0) the logits are
// un + (cfg+1)(cond − un) with the prompt masked in the unconditional copy.
func MaskedLoss(m *model.Model, s *model.State, seq []int, promptLen int, b MaskedBatch, cfg float64) (float64, error) {
	rows := len(b.Noisy)
	logits, err := forwardMasked(m, s, b.Noisy, len(seq), promptLen, cfg)
	if err != nil {
		return 0, err
	}
	V := m.Config.VocabSize
	var loss float64
	j := 0
	for r := range rows {
		for i, id := range b.Noisy[r] {
			if id != m.Config.MaskID {
				continue
			}
			loss -= LogProb(logits[j*V:(j+1)*V], seq[i]) / b.PMask[r]
			j++
		}
	}
	return loss / float64(rows), nil
}

// forwardMasked runs rows of n tokens, each with its prompt masked out in an
// unconditional copy under guidance (cfg > 0), and returns the logits of
// every row's masked positions in order, under guidance (cfg > 0) the
// copies' logits combined into them on the backend (model.GuideLogits:
// un + (cfg+1)(cond − un)).
func forwardMasked(m *model.Model, s *model.State, noisy [][]int, n, promptLen int, cfg float64) ([]float32, error) {
	rows := len(noisy)
	mask := m.Config.MaskID
	total := rows
	if cfg > 0 {
		total *= 2
	}
	if s.B != total || s.N < n || s.M < total*n {
		panic(fmt.Sprintf("decode: score state B=%d N=%d M=%d for %d rows of %d tokens", s.B, s.N, s.M, total, n))
	}
	out := 0
	for r := range total {
		x := noisy[r%rows]
		for i := range n {
			id := x[i]
			if r >= rows && i < promptLen {
				id = mask // the unconditional copy: prompt masked out
			}
			k := r*n + i
			s.Tokens[k], s.Pos[k], s.Slots[k] = int32(id), int32(i), int32(i)
		}
		s.Span[2*r], s.Span[2*r+1] = 0, int32(n)
	}
	// Outputs: the masked positions of each conditional row, then the same
	// positions of the unconditional copies.
	for r := range rows {
		for i, id := range noisy[r] {
			if id == mask {
				s.Out[out] = int32(r*n + i)
				out++
			}
		}
	}
	cond := out
	if cfg > 0 {
		for j := range cond {
			s.Out[out] = s.Out[j] + int32(rows*n)
			out++
		}
	}
	if err := m.Forward(s, n, out); err != nil {
		return nil, err
	}
	if cfg > 0 {
		m.GuideLogits(s, cond, float32(cfg+1))
	}
	return m.Logits(s, cond)
}

// SuffixGreedy reports whether LLaDA decodes answer after prompt greedily
// one token a step, as eval_llada.py's suffix_greedy_prediction checks for
// lm-evaluation-harness's is_greedy: from the answer fully masked, each step
// commits the argmax (over the whole vocabulary, as there) at the masked
// position whose argmax is most probable (the first of equal ones), until
// every position is decided; the answer is greedy when the result is the
// answer. The confidences are float64 softmax probabilities (the reference
// takes them in float32). It stops at the first committed token that is not
// the answer's, which decides the result, and before its next step once ctx
// is cancelled. s is a ScoreState for one row of len(prompt)+len(answer)
// tokens under cfg.
func SuffixGreedy(ctx context.Context, m *model.Model, s *model.State, prompt, answer []int, cfg float64) (bool, error) {
	if m.Config.Family != model.LLaDA {
		return false, fmt.Errorf("decode: the greedy suffix check needs a masked-diffusion model; %s is %s", m.Config.Arch, m.Config.Family)
	}
	mask, V := m.Config.MaskID, m.Config.VocabSize
	seq := append([]int(nil), prompt...)
	for range answer {
		seq = append(seq, mask)
	}
	if err := checkIDs(m, append(append([]int(nil), prompt...), answer...)); err != nil {
		return false, err
	}
	for range answer {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		logits, err := forwardMasked(m, s, [][]int{seq}, len(seq), len(prompt), cfg)
		if err != nil {
			return false, err
		}
		best, tok, conf := -1, 0, math.Inf(-1)
		j := 0
		for i, id := range seq {
			if id != mask {
				continue
			}
			lg := logits[j*V : (j+1)*V]
			x := Argmax(lg)
			if p := Prob(lg, x); p > conf || best < 0 {
				best, tok, conf = i, x, p
			}
			j++
		}
		if seq[best] = tok; tok != mask && tok != answer[best-len(prompt)] {
			return false, nil
		}
	}
	for i, id := range answer {
		if seq[len(prompt)+i] != id {
			return false, nil
		}
	}
	return true, nil
}

// StratifiedMasks draws one batch the way LLaDA's forward_process does: a
// random k in 1..T, mask counts spread evenly from k over the batch
// (round(linspace(k, k+(b−1)T/b, b)), wrapped into 1..T: [maskCounts]), and
// each row masks that many uniformly chosen answer positions. The prompt is
// never masked.
func StratifiedMasks(seq []int, promptLen, rows, maskID int, rng *rand.Rand) MaskedBatch {
	T := len(seq) - promptLen
	b := MaskedBatch{Noisy: make([][]int, rows), PMask: make([]float64, rows)}
	for r, cnt := range maskCounts(1+rng.IntN(T), T, rows) {
		x := append([]int(nil), seq...)
		for _, p := range rng.Perm(T)[:cnt] {
			x[promptLen+p] = maskID
		}
		b.Noisy[r], b.PMask[r] = x, float64(cnt)/float64(T)
	}
	return b
}

// maskCounts returns forward_process's mask counts for k in 1..T over a
// batch of b rows: ((round(linspace(k, k+(b−1)·(T/b), b)) − 1) mod T) + 1,
// with linspace in float32 as PyTorch computes it (the end a float32 tensor,
// step = (end−start)/(b−1), start + step·i for the first b/2 values and
// end − step·(b−1−i) for the rest: linspace_kernel of
// aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp, the CUDA kernel's
// fused multiply-adds rounding these values alike) and round half to even.
// Where the exact value is a half-integer that neither float holds (b = 6,
// T = 5, k = 4: 6.5, float32 6.4999995, float64 6.500000000000001), float64
// arithmetic rounds the other way: a count one off in a few rows of a batch
// whose size is not a power of two.
// The explicit conversions keep Go from fusing the products into the sums.
func maskCounts(k, T, b int) []int {
	start := float32(k)
	end := float32(start + float32(float64(b-1)*(float64(T)/float64(b))))
	step := float32((end - start) / float32(max(b-1, 1)))
	counts := make([]int, b)
	for r := range counts {
		v := start
		switch {
		case b == 1:
		case r < b/2:
			v = float32(start + float32(step*float32(r)))
		default:
			v = float32(end - float32(step*float32(b-1-r)))
		}
		counts[r] = (int(math.RoundToEven(float64(v)))-1)%T + 1
	}
	return counts
}

// LogLikelihood estimates log p(answer | prompt) under a LLaDA model with
// get_log_likelihood's Monte-Carlo bound: mcNum samples in batches of
// batchSize, returning minus the mean batch loss and the batch losses.
func LogLikelihood(m *model.Model, s *model.State, prompt, answer []int, mcNum, batchSize int, cfg float64, seed uint64) (float64, []float64, error) {
	return LogLikelihoodContext(context.Background(), m, s, prompt, answer, mcNum, batchSize, cfg, seed)
}

// LogLikelihoodContext is LogLikelihood, stopped before its next batch once
// ctx is cancelled; it then returns ctx's error.
func LogLikelihoodContext(ctx context.Context, m *model.Model, s *model.State, prompt, answer []int, mcNum, batchSize int, cfg float64, seed uint64) (float64, []float64, error) {
	if m.Config.Family != model.LLaDA {
		return 0, nil, fmt.Errorf("decode: the masked likelihood needs a masked-diffusion model; %s is %s", m.Config.Arch, m.Config.Family)
	}
	if len(answer) == 0 {
		return 0, nil, fmt.Errorf("decode: nothing to score: the text is empty")
	}
	if batchSize < 1 || mcNum < batchSize || mcNum%batchSize != 0 {
		return 0, nil, fmt.Errorf("decode: mc-samples %d must be a positive multiple of the batch size %d", mcNum, batchSize)
	}
	if !(cfg >= 0) || math.IsInf(cfg, 1) { // NaN fails ≥ too
		return 0, nil, fmt.Errorf("decode: cfg-scale %g: want a finite number ≥ 0", cfg)
	}
	seq := append(append([]int(nil), prompt...), answer...)
	if err := checkIDs(m, seq); err != nil {
		return 0, nil, err
	}
	if len(seq) > m.Config.MaxSeqLen {
		return 0, nil, fmt.Errorf("decode: %d tokens exceed the model's context of %d", len(seq), m.Config.MaxSeqLen)
	}
	rng := rand.New(rand.NewPCG(seed, 0x11ada))
	var losses []float64
	var sum float64
	for range mcNum / batchSize {
		if err := ctx.Err(); err != nil {
			return 0, nil, err
		}
		b := StratifiedMasks(seq, len(prompt), batchSize, m.Config.MaskID, rng)
		l, err := MaskedLoss(m, s, seq, len(prompt), b, cfg)
		if err != nil {
			return 0, nil, err
		}
		losses = append(losses, l)
		sum += l
	}
	return -sum / float64(len(losses)), losses, nil
}
