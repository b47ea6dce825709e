package model

import (
	"fmt"
	"math"
	"path/filepath"

	"dllmbench/compute"
	"dllmbench/safetensors"
)

// Model is a loaded network on a backend.
type Model struct {
	Config  Config
	Weights *Weights
	b       compute.Backend
	ck      *safetensors.Checkpoint // kept open: the CPU backend reads weights from its mapping
	ropeCos compute.Tensor          // (MaxSeqLen, HeadDim/2)
	ropeSin compute.Tensor          // (MaxSeqLen, HeadDim/2)
	cacheDT compute.DType           // of the key/value caches: F32 or BF16
}

// Load reads dir/config.json and the safetensors checkpoint in dir onto b.
func Load(dir string, b compute.Backend, opt LoadOptions) (*Model, error) {
	if opt.CacheDType != 0 && opt.CacheDType != compute.F32 && opt.CacheDType != compute.BF16 {
		return nil, fmt.Errorf("model: %s: a key/value cache of %v (want F32 or BF16)", filepath.Base(dir), opt.CacheDType)
	}
	c, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	// The RoPE tables hold cos and sin of every position of the context,
	// in float32 on the host and on b: a max_position_embeddings beyond
	// reason must fail here, not end the process out of memory.
	if need, have := 8*float64(c.MaxSeqLen)*float64(c.HeadDim), machineMemory(); have > 0 && need > float64(have) {
		return nil, fmt.Errorf("model: %s: RoPE tables for a context of %d positions (max_position_embeddings) need %s, the machine has %s",
			dir, c.MaxSeqLen, GiB(need), GiB(float64(have)))
	}
	w, ck, err := loadWeights(dir, c, b, opt)
	if err != nil {
		return nil, err
	}
	m := &Model{Config: *c, Weights: w, b: b, ck: ck, cacheDT: opt.CacheDType}
	if m.cacheDT == 0 {
		// The projections' type, as records report it: a checkpoint may
		// keep its embedding wider than the layers.
		wt := w.TokEmb
		if len(w.Layers) > 0 {
			wt = w.Layers[0].WQ
		}
		m.cacheDT = compute.F32
		if wt.DType() == compute.BF16 || wt.DType() == compute.F16 {
			m.cacheDT = compute.BF16
		}
	}
	cos, sin := c.RopeTables(c.MaxSeqLen)
	m.ropeCos = b.Alloc(compute.F32, c.MaxSeqLen, c.HeadDim/2)
	m.ropeSin = b.Alloc(compute.F32, c.MaxSeqLen, c.HeadDim/2)
	b.Write(m.ropeCos, cos)
	b.Write(m.ropeSin, sin)
	return m, nil
}

// CacheDType is the type of the key/value caches of the states NewState
// allocates: LoadOptions.CacheDType, or the one it chose by the weights.
func (m *Model) CacheDType() compute.DType { return m.cacheDT }

// Backend is the backend the model runs on.
func (m *Model) Backend() compute.Backend { return m.b }

// Close frees the weights on the backend and unmaps the checkpoint; the
// model must not be used after.
func (m *Model) Close() error {
	if m.ck == nil {
		return nil
	}
	for _, t := range m.tensors() {
		m.b.Free(t)
	}
	m.b.Free(m.ropeCos)
	m.b.Free(m.ropeSin)
	err := m.ck.Close()
	m.ck = nil
	return err
}

// tensors lists every weight once (a tied head is the embedding).
func (m *Model) tensors() []compute.Tensor {
	w := m.Weights
	ts := []compute.Tensor{w.TokEmb, w.Norm}
	if !m.Config.Tied {
		ts = append(ts, w.Head)
	}
	for _, L := range w.Layers {
		ts = append(ts, L.AttnNorm, L.WQ, L.WK, L.WV, L.WO, L.FFNNorm, L.WGate, L.WUp, L.WDown)
	}
	return ts
}

