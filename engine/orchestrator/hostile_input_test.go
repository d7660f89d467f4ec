package orchestrator_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/ent/step"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

const (
	hiNUL  = "a\x00b"
	hiUTF8 = "caf\xe9" // Latin-1, not UTF-8
)

// hiLong is longer than a PostgreSQL btree index entry may be (2704 bytes)
// even compressed: 8 KB of letters and digits that do not repeat.
var hiLong = func() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	r := rand.New(rand.NewPCG(10, 10))
	b := make([]byte, 8<<10)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}()

// hiNested is an object nested depth levels deep: {"a": {"a": ... 1}}.
func hiNested(depth int) map[string]any {
	var v any = 1
	for range depth {
		v = map[string]any{"a": v}
	}
	return v.(map[string]any)
}

// hiSnapshot renders what the database holds, to show a refusal wrote
// nothing: counts of every table a request writes, and every step's and
// system's mutable state.
func hiSnapshot(t *testing.T, b *xBundle) string {
	t.Helper()
	c := b.client
	var sb strings.Builder
	counts := []struct {
		name string
		n    func(context.Context) (int, error)
	}{
		{"accounts", c.Account.Query().Count}, {"orders", c.Order.Query().Count},
		{"lines", c.OrderLine.Query().Count}, {"items", c.FulfillmentLine.Query().Count},
		{"plans", c.Plan.Query().Count}, {"steps", c.Step.Query().Count},
		{"events", c.Event.Query().Count}, {"attempts", c.Attempt.Query().Count},
	}
	for _, q := range counts {
		n, err := q.n(b.ctx)
		if err != nil {
			t.Fatalf("count %s: %v", q.name, err)
		}
		fmt.Fprintf(&sb, "%s=%d ", q.name, n)
	}
	steps, err := c.Step.Query().Order(ent.Asc(step.FieldID)).All(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		fmt.Fprintf(&sb, "\nstep %d %s %s note=%q assignee=%q error=%q output=%v", s.ID, s.Name, s.Status,
			str(s.Note), str(s.Assignee), str(s.Error), s.Output)
	}
	systems, err := c.System.Query().All(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range systems {
		fmt.Fprintf(&sb, "\nsystem %s %s", s.Name, s.Status)
	}
	return sb.String()
}

// hiDiff shows the lines of two snapshots that differ.
func hiDiff(before, after string) string {
	var sb strings.Builder
	b, a := strings.Split(before, "\n"), strings.Split(after, "\n")
	for _, l := range b {
		if !slices.Contains(a, l) {
			sb.WriteString("\n  - " + l)
		}
	}
	for _, l := range a {
		if !slices.Contains(b, l) {
			sb.WriteString("\n  + " + l)
		}
	}
	return sb.String()
}

// wantRefusal checks err is BAD_USER_INPUT naming path, and that its text
// does not carry a long value in full.
func wantRefusal(t *testing.T, what string, err error, path string) {
	t.Helper()
	var e *engine.Error
	if !errors.As(err, &e) || e.Code != engine.CodeBadUserInput {
		t.Errorf("%s: err = %v (code %s); want BAD_USER_INPUT", what, err, engine.ErrorCode(err))
		return
	}
	paths := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		paths[i] = p.Path
	}
	if !slices.Contains(paths, path) {
		t.Errorf("%s: problems at %q; want one at %q (%v)", what, paths, path, err)
	}
	if len(err.Error()) > 1000 {
		t.Errorf("%s: the error is %d bytes; it must not echo the value", what, len(err.Error()))
	}
}

