package catalog

import (
	"slices"
	"testing"

	"github.com/batonhq/baton/engine"
)

// The steps only revisions create: a step's compensation (compensate:) and
// a SALES scenario's onAmend / onCancel steps. Cases build on catalogBase
// (see the paths listed above it in catalog_test.go).

// Edits that add revision steps to catalogBase.
var (
	// unship gives Ship (ITEM, T-SHIP) a compensation callout.
	unship = replace(
		"{name: Ship, type: CALLOUT, scope: ITEM, product: T-SHIP, callout: {system: erp, path: /ship}}",
		"{name: Ship, type: CALLOUT, scope: ITEM, product: T-SHIP, callout: {system: erp, path: /ship}, compensate: {name: Unship, type: CALLOUT, callout: {system: erp, path: /unship}}}")
)

// compensateShip gives Ship the compensation written as doc.
func compensateShip(doc string) catalogEdit {
	return replace(
		"{name: Ship, type: CALLOUT, scope: ITEM, product: T-SHIP, callout: {system: erp, path: /ship}}",
		"{name: Ship, type: CALLOUT, scope: ITEM, product: T-SHIP, callout: {system: erp, path: /ship}, compensate: "+doc+"}")
}

// compensateStart gives Start (PLAN) the compensation written as doc.
func compensateStart(doc string) catalogEdit {
	return replace("{name: Start, type: AUTO_TASK, auto: {action: noop}}",
		"{name: Start, type: AUTO_TASK, auto: {action: noop}, compensate: "+doc+"}")
}

// mainRevisionSteps adds YAML (keys onAmend / onCancel, indented by 4) to
// the main scenario, after its dependencies.
func mainRevisionSteps(yaml string) catalogEdit {
	return replace("      # +dependencies\n", "      # +dependencies\n"+yaml)
}

// genericRevisionSteps adds YAML to the GENERIC dunning scenario.
func genericRevisionSteps(yaml string) catalogEdit {
	return replace("      # +generic-dependencies\n", "      # +generic-dependencies\n"+yaml)
}

const (
	onAmend0  = "scenarios[0].onAmend[0]"
	onCancel0 = "scenarios[0].onCancel[0]"
)

