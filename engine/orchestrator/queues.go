package orchestrator

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/catalog"
)

// assigner names the engine on the events of assignments and escalations
// it makes by itself.
const assigner = "baton"

// queueInfo is a work queue as a task sees it: the definition of the
// catalog version of the task's plan (nil for a queue no catalog
// declares) and what the API changed (nil: nothing yet).
type queueInfo struct {
	name  string
	def   *catalog.QueueDef
	state *engine.QueueState
}

// declared reports whether only the queue's members work it.
func (q queueInfo) declared() bool { return q.def != nil || (q.state != nil && q.state.MembersSet) }

// members are the queue's members by name (the API's, else the
// catalog's).
func (q queueInfo) members() []string {
	if q.state != nil && q.state.MembersSet {
		return q.state.Members
	}
	if q.def != nil {
		return q.def.Members
	}
	return nil
}

func (q queueInfo) unavailable(name string) bool {
	return q.state != nil && slices.Contains(q.state.Unavailable, name)
}

// available are the members that may be assigned, in the members' order.
func (q queueInfo) available() []string {
	var out []string
	for _, m := range q.members() {
		if !q.unavailable(m) {
			out = append(out, m)
		}
	}
	return out
}

func (q queueInfo) strategy() string {
	if q.def == nil {
		return catalog.StrategyNone
	}
	return q.def.Strategy
}

// mayWork reports whether p works the queue: a manager works every queue;
// task:work covers an undeclared queue, and a declared queue's members
// (named by the queue, or whose credentials name it) holding one of its
// roles when it lists roles.
func mayWork(p *access.Principal, q queueInfo) bool {
	if p.Can(access.TaskManage) {
		return true
	}
	if !p.Can(access.TaskWork) {
		return false
	}
	if !q.declared() {
		return true
	}
	if q.def != nil && len(q.def.Roles) > 0 && !slices.ContainsFunc(q.def.Roles, p.HasRole) {
		return false
	}
	return p.InQueue(q.name) || slices.Contains(q.members(), p.Name)
}

// accepts checks a name tasks of the queue may be given to (by
// delegation, assignment or escalation): a member when the queue names
// members, and available. Errors: BAD_USER_INPUT.
func (q queueInfo) accepts(name string) error {
	if ms := q.members(); len(ms) > 0 && !slices.Contains(ms, name) {
		return engine.Errorf(engine.CodeBadUserInput, "%s is not a member of queue %q (members: %s)", name, q.name, strings.Join(ms, ", "))
	}
	if q.unavailable(name) {
		return engine.Errorf(engine.CodeBadUserInput, "%s is unavailable in queue %q", name, q.name)
	}
	return nil
}

// queueOf reads the queue of a manual task in the task's transaction;
// lock holds its row (creating it), for what assigns in it.
func (s *txState) queueOf(r *engine.StepRecord, lock bool) (queueInfo, error) {
	cat, err := s.e.catalogInTx(s.ctx, s.tx, r.CatalogID)
	if err != nil {
		return queueInfo{}, err
	}
	q := queueInfo{name: r.Queue, def: cat.Queue(r.Queue)}
	if lock {
		q.state, err = s.tx.LockQueue(s.ctx, r.Queue)
	} else {
		q.state, err = s.tx.ReadQueue(s.ctx, r.Queue)
	}
	return q, err
}

// requireWork checks that the transaction's principal works the task's
// queue. Errors: FORBIDDEN.
func (s *txState) requireWork(r *engine.StepRecord) (queueInfo, error) {
	q, err := s.queueOf(r, false)
	if err != nil {
		return q, err
	}
	if p := access.From(s.ctx); !mayWork(p, q) {
		return q, engine.Errorf(engine.CodeForbidden, "%s may not work queue %q: task:work covers the queues it is a member of", p.Name, r.Queue)
	}
	return q, nil
}

// openTask refuses a step that is not an open manual task. Errors:
// INVALID_STATE.
func openTask(r *engine.StepRecord, doing string) error {
	if r.Type != engine.ManualTask || r.Status.Terminal() {
		return engine.Errorf(engine.CodeInvalidState, "step %d (%s) is a %s in status %s; only an open MANUAL_TASK can be %s", r.ID, r.Name, r.Type, r.Status, doing)
	}
	return nil
}

