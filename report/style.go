package report

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"dllmbench/bench"
)

// style is how a series is drawn. Each channel stands for one thing, so
// that a reader can decode a mark without the legend's help:
//
//   - colour: the model and decoder setting less the cache, as far as the
//     series' cells share it: "llada-8b steps 64 / blk 32" for a line over
//     batch sizes, "llada-8b fixed steps / blk 32" for a line over step
//     counts, "llada-8b" for a series over every setting of a model;
//   - dash and marker fill: the cache mode, solid and filled for none (and
//     for autoregressive models, whose KV cache is not a choice here),
//     dashed and hollow for dual, dotted and hollow for prefix;
//   - marker shape: the settings a label names besides model and decoder
//     (batch size, prompt and generation lengths, hardware), where they
//     vary.
//
// Two series that differ only in the cache thus share a colour and differ
// in line and marker, and the 11 series of the default grid need 6 colours.
type style struct {
	color  int // palette index
	dash   int // dashes index; 0 is solid
	shape  int // shapes index
	hollow bool
}

// palette is Okabe and Ito's (Color Universal Design, 2008), which stays
// distinct for colour-blind readers; yellow is left out, too pale on white.
var palette = []color.Color{
	color.RGBA{0x00, 0x72, 0xB2, 0xFF}, // blue
	color.RGBA{0xD5, 0x5E, 0x00, 0xFF}, // vermillion
	color.RGBA{0x00, 0x9E, 0x73, 0xFF}, // bluish green
	color.RGBA{0xCC, 0x79, 0xA7, 0xFF}, // reddish purple
	color.RGBA{0xE6, 0x9F, 0x00, 0xFF}, // orange
	color.RGBA{0x56, 0xB4, 0xE9, 0xFF}, // sky blue
	color.RGBA{0x00, 0x00, 0x00, 0xFF}, // black
}

// dashes are the line patterns of cache modes, in points: solid, dashed,
// dotted, dash-dotted.
var dashes = [][]vg.Length{
	nil,
	{vg.Points(5), vg.Points(2.5)},
	{vg.Points(1.2), vg.Points(2)},
	{vg.Points(6), vg.Points(2), vg.Points(1.2), vg.Points(2)},
}

// shapes are the marker shapes, each filled and hollow; the cross and the
// plus have no fill, so a hollow one is told by its dash alone.
var shapes = []struct{ filled, hollow draw.GlyphDrawer }{
	{draw.CircleGlyph{}, draw.RingGlyph{}},
	{draw.BoxGlyph{}, draw.SquareGlyph{}},
	{draw.PyramidGlyph{}, draw.TriangleGlyph{}},
	{diamondGlyph{fill: true}, diamondGlyph{}},
	{draw.CrossGlyph{}, draw.CrossGlyph{}},
	{draw.PlusGlyph{}, draw.PlusGlyph{}},
}

func (s style) colour() color.Color { return palette[s.color%len(palette)] }

func (s style) glyph() draw.GlyphDrawer {
	// Past the palette, in a figure of more than seven colour keys,
	// colours repeat: the shape moves on with them.
	sh := shapes[(s.shape+s.color/len(palette))%len(shapes)]
	if s.hollow {
		return sh.hollow
	}
	return sh.filled
}

func (s style) dashes() []vg.Length { return dashes[s.dash%len(dashes)] }

// diamondGlyph is a square on its corner, which gonum does not have.
type diamondGlyph struct{ fill bool }

// DrawGlyph implements draw.GlyphDrawer.
func (g diamondGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	r := sty.Radius * 1.25
	var p vg.Path
	p.Move(vg.Point{X: pt.X, Y: pt.Y + r})
	p.Line(vg.Point{X: pt.X + r, Y: pt.Y})
	p.Line(vg.Point{X: pt.X, Y: pt.Y - r})
	p.Line(vg.Point{X: pt.X - r, Y: pt.Y})
	p.Close()
	if g.fill {
		c.SetColor(sty.Color)
		c.Fill(p)
		return
	}
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(0.5)})
	c.Stroke(p)
}

// haloGlyph is a wide ring, drawn around a Pareto-optimal point.
type haloGlyph struct{}

// DrawGlyph implements draw.GlyphDrawer.
func (haloGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.6)})
	var p vg.Path
	p.Move(vg.Point{X: pt.X + sty.Radius, Y: pt.Y})
	p.Arc(pt, sty.Radius, 0, 2*math.Pi)
	p.Close()
	c.Stroke(p)
}

// styleKeys are what a series' style encodes: see style.
type styleKeys struct {
	color, cache, variant string
}

// keysOf returns the style keys of a series over cells whose labels name
// variant besides model and decoder.
func keysOf(cells []bench.Cell, variant string) styleKeys {
	if len(cells) == 0 {
		return styleKeys{variant: variant}
	}
	var parts []string
	if m, ok := shared(cells, func(c bench.Cell) string { return c.Model }); ok {
		parts = append(parts, m)
	}
	if r, ok := shared(cells, stepSetting); ok {
		parts = append(parts, r)
	} else if r, ok := shared(cells, ruleKind); ok {
		parts = append(parts, r) // "fixed steps" for a line over step counts
	}
	if r, ok := shared(cells, restSetting); ok && r != "" {
		parts = append(parts, r)
	}
	cache, _ := shared(cells, func(c bench.Cell) string {
		if !c.Diffusion() {
			return ""
		}
		return cmpOr(c.Cache, "none")
	})
	return styleKeys{color: strings.Join(parts, " "), cache: cache, variant: variant}
}

