package decode_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"dllmbench/compute"
	"dllmbench/compute/computetest"
	"dllmbench/compute/cpu"
	"dllmbench/decode"
	"dllmbench/internal/testmodel"
	"dllmbench/model"
)

func load(t *testing.T, spec testmodel.Spec) *model.Model {
	t.Helper()
	b := cpu.New(2)
	t.Cleanup(b.Close)
	return testmodel.Load(t, spec, b)
}

// get_num_transfer_tokens: 32 masks over 5 steps is [7 7 6 6 6]
// (/work/shared/notes/llada.md §1).
func TestNumTransfer(t *testing.T) {
	for _, tc := range []struct {
		n, steps int
		want     []int
	}{
		{32, 5, []int{7, 7, 6, 6, 6}}, // the example in the notes
		{32, 32, nil},                 // one token per step
		{3, 5, []int{1, 1, 1, 0, 0}},  // more steps than tokens
		{0, 2, []int{0, 0}},           // nothing masked
	} {
		want := tc.want
		if want == nil {
			want = make([]int, tc.steps)
			for i := range want {
				want[i] = 1
			}
		}
		if d := cmp.Diff(want, decode.NumTransfer(tc.n, tc.steps)); d != "" {
			t.Errorf("NumTransfer(%d, %d) (-want +got):\n%s", tc.n, tc.steps, d)
		}
	}
}

// A batch of prompts of different lengths gives each row exactly what it
// gives alone: padding is masked out and positions start at each row's
// first token.
func TestARBatchEqualsAlone(t *testing.T) {
	m := load(t, testmodel.Tiny(model.Llama))
	prompts := [][]int{{1, 5, 9, 13, 2, 7}, {3}, {8, 8, 40, 2}}
	const gen = 12
	alone := make([][]int, len(prompts))
	for i, p := range prompts {
		s := testmodel.MustState(t)(decode.ARState(m, 1, len(p), gen, 0))
		res, err := decode.Generate(m, s, [][]int{p}, decode.AROptions{MaxNew: gen, IgnoreEOS: true})
		if err != nil {
			t.Fatal(err)
		}
		alone[i] = res.IDs[0]
	}
	for _, chunk := range []int{0, 2} {
		s := testmodel.MustState(t)(decode.ARState(m, len(prompts), 6, gen, chunk))
		res, err := decode.Generate(m, s, prompts, decode.AROptions{MaxNew: gen, IgnoreEOS: true})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(alone, res.IDs); d != "" {
			t.Errorf("prefill chunk %d: batch differs from rows alone (-alone +batch):\n%s", chunk, d)
		}
	}
}

