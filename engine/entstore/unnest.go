package entstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
)

// Bulk statements on PostgreSQL take one array parameter per column and
// unnest them into rows:
//
//	INSERT INTO t (a, b) SELECT * FROM unnest($1::int8[], $2::text[])
//
// rather than a VALUES list with a placeholder per value. The statement's
// text then depends on the columns only, not on the number of rows: it is
// prepared and planned once per connection and reused for every batch,
// where each new VALUES length was a new statement to parse and plan (and
// to keep in the statement cache). There is no parameter limit to chunk
// around either: a 50,000-step plan is one statement.

// loadColumnTypes reads the PostgreSQL type of every column of the schema
// (the array casts of unnest need them).
func (s *Store) loadColumnTypes(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT table_name, column_name, udt_name FROM information_schema.columns
		WHERE table_schema = current_schema()`)
	if err != nil {
		return fmt.Errorf("read column types: %w", err)
	}
	defer rows.Close()
	s.colTypes = map[string]string{}
	for rows.Next() {
		var table, col, typ string
		if err := rows.Scan(&table, &col, &typ); err != nil {
			return fmt.Errorf("read column types: %w", err)
		}
		s.colTypes[table+"."+col] = typ
	}
	return rows.Err()
}

// unnestSelect renders SELECT * FROM unnest(...) over the given columns of
// table, its placeholders numbered from first, and the array arguments.
func (s *Store) unnestSelect(table string, cols []string, rows [][]any, first int) (string, []any, error) {
	u, args, err := s.unnest(table, cols, rows, first)
	if err != nil {
		return "", nil, err
	}
	return "SELECT * FROM " + u, args, nil
}

// unnest is the one transposition of rows into columns: it renders
// unnest($first::type[], ...) over the given columns of table, typed as
// the schema types them (loadColumnTypes), with one array argument per
// column.
func (s *Store) unnest(table string, cols []string, rows [][]any, first int) (string, []any, error) {
	var b strings.Builder
	b.WriteString("unnest(")
	args := make([]any, len(cols))
	col := make([]any, len(rows))
	for j, c := range cols {
		name := strings.Trim(c, `"`)
		typ, ok := s.colTypes[table+"."+name]
		if !ok {
			return "", nil, fmt.Errorf("insert %s: no column %q", table, name)
		}
		if j > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d::%s[]", first+j, typ)
		for i, r := range rows {
			col[i] = r[j]
		}
		lit, err := pgArray(col)
		if err != nil {
			return "", nil, fmt.Errorf("insert %s.%s: %w", table, name, err)
		}
		args[j] = lit
	}
	b.WriteString(")")
	return b.String(), args, nil
}

// pgArray renders values as the text form of a PostgreSQL array: every
// element quoted (the server parses it as the array's element type), nil
// as NULL, times as lib/pq sends a time parameter.
func pgArray(vals []any) (string, error) {
	var b strings.Builder
	b.Grow(16 * len(vals))
	b.WriteByte('{')
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		var s string
		switch v := v.(type) {
		case nil:
			b.WriteString("NULL")
			continue
		case *time.Time:
			if v == nil {
				b.WriteString("NULL")
				continue
			}
			s = string(pq.FormatTimestamp(*v))
		case time.Time:
			s = string(pq.FormatTimestamp(v))
		case string:
			s = v
		case int:
			s = strconv.Itoa(v)
		case int64:
			s = strconv.FormatInt(v, 10)
		case int32:
			s = strconv.FormatInt(int64(v), 10)
		case float64:
			s = strconv.FormatFloat(v, 'g', -1, 64)
		case bool:
			s = strconv.FormatBool(v)
		case *string:
			if v == nil {
				b.WriteString("NULL")
				continue
			}
			s = *v
		default:
			return "", fmt.Errorf("cannot write %T in an array", v)
		}
		b.WriteByte('"')
		for j := 0; j < len(s); j++ {
			if c := s[j]; c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String(), nil
}
