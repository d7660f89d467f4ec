package entstore

import (
	"context"
	"encoding/json"
	"strings"

	"entgo.io/ent/dialect"
)

// SQLite allows at most 32,766 parameters in a statement, and ent's eager
// loading asks for the edges of every parent at once: IN (?, ?, ...) with
// an id per parent. The dependencies of a 50,007-step plan would be a
// statement SQLite refuses. inListDriver rewrites a long IN list into one
// JSON parameter that SQLite expands itself.

// maxInList is the longest IN list passed as it is.
const maxInList = 500

// inListDriver wraps the SQLite driver of the read client.
type inListDriver struct{ dialect.Driver }

func (d inListDriver) Query(ctx context.Context, query string, args, v any) error {
	if a, ok := args.([]any); ok {
		query, args = collapseInLists(query, a, maxInList)
	}
	return d.Driver.Query(ctx, query, args, v)
}

func (d inListDriver) Exec(ctx context.Context, query string, args, v any) error {
	if a, ok := args.([]any); ok {
		query, args = collapseInLists(query, a, maxInList)
	}
	return d.Driver.Exec(ctx, query, args, v)
}

// collapseInLists replaces every "IN (?, ?, ...)" of more than limit
// placeholders with "IN (SELECT value FROM json_each(?))" and the list's
// arguments with one JSON array of them. Lists of values JSON cannot
// carry exactly (anything but integers and strings) stay as they are.
func collapseInLists(query string, args []any, limit int) (string, []any) {
	if len(args) <= limit {
		return query, args
	}
	var b strings.Builder
	var out []any
	argi := 0 // arguments consumed so far
	i := 0
	for i < len(query) {
		j := strings.Index(query[i:], "IN (?")
		if j < 0 {
			break
		}
		start := i + j + len("IN (")
		// The placeholders before the list.
		before := strings.Count(query[i:start], "?")
		n, end := placeholderList(query, start)
		if n <= limit || !jsonable(args[argi+before:argi+before+n]) {
			b.WriteString(query[i:end])
			out = append(out, args[argi:argi+before+n]...)
			argi += before + n
			i = end
			continue
		}
		b.WriteString(query[i:start])
		b.WriteString("SELECT value FROM json_each(?)")
		out = append(out, args[argi:argi+before]...)
		list, _ := json.Marshal(args[argi+before : argi+before+n])
		out = append(out, string(list))
		argi += before + n
		i = end
	}
	if argi == 0 && i == 0 {
		return query, args
	}
	b.WriteString(query[i:])
	out = append(out, args[argi:]...)
	return b.String(), out
}

// placeholderList reads "?, ?, ?" from start and returns how many
// placeholders it holds and where it ends (at the closing parenthesis).
func placeholderList(q string, start int) (n, end int) {
	k := start
	for k < len(q) {
		if q[k] != '?' {
			break
		}
		n++
		k++
		if strings.HasPrefix(q[k:], ", ") {
			k += 2
			continue
		}
		break
	}
	return n, k
}

func jsonable(vals []any) bool {
	for _, v := range vals {
		switch v.(type) {
		case int, int64, int32, string:
		default:
			return false
		}
	}
	return true
}
