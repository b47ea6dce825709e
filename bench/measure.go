package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"dllmbench/compute"
	"dllmbench/compute/device"
	"dllmbench/decode"
	"dllmbench/model"
)

// cellRun is what measuring one cell needs.
type cellRun struct {
	cell    Cell
	m       *model.Model
	rm      *resolved
	ps      *promptSet
	ids     [][]int // each prompt under this model's tokenizer
	reps    int
	warmup  int
	seed    uint64
	monitor device.Monitor
}

// measure runs the cell's warm-up and repetitions and fills the record's
// measurements. Each repetition runs every prompt, in batches of the
// cell's size; a last batch short of prompts is filled with the first ones
// again, so every batch has the same shape.
func (cr *cellRun) measure(ctx context.Context, rec *Record) error {
	c := cr.cell
	n := len(cr.ids)
	nb := (n + c.Batch - 1) / c.Batch
	batch := func(i int) [][]int {
		rows := make([][]int, c.Batch)
		for j := range rows {
			rows[j] = cr.ids[(i*c.Batch+j)%n]
		}
		return rows
	}
	longest := 0
	for _, p := range cr.ids {
		longest = max(longest, len(p))
	}
	// The record's peaks are the cell's: the backend's and the process's
	// count from here, not from the largest cell measured before.
	if pr, ok := cr.m.Backend().(compute.PeakResetter); ok {
		pr.ResetPeak()
	}
	resetProcessPeak()
	run, s, err := cr.runner(longest)
	if err != nil {
		return err
	}
	defer s.Close()
	// Warm-up runs one batch of each shape the repetitions run, so that no
	// repetition times a first use (the CUDA backend records a graph for
	// each call shape): a batch's calls are shaped by its longest prompt,
	// as its rows are left-padded to it.
	warm := shapeBatches(nb, func(i int) int {
		p := 0
		for _, row := range batch(i) {
			p = max(p, len(row))
		}
		return p
	})
	for w := range cr.warmup {
		for _, i := range warm {
			if _, _, err := run(batch(i), 0); err != nil {
				return fmt.Errorf("warm-up %d of %d, batch %d of %d: %w", w+1, cr.warmup, i+1, nb, err)
			}
		}
	}
	// A stepped energy counter (NVML's) is followed across the
	// repetitions, from a step before the first; any other is read around
	// each repetition.
	stepped := startEnergyTimeline(cr.monitor)
	defer stepped.Stop()
	if stepped != nil {
		if ok, err := stepped.awaitStep(ctx, time.Now()); err != nil {
			return err
		} else if !ok {
			stepped.Stop()
			rec.EnergyNote = stepped.stuck("before the repetitions")
			stepped = nil
		}
	}
	spans := make([]repSpan, 0, cr.reps)
	outputs := make([][]int, n)
	for rep := range cr.reps {
		var r Rep
		e0, eok := 0.0, false
		if stepped == nil && rec.EnergyNote == "" {
			e0, eok = cr.energy()
		}
		clocks := startClocks(cr.monitor, clockEvery)
		var span repSpan
		err := func() error {
			// On every way out, a panic included: no sampler outlives its
			// repetition.
			defer func() { r.Clocks = clocks.Stop() }()
			t0 := time.Now()
			span.start = t0
			for i := range nb {
				if err := ctx.Err(); err != nil {
					return err
				}
				rows := batch(i)
				bm, outs, err := run(rows, uint64(rep*nb+i))
				if err != nil {
					// The record keeps the repetitions before this one.
					return fmt.Errorf("repetition %d of %d, batch %d of %d: %w", rep+1, cr.reps, i+1, nb, err)
				}
				r.Batches = append(r.Batches, bm)
				if rep == cr.reps-1 {
					for j := range rows {
						if k := i*c.Batch + j; k < n {
							outputs[k] = outs[j]
						}
					}
				}
			}
			span.end = time.Now()
			r.TotalS = span.end.Sub(t0).Seconds()
			return nil
		}()
		if err != nil {
			return err
		}
		spans = append(spans, span)
		if eok {
			if e1, ok := cr.energy(); ok {
				if d, ok := device.EnergyDelta(e0, e1); ok {
					r.EnergyJ, r.EnergySource = &d, cr.monitor.EnergySource()
				}
			}
		}
		gen, useful := 0, 0
		for _, b := range r.Batches {
			gen += b.Generated
			useful += b.Useful
		}
		r.TokensPerS = float64(gen) / r.TotalS
		r.UsefulTokensPerS = float64(useful) / r.TotalS
		rec.Reps = append(rec.Reps, r)
	}
	rec.Outputs = outputs
	if stepped != nil && len(spans) > 0 {
		// The step that closes the last repetition is read off the line
		// through the steps around its end: the device works on, on
		// discarded batches, until that step, so that the line holds the
		// repetitions' power and not the idle draw after them (up to a
		// quarter of a period of it otherwise: 2.5% of the energy of ten).
		end := spans[len(spans)-1].end
		for !stepped.stepPast(end) {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, _, err := run(batch(0), 0); err != nil {
				return err
			}
		}
		if rec.EnergyNote, err = stepped.measureStepped(ctx, rec.Reps, spans); err != nil {
			return err
		}
	}
	rec.Stats, rec.Pooled = summarize(rec.Reps, c.Diffusion())
	cache, act := s.Memory()
	rec.Memory.Weights, rec.Memory.Cache, rec.Memory.Activations = cr.m.WeightBytes(), cache, act
	if ms, ok := cr.m.Backend().(compute.MemoryStats); ok {
		_, peak, ws := ms.Memory()
		rec.Memory.DevicePeak, rec.Memory.Workspace = peak, ws
	}
	rec.Memory.ProcessRSS, rec.Memory.ProcessPeak = processRSS()
	if cr.monitor != nil {
		if p, d, ok := cr.monitor.ProcessMemory(); ok {
			rec.Memory.NVMLProcess, rec.Memory.NVMLDevice = p, d
		}
	}
	rec.Roofline = cr.roofline(rec.Reps)
	return nil
}

