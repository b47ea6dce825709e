//go:build amd64 && !purego

#include "textflag.h"

// AVX2+FMA kernels for MatMul; dot_amd64.go says when they run and dot.go
// what they compute. Each keeps one YMM accumulator (8 float32 lanes) per
// output element and does one VFMADD231PS per 8-element chunk of k, always
// as acc = x·w + acc, so every kernel rounds an element's sum the same way.
// Accumulators are loaded from and stored back to memory, so a caller may
// split k into blocks without changing a bit. This is the hot spot of the
// CPU backend.

// BF16 widens eight bfloat16 at addr into float32 in r: a bfloat16 is the
// upper half of a float32.
#define BF16(addr, r) VPMOVZXWD addr, r; VPSLLD $16, r, r

// F16 widens eight IEEE halves at addr into float32 in r, exactly.
#define F16(addr, r) VCVTPH2PS addr, r

// func cpuid(eax, ecx uint32) (a, b, c, d uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eax+0(FP), AX
	MOVL ecx+4(FP), CX
	CPUID
	MOVL AX, a+8(FP)
	MOVL BX, b+12(FP)
	MOVL CX, c+16(FP)
	MOVL DX, d+20(FP)
	RET

// func xgetbv() (eax, edx uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET

// func fma8(acc, x, w *[8]float32)
TEXT ·fma8(SB), NOSPLIT, $0-24
	MOVQ acc+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), AX
	VMOVUPS (DI), Y0
	VMOVUPS (SI), Y1
	VFMADD231PS (AX), Y1, Y0
	VMOVUPS Y0, (DI)
	VZEROUPPER
	RET

// The one-row kernels: one row of x against one or four weight rows whose
// starts are ws bytes apart. acc holds 8 lanes per weight row. Four chains
// do not quite cover the FMA latency, but decoding is bound by memory: an
// eight-row kernel measured slower (more streams for the prefetcher).

// LOAD4 loads the four accumulators at DI into Y0..Y3; STORE4 stores them.
#define LOAD4 VMOVUPS (DI), Y0; VMOVUPS 32(DI), Y1; VMOVUPS 64(DI), Y2; VMOVUPS 96(DI), Y3
#define STORE4 VMOVUPS Y0, (DI); VMOVUPS Y1, 32(DI); VMOVUPS Y2, 64(DI); VMOVUPS Y3, 96(DI)

// ROWS4 sets AX, DX, R8, R9 to the four weight rows starting at AX, BX apart.
#define ROWS4 LEAQ (AX)(BX*1), DX; LEAQ (DX)(BX*1), R8; LEAQ (R8)(BX*1), R9

// func dot4F32(acc *float32, x *float32, w *float32, ws int, nc int)
TEXT ·dot4F32(SB), NOSPLIT, $0-40
	MOVQ acc+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), AX
	MOVQ ws+24(FP), BX
	MOVQ nc+32(FP), CX
	ROWS4
	LOAD4
	XORQ R10, R10 // byte offset into x and the weight rows
	TESTQ CX, CX
	JZ    done

loop:
	VMOVUPS     (SI)(R10*1), Y8
	VFMADD231PS (AX)(R10*1), Y8, Y0
	VFMADD231PS (DX)(R10*1), Y8, Y1
	VFMADD231PS (R8)(R10*1), Y8, Y2
	VFMADD231PS (R9)(R10*1), Y8, Y3
	ADDQ        $32, R10
	DECQ        CX
	JNZ         loop

done:
	STORE4
	VZEROUPPER
	RET

// func dot4BF16(acc *float32, x *float32, w *uint16, ws int, nc int)
TEXT ·dot4BF16(SB), NOSPLIT, $0-40
	MOVQ acc+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), AX
	MOVQ ws+24(FP), BX
	MOVQ nc+32(FP), CX
	ROWS4
	LOAD4
	XORQ R10, R10 // byte offset into the weight rows, half that into x
	TESTQ CX, CX
	JZ    done

loop:
	VMOVUPS     (SI)(R10*2), Y8
	BF16((AX)(R10*1), Y4)
	BF16((DX)(R10*1), Y5)
	BF16((R8)(R10*1), Y6)
	BF16((R9)(R10*1), Y7)
	VFMADD231PS Y4, Y8, Y0
	VFMADD231PS Y5, Y8, Y1
	VFMADD231PS Y6, Y8, Y2
	VFMADD231PS Y7, Y8, Y3
	ADDQ        $16, R10
	DECQ        CX
	JNZ         loop

done:
	STORE4
	VZEROUPPER
	RET