// setAssignee gives a task to who ("" back to its queue) with its event.
func (s *txState) setAssignee(r *engine.StepRecord, who, actor, note string) {
	from := r.Assignee
	if s.assigned == nil {
		s.assigned = map[string]map[string]int{}
	}
	if s.assigned[r.Queue] == nil {
		s.assigned[r.Queue] = map[string]int{}
	}
	if from != "" {
		s.assigned[r.Queue][from]--
	}
	if who != "" {
		s.assigned[r.Queue][who]++
	}
	r.Assignee = who
	r.UpdatedAt = s.now
	s.dirty[r.ID] = r
	s.tx.Emit(&engine.Event{Kind: engine.EventStepAssigned, OrderID: r.OrderID, PlanID: r.PlanID, StepID: r.ID, From: from, To: who,
		At: s.now, Actor: actor, Note: note, Step: r.Snapshot()})
}

// autoAssign runs the queue's strategy for a task that became ready with
// nobody assigned, under the queue's lock: ROUND_ROBIN takes the next
// available member by the queue's counter, LEAST_LOADED the available
// member with the fewest open tasks in the queue (the first of the
// members' order among equals), CONTEXT asks the queue's expression for a
// member or another queue. Without a strategy, or when no member can take
// it, the task waits in its queue for someone to claim it.
func (s *txState) autoAssign(r *engine.StepRecord, exclude string) error {
	for hops := 0; hops < 4; hops++ {
		cat, err := s.e.catalogInTx(s.ctx, s.tx, r.CatalogID)
		if err != nil {
			return err
		}
		if def := cat.Queue(r.Queue); def == nil || def.Strategy == catalog.StrategyNone {
			return nil // nothing assigns here: no lock taken
		}
		q, err := s.queueOf(r, true)
		if err != nil {
			return err
		}
		var candidates []string
		for _, m := range q.available() {
			if m != exclude {
				candidates = append(candidates, m)
			}
		}
		switch q.strategy() {
		case catalog.StrategyRoundRobin:
			if len(candidates) == 0 {
				return nil
			}
			who := candidates[q.state.Cursor%len(candidates)]
			q.state.Cursor++
			if err := s.tx.SaveQueue(s.ctx, q.state); err != nil {
				return err
			}
			s.setAssignee(r, who, assigner, "ROUND_ROBIN in queue "+q.name)
			return nil
		case catalog.StrategyLeastLoaded:
			if len(candidates) == 0 {
				return nil
			}
			loads, err := s.tx.QueueLoads(s.ctx, q.name)
			if err != nil {
				return err
			}
			// What this transaction assigned is saved when it settles.
			for who, n := range s.assigned[q.name] {
				loads[who] += n
			}
			who := candidates[0]
			for _, m := range candidates[1:] {
				if loads[m] < loads[who] {
					who = m
				}
			}
			s.setAssignee(r, who, assigner, fmt.Sprintf("LEAST_LOADED in queue %s (%d open)", q.name, loads[who]))
			return nil
		case catalog.StrategyContext:
			ec, err := s.execContext(r)
			if err != nil {
				return err
			}
			v, err := q.def.Assign.Eval(s.e.stepEnvFor(r, ec))
			if err != nil {
				s.e.log.Warn("CONTEXT assignment failed; the task waits in its queue", "step", r.ID, "queue", q.name, "error", err)
				return nil
			}
			pick, _ := v.(string)
			switch {
			case pick == "":
				return nil
			case strings.HasPrefix(pick, catalog.QueuePrefix):
				to := strings.TrimPrefix(pick, catalog.QueuePrefix)
				if to == r.Queue {
					return nil
				}
				s.route(r, to, "CONTEXT in queue "+q.name)
				continue // the new queue's strategy decides
			case pick == exclude:
				return nil
			}
			if err := q.accepts(pick); err != nil {
				s.e.log.Warn("CONTEXT assignment picked someone who cannot take the task; it waits in its queue", "step", r.ID, "queue", q.name, "error", err)
				return nil
			}
			s.setAssignee(r, pick, assigner, "CONTEXT in queue "+q.name)
			return nil
		default:
			return nil
		}
	}
	s.e.log.Warn("CONTEXT assignment routed the task through four queues; it waits in the last", "step", r.ID, "queue", r.Queue)
	return nil
}

