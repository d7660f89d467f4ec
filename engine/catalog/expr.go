package catalog

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/batonhq/baton/engine"
)

// StepView is `step` in expressions.
type StepView struct {
	ID      int    `expr:"id"`
	Name    string `expr:"name"`
	Attempt int    `expr:"attempt"`
}

// ResponseView is `response` in a callout's `set` expressions.
type ResponseView struct {
	Status  int               `expr:"status"`
	Body    any               `expr:"body"`
	Headers map[string]string `expr:"headers"`
}

// Helpers are the functions every expression may call. They are fields so
// that each evaluation binds them to its own order.
type Helpers struct {
	// HasProduct reports whether the order has a line of the product
	// (commercial) or a fulfillment line of it (technical).
	HasProduct func(code string) bool `expr:"hasProduct"`
	// CountProduct sums the quantity of the order's lines of the product.
	CountProduct func(code string) int `expr:"countProduct"`
	// Now is the engine clock's time of the evaluation.
	Now time.Time `expr:"now"`

	// budget is the running evaluation's (Expr.Eval sets it); done is the
	// cancellation of the request the evaluations serve (nil: none).
	budget *exprBudget
	Done   <-chan struct{}
}

// OrderEnv is the environment of order-level expressions: ORDER enrichment
// and SALES scenario conditions.
type OrderEnv struct {
	Helpers
	Order   *engine.OrderView   `expr:"order"`
	Account *engine.AccountView `expr:"account"`
}

// LineEnv is the environment of line-level expressions: LINE enrichment and
// decomposition rules.
type LineEnv struct {
	Helpers
	Order   *engine.OrderView   `expr:"order"`
	Account *engine.AccountView `expr:"account"`
	Line    *engine.LineView    `expr:"line"`
	Bundle  *engine.LineView    `expr:"bundle"`
}

// GenericEnv is the environment of GENERIC scenario conditions and items.
type GenericEnv struct {
	Helpers
	Type      string         `expr:"type"`
	SubjectID string         `expr:"subjectId"`
	Context   map[string]any `expr:"context"`
}

// StepEnv is the environment of step expressions: conditions, callout
// bodies and paths, action parameters.
type StepEnv struct {
	Helpers
	Order     *engine.OrderView   `expr:"order"`
	Account   *engine.AccountView `expr:"account"`
	Item      *engine.ItemView    `expr:"item"`
	Bundle    *engine.LineView    `expr:"bundle"`
	Context   map[string]any      `expr:"context"`
	Type      string              `expr:"type"`
	SubjectID string              `expr:"subjectId"`
	Step      *StepView           `expr:"step"`
}

// ResponseEnv is the environment of a callout's `set` expressions.
type ResponseEnv struct {
	StepEnv
	Response *ResponseView `expr:"response"`
}

// Expr is a compiled expression. The zero Expr is "absent".
type Expr struct {
	Source string
	prog   *vm.Program
	// limits are the budget of each evaluation (those it was compiled
	// with).
	limits engine.Limits
}

// SeesLines reports whether the expression may look at the order's lines
// (order.lines, hasProduct, countProduct), which run-time contexts do not
// load: such a condition is decided when the plan is made. (A conservative
// reading of the source: an attribute whose name contains "lines" counts.)
func (e *Expr) SeesLines() bool {
	return e != nil && (strings.Contains(e.Source, "lines") || strings.Contains(e.Source, "hasProduct") ||
		strings.Contains(e.Source, "countProduct"))
}

// Present reports whether an expression was written.
func (e *Expr) Present() bool { return e != nil && e.prog != nil }

// Eval runs the expression against env, a pointer to one of the
// environments above (of the type it was compiled for), within the budget
// of its limits: ExprSteps loop steps, ExprTimeout, ExprMemory and
// ExprStringBytes. An evaluation that exceeds its budget stops with an
// error saying which limit it met; nothing else is affected. Callers report
// it as the order's error (BAD_USER_INPUT at submitOrder) or the step's.
func (e *Expr) Eval(env any) (any, error) {
	if !e.Present() {
		return nil, nil
	}
	envOf, ok := env.(exprEnv)
	if !ok {
		return nil, fmt.Errorf("evaluate %s: %w: environment %T has no Helpers", e.quoted(), errExprBudget, env)
	}
	h := envOf.exprHelpers()
	prev := h.budget
	h.budget = newExprBudget(e.limits, h.Done)
	defer func() { h.budget = prev }()
	machine := vm.VM{MemoryBudget: e.limits.ExprMemory}
	v, err := machine.Run(e.prog, env)
	if err != nil {
		if strings.Contains(err.Error(), "memory budget exceeded") && !errors.Is(err, errExprBudget) {
			err = fmt.Errorf("%w: allocates more than %d (ExprMemory): %w", errExprBudget, e.limits.ExprMemory, err)
		}
		return nil, fmt.Errorf("evaluate %s: %w", e.quoted(), err)
	}
	return v, nil
}

