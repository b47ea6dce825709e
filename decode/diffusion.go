package decode

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"dllmbench/compute"
	"dllmbench/model"
)

// Cache is a Fast-dLLM key/value caching mode for diffusion decoding.
type Cache string

const (
	// CacheNone recomputes the whole sequence every step (LLaDA's reference).
	CacheNone Cache = "none"
	// CachePrefix refreshes all keys and values at each block start, then
	// runs the block and everything after it against the cached prefix.
	CachePrefix Cache = "prefix"
	// CacheDual refreshes at each block start, then runs only the block,
	// reusing the cached prefix and suffix and overwriting the block's own
	// entries in place.
	CacheDual Cache = "dual"
)

// Remasking is how a step ranks the masked positions it may commit.
type Remasking string

const (
	// LowConfidence ranks by the probability of the predicted token.
	LowConfidence Remasking = "low_confidence"
	// RandomRemask ranks at random.
	RandomRemask Remasking = "random"
)

// DiffusionOptions configure LLaDA's diffusion decoding. With Threshold and
// Factor zero, each block commits a fixed number of tokens per step,
// front-loaded as LLaDA's get_num_transfer_tokens does.
type DiffusionOptions struct {
	GenLength   int
	Steps       int // over the whole generation; split evenly over blocks
	BlockLength int
	Remasking   Remasking
	Temperature float64 // Gumbel-max sampling in float64; 0 is greedy
	CFGScale    float64 // classifier-free guidance; 0 is off
	Cache       Cache
	// Threshold, when > 0, commits every masked token of the block whose
	// confidence reaches it, and always the most confident one (Fast-dLLM).
	Threshold float64
	// Factor, when > 0, commits the longest prefix of the sorted confidences
	// c₁ ≥ c₂ ≥ … with cₙ ≥ 1 − Factor/(n+1), the first always (Fast-dLLM's
	// get_transfer_index_dynamic, quirks included).
	Factor float64
	Seed   uint64
	// HostCommit commits every step on the host, as on a backend that
	// cannot commit itself (compute.Unmasker), for comparing the two.
	// Otherwise a greedy low-confidence run with a fixed schedule queues a
	// block's steps of one shape without waiting between them and reads
	// their commits at the end (the OnStep and OnCommit calls come then);
	// its StepEnd times are the device's clock (compute.Marker) from the
	// host's time at the start of the run of steps.
	HostCommit bool
	// OnStep, when set, is called after each forward call's commits.
	OnStep func(call int)
	// OnCommit, when set, is called for each row after each forward call
	// with the positions (offsets into the generation) it committed, in
	// decreasing confidence; the slice is reused.
	OnCommit func(row int, positions []int)
	// Start, when set, is the instant StepEnd counts from, as
	// AROptions.Start is for an autoregressive call: a caller that times
	// the whole call on its own clock passes its start, so that the first
	// call's time includes the checks and allocations its latency does.
	// Zero: the start of the decoding, after them.
	Start time.Time
}

// DiffusionResult is the outcome of diffusion decoding for a batch.
type DiffusionResult struct {
	IDs [][]int // per row, the GenLength ids of the canvas after the prompt
	// NFE counts, per row, the forward calls made while the row still had
	// masked tokens in the current block; a row of a batch gets what it
	// would get alone.
	NFE []int
	// TokensPerStep holds, per row, the tokens committed by each of those
	// calls.
	TokensPerStep [][]int
	Calls         int             // forward calls of the whole batch
	StepEnd       []time.Duration // per forward call, from DiffusionOptions.Start
	// CallTokens holds the tokens each forward call committed, all rows.
	CallTokens []int
	// Processed counts the token positions run through the network, all
	// calls and rows (the unconditional copies of guidance included).
	Processed int
}

