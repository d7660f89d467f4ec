package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/batonhq/baton/graph/generated"
	"github.com/batonhq/baton/graph/model"
)

func init() {
	// errcode's table is global and unguarded: fill it once, before any
	// handler reads it.
	for _, code := range []string{codeQueryTooLarge, codeComplexity, codeDepth} {
		errcode.RegisterErrorType(code, errcode.KindProtocol)
	}
}

func refusal(code, format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	errcode.Set(err, code)
	return err
}

// saturation caps every count and cost here: a document of a few
// kilobytes can describe 2^1000 fields through fragments, and a count
// that wrapped around would let it through.
const saturation = 1 << 40

func satAdd(a, b int) int { return min(a+b, saturation) }

func satMul(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a >= saturation/b {
		return saturation
	}
	return a * b
}

// documentBounds refuses, with QUERY_TOO_LARGE, query documents over the
// token limit and operations that select too many fields, aliases or
// fragment spreads — before gqlgen parses and validates them, because
// validation is quadratic in identical fields (OverlappingFieldsCanBeMerged)
// and fragments can expand a small document exponentially. gqlgen has no
// hook between parsing and validation, so this parses the document itself;
// that costs time linear in the document, bounded by the token limit.
// Documents in the query cache passed these checks already.
type documentBounds struct {
	limits Limits
	cache  graphql.Cache[*ast.QueryDocument]
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = documentBounds{}

func (documentBounds) ExtensionName() string                   { return "DocumentBounds" }
func (documentBounds) Validate(graphql.ExecutableSchema) error { return nil }

func (b documentBounds) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if p.Query == "" {
		return nil // gqlgen says what is missing
	}
	if _, ok := b.cache.Get(ctx, p.Query); ok {
		return nil
	}
	if !withinTokens(p.Query, b.limits.Tokens) {
		return refusal(codeQueryTooLarge, "query has more than %d tokens, the limit", b.limits.Tokens)
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: p.Query})
	if err != nil {
		return nil // gqlgen parses it again and reports the error as usual
	}
	n := countDocument(doc)
	switch {
	case n.fields > b.limits.Fields:
		return refusal(codeQueryTooLarge, "query selects %s fields, fragments expanded; the limit is %d", approx(n.fields), b.limits.Fields)
	case n.aliases > b.limits.Aliases:
		return refusal(codeQueryTooLarge, "query has %s aliased fields, fragments expanded; the limit is %d", approx(n.aliases), b.limits.Aliases)
	case n.spreads > b.limits.FragmentSpreads:
		return refusal(codeQueryTooLarge, "query has %s fragment spreads, fragments expanded; the limit is %d", approx(n.spreads), b.limits.FragmentSpreads)
	}
	return nil
}

// approx shows a saturated count as what it is: too many to count.
func approx(n int) string {
	if n >= saturation {
		return "more than " + fmt.Sprint(saturation)
	}
	return fmt.Sprint(n)
}

// withinTokens reports whether query has at most limit lexical tokens,
// counted as gqlgen's parser counts them (a comment is one). It stops
// reading at the first token over the limit. A lexical error is left for
// the parser to report.
func withinTokens(query string, limit int) bool {
	lex := lexer.New(&ast.Source{Input: query})
	for n := 0; ; {
		tok, err := lex.ReadToken()
		if err != nil || tok.Kind == lexer.EOF {
			return true
		}
		if n++; n > limit {
			return false
		}
	}
}

// docShape is what a selection set selects, with its fragments expanded.
type docShape struct{ fields, aliases, spreads int }

func (s docShape) plus(o docShape) docShape {
	return docShape{satAdd(s.fields, o.fields), satAdd(s.aliases, o.aliases), satAdd(s.spreads, o.spreads)}
}

// shapeCounter expands fragments by memo: each fragment is walked once,
// so counting is linear in the document whatever the expansion comes to.
type shapeCounter struct {
	fragments map[string]*ast.FragmentDefinition
	memo      map[string]docShape
}