// route moves a task to another queue, unassigned.
func (s *txState) route(r *engine.StepRecord, to, why string) {
	from := r.Queue
	r.Queue, r.Assignee = to, ""
	r.UpdatedAt = s.now
	s.dirty[r.ID] = r
	s.tx.Emit(&engine.Event{Kind: engine.EventStepAssigned, OrderID: r.OrderID, PlanID: r.PlanID, StepID: r.ID,
		At: s.now, Actor: assigner, Note: "routed from queue " + from + " to " + to + " by " + why, Step: r.Snapshot()})
}

// escalate runs a task's escalation chain at a jeopardy level it just
// reached. It runs in the transaction that records the level, which
// happens once per level, so escalation is once per level too, whatever
// restarts and replicas do.
func (s *txState) escalate(r *engine.StepRecord, at engine.Jeopardy) error {
	if r.Type != engine.ManualTask || r.Status.Terminal() {
		return nil
	}
	def, err := s.def(r)
	if err != nil {
		return err
	}
	cat, err := s.e.catalogInTx(s.ctx, s.tx, r.CatalogID)
	if err != nil {
		return err
	}
	for _, esc := range cat.TaskEscalation(def, r.Queue, at) {
		ev := &engine.Event{Kind: engine.EventTaskEscalated, OrderID: r.OrderID, PlanID: r.PlanID, StepID: r.ID, From: string(at),
			At: s.now, Actor: assigner, Note: esc.Action}
		switch esc.Action {
		case catalog.EscalateRemind:
			ev.To = r.Assignee
			if ev.To == "" {
				ev.To = catalog.QueuePrefix + r.Queue
			}
		case catalog.EscalateNotify:
			ev.To = catalog.QueuePrefix + esc.To
		case catalog.EscalateReassign:
			ev.To = esc.To
			if to, ok := strings.CutPrefix(esc.To, catalog.QueuePrefix); ok {
				if to != r.Queue {
					s.route(r, to, "escalation at "+string(at))
					if err := s.autoAssign(r, ""); err != nil {
						return err
					}
				}
			} else if esc.To != r.Assignee {
				q, err := s.queueOf(r, false)
				if err != nil {
					return err
				}
				if err := q.accepts(esc.To); err != nil {
					s.e.log.Warn("escalation cannot reassign the task", "step", r.ID, "error", err)
					ev.Note += ": " + err.Error()
				} else {
					s.setAssignee(r, esc.To, assigner, "escalation at "+string(at))
				}
			}
		}
		ev.Step = r.Snapshot()
		s.tx.Emit(ev)
	}
	return nil
}

// onTask is the transaction of a person's action on an open task of a
// queue it works: the permission, the input (c, with the actor), then,
// with the task locked, its state and the caller's queue. Errors:
// FORBIDDEN, BAD_USER_INPUT, NOT_FOUND, INVALID_STATE.
func (e *Engine) onTask(ctx context.Context, stepID int, doing string, c *inputCheck,
	fn func(st *txState, r *engine.StepRecord, q queueInfo, actor string) error) error {
	if err := e.allowStep(ctx, access.TaskWork, stepID); err != nil {
		return err
	}
	if err := c.actor(ctx).err(); err != nil {
		return err
	}
	return e.onStep(ctx, stepID, func(st *txState, r *engine.StepRecord, actor string) error {
		if err := openTask(r, doing); err != nil {
			return err
		}
		q, err := st.requireWork(r)
		if err != nil {
			return err
		}
		return fn(st, r, q, actor)
	})
}

// ClaimTask takes an open task of a queue the caller works. Claiming
// one's own task again changes nothing. Errors: NOT_FOUND; FORBIDDEN
// (not the caller's queue); INVALID_STATE (not an open manual task);
// CONFLICT naming who holds it.
func (e *Engine) ClaimTask(ctx context.Context, stepID int) error {
	return e.onTask(ctx, stepID, "claimed", newInputCheck(e.limits), func(st *txState, r *engine.StepRecord, _ queueInfo, actor string) error {
		switch r.Assignee {
		case actor:
			return nil
		case "":
			st.setAssignee(r, actor, actor, "claimed")
			return nil
		}
		return engine.Errorf(engine.CodeConflict, "step %d (%s) is held by %s", r.ID, r.Name, r.Assignee)
	})
}