func TestHostileInputRefusedOnEveryBackend(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog("", []string{
			`{name: Review, type: MANUAL_TASK, task: {queue: q}}`,
			`{name: Hold, type: PAUSE, pause: {until: go}}`,
			`{name: Async, type: CALLOUT, callout: {system: sys, path: /async}}`,
			`{name: Bad, type: CALLOUT, callout: {system: sys, path: /bad}}`,
		}, nil)
		b := setupExec(t, url, cat, xOptions{run: &orchestrator.RunnerConfig{}})
		b.xs.always("/async", 202, `{"state":"accepted"}`)
		b.xs.always("/bad", 400, `{"error":"nope"}`)
		rec := b.submit(t, widgetOrder("hostile-1"))
		review := b.waitStep(t, rec.ID, "Review", step.StatusWAITING)
		b.waitStep(t, rec.ID, "Hold", step.StatusWAITING)
		async := b.waitStep(t, rec.ID, "Async", step.StatusWAITING)
		bad := b.waitStep(t, rec.ID, "Bad", step.StatusFALLOUT)
		ctx := b.ctx

		order := func(edit func(*engine.OrderInput)) engine.OrderInput {
			in := widgetOrder("hostile-2")
			edit(&in)
			return in
		}
		submit := func(edit func(*engine.OrderInput)) error {
			_, err := b.engine.SubmitOrder(ctx, order(edit))
			return err
		}
		cases := []struct {
			name string
			path string
			call func() error
		}{
			{"externalId NUL", "externalId", func() error { return submit(func(in *engine.OrderInput) { in.ExternalID = hiNUL }) }},
			{"externalId long", "externalId", func() error { return submit(func(in *engine.OrderInput) { in.ExternalID = hiLong }) }},
			{"externalId not UTF-8", "externalId", func() error { return submit(func(in *engine.OrderInput) { in.ExternalID = hiUTF8 }) }},
			{"accountId NUL", "accountId", func() error { return submit(func(in *engine.OrderInput) { in.AccountID = hiNUL }) }},
			{"accountId long", "accountId", func() error { return submit(func(in *engine.OrderInput) { in.AccountID = hiLong }) }},
			{"attribute key NUL", `attributes["a\x00b"]`, func() error {
				return submit(func(in *engine.OrderInput) { in.Attributes = map[string]any{hiNUL: 1} })
			}},
			{"nested attribute value NUL", "attributes.x.y[1]", func() error {
				return submit(func(in *engine.OrderInput) {
					in.Attributes = map[string]any{"x": map[string]any{"y": []any{"ok", hiNUL}}}
				})
			}},
			{"attribute NaN", "attributes.ratio", func() error {
				return submit(func(in *engine.OrderInput) { in.Attributes = map[string]any{"ratio": math.NaN()} })
			}},
			{"attributes nested too deep", "attributes" + strings.Repeat(".a", engine.DefaultLimits.ValueDepth), func() error {
				return submit(func(in *engine.OrderInput) { in.Attributes = hiNested(engine.DefaultLimits.ValueDepth + 5) })
			}},
			{"line id NUL", "lines[0].id", func() error { return submit(func(in *engine.OrderInput) { in.Lines[0].ID = hiNUL }) }},
			{"line id long", "lines[0].id", func() error { return submit(func(in *engine.OrderInput) { in.Lines[0].ID = hiLong }) }},
			{"line attribute NUL", "lines[0].attributes.color", func() error {
				return submit(func(in *engine.OrderInput) { in.Lines[0].Attributes = map[string]any{"color": hiNUL} })
			}},
			{"quantity past 32 bits", "lines[0].quantity", func() error {
				return submit(func(in *engine.OrderInput) { in.Lines[0].Quantity = 1 << 40 })
			}},
			{"preview attribute NUL", "attributes.note", func() error {
				_, err := b.engine.PreviewOrder(ctx, order(func(in *engine.OrderInput) { in.Attributes = map[string]any{"note": hiNUL} }))
				return err
			}},
			{"enrich attribute NUL", "attributes.region", func() error {
				return b.engine.EnrichOrder(ctx, rec.ID, map[string]any{"region": hiNUL}, nil)
			}},
			{"enrich line attribute key NUL", `lineAttributes.L1["a\x00b"]`, func() error {
				return b.engine.EnrichOrder(ctx, rec.ID, nil, map[string]map[string]any{"L1": {hiNUL: "v"}})
			}},
			{"complete task note NUL", "note", func() error { return b.engine.CompleteTask(ctx, review.ID, nil, hiNUL) }},
			{"complete task output NUL", "output.result", func() error {
				return b.engine.CompleteTask(ctx, review.ID, map[string]any{"result": hiNUL}, "")
			}},
			{"complete task actor NUL", "actor", func() error {
				return b.engine.CompleteTask(orchestrator.WithActor(ctx, hiNUL), review.ID, nil, "done")
			}},
			{"assign task NUL", "assignee", func() error { return b.engine.AssignTask(ctx, review.ID, hiNUL) }},
			{"assign task long", "assignee", func() error { return b.engine.AssignTask(ctx, review.ID, hiLong) }},
			{"callout answer output NUL", "output.ref", func() error {
				return b.engine.RespondToCallout(ctx, async.ID, true, map[string]any{"ref": hiNUL}, "")
			}},
			{"callout failure error NUL", "error", func() error {
				return b.engine.RespondToCallout(ctx, async.ID, false, nil, hiNUL)
			}},
			{"signal event NUL", "event", func() error {
				_, err := b.engine.Signal(ctx, rec.ID, "go"+hiNUL, nil)
				return err
			}},
			{"signal payload NUL", "payload.by", func() error {
				_, err := b.engine.Signal(ctx, rec.ID, "go", map[string]any{"by": hiNUL})
				return err
			}},
			{"resume actor NUL", "actor", func() error { return b.engine.ResumeStep(orchestrator.WithActor(ctx, hiNUL), review.ID) }},
			{"orchestration type NUL", "type", func() error {
				_, err := b.engine.StartOrchestration(ctx, hiNUL, "s-1", map[string]any{})
				return err
			}},
			{"orchestration subject long", "subjectId", func() error {
				_, err := b.engine.StartOrchestration(ctx, "dunning", hiLong, map[string]any{})
				return err
			}},
			{"orchestration context NUL", "context.k", func() error {
				_, err := b.engine.StartOrchestration(ctx, "dunning", "s-1", map[string]any{"k": hiNUL})
				return err
			}},
			{"retry note NUL", "note", func() error {
				_, err := b.engine.RetrySteps(ctx, []int{bad.ID}, hiNUL)
				return err
			}},
			{"mark complete note NUL", "note", func() error { return b.engine.MarkStepComplete(ctx, bad.ID, hiNUL, nil) }},
			{"mark complete output NUL", "output.k", func() error {
				return b.engine.MarkStepComplete(ctx, bad.ID, "by hand", map[string]any{"k": hiNUL})
			}},
			{"skip note NUL", "note", func() error { return b.engine.SkipStep(ctx, review.ID, hiNUL) }},
			{"system note NUL", "note", func() error {
				_, err := b.engine.SetSystemStatus(ctx, "sys", engine.SystemOffline, hiNUL)
				return err
			}},
			{"system name NUL", "system", func() error {
				_, err := b.engine.SetSystemStatus(ctx, "sys"+hiNUL, engine.SystemOffline, "")
				return err
			}},
		}
		before := hiSnapshot(t, b)
		for _, tc := range cases {
			var err error
			func() {
				// NaN used to panic in the input hash: report it as this
				// case's failure, not the whole test's.
				defer func() {
					if p := recover(); p != nil {
						err = fmt.Errorf("panic: %v", p)
					}
				}()
				err = tc.call()
			}()
			wantRefusal(t, tc.name, err, tc.path)
			if after := hiSnapshot(t, b); after != before {
				t.Errorf("%s: the database changed:%s", tc.name, hiDiff(before, after))
				before = after
			}
		}

		// The configured limits are the ones applied.
		small := orchestrator.New(orchestrator.Config{Store: b.store, Clock: b.clock, Getenv: xGetenv(b.xs, ""), Limits: engine.Limits{IDLength: 8, OrderLines: 2, TextLength: 16}})
		_, err := small.SubmitOrder(ctx, widgetOrder("longer-than-8"))
		wantRefusal(t, "IDLength 8", err, "externalId")
		three := widgetOrder("x3")
		three.Lines = []engine.LineInput{{ID: "L1", ProductCode: "WIDGET", Quantity: 1},
			{ID: "L2", ProductCode: "WIDGET", Quantity: 1}, {ID: "L3", ProductCode: "WIDGET", Quantity: 1}}
		_, err = small.SubmitOrder(ctx, three)
		wantRefusal(t, "OrderLines 2", err, "lines")
		wantRefusal(t, "TextLength 16", small.SkipStep(ctx, review.ID, strings.Repeat("n", 17)), "note")
		if after := hiSnapshot(t, b); after != before {
			t.Errorf("small limits: the database changed:%s", hiDiff(before, after))
		}

		// What passes the rules is stored, and reads back the same, on both.
		if err := b.engine.CompleteTask(ctx, review.ID, map[string]any{"ok": "ünïcode ✓", "n": 1.5}, "fine"); err != nil {
			t.Fatalf("CompleteTask with valid input: %v", err)
		}
		got := b.stepByName(t, rec.ID, "Review")
		if got.Status != step.StatusCOMPLETED || got.Output["ok"] != "ünïcode ✓" || str(got.Note) != "fine" {
			t.Errorf("Review is %s output %v note %q", got.Status, got.Output, str(got.Note))
		}
	})
}
