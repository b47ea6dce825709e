package cpu

import "math"

// expF32 returns e^x in float32 within 2 ulp (TestExpAccuracy measures the
// error against math.Exp): the softmax of Attention and the sigmoid of
// SiLUMul call it instead of the float64 math.Exp.
//
// It is also the reference for the eight-lane kernels of vec_amd64.s, which
// run the same float32 operations in the same order, so both give the same
// bits. That is why every product below is converted explicitly: Go may
// otherwise fuse x*y + z into one multiply-add (it does on arm64), and the
// kernels do not.
//
// The method is Cephes' expf: x = n·ln2 + r with |r| ≤ ln2/2, ln2 split in
// two so that n·ln2Hi is exact; a degree-7 polynomial for e^r; then 2^n in
// two factors, so that a result under the smallest normal float (x down to
// about −103.3) is rounded once, as a subnormal, rather than flushed.
func expF32(x float32) float32 {
	// Clamping keeps n in [−150, 128]: above expHi the result overflows to
	// +Inf, below expLo it rounds to 0. A NaN passes through.
	if expHi < x {
		x = expHi
	}
	if expLo > x {
		x = expLo
	}
	n := float32(math.RoundToEven(float64(float32(x * expLog2e))))
	r := x - float32(n*expLn2Hi)
	r = r - float32(n*expLn2Lo)
	z := float32(r * r)
	p := float32(expP0*r) + expP1
	p = float32(p*r) + expP2
	p = float32(p*r) + expP3
	p = float32(p*r) + expP4
	p = float32(p*r) + expP5
	y := float32(p*z) + r
	y = y + 1
	n1 := int32(n) >> 1
	n2 := int32(n) - n1
	y = float32(y * math.Float32frombits(uint32(n1+127)<<23))
	return float32(y * math.Float32frombits(uint32(n2+127)<<23))
}

// The constants of expF32, as float32; vec_amd64.s holds the same bits.
const (
	expHi    float32 = 89   // e^89 > MaxFloat32
	expLo    float32 = -104 // e^−104 < 2⁻¹⁵⁰, half the smallest subnormal
	expLog2e float32 = 1.44269504088896341
	expLn2Hi float32 = 0.693359375 // 355/512: n·ln2Hi is exact for |n| < 2¹⁵
	expLn2Lo float32 = -2.12194440e-4
	// Cephes' minimax coefficients of (e^r − 1 − r)/r² on [−ln2/2, ln2/2].
	expP0 float32 = 1.9875691500e-4
	expP1 float32 = 1.3981999507e-3
	expP2 float32 = 8.3334519073e-3
	expP3 float32 = 4.1665795894e-2
	expP4 float32 = 1.6666665459e-1
	expP5 float32 = 5.0000001201e-1
)

// siluMul1 returns silu(g)·u = g / (1 + e^−g) · u. For g very negative e^−g
// overflows to +Inf and silu(g) to −0; for g very positive e^−g is 0 and
// silu(g) = g. It is the reference for the kernel siluMulF32.
func siluMul1(g, u float32) float32 {
	return g / (1 + expF32(-g)) * u
}

// siluMulGo computes dst[i] = silu(g[i])·u[i]: the portable SiLUMul.
func siluMulGo(dst, g, u []float32) {
	g, u = g[:len(dst)], u[:len(dst)]
	for i := range dst {
		dst[i] = siluMul1(g[i], u[i])
	}
}