func TestCatalogRevisionStepsCompile(t *testing.T) {
	type want struct {
		step, role, compensates, scenario, group string
		scope                                    engine.Scope
		product                                  string
		typ                                      engine.StepType
	}
	cases := []struct {
		name  string
		edits []catalogEdit
		// compensations: step -> its compensation's name.
		compensations map[string]string
		onAmend       []string
		onCancel      []string
		want          []want
	}{
		{"a callout compensates an ITEM callout, at its scope and product", edits(unship),
			map[string]string{"Ship": "Unship"}, nil, nil,
			[]want{{"Unship", RoleCompensation, "Ship", "main", "Core", engine.ScopeItem, "T-SHIP", engine.Callout}}},
		{"the compensation may repeat the scope, in any case", edits(compensateShip("{name: Unship, type: AUTO_TASK, scope: item, auto: {action: noop}}")),
			map[string]string{"Ship": "Unship"}, nil, nil,
			[]want{{"Unship", RoleCompensation, "Ship", "main", "Core", engine.ScopeItem, "T-SHIP", engine.AutoTask}}},
		{"a manual task compensates a PLAN step", edits(compensateStart("{name: Unstart, type: MANUAL_TASK, task: {queue: undo}}")),
			map[string]string{"Start": "Unstart"}, nil, nil,
			[]want{{"Unstart", RoleCompensation, "Start", "main", "Core", engine.ScopePlan, "", engine.ManualTask}}},
		{"two steps with their compensations", edits(unship, compensateStart("{name: Unstart, type: MILESTONE}")),
			map[string]string{"Ship": "Unship", "Start": "Unstart"}, nil, nil,
			[]want{{"Unstart", RoleCompensation, "Start", "main", "Core", engine.ScopePlan, "", engine.Milestone}}},
		{"onAmend and onCancel steps are PLAN steps of their own groups", edits(mainRevisionSteps(
			"    onAmend:\n      - {name: Notify, type: AUTO_TASK, auto: {action: noop}}\n" +
				"    onCancel:\n      - {name: Credit, type: MANUAL_TASK, task: {queue: billing}}\n      - {name: Bye, type: CALLOUT, scope: plan, callout: {system: erp, path: /bye}}\n")),
			nil, []string{"Notify"}, []string{"Credit", "Bye"},
			[]want{
				{"Notify", RoleOnAmend, "", "main", "On amend", engine.ScopePlan, "", engine.AutoTask},
				{"Credit", RoleOnCancel, "", "main", "On cancel", engine.ScopePlan, "", engine.ManualTask},
				{"Bye", RoleOnCancel, "", "main", "On cancel", engine.ScopePlan, "", engine.Callout},
			}},
		{"compensations and revision groups together", edits(unship, mainRevisionSteps("    onCancel: [{name: Credit, type: MILESTONE}]\n")),
			map[string]string{"Ship": "Unship"}, nil, []string{"Credit"},
			[]want{{"Credit", RoleOnCancel, "", "main", "On cancel", engine.ScopePlan, "", engine.Milestone}}},
		{"empty onAmend and onCancel", edits(mainRevisionSteps("    onAmend: []\n    onCancel: []\n")), nil, nil, nil, nil},
		{"empty onAmend on a GENERIC scenario", edits(genericRevisionSteps("    onAmend: []\n")), nil, nil, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := buildCatalog(t, tc.edits...)
			cat := mustCompile(t, doc, CatalogOptions{})
			plain := map[*StepDef]bool{}
			for _, def := range cat.StepDefs() {
				plain[def] = true
			}
			if got := len(cat.StepDefs()); got != 8 {
				t.Errorf("%d plan steps; want the 8 of catalogBase (revision steps are not the plan's)", got)
			}
			for name, def := range cat.Steps {
				if plain[def] == (def.Role != "") {
					t.Errorf("step %s: role %q, listed among the plan's steps: %v", name, def.Role, plain[def])
				}
			}
			for _, sc := range cat.Scenarios {
				for _, g := range sc.Groups {
					for _, def := range g.Steps {
						if def.Role != "" {
							t.Errorf("group %s of %s holds revision step %s", g.Name, sc.Name, def.Name)
						}
					}
				}
			}
			for step, comp := range tc.compensations {
				def := cat.Step(step)
				if def == nil || def.Compensation == nil || def.Compensation.Name != comp || cat.Step(comp) != def.Compensation {
					t.Errorf("step %s: compensation %+v; want %s, known by name", step, def.Compensation, comp)
				}
			}
			for name, def := range cat.Steps {
				if def.Compensation != nil && tc.compensations[name] == "" {
					t.Errorf("step %s has compensation %s; want none", name, def.Compensation.Name)
				}
			}
			main := cat.Scenario("main")
			if got := stepNames(main.OnAmend); !slices.Equal(got, tc.onAmend) {
				t.Errorf("onAmend %v; want %v", got, tc.onAmend)
			}
			if got := stepNames(main.OnCancel); !slices.Equal(got, tc.onCancel) {
				t.Errorf("onCancel %v; want %v", got, tc.onCancel)
			}
			for _, w := range tc.want {
				def := cat.Step(w.step)
				if def == nil {
					t.Fatalf("no step %s", w.step)
				}
				compensates := ""
				if def.Compensates != nil {
					compensates = def.Compensates.Name
				}
				got := want{def.Name, def.Role, compensates, def.Scenario.Name, def.Group.Name, def.Scope, def.Product, def.Type}
				if got != w {
					t.Errorf("step %s:\n got %+v\nwant %+v", w.step, got, w)
				}
				if def.PointOfNoReturn {
					t.Errorf("step %s has a point of no return", w.step)
				}
				if w.role == RoleCompensation && def.Group != cat.Step(w.compensates).Group {
					t.Errorf("compensation %s is not of the group of %s", w.step, w.compensates)
				}
			}
		})
	}
}

