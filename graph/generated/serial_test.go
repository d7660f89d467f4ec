package generated

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// element is a step-like object as gqlgen marshals it: a field set with
// an id, a name and a nested list.
func element(i int) graphql.Marshaler {
	fs := graphql.NewFieldSet([]graphql.CollectedField{
		{Field: &ast.Field{Alias: "id"}}, {Field: &ast.Field{Alias: "name"}}, {Field: &ast.Field{Alias: "dependsOn"}},
	})
	fs.Values[0] = graphql.MarshalID(fmt.Sprint(i))
	fs.Values[1] = graphql.MarshalString(fmt.Sprintf("step \"%d\"\n", i))
	fs.Values[2] = graphql.Array{graphql.MarshalInt(i - 1), graphql.MarshalInt(i + 1)}
	return fs
}

func marshalled(m graphql.Marshaler) string {
	var b bytes.Buffer
	m.MarshalGQL(&b)
	return b.String()
}

// TestMarshalSeriallyEncodesLongLists: a list of encodeFrom elements or
// more is written as each element is resolved, and the bytes are those
// gqlgen writes for the same list; a null element stays graphql.Null (so
// the caller nulls a list of non-null elements); a panic makes the list
// nil with an error, as gqlgen's.
func TestMarshalSeriallyEncodesLongLists(t *testing.T) {
	for _, n := range []int{1, encodeFrom - 1, encodeFrom, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
			want := make(graphql.Array, n)
			for i := range n {
				want[i] = element(i)
			}
			got := marshalSerially(ctx, nil, n, 16, false, func(ctx context.Context, i int) graphql.Marshaler {
				if idx := graphql.GetFieldContext(ctx).Index; idx == nil || *idx != i {
					t.Fatalf("element %d has index %v in its field context", i, idx)
				}
				return element(i)
			})
			if g, w := marshalled(got), marshalled(want); g != w {
				t.Fatalf("%d elements: marshalled %d bytes, gqlgen's %d; first difference near %q", n, len(g), len(w), diffAt(g, w))
			}
			_, encodedFirst := got[0].(encoded)
			if encodedFirst != (n >= encodeFrom) {
				t.Errorf("%d elements: first element encoded = %v; want %v", n, encodedFirst, n >= encodeFrom)
			}
		})
	}
	t.Run("null element", func(t *testing.T) {
		ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
		got := marshalSerially(ctx, nil, 200, 16, false, func(ctx context.Context, i int) graphql.Marshaler {
			if i == 150 {
				return graphql.Null
			}
			return element(i)
		})
		if got[150] != graphql.Null {
			t.Errorf("element 150 is %T; want graphql.Null", got[150])
		}
	})
	t.Run("panic", func(t *testing.T) {
		ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
		got := marshalSerially(ctx, nil, 200, 16, false, func(ctx context.Context, i int) graphql.Marshaler {
			if i == 100 {
				panic("element 100")
			}
			return element(i)
		})
		if got != nil {
			t.Errorf("a panicking element left a list of %d", len(got))
		}
		if errs := graphql.GetErrors(ctx); len(errs) != 1 {
			t.Errorf("errors = %v; want the panic's", errs)
		}
	})
}

func diffAt(a, b string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[max(0, i-20):min(len(a), i+20)]
		}
	}
	return "the end"
}

// BenchmarkMarshalSerially is a 50,000-element list resolved and written.
func BenchmarkMarshalSerially(b *testing.B) {
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		marshalSerially(ctx, nil, 50_000, 16, false, func(_ context.Context, i int) graphql.Marshaler { return element(i) }).MarshalGQL(&buf)
	}
	b.ReportMetric(float64(buf.Len())/1e6, "MB")
}
