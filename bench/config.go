package bench

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"dllmbench/internal/demo"
)

// Grid defaults, filled by ParseGrid for keys the file leaves out.
const (
	DefaultPrecision    = "bf16"
	DefaultBackend      = "auto"
	DefaultRepetitions  = 3
	DefaultWarmup       = 1
	DefaultPromptSource = "wikitext"
	DefaultMaxPrompts   = 16
	DefaultBatchSize    = 1
	DefaultPromptLength = 128
	DefaultGenLength    = 128
)

// BackendNames are the backends a grid (and run --backend, which stands
// for its backend) names: the names its cells record.
var BackendNames = []string{"auto", "cpu", "cuda"}

// The values the enumerated keys accept. precisionNames maps every
// spelling of a precision to the short name cells carry.
var (
	precisionNames = map[string]string{
		"bf16": "bf16", "bfloat16": "bf16",
		"fp16": "fp16", "float16": "fp16",
		"fp32": "fp32", "float32": "fp32",
	}
	remaskingNames = []string{"low_confidence", "random"}
	cacheNames     = []string{"none", "prefix", "dual"}
	sourceNames    = []string{"wikitext", "file", "builtin", "task"}
)

// LoadGrid reads and parses a grid file; errors name path:line.
func LoadGrid(path string) (*Grid, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("grid: %w", err)
	}
	return ParseGrid(data, path)
}

// ParseGrid decodes a grid from YAML, validates every key and value, and
// fills the defaults of the keys left out. file names the source in
// errors. The error lists every problem found, one "file:line: message"
// per line, in the order of the file.
//
// Lists accept a single scalar as a one-element list (batch_size: 1).
// diffusion.steps stays empty when absent: Expand then takes one step per
// generated token.
func ParseGrid(data []byte, file string) (*Grid, error) {
	p := &gridParser{file: file}
	doc, extra, err := decodeYAML(data)
	switch {
	case err != nil:
		return nil, p.yamlError(err)
	case doc == nil:
		return nil, fmt.Errorf("%s:1: empty grid file: want a mapping with at least a models list", file)
	case extra != nil:
		p.errorf(extra, "a second YAML document: a grid file holds one")
	}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	g := &Grid{}
	p.grid(root, g)
	if err := p.err(); err != nil {
		return nil, err
	}
	return g, nil
}

// decodeYAML returns the first document's node tree (nil for none) and the
// second document, if there is one.
func decodeYAML(data []byte) (doc, extra *yaml.Node, err error) {
	// The YAML library is third-party code: a panic in it on some odd input
	// becomes an error rather than taking the run down.
	defer func() {
		if r := recover(); r != nil {
			doc, extra, err = nil, nil, fmt.Errorf("yaml: parser failure: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	doc, extra = &yaml.Node{}, &yaml.Node{}
	if err := dec.Decode(doc); errors.Is(err, io.EOF) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	if err := dec.Decode(extra); errors.Is(err, io.EOF) {
		return doc, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	return doc, extra, nil
}

// gridParser walks the node tree of a grid file, collecting problems.
type gridParser struct {
	file string
	errs []gridProblem
}

type gridProblem struct {
	line int
	msg  string
}

// errorf records a problem at n. Control characters from the file (a
// quoted key or tag may hold a newline) are escaped: one problem, one line.
func (p *gridParser) errorf(n *yaml.Node, format string, args ...any) {
	msg := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, fmt.Sprintf(format, args...))
	p.errs = append(p.errs, gridProblem{max(n.Line, 1), msg})
}

func (p *gridParser) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].line < p.errs[j].line })
	lines := make([]string, len(p.errs))
	for i, e := range p.errs {
		lines[i] = fmt.Sprintf("%s:%d: %s", p.file, e.line, e.msg)
	}
	return errors.New(strings.Join(lines, "\n"))
}

// yamlError rewrites the library's "yaml: line N: msg" as "file:N: YAML
// syntax: msg". The library's N is where the construct around the problem
// starts, which may be a line or so before the problem itself.
func (p *gridParser) yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if n, aerr := strconv.Atoi(rest[:i]); aerr == nil {
				line, msg = max(n, 1), rest[i+2:]
			}
		}
	}
	return fmt.Errorf("%s:%d: YAML syntax: %s", p.file, line, msg)
}

