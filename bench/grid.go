// Package bench runs experiment grids: it expands a grid into cells,
// measures each cell fairly (same prompts for every model, warm-up first,
// synchronised timing, repetitions), and writes one record per cell to an
// append-only JSONL stream that reports are built from and that a killed run
// resumes from.
package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"dllmbench/decode"
	"dllmbench/model"
	"dllmbench/prompts"
)

// Grid is an experiment definition, as config/*.yaml writes it.
type Grid struct {
	Name   string      `yaml:"name" json:"name"`
	Models []ModelSpec `yaml:"models" json:"models"`
	// Precision of the weights: bf16 (default), fp16 or fp32.
	Precision string `yaml:"precision" json:"precision"`
	// Backend: auto (default), cpu or cuda.
	Backend string     `yaml:"backend" json:"backend"`
	Prompts PromptSpec `yaml:"prompts" json:"prompts"`

	BatchSizes    []int `yaml:"batch_size" json:"batch_size"`
	PromptLengths []int `yaml:"prompt_length" json:"prompt_length"`
	GenLengths    []int `yaml:"gen_length" json:"gen_length"`

	Diffusion      DiffusionAxes `yaml:"diffusion" json:"diffusion"`
	Autoregressive ARSettings    `yaml:"autoregressive" json:"autoregressive"`

	Repetitions int `yaml:"repetitions" json:"repetitions"`
	// Warmup is the discarded runs before a cell's repetitions; each runs
	// one batch of every padded prompt length the cell's batches have
	// (each length is its own set of call shapes: graphs to record on CUDA).
	Warmup int `yaml:"warmup" json:"warmup"`
	// Delay is the pause in seconds before each cell measured after the
	// first (llama-bench's --delay): the device cools and its clocks
	// recover, so a cell's result does not depend on what ran before it.
	Delay float64 `yaml:"delay" json:"delay,omitempty"`
	Seed  uint64  `yaml:"seed" json:"seed"`
	// HardwareNotes is free text copied into every record.
	HardwareNotes string      `yaml:"hardware_notes" json:"hardware_notes,omitempty"`
	Quality       QualitySpec `yaml:"quality" json:"quality"`
}

// ModelSpec names a model: a Hugging Face id resolved in the hub cache, or
// a local directory; "builtin:demo-llama" and "builtin:demo-llada" are the
// demo pair shipped in the binary.
type ModelSpec struct {
	ID       string `yaml:"id" json:"id"`
	Name     string `yaml:"name" json:"name,omitempty"`         // short label for tables; default: last path element
	Revision string `yaml:"revision" json:"revision,omitempty"` // hub revision; default main
}

// ModelRef is the model a one-word reference names, as fetch, generate and
// run --model take them: a directory, builtin:NAME, or a Hugging Face ID
// with an optional @revision (org/name@v2: ID org/name, Revision v2). A
// directory whose name holds an @ is taken whole.
func ModelRef(s string) ModelSpec {
	if id, rev, ok := strings.Cut(s, "@"); ok && rev != "" && !isDir(s) {
		return ModelSpec{ID: id, Revision: rev}
	}
	return ModelSpec{ID: s}
}

// Label is the name tables show.
func (m ModelSpec) Label() string {
	if m.Name != "" {
		return m.Name
	}
	for i := len(m.ID) - 1; i >= 0; i-- {
		if m.ID[i] == '/' || m.ID[i] == ':' {
			return m.ID[i+1:]
		}
	}
	return m.ID
}

// PromptSpec says where prompts come from.
type PromptSpec struct {
	// Source: "wikitext" (WikiText-103 validation: a local file in Path, the
	// HF hub cache, or the subset shipped in the binary), "file" (Path: plain
	// text, one document per line, or JSONL with prompt and reference),
	// "builtin" (the held-out WikiText prompts of the demo pair) or "task"
	// (Path: a GSM8K-style task file, each problem asked as
	// lm-evaluation-harness's gsm8k task asks it, after Shots solved
	// problems, with its answer as the reference).
	Source     string `yaml:"source" json:"source"`
	Path       string `yaml:"path" json:"path,omitempty"`
	MaxPrompts int    `yaml:"max_prompts" json:"max_prompts"`
	// Seed picks which prompts of the source are used.
	Seed uint64 `yaml:"seed" json:"seed"`
	// Shots (task only) is the solved problems before each question, the
	// first of ShotsPath's (a training split), by default of Path's other
	// than the question; 0 is zero-shot.
	Shots     int    `yaml:"shots" json:"shots,omitempty"`
	ShotsPath string `yaml:"shots_path" json:"shots_path,omitempty"`
}