// ReleaseTask gives a task back to its queue, unassigned (no strategy
// runs again): its holder may, and a manager. Errors: as ClaimTask;
// CONFLICT when someone else holds it; INVALID_STATE when nobody does.
func (e *Engine) ReleaseTask(ctx context.Context, stepID int, note string) error {
	return e.onTask(ctx, stepID, "released", newInputCheck(e.limits).text("note", note), func(st *txState, r *engine.StepRecord, _ queueInfo, actor string) error {
		switch {
		case r.Assignee == "":
			return engine.Errorf(engine.CodeInvalidState, "step %d (%s) is held by nobody", r.ID, r.Name)
		case r.Assignee != actor && !access.From(ctx).Can(access.TaskManage):
			return engine.Errorf(engine.CodeConflict, "step %d (%s) is held by %s; only they or a manager can release it", r.ID, r.Name, r.Assignee)
		}
		st.setAssignee(r, "", actor, strings.TrimSpace("released "+note))
		return nil
	})
}

// DelegateTask hands a task the caller holds (or an unclaimed one of its
// queue) to another member of the queue. Errors: as ClaimTask;
// BAD_USER_INPUT for oneself, a non-member or an unavailable member.
func (e *Engine) DelegateTask(ctx context.Context, stepID int, to, note string) error {
	to = strings.TrimSpace(to)
	c := newInputCheck(e.limits).name("to", to).text("note", note)
	switch to {
	case "":
		c.add("to", "name whom the task is delegated to")
	case ActorFrom(ctx):
		c.add("to", "a task is delegated to someone else, not to oneself")
	}
	return e.onTask(ctx, stepID, "delegated", c, func(st *txState, r *engine.StepRecord, q queueInfo, actor string) error {
		if r.Assignee != "" && r.Assignee != actor {
			return engine.Errorf(engine.CodeConflict, "step %d (%s) is held by %s; only its holder delegates it", r.ID, r.Name, r.Assignee)
		}
		if err := q.accepts(to); err != nil {
			return err
		}
		st.setAssignee(r, to, actor, strings.TrimSpace("delegated by "+actor+" "+note))
		return nil
	})
}

// SetQueueMembers replaces a queue's members (nil: back to the
// catalog's). Members of a queue are principals by name. Errors:
// FORBIDDEN without task:manage; BAD_USER_INPUT for a bad or repeated
// name.
func (e *Engine) SetQueueMembers(ctx context.Context, queue string, members []string) error {
	if err := access.Require(ctx, access.TaskManage); err != nil {
		return err
	}
	c := newInputCheck(e.limits).actor(ctx).name("queue", queue)
	if strings.TrimSpace(queue) == "" {
		c.add("queue", "a queue needs a name")
	}
	seen := map[string]bool{}
	for i, m := range members {
		path := fmt.Sprintf("members[%d]", i)
		c.name(path, m)
		switch {
		case strings.TrimSpace(m) == "":
			c.add(path, "a member needs a name")
		case seen[m]:
			c.add(path, "%s is named twice", m)
		}
		seen[m] = true
	}
	if err := c.err(); err != nil {
		return err
	}
	actor := ActorFrom(ctx)
	return e.write(ctx, func(st *txState) error {
		q, err := st.tx.LockQueue(st.ctx, queue)
		if err != nil {
			return err
		}
		q.Members, q.MembersSet, q.UpdatedBy = members, members != nil, actor
		return st.tx.SaveQueue(st.ctx, q)
	})
}

