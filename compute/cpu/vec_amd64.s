//go:build amd64 && !purego

#include "textflag.h"

// AVX2+FMA kernels for Attention and SiLUMul; vec_amd64.go says what each
// computes and which pure-Go function is its reference. Attention's kernels
// are its hot spot on LLaDA-sized models.

// CONST8 defines name<> as eight float32 (or int32) lanes of bits, for use as
// a 256-bit memory operand.
#define CONST8(name, bits) \
	DATA name<>+0(SB)/4, $bits \
	DATA name<>+4(SB)/4, $bits \
	DATA name<>+8(SB)/4, $bits \
	DATA name<>+12(SB)/4, $bits \
	DATA name<>+16(SB)/4, $bits \
	DATA name<>+20(SB)/4, $bits \
	DATA name<>+24(SB)/4, $bits \
	DATA name<>+28(SB)/4, $bits \
	GLOBL name<>(SB), RODATA|NOPTR, $32

// The float32 bits of the constants of expF32 (exp.go).
CONST8(expHi, 0x42b20000)    // 89
CONST8(expLo, 0xc2d00000)    // -104
CONST8(expLog2e, 0x3fb8aa3b) // 1.4426950
CONST8(expLn2Hi, 0x3f318000) // 0.693359375
CONST8(expLn2Lo, 0xb95e8083) // -2.12194440e-4
CONST8(expP0, 0x39506967)    // 1.9875691500e-4
CONST8(expP1, 0x3ab743ce)    // 1.3981999507e-3
CONST8(expP2, 0x3c088908)    // 8.3334519073e-3
CONST8(expP3, 0x3d2aa9c1)    // 4.1665795894e-2
CONST8(expP4, 0x3e2aaaaa)    // 1.6666665459e-1
CONST8(expP5, 0x3f000000)    // 5.0000001201e-1 rounds to 0.5
CONST8(expOne, 0x3f800000)   // 1
CONST8(expBias, 0x0000007f)  // the float32 exponent bias, as int32
CONST8(signBit, 0x80000000)

DATA  negInf<>+0(SB)/4, $0xff800000
GLOBL negInf<>(SB), RODATA|NOPTR, $4

// EXP8 replaces the eight lanes of X by e^X with the operations of expF32,
// in its order and without fused multiply-adds, so that each lane gets the
// bits expF32 gives. N, P and Z are clobbered.
//
// Operands are in Go order (sources first, destination last): VMINPS X, N, X
// is N < X ? N : X, which keeps a NaN in X, as expF32's comparisons do.
#define EXP8(X, N, P, Z) \
	VMOVUPS    expHi<>(SB), N \
	VMINPS     X, N, X \
	VMOVUPS    expLo<>(SB), N \
	VMAXPS     X, N, X \
	VMULPS     expLog2e<>(SB), X, N \
	VROUNDPS   $0, N, N \
	VMULPS     expLn2Hi<>(SB), N, P \
	VSUBPS     P, X, X \
	VMULPS     expLn2Lo<>(SB), N, P \
	VSUBPS     P, X, X \
	VMULPS     X, X, Z \
	VMULPS     expP0<>(SB), X, P \
	VADDPS     expP1<>(SB), P, P \
	VMULPS     X, P, P \
	VADDPS     expP2<>(SB), P, P \
	VMULPS     X, P, P \
	VADDPS     expP3<>(SB), P, P \
	VMULPS     X, P, P \
	VADDPS     expP4<>(SB), P, P \
	VMULPS     X, P, P \
	VADDPS     expP5<>(SB), P, P \
	VMULPS     Z, P, P \
	VADDPS     X, P, P \
	VADDPS     expOne<>(SB), P, P \
	VCVTTPS2DQ N, N \
	VPSRAD     $1, N, Z \
	VPSUBD     Z, N, N \
	VPADDD     expBias<>(SB), Z, Z \
	VPSLLD     $23, Z, Z \
	VMULPS     Z, P, P \
	VPADDD     expBias<>(SB), N, N \
	VPSLLD     $23, N, N \
	VMULPS     N, P, X

// func expSumF32(x *float32, m float32, nc int, sum *[8]float32)
TEXT ·expSumF32(SB), NOSPLIT, $0-32
	MOVQ         x+0(FP), DI
	VBROADCASTSS m+8(FP), Y7
	MOVQ         nc+16(FP), CX
	MOVQ         sum+24(FP), SI
	VMOVUPS      (SI), Y6
	TESTQ        CX, CX
	JZ           done

loop:
	VMOVUPS (DI), Y0
	VSUBPS  Y7, Y0, Y0
	EXP8(Y0, Y1, Y2, Y3)
	VMOVUPS Y0, (DI)
	VADDPS  Y0, Y6, Y6
	ADDQ    $32, DI
	DECQ    CX
	JNZ     loop

done:
	VMOVUPS Y6, (SI)
	VZEROUPPER
	RET

// func siluMulF32(dst, gate, up *float32, nc int)
TEXT ·siluMulF32(SB), NOSPLIT, $0-32
	MOVQ  dst+0(FP), DI
	MOVQ  gate+8(FP), SI
	MOVQ  up+16(FP), DX
	MOVQ  nc+24(FP), CX
	TESTQ CX, CX
	JZ    done

