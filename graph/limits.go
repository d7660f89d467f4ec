package graph

import "time"

// Limits bound what one GraphQL request may make the server do. A zero
// field takes its value from DefaultLimits. Each is a documented
// configuration value (README "Limits"); a refusal is a GraphQL error with
// extensions.code, and nothing runs.
type Limits struct {
	// Complexity caps a query's cost (COMPLEXITY_LIMIT_EXCEEDED); a list
	// or Relay connection costs its children times its page size.
	Complexity int
	// ListSize is the length a plain list (one without first/last: an
	// order's lines, a plan's steps) is assumed to have when a query is
	// costed against Complexity.
	ListSize int
	// Depth caps selection nesting outside introspection
	// (DEPTH_LIMIT_EXCEEDED).
	Depth int
	// Tokens caps the lexical tokens of a query document.
	Tokens int
	// Fields caps the field selections of an operation, counted through
	// fragments as they expand.
	Fields int
	// Aliases caps the aliased fields of an operation.
	Aliases int
	// FragmentSpreads caps the fragment spreads of an operation, counted
	// as they expand.
	FragmentSpreads int
	// RequestTimeout is every request's deadline; when it passes, or the
	// client goes away, the work stops.
	RequestTimeout time.Duration
	// BodyTimeout bounds how long reading a request body may take.
	BodyTimeout time.Duration
	// MaxBodyBytes caps a request body (REQUEST_TOO_LARGE).
	MaxBodyBytes int64
	// WhereTerms caps the predicates (and/or/not terms and field
	// conditions) of one `where` filter (BAD_USER_INPUT).
	WhereTerms int
	// WhereStringBytes caps a string compared in a `where` filter.
	WhereStringBytes int
	// WebsocketOperations caps the operations one websocket connection
	// runs at once; one more is refused with an error for its id
	// (TOO_MANY_OPERATIONS).
	WebsocketOperations int
	// WebsocketInitTimeout is how long a websocket connection may take to
	// send connection_init (then it is closed with 4408).
	WebsocketInitTimeout time.Duration
}

// DefaultLimits are the limits a zero Limits field takes.
var DefaultLimits = Limits{
	Complexity:       5000,
	ListSize:         10,
	Depth:            15,
	Tokens:           15000,
	Fields:           2000,
	Aliases:          100,
	FragmentSpreads:  500,
	RequestTimeout:   30 * time.Second,
	BodyTimeout:      30 * time.Second,
	MaxBodyBytes:     32 << 20,
	WhereTerms:       200,
	WhereStringBytes: 1024,

	WebsocketOperations:  100,
	WebsocketInitTimeout: 10 * time.Second,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.Complexity, d.Complexity)
	set(&l.ListSize, d.ListSize)
	set(&l.Depth, d.Depth)
	set(&l.Tokens, d.Tokens)
	set(&l.Fields, d.Fields)
	set(&l.Aliases, d.Aliases)
	set(&l.FragmentSpreads, d.FragmentSpreads)
	set(&l.WhereTerms, d.WhereTerms)
	set(&l.WhereStringBytes, d.WhereStringBytes)
	set(&l.WebsocketOperations, d.WebsocketOperations)
	if l.WebsocketInitTimeout <= 0 {
		l.WebsocketInitTimeout = d.WebsocketInitTimeout
	}
	if l.RequestTimeout <= 0 {
		l.RequestTimeout = d.RequestTimeout
	}
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = d.BodyTimeout
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	return l
}
