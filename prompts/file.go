package prompts

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// demoPrompts are the held-out prompts of the built-in demo pair.
//
//go:embed data/demo-prompts.jsonl
var demoPrompts string

const demoPromptsName = "prompts/data/demo-prompts.jsonl"

// readFile reads a prompt file; see parseFile.
func readFile(path string) ([]Doc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("prompts: %w", err)
	}
	return parseFile(path, string(b))
}

// parseFile reads a prompt file named name: JSONL, one
// {"prompt": ..., "reference": ...} object per line (reference optional,
// both kept verbatim), when its first non-empty line starts with '{'; else
// plain text, one prompt per non-empty line, with surrounding blanks
// dropped. Lines end in "\n", "\r\n" or a lone "\r", as Python's universal
// newlines read them. Errors name name:line.
func parseFile(name, text string) ([]Doc, error) {
	text = strings.TrimPrefix(text, "\uFEFF") // a byte-order mark some editors write
	// Classic Mac OS ended lines in "\r" alone: without this, such a file
	// would be one prompt of all its lines.
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	jsonl := strings.HasPrefix(strings.TrimSpace(text), "{")
	var docs []Doc
	n := 0
	for line := range strings.Lines(text) {
		n++
		line = strings.TrimSuffix(line, "\n")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if !utf8.ValidString(line) {
			return nil, fmt.Errorf("prompts: %s:%d: not UTF-8 text", name, n)
		}
		if !jsonl {
			docs = append(docs, Doc{Text: strings.TrimSpace(line)})
			continue
		}
		d, err := parseJSONLine(line)
		if err != nil {
			// A plain-text file whose first line happens to start with '{'
			// is read as JSONL: say why, where that line is not JSON.
			why := ""
			if len(docs) == 0 && !json.Valid([]byte(line)) {
				why = " (read as JSONL: its first line starts with '{')"
			}
			return nil, fmt.Errorf("prompts: %s:%d: %v%s", name, n, err, why)
		}
		docs = append(docs, d)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("prompts: %s: no prompts (the file is empty or blank)", name)
	}
	return docs, nil
}

// parseJSONLine reads one JSONL record.
func parseJSONLine(line string) (Doc, error) {
	var rec struct {
		Prompt    *string `json:"prompt"`
		Reference *string `json:"reference"`
	}
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return Doc{}, fmt.Errorf("%q is a JSON %s, not a string", typeErr.Field, typeErr.Value)
		case errors.As(err, &typeErr):
			return Doc{}, fmt.Errorf("a JSON %s, not an object", typeErr.Value)
		}
		msg := strings.TrimPrefix(err.Error(), "json: ")
		// encoding/json says "unknown field"; a JSONL user says key.
		if f, ok := strings.CutPrefix(msg, "unknown field "); ok {
			return Doc{}, fmt.Errorf(`unknown key %s (want "prompt" and optionally "reference")`, f)
		}
		return Doc{}, fmt.Errorf("malformed JSON: %s", msg)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Doc{}, fmt.Errorf("more than one JSON value on the line")
	}
	if rec.Prompt == nil {
		return Doc{}, fmt.Errorf(`no "prompt"`)
	}
	if *rec.Prompt == "" {
		return Doc{}, fmt.Errorf(`empty "prompt"`)
	}
	d := Doc{Text: *rec.Prompt}
	if rec.Reference != nil {
		d.Reference = *rec.Reference
	}
	return d, nil
}