// quoted is the source for messages, shortened: an expression may be
// ExprLength bytes long, and every failure on every order repeats it.
func (e *Expr) quoted() string {
	return strconv.Quote(shorten(e.Source, 200))
}

// Bool evaluates a condition; an absent condition is true.
func (e *Expr) Bool(env any) (bool, error) {
	if !e.Present() {
		return true, nil
	}
	v, err := e.Eval(env)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("evaluate %s: got %T, want a boolean", e.quoted(), v)
	}
	return b, nil
}

// Int evaluates an integer expression; absent gives def.
func (e *Expr) Int(env any, def int) (int, error) {
	if !e.Present() {
		return def, nil
	}
	v, err := e.Eval(env)
	if err != nil {
		return 0, err
	}
	switch n := v.(type) {
	case int:
		return n, nil
	case int64:
		return int(n), nil
	case float64:
		if n == float64(int(n)) {
			return int(n), nil
		}
	}
	return 0, fmt.Errorf("evaluate %s: got %v, want a whole number", e.quoted(), v)
}

type exprKind int

const (
	anyValue exprKind = iota
	boolValue
	intValue
)

// compileExpr compiles src for the environment type of env within the
// limits: the source is scanned first (ExprLength, ExprDepth), the parser
// stops at ExprNodes, and costs certain from the source alone (a literal
// range beyond ExprMemory, a literal repeat beyond ExprStringBytes) are
// refused. The `now()` builtin is replaced by the `now` variable, so that
// time comes from the engine's clock.
//
// It compiles twice: once as written, which reports every error as
// expr-lang sees it, then with the budget patcher (expr_budget.go), which
// relies on the checked types.
func compileExpr(src string, env any, kind exprKind, l engine.Limits) (_ *Expr, err error) {
	if src == "" {
		return &Expr{}, nil
	}
	// expr-lang's compiler is not built for hostile input; a panic in it
	// must refuse the one expression, not end the process that imports the
	// catalog.
	defer func() {
		if p := recover(); p != nil {
			err = exprLimitError(fmt.Sprintf("expr-lang cannot compile it: %v", p))
		}
	}()
	if err := scanExpr(src, l); err != nil {
		return nil, err
	}
	cost := &staticCost{limits: l}
	opts := []expr.Option{expr.Env(env), expr.DisableBuiltin("now"), expr.Patch(cost)}
	switch kind {
	case boolValue:
		opts = append(opts, expr.AsBool())
	case intValue:
		opts = append(opts, expr.AsAny())
	}
	opts = append(opts, exprOptions(l)...)
	prog, err := expr.Compile(src, opts...)
	if err == nil && cost.err != nil {
		err = cost.err
	}
	if err != nil {
		return nil, err
	}
	if kind == intValue {
		switch prog.Node().Type().Kind() {
		case reflect.Int, reflect.Int64, reflect.Float64, reflect.Interface:
		default:
			return nil, fmt.Errorf("expected a number, got %s", prog.Node().Type())
		}
	}
	prog, err = expr.Compile(src, append(opts, expr.Patch(budgetPatcher{}))...)
	if err != nil {
		// The patched program is the checked one with calls added; a
		// failure here is a bug in the patcher, not in the catalog.
		return nil, fmt.Errorf("internal: the expression compiles but not with its budget: %w", err)
	}
	return &Expr{Source: src, prog: prog, limits: l}, nil
}

// OrderHelpers binds the helper functions to an order's lines and items.
func OrderHelpers(o *engine.OrderView, items []*engine.Item, now time.Time) Helpers {
	return Helpers{
		HasProduct: func(code string) bool {
			for _, l := range o.Lines {
				if l.ProductCode == code {
					return true
				}
			}
			for _, it := range items {
				if it.ProductCode == code {
					return true
				}
			}
			return false
		},
		CountProduct: func(code string) int {
			n := 0
			for _, l := range o.Lines {
				if l.ProductCode == code {
					n += l.Quantity
				}
			}
			for _, it := range items {
				if it.ProductCode == code {
					n += it.Quantity
				}
			}
			return n
		},
		Now: now,
	}
}
