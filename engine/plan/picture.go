package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/batonhq/baton/engine"
)

// Plan pictures: a plan drawn as a Mermaid flowchart or a Graphviz graph
// (swimlanes as subgraphs/clusters, dependencies as arrows, the critical
// path in thick arrows, prerequisites in other plans dashed), and its Gantt
// data. Pure functions of a timeline and its forecast; the output is
// deterministic (swimlanes by position, steps by id, edges by step and
// prerequisite), so golden files stay stable. Names come from catalogs and
// users: every label is escaped, and node ids are Baton's own (s<step id>,
// g<group id>, x<step id>), never a name.

// StatusColor is a step status's colours in the pictures (README "Plan
// pictures and forecasts" has the legend).
type StatusColor struct {
	Fill, Stroke, Text string
	Dashed             bool // a border drawn dashed (skipped, cancelled)
}

// StatusColors maps every step status to its colours.
var StatusColors = map[engine.StepStatus]StatusColor{
	engine.StepPending:   {Fill: "#f3f4f6", Stroke: "#9ca3af", Text: "#374151"},
	engine.StepScheduled: {Fill: "#e0e7ff", Stroke: "#6366f1", Text: "#1e1b4b"},
	engine.StepReady:     {Fill: "#dbeafe", Stroke: "#3b82f6", Text: "#1e3a8a"},
	engine.StepRunning:   {Fill: "#93c5fd", Stroke: "#1d4ed8", Text: "#1e3a8a"},
	engine.StepWaiting:   {Fill: "#fef08a", Stroke: "#ca8a04", Text: "#713f12"},
	engine.StepCompleted: {Fill: "#bbf7d0", Stroke: "#16a34a", Text: "#14532d"},
	engine.StepFailed:    {Fill: "#fed7aa", Stroke: "#ea580c", Text: "#7c2d12"},
	engine.StepFallout:   {Fill: "#fecaca", Stroke: "#dc2626", Text: "#7f1d1d"},
	engine.StepSkipped:   {Fill: "#f9fafb", Stroke: "#9ca3af", Text: "#6b7280", Dashed: true},
	engine.StepCancelled: {Fill: "#e5e7eb", Stroke: "#6b7280", Text: "#6b7280", Dashed: true},
	engine.StepOnHold:    {Fill: "#e9d5ff", Stroke: "#9333ea", Text: "#3b0764"},
}

// JeopardyStroke is the border a step at risk or late gets over its
// status's: amber 3px AT_RISK, red 4px LATE. ON_TRACK keeps the status's.
var JeopardyStroke = map[engine.Jeopardy]struct {
	Color string
	Width int
}{
	engine.AtRisk: {"#f59e0b", 3},
	engine.Late:   {"#b91c1c", 4},
}

// externalColor is a prerequisite in another plan: white, dashed grey.
var externalColor = StatusColor{Fill: "#ffffff", Stroke: "#9ca3af", Text: "#6b7280", Dashed: true}

// TimelineEntry is one step's row of a plan's Gantt chart.
type TimelineEntry struct {
	StepID   int
	Name     string
	Swimlane string
	// PlannedStart and PlannedEnd are the forecast's (p50) start (READY)
	// and end: actual times once they happened; nil for a cancelled step.
	PlannedStart, PlannedEnd *time.Time
	// ActualStart is when the step first became READY, ActualEnd when it
	// finished (nil until then).
	ActualStart, ActualEnd *time.Time
	// Critical: on the forecast's critical path.
	Critical bool
	Basis    Basis
	Samples  int
	P50, P90 time.Duration
}

// picture is a timeline laid out for drawing.
type picture struct {
	t        *engine.PlanTimeline
	lanes    []lane
	edges    []edge
	external []engine.ExternalPrereq // by id, once each
	critical map[[2]int]bool         // prerequisite → step on the critical path
}

type lane struct {
	id    int // 0: steps of no known group
	name  string
	steps []*engine.TimelineStep
}

type edge struct {
	from, to int
	external bool
}

