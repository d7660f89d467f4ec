package orchestrator

import (
	"context"
	"github.com/batonhq/baton/engine/plan"
)

// Forecasts reads the plans' timelines and forecasts each.
func (e *Engine) Forecasts(ctx context.Context, planIDs []int) (map[int]*plan.Forecast, error) {
	tls, err := e.store.PlanTimelines(ctx, planIDs)
	if err != nil {
		return nil, err
	}
	now := e.clock.Now()
	out := make(map[int]*plan.Forecast, len(tls))
	for _, tl := range tls {
		for _, s := range tl.Steps {
			cat, err := e.CatalogByID(ctx, s.CatalogID)
			if err != nil {
				return nil, err
			}
			if def := cat.Step(s.Name); def != nil {
				s.Estimate = def.EstimatedDuration
				if cal := cat.TaskCalendar(def); cal != nil {
					s.Finish = cal.Add
				}
			}
		}
		out[tl.PlanID] = plan.ForecastPlan(tl, now)
	}
	return out, nil
}
