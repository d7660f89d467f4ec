package orchestrator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/plan"
	"github.com/batonhq/baton/engine/tracing"
)

// StartOrchestration starts a plan for a non-sales subject (a dunning run, a
// contract obligation) from the GENERIC scenarios whose type and condition
// match the context. It is idempotent on (type, subjectId): the same
// context again returns the same plan. Errors: BAD_USER_INPUT (empty type
// or subject, no matching scenario, a type, subject or context past the
// input limits), CONFLICT (the subject's orchestration was started with
// another context), NOT_FOUND (no catalog).
func (e *Engine) StartOrchestration(ctx context.Context, typ, subjectID string, context map[string]any) (int, error) {
	if err := access.Require(ctx, access.OrchestrationStart); err != nil {
		return 0, err
	}
	if err := newInputCheck(e.limits).name("type", typ).name("subjectId", subjectID).value("context", context).err(); err != nil {
		return 0, err
	}
	var ps []engine.Problem
	if strings.TrimSpace(typ) == "" {
		ps = append(ps, engine.Problem{Path: "type", Message: "type must not be empty"})
	}
	if strings.TrimSpace(subjectID) == "" {
		ps = append(ps, engine.Problem{Path: "subjectId", Message: "subjectId must not be empty"})
	}
	if len(ps) > 0 {
		return 0, &engine.Error{Code: engine.CodeBadUserInput, Message: "invalid orchestration", Problems: ps}
	}
	context = engine.NormalizeMap(context)
	if context == nil {
		context = map[string]any{}
	}
	b, _ := json.Marshal([]any{typ, subjectID, context})
	sum := sha256.Sum256(b)
	hash := hex.EncodeToString(sum[:])
	cat, err := e.CurrentCatalog(ctx)
	if err != nil {
		return 0, err
	}
	var planID int
	err = e.write(ctx, func(st *txState) error {
		tx := st.tx
		prev, err := tx.PlanBySubject(ctx, typ, subjectID)
		if err != nil {
			return err
		}
		if prev != nil {
			if prev.ContextHash != hash {
				return engine.Errorf(engine.CodeConflict, "an orchestration of type %q for subject %q exists with another context (plan %d)", typ, subjectID, prev.ID)
			}
			planID = prev.ID
			return nil
		}
		pg, err := plan.BuildPlan(cat, &plan.PlanInput{Usage: engine.UsageGeneric, Type: typ, SubjectID: subjectID, Context: context, Now: tx.Now()})
		if err != nil {
			return err
		}
		np := &engine.NewPlan{Usage: engine.UsageGeneric, Type: typ, SubjectID: subjectID, Context: context, ContextHash: hash,
			CatalogID: cat.ID, Graph: pg.Rows(), Items: pg.Items, TraceParent: tracing.TraceParent(ctx)}
		steps, err := tx.InsertPlan(ctx, np)
		if err != nil {
			return err
		}
		e.emitCreated(tx, 0, np, steps)
		planID = np.ID
		return st.readyNew(np.ID, steps)
	})
	if err != nil {
		return 0, err
	}
	return planID, nil
}
