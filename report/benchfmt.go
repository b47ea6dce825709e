package report

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"dllmbench/bench"
)

// Units of bench.txt besides ns/op, with their Unit line's metadata: for a
// measurement, the direction benchstat should call an improvement. The
// prompts' mean length (tok/prompt) is neither better nor worse, and
// exact: a cell's repetitions share its prompts, so benchstat shows the one
// value and marks any difference between two runs, whose cells then ran on
// other prompts. The GPU's SM clock (sm-MHz, where the records have it)
// has no Unit line: a condition of the measurement, neither better nor
// worse, which benchfmt's defaults leave so. Unit names avoid "ns" and
// "MB", which benchstat rescales ("ns/op" becomes "sec/op"), and hold no
// spaces.
var benchUnits = []struct{ unit, meta string }{
	{"tok/s", "better=higher"},
	{"useful-tok/s", "better=higher"},
	{"device-latency-s", "better=lower"},
	{"ttft-s", "better=lower"},
	{"tpot-s", "better=lower"},
	{"step-s", "better=lower"},
	{"nfe", "better=lower"},
	{"J/tok", "better=lower"},
	{"tok/prompt", "assume=exact"},
}

// benchBytes renders bench.txt in the Go benchmark format
// (golang.org/design/14313-benchmark-format, as golang.org/x/perf/benchfmt
// reads it), so that `benchstat bench.txt` summarises it and
// `benchstat old.txt new.txt` compares two reports. Each repetition of each
// successful cell is one result line:
//
//	BenchmarkCell/model=llada/b=1/p=128/g=128/steps=64/blk=32/cache=dual-16 1 2.5e+09 ns/op 51.2 tok/s …
//
// ns/op is the repetition's mean batch latency (the records' latency_s),
// the gaps between its batches left out. The name's key=value parts let
// benchstat group by any axis (benchstat -col /cache); p is the prompt
// length the cell asked for. Where its prompts' mean length is off that
// (bench.PromptLengthOff; prompts with their own references are kept whole
// when shorter), the line ends with the mean, "33 tok/prompt", where the
// table writes "600 (33)": a value, not a part of the name, which is the
// key benchstat matches between runs. Configuration lines (goos, goarch,
// pkg, cpu, and backend and device, so that merged runs on different
// machines never pool) precede the results they apply to and are repeated
// whenever they change; Unit lines tell benchstat how to read our own
// units. Failed cells end the file as `go test` reports a failed
// benchmark, a "--- FAIL: BenchmarkCell/…" line with the error indented
// under it, which benchfmt skips: a reader sees which cells have no
// results, and benchstat's tables are those of the others.
func benchBytes(recs []bench.Record) ([]byte, error) {
	var buf bytes.Buffer
	type config struct{ goos, goarch, cpu, backend, device string }
	var cur *config
	units := false
	// Group by machine first so that configuration lines change rarely;
	// the sort is stable, so cells keep their report order within one.
	grouped := append([]bench.Record(nil), recs...)
	key := func(r bench.Record) config {
		return config{r.Env.OS, r.Env.Arch, r.Env.CPU, r.Env.Backend, r.Env.Device}
	}
	slices.SortStableFunc(grouped, func(a, b bench.Record) int {
		ka, kb := key(a), key(b)
		return cmp.Or(cmp.Compare(ka.goos, kb.goos), cmp.Compare(ka.goarch, kb.goarch), cmp.Compare(ka.cpu, kb.cpu),
			cmp.Compare(ka.backend, kb.backend), cmp.Compare(ka.device, kb.device))
	})
	for _, r := range grouped {
		if !ok(r) {
			continue
		}
		lines := benchLines(r)
		if len(lines) == 0 {
			continue
		}
		if k := key(r); cur == nil || *cur != k {
			if cur != nil {
				buf.WriteByte('\n')
			}
			for _, kv := range [][2]string{{"goos", k.goos}, {"goarch", k.goarch}, {"pkg", "dllmbench"},
				{"cpu", k.cpu}, {"backend", k.backend}, {"device", k.device}} {
				configLine(&buf, kv[0], kv[1])
			}
			cur = &k
		}
		if !units {
			for _, u := range benchUnits {
				fmt.Fprintf(&buf, "Unit %s %s\n", u.unit, u.meta)
			}
			units = true
		}
		for _, l := range lines {
			buf.WriteString(l)
			buf.WriteByte('\n')
		}
	}
	blank := buf.Len() > 0 // a blank line between the results and the failures
	for _, r := range recs {
		if ok(r) {
			continue
		}
		if blank {
			buf.WriteByte('\n')
			blank = false
		}
		fmt.Fprintf(&buf, "--- FAIL: %s\n", benchFullName(r))
		msg := strings.ToValidUTF8(strings.TrimSpace(cmpOr(r.Error, r.Status)), "\uFFFD")
		for l := range strings.Lines(msg) {
			fmt.Fprintf(&buf, "    %s\n", strings.TrimRight(l, "\r\n"))
		}
	}
	return buf.Bytes(), nil
}

// configLine writes "key: value"; an empty value is written as "key:",
// which clears a key an earlier group set.
func configLine(buf *bytes.Buffer, key, val string) {
	// One line, no padding, valid UTF-8 (benchfmt refuses a whole file
	// that is not).
	val = strings.Join(strings.Fields(strings.ToValidUTF8(val, "\uFFFD")), " ")
	if val == "" {
		fmt.Fprintf(buf, "%s:\n", key)
		return
	}
	fmt.Fprintf(buf, "%s: %s\n", key, val)
}