// shapeBatches returns the first of the nb batches of each longest-prompt
// length (padded(i) is batch i's), in order.
func shapeBatches(nb int, padded func(i int) int) []int {
	var first []int
	seen := map[int]bool{}
	for i := range nb {
		if p := padded(i); !seen[p] {
			seen[p] = true
			first = append(first, i)
		}
	}
	return first
}

func (cr *cellRun) energy() (float64, bool) {
	if cr.monitor == nil {
		return 0, false
	}
	return cr.monitor.Energy()
}

// runFunc runs one batch: its measurement and each row's generated ids.
type runFunc func(rows [][]int, seed uint64) (BatchMeasure, [][]int, error)

// runner returns the function that runs a batch of the cell, and its state.
func (cr *cellRun) runner(promptLen int) (runFunc, *model.State, error) {
	c, m := cr.cell, cr.m
	dt, _ := m.Backend().(compute.DeviceTimer)
	useful := func(ids []int) int {
		if i := slices.IndexFunc(ids, m.Config.IsEOS); i >= 0 {
			return i
		}
		return len(ids)
	}
	if !c.Diffusion() {
		if err := decode.CheckAR(m, [][]int{make([]int, promptLen)}, c.GenLen); err != nil {
			return nil, nil, err
		}
		s, err := decode.ARState(m, c.Batch, promptLen, c.GenLen, 0)
		if err != nil {
			return nil, nil, err
		}
		return func(rows [][]int, seed uint64) (BatchMeasure, [][]int, error) {
			var res *decode.ARResult
			// TTFT and the tokens' times count from the latency's start.
			lat, dev, err := timeBatch(dt, func(start time.Time) (err error) {
				res, err = decode.Generate(m, s, rows, decode.AROptions{MaxNew: c.GenLen, IgnoreEOS: true,
					Sampler: decode.NewSampler(c.Temperature, c.TopK, c.TopP, cr.seed^seed), Start: start})
				return err
			})
			if err != nil {
				return BatchMeasure{}, nil, err
			}
			bm := BatchMeasure{Rows: len(rows), LatencyS: lat, DeviceLatencyS: dev, TTFTS: res.Prefill.Seconds(), NFE: res.NFE}
			for _, d := range res.StepEnd {
				bm.TokenTimesS = append(bm.TokenTimesS, d.Seconds())
			}
			for _, ids := range res.IDs {
				bm.Generated += len(ids)
				bm.Useful += useful(ids)
			}
			bm.Processed = res.Processed
			return bm, res.IDs, nil
		}, s, nil
	}
	o := c.diffusionOptions()
	if err := decode.CheckDiffusion(m, [][]int{make([]int, promptLen)}, o); err != nil {
		return nil, nil, err
	}
	s, err := decode.DiffusionState(m, c.Batch, promptLen, o)
	if err != nil {
		return nil, nil, err
	}
	return func(rows [][]int, seed uint64) (BatchMeasure, [][]int, error) {
		o := o
		o.Seed = cr.seed ^ seed
		var res *decode.DiffusionResult
		// The calls' times count from the latency's start, as the tokens' do.
		lat, dev, err := timeBatch(dt, func(start time.Time) (err error) {
			o.Start = start
			res, err = decode.Diffuse(m, s, rows, o)
			return err
		})
		if err != nil {
			return BatchMeasure{}, nil, err
		}
		bm := BatchMeasure{Rows: len(rows), LatencyS: lat, DeviceLatencyS: dev, NFE: res.Calls,
			TokensPerStep: res.CallTokens, Processed: res.Processed}
		for _, d := range res.StepEnd {
			bm.StepTimesS = append(bm.StepTimesS, d.Seconds())
		}
		for _, ids := range res.IDs {
			bm.Generated += len(ids)
			bm.Useful += useful(ids)
		}
		return bm, res.IDs, nil
	}, s, nil
}