// CheckDiffusion validates a request before any compute: the model, the
// options (Check) and the prompts.
func CheckDiffusion(m *model.Model, prompts [][]int, o DiffusionOptions) error {
	c := &m.Config
	if c.Family != model.LLaDA {
		return fmt.Errorf("decode: diffusion decoding needs a masked-diffusion model; %s is %s", c.Arch, c.Family)
	}
	if err := o.Check(); err != nil {
		return err
	}
	longest := 0
	for i, p := range prompts {
		for _, id := range p {
			if id < 0 || id >= c.VocabSize {
				return fmt.Errorf("decode: prompt %d: token id %d outside the vocabulary of %d", i, id, c.VocabSize)
			}
			if id == c.MaskID {
				return fmt.Errorf("decode: prompt %d contains the mask token %d", i, id)
			}
		}
		longest = max(longest, len(p))
	}
	if longest+o.GenLength > c.MaxSeqLen {
		return fmt.Errorf("decode: prompt of %d tokens plus %d generated exceeds the model's context of %d", longest, o.GenLength, c.MaxSeqLen)
	}
	return nil
}

// Check validates the options alone, before a model is loaded, with
// errors a user can act on. A fixed schedule takes at most one step per
// generated token: a step commits at least one, so more steps than
// gen-length would be labelled with a count the decoder never runs.
func (o DiffusionOptions) Check() error {
	switch {
	case o.GenLength < 1:
		return fmt.Errorf("decode: gen-length %d: want at least 1", o.GenLength)
	case o.BlockLength < 1 || o.GenLength%o.BlockLength != 0:
		return fmt.Errorf("decode: gen-length %d is not a multiple of block-length %d", o.GenLength, o.BlockLength)
	case o.Threshold != 0 && o.Factor != 0:
		return fmt.Errorf("decode: --threshold and --factor exclude each other")
	case o.Threshold != 0 && !(o.Threshold > 0 && o.Threshold <= 1):
		return fmt.Errorf("decode: threshold %g outside (0, 1]", o.Threshold)
	case o.Factor != 0 && !(o.Factor > 0 && !math.IsInf(o.Factor, 1)): // NaN fails > too
		return fmt.Errorf("decode: factor %g: want a finite number > 0", o.Factor)
	case o.Remasking != LowConfidence && o.Remasking != RandomRemask:
		return fmt.Errorf("decode: remasking %q: want low_confidence or random", o.Remasking)
	case (o.Threshold != 0 || o.Factor != 0) && o.Remasking != LowConfidence:
		return fmt.Errorf("decode: --threshold and --factor need --remasking low_confidence")
	case o.Cache != CacheNone && o.Cache != CachePrefix && o.Cache != CacheDual:
		return fmt.Errorf("decode: cache %q: want none, prefix or dual", o.Cache)
	case !(o.CFGScale >= 0) || math.IsInf(o.CFGScale, 1): // NaN fails ≥ too
		return fmt.Errorf("decode: cfg-scale %g: want a finite number ≥ 0", o.CFGScale)
	case o.CFGScale > 0 && o.Cache != CacheNone:
		return fmt.Errorf("decode: cfg-scale needs --cache none")
	case !(o.Temperature >= 0) || math.IsInf(o.Temperature, 1):
		return fmt.Errorf("decode: temperature %g: want a finite number ≥ 0", o.Temperature)
	}
	if o.Threshold == 0 && o.Factor == 0 {
		blocks := o.GenLength / o.BlockLength
		if o.Steps < 1 || o.Steps%blocks != 0 {
			return fmt.Errorf("decode: steps %d is not a positive multiple of the %d blocks (gen-length %d / block-length %d)",
				o.Steps, blocks, o.GenLength, o.BlockLength)
		}
		if o.Steps > o.GenLength {
			return fmt.Errorf("decode: steps %d exceed gen-length %d: at most one step per generated token", o.Steps, o.GenLength)
		}
	}
	return nil
}

// DiffusionState returns a run state for the batch and options, or
// NewState's error for one that cannot fit.
func DiffusionState(m *model.Model, rows, promptLen int, o DiffusionOptions) (*model.State, error) {
	if o.CFGScale > 0 {
		rows = mulSat(rows, 2)
	}
	L := promptLen + o.GenLength
	return m.NewState(rows, L, L, mulSat(rows, o.BlockLength))
}

