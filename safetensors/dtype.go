package safetensors

import "fmt"

// DType is the element type of a tensor, one of the fifteen types the format
// names. Elements are little-endian; the zero DType is invalid.
type DType uint8

// The types in the order of the reference implementation's enum, which is
// also the order of increasing alignment.
const (
	Bool   DType = iota + 1 // BOOL: one byte, 0 or 1
	U8                      // U8: uint8
	I8                      // I8: int8
	F8E5M2                  // F8_E5M2: 8-bit float, 5 exponent and 2 mantissa bits (arXiv:2209.05433)
	F8E4M3                  // F8_E4M3: 8-bit float, 4 exponent and 3 mantissa bits (arXiv:2209.05433)
	I16                     // I16: int16
	U16                     // U16: uint16
	F16                     // F16: IEEE 754 binary16
	BF16                    // BF16: bfloat16, the upper half of a binary32
	I32                     // I32: int32
	U32                     // U32: uint32
	F32                     // F32: IEEE 754 binary32
	F64                     // F64: IEEE 754 binary64
	I64                     // I64: int64
	U64                     // U64: uint64
)

var dtypes = [...]struct {
	name string
	size int
}{
	Bool:   {"BOOL", 1},
	U8:     {"U8", 1},
	I8:     {"I8", 1},
	F8E5M2: {"F8_E5M2", 1},
	F8E4M3: {"F8_E4M3", 1},
	I16:    {"I16", 2},
	U16:    {"U16", 2},
	F16:    {"F16", 2},
	BF16:   {"BF16", 2},
	I32:    {"I32", 4},
	U32:    {"U32", 4},
	F32:    {"F32", 4},
	F64:    {"F64", 8},
	I64:    {"I64", 8},
	U64:    {"U64", 8},
}

func (d DType) valid() bool { return d >= Bool && d <= U64 }

// Size is the number of bytes of one element: 1, 2, 4 or 8.
// It panics on an invalid DType.
func (d DType) Size() int {
	if !d.valid() {
		panic(fmt.Sprintf("safetensors: size of invalid DType(%d)", uint8(d)))
	}
	return dtypes[d].size
}

// String gives the header's spelling of the type ("BF16", "F8_E4M3").
func (d DType) String() string {
	if !d.valid() {
		return fmt.Sprintf("DType(%d)", uint8(d))
	}
	return dtypes[d].name
}

// parseDType reads a header "dtype" value; the spelling is case-sensitive, as
// in the reference implementation.
func parseDType(s string) (DType, bool) {
	for d := Bool; d <= U64; d++ {
		if dtypes[d].name == s {
			return d, true
		}
	}
	return 0, false
}