// field is a key of a mapping and what to do with its value.
type field struct {
	key string
	set func(v *yaml.Node)
}

// resolve follows aliases to the node they name. The parser rejects
// recursive anchors, but the depth is bounded anyway.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}

// mapping checks that n is a mapping of known keys, each once, and hands
// each value to its field. It returns the key nodes present, by key.
func (p *gridParser) mapping(n *yaml.Node, path string, fields []field) map[string]*yaml.Node {
	seen := map[string]*yaml.Node{}
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		what := "the top level"
		if path != "" {
			what = path
		}
		p.errorf(n, "%s: want a mapping of keys, have %s", what, describe(n))
		return seen
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "%s: keys must be plain names, have %s", orTop(path), describe(k))
			continue
		}
		name := joinPath(path, k.Value)
		if k.Tag == "!!merge" || k.Value == "<<" {
			p.errorf(k, "%s: merge keys (<<) are not supported; write the keys out", orTop(path))
			continue
		}
		if first, ok := seen[k.Value]; ok {
			p.errorf(k, "%s: repeated key (first on line %d)", clip(name), first.Line)
			continue
		}
		i := slices.IndexFunc(fields, func(f field) bool { return f.key == k.Value })
		if i < 0 {
			p.errorf(k, "unknown key %s%s", clip(name), suggest(k.Value, fields))
			continue
		}
		seen[k.Value] = k
		fields[i].set(v)
	}
	return seen
}

func orTop(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest names the closest known key to a misspelt one, or lists them.
func suggest(key string, fields []field) string {
	best, dist := "", 3
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.key
		if d := editDistance(strings.ToLower(key), f.key); d < dist {
			best, dist = f.key, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return fmt.Sprintf(" (known keys: %s)", strings.Join(names, ", "))
}

// editDistance is the Levenshtein distance, for short key names.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describe names what a node holds, for type errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return fmt.Sprintf("the string %q", clip(n.Value))
		case "!!int":
			return "the integer " + clip(n.Value)
		case "!!float":
			return "the number " + clip(n.Value)
		case "!!bool":
			return "the boolean " + n.Value
		}
		return fmt.Sprintf("%s %q", n.ShortTag(), clip(n.Value))
	case yaml.AliasNode:
		return "an unresolved alias"
	}
	return "nothing"
}

// clip shortens text from the file for messages.
func clip(s string) string {
	n := 0
	for i := range s {
		if n == 40 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// Scalar readers: each reports a type error at the value and returns ok
// false, so that range checks run only on values of the right type.

func (p *gridParser) str(v *yaml.Node, path string) (string, bool) {
	v = resolve(v)
	if v.Kind != yaml.ScalarNode {
		p.errorf(v, "%s: want a string, have %s", path, describe(v))
		return "", false
	}
	if v.ShortTag() == "!!null" {
		return "", true
	}
	return v.Value, true
}

func (p *gridParser) integer(v *yaml.Node, path string) (int, bool) {
	v = resolve(v)
	var i int
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" {
		p.errorf(v, "%s: want an integer, have %s", path, describe(v))
		return 0, false
	}
	if err := v.Decode(&i); err != nil {
		p.errorf(v, "%s: %s is not an integer this program can hold", path, clip(v.Value))
		return 0, false
	}
	return i, true
}

func (p *gridParser) uinteger(v *yaml.Node, path string) (uint64, bool) {
	v = resolve(v)
	var u uint64
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" {
		p.errorf(v, "%s: want a non-negative integer, have %s", path, describe(v))
		return 0, false
	}
	if err := v.Decode(&u); err != nil {
		p.errorf(v, "%s: %s is not a non-negative 64-bit integer", path, clip(v.Value))
		return 0, false
	}
	return u, true
}

func (p *gridParser) number(v *yaml.Node, path string) (float64, bool) {
	v = resolve(v)
	var f float64
	if v.Kind != yaml.ScalarNode || (v.ShortTag() != "!!int" && v.ShortTag() != "!!float") {
		p.errorf(v, "%s: want a number, have %s", path, describe(v))
		return 0, false
	}
	if err := v.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.errorf(v, "%s: want a finite number, have %s", path, clip(v.Value))
		return 0, false
	}
	return f, true
}

