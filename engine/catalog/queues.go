package catalog

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/calendar"
)

// Assignment strategies of a queue.
const (
	StrategyNone        = "NONE"
	StrategyRoundRobin  = "ROUND_ROBIN"
	StrategyLeastLoaded = "LEAST_LOADED"
	StrategyContext     = "CONTEXT"
)

// Strategies are the assignment strategies, in the README's order.
var Strategies = []string{StrategyNone, StrategyRoundRobin, StrategyLeastLoaded, StrategyContext}

// Escalation actions.
const (
	EscalateRemind   = "REMIND"
	EscalateReassign = "REASSIGN"
	EscalateNotify   = "NOTIFY"
)

// QueuePrefix marks a CONTEXT expression's answer, or an escalation's
// target, as a queue rather than a member.
const QueuePrefix = "queue:"

// QueueDef is a compiled work queue.
type QueueDef struct {
	Name       string
	Members    []string
	Roles      []string
	Strategy   string
	Assign     *Expr // CONTEXT's, over StepEnv
	Calendar   *calendar.Calendar
	Escalation []*Escalation
}

// Escalation is a compiled escalation level.
type Escalation struct {
	At     engine.Jeopardy
	Action string
	To     string // a member, or QueuePrefix+queue (REASSIGN); a queue (NOTIFY)
}

// TaskDef is a compiled manual task.
type TaskDef struct {
	Queue        string
	Assignee     string
	Instructions *Template
	Fields       []*FieldDef
	Set          []Assignment // over TaskEnv
	Calendar     *calendar.Calendar
	Escalation   []*Escalation
}

// Field types of task forms.
const (
	FieldString  = "string"
	FieldNumber  = "number"
	FieldBoolean = "boolean"
	FieldDate    = "date"
	FieldEnum    = "enum"
)

// FieldDef is one compiled field of a task's form.
type FieldDef struct {
	Name     string
	Type     string
	Required bool
	Pattern  *regexp.Regexp
	Values   []string
}

// TaskEnv is the environment of a task's set expressions: the step's,
// and the output the person entered.
type TaskEnv struct {
	StepEnv
	Output map[string]any `expr:"output"`
}

// Template is text with {{ expression }} placeholders, or one expression
// ("=..."), evaluated over StepEnv.
type Template struct {
	Source string
	parts  []string // literal text between the expressions
	exprs  []*Expr
}

// Render evaluates the template over env.
func (t *Template) Render(env any) (string, error) {
	if t == nil {
		return "", nil
	}
	var b strings.Builder
	for i, p := range t.parts {
		b.WriteString(p)
		if i < len(t.exprs) {
			v, err := t.exprs[i].Eval(env)
			if err != nil {
				return "", err
			}
			if v != nil {
				fmt.Fprint(&b, v)
			}
		}
	}
	return b.String(), nil
}

func (c *compiler) template(path, src string, env any) *Template {
	if src == "" {
		return nil
	}
	t := &Template{Source: src}
	if strings.HasPrefix(src, "=") {
		t.parts = []string{"", ""}
		t.exprs = []*Expr{c.expr(path, strings.TrimPrefix(src, "="), env, anyValue)}
		return t
	}
	rest := src
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			t.parts = append(t.parts, rest)
			return t
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			c.problem(path, "a {{ placeholder }} is not closed")
			return t
		}
		t.parts = append(t.parts, rest[:i])
		t.exprs = append(t.exprs, c.expr(path, strings.TrimSpace(rest[i+2:i+j]), env, anyValue))
		rest = rest[i+j+2:]
	}
}

func (c *compiler) calendar(path string, s *calendar.Spec) *calendar.Calendar {
	if s == nil {
		return nil
	}
	cal, problems := calendar.Compile(*s)
	for _, p := range problems {
		c.problem(path+"."+p.Path, "%s", p.Message)
	}
	return cal
}

func (c *compiler) escalation(path string, docs []*EscalationDoc) []*Escalation {
	var out []*Escalation
	for i, d := range docs {
		p := fmt.Sprintf("%s[%d]", path, i)
		if d == nil {
			c.problem(p, "empty escalation level")
			continue
		}
		e := &Escalation{At: engine.Jeopardy(strings.ToUpper(d.At)), Action: strings.ToUpper(d.Action), To: d.To}
		if e.At != engine.AtRisk && e.At != engine.Late {
			c.problem(p+".at", "an escalation happens AT_RISK or LATE, not %q", d.At)
		}
		switch e.Action {
		case EscalateRemind:
			if e.To != "" {
				c.problem(p+".to", "REMIND reminds the assignee; it takes no `to`")
			}
		case EscalateReassign, EscalateNotify:
			if e.To == "" {
				c.problem(p+".to", "%s needs `to` (%s)", e.Action, map[string]string{
					EscalateReassign: "a member, or queue:NAME", EscalateNotify: "a queue"}[e.Action])
			}
		default:
			c.problem(p+".action", "unknown escalation action %q (REMIND, REASSIGN or NOTIFY)", d.Action)
		}
		out = append(out, e)
	}
	return out
}

