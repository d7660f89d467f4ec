package orchestrator_test

import (
	"context"
	"strings"
	"testing"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent/step"
)

// cpCatalog: orders of one site install one after the other: an order's
// Install waits for the Install of every earlier order of its site that
// has not finished (a CROSS_PLAN dependency keyed by the site).
const cpCatalog = `version: 1
systems: {}
products:
  - {code: SERVER, type: COMMERCIAL}
scenarios:
  - name: main
    planKey: 'order.attributes.site'
    groups:
      - name: Work
        steps:
          - {name: Install, type: MANUAL_TASK, task: {queue: field}}
          - {name: Done, type: MILESTONE}
    dependencies:
      - {step: Done, after: [Install]}
      - {step: Install, after: [Install], scope: CROSS_PLAN}
`

func TestCrossPlanDependency(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := sfSetup(t, url, cpCatalog)
		sub := func(ext, site string) int {
			return b.submit(t, engine.OrderInput{ExternalID: ext, AccountID: "acct-" + ext, Attributes: map[string]any{"site": site},
				Lines: []engine.LineInput{{ID: "A", ProductCode: "SERVER", Quantity: 1}}}).ID
		}
		first := sub("cp-1", "s1")
		second := sub("cp-2", "s1")
		other := sub("cp-3", "s2")
		b.idle(t)
		awCheck(t, b, first, "Install", "PLAN", step.StatusWAITING, 0, "the site's first order")
		awCheck(t, b, second, "Install", "PLAN", step.StatusPENDING, 1, "the site's second order")
		awCheck(t, b, other, "Install", "PLAN", step.StatusWAITING, 0, "another site")
		if got := awDependsOn(t, b, awStep(t, b, second, "Install", "PLAN")); got != "Install|PLAN" {
			t.Errorf("the second order's Install depends on %q", got)
		}
		awComplete(t, b, awStep(t, b, first, "Install", "PLAN"))
		b.idle(t)
		awCheck(t, b, second, "Install", "PLAN", step.StatusWAITING, 0, "the first order installed")
	})
}

// Two steps that wait for each other across plans are refused at import.
func TestCrossPlanTwoWayRefused(t *testing.T) {
	t.Parallel()
	cat := strings.Replace(cpCatalog, "      - {step: Install, after: [Install], scope: CROSS_PLAN}\n",
		"      - {step: Install, after: [Done], scope: CROSS_PLAN}\n      - {step: Done, after: [Install], scope: CROSS_PLAN}\n", 1)
	e := orchestrator.New(orchestrator.Config{Store: nil})
	_, err := e.ImportCatalog(context.Background(), cat)
	var ee *engine.Error
	if err == nil || !strings.Contains(err.Error()+problemsOf(err, &ee), "both ways") {
		t.Fatalf("import: %v; want INVALID_CATALOG naming the two-way link", err)
	}
	if _, err := e.ImportCatalog(context.Background(), strings.Replace(cpCatalog, "    planKey: 'order.attributes.site'\n", "", 1)); err == nil ||
		!strings.Contains(problemsOf(err, &ee), "planKey") {
		t.Fatalf("a CROSS_PLAN dependency without planKey: %v", err)
	}
}

func problemsOf(err error, ee **engine.Error) string {
	if e, ok := err.(*engine.Error); ok {
		*ee = e
		var b strings.Builder
		for _, p := range e.Problems {
			b.WriteString(p.Path + ": " + p.Message + "\n")
		}
		return b.String()
	}
	return ""
}