// State is the memory of one run: activations for up to B×N tokens per
// forward call (N per batch row), a key/value cache of T slots per batch
// row (of the model's CacheDType), and logits for up to M rows. It is allocated once; Forward allocates
// nothing.
type State struct {
	B, N, T, M int

	// Inputs, written by the caller before each Forward call: for the first
	// B×n entries (n tokens per row, row-major by batch row) the token ids,
	// their RoPE positions and their cache slots; per batch row the range of
	// cache slots [Span[2b], Span[2b+1]) the queries may see; and the rows
	// (indices into the B×n tokens) whose logits to compute.
	Tokens, Pos, Slots []int32 // B·N
	Span               []int32 // 2·B
	Out                []int32 // M

	x, xb  compute.Tensor   // (B·N, Dim) residual stream, normed input
	q, att compute.Tensor   // (B·N, QDim)
	k, v   compute.Tensor   // (B·N, KVDim)
	h, h2  compute.Tensor   // (B·N, HiddenDim)
	kc, vc []compute.Tensor // per layer (B·T, KVDim) of the model's CacheDType
	xo     compute.Tensor   // (M, Dim) the rows selected for the head
	logits compute.Tensor   // (M, VocabSize)
	// A call's inputs cross to the backend in one copy: packed (pack) into
	// staged, then written to the front of in (see inputs for the order).
	in       compute.Tensor // (4·B·N + 2·B + 2·M, 1) I32
	staged   []int32
	cacheRow []int32        // the cache row b·T + slot of each token
	outSlot  []int32        // the slot of each output row (its query position)
	host     []float32      // (M·VocabSize) logits read back
	selIDt   compute.Tensor // (M, 1) I32 selected tokens
	selPt    compute.Tensor // (M, 1) F32 their probabilities
	selIDs   []int32        // host copies
	selProbs []float32
	// SampleTokens' random bits, two words a row, and the host's draws
	// where the backend does not sample.
	bitsT compute.Tensor // (M, 2) I32
	bits  []int32
	sc    compute.SampleScratch

	// Unmask's log of committed positions (M entries) and the host copies
	// ReadUnmasked reads into.
	pick   compute.Tensor
	inHost []int32
	picks  []int32

	// NoGraphs turns off recording on backends that support it (for
	// comparing the two paths).
	NoGraphs bool
	graphs   map[callShape]compute.Graph
	last     callShape // the shape of the last Forward, if ran, for Rerun
	ran      bool
	box      struct{ selIDs, selProbs, host, picks, bits any }
	tokens   map[int]any       // inHost's first B·n, boxed once for each n (ReadUnmasked)
	staging  map[callShape]any // staged's front for each call shape, boxed once
	b        compute.Backend   // nil once closed
}

