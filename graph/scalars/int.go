// Package scalars holds Baton's own GraphQL scalar marshalers, bound in
// gqlgen.yml. It is a package of its own because the generated executor
// (graph/generated) imports it, and graph imports the executor.
package scalars

import (
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalInt writes an Int result. Results are not checked: every Int the
// API returns is a count or a quantity it accepted as a 32-bit input.
func MarshalInt(i int) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.FormatInt(int64(i), 10))
	})
}

// UnmarshalInt reads an Int argument or input field as GraphQL defines
// Int: a signed 32-bit integer. gqlgen's own Int takes anything that fits a
// Go int, and the query validator checks literals only against 64 bits, so
// a quantity of 2^40 would be stored as given. Literals (parsed to int64)
// and variables (json.Number) both arrive here. The error becomes a
// BAD_USER_INPUT naming the argument; nothing runs.
func UnmarshalInt(v any) (int, error) {
	n, err := graphql.UnmarshalInt64(v)
	if err != nil {
		// Not err itself: strconv's errors quote the whole input.
		return 0, fmt.Errorf("Int cannot represent non-integer value: %s", shortValue(v))
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, fmt.Errorf("Int cannot represent non 32-bit signed integer value: %d (Int is %d to %d)", n, math.MinInt32, math.MaxInt32)
	}
	return int(n), nil
}

// shortValue renders a rejected value for an error message, cut short: the
// message goes back to the client and may be logged.
func shortValue(v any) string {
	s := fmt.Sprintf("%v", v)
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "…"
	}
	return strconv.Quote(s)
}
