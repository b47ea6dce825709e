package decode

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// forward_process's mask counts, round(linspace(k, k+(b−1)·(T/b), b)) in
// PyTorch's float32 linspace (RangeFactoriesKernel.cpp's linspace_kernel).
// The expected counts were computed with that formula in Python, each
// operation rounded to float32 with struct.pack("f"), and PyTorch confirms
// them (TestMaskCountsTorch);
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

// TestMaskCountsTorch compares maskCounts with PyTorch's own counts
// (scripts/golden/mask_counts_goldens.py on the GPU machine, where CPU and
// CUDA agreed on all 56,672 cases): every case where float64 arithmetic
// would give other counts, and every case of T ≤ 12.
func TestMaskCountsTorch(t *testing.T) {
	data, err := os.ReadFile("../testdata/golden/llada-mask-counts.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases [][4]json.RawMessage `json:"cases"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) < 1000 {
		t.Fatalf("%d cases, want the golden's 1725", len(g.Cases))
	}
	for _, c := range g.Cases {
		var T, b, k int
		var want []int
		for i, dst := range []any{&T, &b, &k, &want} {
			if err := json.Unmarshal(c[i], dst); err != nil {
				t.Fatal(err)
			}
		}
		if got := maskCounts(k, T, b); !slices.Equal(got, want) {
			t.Errorf("maskCounts(%d, %d, %d) = %v, PyTorch %v", k, T, b, got, want)
		}
	}
}