// NewState allocates a run state for batches of B rows, at most N tokens
// per row per call, T cache slots per row and M logit rows per call.
//
// It returns an error, having allocated nothing, for a state that cannot
// fit: more tokens or cache rows than its int32 indices address, or more
// memory than the machine has (its host slices, with its tensors on a
// backend that keeps them in host memory). The machine's total memory is
// the bound, not its free memory: only a state that surely cannot fit is
// refused, where allocating it would end the process. A device backend's
// failed allocation is returned too, the state freed.
func (m *Model) NewState(B, N, T, M int) (*State, error) {
	c, b := &m.Config, m.b
	if B <= 0 || N <= 0 || T <= 0 || M <= 0 || N > T {
		panic(fmt.Sprintf("model: NewState(B=%d, N=%d, T=%d, M=%d)", B, N, T, M))
	}
	if err := m.checkState(B, N, T, M); err != nil {
		return nil, err
	}
	s := &State{B: B, N: N, T: T, M: M, b: b,
		Tokens: make([]int32, B*N), Pos: make([]int32, B*N), Slots: make([]int32, B*N),
		Span: make([]int32, 2*B), Out: make([]int32, M), cacheRow: make([]int32, B*N), outSlot: make([]int32, M),
		staged: make([]int32, 4*B*N+2*B+2*M), staging: map[callShape]any{}, host: make([]float32, M*c.VocabSize)}
	s.in = b.Alloc(compute.I32, len(s.staged), 1)
	s.x, s.xb = b.Alloc(compute.F32, B*N, c.Dim), b.Alloc(compute.F32, B*N, c.Dim)
	s.q, s.att = b.Alloc(compute.F32, B*N, c.QDim()), b.Alloc(compute.F32, B*N, c.QDim())
	s.k, s.v = b.Alloc(compute.F32, B*N, c.KVDim()), b.Alloc(compute.F32, B*N, c.KVDim())
	s.h, s.h2 = b.Alloc(compute.F32, B*N, c.HiddenDim), b.Alloc(compute.F32, B*N, c.HiddenDim)
	for range c.NLayers {
		s.kc = append(s.kc, b.Alloc(m.cacheDT, B*T, c.KVDim()))
		s.vc = append(s.vc, b.Alloc(m.cacheDT, B*T, c.KVDim()))
	}
	s.xo, s.logits = b.Alloc(compute.F32, M, c.Dim), b.Alloc(compute.F32, M, c.VocabSize)
	s.selIDt, s.selPt = b.Alloc(compute.I32, M, 1), b.Alloc(compute.F32, M, 1)
	s.selIDs, s.selProbs = make([]int32, M), make([]float32, M)
	s.bitsT, s.bits = b.Alloc(compute.I32, M, 2), make([]int32, 2*M)
	s.pick, s.inHost, s.picks = b.Alloc(compute.I32, M, 1), make([]int32, B*N), make([]int32, M)
	s.box.selIDs, s.box.selProbs, s.box.host, s.box.picks, s.box.bits = s.selIDs, s.selProbs, s.host, s.picks, s.bits
	s.tokens = map[int]any{}
	// The log of picks starts at −1 (no commit), and the selected ids and
	// probabilities at 0, so that reading them whole (boxed once; a call
	// of fewer rows leaves the rest stale) never reads memory nothing
	// wrote.
	for i := range s.picks {
		s.picks[i] = -1
	}
	b.Write(s.pick, s.picks)
	b.Write(s.selIDt, s.selIDs)
	b.Write(s.selPt, s.selProbs)
	// A device's failed allocation waits in the backend for the next Sync:
	// taken now, it fails the state, not the first step run on it.
	if err := b.Sync(); err != nil {
		s.Close()
		return nil, fmt.Errorf("model: allocating a run state of %d rows × %d tokens: %w", B, T, err)
	}
	return s, nil
}

// StateBytes is the memory NewState(B, N, T, M) takes: the tensors on the
// backend (activations, key/value caches, logits, inputs) and the host's
// slices (inputs and their staging, the logits read back), in float64 so
// that no size overflows. The backend's part matches State.Memory's sum.
func (m *Model) StateBytes(B, N, T, M int) (backend, host float64) {
	c := &m.Config
	b, n, t, o := float64(B), float64(N), float64(T), float64(M)
	bn := b * n
	in := 4*bn + 2*b + 2*o // the staged inputs, int32
	backend = 4*in +
		4*bn*2*float64(c.Dim+c.QDim()+c.KVDim()+c.HiddenDim) + // x, xb, q, att, k, v, h, h2
		float64(c.NLayers)*2*b*t*float64(c.KVDim()*m.cacheDT.Size()) + // kc, vc
		4*o*float64(c.Dim+c.VocabSize) + // xo, logits
		4*5*o // selIDt, selPt, pick, bitsT
	host = 4*(5*bn+2*b+7*o) + // Tokens, Pos, Slots, cacheRow, inHost; Span; Out, outSlot, selIDs, selProbs, picks, bits
		4*in + // staged
		4*o*float64(c.VocabSize) // host logits
	return backend, host
}

