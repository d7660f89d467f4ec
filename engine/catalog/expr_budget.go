package catalog

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm/runtime"

	"github.com/batonhq/baton/engine"
)

// An expression is catalog code that runs on every order, so each
// evaluation gets a budget (Limits): steps, wall time, allocation and the
// size of the strings it builds. expr-lang's VM has no preemption and no
// hook per instruction, so the budget is enforced where the work happens:
//
//   - Loops. The only loops in expr-lang are the builtins that take a
//     predicate (all, any, filter, map, reduce, sortBy, …); the VM runs the
//     predicate's bytecode once per element. A patcher wraps every
//     predicate body in a call to $step, which counts the step, checks the
//     deadline and the caller's cancellation, and returns the body's value
//     unchanged. Without a predicate there is no loop, so the number of
//     instructions outside predicates is bounded by the program's size.
//   - Allocation. The VM's memory budget (ExprMemory) counts ranges,
//     arrays, maps and the results of map/sort/concat/…
//   - Strings. The VM does not count string bytes, so `+` on strings (or on
//     values whose type is only known at run time) becomes a call to $add,
//     and the builtins that grow strings (repeat, replace, join, string,
//     toJSON, toBase64) are replaced by versions that refuse, before
//     allocating, a result longer than ExprStringBytes.
//
// The budget reaches $step through the environment: every environment
// embeds Helpers, and Eval puts a fresh budget into the Helpers of the
// environment it runs with ($env is the environment inside the program).

// errExprBudget marks an evaluation stopped by its budget.
var errExprBudget = errors.New("expression budget exceeded")

// exprLimitError is an expression refused at import for what its source
// alone shows it would exceed.
type exprLimitError string

func (e exprLimitError) Error() string { return string(e) }

// exprBudget is one evaluation's running account.
type exprBudget struct {
	steps    int
	maxSteps int
	watch    engine.Stopwatch
	timeout  time.Duration
	// done is the caller's cancellation (nil: none).
	done <-chan struct{}
}

func newExprBudget(l engine.Limits, done <-chan struct{}) *exprBudget {
	// The run-time budget is about this process's CPU, not about domain
	// time: a fake clock that never moves must not let a runaway loop run
	// for ever, so it reads a stopwatch, as the system cache's TTL does.
	return &exprBudget{maxSteps: l.ExprSteps, timeout: l.ExprTimeout, watch: engine.StartStopwatch(), done: done}
}

// step accounts for one iteration of a loop.
func (b *exprBudget) step() error {
	b.steps++
	if b.steps > b.maxSteps {
		return fmt.Errorf("%w: more than %d loop steps (ExprSteps)", errExprBudget, b.maxSteps)
	}
	if b.watch.Elapsed() > b.timeout {
		return fmt.Errorf("%w: ran longer than %s (ExprTimeout)", errExprBudget, b.timeout)
	}
	select {
	case <-b.done:
		return fmt.Errorf("%w: the request was cancelled", errExprBudget)
	default:
	}
	return nil
}

// exprEnv is implemented by every environment (through Helpers), so that
// Eval can hand the evaluation's budget to $step.
type exprEnv interface {
	exprHelpers() *Helpers
}

func (h *Helpers) exprHelpers() *Helpers { return h }

