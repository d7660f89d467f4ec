package catalog

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/calendar"
)

// CatalogDocument is a whole fulfillment design as written (YAML or JSON;
// README "The catalog"). It is parsed as is; CompileCatalog validates it
// completely and turns it into a Catalog.
type CatalogDocument struct {
	Version       int                   `yaml:"version" json:"version"`
	Systems       map[string]*SystemDoc `yaml:"systems" json:"systems"`
	Products      []*ProductDoc         `yaml:"products" json:"products"`
	Enrichment    []*EnrichmentDoc      `yaml:"enrichment" json:"enrichment"`
	Decomposition []*DecompositionDoc   `yaml:"decomposition" json:"decomposition"`
	Scenarios     []*ScenarioDoc        `yaml:"scenarios" json:"scenarios"`
	// Approvals make matching orders wait AWAITING_APPROVAL, nothing
	// started, until approveOrder (or rejectOrder).
	Approvals []*ApprovalDoc `yaml:"approvals" json:"approvals"`
	// Queues are the work queues of manual tasks: who works them, how
	// tasks are assigned, escalated and timed.
	Queues []*QueueDoc `yaml:"queues" json:"queues"`
}

// ApprovalDoc is an approval rule: an order its condition matches waits
// for a person's approval before fulfillment starts.
type ApprovalDoc struct {
	Name string `yaml:"name" json:"name"`
	// When is a condition over order and account (as a SALES scenario's).
	When string `yaml:"when" json:"when"`
	// Role, when given, is the role the approver must hold (besides the
	// order:approve permission).
	Role string `yaml:"role" json:"role"`
	// Queue, when given, is a queue the approver must be a member of.
	Queue string `yaml:"queue" json:"queue"`
	// FourEyes (default true) refuses an approval by the order's submitter.
	FourEyes *bool `yaml:"fourEyes" json:"fourEyes"`
}

// SystemDoc is an external system that CALLOUT steps call.
type SystemDoc struct {
	// URL is the base URL; ${VAR} is expanded from the environment.
	URL     string            `yaml:"url" json:"url"`
	Timeout Duration          `yaml:"timeout" json:"timeout"`
	Headers map[string]string `yaml:"headers" json:"headers"` // ${VAR} expanded from the environment
	// Retry is the default retry policy of callouts to this system.
	Retry *RetryDoc `yaml:"retry" json:"retry"`
	// ReleaseRate is how many held callouts per minute are released when the
	// system comes back online (0: all at once).
	ReleaseRate int `yaml:"releaseRate" json:"releaseRate"`
	// Circuit opens the system's circuit after consecutive failures.
	Circuit *CircuitDoc `yaml:"circuit" json:"circuit"`
}

// CircuitDoc configures a system's circuit breaker.
type CircuitDoc struct {
	// Failures is how many consecutive failed callouts open the circuit
	// (0 disables the breaker).
	Failures int `yaml:"failures" json:"failures"`
	// CoolDown is how long the circuit stays open before callouts are tried
	// again.
	CoolDown Duration `yaml:"coolDown" json:"coolDown"`
}

// ProductDoc is a commercial product (what sales sells; a bundle when it has
// components) or a technical product (what operations fulfil).
type ProductDoc struct {
	Code       string          `yaml:"code" json:"code"`
	Name       string          `yaml:"name" json:"name"`
	Type       string          `yaml:"type" json:"type"` // COMMERCIAL | TECHNICAL
	Components []*ComponentDoc `yaml:"components" json:"components"`
	Attributes []string        `yaml:"attributes" json:"attributes"`
}

// ComponentDoc is one component of a bundle.
type ComponentDoc struct {
	Product  string `yaml:"product" json:"product"`
	Quantity int    `yaml:"quantity" json:"quantity"` // per bundle; default 1
}

// EnrichmentDoc sets attributes before decomposition.
type EnrichmentDoc struct {
	Name string `yaml:"name" json:"name"`
	// Scope is ORDER (set order attributes; the default) or LINE (set the
	// attributes of each line, optionally only lines of Product).
	Scope   string            `yaml:"scope" json:"scope"`
	Product string            `yaml:"product" json:"product"`
	When    string            `yaml:"when" json:"when"`
	Set     map[string]string `yaml:"set" json:"set"`
}

