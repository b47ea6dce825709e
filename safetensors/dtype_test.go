package safetensors

import (
	"strings"
	"testing"
)

func TestDType(t *testing.T) {
	// Spellings and sizes from the format's Dtype enum
	// (huggingface/safetensors safetensors/src/tensor.rs), in its order.
	want := []struct {
		name string
		size int
	}{
		{"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1},
		{"I16", 2}, {"U16", 2}, {"F16", 2}, {"BF16", 2},
		{"I32", 4}, {"U32", 4}, {"F32", 4},
		{"F64", 8}, {"I64", 8}, {"U64", 8},
	}
	for i, w := range want {
		d := Bool + DType(i)
		if d.String() != w.name || d.Size() != w.size {
			t.Errorf("DType %d = %s of %d bytes, want %s of %d", d, d, d.Size(), w.name, w.size)
		}
		if p, ok := parseDType(w.name); !ok || p != d {
			t.Errorf("parseDType(%q) = %v, %v; want %v", w.name, p, ok, d)
		}
	}
	// The spelling is case-sensitive, and invalid values print as numbers.
	for _, s := range []string{"bf16", "F8_E4M3FN", "", "BOOL "} {
		if d, ok := parseDType(s); ok {
			t.Errorf("parseDType(%q) = %v, want failure", s, d)
		}
	}
	if s := DType(0).String(); s != "DType(0)" {
		t.Errorf("DType(0).String() = %q", s)
	}
	if s := (U64 + 1).String(); s != "DType(16)" {
		t.Errorf("(U64+1).String() = %q", s)
	}
}

func TestDTypeSizePanics(t *testing.T) {
	defer func() {
		r := recover()
		if s, _ := r.(string); !strings.HasPrefix(s, "safetensors: size of invalid DType(0)") {
			t.Errorf("panic %v, want the invalid-DType message", r)
		}
	}()
	DType(0).Size()
}
