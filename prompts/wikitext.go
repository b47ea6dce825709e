package prompts

import (
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"

	"dllmbench/hub"
)

// minWords is the shortest paragraph kept, in blank-separated words
// (WikiText's raw text separates punctuation too); shorter ones cannot give
// both a prompt and a reference of useful length.
const minWords = 40

// wikiSubset is the first 22 articles of wiki.valid.raw, shipped so that
// the wikitext source works without a download (data/LICENSE.md).
//
//go:embed data/wikitext-103-valid-subset.raw
var wikiSubset string

const wikiSubsetName = "prompts/data/wikitext-103-valid-subset.raw"

// The validation split in the hub's dataset repository, one row per line of
// wiki.valid.raw as HF datasets stores it.
const (
	wikiRepo    = "Salesforce/wikitext"
	wikiParquet = "wikitext-103-raw-v1/validation-00000-of-00001.parquet"
)

// loadWikiText reads WikiText-103 validation paragraphs from o.Path, else
// the hub cache, else the embedded subset.
func loadWikiText(o Options) ([]Doc, Origin, error) {
	org := Origin{Source: "wikitext", Licence: wikiLicence}
	var (
		lines []string
		err   error
	)
	switch {
	case o.Path != "":
		org.From, org.Path = "file", o.Path
		lines, err = readWikiFile(o.Path)
	default:
		org.Path, org.Revision, err = findHubParquet(o.HubCache)
		if err != nil {
			return nil, Origin{}, err
		}
		if org.Path != "" {
			org.From = "hub"
			lines, err = readParquetFile(org.Path)
		} else {
			org.From, org.Path = "embedded", wikiSubsetName
			lines = strings.Split(wikiSubset, "\n")
		}
	}
	if err != nil {
		return nil, Origin{}, err
	}
	docs := paragraphs(lines)
	if len(docs) == 0 {
		return nil, Origin{}, fmt.Errorf("prompts: %s: no WikiText paragraphs of %d words or more", org.Path, minWords)
	}
	return docs, org, nil
}

// paragraphs returns the paragraphs among lines of WikiText raw text: the
// non-empty lines that are not headings (" = Title = ", " = = Section = = "),
// stripped, of minWords words or more. A line may hold several lines, as a
// parquet row with its line end does.
func paragraphs(lines []string) []Doc {
	var docs []Doc
	for _, row := range lines {
		for line := range strings.Lines(row) {
			p := strings.TrimSpace(line)
			if p == "" || strings.HasPrefix(p, "=") && strings.HasSuffix(p, "=") {
				continue
			}
			if len(strings.Fields(p)) >= minWords {
				docs = append(docs, Doc{Text: p})
			}
		}
	}
	return docs
}

// readWikiFile reads a raw WikiText file, or a parquet file (told apart by
// its magic bytes) with a text column of lines.
func readWikiFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("prompts: wikitext %w", err)
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err == nil && string(magic) == "PAR1" {
		return readParquet(f, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("prompts: wikitext %w", err)
	}
	return strings.Split(string(b), "\n"), nil
}

func readParquetFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("prompts: wikitext %w", err)
	}
	defer f.Close()
	return readParquet(f, path)
}

// readParquet returns the strings of the file's top-level column "text",
// one per row; a null row gives "".
func readParquet(f *os.File, path string) ([]string, error) {
	bad := func(format string, a ...any) ([]string, error) {
		return nil, fmt.Errorf("prompts: %s: unreadable parquet: "+format, append([]any{path}, a...)...)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("prompts: wikitext %w", err)
	}
	pf, err := parquet.OpenFile(f, fi.Size(), parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true))
	if err != nil {
		return bad("%v", err)
	}
	col := pf.Root().Column("text")
	if col == nil {
		var names []string
		for _, c := range pf.Root().Columns() {
			names = append(names, c.Name())
		}
		return bad("no column \"text\" (it has %s)", strings.Join(names, ", "))
	}
	if !col.Leaf() || col.Repeated() || col.Type().Kind() != parquet.ByteArray {
		return bad("column \"text\" is %s, not a string column", col)
	}
	pages := col.Pages()
	defer pages.Close()
	rows := make([]string, 0, pf.NumRows())
	vals := make([]parquet.Value, 256)
	for {
		page, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return bad("%v", err)
		}
		r := page.Values()
		for {
			n, err := r.ReadValues(vals)
			for _, v := range vals[:n] {
				rows = append(rows, string(v.ByteArray())) // a copy: the page's memory goes back to a pool
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				parquet.Release(page)
				return bad("%v", err)
			}
		}
		parquet.Release(page)
	}
	if int64(len(rows)) != pf.NumRows() {
		return bad("%d values in column \"text\" for %d rows", len(rows), pf.NumRows())
	}
	return rows, nil
}

// findHubParquet returns the validation parquet in the hub cache (cache, or
// where the HF environment variables put it) and its snapshot's commit: in
// the snapshot refs/main names when that has the file, else in the snapshot
// modified last. It returns "" when the cache has no such file.
func findHubParquet(cache string) (path, commit string, err error) {
	c, err := hub.New(hub.Options{Cache: cache, Offline: true})
	if err != nil {
		return "", "", fmt.Errorf("prompts: wikitext: %w", err)
	}
	snap, err := c.Snapshot(hub.Dataset, wikiRepo, "main")
	switch {
	case err == nil:
		p := filepath.Join(snap, filepath.FromSlash(wikiParquet))
		if _, err := os.Lstat(p); err == nil {
			return p, filepath.Base(snap), nil
		}
	case !errors.Is(err, hub.ErrNotCached):
		return "", "", fmt.Errorf("prompts: wikitext: %w", err)
	}
	dir := filepath.Join(c.Cache, "datasets--"+strings.ReplaceAll(wikiRepo, "/", "--"), "snapshots")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("prompts: wikitext: hub cache: %w", err)
	}
	type found struct {
		path, commit string
		mod          int64
	}
	var all []found
	for _, e := range entries {
		p := filepath.Join(dir, e.Name(), filepath.FromSlash(wikiParquet))
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		var mod int64
		if fi, err := e.Info(); err == nil {
			mod = fi.ModTime().UnixNano()
		}
		all = append(all, found{p, e.Name(), mod})
	}
	if len(all) == 0 {
		return "", "", nil
	}
	// The newest snapshot, and among equally new ones the first by name, so
	// that the choice does not depend on the order of directory entries.
	best := slices.MinFunc(all, func(a, b found) int {
		if c := cmp.Compare(b.mod, a.mod); c != 0 {
			return c
		}
		return strings.Compare(a.commit, b.commit)
	})
	return best.path, best.commit, nil
}
