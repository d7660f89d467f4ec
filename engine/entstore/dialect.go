package entstore

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/lib/pq"

	"github.com/batonhq/baton/engine"
)

// dialect hides the few places where SQLite and PostgreSQL differ. Queries
// are written once, with $N placeholders and these markers:
//
//	{ids $N}      "IN (SELECT unnest($N))" / "IN (SELECT value FROM json_each(?N))" for a list of ids
//	{strs $N}     the same for a list of strings
//	{forupdate}     " FOR UPDATE" / "" (SQLite has one writer)
//	{forupdate t}   " FOR UPDATE OF t" / "": lock only the rows of the table aliased t
//	{skiplocked t}  " FOR UPDATE OF t SKIP LOCKED" / "": the same, passing over rows others hold
//	{json $N}       "$N::jsonb" / "?N"
//	{merge col $N}  col merged with the JSON object $N (or with a column: {merge col v.a})
type sqlDialect struct {
	postgres bool
	mu       sync.Mutex
	cache    map[string]string
}

var markerRe = regexp.MustCompile(`\{(ids|strs|json) \$(\d+)\}|\{merge ([a-z_.]+) (\$\d+|[a-z_]+\.[a-z_]+)\}|\{(forupdate|skiplocked)( [a-z_]+)?\}`)

var placeholderRe = regexp.MustCompile(`\$(\d+)`)

// sql renders a query for the dialect (cached).
func (d *sqlDialect) sql(q string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cache == nil {
		d.cache = map[string]string{}
	}
	if r, ok := d.cache[q]; ok {
		return r
	}
	r := markerRe.ReplaceAllStringFunc(q, func(m string) string {
		sub := markerRe.FindStringSubmatch(m)
		switch {
		case sub[5] != "": // {forupdate [t]}, {skiplocked t}
			if !d.postgres {
				return ""
			}
			lock := " FOR UPDATE"
			if of := strings.TrimSpace(sub[6]); of != "" {
				lock += " OF " + of
			}
			if sub[5] == "skiplocked" {
				lock += " SKIP LOCKED"
			}
			return lock
		case sub[3] != "": // {merge col patch}
			col, patch := sub[3], sub[4]
			if d.postgres {
				if strings.HasPrefix(patch, "$") {
					patch += "::jsonb"
				}
				return "COALESCE(" + col + ", '{}'::jsonb) || " + patch
			}
			return sqliteMerge(col, patch)
		}
		kind, n := sub[1], sub[2]
		switch kind {
		case "ids":
			if d.postgres {
				// IN (SELECT unnest) rather than = ANY: the generic plan of
				// a prepared statement then estimates a few ids and joins
				// by index, where = ANY can be planned as a scan.
				return "IN (SELECT unnest($" + n + "::bigint[]))"
			}
			return "IN (SELECT value FROM json_each($" + n + "))"
		case "strs":
			if d.postgres {
				return "IN (SELECT unnest($" + n + "::text[]))"
			}
			return "IN (SELECT value FROM json_each($" + n + "))"
		default: // json
			if d.postgres {
				return "$" + n + "::jsonb"
			}
			return "$" + n
		}
	})
	if !d.postgres {
		r = sqlitePlaceholders(r)
	}
	d.cache[q] = r
	return r
}

// sqliteMerge merges the JSON object patch into col the way PostgreSQL's
// jsonb || does: top-level keys replaced (nested objects too), nulls
// stored — not json_patch's deep merge that deletes nulls.
func sqliteMerge(col, patch string) string {
	// json_each gives true/false as 1/0 and objects as text whose JSON
	// subtype a subquery drops: carry the type out and rebuild the JSON.
	const v = "CASE type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE value END AS v, type AS t"
	return "(SELECT json_group_object(key, CASE WHEN t IN ('object', 'array', 'true', 'false') THEN json(v) ELSE v END) FROM (" +
		"SELECT key, " + v + " FROM json_each(COALESCE(" + col + ", '{}')) WHERE key NOT IN (SELECT key FROM json_each(" + patch + ")) " +
		"UNION ALL SELECT key, " + v + " FROM json_each(" + patch + ")))"
}

// sqlitePlaceholders rewrites $N for SQLite: plain ? when every $N appears
// once, in order (binding ?NNN costs a name lookup per parameter, which a
// bulk insert of thousands of values feels); ?NNN otherwise ($NNN would
// bind by first appearance, not by number).
func sqlitePlaceholders(q string) string {
	ms := placeholderRe.FindAllStringSubmatch(q, -1)
	sequential := true
	for i, m := range ms {
		if n, _ := strconv.Atoi(m[1]); n != i+1 {
			sequential = false
			break
		}
	}
	if sequential {
		return placeholderRe.ReplaceAllString(q, "?")
	}
	return placeholderRe.ReplaceAllString(q, "?$1")
}

// ids encodes a list of ids as one parameter.
func (d *sqlDialect) ids(ids []int) any {
	if d.postgres {
		a := make(pq.Int64Array, len(ids))
		for i, id := range ids {
			a[i] = int64(id)
		}
		return a
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

// strs encodes a list of strings as one parameter.
func (d *sqlDialect) strs(s []string) any {
	if d.postgres {
		return pq.StringArray(s)
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// jsonValue encodes a JSON column value (NULL for a nil map).
func jsonValue(m map[string]any) any {
	if m == nil {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Values come from JSON input and expressions; a value that cannot
		// be encoded is a bug worth seeing.
		panic(fmt.Sprintf("encode JSON column: %v", err))
	}
	return string(b)
}

func jsonStrings(s []string) any {
	if s == nil {
		return nil
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// jsonScan reads a JSON column into a map; NULL reads as nil.
type jsonScan struct{ m *map[string]any }

func (j jsonScan) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*j.m = nil
		return nil
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("scan JSON: unexpected %T", src)
	}
	if len(b) == 0 || string(b) == "null" {
		*j.m = nil
		return nil
	}
	m, err := engine.DecodeJSONObject(b)
	if err != nil {
		return fmt.Errorf("scan JSON: %w", err)
	}
	*j.m = m
	return nil
}

// nullInt writes 0 as NULL.
func nullInt(v int) any {
	if v == 0 {
		return nil
	}
	return int64(v)
}

// nullStr writes "" as NULL.
func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// intScan reads a nullable integer column as 0.
type intScan struct{ p *int }

func (s intScan) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.p = 0
	case int64:
		*s.p = int(v)
	case []byte:
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return err
		}
		*s.p = n
	default:
		return fmt.Errorf("scan int: unexpected %T", src)
	}
	return nil
}

// strScan reads a nullable text column as "".
type strScan struct{ p *string }

func (s strScan) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.p = ""
	case string:
		*s.p = v
	case []byte:
		*s.p = string(v)
	default:
		return fmt.Errorf("scan string: unexpected %T", src)
	}
	return nil
}

var _ driver.Valuer = pq.Int64Array(nil)
