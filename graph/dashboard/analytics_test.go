package dashboard_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// complete runs a submitted order to completion: the Install task is
// completed through the API, the sandbox systems do the rest.
func (s *server) complete(id string) {
	s.t.Helper()
	install := s.waitStep(id, "Install", "WAITING")
	s.gql(`mutation($s: ID!) { completeTask(stepId: $s, output: {serial: "SN-7"}) { status } }`, map[string]any{"s": install})
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := s.gql(`query($id: ID!) { order(id: $id) { status } }`, map[string]any{"id": id})
		if d["order"].(map[string]any)["status"] == "COMPLETED" {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after 30s order %s is %v, not COMPLETED", id, d["order"])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// analytics asks the API what the page asked, by the range the page shows.
func (s *server) analytics(from, to, bucket, groupBy string) map[string]any {
	s.t.Helper()
	vars := map[string]any{"from": from, "to": to, "bucket": bucket}
	if groupBy != "" {
		vars["groupBy"] = groupBy
	}
	return s.gql(`query($from: Time!, $to: Time!, $bucket: AnalyticsBucket!, $groupBy: AnalyticsGroupBy) {
		analytics(from: $from, to: $to, bucket: $bucket, groupBy: $groupBy) {
			series { start group ordersCompleted cycleTimeP50 automationRate atRisk late }
			stepDefinitions { definition completed } systems { system requests } } }`, vars)["analytics"].(map[string]any)
}

// TestAnalytics completes two orders and reads the analytics page: its
// charts have a bucket per point of the API's series and a bar per
// non-zero count (by day, by week, and grouped by system), its tables the
// API's step definitions and systems.
func TestAnalytics(t *testing.T) {
	s := newServer(t)
	for _, ext := range []string{"an-1", "an-2"} {
		s.complete(s.submit(ext))
	}
	p := tab(t)
	p.open(s.URL, "#/analytics", "analytics")
	if nav := p.text("#top nav"); !strings.Contains(nav, "Analytics") {
		t.Errorf("navigation %q lacks Analytics", nav)
	}

	// check compares the drawn orders chart with the API's series.
	check := func(bucket, groupBy string) {
		t.Helper()
		ds := eval[map[string]string](p, `({...document.querySelector('main').dataset})`)
		if ds["bucket"] != bucket || ds["groupBy"] != groupBy {
			t.Fatalf("page shows bucket %q grouped by %q; want %q, %q", ds["bucket"], ds["groupBy"], bucket, groupBy)
		}
		a := s.analytics(ds["from"], ds["to"], bucket, groupBy)
		var starts []string
		var bars, total int
		var cycle, automation int
		for _, x := range a["series"].([]any) {
			pt := x.(map[string]any)
			if st := pt["start"].(string); !slices.Contains(starts, st) {
				starts = append(starts, st)
			}
			if n := int(pt["ordersCompleted"].(float64)); n > 0 {
				bars++
				total += n
			}
			if pt["cycleTimeP50"] != nil {
				cycle++
			}
			if pt["automationRate"] != nil {
				automation++
			}
		}
		where := fmt.Sprintf("by %s grouped by %q", bucket, groupBy)
		// Grouped, an order counts for each of its groups (every system it called).
		if bars == 0 || (groupBy == "" && total != 2) || total < 2 {
			t.Fatalf("%s: the API counts %d orders completed in %d bars; want the 2 of the test", where, total, bars)
		}
		got := eval[[]int](p, `(() => { const c = document.querySelector('svg[data-chart="orders"]');
			return [c.querySelectorAll('g.bucket').length, c.querySelectorAll('rect.bar').length,
				[...c.querySelectorAll('rect.bar')].reduce((n, b) => n + Number(b.dataset.value), 0),
				document.querySelectorAll('svg[data-chart="cycle"] circle.dot').length,
				document.querySelectorAll('svg[data-chart="automation"] circle.dot').length]; })()`)
		// The cycle chart has a p50 and a p90 dot per point with a cycle time.
		if want := []int{len(starts), bars, total, 2 * cycle, automation}; !slices.Equal(got, want) {
			t.Errorf("%s: drawn [buckets bars orders cycle-dots automation-dots] %v; the API's series says %v", where, got, want)
		}
		drawnStarts := eval[[]string](p, `[...document.querySelectorAll('svg[data-chart="orders"] g.bucket')].map((g) => g.dataset.start)`)
		if !slices.Equal(drawnStarts, starts) {
			t.Errorf("%s: buckets %v; the API's %v", where, drawnStarts, starts)
		}
	}
	check("DAY", "")
	p.screenshot("analytics-day")

	// The tables list the API's step definitions and systems, in its order.
	a := s.analytics(eval[string](p, `document.querySelector('main').dataset.from`), eval[string](p, `document.querySelector('main').dataset.to`), "DAY", "")
	var defs, systems []string
	for _, d := range a["stepDefinitions"].([]any) {
		defs = append(defs, d.(map[string]any)["definition"].(string))
	}
	for _, d := range a["systems"].([]any) {
		systems = append(systems, d.(map[string]any)["system"].(string))
	}
	if !slices.Contains(defs, "Install") || !slices.Contains(systems, "billing") {
		t.Errorf("the API's step definitions %v and systems %v lack Install and billing", defs, systems)
	}
	if got := eval[[]string](p, `[...document.querySelectorAll('tr.definition')].map((r) => r.dataset.definition)`); !slices.Equal(got, defs) {
		t.Errorf("step definitions table %v; the API's %v", got, defs)
	}
	if got := eval[[]string](p, `[...document.querySelectorAll('tr.system')].map((r) => r.dataset.system)`); !slices.Equal(got, systems) {
		t.Errorf("systems table %v; the API's %v", got, systems)
	}
	if row := p.text(`tr.definition[data-definition="Install"]`); !strings.Contains(row, "MANUAL_TASK") {
		t.Errorf("Install's row: %q", row)
	}

	// choose picks an option of a control, as a person would.
	choose := func(name, value string) {
		t.Helper()
		eval[chromedp.Void](p, fmt.Sprintf(`(() => { const s = document.querySelector('select[name=%q]'); s.value = %q; s.dispatchEvent(new Event('change')); })()`, name, value))
		p.run(chromedp.WaitReady(chromedp.CSS(fmt.Sprintf(`main[data-page="analytics"][data-ready][data-%s=%q]`, map[string]string{"bucket": "bucket", "groupBy": "group-by"}[name], value))))
	}
	choose("bucket", "WEEK")
	check("WEEK", "")
	choose("bucket", "DAY")
	choose("groupBy", "SYSTEM")
	check("DAY", "SYSTEM")
	if legend := eval[string](p, `document.querySelector('svg[data-chart="orders"] + svg.chart-legend').textContent`); !strings.Contains(legend, "billing") {
		t.Errorf("grouped by system, the legend says %q", legend)
	}
	p.screenshot("analytics-by-system")
	p.clean("analytics")
}
