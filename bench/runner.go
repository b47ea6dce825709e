package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"dllmbench/compute"
	"dllmbench/compute/device"
	"dllmbench/hub"
	"dllmbench/model"
	"dllmbench/prompts"
	"dllmbench/tokenizer"
)

// Options configure a run.
type Options struct {
	OutputDir string
	// RecordsName names this process's records file (records/NAME.jsonl);
	// default: host-pid-time.
	RecordsName string
	// Progress receives progress: a bar redrawn in place when Terminal,
	// else one line per cell (SLURM logs).
	Progress io.Writer
	Terminal bool
	// Notice receives one-line notices (invalid combinations, reused cells).
	Notice func(string)
	// Select keeps a subset of the cells (shards of a job array); nil: all.
	Select func([]Cell) []Cell
	// RetryFailed measures again the cells whose records in the folder all
	// failed; without it a failed cell is a result, reused as any other.
	RetryFailed bool
	Device      device.Options
	Hub         *hub.Client
	// Sleep pauses for the grid's delay before a cell, returning early with
	// ctx's error when it is cancelled; nil: a timer (tests replace it).
	Sleep func(ctx context.Context, d time.Duration) error
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Summary is what a run did.
type Summary struct {
	Cells    int       // cells of the grid (after Select)
	Measured int       // measured now
	Reused   int       // already recorded under the same key
	Failed   int       // measured now and failed
	Skipped  []Skipped // invalid combinations
	Records  string    // this process's records file; empty when it wrote none
	Env      Env
}

// Run measures every cell of g that the output directory has no record
// for, appending one record per cell. A cell that fails is recorded as
// failed and the sweep goes on. When ctx is cancelled, the cell in flight
// is abandoned (it stays missing) and Run returns ctx.Err(). The caller
// reserves the output folder (see Lock) before Run reads which cells it
// holds.
func Run(ctx context.Context, g *Grid, o Options) (*Summary, error) {
	notice := o.Notice
	if notice == nil {
		notice = func(string) {}
	}
	pl, err := planGrid(g, o.Hub, o.Select, notice)
	if err != nil {
		return nil, err
	}
	models, cells, sets, keys, tok0 := pl.models, pl.cells, pl.sets, pl.keys, pl.models[0].tok
	sum := &Summary{Cells: len(cells), Skipped: pl.skipped}
	pause := o.Sleep
	if pause == nil {
		pause = sleep
	}
	done := map[string]bool{}   // reused
	seen := map[string]bool{}   // recorded, reused or retried
	recorded := map[Cell]bool{} // under any key
	// The folder's records/ only, which NewWriter writes: ReadRecords
	// would take a fresh folder's own *.jsonl (a prompt or task file) for
	// records.
	if old, err := ReadRecords(filepath.Join(o.OutputDir, "records")); err == nil {
		for _, r := range old {
			recorded[r.Cell], seen[r.Key] = true, true
			if r.Status == "ok" || !o.RetryFailed {
				done[r.Key] = true
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var again []string // cells recorded under another key only
	for i, c := range cells {
		if !seen[keys[i]] && recorded[c] {
			again = append(again, c.Name())
		}
	}
	if len(again) > 0 {
		// A resume with a setting changed by mistake (a --repetitions, a
		// model whose main moved in the cache) would otherwise measure the
		// whole sweep again without a word.
		notice(fmt.Sprintf("%d cells (%s first) are recorded in %s under another key: other repetitions, warm-up, delay, prompts or model revision; "+
			"they are measured again, and the reports show both as rows that read the same (give another --output_dir to keep them apart)",
			len(again), again[0], o.OutputDir))
	}
	b, info, err := device.Open(o.Device)
	if err != nil {
		return nil, err
	}
	defer device.Close(b)
	if info.Notice != "" {
		notice(info.Notice)
	}
	sum.Env = CaptureEnv(info, g.HardwareNotes)
	name := o.RecordsName
	if name == "" {
		host, _ := os.Hostname()
		name = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), time.Now().UTC().Format("20060102T150405.000000"))
	}
	w, err := NewWriter(o.OutputDir, name)
	if err != nil {
		return nil, err
	}
	defer w.Close()

	// Group cells by model so that each model is loaded once.
	order := make([]int, len(cells))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return modelIndex(models, cells[order[a]]) < modelIndex(models, cells[order[b]]) })

	p := newProgress(o.Progress, o.Terminal, len(cells))
	var loaded *model.Model
	var loadedIdx = -1
	defer func() {
		if loaded != nil {
			loaded.Close()
		}
	}()
	for _, ci := range order {
		c := cells[ci]
		mi := modelIndex(models, c)
		rm := models[mi]
		ps := sets[[2]int{c.PromptLen, c.GenLen}]
		key := keys[ci]
		if done[key] {
			sum.Reused++
			p.cell(c, "recorded before")
			continue
		}
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		var paused float64
		if g.Delay > 0 && sum.Measured > 0 {
			if err := pause(ctx, time.Duration(g.Delay*float64(time.Second))); err != nil {
				return sum, err
			}
			paused = g.Delay
		}
		if loadedIdx != mi {
			if loaded != nil {
				loaded.Close()
				loaded = nil
			}
			loadedIdx = mi
			loaded, err = loadModel(rm, b, c.Precision)
		}
		rec := &Record{Schema: SchemaVersion, Key: key, Grid: g.Name, Cell: c, Started: time.Now().UTC(),
			PausedS: paused, Env: sum.Env, Model: rm.info, PromptSource: &pl.origin}
		if loaded == nil {
			rec.Status, rec.Error = "failed", oneLine(err)
		} else {
			rec.Model.WeightDT = loaded.Weights.Layers[0].WQ.DType().String()
			rec.Model.CacheDT = loaded.CacheDType().String()
			cr := &cellRun{cell: c, m: loaded, rm: rm, ps: ps, reps: g.Repetitions, warmup: g.Warmup, seed: g.Seed,
				monitor: info.Monitor}
			rec.Prompts, cr.ids, err = promptRecords(ps, rm.tok, tok0)
			if err == nil {
				err = measureSafely(ctx, cr, rec)
			}
			if ctx.Err() != nil {
				return sum, ctx.Err() // abandoned: the cell stays missing
			}
			rec.Duration = time.Since(rec.Started).Seconds()
			if err != nil {
				rec.Status, rec.Error = "failed", oneLine(err)
			} else {
				rec.Status = "ok"
				for _, ids := range rec.Outputs {
					rec.Texts = append(rec.Texts, textOf(rm.tok, &loaded.Config, ids))
				}
			}
		}
		if err := w.Write(rec); err != nil {
			return sum, err
		}
		sum.Records = w.Path()
		sum.Measured++
		if rec.Status != "ok" {
			sum.Failed++
			p.cell(c, "FAILED: "+rec.Error)
		} else {
			p.cell(c, fmt.Sprintf("%.1f tok/s", rec.Stats[MTokensPerS].Mean))
		}
	}
	p.finish()
	return sum, nil
}