// DecompositionDoc turns commercial lines into technical products.
type DecompositionDoc struct {
	Name  string `yaml:"name" json:"name"`
	From  string `yaml:"from" json:"from"`
	To    string `yaml:"to" json:"to"`
	Scope string `yaml:"scope" json:"scope"` // LINE (default) | BUNDLE | ACCOUNT
	When  string `yaml:"when" json:"when"`
	// Attributes maps fulfillment-line attributes to expressions.
	Attributes map[string]string `yaml:"attributes" json:"attributes"`
	// Quantity is the fulfillment line's quantity (default: the line's
	// quantity for LINE scope, 1 otherwise).
	Quantity string `yaml:"quantity" json:"quantity"`
	// Requires lists line attributes the rule needs; a line without them
	// waits as AWAITING_DATA until enrichOrder supplies them.
	Requires []string `yaml:"requires" json:"requires"`
}

// ScenarioDoc contributes groups of steps to every plan whose subject it
// matches.
type ScenarioDoc struct {
	Name  string `yaml:"name" json:"name"`
	Usage string `yaml:"usage" json:"usage"` // SALES (default) | GENERIC
	// Type restricts a GENERIC scenario to one startOrchestration type.
	Type string `yaml:"type" json:"type"`
	When string `yaml:"when" json:"when"`
	// Items (GENERIC only) is an expression over context giving the list of
	// items that ITEM-scoped steps are instantiated for.
	Items        string           `yaml:"items" json:"items"`
	Groups       []*GroupDoc      `yaml:"groups" json:"groups"`
	Dependencies []*DependencyDoc `yaml:"dependencies" json:"dependencies"`
	// OnAmend and OnCancel (SALES only) are PLAN steps added to an order's
	// plan when a revision of the order is applied (amendOrder) or when it
	// is cancelled (cancelOrder), after the revision's compensations: a
	// notification, a credit note, a confirmation task.
	OnAmend []*StepDoc `yaml:"onAmend" json:"onAmend"`
	// PlanKey (SALES only) is an expression over the order giving the key
	// that relates its plan to other orders' plans (a site, a contract):
	// a CROSS_PLAN dependency waits for steps of earlier plans with the
	// same key.
	PlanKey  string     `yaml:"planKey" json:"planKey"`
	OnCancel []*StepDoc `yaml:"onCancel" json:"onCancel"`
}

// GroupDoc is a swimlane.
type GroupDoc struct {
	Name  string     `yaml:"name" json:"name"`
	Steps []*StepDoc `yaml:"steps" json:"steps"`
}

// StepDoc is a step definition.
type StepDoc struct {
	Name    string `yaml:"name" json:"name"`
	Type    string `yaml:"type" json:"type"`
	Scope   string `yaml:"scope" json:"scope"` // default PLAN
	Product string `yaml:"product" json:"product"`
	// When false at plan creation, the step is created SKIPPED.
	When              string      `yaml:"when" json:"when"`
	Callout           *CalloutDoc `yaml:"callout" json:"callout"`
	Auto              *AutoDoc    `yaml:"auto" json:"auto"`
	Task              *TaskDoc    `yaml:"task" json:"task"`
	Pause             *PauseDoc   `yaml:"pause" json:"pause"`
	EstimatedDuration Duration    `yaml:"estimatedDuration" json:"estimatedDuration"`
	JeopardyThreshold Duration    `yaml:"jeopardyThreshold" json:"jeopardyThreshold"`
	Retry             *RetryDoc   `yaml:"retry" json:"retry"`
	PointOfNoReturn   bool        `yaml:"pointOfNoReturn" json:"pointOfNoReturn"`
	// StartAt is an expression giving the time the step may start (a
	// time, or an RFC 3339 or YYYY-MM-DD string): it waits SCHEDULED until
	// then once its prerequisites are done.
	StartAt string `yaml:"startAt" json:"startAt"`
	// Compensate is the step that undoes this one's effect (cancel the
	// shipment, revoke the licence) when it completed and an amendment or
	// cancellation takes away what it was for. It is a step definition of
	// any type, of this step's scope and product; it runs only as a
	// compensation.
	Compensate *StepDoc `yaml:"compensate" json:"compensate"`
}

