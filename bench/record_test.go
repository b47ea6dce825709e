package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
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