loop:
	VMOVUPS (SI), Y5
	VXORPS  signBit<>(SB), Y5, Y0
	EXP8(Y0, Y1, Y2, Y3)
	VADDPS  expOne<>(SB), Y0, Y0
	VDIVPS  Y0, Y5, Y0
	VMULPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     loop

done:
	VZEROUPPER
	RET

// func widenBF16F32(dst *float32, src *uint16, nc int)
TEXT ·widenBF16F32(SB), NOSPLIT, $0-24
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  nc+16(FP), CX
	TESTQ CX, CX
	JZ    done

loop:
	VPMOVZXWD (SI), Y0
	VPSLLD    $16, Y0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       loop

done:
	VZEROUPPER
	RET

// The scores kernel keeps one accumulator of 8 lanes per key row, as the
// dot kernels of dot_amd64.s do, and sums the lanes in registers in the
// tree of sum8: VHADDPS adds neighbouring lanes, so two rounds of it give
// (s0+s1)+(s2+s3) in the low half and (s4+s5)+(s6+s7) in the high half, and
// one VADDPS of the halves finishes. Eight key rows at a time keep eight
// independent FMA chains; the rest go four at a time, then one. Y14 keeps a
// running maximum of the scores in eight lanes.

// func scoresF32(dst *float32, q *float32, k *float32, ks int, rows int, nc int, scale float32) (m float32)
TEXT ·scoresF32(SB), NOSPLIT, $0-60
	MOVQ         dst+0(FP), DI
	MOVQ         q+8(FP), SI
	MOVQ         k+16(FP), AX
	MOVQ         ks+24(FP), BX
	MOVQ         rows+32(FP), CX
	MOVQ         nc+40(FP), DX
	VBROADCASTSS scale+48(FP), Y15
	VBROADCASTSS negInf<>(SB), Y14
	LEAQ         (BX)(BX*2), R11 // 3·ks
	TESTQ        DX, DX
	JZ           done

rows8:
	CMPQ   CX, $8
	JLT    fold
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   SI, R8             // q chunk
	MOVQ   AX, R12            // key rows 0..3
	LEAQ   (AX)(BX*4), R13    // key rows 4..7
	MOVQ   DX, R10

loop8:
	VMOVUPS     (R8), Y8
	VFMADD231PS (R12), Y8, Y0
	VFMADD231PS (R12)(BX*1), Y8, Y1
	VFMADD231PS (R12)(BX*2), Y8, Y2
	VFMADD231PS (R12)(R11*1), Y8, Y3
	VFMADD231PS (R13), Y8, Y4
	VFMADD231PS (R13)(BX*1), Y8, Y5
	VFMADD231PS (R13)(BX*2), Y8, Y6
	VFMADD231PS (R13)(R11*1), Y8, Y7
	ADDQ        $32, R8
	ADDQ        $32, R12
	ADDQ        $32, R13
	DECQ        R10
	JNZ         loop8

	VHADDPS    Y1, Y0, Y0
	VHADDPS    Y3, Y2, Y2
	VHADDPS    Y5, Y4, Y4
	VHADDPS    Y7, Y6, Y6
	VHADDPS    Y2, Y0, Y0 // rows 0..3: low halves | high halves
	VHADDPS    Y6, Y4, Y4 // rows 4..7
	VPERM2F128 $0x20, Y4, Y0, Y1
	VPERM2F128 $0x31, Y4, Y0, Y2
	VADDPS     Y2, Y1, Y1
	VMULPS     Y15, Y1, Y1
	VMOVUPS    Y1, (DI)
	VMAXPS     Y1, Y14, Y14
	ADDQ       $32, DI
	LEAQ       (AX)(BX*8), AX
	SUBQ       $8, CX
	JMP        rows8

fold:
	// The 128-bit instructions below clear the upper half of Y14.
	VEXTRACTF128 $1, Y14, X0
	VMAXPS       X0, X14, X14

rows4:
	CMPQ   CX, $4
	JLT    rows1
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   SI, R8
	MOVQ   AX, R12
	MOVQ   DX, R10

loop4:
	VMOVUPS     (R8), Y8
	VFMADD231PS (R12), Y8, Y0
	VFMADD231PS (R12)(BX*1), Y8, Y1
	VFMADD231PS (R12)(BX*2), Y8, Y2
	VFMADD231PS (R12)(R11*1), Y8, Y3
	ADDQ        $32, R8
	ADDQ        $32, R12
	DECQ        R10
	JNZ         loop4

	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMULPS       X15, X0, X0
	VMOVUPS      X0, (DI)
	VMAXPS       X0, X14, X14
	ADDQ         $16, DI
	LEAQ         (AX)(BX*4), AX
	SUBQ         $4, CX
	JMP          rows4

rows1:
	TESTQ  CX, CX
	JZ     done
	VXORPS Y0, Y0, Y0
	MOVQ   SI, R8
	MOVQ   AX, R12
	MOVQ   DX, R10

