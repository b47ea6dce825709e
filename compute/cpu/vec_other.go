//go:build !amd64 || purego

package cpu

// Without assembly Attention and SiLUMul run the pure-Go code; these
// declarations only keep the assembly paths compiling.

func expSumF32(x *float32, m float32, nc int, sum *[8]float32) { noAsm() }
func siluMulF32(dst, gate, up *float32, nc int)                { noAsm() }
func widenBF16F32(dst *float32, src *uint16, nc int)           { noAsm() }
func scoresF32(dst *float32, q *float32, k *float32, ks int, rows int, nc int, scale float32) (m float32) {
	noAsm()
	return 0
}
func axpyRowsF32(dst *float32, p *float32, v *float32, vs int, rows int, n int, scale float32) {
	noAsm()
}