// budgetOf is the budget of the evaluation running with env.
func budgetOf(env any) (*exprBudget, error) {
	if e, ok := env.(exprEnv); ok {
		if b := e.exprHelpers().budget; b != nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: the expression runs without a budget (environment %T)", errExprBudget, env)
}

// Names of the functions the patcher calls; `$` keeps them apart from the
// catalog's own names (they may be called, but only do what they do here).
const (
	stepFn = "$step"
	addFn  = "$add"
)

var anyType = reflect.TypeOf((*any)(nil)).Elem()

// exprOptions are the compile options that enforce the limits: the node
// count, $step and $add, and the capped builtins (the budget patcher is
// added by compileExpr, for its second compilation).
func exprOptions(l engine.Limits) []expr.Option {
	maxStr := l.ExprStringBytes
	tooLong := func(fn string, n int) error {
		return fmt.Errorf("%w: %s would build a string of %d bytes; the limit is %d (ExprStringBytes)", errExprBudget, fn, n, maxStr)
	}
	// checked runs a builtin whose result size is only known once it is
	// built, on input that is already bounded, and refuses the result.
	checked := func(name string) func(args ...any) (any, error) {
		f := builtinFunc(name)
		return func(args ...any) (any, error) {
			v, err := f(args...)
			if s, ok := v.(string); ok && len(s) > maxStr {
				return nil, tooLong(name, len(s))
			}
			return v, err
		}
	}
	return []expr.Option{
		expr.MaxNodes(l.ExprNodes),
		expr.Function(stepFn, func(args ...any) (any, error) {
			b, err := budgetOf(args[0])
			if err != nil {
				return nil, err
			}
			return nil, b.step()
		}, new(func(any) any)),
		expr.Function(addFn, func(args ...any) (any, error) {
			if a, ok := args[0].(string); ok {
				if b, ok := args[1].(string); ok {
					if n := len(a) + len(b); n > maxStr {
						return nil, tooLong("+", n)
					}
					return a + b, nil
				}
			}
			return runtime.Add(args[0], args[1]), nil
		}, new(func(any, any) any)),
		expr.Function("repeat", func(args ...any) (any, error) {
			s, n := args[0].(string), runtime.ToInt(args[1])
			if n < 0 {
				return nil, fmt.Errorf("invalid argument for repeat (expected positive integer, got %d)", n)
			}
			if len(s) > 0 && n > maxStr/len(s) {
				return nil, tooLong("repeat", maxStr+1)
			}
			return strings.Repeat(s, n), nil
		}, builtinTypes("repeat")...),
		expr.Function("replace", func(args ...any) (any, error) {
			s, old, repl := args[0].(string), args[1].(string), args[2].(string)
			n := -1
			if len(args) == 4 {
				n = runtime.ToInt(args[3])
			}
			if len(repl) > len(old) {
				// strings.Replace matches an empty old before every rune
				// and at the end.
				k := utf8.RuneCountInString(s) + 1
				if old != "" {
					k = strings.Count(s, old)
				}
				if n >= 0 && n < k {
					k = n
				}
				if size := len(s) + k*(len(repl)-len(old)); k > 0 && (size > maxStr || (len(repl)-len(old)) > maxStr/k) {
					return nil, tooLong("replace", max(size, maxStr+1))
				}
			}
			return strings.Replace(s, old, repl, n), nil
		}, builtinTypes("replace")...),
		expr.Function("join", func(args ...any) (any, error) {
			glue := ""
			if len(args) == 2 {
				glue = args[1].(string)
			}
			var parts []string
			switch l := args[0].(type) {
			case []string:
				parts = l
			case []any:
				parts = make([]string, len(l))
				for i, v := range l {
					s, ok := v.(string)
					if !ok {
						return nil, fmt.Errorf("invalid argument for join (element %d is %T, not a string)", i, v)
					}
					parts[i] = s
				}
			default:
				return nil, fmt.Errorf("invalid argument for join (type %T)", args[0])
			}
			size := 0
			for i, p := range parts {
				size += len(p)
				if i > 0 {
					size += len(glue)
				}
				if size > maxStr {
					return nil, tooLong("join", size)
				}
			}
			return strings.Join(parts, glue), nil
		}, builtinTypes("join")...),
		expr.Function("toBase64", func(args ...any) (any, error) {
			s := args[0].(string)
			if n := base64.StdEncoding.EncodedLen(len(s)); n > maxStr {
				return nil, tooLong("toBase64", n)
			}
			return base64.StdEncoding.EncodeToString([]byte(s)), nil
		}, builtinTypes("toBase64")...),
		expr.Function("toJSON", func(args ...any) (any, error) {
			b, err := json.MarshalIndent(args[0], "", "  ")
			if err != nil {
				return nil, err
			}
			if len(b) > maxStr {
				return nil, tooLong("toJSON", len(b))
			}
			return string(b), nil
		}, builtinTypes("toJSON")...),
		expr.Function("string", checked("string"), builtinTypes("string")...),
	}
}

// builtinTypes are the signatures of an expr-lang builtin, so that its
// replacement type-checks exactly as it did.
func builtinTypes(name string) []any {
	for _, f := range builtin.Builtins {
		if f.Name == name {
			out := make([]any, len(f.Types))
			for i, t := range f.Types {
				out[i] = reflect.New(t).Interface()
			}
			return out
		}
	}
	panic("expr-lang has no builtin " + name)
}

// builtinFunc is an expr-lang builtin as a plain function.
func builtinFunc(name string) func(args ...any) (any, error) {
	for _, f := range builtin.Builtins {
		if f.Name != name {
			continue
		}
		switch {
		case f.Func != nil:
			return f.Func
		case f.Fast != nil:
			return func(args ...any) (any, error) { return f.Fast(args[0]), nil }
		}
	}
	panic("expr-lang has no plain builtin " + name)
}

// budgetPatcher puts a $step call at the head of every predicate body and
// turns string-capable `+` into $add. The expression has been checked
// without it first (compileExpr), so the types it keeps are the checked
// ones and no error can hide behind a patched node.
type budgetPatcher struct{}

func (budgetPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.PredicateNode:
		if seq, ok := n.Node.(*ast.SequenceNode); ok && len(seq.Nodes) > 0 {
			if c, ok := seq.Nodes[0].(*ast.CallNode); ok && isCallTo(c, stepFn) {
				return // already patched
			}
		}
		// `$step($env); body`: a sequence has the type of its last node, so
		// the predicate's type is untouched.
		env := &ast.IdentifierNode{Value: "$env"}
		step := &ast.CallNode{Callee: &ast.IdentifierNode{Value: stepFn}, Arguments: []ast.Node{env}}
		for _, x := range []ast.Node{env, step, step.Callee} {
			x.SetLocation(n.Node.Location())
		}
		seq := &ast.SequenceNode{Nodes: []ast.Node{step, n.Node}}
		seq.SetLocation(n.Node.Location())
		n.Node = seq
	case *ast.BinaryNode:
		if n.Operator != "+" || !mayBeString(n.Left) || !mayBeString(n.Right) {
			return
		}
		if _, ok := n.Left.(*ast.StringNode); ok {
			if _, ok := n.Right.(*ast.StringNode); ok {
				return // two literals: folded at compile time, bounded by the source
			}
		}
		callee := &ast.IdentifierNode{Value: addFn}
		callee.SetType(reflect.TypeOf(func(any, any) any { return nil }))
		callee.SetLocation(n.Location())
		call := &ast.CallNode{Callee: callee, Arguments: []ast.Node{n.Left, n.Right}}
		call.SetLocation(n.Location())
		// A call whose type a patcher set keeps it (string + string stays
		// a string); an unknown one is typed from $add's signature, any,
		// as the sum of two unknowns was.
		if t := n.Type(); t != anyType {
			call.SetType(t)
		}
		*node = call
	}
}

