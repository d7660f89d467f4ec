package graph_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/engine/enginetest"
)

// A name written to break out of a Mermaid or DOT label: quotes and
// brackets, a Mermaid directive, HTML, a DOT escape.
const hostileStep = `E"] --> x; click x call f %%{init: {"theme": "dark"}}%% <img src=x onerror=f()> \N`

var picturesCatalog = `version: 1
systems: {}
products:
  - {code: WIDGET, name: Widget, type: COMMERCIAL}
  - {code: TP-W, name: Widget work, type: TECHNICAL, attributes: [sku]}
decomposition:
  - {name: widget-work, from: WIDGET, to: TP-W, attributes: {sku: 'line.productCode'}}
scenarios:
  - name: pictures
    when: 'hasProduct("WIDGET")'
    groups:
      - name: 'Lane "A" <b>'
        steps:
          - {name: '` + strings.ReplaceAll(hostileStep, `'`, `''`) + `', type: MANUAL_TASK, task: {queue: field}, estimatedDuration: 2h}
      - name: Field
        steps:
          - {name: Install, type: MANUAL_TASK, task: {queue: field}, estimatedDuration: 3h}
    dependencies:
      - {step: Install, after: '` + hostileStep + `'}
`

const planPicturesQuery = `query($id: ID!) { order(id: $id) { plan { jeopardy jeopardyReason predictedCompletion predictedCompletionP90
	mermaid dot timeline { step { id name status } swimlane plannedStart plannedEnd actualStart actualEnd critical basis samples
	p50Seconds p90Seconds } } } }`

type planPictures struct {
	Order struct {
		Plan struct {
			Jeopardy               string
			JeopardyReason         *string
			PredictedCompletion    *time.Time
			PredictedCompletionP90 *time.Time
			Mermaid, Dot           string
			Timeline               []struct {
				Step struct {
					ID, Name, Status string
				}
				Swimlane                                         string
				PlannedStart, PlannedEnd, ActualStart, ActualEnd *time.Time
				Critical                                         bool
				Basis                                            string
				Samples                                          int
				P50Seconds, P90Seconds                           *int
			}
		}
	}
}

func TestPlanPictures(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{catalog: picturesCatalog})
		t0 := enginetest.Epoch
		submit := func(ext string, due *time.Time) string {
			in := map[string]any{"externalId": ext, "accountId": "acme",
				"lines": []map[string]any{{"id": "L1", "productCode": "WIDGET"}}}
			if due != nil {
				in["requestedCompletion"] = due.Format(time.RFC3339)
			}
			var out struct{ SubmitOrder struct{ ID string } }
			e.do(submitMutation, map[string]any{"in": in}, &out)
			return out.SubmitOrder.ID
		}
		due := t0.Add(4 * time.Hour)
		id := submit("pic-1", &due)
		var got planPictures
		e.do(planPicturesQuery, map[string]any{"id": id}, &got)
		p := got.Order.Plan

		// 2h then 3h: +5h against the requested +4h, before any step is late.
		if p.Jeopardy != "AT_RISK" || p.JeopardyReason == nil ||
			*p.JeopardyReason != "Install estimate 3h on the critical path (predicted completion 2026-03-02T14:00:00Z, requested 2026-03-02T13:00:00Z)" {
			t.Errorf("jeopardy %s, reason %v; want AT_RISK naming Install's 3h estimate", p.Jeopardy, strOf(p.JeopardyReason))
		}
		if p.PredictedCompletion == nil || !p.PredictedCompletion.Equal(t0.Add(5*time.Hour)) ||
			p.PredictedCompletionP90 == nil || !p.PredictedCompletionP90.Equal(t0.Add(5*time.Hour)) {
			t.Errorf("predicted %v, p90 %v; want t0+5h both (estimates only)", p.PredictedCompletion, p.PredictedCompletionP90)
		}

		// The timeline: the hostile lane first (position 0), then Field.
		tl := p.Timeline
		if len(tl) != 2 {
			t.Fatalf("timeline has %d rows; want 2: %+v", len(tl), tl)
		}
		first, install := tl[0], tl[1]
		if first.Step.Name != hostileStep || first.Swimlane != `Lane "A" <b>` || !first.Critical || first.Basis != "ESTIMATE" ||
			!timeIs(first.PlannedStart, t0) || !timeIs(first.PlannedEnd, t0.Add(2*time.Hour)) || !timeIs(first.ActualStart, t0) ||
			first.ActualEnd != nil || intOf(first.P50Seconds) != 7200 {
			t.Errorf("first row %+v", first)
		}
		if install.Step.Name != "Install" || install.Swimlane != "Field" || !install.Critical || install.ActualStart != nil ||
			!timeIs(install.PlannedStart, t0.Add(2*time.Hour)) || !timeIs(install.PlannedEnd, t0.Add(5*time.Hour)) ||
			intOf(install.P90Seconds) != 10800 || install.Samples != 0 {
			t.Errorf("Install row %+v", install)
		}

		// Mermaid: every line one the drawing makes; the hostile name only
		// as entity codes inside its quoted label.
		mline := regexp.MustCompile(`^(flowchart LR|  classDef [a-zA-Z]+ [^"\n]+|  subgraph g\d+\["[^"<>%\x60{}]*"\]|    s\d+\["[^"<>%\x60{}]*"\]|  end|  s\d+ (-->|==>) s\d+|  class s\d+ [a-zA-Z]+)$`)
		for _, line := range strings.Split(strings.TrimSuffix(p.Mermaid, "\n"), "\n") {
			if !mline.MatchString(line) {
				t.Errorf("mermaid line %q is not one the drawing makes", line)
			}
		}
		for _, want := range []string{`["Lane #34;A#34; #60;b#62;"]`, `["E#34;#93; --#62; x#59; click x call f #37;#37;#123;init: #123;#34;theme#34;: #34;dark#34;#125;#125;#37;#37; #60;img src=x onerror=f()#62; #92;N"]`,
			"==> s" + install.Step.ID, "class s" + install.Step.ID + " pending", "class s" + first.Step.ID + " waiting"} {
			if !strings.Contains(p.Mermaid, want) {
				t.Errorf("mermaid lacks %q:\n%s", want, p.Mermaid)
			}
		}
		// DOT: the name as one escaped string; the critical edge thick.
		for _, want := range []string{
			`label="E\"] --> x; click x call f %%{init: {\"theme\": \"dark\"}}%% <img src=x onerror=f()> \\N"`,
			`label="Lane \"A\" <b>";`,
			"s" + first.Step.ID + " -> s" + install.Step.ID + " [penwidth=3];",
		} {
			if !strings.Contains(p.Dot, want) {
				t.Errorf("dot lacks %q:\n%s", want, p.Dot)
			}
		}

		// No requested completion: on track, no reason.
		id2 := submit("pic-2", nil)
		var got2 planPictures
		e.do(planPicturesQuery, map[string]any{"id": id2}, &got2)
		if p2 := got2.Order.Plan; p2.Jeopardy != "ON_TRACK" || p2.JeopardyReason != nil {
			t.Errorf("no requested completion: %s %v; want ON_TRACK, null", p2.Jeopardy, strOf(p2.JeopardyReason))
		}
	})
}

func timeIs(p *time.Time, want time.Time) bool { return p != nil && p.Equal(want) }

func intOf(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

func strOf(p *string) string {
	if p == nil {
		return "null"
	}
	return strconv.Quote(*p)
}