// checkState refuses a state NewState cannot allocate: see NewState.
func (m *Model) checkState(B, N, T, M int) error {
	backend, host := m.StateBytes(B, N, T, M)
	need := host
	if _, ok := m.b.(compute.HostResident); ok {
		need += backend
	}
	if have := machineMemory(); have > 0 && need > float64(have) {
		return fmt.Errorf("model: a run state of %d rows × %d tokens needs %s, the machine has %s",
			B, T, GiB(need), GiB(float64(have)))
	}
	// Cache rows (B·T, at least the B·N token rows) and the staged inputs
	// are indexed by int32.
	if b, t := float64(B), float64(T); b*t > math.MaxInt32 || 4*b*float64(N)+2*b+2*float64(M) > math.MaxInt32 {
		return fmt.Errorf("model: a run state of %d rows × %d tokens: more than 2³¹−1 cache rows or inputs", B, T)
	}
	return nil
}

// GiB formats bytes in GiB for messages: two decimals under 10, one under
// 100, none above.
func GiB(bytes float64) string {
	switch g := bytes / (1 << 30); {
	case g < 10:
		return fmt.Sprintf("%.2f GiB", g)
	case g < 100:
		return fmt.Sprintf("%.1f GiB", g)
	default:
		return fmt.Sprintf("%.0f GiB", g)
	}
}

// Forward runs the network on n tokens per batch row, taken from the
// State's inputs, writing their keys and values into the cache at their
// slots, and computes the logits of the first nOut rows listed in Out. The
// logits stay on the backend until Logits reads them. On a backend that
// records graphs, the ops of each (n, nOut) shape are recorded on first use
// and replayed after.
func (m *Model) Forward(s *State, n, nOut int) error {
	c, b := &m.Config, m.b
	if n <= 0 || n > s.N || nOut < 0 || nOut > s.M {
		panic(fmt.Sprintf("model: Forward of %d tokens per row and %d outputs on a state of N=%d, M=%d", n, nOut, s.N, s.M))
	}
	rows := s.B * n
	for i := range rows {
		slot := s.Slots[i]
		if slot < 0 || int(slot) >= s.T || s.Pos[i] < 0 || int(s.Pos[i]) >= c.MaxSeqLen {
			panic(fmt.Sprintf("model: token %d at slot %d, position %d: outside %d slots or %d positions", i, slot, s.Pos[i], s.T, c.MaxSeqLen))
		}
		s.cacheRow[i] = int32(i/n*s.T) + slot
	}
	key := s.shape(n, nOut, len(m.Weights.Layers))
	// The call's inputs in one copy: each copy costs the host a call while
	// the device waits.
	front, size := s.pack(key)
	b.Write(s.in.Slice(0, size), front)
	s.last, s.ran = key, true
	return m.run(s, key)
}

// Rerun runs the last Forward call again on the inputs it left on the
// backend, as Unmask has changed their token ids since: the next step of
// a diffusion block, whose new tokens are already on the device.
func (m *Model) Rerun(s *State) error {
	if !s.ran {
		panic("model: Rerun before any Forward on this state")
	}
	return m.run(s, s.last)
}

// run issues the ops of a call whose inputs are on the backend: the
// recorded graph of its shape, recorded now on first use.
func (m *Model) run(s *State, key callShape) error {
	rec, ok := m.b.(compute.Recorder)
	if !ok || s.NoGraphs {
		m.ops(s, key)
		return nil
	}
	g := s.graphs[key]
	if g == nil {
		var err error
		if g, err = rec.Record(func() { m.ops(s, key) }); err != nil {
			return fmt.Errorf("model: recording a step of %d tokens: %w", key.n, err)
		}
		if s.graphs == nil {
			s.graphs = map[callShape]compute.Graph{}
		}
		s.graphs[key] = g
	}
	if err := g.Launch(); err != nil {
		return fmt.Errorf("model: replaying a step of %d tokens: %w", key.n, err)
	}
	return nil
}

