package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"dllmbench/internal/files"
	"dllmbench/prompts"
)

// SchemaVersion is the version of Record; readers refuse newer ones and
// give older ones this version's meaning (Record.upgrade). Version 2 pools
// the inter-token latency over a cell's repetitions (Pooled[MITL]) where
// version 1 averaged each repetition's percentiles.
const SchemaVersion = 2

// Record is one measured cell: one line of a records/*.jsonl file.
type Record struct {
	Schema   int       `json:"schema_version"`
	Key      string    `json:"key"`
	Grid     string    `json:"grid"`
	Cell     Cell      `json:"cell"`
	Status   string    `json:"status"` // "ok" or "failed"
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_s"` // the whole cell, loading excluded
	// PausedS is the pause before the cell (the grid's delay; none before
	// the first cell a process measures).
	PausedS float64 `json:"paused_s,omitempty"`

	Env   Env       `json:"env"`
	Model ModelInfo `json:"model"`

	// Prompts of the cell, each with this model's token ids, and the
	// generations of the last repetition (ids and text), so quality can be
	// computed later without generating again.
	Prompts      []PromptRecord  `json:"prompts"`
	PromptSource *prompts.Origin `json:"prompt_source,omitempty"`
	Outputs      [][]int         `json:"outputs"`
	Texts        []string        `json:"texts,omitempty"`

	Reps  []Rep           `json:"repetitions"`
	Stats map[string]Stat `json:"stats"`
	// Pooled summarises the per-batch metrics named there (MLatency, and
	// for an autoregressive cell MTTFT, MTPOT and MITL) over every sample
	// of every repetition as one set (pooled); a metric without samples
	// (TPOT and ITL of one generated token) is absent.
	Pooled map[string]Dist `json:"pooled,omitempty"`
	// EnergyNote says why the repetitions have no energy where the device
	// has a counter: NVML's moves every 100 ms, so repetitions that span
	// less than a second together are not measured.
	EnergyNote string `json:"energy_note,omitempty"`

	Memory   Memory   `json:"memory"`
	Roofline Roofline `json:"roofline"`
}

// PromptRecord is one prompt as a model saw it.
type PromptRecord struct {
	Text      string `json:"text"`
	Reference string `json:"reference,omitempty"`
	IDs       []int  `json:"ids"`
}

// ModelInfo identifies the model a record measured.
type ModelInfo struct {
	ID        string `json:"id"`
	Dir       string `json:"dir"`
	Revision  string `json:"revision,omitempty"` // hub snapshot commit, when resolved from the hub
	Arch      string `json:"arch"`
	Params    int64  `json:"params"`
	WeightDT  string `json:"weight_dtype"`
	CacheDT   string `json:"cache_dtype,omitempty"` // of the key/value cache; absent from records before it could be BF16 (F32 then)
	ConfigSHA string `json:"config_sha256"`
	TokSHA    string `json:"tokenizer_sha256,omitempty"`
}

// Rep is one repetition: every prompt of the cell, in batches.
type Rep struct {
	Batches []BatchMeasure `json:"batches"`
	TotalS  float64        `json:"total_s"`
	// Tokens generated per second (prompt tokens never count), and the
	// tokens up to each sequence's first EOS per second.
	TokensPerS       float64 `json:"tokens_per_s"`
	UsefulTokensPerS float64 `json:"useful_tokens_per_s"`
	// The energy the device spent during the repetition: the difference
	// of two readings of a counter that moves continuously (RAPL), or the
	// repetition's share of a stepped one (NVML), read off the line through
	// its steps over all the cell's repetitions (Record.EnergyNote says why
	// where there is none).
	EnergyJ      *float64 `json:"energy_j,omitempty"`
	EnergySource string   `json:"energy_source,omitempty"`
	// The GPU's SM clock during the repetition, where the device reports
	// it (NVML).
	Clocks *Clocks `json:"clocks,omitempty"`
}

