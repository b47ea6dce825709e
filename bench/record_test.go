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
			var keys []string
			for _, r := range recs {
				keys = append(keys, r.Key)
			}
			if d := cmp.Diff(tc.keys, keys); d != "" {
				t.Errorf("keys (-want +got):\n%s", d)
			}
		})
	}
}