// callShape is what a call's recorded graph depends on: its tokens a
// batch row, its output rows, and whether the last layer runs on the
// output rows only (pruned): they are fewer than the call's rows and come
// nOut/B from each batch row in order, as Attention takes queries (a
// diffusion block's rows, one row each when decoding with B > 1).
type callShape struct {
	n, nOut int
	pruned  bool
}

// shape checks the output rows of a call of n tokens a row and nOut
// outputs, notes their slots, and returns the call's shape.
func (s *State) shape(n, nOut, layers int) callShape {
	rows := s.B * n
	key := callShape{n: n, nOut: nOut, pruned: layers > 0 && nOut > 0 && nOut < rows && nOut%s.B == 0}
	for i := range nOut {
		if s.Out[i] < 0 || int(s.Out[i]) >= rows {
			panic(fmt.Sprintf("model: output row %d outside the %d rows of this call", s.Out[i], rows))
		}
		if key.pruned && int(s.Out[i])/n != i/(nOut/s.B) {
			key.pruned = false
		}
		s.outSlot[i] = s.Slots[s.Out[i]]
	}
	return key
}

// pack copies the inputs of a call into the front of staged, in the order
// inputs gives, and returns that front as Write takes it and its length.
// The front is boxed once for each call shape (staging): a slice converted
// to the interface would allocate at every step.
func (s *State) pack(key callShape) (front any, size int) {
	rows, nOut := s.B*key.n, key.nOut
	for _, src := range [][]int32{s.Tokens[:rows], s.Pos[:rows], s.cacheRow[:rows], s.Slots[:rows], s.Span, s.Out[:nOut],
		s.outSlot[:nOut]} {
		size += copy(s.staged[size:], src)
	}
	front, ok := s.staging[key]
	if !ok {
		front = s.staged[:size]
		s.staging[key] = front
	}
	return front, size
}

// inputs returns the tensors, parts of in, that hold a call's inputs (of
// n tokens a row and nOut outputs), in the order pack writes them: the
// token ids, their RoPE positions, their cache rows b·T + slot and their
// slots again (as query positions for the causal mask), B·n each; the
// spans (2·B); the output rows and their slots (nOut each).
func (s *State) inputs(n, nOut int) (ids, pos, rows, slots, span, out, outSlot compute.Tensor) {
	r := s.B * n
	o := 4*r + 2*s.B
	return s.in.Slice(0, r), s.in.Slice(r, 2*r), s.in.Slice(2*r, 3*r), s.in.Slice(3*r, 4*r),
		s.in.Slice(4*r, o), s.in.Slice(o, o+nOut), s.in.Slice(o+nOut, o+2*nOut)
}

