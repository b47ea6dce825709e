//go:build amd64 && !purego

package cpu

// The kernels of vec_amd64.s. They run when useAVX2 is set (dot_amd64.go);
// counts of chunks (nc) are of 8 float32, strides (ks, vs) are in bytes.

// expSumF32 computes x[i] = e^(x[i]−m) for the first 8·nc elements and adds
// each to sum[i mod 8], in order: the bits of expSumGo.
//
//go:noescape
func expSumF32(x *float32, m float32, nc int, sum *[8]float32)

// siluMulF32 computes dst[i] = silu(gate[i])·up[i] for the first 8·nc
// elements: the bits of siluMulGo.
//
//go:noescape
func siluMulF32(dst, gate, up *float32, nc int)

// widenBF16F32 widens the first 8·nc bfloat16 of src into dst: the bits of
// widenBF16.
//
//go:noescape
func widenBF16F32(dst *float32, src *uint16, nc int)

// scoresF32 computes dst[j] = (q · k_j)·scale for the rows rows of k (ks
// bytes apart), each dot of 8·nc elements accumulated in 8 lanes with one
// fused multiply-add per chunk and summed in the tree of sum8 (the bits of
// dot1F32 followed by sum8), and returns the largest dst[j] (−Inf for none).
//
//go:noescape
func scoresF32(dst *float32, q *float32, k *float32, ks int, rows int, nc int, scale float32) (m float32)

// axpyRowsF32 computes dst[c] = (p[j]·v_j[c] + dst[c]) with one rounding,
// for the rows j = 0, 1, …, rows−1 of v (vs bytes apart) in order, then
// dst[c]·scale, for the n columns c. Its reference is axpyRowsGo, which has
// the same bits where Go fuses the multiply-add (arm64), and one more
// rounding per row where it does not.
//
//go:noescape
func axpyRowsF32(dst *float32, p *float32, v *float32, vs int, rows int, n int, scale float32)