// func dot4F16(acc *float32, x *float32, w *uint16, ws int, nc int)
TEXT ·dot4F16(SB), NOSPLIT, $0-40
	MOVQ acc+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), AX
	MOVQ ws+24(FP), BX
	MOVQ nc+32(FP), CX
	ROWS4
	LOAD4
	XORQ R10, R10
	TESTQ CX, CX
	JZ    done

loop:
	VMOVUPS     (SI)(R10*2), Y8
	F16((AX)(R10*1), Y4)
	F16((DX)(R10*1), Y5)
	F16((R8)(R10*1), Y6)
	F16((R9)(R10*1), Y7)
	VFMADD231PS Y4, Y8, Y0
	VFMADD231PS Y5, Y8, Y1
	VFMADD231PS Y6, Y8, Y2
	VFMADD231PS Y7, Y8, Y3
	ADDQ        $16, R10
	DECQ        CX
	JNZ         loop

done:
	STORE4
	VZEROUPPER
	RET

// func dot1F32(acc *float32, x *float32, w *float32, nc int)
TEXT ·dot1F32(SB), NOSPLIT, $0-32
	MOVQ    acc+0(FP), DI
	MOVQ    x+8(FP), SI
	MOVQ    w+16(FP), AX
	MOVQ    nc+24(FP), CX
	VMOVUPS (DI), Y0
	XORQ    R10, R10
	TESTQ   CX, CX
	JZ      done

loop:
	VMOVUPS     (SI)(R10*1), Y8
	VFMADD231PS (AX)(R10*1), Y8, Y0
	ADDQ        $32, R10
	DECQ        CX
	JNZ         loop

done:
	VMOVUPS Y0, (DI)
	VZEROUPPER
	RET

// func dot1BF16(acc *float32, x *float32, w *uint16, nc int)
TEXT ·dot1BF16(SB), NOSPLIT, $0-32
	MOVQ    acc+0(FP), DI
	MOVQ    x+8(FP), SI
	MOVQ    w+16(FP), AX
	MOVQ    nc+24(FP), CX
	VMOVUPS (DI), Y0
	XORQ    R10, R10
	TESTQ   CX, CX
	JZ      done

loop:
	VMOVUPS     (SI)(R10*2), Y8
	BF16((AX)(R10*1), Y4)
	VFMADD231PS Y4, Y8, Y0
	ADDQ        $16, R10
	DECQ        CX
	JNZ         loop

done:
	VMOVUPS Y0, (DI)
	VZEROUPPER
	RET

// func dot1F16(acc *float32, x *float32, w *uint16, nc int)
TEXT ·dot1F16(SB), NOSPLIT, $0-32
	MOVQ    acc+0(FP), DI
	MOVQ    x+8(FP), SI
	MOVQ    w+16(FP), AX
	MOVQ    nc+24(FP), CX
	VMOVUPS (DI), Y0
	XORQ    R10, R10
	TESTQ   CX, CX
	JZ      done

loop:
	VMOVUPS     (SI)(R10*2), Y8
	F16((AX)(R10*1), Y4)
	VFMADD231PS Y4, Y8, Y0
	ADDQ        $16, R10
	DECQ        CX
	JNZ         loop

done:
	VMOVUPS Y0, (DI)
	VZEROUPPER
	RET

// The 4×3 tiles: four rows of x (xs bytes apart) against three weight rows
// (ws bytes apart), twelve accumulators. The three weight chunks are loaded
// (and widened) once and used by four rows, each x chunk by three weight
// rows: seven loads per twelve fused multiply-adds. Output (i, j) keeps its
// lanes at acc + i·as + 32·j.
//
// With the arguments in DI (acc), BX (as), SI (x), DX (xs), AX (w), R8 (ws)
// and CX (nc), TILESETUP puts the x rows in SI, R9, R11, R12, the weight
// rows in AX, R13, R8 and the accumulator rows in DI, DI+BX, DX, DX+BX, and
// loads the accumulators into Y0..Y11; TILESTORE stores them back.
#define TILESETUP \
	LEAQ (SI)(DX*1), R9 \
	LEAQ (R9)(DX*1), R11 \
	LEAQ (R11)(DX*1), R12 \
	LEAQ (AX)(R8*1), R13 \
	LEAQ (R13)(R8*1), R8 \
	LEAQ (DI)(BX*2), DX \
	VMOVUPS (DI), Y0 \
	VMOVUPS 32(DI), Y1 \
	VMOVUPS 64(DI), Y2 \
	VMOVUPS (DI)(BX*1), Y3 \
	VMOVUPS 32(DI)(BX*1), Y4 \
	VMOVUPS 64(DI)(BX*1), Y5 \
	VMOVUPS (DX), Y6 \
	VMOVUPS 32(DX), Y7 \
	VMOVUPS 64(DX), Y8 \
	VMOVUPS (DX)(BX*1), Y9 \
	VMOVUPS 32(DX)(BX*1), Y10 \
	VMOVUPS 64(DX)(BX*1), Y11 \
	XORQ R10, R10