loop1:
	VMOVUPS     (R8), Y8
	VFMADD231PS (R12), Y8, Y0
	ADDQ        $32, R8
	ADDQ        $32, R12
	DECQ        R10
	JNZ         loop1

	VHADDPS      Y0, Y0, Y0
	VHADDPS      Y0, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDSS       X1, X0, X0
	VMULSS       X15, X0, X0
	VMOVSS       X0, (DI)
	VMAXSS       X0, X14, X14
	ADDQ         $4, DI
	ADDQ         BX, AX
	DECQ         CX
	JMP          rows1

done:
	VPERMILPS    $0x4e, X14, X0
	VMAXPS       X0, X14, X14
	VPERMILPS    $0xb1, X14, X0
	VMAXPS       X0, X14, X14
	VMOVSS       X14, m+56(FP)
	VZEROUPPER
	RET

// The value kernel keeps a block of dst in registers while it passes over
// the rows of v: 64 columns (eight chains, enough to cover the FMA latency)
// while they last, then 32, 8, and single columns with scalar FMAs, so every
// element gets the same one rounding per row; then it multiplies the block
// by scale (Y9) on the way out.

// AXPYSETUP starts a column block: R8 walks the rows of v from the block's
// first column (AX), R9 counts them.
#define AXPYSETUP \
	MOVQ AX, R8 \
	XORQ R9, R9

// func axpyRowsF32(dst *float32, p *float32, v *float32, vs int, rows int, n int, scale float32)
TEXT ·axpyRowsF32(SB), NOSPLIT, $0-52
	MOVQ         dst+0(FP), DI
	MOVQ         p+8(FP), SI
	MOVQ         v+16(FP), AX
	MOVQ         vs+24(FP), BX
	MOVQ         rows+32(FP), CX
	MOVQ         n+40(FP), DX
	VBROADCASTSS scale+48(FP), Y9

cols64:
	CMPQ    DX, $64
	JLT     cols32
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7
	AXPYSETUP
	TESTQ CX, CX
	JZ    scale64

loop64:
	VBROADCASTSS (SI)(R9*4), Y8
	VFMADD231PS  (R8), Y8, Y0
	VFMADD231PS  32(R8), Y8, Y1
	VFMADD231PS  64(R8), Y8, Y2
	VFMADD231PS  96(R8), Y8, Y3
	VFMADD231PS  128(R8), Y8, Y4
	VFMADD231PS  160(R8), Y8, Y5
	VFMADD231PS  192(R8), Y8, Y6
	VFMADD231PS  224(R8), Y8, Y7
	ADDQ         BX, R8
	INCQ         R9
	CMPQ         R9, CX
	JLT          loop64

scale64:
	VMULPS  Y9, Y0, Y0
	VMULPS  Y9, Y1, Y1
	VMULPS  Y9, Y2, Y2
	VMULPS  Y9, Y3, Y3
	VMULPS  Y9, Y4, Y4
	VMULPS  Y9, Y5, Y5
	VMULPS  Y9, Y6, Y6
	VMULPS  Y9, Y7, Y7
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	ADDQ    $256, DI
	ADDQ    $256, AX
	SUBQ    $64, DX
	JMP     cols64

cols32:
	CMPQ    DX, $32
	JLT     cols8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	AXPYSETUP
	TESTQ CX, CX
	JZ    scale32

loop32:
	VBROADCASTSS (SI)(R9*4), Y8
	VFMADD231PS  (R8), Y8, Y0
	VFMADD231PS  32(R8), Y8, Y1
	VFMADD231PS  64(R8), Y8, Y2
	VFMADD231PS  96(R8), Y8, Y3
	ADDQ         BX, R8
	INCQ         R9
	CMPQ         R9, CX
	JLT          loop32

scale32:
	VMULPS  Y9, Y0, Y0
	VMULPS  Y9, Y1, Y1
	VMULPS  Y9, Y2, Y2
	VMULPS  Y9, Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $128, AX
	SUBQ    $32, DX
	JMP     cols32

cols8:
	CMPQ    DX, $8
	JLT     cols1
	VMOVUPS (DI), Y0
	AXPYSETUP
	TESTQ CX, CX
	JZ    scale8

loop8:
	VBROADCASTSS (SI)(R9*4), Y8
	VFMADD231PS  (R8), Y8, Y0
	ADDQ         BX, R8
	INCQ         R9
	CMPQ         R9, CX
	JLT          loop8

scale8:
	VMULPS  Y9, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, AX
	SUBQ    $8, DX
	JMP     cols8

cols1:
	TESTQ  DX, DX
	JZ     done
	VMOVSS (DI), X0
	AXPYSETUP
	TESTQ CX, CX
	JZ    scale1

loop1:
	VMOVSS      (SI)(R9*4), X8
	VFMADD231SS (R8), X8, X0
	ADDQ        BX, R8
	INCQ        R9
	CMPQ        R9, CX
	JLT         loop1

scale1:
	VMULSS X9, X0, X0
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	ADDQ   $4, AX
	DECQ   DX
	JMP    cols1

done:
	VZEROUPPER
	RET
