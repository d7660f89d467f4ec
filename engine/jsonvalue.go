package engine

import (
	"encoding/json"
	"math"
	"strconv"
)

// NormalizeJSON turns a decoded JSON value into the shapes expressions and
// storage expect: whole numbers as int, other numbers as float64 (whether
// they arrived as json.Number, int64 or float64), maps and lists converted
// all the way down.
func NormalizeJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return int(n)
		}
		f, err := x.Float64()
		if err != nil {
			return string(x)
		}
		return NormalizeJSON(f)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int(x)
		}
		return x
	case float32:
		return NormalizeJSON(float64(x))
	case int64:
		return int(x)
	case int32:
		return int(x)
	case map[string]any:
		for k, e := range x {
			x[k] = NormalizeJSON(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = NormalizeJSON(e)
		}
		return x
	}
	return v
}

// NormalizeMap is NormalizeJSON for an object.
func NormalizeMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return NormalizeJSON(m).(map[string]any)
}

// DecodeJSONObject decodes a JSON object with NormalizeJSON's number rules.
func DecodeJSONObject(b []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return NormalizeMap(m), nil
}
