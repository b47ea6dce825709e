package model

import (
	"slices"
	"testing"

	"dllmbench/compute/computetest"
)

// Unmask then Rerun make the steps that Forward, SelectTokens and the
// commit on the host (compute.Unmasker's definition) make: the same tokens
// and the same log of picks, two steps running.
func TestUnmaskMatchesHost(t *testing.T) {
	m := loadStories(t)
	if !m.CanUnmask() {
		t.Skipf("the %s backend commits on the host", m.Backend().Name())
	}
	const B, n, start, bl, k = 2, 7, 2, 4, 2
	m.Config.MaskID = 7 // a token of this vocabulary stands for the mask
	// Three entries of the log past the two steps' commits are never written.
	s := mustState(t)(m.NewState(B, n, 16, B*bl+3))
	defer s.Close()
	computetest.MustPanic(t, "Rerun before Forward", "model: Rerun before any Forward", func() { m.Rerun(s) })
	canvas := []int32{1, 5, 7, 7, 7, 7, 9, 3, 4, 7, 40, 7, 7, 2} // row 1 has one block position committed
	for r := range B {
		for i := range n {
			j := r*n + i
			s.Tokens[j], s.Pos[j], s.Slots[j] = canvas[j], int32(i), int32(i)
		}
		s.Span[2*r], s.Span[2*r+1] = 0, n
		for j := range bl {
			s.Out[r*bl+j] = int32(r*n + start + j)
		}
	}
	host := slices.Clone(canvas)
	var picks []int32
	for range 2 {
		// On the host: the step's picks read back, committed by the definition.
		copy(s.Tokens, host)
		if err := m.Forward(s, n, B*bl); err != nil {
			t.Fatal(err)
		}
		ids, probs, err := m.SelectTokens(s, B*bl, m.Config.MaskID)
		if err != nil {
			t.Fatal(err)
		}
		var p []int32
		host, p = computetest.RefUnmask(host, slices.Clone(ids), slices.Clone(probs), B, start, k, int32(m.Config.MaskID))
		picks = append(picks, p...)
	}
	// On the device: the first step from the host's inputs, the second rerun.
	copy(s.Tokens, canvas)
	if err := m.Forward(s, n, B*bl); err != nil {
		t.Fatal(err)
	}
	m.Unmask(s, B*bl, start, k, 0)
	if err := m.Rerun(s); err != nil {
		t.Fatal(err)
	}
	m.Unmask(s, B*bl, start, k, B*k)
	tokens, log, err := m.ReadUnmasked(s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tokens, host) || !slices.Equal(log[:2*B*k], picks) {
		t.Errorf("device: tokens %v, picks %v\nhost:   tokens %v, picks %v", tokens, log[:2*B*k], host, picks)
	}
	if slices.Equal(host, canvas) {
		t.Error("nothing was committed")
	}
	if !slices.Equal(log[2*B*k:], []int32{-1, -1, -1}) {
		t.Errorf("the log past the commits is %v, want −1 (no commit)", log[2*B*k:])
	}
	computetest.MustPanic(t, "outputs not a block", "model: Unmask: output 0 is token 2 of the call, not 3", func() {
		m.Unmask(s, B*bl, start+1, k, 0)
	})
	computetest.MustPanic(t, "a log past M", "model: Unmask of 8 outputs, 3 a row from entry 6", func() { m.Unmask(s, B*bl, start, 3, 6) })
}
