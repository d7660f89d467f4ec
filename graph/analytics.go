package graph

import (
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent/step"
	"github.com/batonhq/baton/graph/model"
)

// analyticsCost is what the analytics field costs against the complexity
// limit: it reads every row that finished in its range, so a query may
// ask for it a few times (aliases), not dozens.
const analyticsCost = 1000

// analyticsModel translates the engine's numbers.
func analyticsModel(a *orchestrator.Analytics, bucket model.AnalyticsBucket, groupBy *model.AnalyticsGroupBy) *model.Analytics {
	m := &model.Analytics{From: a.From, To: a.To, Bucket: bucket, GroupBy: groupBy,
		Series: make([]*model.AnalyticsPoint, len(a.Series)), StepDefinitions: make([]*model.StepDefinitionStats, len(a.StepDefinitions)),
		Systems: make([]*model.SystemStats, len(a.Systems))}
	for i, p := range a.Series {
		mp := &model.AnalyticsPoint{Start: p.Start, OrdersCompleted: p.OrdersCompleted, CycleTimeP50: p.CycleTimeP50,
			CycleTimeP90: p.CycleTimeP90, OrdersFellOut: p.OrdersFellOut, FalloutRate: p.FalloutRate, StepsFinished: p.StepsFinished,
			StepsAutomated: p.StepsAutomated, AutomationRate: p.AutomationRate, AtRisk: p.AtRisk, Late: p.Late}
		if groupBy != nil && p.Group != "" {
			g := p.Group
			mp.Group = &g
		}
		m.Series[i] = mp
	}
	for i, d := range a.StepDefinitions {
		m.StepDefinitions[i] = &model.StepDefinitionStats{Definition: d.Definition, Type: step.Type(d.Type), Completed: d.Completed,
			DurationP50: d.DurationP50, DurationP90: d.DurationP90}
	}
	for i, s := range a.Systems {
		m.Systems[i] = &model.SystemStats{System: s.System, Requests: s.Requests, Errors: s.Errors, ErrorRate: s.ErrorRate}
	}
	return m
}
