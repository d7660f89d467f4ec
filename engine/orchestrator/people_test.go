package orchestrator_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent/event"
	"github.com/batonhq/baton/ent/order"
	"github.com/batonhq/baton/ent/step"
)

// peCatalog: each SRV line gets an Install task in queue install (round
// robin over ana, bo, cy), a Check task in queue check (least loaded over
// dan, eve) and a Route task in queue route (CONTEXT: by the line's
// region, to a member or to queue south). Confirm is a form with set
// mappings and templated instructions, in an undeclared queue. Fix
// escalates: AT_RISK reminds, LATE goes to queue leads, which notifies.
const peCatalog = `version: 1
products:
  - {code: SRV, type: COMMERCIAL}
  - {code: T-SRV, type: TECHNICAL}
  - {code: OTHER, type: COMMERCIAL}
  - {code: T-OTHER, type: TECHNICAL}
decomposition:
  - {name: srv, from: SRV, to: T-SRV, attributes: {region: line.attributes.region}}
  - {name: other, from: OTHER, to: T-OTHER}
queues:
  - {name: install, members: [ana, bo, cy], strategy: ROUND_ROBIN}
  - {name: check, members: [dan, eve], strategy: LEAST_LOADED}
  - name: route
    strategy: CONTEXT
    members: [nico]
    assign: 'item.attributes.region == "north" ? "nico" : "queue:south"'
  - {name: south, members: [sam, sue], strategy: ROUND_ROBIN}
  - name: fix
    members: [fay]
    escalation:
      - {at: AT_RISK, action: REMIND}
      - {at: LATE, action: REASSIGN, to: "queue:leads"}
  - name: leads
    members: [lee]
    strategy: ROUND_ROBIN
    escalation:
      - {at: LATE, action: NOTIFY, to: managers}
  - {name: managers}
  - name: office
    members: [olga]
    calendar: {timezone: Europe/Berlin, hours: ["Mon-Fri 09:00-17:00"]}
scenarios:
  - name: main
    groups:
      - name: Work
        steps:
          - {name: Install, type: MANUAL_TASK, scope: ITEM, product: T-SRV, task: {queue: install}}
          - {name: Check, type: MANUAL_TASK, scope: ITEM, product: T-SRV, task: {queue: check}}
          - {name: Route, type: MANUAL_TASK, scope: ITEM, product: T-SRV, task: {queue: route}}
          - name: Confirm
            type: MANUAL_TASK
            scope: ITEM
            product: T-OTHER
            task:
              queue: desk
              instructions: 'Call {{ order.attributes.contact }} about {{ item.productCode }}'
              fields:
                - {name: serial, type: string, required: true, pattern: '^SN-[0-9]+$'}
                - {name: racks, type: number}
                - {name: onsite, type: boolean}
                - {name: date, type: date}
                - {name: tier, type: enum, values: [gold, silver]}
              set:
                order.confirmedSerial: output.serial
                racks: 'output.racks ?? 0'
          - {name: Fix, type: MANUAL_TASK, scope: ITEM, product: T-OTHER, task: {queue: fix}, estimatedDuration: 2h, jeopardyThreshold: 1h}
          - {name: Paper, type: MANUAL_TASK, scope: ITEM, product: T-OTHER, task: {queue: office}, estimatedDuration: 4h}
`

func peOrder(ext string, regions ...string) engine.OrderInput {
	in := engine.OrderInput{ExternalID: ext, AccountID: "ACME", Attributes: map[string]any{"contact": "Ms Lee"}}
	for i, r := range regions {
		in.Lines = append(in.Lines, engine.LineInput{ID: fmt.Sprintf("L%d", i+1), ProductCode: "SRV", Quantity: 1,
			Attributes: map[string]any{"region": r}})
	}
	return in
}

func otherOrder(ext string) engine.OrderInput {
	return engine.OrderInput{ExternalID: ext, AccountID: "ACME", Attributes: map[string]any{"contact": "Ms Lee"},
		Lines: []engine.LineInput{{ID: "X1", ProductCode: "OTHER", Quantity: 1}}}
}

// assignees lists the assignees of an order's tasks of a definition, in
// step id order.
func assignees(t *testing.T, b *xBundle, name string) []string {
	t.Helper()
	var out []string
	for _, s := range b.client.Step.Query().Where(step.Name(name)).Order(step.ByID()).AllX(b.ctx) {
		who := "-"
		if s.Assignee != nil {
			who = *s.Assignee
		}
		out = append(out, who+"@"+str(s.Queue))
	}
	return out
}