// mulSat is a·b for positive a and b, or the largest int where that
// overflows: a size beyond any machine, which NewState refuses as such.
func mulSat(a, b int) int {
	if a > 0 && b > 0 && a > math.MaxInt/b {
		return math.MaxInt
	}
	return a * b
}

// NumTransfer splits n masked tokens over steps as LLaDA's
// get_num_transfer_tokens does: n/steps each, the first n%steps one more.
func NumTransfer(n, steps int) []int {
	out := make([]int, steps)
	for i := range out {
		out[i] = n / steps
		if i < n%steps {
			out[i]++
		}
	}
	return out
}

// Diffuse decodes a batch of prompts with LLaDA's masked diffusion. Rows are
// left-padded to the longest prompt; padding is never attended to and
// positions count from each row's first real token.
func Diffuse(m *model.Model, s *model.State, prompts [][]int, o DiffusionOptions) (*DiffusionResult, error) {
	return DiffuseContext(context.Background(), m, s, prompts, o)
}

// DiffuseContext is Diffuse, stopped before its next forward call once ctx
// is cancelled (on a device that queues a run of calls, before it queues
// the next; those queued finish). It then returns ctx's error.
func DiffuseContext(ctx context.Context, m *model.Model, s *model.State, prompts [][]int, o DiffusionOptions) (*DiffusionResult, error) {
	if err := CheckDiffusion(m, prompts, o); err != nil {
		return nil, err
	}
	d := newDiffuser(m, s, prompts, o)
	return d.run(ctx)
}

type diffuser struct {
	m         *model.Model
	s         *model.State
	o         DiffusionOptions
	B, P, L   int     // batch rows, padded prompt length, canvas length
	pad       []int   // padding slots per row
	x         [][]int // canvas per row, L slots
	rng       []*rand.Rand
	res       *DiffusionResult
	start     time.Time
	conf      []float64 // scratch: confidence per block position
	x0        []int     // scratch: predicted token per block position
	order     []int     // scratch
	committed []int     // scratch: positions committed by a call
	marks     []float64 // scratch: the markers of a run of calls on the device
	at        []int     // scratch: where each call of a block logs its picks
	keys      []uint64  // scratch: a sampled step's Gumbel keys, one a block position of each row
}

func newDiffuser(m *model.Model, s *model.State, prompts [][]int, o DiffusionOptions) *diffuser {
	B := len(prompts)
	P := 0
	for _, p := range prompts {
		P = max(P, len(p))
	}
	L := P + o.GenLength
	rows := B
	if o.CFGScale > 0 {
		rows = 2 * B
	}
	if s.B != rows || s.N < L || s.T < L || s.M < rows*o.BlockLength {
		panic(fmt.Sprintf("decode: state B=%d N=%d T=%d M=%d for %d rows of %d tokens, block %d", s.B, s.N, s.T, s.M, rows, L, o.BlockLength))
	}
	d := &diffuser{m: m, s: s, o: o, B: B, P: P, L: L, pad: make([]int, B), x: make([][]int, B),
		res:  &DiffusionResult{IDs: make([][]int, B), NFE: make([]int, B), TokensPerStep: make([][]int, B)},
		conf: make([]float64, o.BlockLength), x0: make([]int, o.BlockLength), order: make([]int, o.BlockLength), committed: make([]int, o.BlockLength),
		marks: make([]float64, o.BlockLength+1), keys: make([]uint64, B*o.BlockLength),
		at: make([]int, o.BlockLength+1)}
	for b, p := range prompts {
		d.pad[b] = P - len(p)
		d.x[b] = make([]int, L)
		copy(d.x[b][d.pad[b]:], p)
		for j := P; j < L; j++ {
			d.x[b][j] = m.Config.MaskID
		}
		d.rng = append(d.rng, rand.New(rand.NewPCG(o.Seed, uint64(b))))
	}
	return d
}