// SetMemberAvailability marks a member of a queue available or not (out
// of office): a manager may, and the member itself. The open tasks of a
// member made unavailable are assigned again by the queue's strategy (to
// someone else), or go back to the queue unassigned. Errors: FORBIDDEN;
// BAD_USER_INPUT for a bad name.
func (e *Engine) SetMemberAvailability(ctx context.Context, queue, member string, available bool) error {
	p := access.From(ctx)
	if member != p.Name || !p.Can(access.TaskWork) {
		if err := access.Require(ctx, access.TaskManage); err != nil {
			return err
		}
	}
	c := newInputCheck(e.limits).actor(ctx).name("queue", queue).name("member", member)
	if strings.TrimSpace(queue) == "" || strings.TrimSpace(member) == "" {
		c.add("member", "name the queue and the member")
	}
	if err := c.err(); err != nil {
		return err
	}
	actor := ActorFrom(ctx)
	return e.write(ctx, func(st *txState) error {
		q, err := st.tx.LockQueue(st.ctx, queue)
		if err != nil {
			return err
		}
		i := slices.Index(q.Unavailable, member)
		switch {
		case available && i >= 0:
			q.Unavailable = slices.Delete(q.Unavailable, i, i+1)
		case !available && i < 0:
			q.Unavailable = append(q.Unavailable, member)
		default:
			return nil
		}
		q.UpdatedBy = actor
		if err := st.tx.SaveQueue(st.ctx, q); err != nil {
			return err
		}
		if available {
			return nil
		}
		tasks, err := st.tx.LockAssignedTasks(st.ctx, queue, member)
		if err != nil {
			return err
		}
		for _, r := range tasks {
			st.setAssignee(r, "", actor, member+" is unavailable")
			if err := st.autoAssign(r, member); err != nil {
				return err
			}
		}
		return nil
	})
}

// Queue is a work queue as the API shows it.
type Queue struct {
	Name string
	// Declared: the catalog or the API names it (only its members work
	// it); otherwise any principal with task:work does.
	Declared bool
	Roles    []string
	Strategy string
	Calendar string
	Members  []QueueMember
	engine.TaskCounts
}

// QueueMember is a member and its open tasks in the queue.
type QueueMember struct {
	Name      string
	Available bool
	Load      int
}

// Queues lists the queues of the current catalog, those the API gave
// members and those with open tasks, by name, with their open, unassigned, at-risk
// and late counts and each member's load. A fulfillment agent sees the
// queues it works. Errors: FORBIDDEN without task:work or task:manage.
func (e *Engine) Queues(ctx context.Context) ([]*Queue, error) {
	p := access.From(ctx)
	if !p.Can(access.TaskWork) && !p.Can(access.TaskManage) {
		return nil, access.Require(ctx, access.TaskWork)
	}
	cat, err := e.CurrentCatalog(ctx)
	if err != nil && !engine.IsCode(err, engine.CodeNotFound) {
		return nil, err
	}
	states, err := e.store.Queues(ctx)
	if err != nil {
		return nil, err
	}
	counts, err := e.store.TaskCounts(ctx)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for n := range states {
		names[n] = true
	}
	for n := range counts {
		names[n] = true
	}
	if cat != nil {
		for n := range cat.Queues {
			names[n] = true
		}
	}
	var out []*Queue
	for _, name := range slices.Sorted(maps.Keys(names)) {
		q := queueInfo{name: name, state: states[name]}
		if cat != nil {
			q.def = cat.Queue(name)
		}
		if !mayWork(p, q) || (!q.declared() && q.def == nil && counts[name] == nil) {
			continue // not this principal's, or an undeclared queue with nothing open
		}
		v := &Queue{Name: name, Declared: q.declared(), Strategy: q.strategy()}
		if c := counts[name]; c != nil {
			v.TaskCounts = *c
		}
		if q.def != nil {
			v.Roles = q.def.Roles
			if q.def.Calendar != nil {
				v.Calendar = q.def.Calendar.String()
			}
		}
		for _, m := range q.members() {
			v.Members = append(v.Members, QueueMember{Name: m, Available: !q.unavailable(m), Load: v.Load[m]})
		}
		out = append(out, v)
	}
	return out, nil
}

