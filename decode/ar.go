package decode

import (
	"context"
	"errors"
	"fmt"
	"time"

	"dllmbench/model"
)

// AROptions configure autoregressive generation.
type AROptions struct {
	MaxNew int // tokens to generate per row
	// IgnoreEOS generates MaxNew tokens whatever is sampled, on past an EOS
	// as vLLM's ignore_eos does (benchmarks), not forbidding EOS as
	// transformers' min_new_tokens does.
	IgnoreEOS bool
	Sampler   *Sampler
	// PrefillChunk bounds the prompt tokens per row that one forward call
	// processes; 0 means the whole prompt in one call.
	PrefillChunk int
	// OnStep, when set, is called after each forward call's tokens are
	// known, with the call's index (0 is the prefill).
	OnStep func(step int)
	// Start, when set, is the instant Prefill and StepEnd count from: a
	// caller that times the whole call on its own clock (a benchmark's
	// batch latency) passes its start, so that the time to first token
	// includes the call's checks and allocations as its latency does.
	// Zero: the call's own start, after them.
	Start time.Time
}

// ARResult is the outcome of generating for a batch.
type ARResult struct {
	IDs [][]int // per row, every sampled id (a stopping EOS included)
	NFE int     // forward calls: a chunked prefill counts each chunk
	// StepEnd holds, for each generated position, when its tokens were
	// known, measured on the monotonic clock from AROptions.Start, else
	// from the start of the call.
	StepEnd []time.Duration
	Prefill time.Duration // until the first token
	// Processed counts the token positions run through the network, all
	// calls and rows (prefill padding included).
	Processed int
}

// ErrEmptyPrompt is returned for a prompt with no tokens.
var ErrEmptyPrompt = errors.New("decode: empty prompt: a causal model needs at least one token (BOS) to start from")

// ARState returns a run state big enough to generate maxNew tokens after
// prompts of up to promptLen tokens for batch rows, or NewState's error
// for one that cannot fit.
func ARState(m *model.Model, rows, promptLen, maxNew, chunk int) (*model.State, error) {
	n := promptLen
	if chunk > 0 && chunk < n {
		n = chunk
	}
	return m.NewState(rows, max(n, 1), promptLen+maxNew, rows)
}

// CheckAR validates a generation request against the model before any
// compute, with errors a user can act on.
func CheckAR(m *model.Model, prompts [][]int, maxNew int) error {
	if m.Config.Family != model.Llama {
		return fmt.Errorf("decode: %s is a %s model, not a causal one", m.Config.Arch, m.Config.Family)
	}
	if maxNew < 1 {
		return fmt.Errorf("decode: generation length %d: want at least 1", maxNew)
	}
	longest := 0
	for i, p := range prompts {
		if len(p) == 0 {
			return ErrEmptyPrompt
		}
		for _, id := range p {
			if id < 0 || id >= m.Config.VocabSize {
				return fmt.Errorf("decode: prompt %d: token id %d outside the vocabulary of %d", i, id, m.Config.VocabSize)
			}
		}
		longest = max(longest, len(p))
	}
	if longest+maxNew > m.Config.MaxSeqLen {
		return fmt.Errorf("decode: prompt of %d tokens plus %d generated exceeds the model's context of %d", longest, maxNew, m.Config.MaxSeqLen)
	}
	return nil
}

// Generate runs autoregressive generation for a batch of prompts of any
// lengths. Rows are left-padded to the longest prompt; padding is never
// attended to and positions count from each row's first real token, so each
// row gets exactly what it would get alone. A row stops at the model's EOS
// (config.json's and generation_config.json's eos_token_id) unless
// IgnoreEOS; the batch stops when every row has.
func Generate(m *model.Model, s *model.State, prompts [][]int, opt AROptions) (*ARResult, error) {
	return GenerateContext(context.Background(), m, s, prompts, opt)
}