// Each row stops at its own EOS; the stopping EOS is part of the output.
func TestARStopsPerRow(t *testing.T) {
	m := load(t, testmodel.Tiny(model.Llama))
	prompts := [][]int{{1, 5, 9}, {3, 4}}
	s := testmodel.MustState(t)(decode.ARState(m, 2, 3, 20, 0))
	free, err := decode.Generate(m, s, prompts, decode.AROptions{MaxNew: 20, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	// Make the 4th token of row 0 an EOS and check that row stops there.
	m.Config.EOS = []int{free.IDs[0][3]}
	defer func() { m.Config.EOS = nil }()
	res, err := decode.Generate(m, s, prompts, decode.AROptions{MaxNew: 20})
	if err != nil {
		t.Fatal(err)
	}
	firstEOS := func(ids []int) int {
		for i, id := range ids {
			if id == m.Config.EOS[0] {
				return i
			}
		}
		return len(ids) - 1
	}
	for r := range prompts {
		want := free.IDs[r][:firstEOS(free.IDs[r])+1]
		if d := cmp.Diff(want, res.IDs[r]); d != "" {
			t.Errorf("row %d (-want +got):\n%s", r, d)
		}
	}
}

var decoders = []struct {
	name string
	o    decode.DiffusionOptions
}{
	{"reference", decode.DiffusionOptions{Steps: 8, Cache: decode.CacheNone}},
	{"reference with guidance", decode.DiffusionOptions{Steps: 8, Cache: decode.CacheNone, CFGScale: 1.5}},
	{"prefix cache", decode.DiffusionOptions{Steps: 8, Cache: decode.CachePrefix}},
	{"dual cache", decode.DiffusionOptions{Steps: 8, Cache: decode.CacheDual}},
	{"threshold", decode.DiffusionOptions{Cache: decode.CacheNone, Threshold: 0.05}},
	{"dual cache with threshold", decode.DiffusionOptions{Cache: decode.CacheDual, Threshold: 0.05}},
	{"prefix cache with factor", decode.DiffusionOptions{Cache: decode.CachePrefix, Factor: 1.0}},
}

// The LLaDA decoders on a batch with padding give each row exactly what it
// gets alone: tokens, NFE and tokens per step.
func TestDiffusionBatchEqualsAlone(t *testing.T) {
	m := load(t, testmodel.Tiny(model.LLaDA))
	prompts := [][]int{{1, 5, 9, 13, 2, 7}, {3}, {8, 8, 40, 2}}
	for _, dc := range decoders {
		t.Run(dc.name, func(t *testing.T) {
			o := dc.o
			o.GenLength, o.BlockLength, o.Remasking = 8, 4, decode.LowConfidence
			var alone []*decode.DiffusionResult
			for _, p := range prompts {
				s := testmodel.MustState(t)(decode.DiffusionState(m, 1, len(p), o))
				res, err := decode.Diffuse(m, s, [][]int{p}, o)
				if err != nil {
					t.Fatal(err)
				}
				alone = append(alone, res)
			}
			s := testmodel.MustState(t)(decode.DiffusionState(m, len(prompts), 6, o))
			res, err := decode.Diffuse(m, s, prompts, o)
			if err != nil {
				t.Fatal(err)
			}
			for r := range prompts {
				if d := cmp.Diff(alone[r].IDs[0], res.IDs[r]); d != "" {
					t.Errorf("row %d tokens (-alone +batch):\n%s", r, d)
				}
				if alone[r].NFE[0] != res.NFE[r] {
					t.Errorf("row %d NFE %d in the batch, %d alone", r, res.NFE[r], alone[r].NFE[0])
				}
				if d := cmp.Diff(alone[r].TokensPerStep[0], res.TokensPerStep[r]); d != "" {
					t.Errorf("row %d tokens per step (-alone +batch):\n%s", r, d)
				}
				if len(res.IDs[r]) != o.GenLength {
					t.Errorf("row %d: %d ids, want the whole canvas of %d", r, len(res.IDs[r]), o.GenLength)
				}
				for _, id := range res.IDs[r] {
					if id == m.Config.MaskID {
						t.Errorf("row %d: a mask token survived: %v", r, res.IDs[r])
						break
					}
				}
			}
		})
	}
}

// Fixed steps commit the front-loaded counts; threshold and factor commit at
// least one token per call.
func TestDiffusionSchedule(t *testing.T) {
	m := load(t, testmodel.Tiny(model.LLaDA))
	p := [][]int{{1, 2, 3}}
	o := decode.DiffusionOptions{GenLength: 10, BlockLength: 5, Steps: 6, Remasking: decode.LowConfidence, Cache: decode.CacheNone}
	res, err := decode.Diffuse(m, testmodel.MustState(t)(decode.DiffusionState(m, 1, 3, o)), p, o)
	if err != nil {
		t.Fatal(err)
	}
	// 5 masks over 3 steps per block: [2 2 1], twice.
	if d := cmp.Diff([]int{2, 2, 1, 2, 2, 1}, res.TokensPerStep[0]); d != "" {
		t.Errorf("tokens per step (-want +got):\n%s", d)
	}
	if res.NFE[0] != 6 || res.Calls != 6 {
		t.Errorf("NFE %d, calls %d, want 6", res.NFE[0], res.Calls)
	}
	for _, dc := range decoders[4:] {
		o := dc.o
		o.GenLength, o.BlockLength, o.Remasking = 10, 5, decode.LowConfidence
		res, err := decode.Diffuse(m, testmodel.MustState(t)(decode.DiffusionState(m, 1, 3, o)), p, o)
		if err != nil {
			t.Fatal(err)
		}
		sum := 0
		for _, k := range res.TokensPerStep[0] {
			if k < 1 {
				t.Errorf("%s: a call committed %d tokens", dc.name, k)
			}
			sum += k
		}
		if sum != 10 || len(res.TokensPerStep[0]) != res.NFE[0] {
			t.Errorf("%s: committed %d tokens in %d calls (NFE %d)", dc.name, sum, len(res.TokensPerStep[0]), res.NFE[0])
		}
	}
}

func TestDiffusionBadInput(t *testing.T) {
	llada := load(t, testmodel.Tiny(model.LLaDA))
	llama := load(t, testmodel.Tiny(model.Llama))
	ok := decode.DiffusionOptions{GenLength: 8, BlockLength: 4, Steps: 8, Remasking: decode.LowConfidence, Cache: decode.CacheNone}
	with := func(f func(*decode.DiffusionOptions)) decode.DiffusionOptions { o := ok; f(&o); return o }
	for _, tc := range []struct {
		name string
		m    *model.Model
		o    decode.DiffusionOptions
		want string
	}{
		{"gen length not a multiple of the block", llada, with(func(o *decode.DiffusionOptions) { o.BlockLength = 3 }), "not a multiple of block-length 3"},
		{"steps not a multiple of the blocks", llada, with(func(o *decode.DiffusionOptions) { o.Steps = 3 }), "steps 3 is not a positive multiple of the 2 blocks"},
		// A step commits at least one token: 16 steps would run 8.
		{"more steps than tokens", llada, with(func(o *decode.DiffusionOptions) { o.Steps = 16 }), "steps 16 exceed gen-length 8: at most one step per generated token"},
		{"threshold above one", llada, with(func(o *decode.DiffusionOptions) { o.Threshold = 1.5 }), "threshold 1.5 outside (0, 1]"},
		{"threshold and factor", llada, with(func(o *decode.DiffusionOptions) { o.Threshold, o.Factor = 0.9, 1 }), "exclude each other"},
		{"threshold with random remasking", llada, with(func(o *decode.DiffusionOptions) { o.Threshold, o.Remasking = 0.9, decode.RandomRemask }), "need --remasking low_confidence"},
		{"beyond the context", llada, with(func(o *decode.DiffusionOptions) { o.GenLength, o.BlockLength, o.Steps = 256, 256, 256 }), "exceeds the model's context of 256"},
		{"a causal model", llama, ok, "needs a masked-diffusion model"},
		{"unknown cache", llada, with(func(o *decode.DiffusionOptions) { o.Cache = "full" }), `cache "full"`},
		{"negative guidance", llada, with(func(o *decode.DiffusionOptions) { o.CFGScale = -1 }), "cfg-scale -1: want a finite number ≥ 0"},
		{"NaN guidance", llada, with(func(o *decode.DiffusionOptions) { o.CFGScale = math.NaN() }), "cfg-scale NaN: want a finite number ≥ 0"},
		{"infinite guidance", llada, with(func(o *decode.DiffusionOptions) { o.CFGScale = math.Inf(1) }), "cfg-scale +Inf: want a finite number ≥ 0"},
		// An infinite temperature makes every Gumbel draw infinite (or NaN);
		// an infinite factor makes every threshold −∞.
		{"infinite temperature", llada, with(func(o *decode.DiffusionOptions) { o.Temperature = math.Inf(1) }), "temperature +Inf: want a finite number ≥ 0"},
		{"infinite factor", llada, with(func(o *decode.DiffusionOptions) { o.Factor = math.Inf(1) }), "factor +Inf: want a finite number > 0"},
		{"negative factor", llada, with(func(o *decode.DiffusionOptions) { o.Factor = -1 }), "factor -1: want a finite number > 0"},
	} {
		err := decode.CheckDiffusion(tc.m, [][]int{{1, 2}}, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// chiSquare returns Pearson's statistic of observed counts against
// probabilities p.
func chiSquare(counts []int, p []float64, n int) float64 {
	var x float64
	for i, c := range counts {
		e := p[i] * float64(n)
		x += (float64(c) - e) * (float64(c) - e) / e
	}
	return x
}

// Sampling draws from softmax(logits/T) restricted by top-k and top-p: a
// chi-square test against the intended distribution. With 4 degrees of
// freedom the 0.999 quantile is 18.47 (a fixed seed makes this
// deterministic, so the bound is not flaky).
func TestSamplerDistribution(t *testing.T) {
	logits := []float32{2, 1, 0.5, 0, -1, -3}
	for _, tc := range []struct {
		name string
		s    *decode.Sampler
		want []float64
	}{
		{"temperature 1", decode.NewSampler(1, 0, 0, 1), softmax(logits, 1, 6)},
		{"temperature 0.7, top-k 3", decode.NewSampler(0.7, 3, 0, 2), softmax(logits, 0.7, 3)},
		{"top-p 0.8 keeps the 3 most likely", decode.NewSampler(1, 0, 0.8, 3), softmax(logits, 1, 3)},
	} {
		const n = 40000
		counts := make([]int, len(logits))
		for range n {
			counts[tc.s.Sample(logits)]++
		}
		var used []int
		var p []float64
		for i, q := range tc.want {
			if q == 0 {
				if counts[i] != 0 {
					t.Errorf("%s: token %d drawn %d times, want never", tc.name, i, counts[i])
				}
				continue
			}
			used, p = append(used, counts[i]), append(p, q)
		}
		// Merge the rarest categories so every expected count exceeds 5.
		if x := chiSquare(used, p, n); x > chi2q999[len(used)-1] {
			t.Errorf("%s: chi-square %.1f with %d degrees of freedom; counts %v, want p %v", tc.name, x, len(used)-1, counts, tc.want)
		}
	}
}

// Top-k keeps every token tied with the k-th largest logit, as Hugging
// Face's TopKLogitsWarper (it removes scores < the k-th of torch.topk) and
// gpt-fast's logits_to_probs (logits < pivot) do; the ties share the draws.
func TestSamplerTopKKeepsTies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		logits []float32
		k      int
		keep   int // the most likely tokens kept (the logits are sorted)
	}{
		{"top-k 1, two tokens tied for the top", []float32{1, 1, 0, -1}, 1, 2},
		{"top-k 2, the second tied with the third", []float32{2, 1, 1, 0.5, -1}, 2, 3},
		{"top-k 2, no tie at the second", []float32{2, 1.5, 1, 0.5, -1}, 2, 2},
	} {
		s := decode.NewSampler(1, tc.k, 0, 7)
		const n = 40000
		counts := make([]int, len(tc.logits))
		for range n {
			counts[s.Sample(tc.logits)]++
		}
		want := softmax(tc.logits, 1, tc.keep)
		for i := tc.keep; i < len(counts); i++ {
			if counts[i] != 0 {
				t.Errorf("%s: token %d drawn %d times, want never", tc.name, i, counts[i])
			}
		}
		if x := chiSquare(counts[:tc.keep], want[:tc.keep], n); x > chi2q999[tc.keep-1] {
			t.Errorf("%s: chi-square %.1f; counts %v, want p %v", tc.name, x, counts, want)
		}
	}
}

// A sampler of numbers no sampler can use is misuse: a negative
// temperature would draw the least likely tokens, an infinite one every
// token alike; the commands refuse them with an error first.
func TestNewSamplerPanicsOnNonsense(t *testing.T) {
	for _, c := range []struct {
		name string
		T    float64
		k    int
		p    float64
	}{
		{"negative temperature", -1, 0, 0},
		{"NaN temperature", math.NaN(), 0, 0},
		{"infinite temperature", math.Inf(1), 0, 0},
		{"negative top-k", 1, -1, 0},
		{"top-p above 1", 1, 0, 1.5},
		{"NaN top-p", 1, 0, math.NaN()},
	} {
		computetest.MustPanic(t, c.name, "decode: NewSampler(", func() { decode.NewSampler(c.T, c.k, c.p, 0) })
	}
	decode.NewSampler(0.7, 50, 1, 0) // top-p 1: no limit
	decode.NewSampler(0, 0, 0, 0)    // greedy
}

// Quantiles of the chi-square distribution at 0.999 by degrees of freedom.
var chi2q999 = map[int]float64{1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52}

// softmax(l/T) over the k largest logits (l is sorted descending here).
func softmax(l []float32, T float64, k int) []float64 {
	p := make([]float64, len(l))
	var s float64
	for i := range k {
		p[i] = math.Exp(float64(l[i]) / T)
		s += p[i]
	}
	for i := range k {
		p[i] /= s
	}
	return p
}

// Random remasking commits uniformly random positions: the first position
// committed in a block of 4 is uniform (chi-square, 3 degrees of freedom).
func TestRandomRemaskingUniform(t *testing.T) {
	m := load(t, testmodel.Tiny(model.LLaDA))
	o := decode.DiffusionOptions{GenLength: 4, BlockLength: 4, Steps: 4, Remasking: decode.RandomRemask, Cache: decode.CacheNone}
	counts := make([]int, 4)
	const runs = 800
	s := testmodel.MustState(t)(decode.DiffusionState(m, 1, 2, o))
	for seed := range runs {
		o.Seed = uint64(seed)
		first := -1
		o.OnCommit = func(row int, pos []int) {
			if first < 0 {
				first = pos[0]
			}
		}
		if _, err := decode.Diffuse(m, s, [][]int{{1, 2}}, o); err != nil {
			t.Fatal(err)
		}
		counts[first]++
	}
	if x := chiSquare(counts, []float64{0.25, 0.25, 0.25, 0.25}, runs); x > chi2q999[3] {
		t.Errorf("first committed positions %v: chi-square %.1f", counts, x)
	}
}

// unmaskCounter is the CPU backend counting the steps it commits itself.
type unmaskCounter struct {
	*cpu.Backend
	calls int
}

func (u *unmaskCounter) Unmask(canvas, picked, ids, probs compute.Tensor, start, k, mask int) {
	u.calls++
	u.Backend.Unmask(canvas, picked, ids, probs, start, k, mask)
}

// Greedy fixed schedules commit on the device (compute.Unmasker), queuing
// a block's steps: tokens, counts, callbacks and the number of step times
// are those of the commits on the host, with each cache, with padding, with
// uneven counts and with one token a step (the most steps a block takes).
func TestDiffusionDeviceCommitMatchesHost(t *testing.T) {
	b := &unmaskCounter{Backend: cpu.New(2)}
	t.Cleanup(b.Close)
	m := testmodel.Load(t, testmodel.Tiny(model.LLaDA), b)
	prompts := [][]int{{1, 5, 9, 13, 2, 7}, {3}, {8, 8, 40, 2}}
	type event struct {
		call, row int
		positions []int
	}
	for _, cache := range []decode.Cache{decode.CacheNone, decode.CachePrefix, decode.CacheDual} {
		for _, steps := range []int{3, 6, 9, 12} { // per block of 4: [2 1 1], [2 2], [1 1 1 ...], [1 1 1 1]
			o := decode.DiffusionOptions{GenLength: 12, BlockLength: 4, Steps: steps, Remasking: decode.LowConfidence, Cache: cache}
			if steps == 9 {
				o.GenLength, o.BlockLength = 9, 9
			}
			run := func(host bool) (*decode.DiffusionResult, []event) {
				o := o
				o.HostCommit = host
				var events []event
				call := 0
				o.OnCommit = func(row int, pos []int) {
					events = append(events, event{call, row, append([]int(nil), pos...)})
				}
				o.OnStep = func(c int) {
					if c != call {
						t.Errorf("OnStep(%d) at call %d", c, call)
					}
					call++
				}
				before := b.calls
				res, err := decode.Diffuse(m, testmodel.MustState(t)(decode.DiffusionState(m, len(prompts), 6, o)), prompts, o)
				if err != nil {
					t.Fatal(err)
				}
				if onDevice := b.calls > before; onDevice == host {
					t.Errorf("%s, %d steps, host %v: %d commits on the device", cache, steps, host, b.calls-before)
				}
				return res, events
			}
			want, wantEv := run(true)
			got, gotEv := run(false)
			for _, r := range []*decode.DiffusionResult{want, got} {
				if len(r.StepEnd) != r.Calls {
					t.Errorf("%s, %d steps: %d step times for %d calls", cache, steps, len(r.StepEnd), r.Calls)
				}
				for i := 1; i < len(r.StepEnd); i++ {
					if r.StepEnd[i] < r.StepEnd[i-1] {
						t.Errorf("%s, %d steps: step %d ended at %v, before step %d at %v", cache, steps, i, r.StepEnd[i], i-1, r.StepEnd[i-1])
					}
				}
				r.StepEnd = nil
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("%s, %d steps: result (-host +device):\n%s", cache, steps, d)
			}
			if d := cmp.Diff(wantEv, gotEv, cmp.AllowUnexported(event{})); d != "" {
				t.Errorf("%s, %d steps: commits (-host +device):\n%s", cache, steps, d)
			}
		}
	}
}

// failingMarks is the CPU backend whose Mark fails once, at call fail.
type failingMarks struct {
	*cpu.Backend
	calls, fail int
}

func (f *failingMarks) Mark() error {
	f.calls++
	if f.calls == f.fail {
		return errors.New("marker refused")
	}
	return f.Backend.Mark()
}

// A run of device steps that fails part way returns the error and leaves
// no markers behind: the next generation on the backend times its steps
// from its own.
func TestDiffusionDeviceCommitFailure(t *testing.T) {
	b := &failingMarks{Backend: cpu.New(2), fail: 3}
	t.Cleanup(b.Close)
	m := testmodel.Load(t, testmodel.Tiny(model.LLaDA), b)
	p := [][]int{{1, 2, 3}}
	o := decode.DiffusionOptions{GenLength: 8, BlockLength: 4, Steps: 8, Remasking: decode.LowConfidence, Cache: decode.CacheNone}
	s := testmodel.MustState(t)(decode.DiffusionState(m, 1, 3, o))
	if _, err := decode.Diffuse(m, s, p, o); err == nil || !strings.Contains(err.Error(), "marker refused") {
		t.Fatalf("Diffuse with a refused marker: error %v", err)
	}
	res, err := decode.Diffuse(m, s, p, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.StepEnd) != res.Calls || res.Calls != 8 {
		t.Errorf("after a failure: %d step times for %d calls, want 8", len(res.StepEnd), res.Calls)
	}
}

// A state too large for the machine or for int32 indices is an error, for
// sizes whose products overflow int too (guidance doubling the rows, the
// rows times the block or the sequence): not a panic, never an attempt.
func TestStateTooLarge(t *testing.T) {
	m := load(t, testmodel.Tiny(model.LLaDA))
	o := decode.DiffusionOptions{GenLength: 8, Steps: 8, BlockLength: 8, Remasking: decode.LowConfidence,
		Cache: decode.CacheNone}
	guided := o
	guided.CFGScale = 1
	for _, c := range []struct {
		name string
		new  func() (*model.State, error)
	}{
		{"autoregressive", func() (*model.State, error) { return decode.ARState(m, 1<<40, 4, 4, 0) }},
		{"diffusion", func() (*model.State, error) { return decode.DiffusionState(m, math.MaxInt/4, 4, o) }},
		{"diffusion, guided", func() (*model.State, error) { return decode.DiffusionState(m, math.MaxInt/2+1, 4, guided) }},
		{"score", func() (*model.State, error) { return decode.ScoreState(m, math.MaxInt/4, 8, 0) }},
		{"score, guided", func() (*model.State, error) { return decode.ScoreState(m, math.MaxInt/2+1, 8, 1) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := c.new()
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "model: a run state of ") {
				t.Errorf("error %q", msg)
			}
		})
	}
}

// The likelihood's guidance scale is a finite number ≥ 0: a negative or NaN
// scale was scored as no guidance, +Inf would make every logit NaN.
func TestLogLikelihoodBadGuidance(t *testing.T) {
	m := load(t, testmodel.Tiny(model.LLaDA))
	for _, cfg := range []float64{-1, math.NaN(), math.Inf(1)} {
		s := testmodel.MustState(t)(decode.ScoreState(m, 2, 3, cfg))
		_, _, err := decode.LogLikelihood(m, s, []int{1}, []int{5, 6}, 4, 2, cfg, 0)
		s.Close()
		if err == nil || !strings.Contains(err.Error(), "want a finite number ≥ 0") {
			t.Errorf("cfg-scale %g: error %v", cfg, err)
		}
	}
}

// cancelAfter is a context cancelled from its n+1-th Err on: a cancel that
// comes exactly n checks into a computation, whatever the machine's speed.
type cancelAfter struct {
	context.Context
	n int
}

func (c *cancelAfter) Err() error {
	if c.n == 0 {
		return context.Canceled
	}
	c.n--
	return nil
}

// Cancelled three checks in, generation, diffusion (steps committed on the
// host, and queued on the device as one block) and the likelihood bound
// return ctx's error by their fourth of 16 forward calls (as `dllmbench
// generate --gen-length 480 --steps 480` did not on Ctrl-C).
func TestCancelStopsDecoding(t *testing.T) {
	b := &unmaskCounter{Backend: cpu.New(2)}
	t.Cleanup(b.Close)
	llada := testmodel.Load(t, testmodel.Tiny(model.LLaDA), b)
	llama := load(t, testmodel.Tiny(model.Llama))
	const after, calls = 3, 16
	diffuse := func(t *testing.T, ctx context.Context, host bool) (int, error) {
		o := decode.DiffusionOptions{GenLength: calls, BlockLength: calls, Steps: calls, Remasking: decode.LowConfidence,
			Cache: decode.CacheNone, HostCommit: host}
		steps := 0
		o.OnStep = func(int) { steps++ }
		before := b.calls
		s := testmodel.MustState(t)(decode.DiffusionState(llada, 1, 2, o))
		defer s.Close()
		_, err := decode.DiffuseContext(ctx, llada, s, [][]int{{1, 2}}, o)
		if !host {
			steps = b.calls - before // the device's steps call back at the end of the block
		}
		return steps, err
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, ctx context.Context) (int, error) // the forward calls made, -1 if unknown
	}{
		{"autoregressive", func(t *testing.T, ctx context.Context) (int, error) {
			steps := 0
			s := testmodel.MustState(t)(decode.ARState(llama, 1, 2, calls, 0))
			defer s.Close()
			_, err := decode.GenerateContext(ctx, llama, s, [][]int{{1, 2}}, decode.AROptions{MaxNew: calls, IgnoreEOS: true,
				OnStep: func(int) { steps++ }})
			return steps, err
		}},
		{"diffusion, commits on the host", func(t *testing.T, ctx context.Context) (int, error) { return diffuse(t, ctx, true) }},
		{"diffusion, a block queued on the device", func(t *testing.T, ctx context.Context) (int, error) { return diffuse(t, ctx, false) }},
		{"likelihood bound", func(t *testing.T, ctx context.Context) (int, error) {
			s := testmodel.MustState(t)(decode.ScoreState(llada, 1, 5, 0))
			defer s.Close()
			_, _, err := decode.LogLikelihoodContext(ctx, llada, s, []int{1, 2}, []int{3, 4, 5}, calls, 1, 0, 0)
			return -1, err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := tc.run(t, context.Background())
			if err != nil || n != -1 && n != calls {
				t.Fatalf("not cancelled: %d calls, %v; want %d and no error", n, err, calls)
			}
			n, err = tc.run(t, &cancelAfter{context.Background(), after})
			if !errors.Is(err, context.Canceled) || n > after+1 {
				t.Errorf("cancelled after %d checks: %d calls, %v; want at most %d and context.Canceled", after, n, err, after+1)
			}
		})
	}
}

// With a Start, the time to first token and each token's time count from
// it, as a caller's latency of the whole call does, its checks and
// allocations included; without one, from the call's own start.
func TestGenerateStart(t *testing.T) {
	llama := load(t, testmodel.Tiny(model.Llama))
	s := testmodel.MustState(t)(decode.ARState(llama, 1, 2, 3, 0))
	defer s.Close()
	const early = time.Hour
	for _, start := range []time.Time{{}, time.Now().Add(-early)} {
		res, err := decode.Generate(llama, s, [][]int{{1, 2}}, decode.AROptions{MaxNew: 3, IgnoreEOS: true, Start: start})
		if err != nil {
			t.Fatal(err)
		}
		if late := res.Prefill >= early; late != !start.IsZero() || res.StepEnd[0] != res.Prefill {
			t.Errorf("start %v: time to first token %v, first token at %v", start, res.Prefill, res.StepEnd[0])
		}
		for i := 1; i < len(res.StepEnd); i++ {
			if res.StepEnd[i] < res.StepEnd[i-1] {
				t.Errorf("start %v: token %d at %v, before token %d at %v", start, i, res.StepEnd[i], i-1, res.StepEnd[i-1])
			}
		}
	}
}

// Diffusion's calls count from a Start as the autoregressive tokens do,
// on the host's commits and on the device's queued steps alike.
func TestDiffuseStart(t *testing.T) {
	llada := load(t, testmodel.Tiny(model.LLaDA))
	const early = time.Hour
	for _, host := range []bool{false, true} {
		for _, start := range []time.Time{{}, time.Now().Add(-early)} {
			o := decode.DiffusionOptions{GenLength: 8, BlockLength: 4, Steps: 4, Remasking: decode.LowConfidence,
				Cache: decode.CacheNone, HostCommit: host, Start: start}
			s := testmodel.MustState(t)(decode.DiffusionState(llada, 1, 2, o))
			res, err := decode.Diffuse(llada, s, [][]int{{1, 2}}, o)
			s.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(res.StepEnd) != res.Calls || res.Calls != 4 {
				t.Fatalf("host %v: %d call times for %d calls, want 4", host, len(res.StepEnd), res.Calls)
			}
			if late := res.StepEnd[0] >= early; late != !start.IsZero() {
				t.Errorf("host %v, start %v: first call at %v", host, start, res.StepEnd[0])
			}
			for i := 1; i < len(res.StepEnd); i++ {
				if res.StepEnd[i] < res.StepEnd[i-1] {
					t.Errorf("host %v, start %v: call %d at %v, before call %d at %v", host, start, i, res.StepEnd[i], i-1, res.StepEnd[i-1])
				}
			}
		}
	}
}

// On a vocabulary of unsorted logits the sampler keeps exactly the tokens a
// full sort keeps (top-k with its ties, then the smallest prefix reaching
// top-p) and draws them in proportion: it sorts only candidates, which
// must never leave one out.
func TestSamplerMatchesFullSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	logits := make([]float32, 3000)
	for i := range logits {
		logits[i] = float32(math.Round(rng.NormFloat64()*8) / 4) // ties at quarter steps
	}
	const T = 0.9
	for _, c := range []struct {
		k int
		p float64
	}{{0, 0.5}, {0, 0.97}, {20, 0}, {20, 0.6}, {3, 0}} {
		// The kept set by a full sort: by logit descending, ids ascending.
		order := make([]int, len(logits))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case logits[a] > logits[b]:
				return -1
			case logits[a] < logits[b]:
				return 1
			}
			return 0
		})
		keep := len(order)
		if c.k > 0 {
			keep = c.k
			for keep < len(order) && logits[order[keep]] == logits[order[keep-1]] {
				keep++
			}
		}
		w := make([]float64, keep)
		var sum float64
		for r := range keep {
			w[r] = math.Exp(float64(logits[order[r]]-logits[order[0]]) / T)
			sum += w[r]
		}
		if c.p > 0 {
			if c.k == 0 {
				sum = 0
				for _, l := range logits {
					sum += math.Exp(float64(l-logits[order[0]]) / T)
				}
			}
			var acc float64
			for r := range keep {
				if acc += w[r] / sum; acc >= c.p {
					keep = r + 1
					break
				}
			}
		}
		want := map[int]float64{}
		var kept float64
		for r := range keep {
			kept += w[r]
		}
		for r := range keep {
			want[order[r]] = w[r] / kept
		}
		s := decode.NewSampler(T, c.k, c.p, 9)
		const n = 10000
		counts := map[int]int{}
		for range n {
			id := s.Sample(logits)
			if _, ok := want[id]; !ok {
				t.Fatalf("top-k %d, top-p %g: drew token %d, which a full sort leaves out", c.k, c.p, id)
			}
			counts[id]++
		}
		// Frequencies within 5 standard errors of the kept probabilities.
		for id, q := range want {
			if se := math.Sqrt(q * (1 - q) / n); math.Abs(float64(counts[id])/n-q) > 5*se+1e-9 {
				t.Errorf("top-k %d, top-p %g: token %d drawn %d of %d, want p %.4f", c.k, c.p, id, counts[id], n, q)
			}
		}
	}
}