// Load reads the documents the prompts are cut from, as a run does: the
// dry run calls it to find a missing prompt file before a run would.
func (s PromptSpec) Load() ([]prompts.Doc, prompts.Origin, error) {
	return prompts.Load(prompts.Options{Source: s.Source, Path: s.Path, Seed: s.Seed, Shots: s.Shots, ShotsPath: s.ShotsPath})
}

// QualityTask is the task file accuracy is scored against: quality.task,
// or where the grid names none and its prompts are of source task, their
// file, so that a grid of few-shot task prompts is scored without another
// key.
func (g *Grid) QualityTask() string {
	if g.Quality.Task == "" && g.Prompts.Source == "task" {
		return g.Prompts.Path
	}
	return g.Quality.Task
}

// DiffusionAxes are the LLaDA decoder settings to sweep; they multiply
// only the diffusion cells. Threshold and factor cells take their step
// count from the data, so they do not multiply by Steps.
type DiffusionAxes struct {
	Steps       []int     `yaml:"steps" json:"steps"`               // empty (and no threshold or factor): the generation length
	BlockLength []int     `yaml:"block_length" json:"block_length"` // empty: the generation length
	Remasking   []string  `yaml:"remasking" json:"remasking"`
	Cache       []string  `yaml:"cache" json:"cache"`
	Threshold   []float64 `yaml:"threshold" json:"threshold"` // 0: off
	Factor      []float64 `yaml:"factor" json:"factor"`       // 0: off
	Temperature float64   `yaml:"temperature" json:"temperature"`
	CFGScale    float64   `yaml:"cfg_scale" json:"cfg_scale"`
}

// ARSettings configure autoregressive cells: a fixed generation length
// (EOS ignored) with greedy or sampled tokens.
type ARSettings struct {
	Temperature float64 `yaml:"temperature" json:"temperature"`
	TopK        int     `yaml:"top_k" json:"top_k"`
	TopP        float64 `yaml:"top_p" json:"top_p"`
}

// QualitySpec configures the quality metrics computed after generation.
type QualitySpec struct {
	Judge     string `yaml:"judge" json:"judge,omitempty"` // causal model for generative perplexity; default: the grid's first causal model
	BERTScore bool   `yaml:"bertscore" json:"bertscore"`
	Encoder   string `yaml:"bertscore_model" json:"bertscore_model,omitempty"`
	Layer     int    `yaml:"bertscore_layer" json:"bertscore_layer,omitempty"` // the encoder layer compared; 0: bert_score's for the encoder
	Task      string `yaml:"task" json:"task,omitempty"`                       // a JSONL task file for accuracy; see Grid.QualityTask
}

// Cell is one measured configuration: a model and one value of every axis
// that applies to its family. Fields of the other family stay zero.
type Cell struct {
	Model     string `json:"model"`    // label
	ModelID   string `json:"model_id"` // as the grid names it
	Family    string `json:"family"`   // llama or llada
	Batch     int    `json:"batch_size"`
	PromptLen int    `json:"prompt_length"`
	GenLen    int    `json:"gen_length"`

	Steps       int     `json:"steps,omitempty"`
	BlockLen    int     `json:"block_length,omitempty"`
	Remasking   string  `json:"remasking,omitempty"`
	Cache       string  `json:"cache,omitempty"`
	Threshold   float64 `json:"threshold,omitempty"`
	Factor      float64 `json:"factor,omitempty"`
	CFGScale    float64 `json:"cfg_scale,omitempty"`
	Temperature float64 `json:"temperature"`
	TopK        int     `json:"top_k,omitempty"`
	TopP        float64 `json:"top_p,omitempty"`

	Precision string `json:"precision"`
	Backend   string `json:"backend"` // as requested (auto, cpu, cuda)
}