// BatchMeasure is the timing of one batch of prompts.
type BatchMeasure struct {
	Rows     int     `json:"rows"`
	LatencyS float64 `json:"latency_s"`
	// The same interval by the device's clock (compute.DeviceTimer): from
	// the device reaching a marker queued just before the batch to one
	// queued just after it. 0 (left out) where the backend has no device
	// timer. The decoders wait for the device at every step (greedy
	// fixed-schedule diffusion: at the end of each block) and at the end,
	// so it matches LatencyS to within the markers' cost; more would be
	// device work the host's clock missed.
	DeviceLatencyS float64 `json:"device_latency_s,omitempty"`
	// Autoregressive: time to first token and when each later token was
	// known, from LatencyS's start (so TTFT, like the latency, includes
	// the decoder's checks of the batch before its prefill).
	TTFTS       float64   `json:"ttft_s,omitempty"`
	TokenTimesS []float64 `json:"token_times_s,omitempty"`
	// Diffusion: when each forward call ended, from LatencyS's start (for steps
	// queued on the device, by its markers from the host's time at the
	// start of their block: decode.DiffusionOptions.HostCommit); tokens
	// each call committed summed over rows.
	StepTimesS    []float64 `json:"step_times_s,omitempty"`
	TokensPerStep []int     `json:"tokens_per_step,omitempty"`
	NFE           int       `json:"nfe"`
	Processed     int       `json:"processed"` // token positions run through the network
	Generated     int       `json:"generated"` // generated tokens, all rows
	Useful        int       `json:"useful"`    // tokens before each row's first EOS
}

// TPOT is an autoregressive batch's time per output token after the first,
// (latency − TTFT) / (tokens − 1); false for a batch of one token, which
// has none.
func (b BatchMeasure) TPOT() (float64, bool) {
	n := len(b.TokenTimesS)
	if n < 2 {
		return 0, false
	}
	return (b.LatencyS - b.TTFTS) / float64(n-1), true
}