// countDocument counts every operation of doc (validation walks them
// all, not only the one that runs) and each fragment no operation
// spreads (validation walks those too).
func countDocument(doc *ast.QueryDocument) docShape {
	c := shapeCounter{fragments: map[string]*ast.FragmentDefinition{}, memo: map[string]docShape{}}
	for _, f := range doc.Fragments {
		if _, dup := c.fragments[f.Name]; !dup { // validation reports the duplicate
			c.fragments[f.Name] = f
		}
	}
	var total docShape
	for _, op := range doc.Operations {
		total = total.plus(c.selections(op.SelectionSet))
	}
	for _, f := range doc.Fragments {
		if _, counted := c.memo[f.Name]; !counted {
			total = total.plus(c.fragment(f.Name))
		}
	}
	return total
}

func (c *shapeCounter) selections(set ast.SelectionSet) docShape {
	var n docShape
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			n.fields = satAdd(n.fields, 1)
			if s.Alias != "" && s.Alias != s.Name {
				n.aliases = satAdd(n.aliases, 1)
			}
			n = n.plus(c.selections(s.SelectionSet))
		case *ast.InlineFragment:
			n = n.plus(c.selections(s.SelectionSet))
		case *ast.FragmentSpread:
			n.spreads = satAdd(n.spreads, 1)
			n = n.plus(c.fragment(s.Name))
		}
	}
	return n
}

func (c *shapeCounter) fragment(name string) docShape {
	if n, ok := c.memo[name]; ok {
		return n
	}
	f := c.fragments[name]
	if f == nil {
		return docShape{} // an unknown fragment: validation reports it
	}
	// A cycle (which validation refuses) counts its second lap as empty.
	c.memo[name] = docShape{}
	n := c.selections(f.SelectionSet)
	c.memo[name] = n
	return n
}

// complexityLimit refuses operations that cost more than max
// (COMPLEXITY_LIMIT_EXCEEDED). It replaces gqlgen's ComplexityLimit, whose
// walk expands every fragment spread anew (exponential time for nested
// fragments) and counts neither plain lists nor introspection. Here:
//
//   - a field costs 1 plus its children;
//   - a Relay connection costs its children times the page asked for;
//   - a field with its own cost in the generated ComplexityRoot
//     (nodes(ids), retrySteps(ids); see connectionCosts) costs that;
//   - any other list of objects (an order's lines, a plan's steps…)
//     costs 1 plus its children times listSize, its assumed length
//     (listSizes names the exceptions); a connection's edges are already
//     counted by the connection's page size;
//   - introspection (__schema, __type) costs one unit per type, field,
//     argument, input field, enum value and directive it lists, at the
//     schema's own sizes (see introspectionSizes);
//   - every alias is a separate execution and costs in full;
//   - each fragment is costed once, however often it is spread.
type complexityLimit struct {
	max      int
	listSize int
	es       graphql.ExecutableSchema
	intro    map[string]introListSize
}