#define TILESTORE \
	VMOVUPS Y0, (DI) \
	VMOVUPS Y1, 32(DI) \
	VMOVUPS Y2, 64(DI) \
	VMOVUPS Y3, (DI)(BX*1) \
	VMOVUPS Y4, 32(DI)(BX*1) \
	VMOVUPS Y5, 64(DI)(BX*1) \
	VMOVUPS Y6, (DX) \
	VMOVUPS Y7, 32(DX) \
	VMOVUPS Y8, 64(DX) \
	VMOVUPS Y9, (DX)(BX*1) \
	VMOVUPS Y10, 32(DX)(BX*1) \
	VMOVUPS Y11, 64(DX)(BX*1) \
	VZEROUPPER

// ROW3 multiplies the x chunk at addr into one row of accumulators.
#define ROW3(addr, a0, a1, a2) \
	VMOVUPS addr, Y15 \
	VFMADD231PS Y12, Y15, a0 \
	VFMADD231PS Y13, Y15, a1 \
	VFMADD231PS Y14, Y15, a2

// func tile4x3F32(acc *float32, as int, x *float32, xs int, w *float32, ws int, nc int)
TEXT ·tile4x3F32(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), DI
	MOVQ as+8(FP), BX
	MOVQ x+16(FP), SI
	MOVQ xs+24(FP), DX
	MOVQ w+32(FP), AX
	MOVQ ws+40(FP), R8
	MOVQ nc+48(FP), CX
	TILESETUP
	TESTQ CX, CX
	JZ    done

loop:
	VMOVUPS (AX)(R10*1), Y12
	VMOVUPS (R13)(R10*1), Y13
	VMOVUPS (R8)(R10*1), Y14
	ROW3((SI)(R10*1), Y0, Y1, Y2)
	ROW3((R9)(R10*1), Y3, Y4, Y5)
	ROW3((R11)(R10*1), Y6, Y7, Y8)
	ROW3((R12)(R10*1), Y9, Y10, Y11)
	ADDQ $32, R10
	DECQ CX
	JNZ  loop

done:
	TILESTORE
	RET

// func tile4x3BF16(acc *float32, as int, x *float32, xs int, w *uint16, ws int, nc int)
TEXT ·tile4x3BF16(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), DI
	MOVQ as+8(FP), BX
	MOVQ x+16(FP), SI
	MOVQ xs+24(FP), DX
	MOVQ w+32(FP), AX
	MOVQ ws+40(FP), R8
	MOVQ nc+48(FP), CX
	TILESETUP
	TESTQ CX, CX
	JZ    done

loop:
	BF16((AX)(R10*1), Y12)
	BF16((R13)(R10*1), Y13)
	BF16((R8)(R10*1), Y14)
	ROW3((SI)(R10*2), Y0, Y1, Y2)
	ROW3((R9)(R10*2), Y3, Y4, Y5)
	ROW3((R11)(R10*2), Y6, Y7, Y8)
	ROW3((R12)(R10*2), Y9, Y10, Y11)
	ADDQ $16, R10
	DECQ CX
	JNZ  loop

done:
	TILESTORE
	RET

// func tile4x3F16(acc *float32, as int, x *float32, xs int, w *uint16, ws int, nc int)
TEXT ·tile4x3F16(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), DI
	MOVQ as+8(FP), BX
	MOVQ x+16(FP), SI
	MOVQ xs+24(FP), DX
	MOVQ w+32(FP), AX
	MOVQ ws+40(FP), R8
	MOVQ nc+48(FP), CX
	TILESETUP
	TESTQ CX, CX
	JZ    done

loop:
	F16((AX)(R10*1), Y12)
	F16((R13)(R10*1), Y13)
	F16((R8)(R10*1), Y14)
	ROW3((SI)(R10*2), Y0, Y1, Y2)
	ROW3((R9)(R10*2), Y3, Y4, Y5)
	ROW3((R11)(R10*2), Y6, Y7, Y8)
	ROW3((R12)(R10*2), Y9, Y10, Y11)
	ADDQ $16, R10
	DECQ CX
	JNZ  loop

done:
	TILESTORE
	RET