func (p *gridParser) boolean(v *yaml.Node, path string) (bool, bool) {
	v = resolve(v)
	var b bool
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" || v.Decode(&b) != nil {
		p.errorf(v, "%s: want true or false, have %s", path, describe(v))
		return false, false
	}
	return b, true
}

// items returns the elements of a list value: a single scalar counts as a
// one-element list; an empty list or no value is an error.
func (p *gridParser) items(v *yaml.Node, path, what string) []*yaml.Node {
	v = resolve(v)
	switch {
	case v.Kind == yaml.SequenceNode && len(v.Content) == 0,
		v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null":
		p.errorf(v, "%s: empty list: give at least one value or leave the key out", path)
		return nil
	case v.Kind == yaml.SequenceNode:
		return v.Content
	case v.Kind == yaml.ScalarNode:
		return []*yaml.Node{v}
	}
	p.errorf(v, "%s: want %s, have %s", path, what, describe(v))
	return nil
}

// ints reads a list of integers, each checked by check (a message, or "").
func (p *gridParser) ints(v *yaml.Node, path string, check func(int) string) []int {
	return list(p, v, path, "a list of integers", p.integer, check)
}

// floats reads a list of numbers, each checked by check.
func (p *gridParser) floats(v *yaml.Node, path string, check func(float64) string) []float64 {
	return list(p, v, path, "a list of numbers", p.number, check)
}

// list reads a list of what, each item read by parse and checked by check,
// and no value listed twice.
func list[T comparable](p *gridParser, v *yaml.Node, path, what string, parse func(*yaml.Node, string) (T, bool),
	check func(T) string) []T {
	var out []T
	seen := map[T]int{}
	for _, it := range p.items(v, path, what) {
		x, ok := parse(it, path)
		if !ok {
			continue
		}
		if msg := check(x); msg != "" {
			p.errorf(it, "%s: %s", path, msg)
			continue
		}
		if line, dup := seen[x]; dup {
			p.errorf(it, "%s: %v is listed twice (first on line %d)", path, x, line)
			continue
		}
		seen[x] = resolve(it).Line
		out = append(out, x)
	}
	return out
}

// enums reads a list of names, each one of allowed.
func (p *gridParser) enums(v *yaml.Node, path string, allowed []string) []string {
	var out []string
	for _, it := range p.items(v, path, "a list of names") {
		s, ok := p.enum(it, path, allowed)
		if !ok {
			continue
		}
		if slices.Contains(out, s) {
			p.errorf(it, "%s: %s is listed twice", path, s)
			continue
		}
		out = append(out, s)
	}
	return out
}

func (p *gridParser) enum(v *yaml.Node, path string, allowed []string) (string, bool) {
	s, ok := p.str(v, path)
	if !ok {
		return "", false
	}
	if msg := checkEnum(s, allowed); msg != "" {
		p.errorf(resolve(v), "%s: %s", path, msg)
		return "", false
	}
	return s, true
}

// Range checks, shared with Apply: each returns what is wrong, or "".

func atLeast(lo int) func(int) string {
	return func(v int) string {
		if v < lo {
			return fmt.Sprintf("%d is out of range (want ≥ %d)", v, lo)
		}
		return ""
	}
}

func checkEnum(s string, allowed []string) string {
	if slices.Contains(allowed, s) {
		return ""
	}
	return fmt.Sprintf("%q is not one of %s", clip(s), strings.Join(allowed, ", "))
}

func nonNegative(f float64) string {
	if f < 0 {
		return fmt.Sprintf("%g is out of range (want ≥ 0)", f)
	}
	return ""
}

// delayRange checks a delay in seconds: at least 0, at most a day.
func delayRange(f float64) string {
	if f < 0 || f > 86400 {
		return fmt.Sprintf("%g is out of range (want 0 to 86400 seconds)", f)
	}
	return ""
}

func positive(f float64) string {
	if !(f > 0) {
		return fmt.Sprintf("%g is out of range (want > 0)", f)
	}
	return ""
}

func unitInterval(f float64) string {
	if !(f > 0 && f <= 1) {
		return fmt.Sprintf("%g is out of range (want 0 < x ≤ 1)", f)
	}
	return ""
}