// introListSize is the length an introspection list is costed at: total/per
// elements, kept as a fraction so that small averages stay exact.
type introListSize struct{ total, per int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = &complexityLimit{}

func (*complexityLimit) ExtensionName() string { return "ComplexityLimit" }

func (c *complexityLimit) Validate(es graphql.ExecutableSchema) error {
	c.es = es
	c.intro = introspectionSizes(es.Schema())
	return nil
}

func (c *complexityLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	w := costWalker{ctx: ctx, c: c, vars: oc.Variables, memo: map[string]int{}}
	if cost := w.selections(oc.Operation.SelectionSet, false); cost > c.max {
		return refusal(codeComplexity, "operation has complexity %s, which exceeds the limit of %d", approx(cost), c.max)
	}
	return nil
}

// introspectionSizes measures the lists introspection can return from the
// schema itself: "avg:" sizes are the schema's totals over its types (a
// type's fields in __schema { types { fields } } cost the schema's
// fields, whatever their spread), "max:" sizes those of the largest type,
// for the one type that __type(name:) and queryType show.
func introspectionSizes(s *ast.Schema) map[string]introListSize {
	sizes := map[string]introListSize{}
	var totals, largest [5]int // fields, inputFields, enumValues, interfaces, possibleTypes
	var args, fields, directiveArgs int
	for _, t := range s.Types {
		var n [5]int
		if t.Kind == ast.InputObject {
			n[1] = len(t.Fields)
		} else {
			n[0] = len(t.Fields)
			for _, f := range t.Fields {
				args += len(f.Arguments)
			}
			fields += len(t.Fields)
		}
		n[2], n[3] = len(t.EnumValues), len(t.Interfaces)
		if t.IsAbstractType() {
			n[4] = len(s.GetPossibleTypes(t))
		}
		for i := range n {
			totals[i] += n[i]
			largest[i] = max(largest[i], n[i])
		}
	}
	for _, d := range s.Directives {
		directiveArgs += len(d.Arguments)
	}
	types := max(len(s.Types), 1)
	for i, name := range []string{"fields", "inputFields", "enumValues", "interfaces", "possibleTypes"} {
		sizes["avg:__Type."+name] = introListSize{totals[i], types}
		sizes["max:__Type."+name] = introListSize{largest[i], 1}
	}
	sizes["avg:__Schema.types"] = introListSize{len(s.Types), 1}
	sizes["avg:__Schema.directives"] = introListSize{len(s.Directives), 1}
	sizes["avg:__Field.args"] = introListSize{args, max(fields, 1)}
	sizes["avg:__Directive.args"] = introListSize{directiveArgs, max(len(s.Directives), 1)}
	return sizes
}

// costWalker costs one operation; memo holds each fragment's cost.
type costWalker struct {
	ctx  context.Context
	c    *complexityLimit
	vars map[string]any
	memo map[string]int
}

// selections costs a selection set. one says the set selects from one
// particular type (__type(name:), queryType…), whose lists introspection
// costs at the largest type's sizes.
func (w *costWalker) selections(set ast.SelectionSet, one bool) int {
	cost := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			cost = satAdd(cost, w.field(s, one))
		case *ast.InlineFragment:
			cost = satAdd(cost, w.selections(s.SelectionSet, one))
		case *ast.FragmentSpread:
			key := s.Name
			if one {
				key += "\x00one"
			}
			n, ok := w.memo[key]
			if !ok && s.Definition != nil {
				w.memo[key] = 0 // validation refused cycles; stay finite anyway
				n = w.selections(s.Definition.SelectionSet, one)
				w.memo[key] = n
			}
			cost = satAdd(cost, n)
		}
	}
	return cost
}

func (w *costWalker) field(f *ast.Field, one bool) int {
	if f.Definition == nil || f.ObjectDefinition == nil {
		return 1
	}
	parent := f.ObjectDefinition.Name
	switch {
	case f.Name == "__type", parent == "__Schema" && strings.HasSuffix(f.Name, "Type"):
		// the selection is one type's (the query type's, say)
		child := w.selections(f.SelectionSet, true)
		if f.Name == "__type" {
			return satAdd(1, child)
		}
		return child
	case f.Name == "__schema":
		return satAdd(1, w.selections(f.SelectionSet, false))
	case strings.HasPrefix(parent, "__"):
		return w.introspectionField(f, w.selections(f.SelectionSet, false), one)
	}
	child := w.selections(f.SelectionSet, false)
	if strings.HasSuffix(f.Definition.Type.Name(), "Connection") {
		return satMul(child, connectionPage(f.ArgumentMap(w.vars)))
	}
	if cost, ok := w.custom(f, child); ok {
		return cost
	}
	if f.Definition.Type.Elem != nil && child > 0 &&
		!(f.Name == "edges" && strings.HasSuffix(parent, "Connection")) {
		size, ok := listSizes[parent+"."+f.Name]
		if !ok {
			size = w.c.listSize
		}
		return satAdd(1, satMul(size, child))
	}
	return satAdd(1, child)
}

// listSizes are the plain lists whose assumed length is not
// Limits.ListSize. A step's dependsOn and dependents are its edges in the
// plan's graph: a few steps each, and queries follow them many levels
// deep (the depth limit, 15, allows 11 levels below plan.steps), so they
// cost as much as one step: at ListSize each, a walk down 11 levels would
// cost ListSize^11.
var listSizes = map[string]int{
	"Step.dependsOn":  1,
	"Step.dependents": 1,
}

