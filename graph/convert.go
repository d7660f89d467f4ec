package graph

import (
	"context"
	"encoding/json"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/engine/plan"
	"github.com/batonhq/baton/ent/fulfillmentline"
	"github.com/batonhq/baton/ent/orderline"
	"github.com/batonhq/baton/ent/step"
	"github.com/batonhq/baton/graph/model"
)

// orderInput translates the GraphQL input to the engine's.
func orderInput(in model.SubmitOrderInput) engine.OrderInput {
	out := engine.OrderInput{
		ExternalID: in.ExternalID, AccountID: in.AccountID, Attributes: in.Attributes,
		RequestedCompletion: in.RequestedCompletion,
	}
	out.Lines = lineInputs(in.Lines)
	return out
}

// lineInputs converts order lines as the API takes them.
func lineInputs(lines []*model.OrderLineInput) []engine.LineInput {
	out := []engine.LineInput{}
	for _, l := range lines {
		li := engine.LineInput{ID: l.ID, ProductCode: l.ProductCode, Quantity: 1, Attributes: l.Attributes}
		if l.Quantity != nil {
			li.Quantity = *l.Quantity
		}
		if l.ParentID != nil {
			li.ParentID = *l.ParentID
		}
		if l.Action != nil {
			li.Action = engine.LineAction(*l.Action)
		}
		if l.AssetID != nil {
			li.AssetID = *l.AssetID
		}
		out = append(out, li)
	}
	return out
}

func amendInput(in model.AmendOrderInput) engine.AmendInput {
	return engine.AmendInput{Lines: lineInputs(in.Lines), Attributes: in.Attributes, Reason: deref(in.Reason)}
}

// revisionDiff converts a revision's diff.
func revisionDiff(d *engine.Diff) *model.RevisionDiff {
	if d == nil {
		d = &engine.Diff{}
	}
	steps := func(list []engine.DiffStep) []*model.DiffStep {
		out := make([]*model.DiffStep, len(list))
		for i, s := range list {
			ds := &model.DiffStep{Name: s.Name, InstanceKey: s.InstanceKey, Status: step.Status(s.Status), Compensation: strPtr(s.Compensation)}
			if s.ID != 0 {
				id := s.ID
				ds.ID = &id
			}
			out[i] = ds
		}
		return out
	}
	out := &model.RevisionDiff{Kept: steps(d.Kept), Cancelled: steps(d.Cancelled), Added: steps(d.Added), Compensated: steps(d.Compensated),
		Retained: steps(d.Retained), Settling: steps(d.Settling), Refused: []*model.Refusal{},
		LinesAdded: orEmptyList(d.LinesAdded), LinesChanged: orEmptyList(d.LinesChanged), LinesRemoved: orEmptyList(d.LinesRemoved),
		AttributesChanged: d.AttributesChanged}
	for _, r := range d.Refused {
		out.Refused = append(out.Refused, refusalOf(r))
	}
	return out
}

func refusalOf(r engine.Refusal) *model.Refusal {
	return &model.Refusal{LineID: r.LineID, StepID: r.StepID, StepName: r.StepName, Scope: r.Scope, Message: r.Message}
}

func orEmptyList(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// storedDiff reads the diff column of a revision row.
func storedDiff(m map[string]any) (*engine.Diff, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var d engine.Diff
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// preview translates an engine preview.
func preview(p *orchestrator.Preview) *model.OrderPreview {
	out := &model.OrderPreview{Attributes: p.Decomposition.Attributes}
	for _, l := range p.Decomposition.Lines {
		out.Lines = append(out.Lines, &model.PreviewLine{
			ID: l.ID, ProductCode: l.ProductCode, Quantity: l.Quantity, ParentID: strPtr(l.ParentID),
			Attributes: l.Attributes, Status: orderline.Status(l.Status), Missing: nonNil(l.Missing), Generated: l.Generated,
		})
	}
	for _, it := range p.Decomposition.Items {
		out.FulfillmentLines = append(out.FulfillmentLines, &model.PreviewFulfillmentLine{
			Key: it.Key, ProductCode: it.ProductCode, Rule: it.Rule, Scope: fulfillmentline.Scope(it.Scope),
			Quantity: it.Quantity, Attributes: it.Attributes, SourceLineIds: nonNil(it.Sources),
			BundleKey: strPtr(it.BundleKey), Existing: it.Existing != nil,
		})
	}
	for _, g := range p.Plan.Groups {
		out.Groups = append(out.Groups, &model.PreviewGroup{Name: g.Name, Scenario: g.Scenario})
	}
	deps := map[*plan.PlannedStep][]string{}
	for _, d := range p.Plan.Deps {
		deps[d.Step] = append(deps[d.Step], d.Prereq.Key)
	}
	for _, s := range p.Plan.Steps {
		ps := &model.PreviewStep{
			Key: s.Key, Name: s.Def.Name, Group: s.Group.Name, Scenario: s.Def.Scenario.Name,
			Type: step.Type(s.Def.Type), Scope: step.Scope(s.Def.Scope), InstanceKey: s.InstanceKey,
			Status: step.Status(s.Status), DependsOn: nonNil(deps[s]), WaitingFor: nonNil(s.WaitingFor), Existing: s.Existing != nil,
		}
		if s.Item != nil {
			ps.FulfillmentLineKey = &s.Item.Key
		}
		if s.Def.Task != nil {
			ps.Queue = strPtr(s.Def.Task.Queue)
		}
		if s.Def.Callout != nil && s.Def.Callout.System != nil {
			ps.System = strPtr(s.Def.Callout.System.Name)
		}
		out.Steps = append(out.Steps, ps)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func lineAttributesInput(in []*model.LineAttributesInput) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, l := range in {
		out[l.LineID] = l.Attributes
	}
	return out
}

// planForecast is a plan's forecast with the timeline it was computed
// from (an empty one for a plan the store no longer finds).
func (r *Resolver) planForecast(ctx context.Context, planID int) (*plan.Forecast, error) {
	f, err := r.loaders(ctx).forecasts.Load(ctx, planID)
	if err != nil {
		return nil, err
	}
	if f == nil || f.Timeline == nil {
		return &plan.Forecast{PlanID: planID, Jeopardy: engine.OnTrack, Timeline: &engine.PlanTimeline{PlanID: planID}}, nil
	}
	return f, nil
}

// seconds is a forecast duration in whole seconds; nil when the step has
// no duration basis.
func seconds(b plan.Basis, d time.Duration) *int {
	if b == plan.BasisNone {
		return nil
	}
	v := int(d.Round(time.Second) / time.Second)
	return &v
}
