package graph

import (
	"context"
	"net/http"
	"slices"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vikstrous/dataloadgen"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/engine/plan"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/ent/step"
)

// loaders batch the per-object reads of one request, so that a list of
// orders costs one query for their jeopardy, not one per order.
type loaders struct {
	orderHealth *dataloadgen.Loader[int, plan.Health]
	planHealth  *dataloadgen.Loader[int, plan.Health]
	forecasts   *dataloadgen.Loader[int, *plan.Forecast]
	planSteps   *dataloadgen.Loader[int, []*ent.Step] // every step of a plan (timelines)
	held        *dataloadgen.Loader[string, int]      // ON_HOLD steps by system
}

type loadersKey struct{}

func newLoaders(client *ent.Client, eng *orchestrator.Engine) *loaders {
	// A batch collects the keys asked within the wait: 0.5 ms split the
	// batches of a 20-order list now and then on a loaded CI machine (the
	// list's elements resolve on goroutines of their own), and each batch
	// level costs at most this much latency.
	opts := []dataloadgen.Option{dataloadgen.WithWait(2 * time.Millisecond)}
	return &loaders{
		orderHealth: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []int) (map[int]plan.Health, error) {
			return loadHealth(ctx, client, step.FieldOrderID, ids)
		}, opts...),
		planHealth: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []int) (map[int]plan.Health, error) {
			return loadHealth(ctx, client, step.FieldPlanID, ids)
		}, opts...),
		forecasts: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []int) (map[int]*plan.Forecast, error) {
			return eng.Forecasts(ctx, ids)
		}, opts...),
		planSteps: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []int) (map[int][]*ent.Step, error) {
			steps, err := client.Step.Query().Where(step.PlanIDIn(ids...)).All(ctx)
			out := make(map[int][]*ent.Step, len(ids))
			for _, id := range ids {
				out[id] = nil // a plan without steps has none, not ErrNotFound
			}
			for _, s := range steps {
				out[s.PlanID] = append(out[s.PlanID], s)
			}
			return out, err
		}, opts...),
		held: dataloadgen.NewMappedLoader(func(ctx context.Context, systems []string) (map[string]int, error) {
			var rows []struct {
				System string `json:"system"`
				Count  int    `json:"count"`
			}
			err := client.Step.Query().Where(step.SystemIn(systems...), step.StatusEQ(step.StatusON_HOLD)).
				GroupBy(step.FieldSystem).Aggregate(ent.Count()).Scan(ctx, &rows)
			out := make(map[string]int, len(systems))
			for _, s := range systems {
				out[s] = 0
			}
			for _, r := range rows {
				out[r.System] = r.Count
			}
			return out, err
		}, opts...),
	}
}

// Loaders installs fresh loaders in each request's context.
func Loaders(client *ent.Client, eng *orchestrator.Engine, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), loadersKey{}, newLoaders(client, eng))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (r *Resolver) loaders(ctx context.Context) *loaders {
	if l, ok := ctx.Value(loadersKey{}).(*loaders); ok {
		return l
	}
	return newLoaders(r.Client, r.Engine)
}

// loadHealth reads, in one grouped count, the open steps of the given
// orders or plans, and has the engine roll them up.
func loadHealth(ctx context.Context, client *ent.Client, by string, ids []int) (map[int]plan.Health, error) {
	var rows []struct {
		Key      int    `json:"key"`
		Jeopardy string `json:"jeopardy"`
		Status   string `json:"status"`
		Count    int    `json:"count"`
	}
	open := plan.OpenStepStatuses()
	statuses := make([]step.Status, len(open))
	for i, s := range open {
		statuses[i] = step.Status(s)
	}
	err := client.Step.Query().
		Where(
			func(s *sql.Selector) {
				vals := make([]any, len(ids))
				for i, id := range ids {
					vals[i] = id
				}
				s.Where(sql.In(s.C(by), vals...))
			},
			step.StatusIn(statuses...),
		).
		Modify(func(s *sql.Selector) {
			s.Select(sql.As(s.C(by), "key"), s.C(step.FieldJeopardy), s.C(step.FieldStatus), sql.As(sql.Count("*"), "count")).
				GroupBy(s.C(by), s.C(step.FieldJeopardy), s.C(step.FieldStatus))
		}).
		Scan(ctx, &rows)
	if err != nil {
		return nil, err
	}
	tallies := make(map[int][]plan.StepTally, len(ids))
	for _, r := range rows {
		tallies[r.Key] = append(tallies[r.Key], plan.StepTally{
			Status: engine.StepStatus(r.Status), Jeopardy: engine.Jeopardy(r.Jeopardy), Count: r.Count})
	}
	out := make(map[int]plan.Health, len(ids))
	for _, id := range ids {
		out[id] = plan.RollUp(tallies[id])
	}
	return out, nil
}

// prime loads, in one batch, what l holds for a page's objects when the
// request selects one of fields at path (below the current field), so
// that a list costs one query for it however its items' resolvers
// interleave (a loader's batch window alone can split it).
func prime[K comparable, V any](ctx context.Context, l *dataloadgen.Loader[K, V], keys []K, path []string, fields ...string) {
	if len(keys) == 0 || (len(fields) > 0 && !selects(ctx, path, fields...)) {
		return
	}
	l.LoadAll(ctx, keys)
}

// selects reports whether the current field's selection reaches any of
// fields through path (e.g. edges, node).
func selects(ctx context.Context, path []string, fields ...string) bool {
	oc := graphql.GetOperationContext(ctx)
	fc := graphql.GetFieldContext(ctx)
	if oc == nil || fc == nil {
		return false
	}
	sels := []ast.SelectionSet{fc.Field.Selections}
	for _, name := range path {
		var next []ast.SelectionSet
		for _, set := range sels {
			for _, f := range graphql.CollectFields(oc, set, nil) {
				if f.Name == name {
					next = append(next, f.Selections)
				}
			}
		}
		sels = next
	}
	for _, set := range sels {
		for _, f := range graphql.CollectFields(oc, set, nil) {
			if slices.Contains(fields, f.Name) {
				return true
			}
		}
	}
	return false
}
