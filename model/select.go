package model

import (
	"fmt"

	"dllmbench/compute"
)

// hostSelector runs the definitions of compute's Selector, GumbelSelector
// and Sampler on the host (ArgmaxProbRow, GumbelArgmaxProbRow, SampleRow),
// for backends without them: it reads the logits back and writes the picks
// into the State's tensors.
type hostSelector struct {
	m *Model
	s *State
}

// read copies logits back into the State's host buffer; false on an error,
// which stays with the backend for the next Read to report.
func (h hostSelector) read(logits compute.Tensor) ([]float32, bool) {
	lg := h.s.host[:logits.Rows()*logits.Cols()]
	return lg, h.m.b.Read(lg, logits) == nil
}

// key is row r's 64 bits as SampleTokens and SelectTokensGumbel wrote them.
func (h hostSelector) key(r int) uint64 { return compute.Word64(h.s.bits, r) }

func (h hostSelector) ArgmaxProb(ids, probs, logits compute.Tensor, exclude int) {
	n, V := logits.Rows(), logits.Cols()
	lg, ok := h.read(logits)
	if !ok {
		return
	}
	for r := range n {
		id, p := compute.ArgmaxProbRow(lg[r*V:(r+1)*V], exclude)
		h.s.selIDs[r], h.s.selProbs[r] = int32(id), p
	}
	h.m.b.Write(ids, h.s.selIDs[:n])
	h.m.b.Write(probs, h.s.selProbs[:n])
}

func (h hostSelector) GumbelArgmaxProb(ids, probs, logits, keys compute.Tensor, exclude int, temperature float64) {
	n, V := logits.Rows(), logits.Cols()
	lg, ok := h.read(logits)
	if !ok {
		return
	}
	for r := range n {
		id, p := compute.GumbelArgmaxProbRow(lg[r*V:(r+1)*V], exclude, h.key(r), temperature)
		h.s.selIDs[r], h.s.selProbs[r] = int32(id), p
	}
	h.m.b.Write(ids, h.s.selIDs[:n])
	h.m.b.Write(probs, h.s.selProbs[:n])
}

func (h hostSelector) Sample(ids, logits, bits compute.Tensor, p compute.SampleParams) {
	n, V := logits.Rows(), logits.Cols()
	lg, ok := h.read(logits)
	if !ok {
		return
	}
	for r := range n {
		h.s.selIDs[r] = int32(compute.SampleRow(lg[r*V:(r+1)*V], h.key(r), p, &h.s.sc))
	}
	h.m.b.Write(ids, h.s.selIDs[:n])
}

// SelectTokensGumbel is SelectTokens for sampled diffusion steps: row r's
// token drawn by Gumbel-max at temperature (> 0, finite) with the key
// keys[r] (compute.GumbelArgmaxProbRow: LLaDA's add_gumbel_noise, then the
// argmax, never exclude) and its probability over the noiseless row. On a
// backend that draws them (compute.GumbelSelector) only the keys, ids and
// probabilities cross; elsewhere the logits are read back. The slices are
// the State's, overwritten by the next call. It panics on a temperature
// that is not finite and > 0 (greedy steps are SelectTokens), whichever
// backend draws.
func (m *Model) SelectTokensGumbel(s *State, nOut, exclude int, temperature float64, keys []uint64) ([]int32, []float32, error) {
	if !compute.DrawTemperature(temperature) {
		panic(fmt.Sprintf("model: SelectTokensGumbel: temperature %g: want a finite number > 0", temperature))
	}
	if nOut < 1 || nOut > s.M || len(keys) < nOut {
		panic(fmt.Sprintf("model: SelectTokensGumbel of %d rows with %d keys on a state of M=%d", nOut, len(keys), s.M))
	}
	m.writeBits(s, keys[:nOut])
	sel, ok := m.b.(compute.GumbelSelector)
	if !ok {
		sel = hostSelector{m: m, s: s}
	}
	sel.GumbelArgmaxProb(s.selIDt.Slice(0, nOut), s.selPt.Slice(0, nOut), s.logits.Slice(0, nOut), s.bitsT.Slice(0, nOut),
		exclude, temperature)
	return m.readPicks(s, nOut, true)
}

// selectRows queues the picks of the first nOut logit rows of the last call
// (compute.Selector's ArgmaxProb) into the State's selected ids and
// probabilities: on the backend where it selects, else by hostSelector.
func (m *Model) selectRows(s *State, nOut, exclude int) {
	sel, ok := m.b.(compute.Selector)
	if !ok {
		sel = hostSelector{m: m, s: s}
	}
	sel.ArgmaxProb(s.selIDt.Slice(0, nOut), s.selPt.Slice(0, nOut), s.logits.Slice(0, nOut), exclude)
}

// CanUnmask says whether the backend commits diffusion steps itself
// (compute.Unmasker), as Unmask needs.
func (m *Model) CanUnmask() bool {
	_, ok := m.b.(compute.Unmasker)
	return ok
}