// ops issues the forward pass of a step whose inputs are on the backend.
// In a pruned call the last layer carries only the output rows past its
// attention: every row's keys and values go into the cache, but the
// output projection and the feed-forward block, whose rows are
// independent, run on the rows the head reads.
func (m *Model) ops(s *State, key callShape) {
	c, b := &m.Config, m.b
	n, nOut := key.n, key.nOut
	rows := s.B * n
	ids, pos, crow, qpos, span, out, outSlot := s.inputs(n, nOut)
	x, xb := s.x.Slice(0, rows), s.xb.Slice(0, rows)
	q, att := s.q.Slice(0, rows), s.att.Slice(0, rows)
	k, v := s.k.Slice(0, rows), s.v.Slice(0, rows)
	xo := s.xo.Slice(0, nOut)
	w := m.Weights

	b.Gather(x, w.TokEmb, ids)
	qkv, _ := b.(compute.MatMul3er)
	addMM, _ := b.(compute.MatMulAdder)
	swiglu, _ := b.(compute.SwiGLUer)
	// The fusions below leave xb unwritten: only the projections right
	// after each norm read it.
	normQKV, _ := b.(compute.NormMatMul3er)
	normSwiGLU, _ := b.(compute.NormSwiGLUer)
	normFFN, _ := b.(compute.NormFFNer)
	ropeStore, _ := b.(compute.RoPEStorer)
	attnO, _ := b.(compute.AttentionMatMulAdder)
	for l := range w.Layers {
		L := &w.Layers[l]
		// Attention: x += Wo · attend(RoPE(Wq·xb), cache ← RoPE(Wk·xb), Wv·xb).
		if normQKV != nil {
			normQKV.NormMatMul3(q, k, v, xb, x, L.AttnNorm, c.NormEps, L.WQ, L.WK, L.WV)
		} else {
			b.RMSNorm(xb, x, L.AttnNorm, c.NormEps)
			if qkv != nil {
				qkv.MatMul3(q, k, v, xb, L.WQ, L.WK, L.WV)
			} else {
				b.MatMul(q, xb, L.WQ)
				b.MatMul(k, xb, L.WK)
				b.MatMul(v, xb, L.WV)
			}
		}
		if ropeStore != nil {
			ropeStore.RoPEStore(q, k, v, s.kc[l], s.vc[l], crow, m.ropeCos, m.ropeSin, pos, c.HeadDim)
		} else {
			b.RoPE(q, m.ropeCos, m.ropeSin, pos, c.HeadDim)
			b.RoPE(k, m.ropeCos, m.ropeSin, pos, c.HeadDim)
			b.Scatter(s.kc[l], k, crow)
			b.Scatter(s.vc[l], v, crow)
		}
		// The rows that go on past the attention: the residuals, queries,
		// query positions and the attention's output, then the
		// feed-forward's intermediates. Pruned, the output rows' residuals
		// go to xo and their queries to att's first rows, and the attention
		// writes into q's (q and att swap roles).
		xr, qr, qp, ar, r := x, q, qpos, att, rows
		if key.pruned && l == len(w.Layers)-1 {
			xr, qr, qp, ar, r = xo, att.Slice(0, nOut), outSlot, q.Slice(0, nOut), nOut
			b.Gather(xr, x, out)
			b.Gather(qr, q, out)
		}
		xn, h, h2 := xb.Slice(0, r), s.h.Slice(0, r), s.h2.Slice(0, r)
		switch {
		case attnO != nil:
			attnO.AttentionMatMulAdd(xr, ar, L.WO, qr, s.kc[l], s.vc[l], qp, span, c.NHeads, c.NKVHeads, c.Family.Causal())
		case addMM != nil:
			b.Attention(ar, qr, s.kc[l], s.vc[l], qp, span, c.NHeads, c.NKVHeads, c.Family.Causal())
			addMM.MatMulAdd(xr, ar, L.WO)
		default:
			b.Attention(ar, qr, s.kc[l], s.vc[l], qp, span, c.NHeads, c.NKVHeads, c.Family.Causal())
			b.MatMul(xn, ar, L.WO)
			b.Add(xr, xr, xn)
		}
		// Feed-forward: x += Wdown · (silu(Wgate·xb) ⊙ Wup·xb).
		if normFFN != nil {
			normFFN.NormFFN(xr, h, xn, xr, L.FFNNorm, c.NormEps, L.WGate, L.WUp, L.WDown)
			continue
		}
		if normSwiGLU != nil {
			normSwiGLU.NormMatMulSwiGLU(h, xn, xr, L.FFNNorm, c.NormEps, L.WGate, L.WUp)
		} else {
			b.RMSNorm(xn, xr, L.FFNNorm, c.NormEps)
			if swiglu != nil {
				swiglu.MatMulSwiGLU(h, xn, L.WGate, L.WUp)
			} else {
				b.MatMul(h, xn, L.WGate)
				b.MatMul(h2, xn, L.WUp)
				b.SiLUMul(h, h, h2)
			}
		}
		if addMM != nil {
			addMM.MatMulAdd(xr, h, L.WDown)
		} else {
			b.MatMul(xn, h, L.WDown)
			b.Add(xr, xr, xn)
		}
	}
	if nOut == 0 {
		return
	}
	if !key.pruned {
		b.Gather(xo, x, out)
	}
	b.RMSNorm(xo, xo, w.Norm, c.NormEps)
	b.MatMul(s.logits.Slice(0, nOut), xo, w.Head)
}