func worker(ctx context.Context, name string, queues ...string) context.Context {
	return as(ctx, name, []string{access.FulfillmentAgent}, nil, queues)
}

// TestAssignmentStrategies: ROUND_ROBIN takes turns in the members'
// order, LEAST_LOADED the member with the fewest open tasks, CONTEXT the
// expression's member or another queue (whose own strategy then decides).
func TestAssignmentStrategies(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := setupExec(t, url, peCatalog, xOptions{})
		b.submit(t, peOrder("o-1", "north", "south", "south", "north"))
		if got, want := assignees(t, b, "Install"), []string{"ana@install", "bo@install", "cy@install", "ana@install"}; !slices.Equal(got, want) {
			t.Errorf("round robin: %v; want %v", got, want)
		}
		if got, want := assignees(t, b, "Check"), []string{"dan@check", "eve@check", "dan@check", "eve@check"}; !slices.Equal(got, want) {
			t.Errorf("least loaded: %v; want %v", got, want)
		}
		if got, want := assignees(t, b, "Route"), []string{"nico@route", "sam@south", "sue@south", "nico@route"}; !slices.Equal(got, want) {
			t.Errorf("context: %v; want %v", got, want)
		}
		// dan finishes one: the next Check goes to him, the least loaded.
		first := b.client.Step.Query().Where(step.Name("Check"), step.Assignee("dan")).Order(step.ByID()).FirstX(b.ctx)
		if err := b.engine.CompleteTask(worker(b.ctx, "dan"), first.ID, nil, ""); err != nil {
			t.Fatal(err)
		}
		b.submit(t, peOrder("o-2", "north"))
		if got := assignees(t, b, "Check"); got[len(got)-1] != "dan@check" {
			t.Errorf("least loaded after dan completed one: %v; want dan last", got)
		}
		var notes []string
		for _, ev := range b.client.Event.Query().Where(event.KindEQ(event.KindSTEP_ASSIGNED)).Order(event.ByID()).Limit(2).AllX(b.ctx) {
			notes = append(notes, ev.Actor+": "+ev.Note)
		}
		if len(notes) != 2 || !strings.Contains(notes[0], "baton: ROUND_ROBIN") {
			t.Errorf("assignment events: %v; want the engine's, naming the strategy", notes)
		}
	})
}

// TestRoundRobinAcrossReplicas: two engines on one database assigning in
// one queue at once never break the turn: twelve tasks are four each.
func TestRoundRobinAcrossReplicas(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := setupExec(t, url, peCatalog, xOptions{})
		other := orchestrator.New(orchestrator.Config{Store: openStore(t, url, b.clock), Clock: b.clock, Logger: enginetest.Logger(t)})
		engines := []*orchestrator.Engine{b.engine, other}
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := engines[i%2].SubmitOrder(b.ctx, peOrder(fmt.Sprintf("rr-%d", i), "north", "north"))
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		counts := map[string]int{}
		for _, a := range assignees(t, b, "Install") {
			counts[a]++
		}
		if counts["ana@install"] != 4 || counts["bo@install"] != 4 || counts["cy@install"] != 4 {
			t.Errorf("round robin over two replicas: %v; want 4 each", counts)
		}
	})
}

