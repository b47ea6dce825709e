package compute

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseDType(t *testing.T) {
	got := map[string]DType{}
	for _, s := range []string{"bf16", "BF16", "bfloat16", "fp16", "F16", "half", "fp32", "float32", "F32"} {
		d, err := ParseDType(s)
		if err != nil {
			t.Fatalf("ParseDType(%q): %v", s, err)
		}
		got[s] = d
	}
	want := map[string]DType{"bf16": BF16, "BF16": BF16, "bfloat16": BF16, "fp16": F16, "F16": F16, "half": F16, "fp32": F32, "float32": F32, "F32": F32}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ParseDType (-want +got):\n%s", d)
	}
	if _, err := ParseDType("int4"); err == nil {
		t.Error("ParseDType(int4) succeeded")
	}
}

// Every bfloat16 and half widens and narrows back to itself.
func TestHalfRoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		u := uint16(h)
		if f := BF16ToF32(u); !math.IsNaN(float64(f)) && F32ToBF16(f) != u {
			t.Fatalf("bf16 %#04x → %v → %#04x", u, f, F32ToBF16(f))
		}
		if f := F16ToF32(u); !math.IsNaN(float64(f)) && F32ToF16(f) != u {
			t.Fatalf("f16 %#04x → %v → %#04x", u, f, F32ToF16(f))
		}
	}
}

func TestNarrowingRounds(t *testing.T) {
	tests := []struct {
		in   float32
		bf16 uint16
		f16  uint16
	}{
		{1, 0x3f80, 0x3c00},
		{-2, 0xc000, 0xc000},
		{math.Float32frombits(0x3f808000), 0x3f80, 0x3c04}, // bf16 tie rounds to even (down)
		{math.Float32frombits(0x3f818000), 0x3f82, 0x3c0c}, // bf16 tie rounds to even (up)
		{65520, 0x4780, 0x7c00},                            // f16 overflows to +inf
		{5.960464477539063e-08, 0x3380, 0x0001},            // smallest f16 subnormal
		{float32(math.Inf(-1)), 0xff80, 0xfc00},
	}
	for _, tc := range tests {
		if got := F32ToBF16(tc.in); got != tc.bf16 {
			t.Errorf("F32ToBF16(%v) = %#04x, want %#04x", tc.in, got, tc.bf16)
		}
		if got := F32ToF16(tc.in); got != tc.f16 {
			t.Errorf("F32ToF16(%v) = %#04x, want %#04x", tc.in, got, tc.f16)
		}
	}
	if f := BF16ToF32(F32ToBF16(float32(math.NaN()))); !math.IsNaN(float64(f)) {
		t.Errorf("bf16 NaN became %v", f)
	}
}
