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
// then has len(text)−1 entries.
func CausalScore(m *model.Model, s *model.State, context, text []int) ([]float64, error) {
	if m.Config.Family != model.Llama {
		return nil, fmt.Errorf("decode: causal scoring needs a causal model; %s is %s", m.Config.Arch, m.Config.Family)
	}
	seq := append(append([]int(nil), context...), text...)
	if err := checkIDs(m, seq); err != nil {
		return nil, err
	}
	first := len(context)
	if first == 0 {
		first = 1
	}
	n := len(seq)
	if n > m.Config.MaxSeqLen {
		return nil, fmt.Errorf("decode: %d tokens exceed the model's context of %d", n, m.Config.MaxSeqLen)
	}
	if s.B != 1 || s.N < n || s.M < n {
		panic(fmt.Sprintf("decode: score state B=%d N=%d M=%d for %d tokens", s.B, s.N, s.M, n))
	}
	out := n - first
	if out <= 0 {
		return nil, nil
	}
	for i, id := range seq {
		s.Tokens[i], s.Pos[i], s.Slots[i] = int32(id), int32(i), int32(i)
	}
	s.Span[0], s.Span[1] = 0, int32(n)
	for j := range out {
		s.Out[j] = int32(first - 1 + j) // position p predicts token p+1
	}
	if err := m.Forward(s, n, out); err != nil {
		return nil, err
	}
	logits, err := m.Logits(s, out)
	if err != nil {
		return nil, err
	}
	V := m.Config.VocabSize
	lp := make([]float64, out)
	for j := range out {
		lp[j] = LogProb(logits[j*V:(j+1)*V], seq[first+j])
	}
	return lp, nil
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
	rows, n := len(b.Noisy), len(seq)
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
		x := b.Noisy[r%rows]
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
		for i, id := range b.Noisy[r] {
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
		return 0, err
	}
	logits, err := m.Logits(s, out)
	if err != nil {
		return 0, err
	}
	V := m.Config.VocabSize
	guided := make([]float32, V)
	var loss float64
	j := 0
	for r := range rows {
		for i, id := range b.Noisy[r] {
			if id != mask {
				continue
			}
			lg := logits[j*V : (j+1)*V]
			if cfg > 0 {
				un := logits[(cond+j)*V : (cond+j+1)*V]
				for v := range guided {
					guided[v] = un[v] + float32(cfg+1)*(lg[v]-un[v])
				}
				lg = guided
			}
			loss -= LogProb(lg, seq[i]) / b.PMask[r]
			j++
		}
	}
	return loss / float64(rows), nil
}

// StratifiedMasks draws one batch the way LLaDA's forward_process does: a
// random k in 1..T, mask counts spread evenly from k over the batch
// (round(linspace(k, k+(b−1)T/b, b)), wrapped into 1..T), and each row
// masks that many uniformly chosen answer positions. The prompt is never
// masked.
func StratifiedMasks(seq []int, promptLen, rows, maskID int, rng *rand.Rand) MaskedBatch {
	T := len(seq) - promptLen
	k := 1 + rng.IntN(T)
	b := MaskedBatch{Noisy: make([][]int, rows), PMask: make([]float64, rows)}
	for r := range rows {
		var v float64
		if rows == 1 {
			v = float64(k)
		} else {
			end := float64(k) + float64(rows-1)*(float64(T)/float64(rows))
			v = float64(k) + (end-float64(k))*float64(r)/float64(rows-1)
		}
		cnt := (int(math.RoundToEven(v))-1)%T + 1
		x := append([]int(nil), seq...)
		for _, p := range rng.Perm(T)[:cnt] {
			x[promptLen+p] = maskID
		}
		b.Noisy[r], b.PMask[r] = x, float64(cnt)/float64(T)
	}
	return b
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
