package cpu_test

import (
	"math/rand/v2"
	"testing"

	"dllmbench/compute"
	"dllmbench/compute/computetest"
	"dllmbench/compute/cpu"
)

func BenchmarkAttention(b *testing.B) {
	for _, c := range []struct {
		name               string
		nb, n, slots       int
		heads, kvHeads, hd int
		causal             bool
	}{
		// The demo LLaDA of `dllmbench run`: a diffusion step of a batch of 4
		// sequences of 64 tokens, 5 heads of 32, every query over every slot.
		{"llada/b=4/n=64/T=64/h=5x32", 4, 64, 64, 5, 5, 32, false},
		// A LLaMA-3-8B decode step: one query over 1024 cached slots, 32
		// heads of 128 sharing 8 kv heads.
		{"decode/b=1/n=1/T=1024/h=32x128/kv=8", 1, 1, 1024, 32, 8, 128, true},
	} {
		// A float32 cache keeps the name benchstat has history for.
		for _, dt := range []compute.DType{compute.F32, compute.BF16} {
			name := c.name
			if dt != compute.F32 {
				name += "/cache=" + dt.String()
			}
			b.Run(name, func(b *testing.B) {
				be := cpu.New(0)
				defer be.Close()
				rng := rand.New(rand.NewPCG(1, 2))
				rows, kvRows := c.nb*c.n, c.nb*c.slots
				q := computetest.Upload(be, compute.F32, rows, c.heads*c.hd, computetest.Random(rng, rows*c.heads*c.hd, 1))
				k := computetest.Upload(be, dt, kvRows, c.kvHeads*c.hd, computetest.Random(rng, kvRows*c.kvHeads*c.hd, 1))
				v := computetest.Upload(be, dt, kvRows, c.kvHeads*c.hd, computetest.Random(rng, kvRows*c.kvHeads*c.hd, 1))
				qpos, span := make([]int32, rows), make([]int32, 2*c.nb)
				for r := range qpos {
					qpos[r] = int32(c.slots - c.n + r%c.n) // the queries are the last n slots
				}
				for i := range c.nb {
					span[2*i+1] = int32(c.slots)
				}
				qp, sp := computetest.UploadI32(be, qpos), computetest.UploadI32(be, span)
				out := be.Alloc(compute.F32, rows, c.heads*c.hd)
				for b.Loop() {
					be.Attention(out, q, k, v, qp, sp, c.heads, c.kvHeads, c.causal)
				}
				// q·k and p·v: two multiply-adds per (query, head, slot, column).
				flops := 4 * float64(rows*c.heads*c.slots*c.hd)
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

func BenchmarkSiLUMul(b *testing.B) {
	const n = 1 << 16
	be := cpu.New(0)
	defer be.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	g := computetest.Upload(be, compute.F32, 1, n, computetest.Random(rng, n, 2))
	u := computetest.Upload(be, compute.F32, 1, n, computetest.Random(rng, n, 2))
	out := be.Alloc(compute.F32, 1, n)
	for b.Loop() {
		be.SiLUMul(out, g, u)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
}
