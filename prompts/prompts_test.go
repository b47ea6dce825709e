package prompts

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"
)

// writeRows writes rows to a parquet file at path.
func writeRows[T any](path string, rows []T) error {
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func TestHash(t *testing.T) {
	tests := []struct {
		name string
		docs []Doc
		want string
	}{
		// sha256 of nothing.
		{"none", nil, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		// From the Python in Hash's comment, docs = [(b"a b", b"ref"),
		// ("é".encode(), b"")]; lengths count bytes.
		{"two", []Doc{{"a b", "ref"}, {"é", ""}}, "3fddb4b2ddef76aa267a85bf5ef72b062e00c3931f6dbfc86a4f149b8b2786c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Hash(tt.docs); got != tt.want {
				t.Errorf("Hash = %s, want %s", got, tt.want)
			}
		})
	}
	// Moving text between Text and Reference changes the hash.
	if Hash([]Doc{{"ab", ""}}) == Hash([]Doc{{"a", "b"}}) {
		t.Error("Hash does not separate Text from Reference")
	}
}

// TestSelection checks that the same options give the same documents in the
// same order, that a smaller Max gives a prefix, and that the shuffle keeps
// every document.
func TestSelection(t *testing.T) {
	load := func(o Options) []Doc {
		t.Helper()
		o.HubCache = t.TempDir() // the embedded subset
		docs, org, err := Load(o)
		if err != nil {
			t.Fatal(err)
		}
		if org.Docs != len(docs) || org.SHA256 != Hash(docs) {
			t.Fatalf("origin %+v for %d documents", org, len(docs))
		}
		return docs
	}
	all := load(Options{Seed: 7})
	tests := []struct {
		name string
		o    Options
		want []Doc
	}{
		// Loading again gives the same order.
		{"again", Options{Seed: 7}, all},
		// Max keeps a prefix of the whole shuffle.
		{"max 5", Options{Seed: 7, Max: 5}, all[:5]},
		// Max beyond the count keeps all.
		{"max large", Options{Seed: 7, Max: 1 << 20}, all},
		// A negative Max keeps all.
		{"max negative", Options{Seed: 7, Max: -1}, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, load(tt.o)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	other := load(Options{Seed: 8})
	if cmp.Equal(all, other) {
		t.Error("seeds 7 and 8 give the same order")
	}
	byText := func(a, b Doc) int { return strings.Compare(a.Text, b.Text) }
	slices.SortFunc(all, byText)
	slices.SortFunc(other, byText)
	if !cmp.Equal(all, other) {
		t.Error("two shuffles hold different documents")
	}
}

// TestSelectionPinned pins what each source selects for a seed. Records key
// on the prompt set, so a change here (of the shuffle in math/rand/v2, the
// paragraph rules or the embedded files) makes old records incomparable:
// change these values only on purpose. They were recorded when the package
// was written.
func TestSelectionPinned(t *testing.T) {
	tests := []struct {
		name  string
		o     Options
		first string // the first document's first words
		hash  string
	}{
		// Five paragraphs of the embedded WikiText subset.
		{"wikitext", Options{Seed: 1, Max: 5}, "It is also the ' Papa ' of Vagaland", "f0f5050082473ab672b5769d87225782d9571bfe748d17623b1276f6e5d11633"},
		// Three of the demo pair's held-out prompts.
		{"builtin", Options{Source: "builtin", Seed: 1, Max: 3}, "The series depicts the everyday lives of", "17c3451e96f105842ba8aea84dca1bc27bc83674c966cb1d49c31213238f6674"},
		// Three 5-shot prompts of the GSM8K test problems of
		// testdata/tasks (recorded when the task source was added).
		{"task", Options{Source: "task", Path: "../testdata/tasks/gsm8k-mini.jsonl", Shots: 5, ShotsPath: "../testdata/tasks/gsm8k-mini-train.jsonl", Seed: 1, Max: 3},
			"Question: Natalia sold clips", "715eb18801fe711f8580c1ec1cb37cfb5a6dfa984b4688b8cb023af19bb3a496"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.HubCache = t.TempDir()
			docs, org, err := Load(tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(docs[0].Text, tt.first) || org.SHA256 != tt.hash {
				t.Errorf("first document %.40q, sha256 %s; want %q..., %s", docs[0].Text, org.SHA256, tt.first, tt.hash)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := writer(t, dir)
	headings := write("headings.raw", " \n = Alpha = \n \n "+words("a", 39)+" \n")
	garbage := write("garbage.parquet", "PAR1 not really parquet")
	type intRow struct {
		Text int64 `parquet:"text"`
	}
	type otherRow struct {
		Line string `parquet:"line"`
	}
	intCol := filepath.Join(dir, "int.parquet")
	otherCol := filepath.Join(dir, "other.parquet")
	if err := writeRows(intCol, []intRow{{1}}); err != nil {
		t.Fatal(err)
	}
	if err := writeRows(otherCol, []otherRow{{"x"}}); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.txt")
	tests := []struct {
		name string
		o    Options
		want string
	}{
		// A source Load does not know.
		{"unknown source", Options{Source: "c4"}, `prompts: unknown source "c4" (want wikitext, file, builtin or task)`},
		// The file source without a file.
		{"file without path", Options{Source: "file"}, "prompts: source file needs a path"},
		// builtin reads only what is embedded.
		{"builtin with path", Options{Source: "builtin", Path: headings}, "prompts: source builtin reads no path, got " + headings},
		// A prompt file that is not there.
		{"missing file", Options{Source: "file", Path: missing}, "prompts: open " + missing + ": no such file or directory"},
		// A WikiText file that is not there.
		{"missing wikitext", Options{Path: missing}, "prompts: wikitext open " + missing + ": no such file or directory"},
		// Only headings and a 39-word paragraph.
		{"no paragraphs", Options{Path: headings}, "prompts: " + headings + ": no WikiText paragraphs of 40 words or more"},
		// The parquet magic, then nothing parquet.
		{"garbage parquet", Options{Path: garbage}, "prompts: " + garbage + ": unreadable parquet: "},
		// A parquet file whose text column holds numbers.
		{"int column", Options{Path: intCol}, "prompts: " + intCol + `: unreadable parquet: column "text" is `},
		// A parquet file without a text column.
		{"no text column", Options{Path: otherCol}, "prompts: " + otherCol + `: unreadable parquet: no column "text" (it has line)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.HubCache = t.TempDir()
			_, _, err := Load(tt.o)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line starting %q", err, tt.want)
			}
		})
	}
}

// writer returns a function that writes text to the file name in dir and
// returns its path.
func writer(t *testing.T, dir string) func(name, text string) string {
	return func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
}