// benchLines is one result line per repetition of r; a repetition with no
// finite measurement has none.
func benchLines(r bench.Record) []string {
	name := benchFullName(r)
	prompt := "" // the prompts' mean length where it is off the cell's
	if m, off := promptOff(r); off {
		prompt = " " + benchFloat(m) + " tok/prompt"
	}
	var out []string
	for _, rp := range r.Reps {
		var vals []string
		for _, v := range repValues(r.Cell.Diffusion(), rp) {
			// benchfmt rescales ns/op to sec/op unless the value is 0,
			// which would make a table of its own: no time is no
			// measurement anyway.
			if finite(v.value) && (v.unit != "ns/op" || v.value > 0) {
				vals = append(vals, benchFloat(v.value), v.unit)
			}
		}
		if len(vals) == 0 {
			continue
		}
		out = append(out, name+" 1 "+strings.Join(vals, " ")+prompt)
	}
	return out
}

// benchFullName is r's benchmark name as a result line writes it, with
// the machine's CPU count as the GOMAXPROCS suffix where it is known.
func benchFullName(r bench.Record) string {
	name := "Benchmark" + benchName(r.Cell)
	if r.Env.CPUs > 0 {
		name += "-" + strconv.Itoa(r.Env.CPUs)
	}
	return name
}

type benchValue struct {
	value float64
	unit  string
}

// repValues are one repetition's measurements, in bench.txt's order. They
// follow the definitions of bench's metrics per repetition (bench/measure.go,
// summarize), so that benchstat's medians agree with the records' Stats:
// per-batch means of latency, TTFT and TPOT = (latency − TTFT)/(tokens − 1);
// the per-batch mean of the device's latency, where every batch has one;
// a forward call's mean time over all calls of the repetition; forward calls
// per batch; joules per generated token. Values may be NaN (no batches);
// the caller drops those.
func repValues(diffusion bool, rp bench.Rep) []benchValue {
	nb := float64(len(rp.Batches))
	var lat, dev, ttft, tpot, stepT, nfe float64
	var calls, gen, timed, tpotN int
	for _, b := range rp.Batches {
		lat += b.LatencyS
		nfe += float64(b.NFE)
		gen += b.Generated
		if b.DeviceLatencyS > 0 {
			dev += b.DeviceLatencyS
			timed++
		}
		if diffusion {
			if n := len(b.StepTimesS); n > 0 {
				stepT += b.StepTimesS[n-1] // the sum of the calls' durations
				calls += n
			}
			continue
		}
		ttft += b.TTFTS
		if t, ok := b.TPOT(); ok {
			tpot += t
			tpotN++
		}
	}
	vals := []benchValue{
		{lat / nb * 1e9, "ns/op"}, // the batches' own time, not the repetition's gaps between them
		{rp.TokensPerS, "tok/s"},
		{rp.UsefulTokensPerS, "useful-tok/s"},
	}
	if timed > 0 && timed == len(rp.Batches) {
		vals = append(vals, benchValue{dev / nb, "device-latency-s"})
	}
	if diffusion {
		vals = append(vals, benchValue{stepT / float64(calls), "step-s"}, benchValue{nfe / nb, "nfe"})
	} else {
		vals = append(vals, benchValue{ttft / nb, "ttft-s"})
		if tpotN > 0 { // one token has no time per output token
			vals = append(vals, benchValue{tpot / float64(tpotN), "tpot-s"})
		}
	}
	if rp.EnergyJ != nil && gen > 0 {
		vals = append(vals, benchValue{*rp.EnergyJ / float64(gen), "J/tok"})
	}
	if rp.Clocks != nil {
		vals = append(vals, benchValue{rp.Clocks.SMMHz, "sm-MHz"})
	}
	return vals
}

// benchName is the cell as a benchmark name, "Cell" and one "/key=value"
// part per setting that applies to its family: benchstat's sub-benchmark
// naming. Settings at their defaults (low_confidence remasking, no CFG,
// greedy decoding, bf16) are left out, so names stay short.
func benchName(c bench.Cell) string {
	var b strings.Builder
	b.WriteString("Cell")
	part := func(k, v string) { fmt.Fprintf(&b, "/%s=%s", k, nameValue(v)) }
	num := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	part("model", c.Model)
	part("b", strconv.Itoa(c.Batch))
	part("p", strconv.Itoa(c.PromptLen))
	part("g", strconv.Itoa(c.GenLen))
	if c.Diffusion() {
		switch {
		case c.Threshold > 0:
			part("thr", num(c.Threshold))
		case c.Factor > 0:
			part("fac", num(c.Factor))
		default:
			part("steps", strconv.Itoa(c.Steps))
		}
		part("blk", strconv.Itoa(c.BlockLen))
		part("cache", c.Cache)
		if c.Remasking != "" && c.Remasking != "low_confidence" {
			part("remask", c.Remasking)
		}
		if c.CFGScale != 0 {
			part("cfg", num(c.CFGScale))
		}
	}
	if c.Temperature != 0 {
		part("temp", num(c.Temperature))
	}
	if c.TopK != 0 {
		part("topk", strconv.Itoa(c.TopK))
	}
	if c.TopP != 0 {
		part("topp", num(c.TopP))
	}
	if c.Precision != "" && c.Precision != "bf16" {
		part("prec", c.Precision)
	}
	return b.String()
}

// nameValue makes v safe as one part of a benchmark name: benchfmt ends a
// name at white space and splits it at '/', and a '=' would make the key
// ambiguous; each becomes '_', as does anything unprintable. Invalid UTF-8
// becomes U+FFFD (strings.Map's doing), which benchfmt requires.
func nameValue(v string) string {
	if v == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '=' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return '_'
		}
		return r
	}, v)
}

// benchFloat writes x with 6 significant digits, without an exponent
// (benchfmt reads exponents too; plain digits read better).
func benchFloat(x float64) string {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 6, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}
