package prompts

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"
)

// words returns a paragraph of n numbered words.
func words(prefix string, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = prefix + string(rune('a'+i%26))
	}
	return strings.Join(w, " ")
}

// rawSnippet is two articles in wiki.valid.raw's layout: a blank line of one
// space before and after each heading, a space before each paragraph and
// after it.
var rawSnippet = " \n = Alpha = \n \n " + words("a", 45) + " \n " + words("b", 12) + " \n \n = = Early life = = \n \n " +
	words("c", 40) + " \n \n = = = Notes = = = \n \n = Beta = \n \n " + words("d", 39) + " \n " + words("e", 60) + " \n"

func TestParagraphs(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want []Doc
	}{
		// Headings of all levels go; paragraphs under 40 words go; the rest
		// are stripped.
		{"two articles", rawSnippet, []Doc{{Text: words("a", 45)}, {Text: words("c", 40)}, {Text: words("e", 60)}}},
		// Windows line ends change nothing.
		{"CRLF", strings.ReplaceAll(rawSnippet, "\n", "\r\n"), []Doc{{Text: words("a", 45)}, {Text: words("c", 40)}, {Text: words("e", 60)}}},
		// A paragraph that merely starts with '=' is kept; a heading must
		// both start and end with it.
		{"equals inside", " = " + words("f", 40) + " \n", []Doc{{Text: "= " + words("f", 40)}}},
		// Nothing but headings and blanks.
		{"no paragraphs", " \n = Alpha = \n \n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := paragraphs(strings.Split(tt.raw, "\n"))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("paragraphs (-want +got):\n%s", diff)
			}
		})
	}
}

// Rows of the parquet files the test writes, as parquet-go maps them to
// the schema of HF datasets' wikitext files: one BYTE_ARRAY (STRING) column
// named text, optional as pyarrow writes it, or required.
type optionalRow struct {
	Text *string `parquet:"text,optional"`
}
type requiredRow struct {
	Text string `parquet:"text"`
}

// hfRows splits raw text into rows as HF datasets stores WikiText: one per
// line with its "\n", and "" for a blank line.
func hfRows(raw string) []string {
	var rows []string
	for line := range strings.Lines(raw) {
		if strings.TrimSpace(line) == "" {
			line = ""
		}
		rows = append(rows, line)
	}
	return rows
}

// writeParquet writes rows to a parquet file in dir, in small row groups and
// pages so that reading crosses both, snappy-compressed as HF's files are.
// With optional set, blank rows are written as nulls.
func writeParquet(t *testing.T, dir string, rows []string, optional bool) string {
	t.Helper()
	var buf bytes.Buffer
	opts := []parquet.WriterOption{parquet.MaxRowsPerRowGroup(7), parquet.PageBufferSize(512), parquet.Compression(&parquet.Snappy)}
	var err error
	if optional {
		rs := make([]optionalRow, len(rows))
		for i, r := range rows {
			if r != "" {
				rs[i].Text = &r
			}
		}
		err = parquet.Write(&buf, rs, opts...)
	} else {
		rs := make([]requiredRow, len(rows))
		for i, r := range rows {
			rs[i].Text = r
		}
		err = parquet.Write(&buf, rs, opts...)
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "validation.parquet")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestParquetMatchesRaw reads the same text as a raw file and as parquet
// files and wants the same documents.
func TestParquetMatchesRaw(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		optional bool
		want     int // documents
	}{
		// The snippet, with a required column.
		{"snippet required", rawSnippet, false, 3},
		// The snippet, with blank lines as nulls in an optional column.
		{"snippet optional", rawSnippet, true, 3},
		// The embedded subset: 22 articles, many row groups and pages. 431
		// is Python's count of stripped non-heading lines l with
		// len(l.split()) >= 40 in the file.
		{"subset optional", wikiSubset, true, 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rawPath := filepath.Join(dir, "wiki.valid.raw")
			if err := os.WriteFile(rawPath, []byte(tt.raw), 0o644); err != nil {
				t.Fatal(err)
			}
			pqPath := writeParquet(t, dir, hfRows(tt.raw), tt.optional)
			fromRaw, rawOrigin, err := Load(Options{Path: rawPath})
			if err != nil {
				t.Fatal(err)
			}
			fromParquet, pqOrigin, err := Load(Options{Path: pqPath})
			if err != nil {
				t.Fatal(err)
			}
			if len(fromRaw) != tt.want {
				t.Errorf("raw gives %d documents, want %d", len(fromRaw), tt.want)
			}
			if diff := cmp.Diff(fromRaw, fromParquet); diff != "" {
				t.Errorf("raw (-) and parquet (+) differ:\n%s", diff)
			}
			if rawOrigin.SHA256 != pqOrigin.SHA256 || pqOrigin.From != "file" || pqOrigin.Path != pqPath {
				t.Errorf("origins %+v and %+v", rawOrigin, pqOrigin)
			}
		})
	}
}

// TestParquetSchema checks that the test's files have the schema of HF's.
func TestParquetSchema(t *testing.T) {
	for _, optional := range []bool{false, true} {
		p := writeParquet(t, t.TempDir(), []string{"x"}, optional)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		pf, err := parquet.OpenFile(f, fi.Size())
		if err != nil {
			t.Fatal(err)
		}
		col := pf.Root().Column("text")
		lt := col.Type().LogicalType()
		if col.Type().Kind() != parquet.ByteArray || lt.String() != "STRING" || col.Optional() != optional {
			t.Errorf("optional %v: column %s", optional, col)
		}
		f.Close()
	}
}