// modelIndex is the index in models of the model of c.
func modelIndex(models []*resolved, c Cell) int {
	for i, m := range models {
		if m.spec.Label() == c.Model {
			return i
		}
	}
	return -1
}

// loadModel loads a model at a grid precision; an error is the cell's.
func loadModel(rm *resolved, b compute.Backend, precision string) (*model.Model, error) {
	var opt model.LoadOptions
	if precision != "" {
		dt, err := compute.ParseDType(precision)
		if err != nil {
			return nil, err
		}
		opt.DType = dt
	}
	return model.Load(rm.dir, b, opt)
}

// measureSafely measures a cell, turning a panic (a bug, or an allocation
// the device refused) into the cell's error so that the sweep goes on.
func measureSafely(ctx context.Context, cr *cellRun, rec *Record) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v [%s]", p, firstFrames(debug.Stack()))
		}
	}()
	return cr.measure(ctx, rec)
}

func firstFrames(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "\t/") && !strings.Contains(l, "runtime/") {
			out = append(out, strings.TrimSpace(l))
			if len(out) == 3 {
				break
			}
		}
	}
	return strings.Join(out, "; ")
}

// promptRecords encodes the cell's prompts with the model's tokenizer (or
// the first model's when it has none).
func promptRecords(ps *promptSet, tok, tok0 *tokenizer.Tokenizer) ([]PromptRecord, [][]int, error) {
	if tok == nil {
		tok = tok0
	}
	recs := make([]PromptRecord, len(ps.Texts))
	ids := make([][]int, len(ps.Texts))
	for i, t := range ps.Texts {
		ids[i] = tok.Encode(t, true)
		if len(ids[i]) == 0 {
			return nil, nil, fmt.Errorf("bench: prompt %d encodes to no tokens", i)
		}
		recs[i] = PromptRecord{Text: t, Reference: ps.Refs[i], IDs: ids[i]}
	}
	return recs, ids, nil
}