func (c *compiler) task(path string, d *TaskDoc, env any, hasItem *bool) *TaskDef {
	t := &TaskDef{Queue: d.Queue, Assignee: d.Assignee}
	if d.Queue == "" {
		c.problem(path+".queue", "manual task needs a queue")
	}
	t.Instructions = c.template(path+".instructions", d.Instructions, env)
	seen := map[string]bool{}
	for i, f := range d.Fields {
		p := fmt.Sprintf("%s.fields[%d]", path, i)
		if f == nil {
			c.problem(p, "empty field")
			continue
		}
		c.uniqueName(p+".name", "field", f.Name, seen, "")
		fd := &FieldDef{Name: f.Name, Type: strings.ToLower(f.Type), Required: f.Required, Values: f.Values}
		if fd.Type == "" {
			fd.Type = FieldString
		}
		switch fd.Type {
		case FieldString, FieldNumber, FieldBoolean, FieldDate, FieldEnum:
		default:
			c.problem(p+".type", "unknown field type %q (string, number, boolean, date or enum)", f.Type)
		}
		if fd.Type == FieldEnum && len(f.Values) == 0 {
			c.problem(p+".values", "an enum field needs values")
		}
		if fd.Type != FieldEnum && len(f.Values) > 0 {
			c.problem(p+".values", "only enum fields take values")
		}
		if f.Pattern != "" {
			if fd.Type != FieldString {
				c.problem(p+".pattern", "only string fields take a pattern")
			} else if re, err := regexp.Compile(f.Pattern); err != nil {
				c.problem(p+".pattern", "bad regular expression: %v", err)
			} else {
				fd.Pattern = re
			}
		}
		t.Fields = append(t.Fields, fd)
	}
	t.Set = c.setMappings(path+".set", c.assignments(path+".set", d.Set, TaskEnv{}), hasItem)
	t.Calendar = c.calendar(path+".calendar", d.Calendar)
	t.Escalation = c.escalation(path+".escalation", d.Escalation)
	return t
}

func (c *compiler) queues(cat *Catalog) {
	cat.Queues = map[string]*QueueDef{}
	seen := map[string]bool{}
	for i, d := range c.doc.Queues {
		path := fmt.Sprintf("queues[%d]", i)
		if d == nil {
			c.problem(path, "empty queue")
			continue
		}
		c.uniqueName(path+".name", "queue", d.Name, seen, "")
		q := &QueueDef{Name: d.Name, Members: d.Members, Roles: d.Roles, Strategy: strings.ToUpper(d.Strategy)}
		if q.Strategy == "" {
			q.Strategy = StrategyNone
		}
		if !slices.Contains(Strategies, q.Strategy) {
			c.problem(path+".strategy", "unknown strategy %q (%s)", d.Strategy, strings.Join(Strategies, ", "))
		}
		members := map[string]bool{}
		for j, m := range d.Members {
			if strings.TrimSpace(m) == "" || members[m] {
				c.problem(fmt.Sprintf("%s.members[%d]", path, j), "member %q is empty or named twice", m)
			}
			members[m] = true
		}
		for j, r := range d.Roles {
			if !roleName.MatchString(r) {
				c.problem(fmt.Sprintf("%s.roles[%d]", path, j), "a role name is upper case letters, digits and _, not %q", r)
			}
		}
		switch {
		case q.Strategy == StrategyContext && d.Assign == "":
			c.problem(path+".assign", "CONTEXT assignment needs an `assign` expression")
		case q.Strategy != StrategyContext && d.Assign != "":
			c.problem(path+".assign", "`assign` is CONTEXT's expression; the strategy is %s", q.Strategy)
		case d.Assign != "":
			q.Assign = c.expr(path+".assign", d.Assign, StepEnv{}, anyValue)
		}
		if (q.Strategy == StrategyRoundRobin || q.Strategy == StrategyLeastLoaded) && len(d.Members) == 0 {
			c.problem(path+".members", "%s assigns among members: name some", q.Strategy)
		}
		q.Calendar = c.calendar(path+".calendar", d.Calendar)
		q.Escalation = c.escalation(path+".escalation", d.Escalation)
		cat.Queues[q.Name] = q
	}
	// Escalation targets that are queues must be queues of the catalog
	// (or be used by a task, which makes them valid undeclared queues).
	used := map[string]bool{}
	for _, s := range cat.Steps {
		if s.Task != nil {
			used[s.Task.Queue] = true
		}
	}
	check := func(path string, es []*Escalation) {
		for i, e := range es {
			name := e.To
			if e.Action == EscalateReassign {
				if !strings.HasPrefix(name, QueuePrefix) {
					continue // a member
				}
				name = strings.TrimPrefix(name, QueuePrefix)
			}
			if e.Action != EscalateRemind && cat.Queues[name] == nil && !used[name] {
				c.problem(fmt.Sprintf("%s[%d].to", path, i), "unknown queue %q (declared: %s)", name, strings.Join(slices.Sorted(maps.Keys(cat.Queues)), ", "))
			}
		}
	}
	for i, d := range c.doc.Queues {
		if d != nil && cat.Queues[d.Name] != nil {
			check(fmt.Sprintf("queues[%d].escalation", i), cat.Queues[d.Name].Escalation)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cat.Steps)) {
		if s := cat.Steps[name]; s.Task != nil {
			check("steps."+name+".task.escalation", s.Task.Escalation)
		}
	}
}