// TestEmbeddedSubset checks the subset shipped in the binary.
// 431 documents: see TestParquetMatchesRaw.
func TestEmbeddedSubset(t *testing.T) {
	docs, org, err := Load(Options{HubCache: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	want := Origin{Source: "wikitext", From: "embedded", Path: wikiSubsetName, Licence: wikiLicence, Total: 431, Docs: 431}
	org.SHA256 = ""
	if diff := cmp.Diff(want, org); diff != "" {
		t.Errorf("origin (-want +got):\n%s", diff)
	}
	for _, d := range docs {
		if n := len(strings.Fields(d.Text)); n < minWords || d.Text != strings.TrimSpace(d.Text) || d.Reference != "" {
			t.Fatalf("%d words, reference %q: %q", n, d.Reference, d.Text)
		}
	}
	// The file is whole articles: it starts with the first one's heading
	// and ends where the next one's blank line would start.
	if !strings.HasPrefix(wikiSubset, " \n = Homarus gammarus = \n") || !strings.HasSuffix(wikiSubset, ". \n \n") {
		t.Errorf("subset does not hold whole articles")
	}
}

// hubLayout builds a hub cache with the validation parquet in the given
// snapshots (commit → text), refs/main naming main when not empty; the
// snapshots are modified in the order given, the last one newest.
func hubLayout(t *testing.T, main string, snaps ...[2]string) string {
	t.Helper()
	cache := t.TempDir()
	repo := filepath.Join(cache, "datasets--Salesforce--wikitext")
	for i, s := range snaps {
		snap := filepath.Join(repo, "snapshots", s[0])
		dir := filepath.Join(snap, "wikitext-103-raw-v1")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := writeParquet(t, dir, hfRows(s[1]), true)
		if err := os.Rename(p, filepath.Join(dir, "validation-00000-of-00001.parquet")); err != nil {
			t.Fatal(err)
		}
		mod := time.Date(2025, 1, 1+i, 0, 0, 0, 0, time.UTC)
		if err := os.Chtimes(snap, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	if main != "" {
		if err := os.MkdirAll(filepath.Join(repo, "refs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(main), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cache
}

func TestHubCache(t *testing.T) {
	const (
		c1 = "1111111111111111111111111111111111111111"
		c2 = "2222222222222222222222222222222222222222"
		c3 = "3333333333333333333333333333333333333333"
	)
	// One paragraph per snapshot, so the document says which was read.
	text := func(p string) string { return " \n = T = \n \n " + words(p, 40) + " \n" }
	tests := []struct {
		name   string
		main   string
		snaps  [][2]string
		env    string // "HF_HUB_CACHE" or "HF_HOME": give the cache through it, not Options
		commit string // the snapshot read; "" for the embedded subset
	}{
		// refs/main wins over a newer snapshot.
		{"refs main", c1, [][2]string{{c1, text("x")}, {c2, text("y")}}, "", c1},
		// Without refs/main, the newest snapshot.
		{"newest", "", [][2]string{{c3, text("x")}, {c1, text("y")}}, "", c1},
		// refs/main names a snapshot that is not there: the newest one.
		{"main missing", c3, [][2]string{{c1, text("x")}, {c2, text("y")}}, "", c2},
		// No dataset in the cache: the embedded subset.
		{"empty cache", "", nil, "", ""},
		// HF_HUB_CACHE names the cache.
		{"HF_HUB_CACHE", c1, [][2]string{{c1, text("x")}}, "HF_HUB_CACHE", c1},
		// HF_HOME/hub is the cache when HF_HUB_CACHE is not set.
		{"HF_HOME", c1, [][2]string{{c1, text("x")}}, "HF_HOME", c1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := hubLayout(t, tt.main, tt.snaps...)
			t.Setenv("HF_HUB_CACHE", "")
			t.Setenv("HUGGINGFACE_HUB_CACHE", "")
			t.Setenv("HF_HOME", t.TempDir()) // never the user's own cache
			o := Options{}
			switch tt.env {
			case "HF_HUB_CACHE":
				t.Setenv("HF_HUB_CACHE", cache)
			case "HF_HOME":
				home := t.TempDir()
				if err := os.Rename(cache, filepath.Join(home, "hub")); err != nil {
					t.Fatal(err)
				}
				cache = filepath.Join(home, "hub")
				t.Setenv("HF_HOME", home)
			default:
				o.HubCache = cache
			}
			docs, org, err := Load(o)
			if err != nil {
				t.Fatal(err)
			}
			if tt.commit == "" {
				if org.From != "embedded" {
					t.Errorf("read %+v, want the embedded subset", org)
				}
				return
			}
			wantPath := filepath.Join(cache, "datasets--Salesforce--wikitext", "snapshots", tt.commit, "wikitext-103-raw-v1", "validation-00000-of-00001.parquet")
			if org.From != "hub" || org.Revision != tt.commit || org.Path != wantPath {
				t.Errorf("read %+v, want snapshot %s", org, tt.commit)
			}
			for _, s := range tt.snaps {
				if s[0] == tt.commit && (len(docs) != 1 || docs[0].Text != strings.TrimSpace(paragraphs([]string{s[1]})[0].Text)) {
					t.Errorf("documents %q, not those of snapshot %s", docs, tt.commit)
				}
			}
		})
	}
}
