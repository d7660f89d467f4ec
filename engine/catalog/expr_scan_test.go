package catalog

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/batonhq/baton/engine"
)

// TestScanExprDepthBoundsTheTree: the scan's depth is at least the depth
// of the tree expr-lang builds, for expressions of every kind of nesting
// (so ExprDepth bounds every recursive pass).
func TestScanExprDepthBoundsTheTree(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		`a + b * c - d / e`, `!!!a`, `- - - 1`, `((a))`, `f(g(h(1)))`, `[[1], [[2]]]`,
		`{a: {b: {c: 1}}}`, `a ? b : c ? d : e`, `1 ** 2 ** 3`, `let x = 1; let y = 2; x + y`,
		`all(xs, any(ys, # > 1 && # < 5))`, `a ?? b ?? c`, `x not in [1, 2] or y matches "a"`,
		`if a { b } else if c { d } else { e }`, `1..5 | map(# * 2) | sum()`, `f(a + b, c * d)`,
	} {
		depth := 1
		for ; depth < 64; depth++ {
			if scanExpr(src, engine.Limits{ExprLength: 1 << 20, ExprDepth: depth}) == nil {
				break
			}
		}
		// A call is two levels of the tree (the call and a predicate) for
		// one bracket, so the bound holds within a factor of two.
		if tree := exprTreeDepth(src); tree > 2*depth+1 {
			t.Errorf("scanExpr(%q) admits depth %d; the tree is %d deep", src, depth, tree)
		}
	}
}

// exprTreeDepth is the depth of the tree expr-lang's parser makes of src.
func exprTreeDepth(src string) int {
	tree, err := parser.Parse(src)
	if err != nil {
		panic(fmt.Sprintf("bad test: parse %q: %v", src, err))
	}
	nodeType := reflect.TypeOf((*ast.Node)(nil)).Elem()
	var depth func(v reflect.Value) int
	depth = func(v reflect.Value) int {
		if v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return 0
			}
			v = v.Elem()
		}
		if v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return 0
		}
		d := 0
		for i := range v.NumField() {
			f := v.Field(i)
			switch {
			case f.Type() == nodeType || (f.Kind() == reflect.Pointer && f.Type().Implements(nodeType)):
				d = max(d, depth(f))
			case f.Kind() == reflect.Slice && f.Type().Elem() == nodeType:
				for j := range f.Len() {
					d = max(d, depth(f.Index(j)))
				}
			}
		}
		return d + 1
	}
	return depth(reflect.ValueOf(tree.Node))
}