func isCallTo(c *ast.CallNode, fn string) bool {
	id, ok := c.Callee.(*ast.IdentifierNode)
	return ok && id.Value == fn
}

// mayBeString reports whether a node is a string or of a type known only at
// run time.
func mayBeString(n ast.Node) bool {
	t := n.Type()
	return t == nil || t.Kind() == reflect.String || t.Kind() == reflect.Interface
}

// staticCost finds what an expression would certainly exceed, so that a
// catalog is refused at import rather than every order failing: a literal
// range longer than the memory budget, a literal repeat longer than the
// string cap. It only reads the tree.
type staticCost struct {
	limits engine.Limits
	err    error
}

func (s *staticCost) Visit(node *ast.Node) {
	if s.err != nil {
		return
	}
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		if n.Operator != ".." {
			return
		}
		lo, ok1 := literalInt(n.Left)
		hi, ok2 := literalInt(n.Right)
		if ok1 && ok2 && hi >= lo && uint64(hi-lo) >= uint64(s.limits.ExprMemory) {
			s.err = exprLimitError(fmt.Sprintf("range %d..%d has %d elements; an evaluation may allocate %d (ExprMemory)", lo, hi, uint64(hi-lo)+1, s.limits.ExprMemory))
		}
	case *ast.CallNode, *ast.BuiltinNode:
		name, args := callName(n)
		if name != "repeat" || len(args) != 2 {
			return
		}
		str, ok1 := args[0].(*ast.StringNode)
		k, ok2 := literalInt(args[1])
		if ok1 && ok2 && len(str.Value) > 0 && k > int64(s.limits.ExprStringBytes/len(str.Value)) {
			s.err = exprLimitError(fmt.Sprintf("repeat(%q, %d) builds a string longer than %d bytes (ExprStringBytes)", shorten(str.Value, 20), k, s.limits.ExprStringBytes))
		}
	}
}

func callName(n ast.Node) (string, []ast.Node) {
	switch c := n.(type) {
	case *ast.BuiltinNode:
		return c.Name, c.Arguments
	case *ast.CallNode:
		if id, ok := c.Callee.(*ast.IdentifierNode); ok {
			return id.Value, c.Arguments
		}
	}
	return "", nil
}

func literalInt(n ast.Node) (int64, bool) {
	switch v := n.(type) {
	case *ast.IntegerNode:
		return int64(v.Value), true
	case *ast.UnaryNode:
		if i, ok := v.Node.(*ast.IntegerNode); ok {
			switch v.Operator {
			case "-":
				return -int64(i.Value), true
			case "+":
				return int64(i.Value), true
			}
		}
	}
	return 0, false
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