func layout(t *engine.PlanTimeline, f *Forecast) *picture {
	p := &picture{t: t, critical: map[[2]int]bool{}}
	groups := slices.Clone(t.Groups)
	slices.SortStableFunc(groups, func(a, b engine.TimelineGroup) int {
		if a.Position != b.Position {
			return a.Position - b.Position
		}
		return a.ID - b.ID
	})
	idx := map[int]int{}
	for _, g := range groups {
		idx[g.ID] = len(p.lanes)
		p.lanes = append(p.lanes, lane{id: g.ID, name: g.Name})
	}
	steps := slices.Clone(t.Steps)
	slices.SortFunc(steps, func(a, b *engine.TimelineStep) int { return a.ID - b.ID })
	seen := map[int]bool{}
	var orphans []*engine.TimelineStep
	for _, s := range steps {
		if i, ok := idx[s.GroupID]; ok {
			p.lanes[i].steps = append(p.lanes[i].steps, s)
		} else {
			orphans = append(orphans, s)
		}
		pre := slices.Clone(s.Prereqs)
		slices.Sort(pre)
		for _, q := range slices.Compact(pre) {
			p.edges = append(p.edges, edge{from: q, to: s.ID})
		}
		ext := slices.Clone(s.External)
		slices.SortFunc(ext, func(a, b engine.ExternalPrereq) int { return a.ID - b.ID })
		for _, x := range ext {
			p.edges = append(p.edges, edge{from: x.ID, to: s.ID, external: true})
			if !seen[x.ID] {
				seen[x.ID] = true
				p.external = append(p.external, x)
			}
		}
	}
	if len(orphans) > 0 {
		p.lanes = append(p.lanes, lane{name: "(no swimlane)", steps: orphans})
	}
	slices.SortFunc(p.external, func(a, b engine.ExternalPrereq) int { return a.ID - b.ID })
	if f != nil {
		for i := 1; i < len(f.CriticalPath); i++ {
			p.critical[[2]int{f.CriticalPath[i-1], f.CriticalPath[i]}] = true
		}
	}
	return p
}

// statusClass is a status's Mermaid class name: lower camel case.
func statusClass(s engine.StepStatus) string {
	parts := strings.Split(strings.ToLower(string(s)), "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

func jeopardyClass(j engine.Jeopardy) string {
	switch j {
	case engine.AtRisk:
		return "atRisk"
	case engine.Late:
		return "late"
	}
	return ""
}

// Mermaid draws the plan as a Mermaid flowchart (left to right): each
// swimlane a subgraph, each step a node labelled with its name, classes
// by status (and atRisk / late for jeopardy), the critical path in thick
// arrows (==>), prerequisites in other plans as dashed nodes and dotted
// arrows (-.->). f may be nil (no critical path).
func Mermaid(t *engine.PlanTimeline, f *Forecast) string {
	p := layout(t, f)
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	for _, s := range engine.StepStatuses {
		c := StatusColors[s]
		fmt.Fprintf(&b, "  classDef %s fill:%s,stroke:%s,color:%s", statusClass(s), c.Fill, c.Stroke, c.Text)
		if c.Dashed {
			b.WriteString(",stroke-dasharray:4 3")
		}
		b.WriteString("\n")
	}
	for _, j := range []engine.Jeopardy{engine.AtRisk, engine.Late} {
		js := JeopardyStroke[j]
		fmt.Fprintf(&b, "  classDef %s stroke:%s,stroke-width:%dpx\n", jeopardyClass(j), js.Color, js.Width)
	}
	fmt.Fprintf(&b, "  classDef external fill:%s,stroke:%s,color:%s,stroke-dasharray:4 3\n", externalColor.Fill, externalColor.Stroke, externalColor.Text)
	for i, l := range p.lanes {
		id := fmt.Sprintf("g%d", l.id)
		if l.id == 0 {
			id = fmt.Sprintf("lane%d", i)
		}
		fmt.Fprintf(&b, "  subgraph %s[\"%s\"]\n", id, mermaidText(l.name))
		for _, s := range l.steps {
			fmt.Fprintf(&b, "    s%d[\"%s\"]\n", s.ID, mermaidText(s.Name))
		}
		b.WriteString("  end\n")
	}
	for _, x := range p.external {
		fmt.Fprintf(&b, "  x%d[\"%s (other plan)\"]\n", x.ID, mermaidText(x.Name))
	}
	for _, e := range p.edges {
		switch {
		case e.external:
			fmt.Fprintf(&b, "  x%d -.-> s%d\n", e.from, e.to)
		case p.critical[[2]int{e.from, e.to}]:
			fmt.Fprintf(&b, "  s%d ==> s%d\n", e.from, e.to)
		default:
			fmt.Fprintf(&b, "  s%d --> s%d\n", e.from, e.to)
		}
	}
	// Status classes first, jeopardy after: the later class's stroke wins.
	for _, l := range p.lanes {
		for _, s := range l.steps {
			fmt.Fprintf(&b, "  class s%d %s\n", s.ID, statusClass(knownStatus(s.Status)))
		}
	}
	for _, l := range p.lanes {
		for _, s := range l.steps {
			if c := jeopardyClass(s.Jeopardy); c != "" {
				fmt.Fprintf(&b, "  class s%d %s\n", s.ID, c)
			}
		}
	}
	for _, x := range p.external {
		fmt.Fprintf(&b, "  class x%d external\n", x.ID)
	}
	return b.String()
}

// knownStatus is s, or PENDING for a status the pictures do not know.
func knownStatus(s engine.StepStatus) engine.StepStatus {
	if _, ok := StatusColors[s]; ok {
		return s
	}
	return engine.StepPending
}

// mermaidText escapes a label for a double-quoted Mermaid string: letters,
// digits, spaces and harmless punctuation stay; every other character
// (quotes, brackets, #, %, <, >, &, backticks, braces, semicolons…)
// becomes an entity code (#34;), so a name can neither end the string nor
// start a directive, a comment, markdown or HTML. Line breaks and other
// control characters become spaces.
func mermaidText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsControl(r) || unicode.IsSpace(r):
			b.WriteByte(' ')
		case unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(" -_.,:/()+*'!?@=", r):
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "#%d;", r)
		}
	}
	return b.String()
}

