package safetensors

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkOpen opens and closes a sparse, full-size Meta-Llama-3-8B file
// (291 tensors, 16 GB of BF16): the cost is the header alone.
func BenchmarkOpen(b *testing.B) {
	var w Writer
	for _, x := range llama3Tensors() {
		w.Add(x.name, BF16, x.shape, nil)
	}
	path := filepath.Join(b.TempDir(), SingleName)
	if err := w.WriteFile(path); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkParse validates in-memory headers of n small tensors; time per
// tensor should stay near flat as n grows 100-fold (O(n log n)).
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{291, 29100} {
		var w Writer
		for i := range n {
			w.Add(fmt.Sprintf("model.layers.%d.weight", (i*7919)%n), BF16, []int{2, 2}, nil)
		}
		buf := encode(&w)
		b.Run(fmt.Sprint("n=", n), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := parse("bench", buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/tensor")
		})
	}
}