// checked runs a range check on a value read ok, reporting at v.
func (p *gridParser) checked(v *yaml.Node, path string, ok bool, msg string) {
	if ok && msg != "" {
		p.errorf(resolve(v), "%s: %s", path, msg)
	}
}

func (p *gridParser) grid(root *yaml.Node, g *Grid) {
	var sourceNode *yaml.Node
	present := p.mapping(root, "", []field{
		{"name", func(v *yaml.Node) { g.Name, _ = p.str(v, "name") }},
		{"models", func(v *yaml.Node) { g.Models = p.models(v) }},
		{"precision", func(v *yaml.Node) {
			s, ok := p.str(v, "precision")
			if !ok {
				return
			}
			if short, known := precisionNames[strings.ToLower(s)]; known {
				g.Precision = short
				return
			}
			p.errorf(resolve(v), "precision: %q is not one of bf16, fp16, fp32 (or bfloat16, float16, float32)", clip(s))
		}},
		{"backend", func(v *yaml.Node) { g.Backend, _ = p.enum(v, "backend", BackendNames) }},
		{"prompts", func(v *yaml.Node) { sourceNode = p.prompts(v, &g.Prompts) }},
		{"batch_size", func(v *yaml.Node) { g.BatchSizes = p.ints(v, "batch_size", atLeast(1)) }},
		{"prompt_length", func(v *yaml.Node) { g.PromptLengths = p.ints(v, "prompt_length", atLeast(1)) }},
		{"gen_length", func(v *yaml.Node) { g.GenLengths = p.ints(v, "gen_length", atLeast(1)) }},
		{"diffusion", func(v *yaml.Node) { p.diffusion(v, &g.Diffusion) }},
		{"autoregressive", func(v *yaml.Node) { p.autoregressive(v, &g.Autoregressive) }},
		{"repetitions", func(v *yaml.Node) {
			var ok bool
			g.Repetitions, ok = p.integer(v, "repetitions")
			p.checked(v, "repetitions", ok, atLeast(1)(g.Repetitions))
		}},
		{"warmup", func(v *yaml.Node) {
			var ok bool
			g.Warmup, ok = p.integer(v, "warmup")
			p.checked(v, "warmup", ok, atLeast(0)(g.Warmup))
		}},
		{"delay", func(v *yaml.Node) {
			var ok bool
			g.Delay, ok = p.number(v, "delay")
			p.checked(v, "delay", ok, delayRange(g.Delay))
		}},
		{"seed", func(v *yaml.Node) { g.Seed, _ = p.uinteger(v, "seed") }},
		{"hardware_notes", func(v *yaml.Node) { g.HardwareNotes, _ = p.str(v, "hardware_notes") }},
		{"quality", func(v *yaml.Node) { p.quality(v, &g.Quality) }},
	})
	if resolve(root).Kind != yaml.MappingNode {
		return
	}
	if present["models"] == nil {
		p.errorf(root, "models: missing: a grid needs at least one model")
	}
	if g.Prompts.Source == "file" && g.Prompts.Path == "" {
		p.errorf(sourceNode, "prompts.path: missing: source file needs the path of the prompt file")
	}
	if g.Prompts.Source == "task" && g.Prompts.Path == "" {
		p.errorf(sourceNode, "prompts.path: missing: source task needs the path of the task file (GSM8K's JSONL)")
	}
	if len(p.errs) > 0 {
		return
	}
	// Defaults, for the keys left out (a key given with its zero value was
	// either valid, as warmup: 0, or reported above).
	if g.Precision == "" {
		g.Precision = DefaultPrecision
	}
	if g.Backend == "" {
		g.Backend = DefaultBackend
	}
	if present["repetitions"] == nil {
		g.Repetitions = DefaultRepetitions
	}
	if present["warmup"] == nil {
		g.Warmup = DefaultWarmup
	}
	if g.Prompts.Source == "" {
		g.Prompts.Source = DefaultPromptSource
	}
	if g.Prompts.MaxPrompts == 0 {
		g.Prompts.MaxPrompts = DefaultMaxPrompts
	}
	if len(g.BatchSizes) == 0 {
		g.BatchSizes = []int{DefaultBatchSize}
	}
	if len(g.PromptLengths) == 0 {
		g.PromptLengths = []int{DefaultPromptLength}
	}
	if len(g.GenLengths) == 0 {
		g.GenLengths = []int{DefaultGenLength}
	}
}

