package graph_test

import (
	"encoding/json"
	"testing"

	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/enginetest"
)

// TestAnalyticsOverHTTP: orders run through the API show in analytics;
// a customer limited to ACME sees ACME's numbers only; a principal
// without order:read is FORBIDDEN; bad ranges are BAD_USER_INPUT and an
// unknown bucket fails validation.
func TestAnalyticsOverHTTP(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		ps := accessPrincipals()
		ps["nobody"] = access.DefaultPolicy().Principal(access.Principal{Name: "nobody", Method: access.MethodToken})
		e := newEnv(t, url, envOptions{catalog: accessCatalog, authenticate: ps.auth()})
		complete := `mutation($s: ID!) { completeTask(stepId: $s) { status } }`
		for _, o := range [][2]string{{"acme-1", "ACME"}, {"globex-1", "GLOBEX"}, {"globex-2", "GLOBEX"}} {
			id := e.submitAs("admin", srvOrder(o[0], o[1], nil))
			if o[0] == "globex-2" {
				continue // still open
			}
			for _, name := range []string{"Install", "Credit"} {
				if r := e.postWith(as("admin"), complete, map[string]any{"s": stepID(t, e, id, name)}); len(r.Errors) > 0 {
					t.Fatalf("complete %s of %s: %s", name, o[0], errorList(r.Errors))
				}
			}
		}
		const q = `query($from: Time!, $to: Time!, $bucket: AnalyticsBucket!, $groupBy: AnalyticsGroupBy) {
			analytics(from: $from, to: $to, bucket: $bucket, groupBy: $groupBy) {
				bucket groupBy
				series { start group ordersCompleted cycleTimeP50 cycleTimeP90 falloutRate stepsFinished stepsAutomated automationRate atRisk late }
				stepDefinitions { definition type completed durationP50 durationP90 }
				systems { system requests errors errorRate }
			}
		}`
		day := map[string]any{"from": "2026-03-02T00:00:00Z", "to": "2026-03-03T00:00:00Z", "bucket": "DAY", "groupBy": "QUEUE"}
		type point struct {
			Start                         string
			Group                         *string
			OrdersCompleted               int
			CycleTimeP50, CycleTimeP90    *float64
			FalloutRate                   *float64
			StepsFinished, StepsAutomated int
			AutomationRate                *float64
			AtRisk, Late                  int
		}
		var got struct {
			Analytics struct {
				Bucket, GroupBy string
				Series          []point
				StepDefinitions []struct {
					Definition, Type         string
					Completed                int
					DurationP50, DurationP90 *float64
				}
				Systems []any
			}
		}
		for _, c := range []struct {
			who    string
			orders int // per queue
		}{{"admin", 2}, {"acme", 1}, {"role-FALLOUT_AGENT", 2}} {
			r := e.postWith(as(c.who), q, day)
			if len(r.Errors) > 0 {
				t.Fatalf("analytics as %s: %s", c.who, errorList(r.Errors))
			}
			if err := json.Unmarshal(r.Data, &got); err != nil {
				t.Fatal(err)
			}
			a := got.Analytics
			if a.Bucket != "DAY" || a.GroupBy != "QUEUE" || len(a.Series) != 2 || len(a.Systems) != 0 {
				t.Fatalf("analytics as %s: %s", c.who, r.Data)
			}
			// The fake clock stands still: every order took 0 s, and
			// every step is a manual task.
			for i, queue := range []string{"credit", "install"} {
				p := a.Series[i]
				if p.Start != "2026-03-02T00:00:00Z" || p.Group == nil || *p.Group != queue || p.OrdersCompleted != c.orders ||
					p.CycleTimeP50 == nil || *p.CycleTimeP50 != 0 || p.FalloutRate == nil || *p.FalloutRate != 0 ||
					p.StepsFinished != c.orders || p.StepsAutomated != 0 || p.AutomationRate == nil || *p.AutomationRate != 0 {
					t.Errorf("analytics as %s, queue %s: %+v", c.who, queue, p)
				}
			}
			if len(a.StepDefinitions) != 2 || a.StepDefinitions[0].Definition != "Credit" || a.StepDefinitions[0].Type != "MANUAL_TASK" ||
				a.StepDefinitions[0].Completed != c.orders || a.StepDefinitions[1].Definition != "Install" || a.StepDefinitions[1].Completed != c.orders {
				t.Errorf("step definitions as %s: %+v", c.who, a.StepDefinitions)
			}
		}
		// Not grouped: one point per bucket, group null; the day before is empty.
		r := e.postWith(as("admin"), q, map[string]any{"from": "2026-03-01T00:00:00Z", "to": "2026-03-03T00:00:00Z", "bucket": "DAY"})
		if err := json.Unmarshal(r.Data, &got); err != nil || len(r.Errors) > 0 {
			t.Fatalf("ungrouped: %s", r.Body)
		}
		if s := got.Analytics.Series; len(s) != 2 || s[0].Group != nil || s[0].OrdersCompleted != 0 || s[0].CycleTimeP50 != nil ||
			s[0].FalloutRate != nil || s[1].OrdersCompleted != 2 || s[1].StepsFinished != 4 {
			t.Errorf("ungrouped series: %s", r.Data)
		}

		expectError(t, e.postWith(as("nobody"), q, day), "FORBIDDEN")
		for _, bad := range []map[string]any{
			{"from": "2026-03-03T00:00:00Z", "to": "2026-03-02T00:00:00Z", "bucket": "DAY"},
			{"from": "2026-03-02T00:00:00Z", "to": "2027-03-04T00:00:00Z", "bucket": "DAY"},
		} {
			if err := expectError(t, e.postWith(as("admin"), q, bad), "BAD_USER_INPUT"); !hasProblem(err, "to", "") {
				t.Errorf("%v: problems %v; want one at to", bad, err.Extensions.Problems)
			}
		}
		expectError(t, e.postWith(as("admin"), q, map[string]any{"from": "2026-03-02T00:00:00Z", "to": "2026-03-03T00:00:00Z", "bucket": "HOUR"}),
			"GRAPHQL_VALIDATION_FAILED")
	})
}