// TestClaimAndHandOver: claiming, releasing, delegating and assigning,
// each refused where it must be, with nothing changed then.
func TestClaimAndHandOver(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := setupExec(t, url, peCatalog, xOptions{})
		rec := b.submit(t, otherOrder("c-1"))
		confirm := acStep(t, b, rec.ID, "Confirm") // queue desk: undeclared, nobody assigned
		ann, ben := worker(b.ctx, "ann"), worker(b.ctx, "ben")
		manager := as(b.ctx, "max", []string{access.FulfillmentManager}, nil, nil)
		good := map[string]any{"serial": "SN-1"}
		code := func(err error) engine.Code {
			if err == nil {
				return ""
			}
			return engine.ErrorCode(err)
		}

		if err := b.engine.ClaimTask(ann, confirm); err != nil {
			t.Fatalf("claim: %v", err)
		}
		if err := b.engine.ClaimTask(ann, confirm); err != nil {
			t.Errorf("claiming one's own task again: %v", err)
		}
		if err := b.engine.ClaimTask(ben, confirm); code(err) != engine.CodeConflict || !strings.Contains(err.Error(), "held by ann") {
			t.Errorf("claiming ann's task: %v; want CONFLICT naming ann", err)
		}
		if err := b.engine.CompleteTask(ben, confirm, good, ""); code(err) != engine.CodeConflict {
			t.Errorf("completing ann's task: %v; want CONFLICT", err)
		}
		if err := b.engine.ReleaseTask(ben, confirm, ""); code(err) != engine.CodeConflict {
			t.Errorf("releasing ann's task: %v; want CONFLICT", err)
		}
		if err := b.engine.DelegateTask(ann, confirm, "ann", ""); code(err) != engine.CodeBadUserInput {
			t.Errorf("delegating to oneself: %v; want BAD_USER_INPUT", err)
		}
		if err := b.engine.DelegateTask(ann, confirm, "ben", "you know the site"); err != nil {
			t.Fatalf("delegate: %v", err)
		}
		if err := b.engine.ReleaseTask(ben, confirm, "not mine after all"); err != nil {
			t.Fatalf("release: %v", err)
		}
		if s := b.client.Step.GetX(b.ctx, confirm); s.Assignee != nil {
			t.Errorf("released task held by %q", *s.Assignee)
		}
		if err := b.engine.ReleaseTask(ben, confirm, ""); code(err) != engine.CodeInvalidState {
			t.Errorf("releasing an unheld task: %v; want INVALID_STATE", err)
		}
		if err := b.engine.AssignTask(manager, confirm, "ann"); err != nil {
			t.Fatal(err)
		}
		if err := b.engine.AssignTask(manager, confirm, "ben"); err != nil {
			t.Fatal(err)
		}
		last := b.client.Event.Query().Where(event.KindEQ(event.KindSTEP_ASSIGNED), event.StepID(confirm)).Order(event.ByID()).AllX(b.ctx)
		var moves []string
		for _, ev := range last {
			moves = append(moves, fmt.Sprintf("%s→%s by %s (%s)", ev.From, ev.To, ev.Actor, ev.Note))
		}
		want := []string{"→ann by ann (claimed)", "ann→ben by ann (delegated by ann you know the site)", "ben→ by ben (released not mine after all)",
			"→ann by max (assigned)", "ann→ben by max (reassigned from ann)"}
		if !slices.Equal(moves, want) {
			t.Errorf("on the feed:\n%s\nwant\n%s", strings.Join(moves, "\n"), strings.Join(want, "\n"))
		}

		// A declared queue: only its members work it, and tasks go to members only.
		fix := acStep(t, b, rec.ID, "Fix")
		if err := b.engine.ClaimTask(ann, fix); code(err) != engine.CodeForbidden {
			t.Errorf("a non-member claiming in queue fix: %v; want FORBIDDEN", err)
		}
		if err := b.engine.AssignTask(manager, fix, "ann"); code(err) != engine.CodeBadUserInput || !strings.Contains(err.Error(), "not a member") {
			t.Errorf("assigning to a non-member: %v; want BAD_USER_INPUT", err)
		}
		if err := b.engine.ClaimTask(worker(b.ctx, "fay"), fix); err != nil {
			t.Errorf("fay (a member by name) claiming in fix: %v", err)
		}
		if err := b.engine.ClaimTask(worker(b.ctx, "token-member", "fix"), fix); code(err) != engine.CodeConflict {
			t.Errorf("a member by credentials claiming fay's task: %v; want CONFLICT", err)
		}
		b.checkOrder(t, rec.ID, order.StatusIN_PROGRESS)

		// Finished tasks can't be claimed.
		if err := b.engine.CompleteTask(ben, confirm, good, ""); err != nil {
			t.Fatal(err)
		}
		if err := b.engine.ClaimTask(ben, confirm); code(err) != engine.CodeInvalidState {
			t.Errorf("claiming a completed task: %v; want INVALID_STATE", err)
		}
	})
}