// Diffusion reports whether the cell decodes with LLaDA's diffusion.
func (c Cell) Diffusion() bool { return c.Family == "llada" }

// Name is a short readable identifier of the cell for logs and tables.
func (c Cell) Name() string {
	s := fmt.Sprintf("%s b%d p%d g%d", c.Model, c.Batch, c.PromptLen, c.GenLen)
	if c.Diffusion() {
		switch {
		case c.Threshold > 0:
			s += " thr" + strconv.FormatFloat(c.Threshold, 'g', -1, 64)
		case c.Factor > 0:
			s += " fac" + strconv.FormatFloat(c.Factor, 'g', -1, 64)
		default:
			s += fmt.Sprintf(" s%d", c.Steps)
		}
		s += fmt.Sprintf(" blk%d %s", c.BlockLen, c.Cache)
		if c.Remasking != "low_confidence" {
			s += " " + c.Remasking
		}
	}
	return s
}

// Key identifies a cell's measurement: its parameters together with what
// else decides the result (model revision, prompt set, repetitions, warm-up,
// the pause before it). A record is reused on resume only under the same
// key.
func Key(c Cell, modelRevision, promptSet string, repetitions, warmup int, delay float64) string {
	b, err := json.Marshal(struct {
		Cell        Cell    `json:"cell"`
		Revision    string  `json:"revision"`
		Prompts     string  `json:"prompts"`
		Repetitions int     `json:"repetitions"`
		Warmup      int     `json:"warmup"`
		Delay       float64 `json:"delay,omitempty"` // left out at 0: the keys of records before it stay
	}{c, modelRevision, promptSet, repetitions, warmup, delay})
	if err != nil {
		panic(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:12])
}

// Skipped is a combination of axes that cannot run, with the reason; grids
// report them rather than drop them silently.
type Skipped struct {
	Cell   Cell   `json:"cell"`
	Reason string `json:"reason"`
}

// Expand lists the cells of a grid for models whose families are given
// (in the order of g.Models), and the combinations that are invalid.
// Diffusion axes multiply only LLaDA cells.
func Expand(g *Grid, families []string) (cells []Cell, skipped []Skipped) {
	d := g.Diffusion
	for mi, m := range g.Models {
		fam := families[mi]
		for _, gen := range g.GenLengths {
			for _, pl := range g.PromptLengths {
				for _, bs := range g.BatchSizes {
					base := Cell{Model: m.Label(), ModelID: m.ID, Family: fam, Batch: bs, PromptLen: pl, GenLen: gen,
						Precision: g.Precision, Backend: g.Backend}
					if fam != "llada" {
						base.Temperature, base.TopK, base.TopP = g.Autoregressive.Temperature, g.Autoregressive.TopK, g.Autoregressive.TopP
						cells = append(cells, base)
						continue
					}
					base.Temperature, base.CFGScale = d.Temperature, d.CFGScale
					blocks := d.BlockLength
					if len(blocks) == 0 {
						blocks = []int{gen}
					}
					remask := orDefault(d.Remasking, "low_confidence")
					caches := orDefault(d.Cache, "none")
					var rules []Cell // the step rule: fixed steps, or a threshold, or a factor
					for _, s := range d.Steps {
						rules = append(rules, Cell{Steps: s})
					}
					if len(d.Steps) == 0 && len(d.Threshold) == 0 && len(d.Factor) == 0 {
						rules = append(rules, Cell{Steps: gen}) // LLaDA's default: one token per step
					}
					for _, t := range d.Threshold {
						if t != 0 {
							rules = append(rules, Cell{Threshold: t})
						}
					}
					for _, f := range d.Factor {
						if f != 0 {
							rules = append(rules, Cell{Factor: f})
						}
					}
					for _, blk := range blocks {
						for _, rm := range remask {
							for _, cache := range caches {
								for _, r := range rules {
									c := base
									c.BlockLen, c.Remasking, c.Cache = blk, rm, cache
									c.Steps, c.Threshold, c.Factor = r.Steps, r.Threshold, r.Factor
									if why := invalidDiffusion(c); why != "" {
										skipped = append(skipped, Skipped{c, why})
										continue
									}
									if !slices.Contains(cells, c) {
										cells = append(cells, c)
									}
								}
							}
						}
					}
				}
			}
		}
	}
	return cells, skipped
}