// Queue returns the queue of a task: the catalog's definition, or nil
// for a queue no catalog declares (any FULFILLMENT_AGENT may work it, and
// nothing assigns its tasks).
func (c *Catalog) Queue(name string) *QueueDef { return c.Queues[name] }

// TaskCalendar is the calendar a task's durations count: the task's own,
// else its queue's, else nil (every hour counts).
func (c *Catalog) TaskCalendar(def *StepDef) *calendar.Calendar {
	if def == nil || def.Task == nil {
		return nil
	}
	if def.Task.Calendar != nil {
		return def.Task.Calendar
	}
	if q := c.Queues[def.Task.Queue]; q != nil {
		return q.Calendar
	}
	return nil
}

// TaskEscalation is the chain of a task at a jeopardy level: the task's
// own levels if it has any, else its queue's.
func (c *Catalog) TaskEscalation(def *StepDef, queue string, at engine.Jeopardy) []*Escalation {
	if def == nil || def.Task == nil {
		return nil
	}
	chain := def.Task.Escalation
	if len(chain) == 0 {
		if q := c.Queues[queue]; q != nil {
			chain = q.Escalation
		}
	}
	var out []*Escalation
	for _, e := range chain {
		if e.At == at {
			out = append(out, e)
		}
	}
	return out
}

// CheckOutput checks a task's output against its form: every problem,
// each naming its field (nil when the output is acceptable). A task
// without fields takes any output.
func (t *TaskDef) CheckOutput(out map[string]any) []engine.Problem {
	if t == nil || len(t.Fields) == 0 {
		return nil
	}
	var problems []engine.Problem
	bad := func(name, format string, args ...any) {
		problems = append(problems, engine.Problem{Path: "output." + name, Message: fmt.Sprintf(format, args...)})
	}
	known := map[string]bool{}
	for _, f := range t.Fields {
		known[f.Name] = true
		v, ok := out[f.Name]
		if !ok || v == nil || v == "" {
			if f.Required {
				bad(f.Name, "required")
			}
			continue
		}
		switch f.Type {
		case FieldString:
			s, ok := v.(string)
			switch {
			case !ok:
				bad(f.Name, "must be a string, not %s", kindOf(v))
			case f.Pattern != nil && !f.Pattern.MatchString(s):
				bad(f.Name, "%q does not match %s", s, f.Pattern)
			}
		case FieldNumber:
			switch v.(type) {
			case float64, float32, int, int64, int32:
			default:
				bad(f.Name, "must be a number, not %s", kindOf(v))
			}
		case FieldBoolean:
			if _, ok := v.(bool); !ok {
				bad(f.Name, "must be true or false, not %s", kindOf(v))
			}
		case FieldDate:
			s, ok := v.(string)
			if !ok || !isDate(s) {
				bad(f.Name, "must be a date (2026-12-31 or an RFC 3339 time), not %v", v)
			}
		case FieldEnum:
			s, ok := v.(string)
			if !ok || !slices.Contains(f.Values, s) {
				bad(f.Name, "must be one of %s, not %v", strings.Join(f.Values, ", "), v)
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(out)) {
		if !known[k] {
			names := make([]string, len(t.Fields))
			for i, f := range t.Fields {
				names[i] = f.Name
			}
			bad(k, "the form has no field %q (fields: %s)", k, strings.Join(names, ", "))
		}
	}
	return problems
}

func isDate(s string) bool {
	if _, err := time.Parse(time.DateOnly, s); err == nil {
		return true
	}
	_, err := time.Parse(time.RFC3339, s)
	return err == nil
}

func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, float32, int, int64, int32:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// HasStartAt reports whether any step of the catalog has a startAt.
func (c *Catalog) HasStartAt() bool {
	for _, s := range c.Steps {
		if s.StartAt.Present() {
			return true
		}
	}
	return false
}