func (d *diffuser) run(ctx context.Context) (*DiffusionResult, error) {
	o := d.o
	nBlocks := o.GenLength / o.BlockLength
	perBlock := 0
	if o.Threshold == 0 && o.Factor == 0 {
		perBlock = o.Steps / nBlocks
	}
	d.start = o.Start
	if d.start.IsZero() {
		d.start = time.Now()
	}
	for blk := range nBlocks {
		start := d.P + blk*o.BlockLength
		end := start + o.BlockLength
		var sched [][]int
		if perBlock > 0 {
			sched = make([][]int, d.B)
			for b := range d.B {
				sched[b] = NumTransfer(d.masked(b, start, end), perBlock)
			}
		}
		if sched != nil && d.onDevice(start, end) {
			if err := d.deviceBlock(ctx, start, end, sched[0]); err != nil {
				return nil, err
			}
			continue
		}
		for i := 0; d.anyMasked(start, end); i++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			from, to := d.span(i, start, end)
			if err := d.forward(from, to, start, end); err != nil {
				return nil, err
			}
			if err := d.commit(start, end, sched, i); err != nil {
				return nil, err
			}
		}
	}
	for b := range d.B {
		d.res.IDs[b] = append([]int(nil), d.x[b][d.P:]...)
	}
	return d.res, nil
}

// span is the canvas slots [from, to) that call i of the block [start,
// end) runs: the whole canvas for the first call of a block and for every
// call without a cache; the block (dual) or the block and what follows it
// (prefix) for the cached calls.
func (d *diffuser) span(i, start, end int) (from, to int) {
	switch {
	case i > 0 && d.o.Cache == CachePrefix:
		return start, d.L
	case i > 0 && d.o.Cache == CacheDual:
		return start, end
	}
	return 0, d.L
}

// onDevice says whether the block [start, end) can run its steps on the
// device (deviceBlock): greedy low-confidence steps of a fixed schedule,
// on a backend that commits and marks, every row's block fully masked (so
// that all rows share one schedule).
func (d *diffuser) onDevice(start, end int) bool {
	o := &d.o
	if o.HostCommit || o.Temperature != 0 || o.CFGScale != 0 || o.Remasking != LowConfidence || !d.m.CanUnmask() {
		return false
	}
	if _, ok := d.m.Backend().(compute.Marker); !ok {
		return false
	}
	for b := range d.B {
		if d.masked(b, start, end) != end-start {
			return false
		}
	}
	return true
}

// deviceBlock decodes the block [start, end) with k[i] tokens committed by
// call i, all rows alike. Each run of calls of one shape (a whole block
// without a cache; the block's first call, then the rest, with one) is
// queued on the device without a wait: the first call's inputs come from
// the host, the later ones rerun them as the device's commits left them.
// At the end of each run the host reads the commits and the markers. Once
// ctx is cancelled no further call is queued.
func (d *diffuser) deviceBlock(ctx context.Context, start, end int, k []int) (err error) {
	mk := d.m.Backend().(compute.Marker)
	defer func() {
		if err != nil {
			mk.Marks(d.marks) // forget the run's markers: the next run starts afresh
		}
	}()
	calls := 0
	for calls < len(k) && k[calls] > 0 { // front-loaded: the zeros come last
		calls++
	}
	at := d.at[:calls+1] // each call's first entry in the log of picks
	for i := range calls {
		at[i+1] = at[i] + d.B*k[i]
	}
	first := 0 // of the run of calls queued
	var t0 time.Duration
	for i := range calls {
		if err := ctx.Err(); err != nil {
			return err
		}
		from, to := d.span(i, start, end)
		if i == first {
			t0 = time.Since(d.start)
			if err := mk.Mark(); err != nil {
				return err
			}
			if err := d.forward(from, to, start, end); err != nil {
				return err
			}
		} else {
			if err := d.m.Rerun(d.s); err != nil {
				return err
			}
			d.called(to - from)
		}
		d.m.Unmask(d.s, d.s.B*(end-start), start-from, k[i], at[i])
		if err := mk.Mark(); err != nil {
			return err
		}
		if nf, nt := d.span(i+1, start, end); i+1 == calls || nf != from || nt != to {
			if err := d.collect(start, from, first, i+1, k, at, t0); err != nil {
				return err
			}
			first = i + 1
		}
	}
	return nil
}