// CalloutDoc is what a CALLOUT step sends, and what it keeps of the answer.
type CalloutDoc struct {
	System  string            `yaml:"system" json:"system"`
	Method  string            `yaml:"method" json:"method"` // default POST
	Path    string            `yaml:"path" json:"path"`     // an expression when it starts with '='
	Body    string            `yaml:"body" json:"body"`     // expression; its value is sent as JSON
	Headers map[string]string `yaml:"headers" json:"headers"`
	// Set maps the response into attributes: keys `order.x`, `item.x`, or
	// plain `x` (the step's fulfillment line when it has one, else the
	// order). Values are expressions over response (status, body, headers).
	Set     map[string]string `yaml:"set" json:"set"`
	Timeout Duration          `yaml:"timeout" json:"timeout"`
}

// AutoDoc names the registered action an AUTO_TASK runs.
type AutoDoc struct {
	Action string            `yaml:"action" json:"action"`
	Params map[string]string `yaml:"params" json:"params"` // expressions
}

// TaskDoc is where a MANUAL_TASK waits.
type TaskDoc struct {
	Queue string `yaml:"queue" json:"queue"`
	// Instructions are shown on the task: text with {{ expression }}
	// placeholders over the step's environment, or "=expression".
	Instructions string `yaml:"instructions" json:"instructions"`
	Assignee     string `yaml:"assignee" json:"assignee"`
	// Fields are what a person must enter to complete the task.
	Fields []*FieldDoc `yaml:"fields" json:"fields"`
	// Set maps the completed task's output into attributes, as a
	// callout's set maps its response (expressions over output).
	Set map[string]string `yaml:"set" json:"set"`
	// Calendar and Escalation override the queue's.
	Calendar   *calendar.Spec   `yaml:"calendar" json:"calendar"`
	Escalation []*EscalationDoc `yaml:"escalation" json:"escalation"`
}

// FieldDoc is one field of a task's form.
type FieldDoc struct {
	Name     string   `yaml:"name" json:"name"`
	Type     string   `yaml:"type" json:"type"` // string (default), number, boolean, date, enum
	Required bool     `yaml:"required" json:"required"`
	Pattern  string   `yaml:"pattern" json:"pattern"` // a regular expression a string must match
	Values   []string `yaml:"values" json:"values"`   // an enum's values
}

// QueueDoc is a work queue.
type QueueDoc struct {
	Name string `yaml:"name" json:"name"`
	// Members are principals by name; principals whose credentials list
	// the queue are members too.
	Members []string `yaml:"members" json:"members"`
	// Roles, when given, are the roles of which a member needs one.
	Roles []string `yaml:"roles" json:"roles"`
	// Strategy assigns a task when it becomes ready: NONE (default),
	// ROUND_ROBIN, LEAST_LOADED or CONTEXT.
	Strategy string `yaml:"strategy" json:"strategy"`
	// Assign is CONTEXT's expression over the step's environment: a
	// member's name, "queue:NAME" to route the task to another queue, or
	// "" to leave it to the queue.
	Assign     string           `yaml:"assign" json:"assign"`
	Calendar   *calendar.Spec   `yaml:"calendar" json:"calendar"`
	Escalation []*EscalationDoc `yaml:"escalation" json:"escalation"`
}

// EscalationDoc is one level of an escalation chain: when a task reaches
// At (AT_RISK or LATE), REMIND its assignee, REASSIGN it To a member or a
// queue, or NOTIFY the queue To.
type EscalationDoc struct {
	At     string `yaml:"at" json:"at"`
	Action string `yaml:"action" json:"action"`
	To     string `yaml:"to" json:"to"`
}

// PauseDoc is what a PAUSE waits for: a signal, a duration, or either.
type PauseDoc struct {
	Until string   `yaml:"until" json:"until"`
	For   Duration `yaml:"for" json:"for"`
}