// Close releases the state's recorded graphs and frees its tensors; the
// state must not be used after.
func (s *State) Close() {
	for _, g := range s.graphs {
		g.Close()
	}
	s.graphs = nil
	if s.b == nil {
		return
	}
	for _, t := range s.tensors() {
		s.b.Free(t)
	}
	s.b = nil
}

func (s *State) tensors() []compute.Tensor {
	ts := []compute.Tensor{s.x, s.xb, s.q, s.att, s.k, s.v, s.h, s.h2, s.xo, s.logits, s.in, s.selIDt, s.selPt, s.pick, s.bitsT}
	return append(append(ts, s.kc...), s.vc...)
}

// Memory reports the bytes the state holds on the backend: the key/value
// cache and the activations (logits and inputs included).
func (s *State) Memory() (cache, activations int64) {
	for i := range s.kc {
		cache += s.kc[i].Bytes() + s.vc[i].Bytes()
	}
	for _, t := range s.tensors() {
		activations += t.Bytes()
	}
	return cache, activations - cache
}

// WeightBytes is the size of the model's weights on the backend.
func (m *Model) WeightBytes() int64 {
	var n int64
	for _, t := range m.tensors() {
		n += t.Bytes()
	}
	return n
}

// SelectTokens returns, for each of the first nOut logit rows of the last
// Forward, its most likely token (never exclude; −1 for none) and that
// token's softmax probability. On a backend that selects on the device only
// these cross to the host; elsewhere they are computed from the logits, the
// definition of compute.Selector. The slices are the State's, overwritten
// by the next call.
func (m *Model) SelectTokens(s *State, nOut, exclude int) ([]int32, []float32, error) {
	m.selectRows(s, nOut, exclude)
	return m.readPicks(s, nOut, true)
}

// ArgmaxTokens is SelectTokens without the probabilities, which it leaves
// on the backend: one read fewer, for greedy decoding.
func (m *Model) ArgmaxTokens(s *State, nOut, exclude int) ([]int32, error) {
	m.selectRows(s, nOut, exclude)
	ids, _, err := m.readPicks(s, nOut, false)
	return ids, err
}

// readPicks waits for the queued selection or draw and reads the first nOut
// picked ids, and with probs their probabilities, from the whole buffers,
// boxed once in NewState (the rows past nOut are stale).
func (m *Model) readPicks(s *State, nOut int, probs bool) ([]int32, []float32, error) {
	if err := m.b.Read(s.box.selIDs, s.selIDt); err != nil {
		return nil, nil, fmt.Errorf("model: reading selected tokens: %w", err)
	}
	if !probs {
		return s.selIDs[:nOut], nil, nil
	}
	if err := m.b.Read(s.box.selProbs, s.selPt); err != nil {
		return nil, nil, fmt.Errorf("model: reading selected tokens: %w", err)
	}
	return s.selIDs[:nOut], s.selProbs[:nOut], nil
}

// Logits waits for the last Forward and returns its nOut × VocabSize logits
// as a host slice owned by the State (overwritten by the next call).
func (m *Model) Logits(s *State, nOut int) ([]float32, error) {
	var dst any = s.host[:nOut*m.Config.VocabSize]
	src := s.logits.Slice(0, nOut)
	if nOut == s.M {
		dst, src = s.box.host, s.logits // boxed once: no allocation per step
	}
	if err := m.b.Read(dst, src); err != nil {
		return nil, fmt.Errorf("model: reading logits: %w", err)
	}
	return s.host[:nOut*m.Config.VocabSize], nil
}
