package orchestrator

import (
	"context"
	"slices"

	"github.com/batonhq/baton/engine"
)

// count updates the metrics with a committed transaction's events: only
// what committed is counted, on the replica that committed it, from what
// the transaction holds in memory (no statement of its own).
func (e *Engine) count(events []*engine.Event, st *txState) {
	m := e.metrics
	if m == nil {
		return
	}
	for _, ev := range events {
		switch ev.Kind {
		case engine.EventStepStatus:
			if ev.Step == nil {
				continue
			}
			to := engine.StepStatus(ev.To)
			m.StepTransition(ev.Step.Type, to)
			if to == engine.StepCompleted {
				if r := st.dirty[ev.StepID]; r != nil && r.ReadyAt != nil {
					m.StepCompleted(r.Type, r.Name, st.now.Sub(*r.ReadyAt))
				}
			}
		case engine.EventOrderStatus:
			switch {
			case ev.From == "" && (ev.To == string(engine.OrderSubmitted) || ev.To == string(engine.OrderAwaitingApproval)):
				m.OrderSubmitted()
			case ev.To == string(engine.OrderCancelled):
				m.OrderCancelled()
			}
		}
	}
	for _, d := range st.cycles {
		m.OrderCompleted(d)
	}
}

// SystemNames names the current catalog's systems, sorted (none before a
// catalog is imported): the metrics report each one's circuit even before
// a callout reached it.
func (e *Engine) SystemNames(ctx context.Context) ([]string, error) {
	cat, err := e.CurrentCatalog(ctx)
	if engine.IsCode(err, engine.CodeNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(cat.Systems))
	for name := range cat.Systems {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}