func stepNames(defs []*StepDef) []string {
	var out []string
	for _, d := range defs {
		out = append(out, d.Name)
	}
	return out
}

func TestCatalogRevisionStepRefusals(t *testing.T) {
	comp := shipStep + ".compensate"
	runCatalogCases(t, []catalogCase{
		// A compensation runs at the scope of the step it undoes.
		{"compensation at PLAN scope of an ITEM step", edits(compensateShip("{name: Unship, type: MILESTONE, scope: PLAN}")),
			at(comp+".scope", "a compensation runs at the scope of the step it undoes (ITEM), not PLAN"), 0},
		{"compensation at BUNDLE scope of an ITEM step", edits(compensateShip("{name: Unship, type: MILESTONE, scope: BUNDLE}")),
			at(comp+".scope", "(ITEM), not BUNDLE"), 0},
		{"compensation at ITEM scope of a PLAN step", edits(compensateStart("{name: Unstart, type: MILESTONE, scope: ITEM}")),
			at(startStep+".compensate.scope", "(PLAN), not ITEM"), 0},
		// Nothing undoes an undo.
		{"nested compensate", edits(compensateShip("{name: Unship, type: MILESTONE, compensate: {name: Reship, type: MILESTONE}}")),
			at(comp+".compensate", "compensation step has no compensation of its own"), 0},
		{"compensate in an onAmend step", edits(mainRevisionSteps("    onAmend:\n      - {name: Notify, type: MILESTONE, compensate: {name: Un, type: MILESTONE}}\n")),
			at(onAmend0+".compensate", "has no compensation of its own"), 0},
		{"compensate in an onCancel step", edits(mainRevisionSteps("    onCancel:\n      - {name: Credit, type: MILESTONE, compensate: {name: Un, type: MILESTONE}}\n")),
			at(onCancel0+".compensate", "has no compensation of its own"), 0},
		// No point of no return on what only revisions create.
		{"pointOfNoReturn on a compensation", edits(compensateShip("{name: Unship, type: MILESTONE, pointOfNoReturn: true}")),
			at(comp+".pointOfNoReturn", "a step that only revisions create has no point of no return"), 0},
		{"pointOfNoReturn on an onAmend step", edits(mainRevisionSteps("    onAmend: [{name: Notify, type: MILESTONE, pointOfNoReturn: true}]\n")),
			at(onAmend0+".pointOfNoReturn", "no point of no return"), 0},
		{"pointOfNoReturn on an onCancel step", edits(mainRevisionSteps("    onCancel: [{name: Credit, type: MILESTONE, pointOfNoReturn: true}]\n")),
			at(onCancel0+".pointOfNoReturn", "no point of no return"), 0},
		// onAmend and onCancel steps are PLAN steps of SALES scenarios.
		{"onAmend step at ITEM scope", edits(mainRevisionSteps("    onAmend: [{name: Notify, type: MILESTONE, scope: ITEM, product: T-SHIP}]\n")),
			at(onAmend0+".scope", "onAmend and onCancel steps are PLAN steps, not ITEM"), 0},
		{"onCancel step at ACCOUNT scope", edits(mainRevisionSteps("    onCancel: [{name: Credit, type: MILESTONE, scope: ACCOUNT}]\n")),
			at(onCancel0+".scope", "PLAN steps, not ACCOUNT"), 0},
		{"onCancel on a GENERIC scenario", edits(genericRevisionSteps("    onCancel: [{name: Credit, type: MILESTONE}]\n")),
			at("scenarios[1].onCancel", "onCancel belongs to SALES scenarios"), 0},
		{"onAmend on a GENERIC scenario", edits(genericRevisionSteps("    onAmend: [{name: Notify, type: MILESTONE}]\n")),
			at("scenarios[1].onAmend", "onAmend belongs to SALES scenarios"), 0},
		{"both on a GENERIC scenario", edits(genericRevisionSteps("    onAmend: [{name: Notify, type: MILESTONE}]\n    onCancel: [{name: Credit, type: MILESTONE}]\n")),
			[]catalogProblem{{"scenarios[1].onAmend", "onAmend belongs to SALES"}, {"scenarios[1].onCancel", "onCancel belongs to SALES"}}, 0},
		// Dependencies are between the plan's steps.
		{"dependency of a compensation", edits(unship, addDep("{step: Unship, after: Start}")),
			at(newDep+".step", `step "Unship" runs only when a revision creates it (COMPENSATION)`), 0},
		{"dependency after a compensation", edits(unship, addDep("{step: Done, after: Unship}")),
			at(newDep+".after", `step "Unship" runs only when a revision creates it (COMPENSATION)`), 0},
		{"dependency after a plan step and a compensation", edits(unship, addDep("{step: Done, after: [Start, Unship]}")),
			at(newDep+".after[1]", `step "Unship" runs only when a revision creates it`), 0},
		{"dependency of an onAmend step", edits(mainRevisionSteps("    onAmend: [{name: Notify, type: MILESTONE}]\n"), addDep("{step: Notify, after: Done}")),
			at(newDep+".step", `step "Notify" runs only when a revision creates it (ON_AMEND)`), 0},
		{"dependency after an onCancel step", edits(mainRevisionSteps("    onCancel: [{name: Credit, type: MILESTONE}]\n"), addDep("{step: Done, after: Credit}")),
			at(newDep+".after", `step "Credit" runs only when a revision creates it (ON_CANCEL)`), 0},
		{"GENERIC dependency after a compensation of another scenario", edits(unship, addGenericDep("{step: Wait, after: Unship}")),
			at(newGenDep+".after", `step "Unship" runs only when a revision creates it`), 0},
		// One name, one step.
		{"compensation named like an earlier plan step", edits(compensateShip("{name: Start, type: MILESTONE}")),
			at(comp+".name", `duplicate step name "Start" (also at `+startStep+")"), 0},
		{"plan step named like an earlier compensation", edits(
			replace("callout: {system: erp, path: /reserve}}", "callout: {system: erp, path: /reserve}, compensate: {name: Unreserve, type: MILESTONE}}"),
			addStep("{name: Unreserve, type: MILESTONE}")),
			at(newStep+".name", `duplicate step name "Unreserve" (also at `+reserveStep+".compensate)"), 0},
		{"two compensations of one name", edits(unship, compensateStart("{name: Unship, type: MILESTONE}")),
			at(comp+".name", `duplicate step name "Unship" (also at `+startStep+".compensate)"), 0},
		{"onAmend step named like a plan step", edits(mainRevisionSteps("    onAmend: [{name: Done, type: MILESTONE}]\n")),
			at(onAmend0+".name", `duplicate step name "Done" (also at scenarios[0].groups[0].steps[4])`), 0},
		{"onCancel step named like an onAmend step", edits(mainRevisionSteps("    onAmend: [{name: Notify, type: MILESTONE}]\n    onCancel: [{name: Notify, type: MILESTONE}]\n")),
			at(onCancel0+".name", `duplicate step name "Notify" (also at `+onAmend0+")"), 0},
		{"GENERIC step named like an onAmend step", edits(mainRevisionSteps("    onAmend: [{name: Notify, type: MILESTONE}]\n"), addGenericStep("{name: Notify, type: MILESTONE}")),
			at(newGenStep+".name", `duplicate step name "Notify" (also at `+onAmend0+")"), 0},
		{"onAmend step named like its compensation", edits(unship, mainRevisionSteps("    onAmend: [{name: Unship, type: MILESTONE}]\n")),
			at(onAmend0+".name", `duplicate step name "Unship" (also at `+comp+")"), 0},
		// A revision step is a step: its own problems are reported at its path.
		{"empty onAmend step", edits(mainRevisionSteps("    onAmend: [null]\n")),
			at(onAmend0, "empty step"), 0},
		{"compensation of an unknown type", edits(compensateShip("{name: Unship, type: NOPE}")),
			at(comp+".type", `unknown step type "NOPE"`), 0},
		{"compensation callout without its block", edits(compensateShip("{name: Unship, type: CALLOUT}")),
			at(comp+".callout", "needs a callout block"), 0},
	})
}
