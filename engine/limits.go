package engine

import (
	"reflect"
	"time"
)

// Limits bound what one request may make the engine do: how large a
// catalog document may be and how deeply it may nest, how long and how
// costly an expression may be, and how long the names and ids of an order
// may be. Every limit has a safe default (DefaultLimits); a zero field
// takes its default. Each is a documented configuration value (README
// "Limits"); a refusal is a coded error that changes nothing.
type Limits struct {
	// CatalogBytes caps a catalog document's size (INVALID_CATALOG).
	CatalogBytes int
	// CatalogDepth caps how deeply a catalog document's YAML may nest
	// (INVALID_CATALOG naming the path).
	CatalogDepth int
	// CatalogNodes caps the YAML nodes of a catalog document, estimated
	// from its text before it is parsed (the parsed tree takes some
	// hundred bytes a node).
	CatalogNodes int
	// ExprLength caps an expression's source length in bytes.
	ExprLength int
	// ExprDepth caps how deeply an expression may nest (parentheses,
	// brackets, braces, operators), checked before it is parsed.
	ExprDepth int
	// ExprNodes caps an expression's syntax tree (expr-lang MaxNodes).
	ExprNodes uint
	// ExprMemory is an expression evaluation's allocation budget
	// (expr-lang's memory budget, in its units).
	ExprMemory uint
	// ExprTimeout bounds one evaluation's run time.
	ExprTimeout time.Duration
	// ExprSteps caps the loop steps of one evaluation: every element a
	// predicate (all, any, filter, map, reduce, …) is run for.
	ExprSteps int
	// ExprStringBytes caps any string an evaluation builds.
	ExprStringBytes int
	// IDLength caps ids, externalIds, account ids, product codes, line
	// ids, attribute keys and other names given as input, in bytes.
	IDLength int
	// TextLength caps free text given as input (notes, reasons, string
	// attribute values), in bytes.
	TextLength int
	// OrderLines caps the lines of one order.
	OrderLines int
	// ValueDepth caps how deeply a JSON value given as input (attributes,
	// outputs, payloads) may nest.
	ValueDepth int
	// CalloutResponseBytes caps how much of a callout's answer is read: a
	// 2xx answer longer than this fails the attempt (retried like a 5xx)
	// rather than being stored cut short.
	CalloutResponseBytes int
}

// DefaultLimits are the limits a zero Limits field takes.
var DefaultLimits = Limits{
	CatalogBytes:    4 << 20,
	CatalogDepth:    64,
	CatalogNodes:    250_000,
	ExprLength:      4096,
	ExprDepth:       64,
	ExprNodes:       2000,
	ExprMemory:      100_000,
	ExprTimeout:     100 * time.Millisecond,
	ExprSteps:       1_000_000,
	ExprStringBytes: 64 << 10,
	IDLength:        255,
	TextLength:      64 << 10,
	OrderLines:      20_000,
	ValueDepth:      32,

	CalloutResponseBytes: 1 << 20,
}

// WithDefaults fills zero (and negative) fields from DefaultLimits. Every
// field takes part, so a limit added to Limits gets its default here too.
func (l Limits) WithDefaults() Limits {
	v, def := reflect.ValueOf(&l).Elem(), reflect.ValueOf(DefaultLimits)
	for i := range v.NumField() {
		if f := v.Field(i); f.IsZero() || f.CanInt() && f.Int() < 0 {
			f.Set(def.Field(i))
		}
	}
	return l
}