// shared returns f of the cells where they all have the same.
func shared(cells []bench.Cell, f func(bench.Cell) string) (string, bool) {
	v := f(cells[0])
	for _, c := range cells[1:] {
		if f(c) != v {
			return "", false
		}
	}
	return v, true
}

// stepSetting is a decoder's step rule with its value, "steps 64" or "thr
// 0.9", or an autoregressive decoder whole.
func stepSetting(c bench.Cell) string {
	if !c.Diffusion() {
		return Decoder(c)
	}
	rule, _, _ := strings.Cut(Decoder(c), " / ")
	return rule
}

// ruleKind is how a decoder chooses its steps, without the value.
func ruleKind(c bench.Cell) string {
	if !c.Diffusion() {
		return Decoder(c)
	}
	return stepRule(c)
}

// restSetting is a diffusion decoder without its step rule and cache:
// "blk 32", "blk 32 / random / bf16".
func restSetting(c bench.Cell) string {
	if !c.Diffusion() {
		return ""
	}
	parts := strings.Split(decoderRest(c), " / ")
	// decoderRest is "blk N / CACHE / ...": drop the cache.
	if len(parts) > 1 {
		parts = append(parts[:1], parts[2:]...)
	}
	return strings.Join(parts, " / ")
}

// styler gives style keys their indices in order of first use. MakeFigures
// shares one among its figures, so that a series keeps its colour and
// marker in every figure it appears in.
type styler struct {
	colors, caches, variants map[string]int
}

func newStyler() *styler {
	return &styler{colors: map[string]int{}, caches: map[string]int{}, variants: map[string]int{}}
}

// spare is the order in which a figure hands out the colours it leaves
// free: the most unlike first, blue and sky blue, which a reader may take
// for each other, last.
var spare = []int{1, 2, 6, 3, 4, 0, 5}

// cacheDash is the dashes index of the known cache modes.
var cacheDash = map[string]int{"": 0, "none": 0, "dual": 1, "prefix": 2}

func index(m map[string]int, key string) int {
	i, has := m[key]
	if !has {
		i = len(m)
		m[key] = i
	}
	return i
}

// style returns the style of keys.
func (st *styler) style(k styleKeys) style {
	d, known := cacheDash[k.cache]
	if !known {
		d = len(cacheDash) - 1 + index(st.caches, k.cache)
	}
	return style{color: index(st.colors, k.color), dash: d, shape: index(st.variants, k.variant),
		hollow: k.cache != "" && k.cache != "none"}
}

// assign gives every series its style, one per label: the first series of
// a label decides it. A key keeps the colour it has in the other figures,
// unless that is past the palette's seven or another key of this figure
// has it: it then takes the first colour this figure leaves free. Only a
// figure of more than seven colour keys repeats a colour, and moves the
// marker shape on with it; else the shape keeps its meaning. assign returns
// one series per label, for the legend.
func (st *styler) assign(groups ...[]*series) []*series {
	byLabel := map[string]style{}
	colorOf := map[string]int{} // colour key → colour in this figure
	keyOf := map[int]string{}   // palette colour → the key that has it here
	refs := 0
	var legend []*series
	for _, g := range groups {
		for _, s := range g {
			sty, has := byLabel[s.label]
			if !has {
				k := keysOf(s.cells, s.variant)
				sty = st.style(k)
				if c, has := colorOf[k.color]; has {
					sty.color = c
				} else if _, taken := keyOf[sty.color]; taken || sty.color >= len(palette) {
					sty.color = len(colorOf) // past the palette: all seven are taken here
					for _, c := range spare {
						if _, taken := keyOf[c]; !taken {
							sty.color = c
							break
						}
					}
				}
				if s.ref { // references take refDashes in turn
					sty.dash, refs = refs, refs+1
				}
				colorOf[k.color] = sty.color
				keyOf[sty.color] = k.color
				byLabel[s.label] = sty
				legend = append(legend, s)
			}
			s.style = sty
		}
	}
	return legend
}

// noteCoincident notes in the legend the series that another hides: the
// same points in every panel, which one line or mark draws over the other.
// The note names the parts of the other's label that differ, "(coincides
// with g256)".
func noteCoincident(f *figSpec) {
	trace := func(label string) string {
		var b strings.Builder
		for i, p := range f.panels {
			for _, s := range p.series {
				if s.label != label {
					continue
				}
				fmt.Fprintf(&b, "%d:", i)
				for _, q := range s.pts {
					if s.ref {
						q.x = 0
					}
					fmt.Fprintf(&b, "%v,%v;", q.x, q.y)
				}
			}
		}
		return b.String()
	}
	traces := make([]string, len(f.legend))
	for i, s := range f.legend {
		traces[i] = trace(s.label)
	}
	for i, s := range f.legend {
		for j := i + 1; j < len(f.legend); j++ {
			if traces[i] == traces[j] && f.legend[j].ref == s.ref {
				s.note = "(coincides with " + labelDiff(s.label, f.legend[j].label) + ")"
				break
			}
		}
	}
}

// labelDiff returns the parts of label b that label a does not have.
func labelDiff(a, b string) string {
	trim := func(l string) []string { return strings.Split(strings.TrimSuffix(l, " (reference)"), sep) }
	pa := trim(a)
	var out []string
	for _, p := range trim(b) {
		if !slices.Contains(pa, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return b
	}
	return strings.Join(out, sep)
}