// GenerateContext is Generate, stopped before its next forward call once
// ctx is cancelled; it then returns ctx's error.
func GenerateContext(ctx context.Context, m *model.Model, s *model.State, prompts [][]int, opt AROptions) (*ARResult, error) {
	if err := CheckAR(m, prompts, opt.MaxNew); err != nil {
		return nil, err
	}
	B := len(prompts)
	P := 0
	for _, p := range prompts {
		P = max(P, len(p))
	}
	if s.B != B || s.T < P+opt.MaxNew || s.M < B {
		panic(fmt.Sprintf("decode: state B=%d T=%d M=%d for %d rows of %d+%d tokens", s.B, s.T, s.M, B, P, opt.MaxNew))
	}
	sampler := opt.Sampler
	if sampler == nil {
		sampler = NewSampler(0, 0, 0, 0)
	}
	pad := make([]int, B)
	for b, p := range prompts {
		pad[b] = P - len(p)
	}
	res := &ARResult{IDs: make([][]int, B), StepEnd: make([]time.Duration, 0, opt.MaxNew)}
	for b := range res.IDs {
		res.IDs[b] = make([]int, 0, opt.MaxNew)
	}
	done := make([]bool, B)
	bits := make([]uint64, B)
	start := opt.Start
	if start.IsZero() {
		start = time.Now()
	}

	// Prefill in chunks of at most s.N tokens per row.
	for c0 := 0; c0 < P; c0 += s.N {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(s.N, P-c0)
		for b := range B {
			for i := range n {
				slot := c0 + i
				r := b*n + i
				s.Slots[r] = int32(slot)
				if slot < pad[b] {
					s.Tokens[r], s.Pos[r] = 0, 0 // padding: computed, never seen
				} else {
					s.Tokens[r], s.Pos[r] = int32(prompts[b][slot-pad[b]]), int32(slot-pad[b])
				}
			}
			s.Span[2*b], s.Span[2*b+1] = int32(min(pad[b], c0+n)), int32(c0+n)
			s.Out[b] = int32(b*n + n - 1)
		}
		nOut := 0
		if c0+n == P {
			nOut = B
		}
		if err := m.Forward(s, n, nOut); err != nil {
			return nil, err
		}
		res.NFE++
		res.Processed += n * B
	}
	last := make([]int, B)
	for step := 0; step < opt.MaxNew; step++ {
		if step > 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			slot := P + step - 1
			for b := range B {
				s.Tokens[b], s.Slots[b], s.Pos[b] = int32(last[b]), int32(slot), int32(slot-pad[b])
				s.Span[2*b], s.Span[2*b+1] = int32(pad[b]), int32(slot+1)
				s.Out[b] = int32(b)
			}
			if err := m.Forward(s, 1, B); err != nil {
				return nil, err
			}
			res.NFE++
			res.Processed += B
		}
		var pick func(b int) int
		if sampler.Greedy() {
			ids, err := m.ArgmaxTokens(s, B, -1)
			if err != nil {
				return nil, err
			}
			pick = func(b int) int { return int(ids[b]) }
		} else {
			// One draw a live row, in row order, from the sampler's stream.
			for b := range B {
				bits[b] = 0
				if !done[b] {
					bits[b] = sampler.Bits()
				}
			}
			ids, err := m.SampleTokens(s, B, sampler.Params(), bits)
			if err != nil {
				return nil, err
			}
			pick = func(b int) int { return int(ids[b]) }
		}
		alive := false
		for b := range B {
			if done[b] {
				continue
			}
			id := pick(b)
			last[b] = id
			res.IDs[b] = append(res.IDs[b], id)
			if !opt.IgnoreEOS && m.Config.IsEOS(id) {
				done[b] = true
			}
			alive = alive || !done[b]
		}
		el := time.Since(start)
		if step == 0 {
			res.Prefill = el
		}
		res.StepEnd = append(res.StepEnd, el)
		if opt.OnStep != nil {
			opt.OnStep(step)
		}
		if !alive {
			break
		}
	}
	return res, nil
}