// RetryDoc is a retry policy (DRO's): IMMEDIATE, FIXED interval,
// EXPONENTIAL backoff, or a staggered SCHEDULE, up to Max retries after the
// first attempt.
type RetryDoc struct {
	Max        *int       `yaml:"max" json:"max"`
	Policy     string     `yaml:"policy" json:"policy"`
	Backoff    Duration   `yaml:"backoff" json:"backoff"`
	MaxBackoff Duration   `yaml:"maxBackoff" json:"maxBackoff"`
	Schedule   []Duration `yaml:"schedule" json:"schedule"`
}

// DependencyDoc says Step may not start before every step in After is done.
type DependencyDoc struct {
	Step  string     `yaml:"step" json:"step"`
	After StringList `yaml:"after" json:"after"`
	Scope string     `yaml:"scope" json:"scope"` // PLAN (default) | BUNDLE | ITEM | CROSS_PLAN
}

// Duration is a duration as written in a catalog ("90s", "24h", "2d"); it
// is kept as text until validation so a bad value is reported with its path.
type Duration struct {
	Text string
	D    time.Duration
	Err  error
}

// UnmarshalYAML keeps the text; parsing happens in ParseDuration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		// A TypeError: the decoder records it with its line and goes on.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a duration must be a string like \"30s\"", n.Line)}}
	}
	d.Text = n.Value
	d.D, d.Err = ParseDuration(n.Value)
	return nil
}

// MarshalYAML writes the text back.
func (d Duration) MarshalYAML() (any, error) { return d.Text, nil }

// Set reports whether the duration was written at all.
func (d Duration) Set() bool { return d.Text != "" }

// ParseDuration parses Go durations plus whole days ("2d", "1d12h").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	orig := s
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("negative duration %q", orig)
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad duration %q (use e.g. 30s, 15m, 24h, 2d)", orig)
		}
		const maxDays = int(math.MaxInt64 / int64(24*time.Hour))
		if n > maxDays {
			return 0, fmt.Errorf("duration %q is too long", orig)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (use e.g. 30s, 15m, 24h, 2d)", orig)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", orig)
	}
	if days > math.MaxInt64-d {
		return 0, fmt.Errorf("duration %q is too long", orig)
	}
	return days + d, nil
}

// StringList is a list of strings that may be written as one string.
type StringList []string

// UnmarshalYAML accepts a string or a list of strings.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = StringList{n.Value}
		return nil
	case yaml.SequenceNode:
		var s []string
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: expected a step name", item.Line)}}
			}
			s = append(s, item.Value)
		}
		*l = s
		return nil
	}
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: expected a step name or a list of step names", n.Line)}}
}

// ParseCatalogDocument reads a YAML or JSON catalog document within
// DefaultLimits. Unknown keys and values of the wrong kind are problems;
// every one is returned, with its line.
func ParseCatalogDocument(text string) (*CatalogDocument, []engine.Problem) {
	return parseCatalogDocument(text, engine.DefaultLimits)
}