// DOT draws the plan as a Graphviz digraph (left to right): each swimlane
// a cluster, each step a box filled by its status, its border by its
// jeopardy, the critical path in thick arrows, prerequisites in other
// plans dashed. f may be nil (no critical path).
func DOT(t *engine.PlanTimeline, f *Forecast) string {
	p := layout(t, f)
	var b strings.Builder
	fmt.Fprintf(&b, "digraph plan_%d {\n", t.PlanID)
	b.WriteString("  graph [rankdir=LR, fontname=\"Helvetica\"];\n")
	b.WriteString("  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n")
	for i, l := range p.lanes {
		id := fmt.Sprintf("cluster_g%d", l.id)
		if l.id == 0 {
			id = fmt.Sprintf("cluster_lane%d", i)
		}
		fmt.Fprintf(&b, "  subgraph %s {\n    label=%s;\n", id, dotString(l.name))
		for _, s := range l.steps {
			c := StatusColors[knownStatus(s.Status)]
			color, width := c.Stroke, 1
			if js, ok := JeopardyStroke[s.Jeopardy]; ok {
				color, width = js.Color, js.Width
			}
			style := "rounded,filled"
			if c.Dashed {
				style += ",dashed"
			}
			fmt.Fprintf(&b, "    s%d [label=%s, style=%q, fillcolor=%q, color=%q, fontcolor=%q, penwidth=%d];\n",
				s.ID, dotString(s.Name), style, c.Fill, color, c.Text, width)
		}
		b.WriteString("  }\n")
	}
	for _, x := range p.external {
		fmt.Fprintf(&b, "  x%d [label=%s, style=\"rounded,filled,dashed\", fillcolor=%q, color=%q, fontcolor=%q];\n",
			x.ID, dotString(x.Name+" (other plan)"), externalColor.Fill, externalColor.Stroke, externalColor.Text)
	}
	for _, e := range p.edges {
		switch {
		case e.external:
			fmt.Fprintf(&b, "  x%d -> s%d [style=dashed];\n", e.from, e.to)
		case p.critical[[2]int{e.from, e.to}]:
			fmt.Fprintf(&b, "  s%d -> s%d [penwidth=3];\n", e.from, e.to)
		default:
			fmt.Fprintf(&b, "  s%d -> s%d;\n", e.from, e.to)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// dotString quotes s as a DOT string: backslashes doubled (so no escape
// such as \N or \l survives), quotes escaped, line breaks and other
// control characters as spaces.
func dotString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\\' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Timeline is the plan's Gantt data: a row per step, swimlane by
// swimlane (by position), each lane's steps by planned start, then id.
// f may be nil (no planned times, nothing critical).
func Timeline(t *engine.PlanTimeline, f *Forecast) []TimelineEntry {
	p := layout(t, f)
	out := []TimelineEntry{}
	for _, l := range p.lanes {
		start := len(out)
		for _, s := range l.steps {
			e := TimelineEntry{StepID: s.ID, Name: s.Name, Swimlane: l.name, ActualStart: timePtr(s.ReadyAt), Basis: BasisNone}
			if s.Status.Terminal() {
				e.ActualEnd = timePtr(s.CompletedAt)
			}
			if sf := f.stepOrNil(s.ID); sf != nil {
				e.Critical, e.Basis, e.Samples, e.P50, e.P90 = sf.Critical, sf.Basis, sf.Samples, sf.P50, sf.P90
				if !sf.Start.IsZero() {
					e.PlannedStart, e.PlannedEnd = timePtr(&sf.Start), timePtr(&sf.End)
				}
			}
			out = append(out, e)
		}
		slices.SortStableFunc(out[start:], func(a, b TimelineEntry) int {
			switch {
			case a.PlannedStart == nil && b.PlannedStart == nil:
			case a.PlannedStart == nil:
				return 1
			case b.PlannedStart == nil:
				return -1
			default:
				if c := a.PlannedStart.Compare(*b.PlannedStart); c != 0 {
					return c
				}
			}
			return a.StepID - b.StepID
		})
	}
	return out
}

func (f *Forecast) stepOrNil(id int) *StepForecast {
	if f == nil {
		return nil
	}
	return f.Step(id)
}

func timePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}