// problem says what is wrong with a model's id, or "".
func (m ModelSpec) problem() string {
	if m.ID == "" {
		return "a model without an id (a Hugging Face id, a directory or builtin:demo-llama)"
	}
	if name, ok := strings.CutPrefix(m.ID, demo.Prefix); ok && !slices.Contains(demo.Names(), name) {
		return fmt.Sprintf("no built-in model %q (have %s)", name, strings.Join(demo.Names(), ", "))
	}
	return ""
}

// models reads the model list: mappings with an id, or bare ids.
func (p *gridParser) models(v *yaml.Node) []ModelSpec {
	var out []ModelSpec
	labels := map[string]int{}
	v = resolve(v)
	items := []*yaml.Node{v}
	if v.Kind != yaml.MappingNode {
		items = p.items(v, "models", "a list of models")
	}
	for _, it := range items {
		it = resolve(it)
		var m ModelSpec
		if it.Kind == yaml.ScalarNode {
			id, _ := p.str(it, "models")
			m = ModelRef(id)
		} else {
			p.mapping(it, "models", []field{
				{"id", func(v *yaml.Node) { m.ID, _ = p.str(v, "models.id") }},
				{"name", func(v *yaml.Node) { m.Name, _ = p.str(v, "models.name") }},
				{"revision", func(v *yaml.Node) { m.Revision, _ = p.str(v, "models.revision") }},
			})
			if it.Kind != yaml.MappingNode {
				continue
			}
		}
		if msg := m.problem(); msg != "" {
			p.errorf(it, "models: %s", msg)
			continue
		}
		if line, dup := labels[m.Label()]; dup {
			p.errorf(it, "models: label %q is taken by the model on line %d; give one a name", m.Label(), line)
			continue
		}
		labels[m.Label()] = it.Line
		out = append(out, m)
	}
	return out
}

// prompts reads the prompt source; it returns the node to blame for a
// missing path.
func (p *gridParser) prompts(v *yaml.Node, ps *PromptSpec) *yaml.Node {
	blame := resolve(v)
	sourceOK := true
	keys := p.mapping(v, "prompts", []field{
		{"source", func(v *yaml.Node) {
			ps.Source, sourceOK = p.enum(v, "prompts.source", sourceNames)
			blame = resolve(v)
		}},
		{"path", func(v *yaml.Node) { ps.Path, _ = p.str(v, "prompts.path") }},
		{"max_prompts", func(v *yaml.Node) {
			var ok bool
			ps.MaxPrompts, ok = p.integer(v, "prompts.max_prompts")
			p.checked(v, "prompts.max_prompts", ok, atLeast(1)(ps.MaxPrompts))
		}},
		{"seed", func(v *yaml.Node) { ps.Seed, _ = p.uinteger(v, "prompts.seed") }},
		{"shots", func(v *yaml.Node) {
			var ok bool
			ps.Shots, ok = p.integer(v, "prompts.shots")
			p.checked(v, "prompts.shots", ok, atLeast(0)(ps.Shots))
		}},
		{"shots_path", func(v *yaml.Node) { ps.ShotsPath, _ = p.str(v, "prompts.shots_path") }},
	})
	switch shotsPath := keys["shots_path"]; {
	case !sourceOK: // the source's own error says enough
	case ps.Source != "task":
		for _, k := range []string{"shots", "shots_path"} {
			if n := keys[k]; n != nil {
				p.errorf(n, "prompts.%s: only for source task (few-shot prompts of a task file), not %s", k, cmp.Or(ps.Source, DefaultPromptSource))
			}
		}
	case shotsPath != nil && ps.ShotsPath == "":
		p.errorf(shotsPath, "prompts.shots_path: empty: give the task file the shots are the first problems of, or leave the key out")
	case shotsPath != nil && keys["shots"] == nil:
		// Its problems would be read for no shot: a grid that meant some
		// would measure zero-shot prompts without a word.
		p.errorf(shotsPath, "prompts.shots_path: names the shots' file, but prompts.shots is not given: say how many (0 for zero-shot)")
	}
	return blame
}

