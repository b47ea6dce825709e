package cpu

import (
	"math"

	"dllmbench/compute"
)

// The dot kernels accumulate in eight float32 lanes (lane l takes the
// elements l, l+8, l+16, …) and sum the lanes in a fixed tree. Every caller
// gets the same rounding for the same inputs, which is what makes the
// backend row-independent. This is the hot spot of the CPU backend.
//
// These pure-Go kernels are the portable MatMul and the reference for the
// assembly ones (dot_amd64.s), which keep the same lanes but differ in two
// ways: each lane adds x·w with one rounding (fused multiply-add), and the
// tail of k mod 8 elements goes in as one more fused chunk, zero-padded
// (fma8). The tiles of MatMul's fast path are built so that every output
// still sees exactly that sequence whatever tile computes it.

// dotF32 returns Σ x[i]·w[i].
func dotF32(x, w []float32) float32 {
	w = w[:len(x)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(x); i += 8 {
		s0 += x[i] * w[i]
		s1 += x[i+1] * w[i+1]
		s2 += x[i+2] * w[i+2]
		s3 += x[i+3] * w[i+3]
		s4 += x[i+4] * w[i+4]
		s5 += x[i+5] * w[i+5]
		s6 += x[i+6] * w[i+6]
		s7 += x[i+7] * w[i+7]
	}
	for l := 0; i < len(x); i, l = i+1, l+1 {
		p := x[i] * w[i]
		switch l {
		case 0:
			s0 += p
		case 1:
			s1 += p
		case 2:
			s2 += p
		case 3:
			s3 += p
		case 4:
			s4 += p
		case 5:
			s5 += p
		case 6:
			s6 += p
		}
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// dotBF16 returns Σ x[i]·w[i] for bfloat16 weights.
func dotBF16(x []float32, w []uint16) float32 {
	w = w[:len(x)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(x); i += 8 {
		s0 += x[i] * math.Float32frombits(uint32(w[i])<<16)
		s1 += x[i+1] * math.Float32frombits(uint32(w[i+1])<<16)
		s2 += x[i+2] * math.Float32frombits(uint32(w[i+2])<<16)
		s3 += x[i+3] * math.Float32frombits(uint32(w[i+3])<<16)
		s4 += x[i+4] * math.Float32frombits(uint32(w[i+4])<<16)
		s5 += x[i+5] * math.Float32frombits(uint32(w[i+5])<<16)
		s6 += x[i+6] * math.Float32frombits(uint32(w[i+6])<<16)
		s7 += x[i+7] * math.Float32frombits(uint32(w[i+7])<<16)
	}
	for l := 0; i < len(x); i, l = i+1, l+1 {
		p := x[i] * math.Float32frombits(uint32(w[i])<<16)
		switch l {
		case 0:
			s0 += p
		case 1:
			s1 += p
		case 2:
			s2 += p
		case 3:
			s3 += p
		case 4:
			s4 += p
		case 5:
			s5 += p
		case 6:
			s6 += p
		}
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// dotF16 returns Σ x[i]·w[i] for half-precision weights.
func dotF16(x []float32, w []uint16) float32 {
	w = w[:len(x)]
	var s [8]float32
	for i := range x {
		s[i&7] += x[i] * compute.F16ToF32(w[i])
	}
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

// sum8 adds the lanes in the tree that ends every dot kernel.
func sum8(s *[8]float32) float32 {
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}