// Stat summarises a metric over repetitions.
type Stat struct {
	Mean   float64 `json:"mean"`
	Std    float64 `json:"std"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// Dist summarises a metric's samples pooled over a cell's repetitions
// (Pool).
type Dist struct {
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	Std    float64 `json:"std"` // the population's: n in the denominator, as numpy's std
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	P99    float64 `json:"p99"`
}

// Memory is what the cell held, in bytes.
type Memory struct {
	Weights     int64 `json:"weights"`
	Cache       int64 `json:"cache"`
	Activations int64 `json:"activations"`
	Workspace   int64 `json:"workspace"`
	DevicePeak  int64 `json:"device_peak,omitempty"` // backend allocator peak during the cell (GPU)
	ProcessRSS  int64 `json:"process_rss"`
	ProcessPeak int64 `json:"process_peak_rss"` // during the cell, where the system can restart its count (Linux)
	// NVML's device memory of this process and of the whole card at the
	// end of the cell's repetitions (the run state still held): readings,
	// not peaks.
	NVMLProcess int64 `json:"nvml_process,omitempty"`
	NVMLDevice  int64 `json:"nvml_device,omitempty"`
}

// Roofline is the work of one repetition and the rates achieved.
type Roofline struct {
	Bytes float64 `json:"bytes"` // weight bytes read
	FLOPs float64 `json:"flops"` // multiply-adds × 2
	// CallBytes is the weight bytes one forward call reads: every matrix
	// (the LM head included) but an untied embedding table, a lookup.
	CallBytes int64   `json:"weight_bytes_per_call,omitempty"`
	GBPerS    float64 `json:"gb_per_s"`
	TFLOPS    float64 `json:"tflop_per_s"`
	Comment   string  `json:"comment,omitempty"`
}

// Writer appends records to one JSONL file, syncing each line to disk
// before the next cell starts: a killed run loses at most the cell in
// flight.
type Writer struct {
	f    *os.File // nil until the file is opened
	path string
}

// NewWriter makes the writer of dir/records/<name>.jsonl. A file there
// already (a name given again) is opened for appending now, and a torn
// last line, as a killed writer leaves it, is cut off: appended to, it
// would glue the next record onto itself and make the file unreadable
// (ReadRecords skips it, so a rerun measures its cell again). A new file
// is created only with the first record, so that a run with nothing left
// to measure leaves no empty file behind (every rerun added one).
func NewWriter(dir, name string) (*Writer, error) {
	rd := filepath.Join(dir, "records")
	if err := os.MkdirAll(rd, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	w := &Writer{path: filepath.Join(rd, name+".jsonl")}
	if _, err := os.Lstat(w.path); err == nil {
		if err := w.open(); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return w, nil
}

// open opens or creates the file for appending, its last line repaired.
func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := endLine(f); err != nil {
		f.Close()
		return fmt.Errorf("bench: %s: %w", w.path, err)
	}
	w.f = f
	return nil
}

// endLine makes f end with a newline, as ReadRecords reads it: a last line
// without one is cut off where it is not JSON (a torn record) and given its
// newline where it is (a record whole but for the newline, which
// ReadRecords reads and a resumed run counts as measured).
func endLine(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	var buf [4096]byte
	start := int64(0) // of the last line
	for end := size; end > 0; {
		n := min(end, int64(len(buf)))
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			start = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if start == size {
		return nil // empty, or ends with a newline
	}
	last := make([]byte, size-start)
	if _, err := f.ReadAt(last, start); err != nil {
		return err
	}
	if json.Valid(last) {
		_, err = f.Write([]byte{'\n'})
		return err
	}
	return f.Truncate(start)
}

// Path is the file written to; it exists once a record is written, or
// when it existed before.
func (w *Writer) Path() string { return w.path }

// Write appends r and syncs.
func (w *Writer) Write(r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("bench: encoding record %s: %w", r.Key, err)
	}
	b = append(b, '\n')
	if w.f == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	if _, err := w.f.Write(b); err != nil {
		return fmt.Errorf("bench: writing %s: %w", w.path, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("bench: syncing %s: %w", w.path, err)
	}
	return nil
}

// Close closes the file, if it was opened.
func (w *Writer) Close() error {
	if w.f == nil {
		return nil
	}
	return w.f.Close()
}

// ReadRecords reads JSONL record files (or directories of them: their
// records/*.jsonl, or *.jsonl). A torn last line, as a killed writer leaves
// it, is skipped; a malformed line elsewhere is an error naming it.
func ReadRecords(paths ...string) ([]Record, error) {
	var names []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		if !st.IsDir() {
			names = append(names, p)
			continue
		}
		m := files.Glob(filepath.Join(p, "records"), "*.jsonl")
		if len(m) == 0 {
			m = files.Glob(p, "*.jsonl")
		}
		names = append(names, m...)
	}
	var out []Record
	for _, f := range names {
		rs, err := readFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

func readFile(path string) ([]Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var out []Record
	r := bufio.NewReader(bytes.NewReader(data))
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		complete := err == nil
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("bench: %s: %w", path, err)
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			var rec Record
			if jerr := json.Unmarshal([]byte(s), &rec); jerr != nil {
				if !complete {
					break // a torn final line: the writer was killed mid-write
				}
				return nil, fmt.Errorf("bench: %s:%d: not a record: %v", path, line, jerr)
			}
			if rec.Schema == 0 || rec.Key == "" {
				return nil, fmt.Errorf("bench: %s:%d: not a dllmbench record (no schema_version or key)", path, line)
			}
			if rec.Schema > SchemaVersion {
				return nil, fmt.Errorf("bench: %s:%d: schema version %d is newer than this dllmbench (%d)", path, line, rec.Schema, SchemaVersion)
			}
			rec.upgrade()
			out = append(out, rec)
		}
		if !complete {
			break
		}
	}
	return out, nil
}

// upgrade gives a record of an older schema this one's meaning, from the
// measurements it holds. Schema 1 summarised the inter-token latency by
// each repetition's percentiles (Stats' itl_p50_s, itl_p90_s and
// itl_p99_s), then their mean ± std over repetitions; schema 2 pools every
// gap of the cell (Pooled[MITL]), and the batches' latencies, TTFTs and
// TPOTs, and keeps each repetition's mean gap in Stats[MITL]. The old
// entries go, rather than stand beside the new with another meaning, and
// the new are computed from the batch times of the record's repetitions,
// which schema 1 records hold.
func (r *Record) upgrade() {
	if r.Schema < 2 {
		for _, k := range []string{"itl_p50_s", "itl_p90_s", "itl_p99_s"} {
			delete(r.Stats, k)
		}
		if st, ok := itlMeans(r.Reps); ok && !r.Cell.Diffusion() {
			if r.Stats == nil {
				r.Stats = map[string]Stat{}
			}
			r.Stats[MITL] = st
		}
		r.Pooled = pooled(r.Reps, r.Cell.Diffusion())
		r.Schema = 2
	}
}

// Latest keeps one record per key, preferring a successful one, then the
// latest; records from several runs or jobs merge without duplicates.
func Latest(recs []Record) []Record {
	best := map[string]int{}
	var order []string
	for i, r := range recs {
		j, ok := best[r.Key]
		if !ok {
			best[r.Key] = i
			order = append(order, r.Key)
			continue
		}
		old := recs[j]
		if (r.Status == "ok") != (old.Status == "ok") {
			if r.Status == "ok" {
				best[r.Key] = i
			}
			continue
		}
		if !r.Started.Before(old.Started) {
			best[r.Key] = i
		}
	}
	out := make([]Record, 0, len(order))
	for _, k := range order {
		out = append(out, recs[best[k]])
	}
	return out
}