func (p *gridParser) diffusion(v *yaml.Node, d *DiffusionAxes) {
	p.mapping(v, "diffusion", []field{
		{"steps", func(v *yaml.Node) { d.Steps = p.ints(v, "diffusion.steps", atLeast(1)) }},
		{"block_length", func(v *yaml.Node) { d.BlockLength = p.ints(v, "diffusion.block_length", atLeast(1)) }},
		{"remasking", func(v *yaml.Node) { d.Remasking = p.enums(v, "diffusion.remasking", remaskingNames) }},
		{"cache", func(v *yaml.Node) { d.Cache = p.enums(v, "diffusion.cache", cacheNames) }},
		{"threshold", func(v *yaml.Node) { d.Threshold = p.floats(v, "diffusion.threshold", unitInterval) }},
		{"factor", func(v *yaml.Node) { d.Factor = p.floats(v, "diffusion.factor", positive) }},
		{"temperature", func(v *yaml.Node) {
			var ok bool
			d.Temperature, ok = p.number(v, "diffusion.temperature")
			p.checked(v, "diffusion.temperature", ok, nonNegative(d.Temperature))
		}},
		{"cfg_scale", func(v *yaml.Node) {
			var ok bool
			d.CFGScale, ok = p.number(v, "diffusion.cfg_scale")
			p.checked(v, "diffusion.cfg_scale", ok, nonNegative(d.CFGScale))
		}},
	})
}

func (p *gridParser) autoregressive(v *yaml.Node, a *ARSettings) {
	keys := p.mapping(v, "autoregressive", []field{
		{"temperature", func(v *yaml.Node) {
			var ok bool
			a.Temperature, ok = p.number(v, "autoregressive.temperature")
			p.checked(v, "autoregressive.temperature", ok, nonNegative(a.Temperature))
		}},
		{"top_k", func(v *yaml.Node) {
			var ok bool
			a.TopK, ok = p.integer(v, "autoregressive.top_k")
			p.checked(v, "autoregressive.top_k", ok, atLeast(0)(a.TopK))
		}},
		{"top_p", func(v *yaml.Node) {
			var ok bool
			a.TopP, ok = p.number(v, "autoregressive.top_p")
			p.checked(v, "autoregressive.top_p", ok, unitInterval(a.TopP))
		}},
	})
	// Greedy decoding would ignore them, with the cells' columns saying
	// they applied.
	if a.Temperature == 0 {
		for _, r := range []struct {
			key       string
			value     float64
			restricts bool
		}{{"top_k", float64(a.TopK), a.TopK > 0}, {"top_p", a.TopP, a.TopP > 0 && a.TopP < 1}} {
			if k := keys[r.key]; k != nil && r.restricts {
				p.errorf(k, "autoregressive.%s: %g restricts sampling: give autoregressive.temperature > 0 too (0 is greedy)", r.key, r.value)
			}
		}
	}
}

func (p *gridParser) quality(v *yaml.Node, q *QualitySpec) {
	p.mapping(v, "quality", []field{
		{"judge", func(v *yaml.Node) { q.Judge, _ = p.str(v, "quality.judge") }},
		{"bertscore", func(v *yaml.Node) { q.BERTScore, _ = p.boolean(v, "quality.bertscore") }},
		{"bertscore_model", func(v *yaml.Node) { q.Encoder, _ = p.str(v, "quality.bertscore_model") }},
		{"bertscore_layer", func(v *yaml.Node) {
			var ok bool
			q.Layer, ok = p.integer(v, "quality.bertscore_layer")
			p.checked(v, "quality.bertscore_layer", ok, atLeast(0)(q.Layer))
		}},
		{"task", func(v *yaml.Node) { q.Task, _ = p.str(v, "quality.task") }},
		// shots was read and never used: a grid asking for 5-shot prompts
		// measured the prompts: source's text in silence. The shots are
		// the prompts' now.
		{"shots", func(v *yaml.Node) {
			p.errorf(v, "quality.shots: the shots are the prompts': give prompts: {source: task, path: FILE, shots: N} "+
				"(quality.task defaults to its file) and leave quality.shots out")
		}},
	})
}
