package bench

import (
	"fmt"
	"math"
	"strings"

	"dllmbench/model"
)

// Rough rates for the dry run: what this engine reaches, not the peaks.
const (
	// CPURate is matmul throughput on a many-core server; docs/perf.md
	// measures about 30 GFLOP/s per two cores at decode and 65 per core on
	// large tiles.
	CPURate = 50e9 // FLOP/s
	// CPUBandwidth is the sustained read bandwidth; docs/perf.md measures
	// 17.0 GB/s reading a buffer with every core.
	CPUBandwidth = 15e9 // B/s
	// CUDARate is dense BF16 tensor-core throughput on an H100 SXM, about
	// 60% of its 989 TFLOP/s peak.
	CUDARate = 600e12 // FLOP/s
	// CUDABandwidth is an H100 SXM's HBM3, about 90% of its 3.35 TB/s.
	CUDABandwidth = 3000e9 // B/s
)

// Estimation is the dry run's guess of what a cell costs.
type Estimation struct {
	// Seconds is the cell's wall time: every batch, warm-up and repetitions.
	Seconds float64
	// MemoryBytes is the peak the cell holds: weights, KV cache and the run
	// state's activations (the sum of the three fields below).
	MemoryBytes float64
	// FLOPs and Bytes are the work of every forward call of the cell:
	// 2 per multiply-add, and weights plus KV cache read.
	FLOPs, Bytes float64

	WeightBytes     float64 // every parameter at the grid's precision
	CacheBytes      float64 // the KV cache of the run state, bf16 for 16-bit weights as model.Load chooses
	ActivationBytes float64 // the float32 buffers of the run state and the logits
	Calls           int     // forward calls per batch
	Note            string  // the assumptions made, when there are any

	// HostStateBytes is the part of the run state in the host's memory:
	// all of it on the CPU, the logits read back on a device.
	HostStateBytes float64
}