// collect reads the commits of the block's calls [i0, i1), queued as one
// run on canvas slots from from, and records them as commit does; t0 is
// the run's start by the host's clock, its first marker's time.
func (d *diffuser) collect(start, from, i0, i1 int, k, at []int, t0 time.Duration) error {
	tokens, picks, err := d.m.ReadUnmasked(d.s)
	if err != nil {
		return err
	}
	marks, err := d.m.Backend().(compute.Marker).Marks(d.marks)
	if err != nil {
		return err
	}
	if marks != i1-i0+1 {
		panic(fmt.Sprintf("decode: %d markers for a run of %d calls", marks, i1-i0))
	}
	n, bl := len(tokens)/d.B, len(d.conf)
	for b := range d.B {
		for j := range bl {
			d.x[b][start+j] = int(tokens[b*n+start-from+j])
		}
	}
	call := d.res.Calls - (i1 - i0) // the index of call i0 in the result
	for i := i0; i < i1; i++ {
		callTokens := 0
		for b := range d.B {
			c := 0
			for _, j := range picks[at[i]+b*k[i] : at[i]+(b+1)*k[i]] {
				if j < 0 {
					break
				}
				d.committed[c] = start + int(j) - d.P
				c++
			}
			d.rowDone(b, c)
			callTokens += c
		}
		d.callDone(call+i-i0, callTokens, t0+time.Duration(d.marks[i-i0+1]*1e9))
	}
	return nil
}

// rowDone records row b's commits of a call, the first c of d.committed.
func (d *diffuser) rowDone(b, c int) {
	if d.o.OnCommit != nil {
		d.o.OnCommit(b, d.committed[:c])
	}
	d.res.NFE[b]++
	d.res.TokensPerStep[b] = append(d.res.TokensPerStep[b], c)
}

// callDone records the end of call number call, which committed tokens
// in all rows.
func (d *diffuser) callDone(call, tokens int, end time.Duration) {
	d.res.CallTokens = append(d.res.CallTokens, tokens)
	d.res.StepEnd = append(d.res.StepEnd, end)
	if d.o.OnStep != nil {
		d.o.OnStep(call)
	}
}

func (d *diffuser) masked(b, start, end int) int {
	n := 0
	for _, t := range d.x[b][start:end] {
		if t == d.m.Config.MaskID {
			n++
		}
	}
	return n
}

func (d *diffuser) anyMasked(start, end int) bool {
	for b := range d.B {
		if d.masked(b, start, end) > 0 {
			return true
		}
	}
	return false
}

// forward runs canvas slots [from, to) of every row (and of the
// unconditional copies under guidance) and asks for the logits of the block
// [start, end).
func (d *diffuser) forward(from, to, start, end int) error {
	s, n, bl := d.s, to-from, end-start
	mask := int32(d.m.Config.MaskID)
	for r := range s.B {
		b := r % d.B
		uncond := r >= d.B
		for i := range n {
			slot := from + i
			k := r*n + i
			s.Slots[k] = int32(slot)
			switch {
			case slot < d.pad[b]:
				s.Tokens[k], s.Pos[k] = 0, 0 // padding: computed, never seen
			case uncond && slot < d.P:
				s.Tokens[k], s.Pos[k] = mask, int32(slot-d.pad[b]) // the prompt masked out
			default:
				s.Tokens[k], s.Pos[k] = int32(d.x[b][slot]), int32(slot-d.pad[b])
			}
		}
		s.Span[2*r], s.Span[2*r+1] = int32(d.pad[b]), int32(d.L)
		for j := range bl {
			s.Out[r*bl+j] = int32(r*n + start - from + j)
		}
	}
	if err := d.m.Forward(s, n, s.B*bl); err != nil {
		return err
	}
	d.called(n)
	return nil
}