// introspectionField costs a field of an introspection type: its lists
// count their elements, scalars are free (their object was counted), a
// single object (a field's type, ofType) costs what it selects.
func (w *costWalker) introspectionField(f *ast.Field, child int, one bool) int {
	key := f.ObjectDefinition.Name + "." + f.Name
	size, ok := w.c.intro["avg:"+key]
	if m, isMax := w.c.intro["max:"+key]; one && isMax {
		size, ok = m, true
	}
	if !ok {
		if f.Definition.Type.Elem == nil {
			return child
		}
		size = introListSize{w.c.listSize, 1} // a list this gqlgen version adds
	}
	// ceil(total × (1+child) / per): each element costs 1 plus its own.
	n := satMul(size.total, satAdd(1, child))
	if n >= saturation {
		return n
	}
	return (n + size.per - 1) / size.per
}

// custom is the field's cost from the generated ComplexityRoot, if it has
// one; a field of an interface costs what its costliest implementation
// does.
func (w *costWalker) custom(f *ast.Field, child int) (int, bool) {
	args := f.ArgumentMap(w.vars)
	es, schema := w.c.es, w.c.es.Schema()
	if f.ObjectDefinition.Kind != ast.Interface {
		cost, ok := es.Complexity(w.ctx, f.ObjectDefinition.Name, f.Name, child, args)
		return cost, ok && cost >= 1
	}
	found, worst := false, 0
	for _, t := range schema.GetPossibleTypes(f.ObjectDefinition) {
		if cost, ok := es.Complexity(w.ctx, t.Name, f.Name, child, args); ok && cost >= 1 {
			found, worst = true, max(worst, cost)
		}
	}
	return worst, found
}

// connectionPage is the page a Relay connection is asked for: first or
// last, 50 (entgql's default) without either. It reads the arguments
// itself: the generated ComplexityRoot would decode every argument first,
// a `where` filter of 50,000 terms included, before the request is
// refused or runs.
func connectionPage(args map[string]any) int {
	for _, name := range []string{"first", "last"} {
		switch n := args[name].(type) {
		case int64:
			return int(max(1, min(n, saturation)))
		case int:
			return max(1, min(n, saturation))
		case float64:
			return int(max(1, min(n, saturation)))
		case json.Number:
			if v, err := n.Float64(); err == nil {
				return int(max(1, min(v, saturation)))
			}
		}
	}
	return 50
}

// connectionCosts makes the fields that take a list of ids cost their
// children once per id.
func connectionCosts(c *generated.ComplexityRoot) {
	perID := func(child int, ids []int) int { return satAdd(1, satMul(child, max(len(ids), 1))) }
	c.Query.Nodes = func(child int, ids []int) int { return perID(child, ids) }
	c.Mutation.RetrySteps = func(child int, ids []int, _ *string) int { return perID(child, ids) }
	// Order.changeable reads the order's whole plan in a transaction of
	// its own: a list of orders asking for it is priced for that.
	c.Order.Changeable = func(child int) int { return satAdd(child, changeableCost) }
	// A plan's pictures and timeline read its steps and their forecast
	// (timeline: and its steps again, by a statement of its own).
	c.Plan.Mermaid = func(child int) int { return satAdd(child, pictureCost) }
	c.Plan.Dot = func(child int) int { return satAdd(child, pictureCost) }
	c.Plan.Timeline = func(child int) int { return satAdd(child, pictureCost) }
	// analytics reads every row that finished in its range.
	c.Query.Analytics = func(child int, _, _ time.Time, _ model.AnalyticsBucket, _ *model.AnalyticsGroupBy) int {
		return satAdd(child, analyticsCost)
	}
}

// pictureCost is what Plan.mermaid, Plan.dot and Plan.timeline cost: a
// list of 200 plans asking for one reaches the default Complexity limit.
const pictureCost = 25

// changeableCost is what Order.changeable costs: a hundred orders with it
// reach the default Complexity limit.
const changeableCost = 50
