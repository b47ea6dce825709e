package decode

import (
	"slices"
	"testing"
)

// forward_process's mask counts, round(linspace(k, k+(b−1)·(T/b), b)) in
// PyTorch's float32 linspace (RangeFactoriesKernel.cpp's linspace_kernel).
// The expected counts were computed with that formula in Python, each
// operation rounded to float32 with struct.pack("f") (no PyTorch at hand);
// the rows marked "float64" are what dllmbench computed in float64 before,
// one count off.
func TestMaskCounts(t *testing.T) {
	for _, tc := range []struct {
		k, T, b int
		want    []int
	}{
		{4, 5, 6, []int{4, 5, 1, 1, 2, 3}},                                // float64: 4 5 1 2 2 3
		{3, 7, 6, []int{3, 4, 5, 7, 1, 2}},                                // float64: 3 4 5 6 1 2
		{7, 10, 12, []int{7, 8, 9, 10, 10, 1, 2, 3, 4, 5, 5, 6}},          // float64: … 4 4 5 6
		{3, 9, 16, []int{3, 4, 4, 5, 5, 6, 6, 7, 8, 8, 9, 9, 1, 1, 2, 2}}, // a power of two: exact either way
		{1, 1, 1, []int{1}},                                               // one row: k
		{2, 3, 2, []int{2, 1}},                                            // wrapped into 1..T
	} {
		if got := maskCounts(tc.k, tc.T, tc.b); !slices.Equal(got, tc.want) {
			t.Errorf("maskCounts(%d, %d, %d) = %v, want %v", tc.k, tc.T, tc.b, got, tc.want)
		}
	}
}
