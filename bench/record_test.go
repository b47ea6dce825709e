package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recordLine is a minimal record as one line of a records file.
func recordLine(t *testing.T, key string) string {
	t.Helper()
	b, err := json.Marshal(&Record{Schema: SchemaVersion, Key: key, Grid: "test", Status: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// ReadRecords reads what a writer wrote and refuses, naming the line, any
// JSON that is not a record: a file named by mistake must not become an
// empty failed cell whose report replaces a folder's outputs.
func TestReadRecordsRefusesOtherJSON(t *testing.T) {
	task, err := os.ReadFile(filepath.Join("..", "testdata", "tasks", "gsm8k-mini.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	good := recordLine(t, "k1")
	const refused = "not a dllmbench record (no schema_version or key)"
	for _, tc := range []struct {
		name string
		data string
		keys []string // read, where no error
		want string   // the error, "FILE:LINE: ..." with FILE the file's path
	}{
		// One record a line, the last ended or not.
		{"records", good + recordLine(t, "k2"), []string{"k1", "k2"}, ""},
		{"last line without its newline", good + strings.TrimSuffix(recordLine(t, "k2"), "\n"), []string{"k1", "k2"}, ""},
		// A torn last line, as a killed writer leaves it, is skipped.
		{"torn last line", good + recordLine(t, "k2")[:20], []string{"k1"}, ""},
		// A task file (gsm8k's {"question", "answer"}) named for records.
		{"task file", string(task), nil, ":1: " + refused},
		{"empty object", "{}\n", nil, ":1: " + refused},
		{"null", good + "null\n", nil, ":2: " + refused},
		{"no schema version", good + `{"key": "k2"}` + "\n", nil, ":2: " + refused},
		{"no key", `{"schema_version": 1}` + "\n" + good, nil, ":1: " + refused},
		{"whole but no newline", good + "{}", nil, ":2: " + refused},
		{"not JSON", "hello\n" + good, nil, ":1: not a record: invalid character 'h'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "r.jsonl")
			if err := os.WriteFile(p, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			recs, err := ReadRecords(p)
			if tc.want != "" {
				if err == nil || !strings.HasPrefix(err.Error(), "bench: "+p+tc.want) {
					t.Fatalf("error %v, want %q", err, "bench: "+p+tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.keys, keysOf(recs)); d != "" {
				t.Errorf("keys (-want +got):\n%s", d)
			}
		})
	}
}

// NewWriter on a file whose last line lacks its newline: a torn record (a
// writer killed mid-line) is dropped, as ReadRecords drops it, and a whole
// one kept; either way the next record starts a line of its own and the
// folder reads back. Records longer than NewWriter's 4 KiB read-back buffer
// check that the last newline is found across its reads.
func TestWriterAfterTornLine(t *testing.T) {
	long := strings.Repeat("x", 10000)
	big := func(key string) string {
		b, err := json.Marshal(&Record{Schema: SchemaVersion, Key: key, Status: "failed", Error: long})
		if err != nil {
			t.Fatal(err)
		}
		return string(b) + "\n"
	}
	for _, tc := range []struct {
		name string
		data string
		keys []string // read back after writing "new"
	}{
		{"no file", "", []string{"new"}},
		{"whole lines", recordLine(t, "k1"), []string{"k1", "new"}},
		{"torn record", recordLine(t, "k1") + recordLine(t, "k2")[:30], []string{"k1", "new"}},
		{"torn first line", recordLine(t, "k1")[:30], []string{"new"}},
		{"torn long record", big("k1") + big("k2")[:9000], []string{"k1", "new"}},
		{"torn after a long record", big("k1") + recordLine(t, "k2")[:30], []string{"k1", "new"}},
		{"whole record but its newline", recordLine(t, "k1") + strings.TrimSuffix(big("k2"), "\n"), []string{"k1", "k2", "new"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.data != "" {
				if err := os.MkdirAll(filepath.Join(dir, "records"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "records", "r.jsonl"), []byte(tc.data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			w, err := NewWriter(dir, "r")
			if err != nil {
				t.Fatal(err)
			}
			err = w.Write(&Record{Schema: SchemaVersion, Key: "new", Status: "ok"})
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			recs, err := ReadRecords(dir)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.keys, keysOf(recs)); d != "" {
				t.Errorf("keys (-want +got):\n%s", d)
			}
		})
	}
}

// A writer that writes no record leaves no file, and leaves a file that
// was there as it was, torn last line cut: a run with nothing to measure
// left an empty records file at every rerun.
func TestWriterWithoutRecords(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, "none")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "records", "*")); len(m) != 0 {
		t.Errorf("a writer without records left %q", m)
	}
	old := filepath.Join(dir, "records", "old.jsonl")
	whole := recordLine(t, "k1")
	if err := os.WriteFile(old, []byte(whole+recordLine(t, "k2")[:30]), 0o644); err != nil {
		t.Fatal(err)
	}
	if w, err = NewWriter(dir, "old"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(old); err != nil || string(b) != whole {
		t.Errorf("the file a writer found: %q, %v; want its whole line only", b, err)
	}
}

// keysOf lists the records' keys in order.
func keysOf(recs []Record) []string {
	var keys []string
	for _, r := range recs {
		keys = append(keys, r.Key)
	}
	return keys
}

// A record of schema 1 is read with schema 2's meaning: its inter-token
// latency percentiles, each repetition's averaged over repetitions, are
// gone, and the pooled ones are computed from its repetitions' token times;
// nothing else changes. A diffusion record has none to compute, and a
// record of schema 2 keeps what it holds. One newer than this dllmbench
// is refused, naming its line.
func TestReadRecordsUpgradesSchema1(t *testing.T) {
	// As dllmbench wrote them before schema 2 (abridged): itlReps'
	// repetitions, with its per-repetition percentiles averaged.
	const ar1 = `{"schema_version":1,"key":"ar","cell":{"model":"llama","family":"llama","batch_size":1,"gen_length":4},"status":"ok",` +
		`"repetitions":[{"batches":[{"rows":1,"latency_s":0.05,"ttft_s":0.02,"token_times_s":[0.02,0.03,0.04,0.05],"nfe":4,"processed":7,"generated":4,"useful":4}],"total_s":0.05},` +
		`{"batches":[{"rows":1,"latency_s":0.09,"ttft_s":0.02,"token_times_s":[0.02,0.03,0.05,0.09],"nfe":4,"processed":7,"generated":4,"useful":4}],"total_s":0.09}],` +
		`"stats":{"latency_s":{"mean":0.07,"std":0.0282842712474619,"median":0.07,"min":0.05,"max":0.09,"n":2},` +
		`"itl_p50_s":{"mean":0.015,"std":0.00707,"median":0.015,"min":0.01,"max":0.02,"n":2},` +
		`"itl_p90_s":{"mean":0.023,"std":0.0184,"median":0.023,"min":0.01,"max":0.036,"n":2},` +
		`"itl_p99_s":{"mean":0.0248,"std":0.0209,"median":0.0248,"min":0.01,"max":0.0396,"n":2}}}`
	const diff1 = `{"schema_version":1,"key":"diff","cell":{"model":"llada","family":"llada","batch_size":1,"gen_length":4,"steps":2},"status":"ok",` +
		`"repetitions":[{"batches":[{"rows":1,"latency_s":2,"step_times_s":[1,2],"tokens_per_step":[2,2],"nfe":2,"processed":8,"generated":4,"useful":4}],"total_s":2}],` +
		`"stats":{"latency_s":{"mean":2,"std":0,"median":2,"min":2,"max":2,"n":1}}}`
	kept := Record{Schema: SchemaVersion, Key: "ar2", Status: "ok", Reps: itlReps(),
		Stats: map[string]Stat{MITL: {N: 2, Mean: 1}}, Pooled: map[string]Dist{MITL: {N: 99, Mean: 1}}}
	b, err := json.Marshal(&kept)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "r.jsonl")
	if err := os.WriteFile(p, []byte(ar1+"\n"+diff1+"\n"+string(b)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadRecords(p)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"ar", "diff", "ar2"}, keysOf(recs)); d != "" {
		t.Fatalf("keys (-want +got):\n%s", d)
	}
	for _, r := range recs {
		if r.Schema != SchemaVersion {
			t.Errorf("%s: schema %d, want %d", r.Key, r.Schema, SchemaVersion)
		}
	}
	ar := recs[0]
	wantStats := map[string]Stat{
		MLatency: {Mean: 0.07, Std: 0.0282842712474619, Median: 0.07, Min: 0.05, Max: 0.09, N: 2},
		MITL:     itlPerRep,
	}
	if d := cmp.Diff(wantStats, ar.Stats, approx); d != "" {
		t.Errorf("schema 1 stats, read (-want +got):\n%s", d)
	}
	if d := cmp.Diff(itlRepsPooled(), ar.Pooled, approx); d != "" {
		t.Errorf("schema 1 pooled, read (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]Stat{MLatency: {Mean: 2, Median: 2, Min: 2, Max: 2, N: 1}}, recs[1].Stats); d != "" {
		t.Errorf("schema 1 diffusion record's stats, read (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]Dist{MLatency: {N: 1, Mean: 2, Median: 2, P90: 2, P99: 2}}, recs[1].Pooled); d != "" {
		t.Errorf("schema 1 diffusion record's pool, read (-want +got):\n%s", d)
	}
	if d := cmp.Diff(kept.Pooled, recs[2].Pooled); d != "" {
		t.Errorf("schema %d record's pooled, read (-want +got):\n%s", SchemaVersion, d)
	}

	newer := strings.Replace(ar1, `"schema_version":1`, fmt.Sprintf(`"schema_version":%d`, SchemaVersion+1), 1)
	if err := os.WriteFile(p, []byte(diff1+"\n"+newer+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("bench: %s:2: schema version %d is newer than this dllmbench (%d)", p, SchemaVersion+1, SchemaVersion)
	if _, err := ReadRecords(p); err == nil || err.Error() != want {
		t.Errorf("a newer record: %v, want %q", err, want)
	}
}

// A results folder whose name holds pattern characters ("run[1]") gives
// its records, in file order, as any other.
func TestReadRecordsFolderWithPatternCharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run[1]")
	if err := os.MkdirAll(filepath.Join(dir, "records"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]string{"b.jsonl": "k2", "a.jsonl": "k1"} {
		if err := os.WriteFile(filepath.Join(dir, "records", name), []byte(recordLine(t, key)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := ReadRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range recs {
		keys = append(keys, r.Key)
	}
	if !slices.Equal(keys, []string{"k1", "k2"}) {
		t.Errorf("read keys %q from %s, want k1, k2", keys, dir)
	}
}