// taskQueues is the store's read scope of fulfillment agents: the queues
// p works among the declared ones, and the declared ones (by the current
// catalog and the API).
func (e *Engine) taskQueues(ctx context.Context, p *access.Principal) (member, declared []string, err error) {
	cat, err := e.CurrentCatalog(ctx)
	if err != nil && !engine.IsCode(err, engine.CodeNotFound) {
		return nil, nil, err
	}
	states, err := e.store.Queues(ctx)
	if err != nil {
		return nil, nil, err
	}
	names := map[string]bool{}
	for n, st := range states {
		if st.MembersSet {
			names[n] = true
		}
	}
	if cat != nil {
		for n := range cat.Queues {
			names[n] = true
		}
	}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		declared = append(declared, n)
		q := queueInfo{name: n, state: states[n]}
		if cat != nil {
			q.def = cat.Queue(n)
		}
		if mayWork(p, q) {
			member = append(member, n)
		}
	}
	return member, declared, nil
}

// TaskRef names a manual task for TaskForms: its id, definition name,
// catalog version and attempt.
type TaskRef struct {
	ID, CatalogID, Attempts int
	Name                    string
}

// TaskForm is what a person sees of a manual task: its instructions,
// rendered over the order as it is now, and the fields of its form.
type TaskForm struct {
	Instructions string
	Fields       []*catalog.FieldDef
}

// TaskForms renders the forms of manual tasks (others are left out).
// Instructions that fail to render say so in their text rather than
// failing the read. Errors: FORBIDDEN without order:read.
func (e *Engine) TaskForms(ctx context.Context, tasks []TaskRef) (map[int]*TaskForm, error) {
	if err := access.Require(ctx, access.OrderRead); err != nil {
		return nil, err
	}
	out := map[int]*TaskForm{}
	var need []int
	defs := map[int]*catalog.StepDef{}
	for _, t := range tasks {
		cat, err := e.CatalogByID(ctx, t.CatalogID)
		if err != nil {
			return nil, err
		}
		def := cat.Step(t.Name)
		if def == nil || def.Task == nil {
			continue
		}
		defs[t.ID] = def
		out[t.ID] = &TaskForm{Fields: def.Task.Fields}
		if def.Task.Instructions != nil {
			need = append(need, t.ID)
		}
	}
	if len(need) == 0 {
		return out, nil
	}
	ecs, err := e.store.StepContexts(ctx, need)
	if err != nil {
		return nil, err
	}
	for _, t := range tasks {
		ec := ecs[t.ID]
		if ec == nil {
			continue
		}
		r := &engine.StepRecord{ID: t.ID, Name: t.Name, Attempts: t.Attempts}
		text, err := defs[t.ID].Task.Instructions.Render(e.stepEnvFor(r, ec))
		if err != nil {
			text = "(the instructions could not be rendered: " + err.Error() + ")"
		}
		out[t.ID].Instructions = text
	}
	return out, nil
}

// TaskFilter selects the events of a principal's inbox: its tasks
// (assigned to it, or taken from it) and the unassigned tasks of queues
// it works.
type TaskFilter struct {
	Who string
	// All: the principal works every queue (a manager).
	All bool
	// Member are the declared queues it works; Declared all declared
	// queues (an undeclared queue is everyone's with task:work).
	Member, Declared []string
}

func (f *TaskFilter) match(e *engine.Event) bool {
	if e.Step == nil || e.Step.Type != engine.ManualTask {
		return false
	}
	if e.Step.Assignee == f.Who || (e.Kind == engine.EventStepAssigned && e.From == f.Who) {
		return true
	}
	if e.Step.Assignee != "" {
		return false
	}
	return f.All || slices.Contains(f.Member, e.Step.Queue) || !slices.Contains(f.Declared, e.Step.Queue)
}

// InboxFilter is the filter of the caller's inbox feed (myTasksChanged),
// as of now. Errors: FORBIDDEN without task:work.
func (e *Engine) InboxFilter(ctx context.Context) (EventFilter, error) {
	p := access.From(ctx)
	if !p.Can(access.TaskWork) && !p.Can(access.TaskManage) {
		return EventFilter{}, access.Require(ctx, access.TaskWork)
	}
	tf := &TaskFilter{Who: ActorFrom(ctx), All: p.Can(access.TaskManage)}
	if !tf.All {
		var err error
		if tf.Member, tf.Declared, err = e.taskQueues(ctx, p); err != nil {
			return EventFilter{}, err
		}
	}
	return EventFilter{Tasks: tf, Kinds: []engine.EventKind{engine.EventStepStatus, engine.EventStepAssigned, engine.EventJeopardy, engine.EventTaskEscalated}}, nil
}