// TestOutOfOffice: a member made unavailable hands its open tasks to the
// queue's strategy (never back to itself) and is assigned nothing new;
// back in office, it takes its turn again.
func TestOutOfOffice(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := setupExec(t, url, peCatalog, xOptions{})
		b.submit(t, peOrder("o-1", "north", "north", "north")) // ana, bo, cy
		manager := as(b.ctx, "max", []string{access.FulfillmentManager}, nil, nil)
		if err := b.engine.SetMemberAvailability(worker(b.ctx, "zed"), "install", "bo", false); !engine.IsCode(err, engine.CodeForbidden) {
			t.Errorf("another agent marking bo away: %v; want FORBIDDEN", err)
		}
		if err := b.engine.SetMemberAvailability(worker(b.ctx, "bo"), "install", "bo", false); err != nil {
			t.Fatalf("bo marking himself away: %v", err)
		}
		got := assignees(t, b, "Install")
		if got[1] == "bo@install" || got[1] == "-@install" {
			t.Errorf("bo's task after he left: %v", got)
		}
		b.submit(t, peOrder("o-2", "north", "north"))
		for _, a := range assignees(t, b, "Install")[3:] {
			if a == "bo@install" {
				t.Errorf("bo was assigned a task while away: %v", assignees(t, b, "Install"))
			}
		}
		if err := b.engine.SetMemberAvailability(manager, "install", "bo", true); err != nil {
			t.Fatal(err)
		}
		qs, err := b.engine.Queues(manager)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(qs, func(q *orchestrator.Queue) bool { return q.Name == "install" })
		if i < 0 || qs[i].Open != 5 || qs[i].Unassigned != 0 || len(qs[i].Members) != 3 || !qs[i].Members[1].Available || qs[i].Members[1].Load != 0 {
			t.Errorf("install queue: %+v", qs[i])
		}
		// Members replaced by the API take effect at once.
		if err := b.engine.SetQueueMembers(manager, "install", []string{"ana", "ana"}); !engine.IsCode(err, engine.CodeBadUserInput) {
			t.Errorf("a member named twice: %v; want BAD_USER_INPUT", err)
		}
		if err := b.engine.SetQueueMembers(manager, "install", []string{"zoe"}); err != nil {
			t.Fatal(err)
		}
		b.submit(t, peOrder("o-3", "north"))
		if got := assignees(t, b, "Install"); got[len(got)-1] != "zoe@install" {
			t.Errorf("after the members were replaced: %v; want zoe last", got)
		}
		if err := b.engine.ClaimTask(worker(b.ctx, "ana"), acStep(t, b, b.client.Order.Query().Where(order.ExternalID("o-3")).OnlyIDX(b.ctx), "Install")); !engine.IsCode(err, engine.CodeForbidden) {
			t.Errorf("ana, no longer a member, claiming: %v; want FORBIDDEN", err)
		}
	})
}

// TestTaskForm: the output must fill the form (each bad field named,
// nothing changed); a good one completes the task and is mapped into
// attributes; the instructions render over the order.
func TestTaskForm(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := setupExec(t, url, peCatalog, xOptions{})
		rec := b.submit(t, otherOrder("f-1"))
		confirm := acStep(t, b, rec.ID, "Confirm")
		ann := worker(b.ctx, "ann")
		err := b.engine.CompleteTask(ann, confirm, map[string]any{"serial": "12", "racks": "two", "onsite": "yes", "date": "soon", "tier": "bronze", "extra": 1}, "")
		var ee *engine.Error
		if !engine.IsCode(err, engine.CodeBadUserInput) || !errors.As(err, &ee) {
			t.Fatalf("bad output: %v; want BAD_USER_INPUT", err)
		}
		var paths []string
		for _, p := range ee.Problems {
			paths = append(paths, p.Path)
		}
		if want := []string{"output.serial", "output.racks", "output.onsite", "output.date", "output.tier", "output.extra"}; !slices.Equal(paths, want) {
			t.Errorf("problems at %v; want %v (%v)", paths, want, ee.Problems)
		}
		if err := b.engine.CompleteTask(ann, confirm, map[string]any{"racks": 2}, ""); !engine.IsCode(err, engine.CodeBadUserInput) || !strings.Contains(err.Error(), "serial: required") {
			t.Errorf("without the required field: %v", err)
		}
		if s := b.client.Step.GetX(b.ctx, confirm); s.Status != step.StatusWAITING {
			t.Fatalf("Confirm is %s after refused outputs", s.Status)
		}
		forms, err := b.engine.TaskForms(ann, []orchestrator.TaskRef{{ID: confirm, Name: "Confirm", CatalogID: rec.CatalogID}})
		if err != nil {
			t.Fatal(err)
		}
		if f := forms[confirm]; f == nil || f.Instructions != "Call Ms Lee about T-OTHER" || len(f.Fields) != 5 {
			t.Errorf("form %+v", f)
		}
		if err := b.engine.CompleteTask(ann, confirm, map[string]any{"serial": "SN-42", "racks": 3, "onsite": true, "date": "2026-03-05", "tier": "gold"}, "done"); err != nil {
			t.Fatalf("good output: %v", err)
		}
		o := b.client.Order.GetX(b.ctx, rec.ID)
		if o.Attributes["confirmedSerial"] != "SN-42" {
			t.Errorf("order attributes %v; want confirmedSerial SN-42", o.Attributes)
		}
		line := b.client.FulfillmentLine.Query().OnlyX(b.ctx)
		if fmt.Sprint(line.Attributes["racks"]) != "3" {
			t.Errorf("item attributes %v; want racks 3", line.Attributes)
		}
	})
}

