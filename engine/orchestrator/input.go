package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/batonhq/baton/engine"
)

// The rules every value given as input meets before anything is written,
// the same on every backend. SQLite stores whatever it is given; PostgreSQL
// refuses NUL characters and invalid UTF-8 in text columns and `\u0000` in
// jsonb, and an index entry longer than about 2.7 KB: without these checks
// the same request was stored on one database and an internal error (the
// whole value echoed in the log) on the other.
//
//   - ids and names (externalId, accountId, line ids, product codes, parent
//     ids, attribute keys, signal and system names, assignees, orchestration
//     types and subjects): at most Limits.IDLength bytes;
//   - free text (notes, errors, string values inside attributes, outputs,
//     payloads and contexts): at most Limits.TextLength bytes;
//   - every string: valid UTF-8 without NUL characters;
//   - JSON values: nested at most Limits.ValueDepth deep, numbers finite,
//     only JSON's kinds of value;
//   - an order: at most Limits.OrderLines lines, quantities within GraphQL's
//     32-bit Int.
//
// A refusal is BAD_USER_INPUT listing each problem with its path
// (`lines[3].attributes.color`, `output["a\u0000b"]`) and never the
// offending value in full.

// maxInputProblems bounds the problems one refusal lists: a 20,000-line
// order with a NUL in every line gets a short answer.
const maxInputProblems = 20

// QuantityMax is the largest line quantity an order may have: GraphQL's Int
// is a signed 32-bit integer, and the engine takes no more from its Go
// callers than from the API.
const QuantityMax = math.MaxInt32

// inputCheck collects the problems of one request's input. Its methods
// chain: newInputCheck(l).name("event", ev).value("payload", p).err().
type inputCheck struct {
	lim      engine.Limits
	problems []engine.Problem
	full     bool // maxInputProblems reached: later checks are skipped
}

func newInputCheck(l engine.Limits) *inputCheck { return &inputCheck{lim: l.WithDefaults()} }

func (c *inputCheck) add(path, format string, args ...any) {
	if c.full {
		return
	}
	c.problems = append(c.problems, engine.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	if len(c.problems) >= maxInputProblems {
		c.full = true
		c.problems = append(c.problems, engine.Problem{Message: "further problems were not looked for"})
	}
}

// name checks an id or name (Limits.IDLength).
func (c *inputCheck) name(path, s string) *inputCheck {
	if msg := stringProblem(s, c.lim.IDLength); msg != "" {
		c.add(path, "%s", msg)
	}
	return c
}

// text checks free text (Limits.TextLength).
func (c *inputCheck) text(path, s string) *inputCheck {
	if msg := stringProblem(s, c.lim.TextLength); msg != "" {
		c.add(path, "%s", msg)
	}
	return c
}

// actor checks who is acting (WithActor): the name a client gave (the
// X-Baton-User header, connection_init's user) is stored on the events
// and outputs of what it does, like any other name.
func (c *inputCheck) actor(ctx context.Context) *inputCheck {
	if msg := stringProblem(ActorFrom(ctx), c.lim.IDLength); msg != "" {
		c.add("actor", "the acting user's name %s", msg)
	}
	return c
}

// value checks a JSON object given as input (attributes, an output, a
// payload, a context); nil is no value and passes.
func (c *inputCheck) value(path string, m map[string]any) *inputCheck {
	if m != nil {
		c.walk(path, m, 1)
	}
	return c
}

// err is nil when no problem was found, else BAD_USER_INPUT with them all.
func (c *inputCheck) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	return &engine.Error{Code: engine.CodeBadUserInput, Message: "invalid input", Problems: c.problems}
}

// stringProblem says what is wrong with s as a stored string of at most
// max bytes, or "" when nothing is. The message names sizes, never the
// value.
func stringProblem(s string, max int) string {
	switch {
	case len(s) > max:
		return fmt.Sprintf("too long: %d bytes, the limit is %d", len(s), max)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Sprintf("contains a NUL character (\\u0000) at byte %d, which cannot be stored", strings.IndexByte(s, 0))
	case !utf8.ValidString(s):
		return "not valid UTF-8"
	}
	return ""
}

