package orchestrator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
	"sort"
	"strings"
	"sync"
)

// Action is a Go function an AUTO_TASK runs. Register actions with
// Engine.RegisterAction before Start and before catalogs that name them are
// imported.
type Action struct {
	Name string
	// InTransaction promises that Run has no effect outside Baton: it only
	// computes, and changes data only through its Result. The engine then
	// runs it inside the transaction that makes the step ready, with no
	// lease and no extra round trip; its Result commits with the step.
	// Actions that call other systems must leave it false: they run on a
	// worker under a lease, like callouts.
	InTransaction bool
	// Run performs the action. An error is retried under the step's retry
	// policy; return a *StepError with Retryable false to send the step to
	// fallout at once.
	Run func(ctx context.Context, in *ActionInput) (*Result, error)
}

// ActionInput is what an action gets: its evaluated params and the step's
// environment.
type ActionInput struct {
	Step   *catalog.StepView
	Params map[string]any
	Env    *catalog.StepEnv
}

type actionRegistry struct {
	mu sync.RWMutex
	m  map[string]*Action
}

func newActionRegistry() *actionRegistry {
	r := &actionRegistry{m: map[string]*Action{}}
	for _, a := range builtinActions() {
		r.m[a.Name] = a
	}
	return r
}

func (r *actionRegistry) get(name string) *Action {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.m[name]
}

func (r *actionRegistry) names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.m))
	for n := range r.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// RegisterAction adds an action. Errors: BAD_USER_INPUT for an empty name,
// a missing Run or a name taken.
func (e *Engine) RegisterAction(a Action) error {
	if a.Name == "" || a.Run == nil {
		return engine.Errorf(engine.CodeBadUserInput, "an action needs a name and a Run function")
	}
	e.actions.mu.Lock()
	defer e.actions.mu.Unlock()
	if _, dup := e.actions.m[a.Name]; dup {
		return engine.Errorf(engine.CodeBadUserInput, "action %q is registered already", a.Name)
	}
	e.actions.m[a.Name] = &a
	return nil
}

// ActionNames lists the registered actions.
func (e *Engine) ActionNames() []string { return e.actions.names() }

func builtinActions() []*Action {
	return []*Action{
		{
			// noop does nothing: a placeholder step.
			Name: "noop", InTransaction: true,
			Run: func(context.Context, *ActionInput) (*Result, error) { return &Result{}, nil },
		},
		{
			// set writes its params as attributes: `order.x` on the order,
			// `item.x` on the step's fulfillment line, plain `x` on the
			// fulfillment line when the step has one, else on the order.
			Name: "set", InTransaction: true,
			Run: func(_ context.Context, in *ActionInput) (*Result, error) {
				res := &Result{Output: map[string]any{}}
				hasItem := in.Env.Item != nil && in.Env.Item.ID != 0
				for k, v := range in.Params {
					target, name := splitTarget(k, hasItem)
					res.assign(target, name, v)
				}
				return res, nil
			},
		},
		{
			// hash records a SHA-256 of the order and step: a trivial,
			// deterministic unit of in-process work (the benchmark's auto
			// task).
			Name: "hash", InTransaction: true,
			Run: func(_ context.Context, in *ActionInput) (*Result, error) {
				sum := sha256.Sum256([]byte(in.Env.Order.ExternalID + "/" + in.Step.Name))
				return &Result{Output: map[string]any{"hash": hex.EncodeToString(sum[:8])}}, nil
			},
		},
	}
}

// splitTarget reads an attribute key: order.x, item.x, or x (the item when
// there is one, else the order).
func splitTarget(key string, hasItem bool) (target, name string) {
	if n, ok := strings.CutPrefix(key, "order."); ok {
		return "order", n
	}
	if n, ok := strings.CutPrefix(key, "item."); ok && hasItem {
		return "item", n
	}
	if hasItem {
		return "item", key
	}
	return "order", key
}

// assign records an attribute a step sets: in its output, and on its
// fulfillment line (target "item") or its order.
func (r *Result) assign(target, name string, v any) {
	if r.Output == nil {
		r.Output = map[string]any{}
	}
	r.Output[name] = v
	set := &r.SetOrder
	if target == "item" {
		set = &r.SetItem
	}
	if *set == nil {
		*set = map[string]any{}
	}
	(*set)[name] = v
}

// mapResponse evaluates a callout's `set` mappings against an answer into
// res. A mapping's explicit target wins; without one (or "item" on a step
// with no fulfillment line) the name decides, as for the set action. An
// error names the mapping: it failed, or made a value that cannot be
// stored.
func (e *Engine) mapResponse(def *catalog.CalloutDef, renv *catalog.ResponseEnv, hasItem bool, res *Result) error {
	return e.mapSet(def.Set, renv, hasItem, res)
}

// mapSet evaluates `set` mappings over env into res (a callout's response,
// a task's output).
func (e *Engine) mapSet(set []catalog.Assignment, env any, hasItem bool, res *Result) error {
	for _, a := range set {
		v, err := a.Expr.Eval(env)
		if err != nil {
			return fmt.Errorf("set %s: %v", a.Name, err)
		}
		if msg := e.unstorable("set "+a.Name, v); msg != "" {
			return fmt.Errorf("the value cannot be stored: %s", msg)
		}
		target := a.Target
		if target == "" || (target == "item" && !hasItem) {
			target, _ = splitTarget(a.Name, hasItem)
		}
		res.assign(target, a.Name, v)
	}
	return nil
}

// stepEnvFor builds a step's expression environment from its context.
func (e *Engine) stepEnvFor(r *engine.StepRecord, ec *engine.ExecContext) *catalog.StepEnv {
	return &catalog.StepEnv{
		Helpers:   catalog.OrderHelpers(ec.Order, nil, e.clock.Now()),
		Order:     ec.Order,
		Account:   ec.Account,
		Item:      ec.Item,
		Bundle:    ec.Bundle,
		Context:   ec.Context,
		Type:      ec.Type,
		SubjectID: ec.SubjectID,
		Step:      &catalog.StepView{ID: r.ID, Name: r.Name, Attempt: r.Attempts},
	}
}

// runAction evaluates an auto task's params and runs its action. A param
// that fails to evaluate is a catalog/data problem retrying won't fix.
func (e *Engine) runAction(ctx context.Context, a *Action, r *engine.StepRecord, def *catalog.StepDef, ec *engine.ExecContext) (res *Result, err error) {
	env := e.stepEnvFor(r, ec)
	params := map[string]any{}
	for _, p := range def.Auto.Params {
		v, err := p.Expr.Eval(env)
		if err != nil {
			return nil, &StepError{Message: fmt.Sprintf("param %s: %v", p.Name, err)}
		}
		params[p.Name] = v
	}
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, &StepError{Message: fmt.Sprintf("action %s panicked: %v", a.Name, p)}
		}
	}()
	res, err = a.Run(ctx, &ActionInput{Step: env.Step, Params: params, Env: env})
	if err == nil && res == nil {
		res = &Result{}
	}
	return res, err
}
