package report

import (
	"bytes"
	"encoding"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"time"

	"dllmbench/bench"
	"dllmbench/prompts"
)

// summary is one cell of records_summary.json: a record without its
// prompts, outputs and repetitions; how many prompts and repetitions it
// ran, where the prompts came from, and why it has no energy stay.
type summary struct {
	Key          string                `json:"key"`
	Grid         string                `json:"grid"`
	Status       string                `json:"status"`
	Error        string                `json:"error,omitempty"`
	Cell         bench.Cell            `json:"cell"`
	Model        bench.ModelInfo       `json:"model"`
	Started      time.Time             `json:"started"`
	Duration     float64               `json:"duration_s"`
	PausedS      float64               `json:"paused_s,omitempty"`
	Repetitions  int                   `json:"repetitions"`
	PromptCount  int                   `json:"prompt_count"`
	PromptSource *prompts.Origin       `json:"prompt_source,omitempty"`
	Stats        map[string]bench.Stat `json:"stats"`
	Pooled       map[string]bench.Dist `json:"pooled,omitempty"`
	EnergyNote   string                `json:"energy_note,omitempty"`
	Memory       bench.Memory          `json:"memory"`
	Roofline     bench.Roofline        `json:"roofline"`
	Env          bench.Env             `json:"env"`
}

// summaryBytes renders records_summary.json: a JSON array with one object
// per record, indented, with null where a number is NaN or ±Inf (which
// encoding/json refuses to encode).
func summaryBytes(recs []bench.Record) ([]byte, error) {
	out := make([]summary, 0, len(recs))
	for _, r := range recs {
		out = append(out, summary{
			Key: r.Key, Grid: r.Grid, Status: r.Status, Error: r.Error, Cell: r.Cell, Model: r.Model,
			Started: r.Started, Duration: r.Duration, PausedS: r.PausedS, Repetitions: len(r.Reps), PromptCount: len(r.Prompts),
			PromptSource: r.PromptSource, Stats: r.Stats, Pooled: r.Pooled, EnergyNote: r.EnergyNote,
			Memory: r.Memory, Roofline: r.Roofline, Env: r.Env,
		})
	}
	b, err := marshalFinite(out)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// marshalFinite encodes v as json.Marshal does, byte for byte, except that
// a NaN or ±Inf float becomes null instead of an error. It rebuilds v as a
// tree that encoding/json can always encode (see jsonTree), so that records
// gaining fields need no change here.
func marshalFinite(v any) ([]byte, error) {
	t, err := jsonTree(reflect.ValueOf(v))
	if err != nil {
		return nil, err
	}
	return json.Marshal(t)
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// jsonTree converts v to nil, a scalar, json.RawMessage, []any,
// map[string]any or object, following encoding/json's rules for the kinds
// bench's records use: field names and omitempty from json tags, embedded
// structs flattened, map keys sorted (by encoding/json itself), nil slices
// and maps as null, and a type's own MarshalJSON or MarshalText. Non-finite
// floats become nil. Not supported, and not used by records: the ",string"
// tag option and name conflicts between embedded structs.
func jsonTree(v reflect.Value) (any, error) {
	if !v.IsValid() {
		return nil, nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
	}
	t := v.Type()
	if t.Implements(jsonMarshaler) || t.Implements(textMarshaler) ||
		(v.CanAddr() && (reflect.PointerTo(t).Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(textMarshaler))) {
		if v.CanAddr() && !t.Implements(jsonMarshaler) && !t.Implements(textMarshaler) {
			v = v.Addr()
		}
		b, err := json.Marshal(v.Interface())
		return json.RawMessage(b), err
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, nil
		}
		return v.Interface(), nil
	case reflect.Pointer, reflect.Interface:
		return jsonTree(v.Elem())
	case reflect.Struct:
		var o object
		err := appendFields(&o, v)
		return o, err
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		if v.Type().Key().Kind() != reflect.String {
			b, err := json.Marshal(v.Interface()) // not in records: no NaN handling
			return json.RawMessage(b), err
		}
		m := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			e, err := jsonTree(it.Value())
			if err != nil {
				return nil, err
			}
			m[it.Key().String()] = e
		}
		return m, nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil, nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b, err := json.Marshal(v.Interface()) // base64, as encoding/json writes bytes
			return json.RawMessage(b), err
		}
		s := make([]any, v.Len())
		for i := range s {
			e, err := jsonTree(v.Index(i))
			if err != nil {
				return nil, err
			}
			s[i] = e
		}
		return s, nil
	}
	return v.Interface(), nil
}

// appendFields appends the exported fields of struct v to o, flattening
// untagged embedded structs as encoding/json does.
func appendFields(o *object, v reflect.Value) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
				if fv.IsNil() {
					continue
				}
				fv = fv.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if err := appendFields(o, fv); err != nil {
					return err
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if hasOpt(opts, "omitempty") && isEmpty(fv) {
			continue
		}
		e, err := jsonTree(fv)
		if err != nil {
			return err
		}
		*o = append(*o, member{name, e})
	}
	return nil
}

func hasOpt(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// isEmpty is encoding/json's omitempty test.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// object is a JSON object that keeps its members in order (struct field
// order, as encoding/json writes structs).
type object []member

type member struct {
	name  string
	value any
}

// MarshalJSON implements json.Marshaler.
func (o object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(m.name)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		b, err := json.Marshal(m.value)
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