// Estimate predicts a cell's time and memory from the model's shapes, for
// promptCount prompts in batches of c.Batch (the last one counted full),
// each batch run runs times (warm-up plus repetitions), on backend (cpu or
// cuda; anything else is estimated as cuda and said so in Note).
//
// Each forward call costs max(FLOPs/rate, bytes/bandwidth) with
//
//	FLOPs = 2·matmul weights·tokens + 2·Dim·VocabSize·logit rows + 4·NLayers·QDim·(query, key) pairs
//	bytes = matmul weights·precision bytes + visible cache slots·NLayers·2·KVDim·cache bytes
//
// where the cache bytes are 2 (bfloat16) for 16-bit precisions and 4 for
// fp32, as model.Load chooses the cache's type by the weights';
// the matmul weights are those of the layers and of the LM head (the
// embedding is a lookup). Autoregressive cells make one prefill call of the
// prompt and gen_length−1 calls of one token (the last token is sampled,
// never fed back); queries see the earlier keys only. Diffusion cells make
// steps/blocks calls per block (at most block_length: a call commits at
// least one token), each call attending to the whole canvas; without a
// cache every call runs the canvas, with the prefix cache the calls after a
// block's first run the block and what follows it, with the dual cache only
// the block. Threshold and factor cells take their calls from the data;
// the estimate assumes gen_length/2 steps.
func Estimate(c Cell, m *model.Config, backend string, promptCount, runs int) Estimation {
	if c.Batch < 1 || c.PromptLen < 1 || c.GenLen < 1 || promptCount < 0 || runs < 0 {
		panic(fmt.Sprintf("bench: Estimate of batch %d, prompt %d, gen %d for %d prompts and %d runs",
			c.Batch, c.PromptLen, c.GenLen, promptCount, runs))
	}
	var e Estimation
	var notes []string
	rate, bandwidth := CUDARate, CUDABandwidth
	switch backend {
	case "cpu":
		rate, bandwidth = CPURate, CPUBandwidth
	case "cuda":
	default:
		notes = append(notes, fmt.Sprintf("backend %q estimated as cuda", backend))
	}
	precision := 2.0 // bf16, fp16
	if precisionNames[strings.ToLower(c.Precision)] == "fp32" {
		precision = 4
	}
	cacheSize := precision // a bf16 cache for 16-bit weights, else float32

	D, Q, KV, H := float64(m.Dim), float64(m.QDim()), float64(m.KVDim()), float64(m.HiddenDim)
	V, layers := float64(m.VocabSize), float64(m.NLayers)
	body := layers * (D*Q + 2*D*KV + Q*D + 3*D*H) // the layers' matmul weights
	weightsRead := (body + D*V) * precision       // read by every call
	slotBytes := layers * 2 * KV * cacheSize      // one cache slot of every layer

	// call adds one forward call of rows batch rows, each running tokens
	// positions, computing outputs logit rows, scoring pairs (query, key)
	// pairs and reading slots cache slots.
	var perBatch float64
	call := func(rows, tokens, outputs, pairs, slots float64) {
		flops := rows * (2*body*tokens + 2*D*V*outputs + 4*layers*Q*pairs)
		bytes := weightsRead + rows*slots*slotBytes
		e.FLOPs += flops
		e.Bytes += bytes
		perBatch += math.Max(flops/rate, bytes/bandwidth)
		e.Calls++
	}

	B, P, G := float64(c.Batch), float64(c.PromptLen), float64(c.GenLen)
	var rows, n, t, outRows float64 // run state: rows, tokens per call, cache slots, logit rows
	if !c.Diffusion() {
		rows, n, t, outRows = B, P, P+G, B
		call(B, P, 1, P*(P+1)/2, P)
		for s := 1; s < c.GenLen; s++ {
			seen := P + float64(s)
			call(B, 1, 1, seen, seen)
		}
	} else {
		if c.BlockLen < 1 || c.GenLen%c.BlockLen != 0 {
			panic(fmt.Sprintf("bench: Estimate of gen_length %d in blocks of %d", c.GenLen, c.BlockLen))
		}
		rows = B
		if c.CFGScale > 0 {
			rows *= 2 // the unconditional copies
			notes = append(notes, "cfg_scale doubles the rows")
		}
		L, BL := P+G, float64(c.BlockLen)
		n, t, outRows = L, L, rows*BL
		blocks := c.GenLen / c.BlockLen
		steps := c.Steps
		if c.Threshold > 0 || c.Factor > 0 {
			steps = c.GenLen / 2
			notes = append(notes, fmt.Sprintf("the calls of threshold and factor cells depend on the model; assumed gen_length/2 = %d steps", steps))
		}
		perBlock := min(max(steps/blocks, 1), c.BlockLen)
		for blk := range blocks {
			for i := range perBlock {
				tokens := L
				switch {
				case i == 0 || c.Cache == "none" || c.Cache == "":
				case c.Cache == "prefix":
					tokens = G - float64(blk)*BL
				default: // dual
					tokens = BL
				}
				call(rows, tokens, BL, tokens*L, L)
			}
		}
	}

	e.WeightBytes = float64(m.Params()) * precision
	e.CacheBytes = rows * t * slotBytes
	floats := rows*n*(2*D+2*Q+2*KV+2*H) + outRows*D + outRows*V
	if backend == "cpu" {
		floats += outRows * V // the logits read back to the host share the memory
	}
	e.ActivationBytes = 4 * floats
	e.HostStateBytes = 4 * outRows * V // on a device, the logits read back
	if backend == "cpu" {
		e.HostStateBytes = e.CacheBytes + e.ActivationBytes // all of it
	}
	e.MemoryBytes = e.WeightBytes + e.CacheBytes + e.ActivationBytes

	batches := float64((promptCount + c.Batch - 1) / c.Batch)
	e.Seconds = perBatch * batches * float64(runs)
	e.FLOPs *= batches * float64(runs)
	e.Bytes *= batches * float64(runs)
	e.Note = strings.Join(notes, "; ")
	return e
}

// Unfit explains why a cell of this estimate surely cannot run on a
// machine of memory bytes: the part of its run state in host memory
// (HostStateBytes, weights aside) needs more than the whole machine, as
// model.NewState refuses it. It returns "" when the state may fit or
// memory is 0 (unknown). A device's own memory is not checked: the dry run
// opens none.
func (e Estimation) Unfit(memory int64) string {
	if memory <= 0 || e.HostStateBytes <= float64(memory) {
		return ""
	}
	return fmt.Sprintf("needs %s for its state, the machine has %s", model.GiB(e.HostStateBytes), model.GiB(float64(memory)))
}
