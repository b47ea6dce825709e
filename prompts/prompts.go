// Package prompts loads the documents that benchmark prompts are cut from:
// paragraphs of WikiText-103's validation split, the lines of a user's file,
// or the held-out prompts of the built-in demo pair. It says what it read
// (Origin) so that records can name their prompt set. It reads GSM8K-style
// task files too (Problem), whose questions the quality step scores
// answers against.
//
// Tokenizing, and cutting a document into prompt and reference
// continuation, is the benchmark's job: a tokenizer decides where a prompt of
// N tokens ends.
package prompts

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
)

// Doc is one benchmark document.
type Doc struct {
	Text      string // the prompt, or a whole paragraph to be cut into prompt and reference
	Reference string // the expected continuation; empty when the source has none
}

// Options say which documents to load.
type Options struct {
	// Source is "wikitext" (the default when empty), "file", "builtin" or
	// "task".
	Source string
	// Path: for wikitext, a raw text or parquet file to read instead of
	// the hub cache; for file, the file (required); for task, the task
	// file whose problems are asked (required); builtin takes none.
	Path string
	// Shots, for task, is how many solved problems precede each question
	// (0: zero-shot); ShotsPath is the task file they are the first of,
	// by default Path (see [FewShot]). Other sources take neither.
	Shots     int
	ShotsPath string
	// Max is how many documents to keep after the shuffle; ≤ 0 keeps all.
	Max int
	// Seed drives the shuffle; the same options give the same documents in
	// the same order.
	Seed uint64
	// HubCache is the Hugging Face hub cache to look in for WikiText
	// (datasets--Salesforce--wikitext), instead of where huggingface_hub's
	// variables put it: HF_HUB_CACHE, else HF_HOME/hub, else
	// ~/.cache/huggingface/hub. Without the dataset there, the wikitext
	// source reads the subset embedded in the binary.
	HubCache string
}

// Origin says what Load read, for records.
type Origin struct {
	Source   string `json:"source"`             // wikitext, file, builtin or task
	From     string `json:"from"`               // "file", "hub" or "embedded"
	Path     string `json:"path"`               // the file read; for "embedded", its name in the source tree
	Revision string `json:"revision,omitempty"` // the hub snapshot's commit, for "hub"
	Licence  string `json:"licence,omitempty"`  // the text's licence, where known
	// Shots, for task only, is the solved problems each prompt holds
	// before its question (0 for zero-shot), the first of ShotsPath's, or
	// of Path's when ShotsPath is empty.
	Shots     *int   `json:"shots,omitempty"`
	ShotsPath string `json:"shots_path,omitempty"`
	Total     int    `json:"total"`  // documents in the source, before selection
	Docs      int    `json:"docs"`   // documents selected
	SHA256    string `json:"sha256"` // Hash of the selected documents, in order
}

// String describes the origin on one line.
func (o Origin) String() string {
	where := o.From + " " + o.Path
	if o.Revision != "" {
		where += " @ " + o.Revision
	}
	if o.Shots != nil {
		where += fmt.Sprintf(", %d shots", *o.Shots)
		if *o.Shots > 0 {
			where += " from " + cmp.Or(o.ShotsPath, "its own problems")
		}
	}
	return fmt.Sprintf("%s: %s: %d of %d documents, sha256 %s", o.Source, where, o.Docs, o.Total, o.SHA256)
}

// wikiLicence is the licence of WikiText and of everything cut from it.
const wikiLicence = "CC BY-SA 3.0 (WikiText-103, Merity et al. 2016, arXiv:1609.07843)"

// Load reads the documents o names, shuffles them with o.Seed and keeps the
// first o.Max. Since the shuffle does not depend on Max, a smaller Max gives
// a prefix of a larger one's documents. Every error is one line.
func Load(o Options) ([]Doc, Origin, error) {
	var (
		docs []Doc
		org  Origin
		err  error
	)
	if o.Source != "task" && (o.Shots != 0 || o.ShotsPath != "") {
		return nil, Origin{}, fmt.Errorf("prompts: shots are for source task, not %s", cmp.Or(o.Source, "wikitext"))
	}
	switch o.Source {
	case "wikitext", "":
		docs, org, err = loadWikiText(o)
	case "file":
		if o.Path == "" {
			return nil, Origin{}, fmt.Errorf("prompts: source file needs a path")
		}
		docs, err = readFile(o.Path)
		org = Origin{Source: "file", From: "file", Path: o.Path}
	case "task":
		docs, org, err = readTask(o)
	case "builtin":
		if o.Path != "" {
			return nil, Origin{}, fmt.Errorf("prompts: source builtin reads no path, got %s", o.Path)
		}
		docs, err = parseFile(demoPromptsName, demoPrompts)
		org = Origin{Source: "builtin", From: "embedded", Path: demoPromptsName, Licence: wikiLicence}
	default:
		return nil, Origin{}, fmt.Errorf("prompts: unknown source %q (want wikitext, file, builtin or task)", o.Source)
	}
	if err != nil {
		return nil, Origin{}, err
	}
	org.Total = len(docs)
	docs = choose(docs, o.Max, o.Seed)
	org.Docs, org.SHA256 = len(docs), Hash(docs)
	return docs, org, nil
}

// choose shuffles docs in place with a PCG seeded by (seed, 0) and returns
// the first max of them (all when max ≤ 0). Records key on the result, so
// TestSelectionPinned pins it against changes of the algorithm.
func choose(docs []Doc, max int, seed uint64) []Doc {
	r := rand.New(rand.NewPCG(seed, 0))
	r.Shuffle(len(docs), func(i, j int) { docs[i], docs[j] = docs[j], docs[i] })
	if max > 0 && max < len(docs) {
		docs = docs[:max:max]
	}
	return docs
}

// Hash is the hex sha256 of docs in order, each written as two netstrings
// (byte length, ':', bytes, ','): its Text, then its Reference. In Python,
// with docs as (text, reference) pairs of UTF-8 bytes:
// sha256(b"".join(b"%d:%s," % (len(x), x) for d in docs for x in d)).
func Hash(docs []Doc) string {
	h := sha256.New()
	var buf []byte
	for _, d := range docs {
		for _, s := range []string{d.Text, d.Reference} {
			buf = strconv.AppendInt(buf[:0], int64(len(s)), 10)
			buf = append(buf, ':')
			buf = append(buf, s...)
			buf = append(buf, ',')
			h.Write(buf)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