// textOf decodes generated ids up to the first EOS, special tokens left
// out, as transformers' decode(ids, skip_special_tokens=True) does with the
// model's tokenizer_config.json (its clean-up of spaces included).
func textOf(tok *tokenizer.Tokenizer, c *model.Config, ids []int) string {
	if tok == nil {
		return ""
	}
	for i, id := range ids {
		if c.IsEOS(id) {
			ids = ids[:i]
			break
		}
	}
	return tok.Decode(ids, true)
}

func oneLine(err error) string {
	if err == nil {
		return "unknown error"
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// gridPlan is what a run of a grid measures: its models, its cells (after
// a selection), their prompt sets and the keys their records are written
// under.
type gridPlan struct {
	models  []*resolved
	cells   []Cell
	skipped []Skipped
	sets    map[[2]int]*promptSet // by prompt and generation length
	origin  prompts.Origin
	keys    []string // per cell
}

// planGrid resolves a grid's models (configs and tokenizers, no weights),
// lists its cells, keeps those sel keeps (nil: all), cuts their prompts
// and computes their keys. notice receives the invalid combinations and
// what the prompts are.
func planGrid(g *Grid, hc *hub.Client, sel func([]Cell) []Cell, notice func(string)) (*gridPlan, error) {
	models, err := resolveModels(g, hc)
	if err != nil {
		return nil, err
	}
	cfgs := make([]*model.Config, len(models))
	for i, m := range models {
		cfgs[i] = m.cfg
	}
	pl := &gridPlan{models: models}
	pl.cells, pl.skipped = ExpandModels(g, cfgs)
	for _, s := range pl.skipped {
		notice(fmt.Sprintf("skipping %s: %s", s.Cell.Name(), s.Reason))
	}
	if sel != nil {
		pl.cells = sel(pl.cells)
	}
	tok0 := models[0].tok
	if tok0 == nil {
		return nil, fmt.Errorf("bench: %s has no tokenizer.json: prompts are cut under the first model's tokenizer", models[0].spec.ID)
	}
	docs, origin, err := g.Prompts.Load()
	if err != nil {
		return nil, err
	}
	pl.origin = origin
	notice("prompts: " + origin.String())
	pl.sets = map[[2]int]*promptSet{}
	for _, c := range pl.cells {
		k := [2]int{c.PromptLen, c.GenLen}
		if pl.sets[k] == nil {
			if pl.sets[k], err = cutPrompts(docs, tok0, c.PromptLen, c.GenLen, g.Prompts.MaxPrompts); err != nil {
				return nil, err
			}
			if note := pl.sets[k].shortNote(c.PromptLen, c.GenLen); note != "" {
				notice(note)
			}
			if note := pl.sets[k].fewNote(c.PromptLen, c.GenLen, g.Prompts.MaxPrompts); note != "" {
				notice(note)
			}
		}
	}
	pl.keys = make([]string, len(pl.cells))
	for i, c := range pl.cells {
		rm := models[modelIndex(models, c)]
		pl.keys[i] = Key(c, rm.revisionKey(), pl.sets[[2]int{c.PromptLen, c.GenLen}].Hash, g.Repetitions, g.Warmup, g.Delay)
	}
	return pl, nil
}

// GridKeys lists the cells of a grid in Expand's order, the order shards
// split, each with the key a run writes its record under: what a run would
// measure, without a device or weights (it reads each model's config,
// tokenizer and weight files' sizes, and cuts the prompts). The models must
// be where a run finds them.
func GridKeys(g *Grid) (cells []Cell, keys []string, err error) {
	pl, err := planGrid(g, nil, nil, func(string) {})
	if err != nil {
		return nil, nil, err
	}
	return pl.cells, pl.keys, nil
}