// TestEscalationAndCalendar: AT_RISK reminds the assignee, LATE moves the
// task to queue leads (whose strategy assigns it) and leads' own chain
// notifies managers — once per level, also when another engine runs the
// timers again after a restart. A task in a queue with office hours is due
// in working time.
func TestEscalationAndCalendar(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := setupExec(t, url, peCatalog, xOptions{run: &orchestrator.RunnerConfig{}})
		// Friday 2026-03-06 16:00 in Berlin (15:00 UTC).
		b.clock.Set(time.Date(2026, 3, 6, 15, 0, 0, 0, time.UTC))
		rec := b.submit(t, otherOrder("e-1"))
		fix := acStep(t, b, rec.ID, "Fix")
		if err := b.engine.ClaimTask(worker(b.ctx, "fay"), fix); err != nil {
			t.Fatal(err)
		}
		paper := b.client.Step.GetX(b.ctx, acStep(t, b, rec.ID, "Paper"))
		if want := time.Date(2026, 3, 9, 11, 0, 0, 0, time.UTC); paper.DueAt == nil || !paper.DueAt.Equal(want) {
			t.Errorf("Paper (4h, Mon–Fri 09–17 Berlin) ready Friday 16:00 is due %v; want Monday 12:00 Berlin (%v)", paper.DueAt, want)
		}
		escalations := func() []string {
			var out []string
			for _, ev := range b.client.Event.Query().Where(event.KindEQ(event.KindTASK_ESCALATED)).Order(event.ByID()).AllX(b.ctx) {
				out = append(out, fmt.Sprintf("%s %s %s", ev.From, ev.Note, ev.To))
			}
			return out
		}
		b.clock.Advance(time.Hour)
		b.idle(t)
		if got, want := escalations(), []string{"AT_RISK REMIND fay"}; !slices.Equal(got, want) {
			t.Errorf("at risk: %v; want %v", got, want)
		}
		b.clock.Advance(time.Hour)
		b.idle(t)
		want := []string{"AT_RISK REMIND fay", "LATE REASSIGN queue:leads"}
		if got := escalations(); !slices.Equal(got, want) {
			t.Errorf("late: %v; want %v", got, want)
		}
		s := b.client.Step.GetX(b.ctx, fix)
		if str(s.Queue) != "leads" || s.Assignee == nil || *s.Assignee != "lee" {
			t.Errorf("Fix after LATE is in %s held by %v; want leads, lee", str(s.Queue), s.Assignee)
		}
		// Another engine (a restart) runs the timers again: nothing repeats.
		again := orchestrator.New(orchestrator.Config{Store: openStore(t, url, b.clock), Clock: b.clock, Logger: enginetest.Logger(t)})
		if err := again.Start(orchestrator.RunnerConfig{PollInterval: time.Hour}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { again.Stop(context.Background()) })
		b.clock.Advance(time.Hour)
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer cancel()
		if err := again.RunUntilIdle(ctx); err != nil {
			t.Fatal(err)
		}
		b.idle(t)
		if got := escalations(); !slices.Equal(got, want) {
			t.Errorf("after a restart: %v; want %v (once per level)", got, want)
		}
	})
}

// scCatalog: Visit (a person's task, one hour) may start at the order's
// visitOn; Later starts two hours after Visit is done.
const scCatalog = `version: 1
products:
  - {code: SRV, type: COMMERCIAL}
  - {code: T-SRV, type: TECHNICAL}
decomposition:
  - {name: srv, from: SRV, to: T-SRV}
scenarios:
  - name: main
    groups:
      - name: Work
        steps:
          - {name: Visit, type: MANUAL_TASK, task: {queue: field}, estimatedDuration: 1h, startAt: order.attributes.visitOn}
          - {name: Later, type: MILESTONE, startAt: 'now + duration("2h")'}
    dependencies:
      - {step: Later, after: [Visit]}
`