// Unmask queues a diffusion step's commit on the backend after Forward or
// Rerun, the device's part of LLaDA's greedy low-confidence remasking: it
// picks each of the call's nOut outputs' most likely token other than the
// mask and its probability, as SelectTokens does, then in each batch row
// commits the k most probable positions of the block still holding the
// mask into the call's token ids, where Rerun reads them. The outputs must
// be the block: nOut/B consecutive tokens of each batch row in order,
// from column start of the row's tokens. Each row's committed positions
// (offsets into the block, most probable first, −1 past its commits) go to
// the State's log of picks from entry at, B·k entries. Nothing waits for
// the device: ReadUnmasked reads the results. The backend must implement
// compute.Unmasker (CanUnmask).
func (m *Model) Unmask(s *State, nOut, start, k, at int) {
	um, ok := m.b.(compute.Unmasker)
	if !ok {
		panic(fmt.Sprintf("model: Unmask on the %s backend, which does not commit on the device", m.b.Name()))
	}
	if !s.ran {
		panic("model: Unmask before any Forward on this state")
	}
	n, B := s.last.n, s.B
	if nOut != s.last.nOut || nOut%B != 0 || k < 0 || at < 0 || at+B*k > s.M {
		panic(fmt.Sprintf("model: Unmask of %d outputs, %d a row from entry %d, after a call of %d outputs on a state of B=%d, M=%d",
			nOut, k, at, s.last.nOut, B, s.M))
	}
	bl := nOut / B
	if start < 0 || start+bl > n {
		panic(fmt.Sprintf("model: Unmask: a block of %d from column %d of a call of %d tokens a row", bl, start, n))
	}
	for i := range nOut {
		if want := i/bl*n + start + i%bl; int(s.Out[i]) != want {
			panic(fmt.Sprintf("model: Unmask: output %d is token %d of the call, not %d (a block of %d from column %d)",
				i, s.Out[i], want, bl, start))
		}
	}
	mask := m.Config.MaskID
	m.selectRows(s, nOut, mask)
	ids, probs := s.selIDt.Slice(0, nOut), s.selPt.Slice(0, nOut)
	um.Unmask(s.in.Slice(0, B*n).Reshape(B, n), s.pick.Slice(at, at+B*k).Reshape(B, k), ids, probs, start, k, mask)
}

// ReadUnmasked waits for the queued steps and returns the token ids of the
// last call as Unmask left them (B rows of its n tokens) and the log of
// picks (M entries; those Unmask wrote since the last read are current, −1
// where none has written). The slices are the State's, overwritten by the
// next call.
func (m *Model) ReadUnmasked(s *State) (tokens, picks []int32, err error) {
	if !s.ran {
		panic("model: ReadUnmasked before any Forward on this state")
	}
	rows := s.B * s.last.n
	dst, ok := s.tokens[rows]
	if !ok { // boxed once for each call's length: no allocation per block
		dst = s.inHost[:rows]
		s.tokens[rows] = dst
	}
	if err := m.b.Read(dst, s.in.Slice(0, rows)); err != nil {
		return nil, nil, fmt.Errorf("model: reading committed tokens: %w", err)
	}
	if err := m.b.Read(s.box.picks, s.pick); err != nil {
		return nil, nil, fmt.Errorf("model: reading the log of picks: %w", err)
	}
	return s.inHost[:rows], s.picks, nil
}

// writeBits sends the rows' random bits (SampleTokens) or keys
// (SelectTokensGumbel) to the State's tensor, two words a row, in one
// copy of the whole buffer (boxed once).
func (m *Model) writeBits(s *State, bits []uint64) {
	for r, u := range bits {
		compute.PutWord64(s.bits, r, u)
	}
	m.b.Write(s.bitsT, s.box.bits)
}

// SampleTokens draws a token from each of the first nOut logit rows of the
// last Forward, row r with the random bits bits[r], as compute.SampleRow
// defines the draw: on a backend that samples (compute.Sampler) only the
// bits and the ids cross between host and device; elsewhere the logits
// are read back and drawn from on the host. The ids are the State's,
// overwritten by the next call. It panics on parameters
// compute.SampleParams.Check refuses (greedy decoding is ArgmaxTokens).
func (m *Model) SampleTokens(s *State, nOut int, p compute.SampleParams, bits []uint64) ([]int32, error) {
	p.Check("SampleTokens")
	if nOut < 1 || nOut > s.M || len(bits) < nOut {
		panic(fmt.Sprintf("model: SampleTokens of %d rows with %d draws' bits on a state of M=%d", nOut, len(bits), s.M))
	}
	m.writeBits(s, bits[:nOut])
	smp, ok := m.b.(compute.Sampler)
	if !ok {
		smp = hostSelector{m: m, s: s}
	}
	smp.Sample(s.selIDt.Slice(0, nOut), s.logits.Slice(0, nOut), s.bitsT.Slice(0, nOut), p)
	ids, _, err := m.readPicks(s, nOut, false)
	return ids, err
}

// GuideLogits applies classifier-free guidance to the last Forward's
// logits on the backend: rows [0, n) are conditional and rows [n, 2n)
// the same positions unconditional, and rows [0, n) become
// unconditional + scale·(conditional − unconditional) (compute's Lerp),
// ready for SelectTokens or SelectTokensGumbel over n rows.
func (m *Model) GuideLogits(s *State, n int, scale float32) {
	if n < 1 || 2*n > s.M {
		panic(fmt.Sprintf("model: GuideLogits of %d rows and their unconditional twins on a state of M=%d", n, s.M))
	}
	cond, uncond := s.logits.Slice(0, n), s.logits.Slice(n, 2*n)
	m.b.Lerp(cond, uncond, cond, scale)
}
