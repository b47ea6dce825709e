//go:build amd64 && !purego

package cpu

// useAVX2 says whether MatMul runs the AVX2+FMA kernels of dot_amd64.s. It is
// decided once: CPUs before Haswell (and hypervisors that hide the YMM
// state) get the pure-Go kernels. Tests flip it to check both paths.
var useAVX2 = hasAVX2FMA()

func hasAVX2FMA() bool {
	if maxLeaf, _, _, _ := cpuid(0, 0); maxLeaf < 7 {
		return false
	}
	const fma, osxsave, avx, f16c = 1 << 12, 1 << 27, 1 << 28, 1 << 29
	if _, _, c, _ := cpuid(1, 0); c&(fma|osxsave|avx|f16c) != fma|osxsave|avx|f16c {
		return false
	}
	// The OS must save the XMM and YMM registers on a context switch.
	if eax, _ := xgetbv(); eax&6 != 6 {
		return false
	}
	const avx2 = 1 << 5
	_, b, _, _ := cpuid(7, 0)
	return b&avx2 != 0
}

func cpuid(eax, ecx uint32) (a, b, c, d uint32)
func xgetbv() (eax, edx uint32)

// The kernels work on nc chunks of 8 elements and keep 8 float32 lanes per
// output in acc, which they load and store back: see dot.go. Strides (ws,
// xs, as) are in bytes.

// fma8 computes acc = x·w + acc lane by lane, rounding once.
//
//go:noescape
func fma8(acc, x, w *[8]float32)

// dot4* accumulate one row x against the four weight rows at w, w+ws, …
// into acc[0:32].
//
//go:noescape
func dot4F32(acc *float32, x *float32, w *float32, ws int, nc int)

//go:noescape
func dot4BF16(acc *float32, x *float32, w *uint16, ws int, nc int)

//go:noescape
func dot4F16(acc *float32, x *float32, w *uint16, ws int, nc int)

// dot1* accumulate one row x against one weight row into acc[0:8].
//
//go:noescape
func dot1F32(acc *float32, x *float32, w *float32, nc int)

//go:noescape
func dot1BF16(acc *float32, x *float32, w *uint16, nc int)

//go:noescape
func dot1F16(acc *float32, x *float32, w *uint16, nc int)

// tile4x3* accumulate four rows of x (xs apart) against three weight rows
// (ws apart); output (i, j) keeps its lanes at acc + i·as + 32·j.
//
//go:noescape
func tile4x3F32(acc *float32, as int, x *float32, xs int, w *float32, ws int, nc int)

//go:noescape
func tile4x3BF16(acc *float32, as int, x *float32, xs int, w *uint16, ws int, nc int)

//go:noescape
func tile4x3F16(acc *float32, as int, x *float32, xs int, w *uint16, ws int, nc int)