// TestScheduledSteps: a step whose startAt is to come waits SCHEDULED
// (no jeopardy clock yet) until a timer makes it READY; an amendment or
// an enrichment that moves the date reschedules it; a time already past,
// or a value that is no time, starts it at once.
func TestScheduledSteps(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := setupExec(t, url, scCatalog, xOptions{run: &orchestrator.RunnerConfig{}})
		day := func(h int) string { return enginetest.Epoch.Add(time.Duration(h) * time.Hour).Format(time.RFC3339) }
		in := engine.OrderInput{ExternalID: "s-1", AccountID: "ACME", Attributes: map[string]any{"visitOn": day(24)},
			Lines: []engine.LineInput{{ID: "L1", ProductCode: "SRV", Quantity: 1}}}
		rec := b.submit(t, in)
		visit := func() (st step.Status, wake, due *time.Time) {
			s := b.client.Step.GetX(b.ctx, acStep(t, b, rec.ID, "Visit"))
			return s.Status, s.WakeAt, s.DueAt
		}
		if st, wake, due := visit(); st != step.StatusSCHEDULED || wake == nil || wake.Format(time.RFC3339) != day(24) || due != nil {
			t.Fatalf("Visit is %s waking %v due %v; want SCHEDULED for %s, no due time", st, wake, due, day(24))
		}
		if _, err := b.engine.AmendOrder(b.ctx, rec.ID, engine.AmendInput{Lines: in.Lines, Attributes: map[string]any{"visitOn": day(48)}, Reason: "customer away"}, nil); err != nil {
			t.Fatal(err)
		}
		if st, wake, _ := visit(); st != step.StatusSCHEDULED || wake.Format(time.RFC3339) != day(48) {
			t.Errorf("after the amendment Visit is %s waking %v; want %s", st, wake, day(48))
		}
		if err := b.engine.EnrichOrder(b.ctx, rec.ID, map[string]any{"visitOn": day(3)}, nil); err != nil {
			t.Fatal(err)
		}
		if _, wake, _ := visit(); wake.Format(time.RFC3339) != day(3) {
			t.Errorf("after the enrichment Visit wakes %v; want %s", wake, day(3))
		}
		n := b.client.Event.Query().Where(event.StepID(acStep(t, b, rec.ID, "Visit")), event.KindEQ(event.KindSTEP_STATUS), event.To("SCHEDULED")).CountX(b.ctx)
		if n != 3 {
			t.Errorf("%d SCHEDULED events of Visit; want 3 (scheduled, rescheduled twice)", n)
		}
		b.clock.Advance(3 * time.Hour)
		b.idle(t)
		st, _, due := visit()
		if st != step.StatusWAITING || due == nil || !due.Equal(enginetest.Epoch.Add(4*time.Hour)) {
			t.Fatalf("at its start Visit is %s due %v; want WAITING, due an hour after its scheduled start", st, due)
		}
		if err := b.engine.CompleteTask(b.ctx, acStep(t, b, rec.ID, "Visit"), nil, ""); err != nil {
			t.Fatal(err)
		}
		if s := b.stepByName(t, rec.ID, "Later"); s.Status != step.StatusSCHEDULED {
			t.Errorf("Later (two hours after Visit) is %s; want SCHEDULED", s.Status)
		}
		b.clock.Advance(2 * time.Hour)
		b.waitOrder(t, rec.ID, order.StatusCOMPLETED)

		// A date already past, and a value that is no time, start at once.
		for _, v := range []string{day(-1), "soon"} {
			r2 := b.submit(t, engine.OrderInput{ExternalID: "s-" + v, AccountID: "ACME", Attributes: map[string]any{"visitOn": v},
				Lines: []engine.LineInput{{ID: "L1", ProductCode: "SRV", Quantity: 1}}})
			if s := b.stepByName(t, r2.ID, "Visit"); s.Status != step.StatusWAITING {
				t.Errorf("visitOn %q: Visit is %s; want WAITING at once", v, s.Status)
			}
		}
		if _, err := b.engine.ImportCatalog(b.ctx, strings.Replace(scCatalog, "order.attributes.visitOn", "order.nosuch", 1)); !engine.IsCode(err, engine.CodeInvalidCatalog) {
			t.Errorf("a startAt that does not compile: %v; want INVALID_CATALOG", err)
		}
	})
}