// called counts a forward call of n canvas slots a row.
func (d *diffuser) called(n int) {
	d.res.Calls++
	d.res.Processed += n * d.s.B
}

// commit chooses and writes the tokens of one step for every row.
func (d *diffuser) commit(start, end int, sched [][]int, step int) error {
	o, c := &d.o, &d.m.Config
	bl := end - start
	// Tokens are picked on the device, greedy or by Gumbel-max with a key
	// from the row's stream for each masked position, from the guided
	// logits where there is guidance (the conditional rows, then their
	// unconditional twins).
	n := d.B * bl
	if o.CFGScale > 0 {
		d.m.GuideLogits(d.s, n, float32(o.CFGScale+1))
	}
	var ids []int32
	var probs []float32
	var err error
	if o.Temperature == 0 {
		ids, probs, err = d.m.SelectTokens(d.s, n, c.MaskID)
	} else {
		for b := range d.B {
			for j := range bl {
				d.keys[b*bl+j] = 0
				if d.x[b][start+j] == c.MaskID {
					d.keys[b*bl+j] = d.rng[b].Uint64()
				}
			}
		}
		ids, probs, err = d.m.SelectTokensGumbel(d.s, n, c.MaskID, o.Temperature, d.keys[:n])
	}
	if err != nil {
		return err
	}
	callTokens := 0
	for b := range d.B {
		left := d.masked(b, start, end)
		if left == 0 {
			continue // done with this block while others are not
		}
		cands := 0
		for j := range bl {
			d.conf[j] = math.Inf(-1)
			if d.x[b][start+j] != c.MaskID {
				continue
			}
			cands++
			d.x0[j] = int(ids[b*bl+j])
			if o.Remasking == LowConfidence {
				d.conf[j] = float64(probs[b*bl+j])
			} else {
				d.conf[j] = d.rng[b].Float64()
			}
		}
		sortByConfidence(d.order, d.conf)
		k := 0
		switch {
		case o.Threshold > 0:
			k = 1
			for k < cands && d.conf[d.order[k]] >= o.Threshold {
				k++
			}
		case o.Factor > 0:
			k = factorCount(d.conf, d.order[:cands], o.Factor)
		default:
			k = sched[b][step]
		}
		k = min(k, cands)
		for i, j := range d.order[:k] {
			d.x[b][start+j] = d.x0[j]
			d.committed[i] = start + j - d.P
		}
		d.rowDone(b, k)
		callTokens += k
	}
	d.callDone(d.res.Calls-1, callTokens, time.Since(d.start))
	return nil
}

// sortByConfidence orders block positions by decreasing confidence, the
// lower position first on ties (torch.topk, which the references commit
// by, leaves their order unspecified), as compute.Unmasker does.
func sortByConfidence(order []int, conf []float64) {
	for i := range order {
		order[i] = i
	}
	// Insertion sort: blocks are short and this allocates nothing.
	for i := 1; i < len(order); i++ {
		for j := i; j > 0; j-- {
			a, b := order[j-1], order[j]
			if conf[b] > conf[a] || (conf[b] == conf[a] && b < a) {
				order[j-1], order[j] = b, a
			} else {
				break
			}
		}
	}
}

// factorCount applies Fast-dLLM's factor rule to the candidates, given in
// decreasing confidence: the count is the index of the first confidence
// below 1 − factor/(i+2) (i from 0, the first never failing), except that a
// failure at the last candidate, or none at all, commits every candidate.
func factorCount(conf []float64, order []int, factor float64) int {
	n := len(order)
	top := n - 1
	for i := 1; i < n; i++ {
		if conf[order[i]] < 1-factor/float64(i+2) {
			top = i
			break
		}
	}
	if top == 0 || top == n-1 {
		top++
	}
	return top
}