// walk checks a JSON value at depth (an object or a list is one level).
func (c *inputCheck) walk(path string, v any, depth int) {
	if c.full {
		return
	}
	switch x := v.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
	case string:
		c.text(path, x)
	case json.Number:
		c.text(path, string(x))
	case float64:
		c.finite(path, x)
	case float32:
		c.finite(path, float64(x))
	case map[string]any:
		if c.deep(path, depth) {
			return
		}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			kp := keyPath(path, k)
			c.name(kp, k)
			c.walk(kp, x[k], depth+1)
		}
	case []any:
		if c.deep(path, depth) {
			return
		}
		for i, e := range x {
			c.walk(path+"["+strconv.Itoa(i)+"]", e, depth+1)
		}
	default:
		c.walkOther(path, reflect.ValueOf(v), depth)
	}
}

// walkOther checks values Go callers pass that are not what JSON decodes
// to ([]string, map[string]int, ...), by their kind: what encoding/json
// stores as a JSON value of the same shape passes the same rules.
func (c *inputCheck) walkOther(path string, v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.String:
		c.text(path, v.String())
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
	case reflect.Float32, reflect.Float64:
		c.finite(path, v.Float())
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			c.walk(path, v.Elem().Interface(), depth)
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return
		}
		if c.deep(path, depth) {
			return
		}
		for i := 0; i < v.Len() && !c.full; i++ {
			c.walk(path+"["+strconv.Itoa(i)+"]", v.Index(i).Interface(), depth+1)
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			c.add(path, "a %s is not a JSON object (its keys are not strings)", v.Type())
			return
		}
		if v.IsNil() || c.deep(path, depth) {
			return
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			kp := keyPath(path, k.String())
			c.name(kp, k.String())
			c.walk(kp, v.MapIndex(k).Interface(), depth+1)
		}
	default:
		c.add(path, "a %s is not a JSON value", v.Type())
	}
}

// deep reports (and records) an object or list nested past ValueDepth.
func (c *inputCheck) deep(path string, depth int) bool {
	if depth > c.lim.ValueDepth {
		c.add(path, "the value nests more than %d levels deep", c.lim.ValueDepth)
		return true
	}
	return false
}

func (c *inputCheck) finite(path string, f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		c.add(path, "%v is not a JSON number", f)
	}
}

// keyPath extends a path by an object key: `.key` for a plain name,
// `["…"]` quoted (and cut short) otherwise, so that a key with a NUL or
// of 10 KB makes a readable path.
func keyPath(path, k string) string {
	if plainKey(k) {
		return path + "." + k
	}
	const show = 40
	q := k
	if len(q) > show {
		q = strings.ToValidUTF8(q[:show], "") + "…"
	}
	return path + "[" + strconv.Quote(q) + "]"
}

func plainKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i, r := range k {
		switch {
		case r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// checkOrderInput checks a submitted order (after normalize): its ids,
// codes, attributes, line count and quantities. The catalog's rules
// (known products, parents, actions) are ValidateOrder's.
func checkOrderInput(in *engine.OrderInput, l engine.Limits) error {
	c := newInputCheck(l)
	c.name("externalId", in.ExternalID).name("accountId", in.AccountID).value("attributes", in.Attributes)
	if len(in.Lines) > c.lim.OrderLines {
		// Not one problem per line: the count alone is the answer.
		c.add("lines", "the order has %d lines; the limit is %d", len(in.Lines), c.lim.OrderLines)
		return c.err()
	}
	for i := range in.Lines {
		if c.full {
			break
		}
		ln := &in.Lines[i]
		p := "lines[" + strconv.Itoa(i) + "]"
		c.name(p+".id", ln.ID).name(p+".productCode", ln.ProductCode).name(p+".parentId", ln.ParentID).
			name(p+".action", string(ln.Action)).value(p+".attributes", ln.Attributes)
		if ln.Quantity > QuantityMax {
			c.add(p+".quantity", "quantity %d is more than %d", ln.Quantity, QuantityMax)
		}
	}
	return c.err()
}