// ExpandModels is Expand for models whose configs are given (in the order
// of g.Models): cells whose prompt and generation do not fit the model's
// context (max_position_embeddings, LLaDA's max_sequence_length) are
// invalid too, which the decoders would refuse only once the model is
// loaded. The run, its dry run and SLURM's shards all list cells with it,
// so that they agree on the order.
func ExpandModels(g *Grid, cfgs []*model.Config) (cells []Cell, skipped []Skipped) {
	families := make([]string, len(cfgs))
	for i, c := range cfgs {
		families[i] = c.Family.String()
	}
	all, skipped := Expand(g, families)
	context := map[string]int{}
	for i, m := range g.Models {
		context[m.Label()] = cfgs[i].MaxSeqLen
	}
	for _, c := range all {
		if n := context[c.Model]; c.PromptLen+c.GenLen > n {
			skipped = append(skipped, Skipped{c, fmt.Sprintf("prompt_length %d + gen_length %d exceed the model's context of %d tokens",
				c.PromptLen, c.GenLen, n)})
			continue
		}
		cells = append(cells, c)
	}
	return cells, skipped
}

// ErrNoValidCell is the error of GridCells for a grid all of whose cells
// are invalid combinations.
var ErrNoValidCell = errors.New("no valid cell")

// GridCells reads the config.json of each model of g (where Locate finds
// it; weights stay where they are) and expands the grid with
// ExpandModels. A grid without a valid cell is an error wrapping
// ErrNoValidCell that gives the first reason (the others are often the
// same).
func GridCells(g *Grid) (cells []Cell, skipped []Skipped, cfgs []*model.Config, err error) {
	for _, m := range g.Models {
		dir, err := Locate(m)
		if err != nil {
			return nil, nil, nil, err
		}
		c, err := model.LoadConfig(dir)
		if err != nil {
			return nil, nil, nil, err
		}
		cfgs = append(cfgs, c)
	}
	cells, skipped = ExpandModels(g, cfgs)
	if len(cells) == 0 {
		why := ""
		if len(skipped) > 0 {
			why = fmt.Sprintf(": %s: %s (the first of %d invalid combinations)", skipped[0].Cell.Name(), skipped[0].Reason, len(skipped))
		}
		return nil, nil, nil, fmt.Errorf("grid %s has %w%s", g.Name, ErrNoValidCell, why)
	}
	return cells, skipped, cfgs, nil
}

func orDefault(v []string, def string) []string {
	if len(v) == 0 {
		return []string{def}
	}
	return v
}

// invalidDiffusion explains why a diffusion cell cannot run, or returns "":
// the decoder's own check (decode.DiffusionOptions.Check), in the grid's
// names of its settings.
func invalidDiffusion(c Cell) string {
	if err := c.diffusionOptions().Check(); err != nil {
		return gridNames.Replace(strings.TrimPrefix(err.Error(), "decode: "))
	}
	return ""
}

// gridNames spells the decoder's flag names as a grid writes them.
var gridNames = strings.NewReplacer("--", "", "gen-length", "gen_length", "block-length", "block_length",
	"cfg-scale", "cfg_scale")

// diffusionOptions are the decoder's options for a diffusion cell.
func (c Cell) diffusionOptions() decode.DiffusionOptions {
	return decode.DiffusionOptions{GenLength: c.GenLen, Steps: c.Steps, BlockLength: c.BlockLen,
		Remasking: decode.Remasking(c.Remasking), Temperature: c.Temperature, CFGScale: c.CFGScale,
		Cache: decode.Cache(c.Cache), Threshold: c.Threshold, Factor: c.Factor}
}
