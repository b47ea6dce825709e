//go:build !amd64 || purego

package cpu

// Without assembly MatMul always runs the pure-Go kernels of dot.go. The
// declarations below only keep the tiled path compiling; it never runs.
var useAVX2 = false

func fma8(acc, x, w *[8]float32)                                                      { noAsm() }
func dot4F32(acc *float32, x *float32, w *float32, ws int, nc int)                    { noAsm() }
func dot4BF16(acc *float32, x *float32, w *uint16, ws int, nc int)                    { noAsm() }
func dot4F16(acc *float32, x *float32, w *uint16, ws int, nc int)                     { noAsm() }
func dot1F32(acc *float32, x *float32, w *float32, nc int)                            { noAsm() }
func dot1BF16(acc *float32, x *float32, w *uint16, nc int)                            { noAsm() }
func dot1F16(acc *float32, x *float32, w *uint16, nc int)                             { noAsm() }
func tile4x3F32(acc *float32, as int, x *float32, xs int, w *float32, ws int, nc int) { noAsm() }
func tile4x3BF16(acc *float32, as int, x *float32, xs int, w *uint16, ws int, nc int) { noAsm() }
func tile4x3F16(acc *float32, as int, x *float32, xs int, w *uint16, ws int, nc int)  { noAsm() }

func noAsm() { panic("cpu: assembly kernel called in a build without them") }