// timeBatch runs f, a batch, and returns its time by the host's monotonic
// clock and, when the backend has a device timer (dt not nil), by the
// device's markers around it (0 without one); f's error comes first, then
// the timer's. f is given the host clock's start, for times within the
// batch to count from. The timer is stopped even when f fails or panics,
// so that the next cell on the same backend can start it again.
func timeBatch(dt compute.DeviceTimer, f func(start time.Time) error) (host, dev float64, err error) {
	run := func() error {
		t0 := time.Now()
		err := f(t0)
		host = time.Since(t0).Seconds()
		return err
	}
	if dt == nil {
		return host, 0, run()
	}
	if err := dt.StartTimer(); err != nil {
		return 0, 0, err
	}
	defer func() {
		d, terr := dt.StopTimer()
		if err == nil {
			if err = terr; err == nil {
				dev = d
			}
		}
	}()
	err = run()
	return host, 0, err
}

// summarize computes each metric per repetition, then its statistics over
// the repetitions (Record.Stats), and the pooled ones (Record.Pooled).
func summarize(reps []Rep, diffusion bool) (map[string]Stat, map[string]Dist) {
	per := map[string][]float64{}
	add := func(k string, v float64) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			per[k] = append(per[k], v)
		}
	}
	for _, r := range reps {
		var lat, dev, ttft, tpot, stepT, nfe, tps float64
		var gen, timed, tpotN int
		calls, committed := 0, 0
		for _, b := range r.Batches {
			lat += b.LatencyS
			if b.DeviceLatencyS > 0 {
				dev += b.DeviceLatencyS
				timed++
			}
			nfe += float64(b.NFE)
			gen += b.Generated
			if diffusion {
				prev := 0.0
				for _, t := range b.StepTimesS {
					stepT += t - prev
					prev = t
				}
				calls += len(b.StepTimesS)
				for _, k := range b.TokensPerStep {
					committed += k
				}
				continue
			}
			ttft += b.TTFTS
			if t, ok := b.TPOT(); ok {
				tpot += t
				tpotN++
			}
		}
		nb := float64(len(r.Batches))
		add(MLatency, lat/nb)
		if timed > 0 && timed == len(r.Batches) {
			add(MDeviceLatency, dev/nb)
		}
		add(MNFE, nfe/nb)
		add(MTokensPerS, r.TokensPerS)
		add(MUsefulPerS, r.UsefulTokensPerS)
		if diffusion {
			add(MStepTime, stepT/float64(calls))
			rows := 0
			for _, b := range r.Batches {
				rows = b.Rows
			}
			tps = float64(committed) / float64(calls) / float64(max(rows, 1))
			add(MTokensPerStep, tps)
		} else {
			add(MTTFT, ttft/nb)
			if tpotN > 0 { // one token has no time per output token
				add(MTPOT, tpot/float64(tpotN))
			}
		}
		if r.EnergyJ != nil && gen > 0 {
			add(MEnergyPerTok, *r.EnergyJ/float64(gen))
		}
		if r.EnergyJ != nil && r.TotalS > 0 {
			add(MPower, *r.EnergyJ/r.TotalS)
		}
		if r.Clocks != nil {
			add(MSMClock, r.Clocks.SMMHz)
			add(MPowerCapped, r.Clocks.PowerCapped)
		}
	}
	out := map[string]Stat{}
	for k, v := range per {
		out[k] = Summarize(v)
	}
	pool := pooled(reps, diffusion)
	if st, ok := itlMeans(reps); ok && !diffusion {
		out[MITL] = st
	}
	return out, pool
}

// roofline estimates the bytes and FLOPs of one repetition from the model
// shapes and the token positions processed: every forward call reads every
// weight once; each processed position costs 2 FLOPs per body weight, each
// logit row 2 per head weight, and attention 4·layers·QDim per visible key.
func (cr *cellRun) roofline(reps []Rep) Roofline {
	if len(reps) == 0 {
		return Roofline{}
	}
	c := &cr.m.Config
	r := reps[len(reps)-1]
	head := int64(c.VocabSize) * int64(c.Dim)
	body := c.Params() - head
	if !c.Tied {
		body -= head // the embedding is a lookup, not a product
	}
	var calls, processed, outRows float64
	for _, b := range r.Batches {
		calls += float64(b.NFE)
		processed += float64(b.Processed)
		if cr.cell.Diffusion() {
			outRows += float64(b.NFE * b.Rows * cr.cell.BlockLen)
		} else {
			outRows += float64(b.Rows * (cr.cell.GenLen))
		}
	}
	ctxLen := float64(cr.cell.PromptLen + cr.cell.GenLen)
	if !cr.cell.Diffusion() {
		ctxLen = float64(cr.cell.PromptLen) + float64(cr.cell.GenLen)/2
	}
	flops := 2*float64(body)*processed + 2*float64(head)*outRows + 4*float64(c.NLayers*c.QDim())*processed*ctxLen
	perCall := cr.m.WeightBytes()
	if !c.Tied {
		perCall -= cr.m.Weights.TokEmb.Bytes() // one row of it per token
	}
	bytes := calls * float64(perCall)
	return Roofline{Bytes: bytes, FLOPs: flops, CallBytes: perCall, GBPerS: bytes / r.TotalS / 1e9, TFLOPS: flops / r.TotalS / 1e12,
		Comment: fmt.Sprintf("last repetition; weights but the embedding table read once per forward call (%d calls), attention over ~%.0f keys", int(calls), ctxLen)}
}