// parseCatalogDocument is ParseCatalogDocument within l. The text is
// bounded before the YAML parser sees it (CatalogBytes, and CatalogNodes by
// a linear count of the characters that can start a node), since the
// parsed tree takes a few hundred bytes a node whatever the document's
// content; the tree's depth is checked (CatalogDepth) before it is decoded
// into the document, naming the path where it goes too deep. The YAML
// parser itself stops at a nesting of 10,000, far below what could
// exhaust the stack.
func parseCatalogDocument(text string, l engine.Limits) (*CatalogDocument, []engine.Problem) {
	l = l.WithDefaults()
	if strings.TrimSpace(text) == "" {
		return nil, []engine.Problem{{Message: "the document is empty"}}
	}
	if len(text) > l.CatalogBytes {
		return nil, []engine.Problem{{Message: fmt.Sprintf("the document is %d bytes long; the limit is %d (CatalogBytes)", len(text), l.CatalogBytes)}}
	}
	if n := estimateYAMLNodes(text); n > l.CatalogNodes {
		return nil, []engine.Problem{{Message: fmt.Sprintf("the document holds up to %d YAML nodes; the limit is %d (CatalogNodes)", n, l.CatalogNodes)}}
	}
	var tree yaml.Node
	if err := yaml.Unmarshal([]byte(text), &tree); err != nil {
		return nil, []engine.Problem{{Message: "not a YAML or JSON document: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	if path, line, ok := yamlTooDeep(&tree, l.CatalogDepth); !ok {
		return nil, []engine.Problem{{Path: path, Message: fmt.Sprintf("line %d: the document nests deeper than %d levels (CatalogDepth)", line, l.CatalogDepth)}}
	}
	var doc CatalogDocument
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	err := dec.Decode(&doc)
	if err == nil {
		var more yaml.Node
		if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
			return nil, []engine.Problem{{Message: "the file holds more than one YAML document (---); a catalog is one document"}}
		}
		return &doc, nil
	}
	var te *yaml.TypeError
	if ok := asTypeError(err, &te); ok {
		ps := make([]engine.Problem, 0, len(te.Errors))
		for _, e := range te.Errors {
			ps = append(ps, engine.Problem{Path: linePath(e), Message: lineMessage(e)})
		}
		return nil, ps
	}
	return nil, []engine.Problem{{Message: "not a YAML or JSON document: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
}

// estimateYAMLNodes bounds from above the nodes the YAML parser makes of
// text: every node but a document's first follows a line break, a flow
// collection's opening bracket or comma, or an indicator of an entry, key
// or value (`- `, `: `, `? `, followed by a space or a line break), and
// each of those starts at most two nodes (a key and its value, or a
// collection and its first entry). The same characters inside scalars
// count too: the estimate errs only upwards.
func estimateYAMLNodes(text string) int {
	n := 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '\n', ',', '[', '{':
			n++
		case '-', ':', '?':
			if i+1 == len(text) || text[i+1] == ' ' || text[i+1] == '\t' || text[i+1] == '\n' || text[i+1] == '\r' {
				n++
			}
		}
	}
	return 2*n + 2
}

// yamlTooDeep walks the parsed tree without recursion and reports the path
// and line of the first node deeper than max.
func yamlTooDeep(root *yaml.Node, max int) (path string, line int, ok bool) {
	type entry struct {
		node   *yaml.Node
		parent *entry
		key    string // the step from the parent: ".name" or "[3]"
		depth  int
	}
	stack := []*entry{{node: root}}
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if e.depth > max {
			var parts []string
			for p := e; p != nil; p = p.parent {
				parts = append(parts, p.key)
			}
			slices.Reverse(parts)
			return strings.TrimPrefix(strings.Join(parts, ""), "."), e.node.Line, false
		}
		n := e.node
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				stack = append(stack, &entry{node: c, parent: e, depth: e.depth})
			}
		case yaml.SequenceNode:
			for i := len(n.Content) - 1; i >= 0; i-- {
				stack = append(stack, &entry{node: n.Content[i], parent: e, key: fmt.Sprintf("[%d]", i), depth: e.depth + 1})
			}
		case yaml.MappingNode:
			for i := len(n.Content) - 2; i >= 0; i -= 2 {
				k := n.Content[i]
				name := k.Value
				if k.Kind != yaml.ScalarNode {
					name = "?"
				}
				// A key is a node of the mapping's level too (a complex
				// key nests), its value one below.
				stack = append(stack, &entry{node: n.Content[i+1], parent: e, key: "." + shorten(name, 40), depth: e.depth + 1})
				if k.Kind != yaml.ScalarNode {
					stack = append(stack, &entry{node: k, parent: e, key: "." + name, depth: e.depth + 1})
				}
			}
		}
	}
	return "", 0, true
}

func asTypeError(err error, te **yaml.TypeError) bool {
	t, ok := err.(*yaml.TypeError)
	if ok {
		*te = t
	}
	return ok
}

// linePath turns yaml's "line 12: ..." into the path "line 12".
func linePath(msg string) string {
	if strings.HasPrefix(msg, "line ") {
		if i := strings.IndexByte(msg, ':'); i > 0 {
			return msg[:i]
		}
	}
	return ""
}

func lineMessage(msg string) string {
	if strings.HasPrefix(msg, "line ") {
		if i := strings.IndexByte(msg, ':'); i > 0 {
			return strings.TrimSpace(msg[i+1:])
		}
	}
	return msg
}
