package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/batonhq/baton/engine"
)

// Catalog is a validated, compiled catalog document: every reference
// resolved, every expression compiled. It is immutable and shared by all
// plans of its version.
type Catalog struct {
	Version  int    // the stored version number; 0 before it is stored
	ID       int    // the stored CatalogVersion id; 0 before it is stored
	Checksum string // sha256 of the document text
	Doc      *CatalogDocument

	Systems       map[string]*SystemDef
	Products      map[string]*ProductDef
	Enrichments   []*EnrichmentRule
	Rules         []*DecompositionRule
	Scenarios     []*ScenarioDef
	Approvals     []*ApprovalRule
	Queues        map[string]*QueueDef
	Steps         map[string]*StepDef // by name; names are unique in a catalog
	RulesByFrom   map[string][]*DecompositionRule
	stepsInOrder  []*StepDef
	systemsSorted []string
	// Limits are those the catalog was compiled with; orders of it are
	// decomposed within them.
	Limits engine.Limits
}

// SystemDef is a compiled external system.
type SystemDef struct {
	Name        string
	URL         string
	Timeout     time.Duration
	Headers     map[string]string // ${VAR} expanded
	Retry       RetryPolicy
	ReleaseRate int
	// CircuitFailures consecutive failures open the circuit for CoolDown;
	// 0 disables the breaker.
	CircuitFailures int
	CircuitCoolDown time.Duration
}

// ProductDef is a compiled product.
type ProductDef struct {
	Code       string
	Name       string
	Technical  bool
	Components []Component
	Attributes []string
}

// Component is one component of a bundle.
type Component struct {
	Product  string
	Quantity int
}

// Bundle reports whether the product has components.
func (p *ProductDef) Bundle() bool { return len(p.Components) > 0 }

// EnrichmentRule sets attributes before decomposition.
type EnrichmentRule struct {
	Name    string
	Lines   bool   // LINE scope: runs per line
	Product string // LINE scope: only lines of this product, if set
	When    *Expr
	Set     []Assignment
}

// Assignment is one `attribute: expression` of a mapping, in name order.
type Assignment struct {
	Target string // "" | "order" | "item" for callout set; the attribute name otherwise
	Name   string
	Expr   *Expr
}

// DecompositionRule turns commercial lines into technical products.
type DecompositionRule struct {
	Name       string
	From, To   string
	Scope      engine.DecompositionScope
	When       *Expr
	Attributes []Assignment
	Quantity   *Expr
	Requires   []string
}

// ScenarioDef is a compiled scenario.
type ScenarioDef struct {
	Name         string
	Usage        engine.Usage
	Type         string
	When         *Expr
	Items        *Expr
	Groups       []*GroupDef
	Dependencies []*DependencyDef
	Index        int
	// OnAmend and OnCancel are the steps a revision adds to the plan (see
	// ScenarioDoc).
	OnAmend  []*StepDef
	OnCancel []*StepDef
	// PlanKey relates plans of orders to each other (CROSS_PLAN).
	PlanKey *Expr
}

// GroupDef is a swimlane.
type GroupDef struct {
	Name     string
	Scenario *ScenarioDef
	Steps    []*StepDef
}

// StepDef is a compiled step definition.
type StepDef struct {
	Name     string
	Type     engine.StepType
	Scope    engine.Scope
	Product  string
	When     *Expr
	Group    *GroupDef
	Scenario *ScenarioDef

	Callout *CalloutDef
	Auto    *AutoDef
	Task    *TaskDef
	Pause   *PauseDef

	EstimatedDuration time.Duration
	JeopardyThreshold time.Duration
	Retry             RetryPolicy
	PointOfNoReturn   bool
	// StartAt, when present, is the step's start time (StepEnv): it waits
	// SCHEDULED until then.
	StartAt *Expr
	// Compensation undoes the step (nil: nothing to undo).
	Compensation *StepDef
	// Compensates is the step a compensation undoes; Role says what a step
	// is for (RoleCompensation, RoleOnAmend, RoleOnCancel; "" for a step
	// of the plan).
	Compensates *StepDef
	Role        string
}

// Roles of steps that planning does not create: revisions do.
const (
	RoleCompensation = "COMPENSATION"
	RoleOnAmend      = "ON_AMEND"
	RoleOnCancel     = "ON_CANCEL"
)

// CalloutDef is a compiled callout.
type CalloutDef struct {
	System  *SystemDef
	Method  string
	Path    string
	PathX   *Expr // when the path is an expression ("=..." in the document)
	Body    *Expr
	Headers []Assignment // values are expressions
	Set     []Assignment
	Timeout time.Duration
}

// AutoDef is a compiled auto task.
type AutoDef struct {
	Action string
	Params []Assignment
}

// PauseDef is a compiled pause.
type PauseDef struct {
	Until string
	For   time.Duration
}

// DependencyDef is a compiled dependency.
type DependencyDef struct {
	Step  *StepDef
	After []*StepDef
	Scope engine.Scope
}

// CatalogOptions tune CompileCatalog.
type CatalogOptions struct {
	// Actions are the names of the registered AUTO_TASK actions; nil skips
	// the check.
	Actions []string
	// Getenv expands ${VAR} in system URLs and headers; nil uses os.Getenv.
	Getenv func(string) string
	// Limits bound the document (CatalogBytes, CatalogNodes,
	// CatalogDepth), its expressions (ExprLength, ExprDepth, ExprNodes) and
	// every evaluation of them (ExprSteps, ExprTimeout, ExprMemory,
	// ExprStringBytes); zero fields take DefaultLimits.
	Limits engine.Limits
}

// Step returns the step definition named name, or nil.
func (c *Catalog) Step(name string) *StepDef { return c.Steps[name] }

// Scenario returns the scenario of that name, or nil.
func (c *Catalog) Scenario(name string) *ScenarioDef {
	for _, sc := range c.Scenarios {
		if sc.Name == name {
			return sc
		}
	}
	return nil
}

// SystemNames returns the systems' names, sorted.
func (c *Catalog) SystemNames() []string { return c.systemsSorted }

// StepDefs returns every step definition in document order.
func (c *Catalog) StepDefs() []*StepDef { return c.stepsInOrder }

// CompileCatalog parses and validates a catalog document and compiles it.
// The document's size, node count and nesting are checked before it is
// parsed, and each expression's length and nesting before it is compiled
// (opts.Limits), so that no document can exhaust the stack or the memory
// of the process. Errors: INVALID_CATALOG listing every problem with its
// path.
func CompileCatalog(text string, opts CatalogOptions) (*Catalog, error) {
	opts.Limits = opts.Limits.WithDefaults()
	doc, problems := parseCatalogDocument(text, opts.Limits)
	if len(problems) > 0 {
		return nil, &engine.Error{Code: engine.CodeInvalidCatalog, Message: "invalid catalog", Problems: problems}
	}
	c := &compiler{opts: opts, doc: doc}
	if c.opts.Getenv == nil {
		c.opts.Getenv = os.Getenv
	}
	cat := c.compile()
	if len(c.problems) > 0 {
		return nil, &engine.Error{Code: engine.CodeInvalidCatalog, Message: "invalid catalog", Problems: c.problems}
	}
	cat.Checksum = CatalogChecksum(text)
	cat.Limits = opts.Limits
	return cat, nil
}

// CatalogChecksum is the checksum a catalog document is stored with.
func CatalogChecksum(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

type compiler struct {
	opts     CatalogOptions
	doc      *CatalogDocument
	problems []engine.Problem
}

func (c *compiler) problem(path, format string, args ...any) {
	c.problems = append(c.problems, engine.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (c *compiler) expr(path, src string, env any, kind exprKind) *Expr {
	l := c.opts.Limits
	if err := scanExpr(src, l); err != nil {
		c.problem(path, "expression refused: %s", err)
		return &Expr{}
	}
	if d, ok := env.(checkedEnv); ok {
		// Check against what the place really offers, then compile for the
		// environment the engine runs it with.
		if _, err := compileExpr(src, d.check, kind, l); err != nil {
			c.exprProblem(path, err)
			return &Expr{}
		}
		env = d.run
	}
	e, err := compileExpr(src, env, kind, l)
	if err != nil {
		c.exprProblem(path, err)
		return &Expr{}
	}
	return e
}

func (c *compiler) exprProblem(path string, err error) {
	msg := oneLine(err.Error())
	var limit exprLimitError
	if errors.As(err, &limit) {
		c.problem(path, "expression refused: %s", msg)
		return
	}
	if strings.Contains(msg, "exceeds maximum allowed nodes") {
		c.problem(path, "expression refused: it has more than %d nodes (ExprNodes)", c.opts.Limits.ExprNodes)
		return
	}
	c.problem(path, "expression does not compile: %s", msg)
}

// checkedEnv compiles an expression against check (the names available
// where it appears) to report misuse, and runs it against run.
type checkedEnv struct{ check, run any }

// The environments steps' expressions are checked against, by usage and
// scope: an ITEM step sees `item`, a PLAN step does not; a SALES step sees
// `order`, a GENERIC one `context`.
type (
	salesPlanEnv struct {
		Helpers
		Order   *engine.OrderView   `expr:"order"`
		Account *engine.AccountView `expr:"account"`
		Step    *StepView           `expr:"step"`
	}
	salesBundleEnv struct {
		salesPlanEnv
		Bundle *engine.LineView `expr:"bundle"`
	}
	salesItemEnv struct {
		salesBundleEnv
		Item *engine.ItemView `expr:"item"`
	}
	genericPlanEnv struct {
		Helpers
		Context   map[string]any `expr:"context"`
		Type      string         `expr:"type"`
		SubjectID string         `expr:"subjectId"`
		Step      *StepView      `expr:"step"`
	}
	genericItemEnv struct {
		genericPlanEnv
		Item *engine.ItemView `expr:"item"`
	}
)

// stepEnvs returns the environments of a step definition's expressions.
func stepEnvs(usage engine.Usage, scope engine.Scope) (step, response checkedEnv) {
	var check, respCheck any
	switch {
	case usage == engine.UsageGeneric && scope == engine.ScopeItem:
		check, respCheck = genericItemEnv{}, struct {
			genericItemEnv
			Response *ResponseView `expr:"response"`
		}{}
	case usage == engine.UsageGeneric:
		check, respCheck = genericPlanEnv{}, struct {
			genericPlanEnv
			Response *ResponseView `expr:"response"`
		}{}
	case scope == engine.ScopeItem:
		check, respCheck = salesItemEnv{}, struct {
			salesItemEnv
			Response *ResponseView `expr:"response"`
		}{}
	case scope == engine.ScopeBundle:
		check, respCheck = salesBundleEnv{}, struct {
			salesBundleEnv
			Response *ResponseView `expr:"response"`
		}{}
	default:
		check, respCheck = salesPlanEnv{}, struct {
			salesPlanEnv
			Response *ResponseView `expr:"response"`
		}{}
	}
	return checkedEnv{check: check, run: StepEnv{}}, checkedEnv{check: respCheck, run: ResponseEnv{}}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.Join(strings.Fields(s), " ")
}

func (c *compiler) duration(path string, d Duration) time.Duration {
	if !d.Set() {
		return 0
	}
	if d.Err != nil {
		c.problem(path, "%v", d.Err)
		return 0
	}
	return d.D
}

var envVarRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv replaces ${VAR} and ${VAR:-default}.
func expandEnv(s string, getenv func(string) string) string {
	return envVarRe.ReplaceAllStringFunc(s, func(m string) string {
		sub := envVarRe.FindStringSubmatch(m)
		if v := getenv(sub[1]); v != "" {
			return v
		}
		return sub[3]
	})
}

// article puts "a" or "an" before a word.
func article(w string) string {
	if w != "" && strings.ContainsRune("AEIOUaeiou", rune(w[0])) {
		return "an " + w
	}
	return "a " + w
}

func (c *compiler) name(path, kind, name string) bool {
	switch {
	case name == "":
		c.problem(path, "%s needs a name", kind)
		return false
	case len(name) > 100:
		c.problem(path, "%s name %q is longer than 100 characters", kind, name)
		return false
	case strings.TrimSpace(name) != name || strings.IndexFunc(name, unicode.IsControl) >= 0:
		c.problem(path, "%s name %q has leading or trailing space or control characters", kind, name)
		return false
	}
	return true
}

// uniqueName checks a name as name does and, when it passes, that seen does
// not hold it yet; it adds it to seen. where qualifies the duplicate's
// message (` in scenario "x"`), or is "".
func (c *compiler) uniqueName(path, kind, name string, seen map[string]bool, where string) {
	if !c.name(path, kind, name) {
		return
	}
	if seen[name] {
		c.problem(path, "duplicate %s name %q%s", kind, name, where)
	}
	seen[name] = true
}

func (c *compiler) compile() *Catalog {
	doc := c.doc
	cat := &Catalog{
		Doc:         doc,
		Systems:     map[string]*SystemDef{},
		Products:    map[string]*ProductDef{},
		Steps:       map[string]*StepDef{},
		RulesByFrom: map[string][]*DecompositionRule{},
	}
	if doc.Version != 1 {
		c.problem("version", "unsupported catalog format version %d (this Baton reads version 1)", doc.Version)
	}
	c.systems(cat)
	c.products(cat)
	c.enrichment(cat)
	c.decomposition(cat)
	c.scenarios(cat)
	c.approvals(cat)
	c.queues(cat)
	return cat
}

// ApprovalRule is a compiled approval rule.
type ApprovalRule struct {
	Name     string
	When     *Expr // OrderEnv
	Role     string
	Queue    string
	FourEyes bool
}

var roleName = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

func (c *compiler) approvals(cat *Catalog) {
	seen := map[string]bool{}
	for i, a := range c.doc.Approvals {
		path := fmt.Sprintf("approvals[%d]", i)
		if a == nil {
			c.problem(path, "empty approval rule")
			continue
		}
		c.uniqueName(path+".name", "approval", a.Name, seen, "")
		if strings.TrimSpace(a.When) == "" {
			c.problem(path+".when", "an approval rule needs a condition (\"true\" for every order)")
		}
		r := &ApprovalRule{Name: a.Name, Role: a.Role, Queue: a.Queue, FourEyes: a.FourEyes == nil || *a.FourEyes}
		r.When = c.expr(path+".when", a.When, OrderEnv{}, boolValue)
		if a.Role != "" && !roleName.MatchString(a.Role) {
			c.problem(path+".role", "a role name is upper case letters, digits and _ (e.g. FULFILLMENT_MANAGER), not %q", a.Role)
		}
		cat.Approvals = append(cat.Approvals, r)
	}
}

func (c *compiler) systems(cat *Catalog) {
	for _, name := range slices.Sorted(maps.Keys(c.doc.Systems)) {
		s := c.doc.Systems[name]
		path := "systems." + name
		c.name(path, "system", name)
		if s == nil {
			c.problem(path, "system %q is empty: it needs a url", name)
			continue
		}
		def := &SystemDef{Name: name, Headers: map[string]string{}, ReleaseRate: s.ReleaseRate}
		def.URL = strings.TrimRight(expandEnv(s.URL, c.opts.Getenv), "/")
		switch {
		case s.URL == "":
			c.problem(path+".url", "system %q needs a url", name)
		case !strings.HasPrefix(def.URL, "http://") && !strings.HasPrefix(def.URL, "https://"):
			c.problem(path+".url", "url %q must start with http:// or https://", def.URL)
		}
		def.Timeout = c.duration(path+".timeout", s.Timeout)
		if def.Timeout == 0 {
			def.Timeout = 10 * time.Second
		}
		for _, h := range slices.Sorted(maps.Keys(s.Headers)) {
			def.Headers[h] = expandEnv(s.Headers[h], c.opts.Getenv)
		}
		def.Retry = c.retry(path+".retry", s.Retry, DefaultCalloutRetry)
		if s.ReleaseRate < 0 {
			c.problem(path+".releaseRate", "releaseRate must be 0 (all at once) or more callouts per minute")
		}
		if s.Circuit != nil {
			def.CircuitFailures = s.Circuit.Failures
			def.CircuitCoolDown = c.duration(path+".circuit.coolDown", s.Circuit.CoolDown)
			if s.Circuit.Failures < 0 {
				c.problem(path+".circuit.failures", "failures must be 0 (no breaker) or more")
			}
			if s.Circuit.Failures > 0 && def.CircuitCoolDown == 0 {
				def.CircuitCoolDown = 30 * time.Second
			}
		}
		cat.Systems[name] = def
		cat.systemsSorted = append(cat.systemsSorted, name)
	}
}

// DefaultCalloutRetry applies to callouts and actions that set no policy:
// three retries with exponential backoff from 2s.
var DefaultCalloutRetry = RetryPolicy{Max: 3, Policy: RetryExponential, Backoff: 2 * time.Second, MaxBackoff: 5 * time.Minute}

func (c *compiler) retry(path string, r *RetryDoc, def RetryPolicy) RetryPolicy {
	if r == nil {
		return def
	}
	// A block that names a policy (or writes a backoff or a schedule) takes
	// only what it writes; a block with only max or maxBackoff keeps the
	// inherited policy and changes just that.
	p := def
	if r.Policy != "" || r.Backoff.Set() || r.Schedule != nil {
		p = RetryPolicy{Max: def.Max}
	}
	if r.Max != nil {
		if *r.Max < 0 {
			c.problem(path+".max", "max must be 0 (no retries) or more")
		}
		p.Max = *r.Max
	}
	if r.Backoff.Set() {
		p.Backoff = c.duration(path+".backoff", r.Backoff)
	}
	if r.MaxBackoff.Set() {
		p.MaxBackoff = c.duration(path+".maxBackoff", r.MaxBackoff)
	}
	for i, d := range r.Schedule {
		p.Schedule = append(p.Schedule, c.duration(fmt.Sprintf("%s.schedule[%d]", path, i), d))
	}
	switch pol := RetryPolicyKind(strings.ToUpper(r.Policy)); pol {
	case "":
		switch {
		case r.Schedule != nil:
			p.Policy = RetrySchedule
		case r.Backoff.Set() && p.Backoff > 0:
			p.Policy = RetryFixed
		case r.Backoff.Set():
			p.Policy = RetryImmediate
		}
	case RetryImmediate, RetryFixed, RetryExponential, RetrySchedule:
		p.Policy = pol
	default:
		c.problem(path+".policy", "unknown retry policy %q (IMMEDIATE, FIXED, EXPONENTIAL or SCHEDULE)", r.Policy)
	}
	if p.Policy == RetrySchedule && len(p.Schedule) == 0 {
		c.problem(path+".schedule", "a SCHEDULE policy needs a schedule, e.g. [10s, 1h, 24h]")
	}
	if (p.Policy == RetryFixed || p.Policy == RetryExponential) && p.Backoff == 0 {
		c.problem(path+".backoff", "%s policy needs a backoff duration", article(string(p.Policy)))
	}
	if p.Policy == RetryExponential && p.MaxBackoff == 0 {
		p.MaxBackoff = 5 * time.Minute
	}
	return p
}

func (c *compiler) products(cat *Catalog) {
	duplicate := map[int]bool{}
	for i, p := range c.doc.Products {
		path := fmt.Sprintf("products[%d]", i)
		if p == nil {
			c.problem(path, "empty product")
			continue
		}
		if !c.name(path+".code", "product", p.Code) {
			continue
		}
		if _, dup := cat.Products[p.Code]; dup {
			c.problem(path+".code", "duplicate product code %q", p.Code)
			duplicate[i] = true
			continue
		}
		def := &ProductDef{Code: p.Code, Name: p.Name, Attributes: p.Attributes}
		switch strings.ToUpper(p.Type) {
		case "COMMERCIAL", "":
		case "TECHNICAL":
			def.Technical = true
		default:
			c.problem(path+".type", "unknown product type %q (COMMERCIAL or TECHNICAL)", p.Type)
		}
		cat.Products[p.Code] = def
	}
	// Components, once every product is known.
	for i, p := range c.doc.Products {
		if p == nil || duplicate[i] {
			continue
		}
		def := cat.Products[p.Code]
		if def == nil {
			continue
		}
		for j, comp := range p.Components {
			path := fmt.Sprintf("products[%d].components[%d]", i, j)
			if comp == nil {
				c.problem(path, "empty component")
				continue
			}
			target, ok := cat.Products[comp.Product]
			switch {
			case comp.Product == "":
				c.problem(path+".product", "component needs a product")
				continue
			case !ok:
				c.problem(path+".product", "unknown product %q", comp.Product)
				continue
			case target.Technical:
				c.problem(path+".product", "component %q is TECHNICAL: bundles hold commercial products; decomposition rules create technical ones", comp.Product)
			case def.Technical:
				c.problem(path, "TECHNICAL product %q cannot have components", p.Code)
			}
			q := comp.Quantity
			if q == 0 {
				q = 1
			}
			if q < 0 {
				c.problem(path+".quantity", "quantity must be 1 or more")
			}
			def.Components = append(def.Components, Component{Product: comp.Product, Quantity: q})
		}
	}
	// Bundles must not contain themselves; report each cycle once.
	reported := map[string]bool{}
	acyclic := map[string]bool{}
	for _, code := range slices.Sorted(maps.Keys(cat.Products)) {
		cyc := componentCycle(cat.Products, code, nil, acyclic)
		if cyc == nil {
			continue
		}
		members := slices.Clone(cyc[:len(cyc)-1])
		slices.Sort(members)
		if key := strings.Join(members, "\x00"); !reported[key] {
			reported[key] = true
			c.problem("products", "bundle cycle: %s", strings.Join(cyc, " → "))
		}
	}
	if len(reported) > 0 {
		return
	}
	// A line of a bundle expands into a line per component, recursively:
	// a bundle that always expands to more lines than an order may have
	// can never be ordered, and would make each order of it build them.
	lines := map[string]int{}
	for i, p := range c.doc.Products {
		if p == nil || duplicate[i] || cat.Products[p.Code] == nil {
			continue
		}
		if n := expansionLines(cat.Products, p.Code, c.opts.Limits.OrderLines, lines); n > c.opts.Limits.OrderLines {
			c.problem(fmt.Sprintf("products[%d]", i), "bundle %q expands to more than %d order lines (OrderLines)", p.Code, c.opts.Limits.OrderLines)
		}
	}
}

// componentCycle returns a cycle of bundles through code, or nil. acyclic
// remembers the products from which no cycle is reachable, so that every
// product is explored once (bundles sharing components would otherwise be
// walked once per path, and paths multiply with every level).
func componentCycle(products map[string]*ProductDef, code string, path []string, acyclic map[string]bool) []string {
	if acyclic[code] {
		return nil
	}
	for i, p := range path {
		if p == code {
			return append(slices.Clone(path[i:]), code)
		}
	}
	path = append(path, code)
	for _, comp := range products[code].Components {
		if _, ok := products[comp.Product]; !ok {
			continue
		}
		if cyc := componentCycle(products, comp.Product, path, acyclic); cyc != nil {
			return cyc
		}
	}
	acyclic[code] = true
	return nil
}

// expansionLines counts the order lines one line of code expands into
// (itself and its components', recursively), stopping above limit; memo
// keeps each product's count. The components have no cycle.
func expansionLines(products map[string]*ProductDef, code string, limit int, memo map[string]int) int {
	if n, ok := memo[code]; ok {
		return n
	}
	n := 1
	for _, comp := range products[code].Components {
		if _, ok := products[comp.Product]; !ok {
			continue
		}
		n += expansionLines(products, comp.Product, limit, memo)
		if n > limit {
			n = limit + 1
			break
		}
	}
	memo[code] = n
	return n
}

func (c *compiler) assignments(path string, m map[string]string, env any) []Assignment {
	var out []Assignment
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k == "" {
			c.problem(path, "empty attribute name")
			continue
		}
		out = append(out, Assignment{Name: k, Expr: c.expr(path+"."+k, m[k], env, anyValue)})
	}
	return out
}

func (c *compiler) enrichment(cat *Catalog) {
	seen := map[string]bool{}
	for i, e := range c.doc.Enrichment {
		path := fmt.Sprintf("enrichment[%d]", i)
		if e == nil {
			c.problem(path, "empty enrichment rule")
			continue
		}
		c.uniqueName(path+".name", "enrichment rule", e.Name, seen, "")
		r := &EnrichmentRule{Name: e.Name, Product: e.Product}
		var env any = OrderEnv{}
		switch strings.ToUpper(e.Scope) {
		case "", "ORDER":
			if e.Product != "" {
				c.problem(path+".product", "product filters LINE-scoped enrichment only")
			}
		case "LINE":
			r.Lines = true
			env = LineEnv{}
			if e.Product != "" {
				if _, ok := cat.Products[e.Product]; !ok {
					c.problem(path+".product", "unknown product %q", e.Product)
				}
			}
		default:
			c.problem(path+".scope", "unknown enrichment scope %q (ORDER or LINE)", e.Scope)
		}
		r.When = c.expr(path+".when", e.When, env, boolValue)
		if len(e.Set) == 0 {
			c.problem(path+".set", "enrichment rule sets nothing")
		}
		r.Set = c.assignments(path+".set", e.Set, env)
		cat.Enrichments = append(cat.Enrichments, r)
	}
}

func (c *compiler) decomposition(cat *Catalog) {
	seen := map[string]bool{}
	for i, d := range c.doc.Decomposition {
		path := fmt.Sprintf("decomposition[%d]", i)
		if d == nil {
			c.problem(path, "empty decomposition rule")
			continue
		}
		c.uniqueName(path+".name", "decomposition rule", d.Name, seen, "")
		r := &DecompositionRule{Name: d.Name, From: d.From, To: d.To, Requires: d.Requires}
		if from, ok := cat.Products[d.From]; !ok {
			c.problem(path+".from", "unknown product %q", d.From)
		} else if from.Technical {
			c.problem(path+".from", "product %q is TECHNICAL: rules decompose commercial products", d.From)
		}
		if to, ok := cat.Products[d.To]; !ok {
			c.problem(path+".to", "unknown product %q", d.To)
		} else if !to.Technical {
			c.problem(path+".to", "product %q is COMMERCIAL: rules create technical products", d.To)
		}
		switch engine.DecompositionScope(strings.ToUpper(d.Scope)) {
		case "", engine.DecomposeLine:
			r.Scope = engine.DecomposeLine
		case engine.DecomposeBundle:
			r.Scope = engine.DecomposeBundle
		case engine.DecomposeAccount:
			r.Scope = engine.DecomposeAccount
		default:
			c.problem(path+".scope", "unknown decomposition scope %q (LINE, BUNDLE or ACCOUNT)", d.Scope)
		}
		r.When = c.expr(path+".when", d.When, LineEnv{}, boolValue)
		r.Attributes = c.assignments(path+".attributes", d.Attributes, LineEnv{})
		r.Quantity = c.expr(path+".quantity", d.Quantity, LineEnv{}, intValue)
		for j, req := range d.Requires {
			if req == "" {
				c.problem(fmt.Sprintf("%s.requires[%d]", path, j), "empty attribute name")
			}
		}
		cat.Rules = append(cat.Rules, r)
		cat.RulesByFrom[r.From] = append(cat.RulesByFrom[r.From], r)
	}
}

// stepRef is where a step was defined, for messages.
type stepRef struct {
	def  *StepDef
	path string
}

func (c *compiler) scenarios(cat *Catalog) {
	seen := map[string]bool{}
	steps := map[string]stepRef{}
	for i, s := range c.doc.Scenarios {
		path := fmt.Sprintf("scenarios[%d]", i)
		if s == nil {
			c.problem(path, "empty scenario")
			continue
		}
		c.uniqueName(path+".name", "scenario", s.Name, seen, "")
		sc := &ScenarioDef{Name: s.Name, Type: s.Type, Index: i}
		switch engine.Usage(strings.ToUpper(s.Usage)) {
		case "", engine.UsageSales:
			sc.Usage = engine.UsageSales
			if s.Type != "" {
				c.problem(path+".type", "type selects GENERIC scenarios only")
			}
			if s.Items != "" {
				c.problem(path+".items", "items belong to GENERIC scenarios; SALES scenarios plan over fulfillment lines")
			}
			sc.When = c.expr(path+".when", s.When, OrderEnv{}, boolValue)
			sc.PlanKey = c.expr(path+".planKey", s.PlanKey, OrderEnv{}, anyValue)
		case engine.UsageGeneric:
			if s.PlanKey != "" {
				c.problem(path+".planKey", "planKey belongs to SALES scenarios: it relates orders' plans")
			}
			sc.Usage = engine.UsageGeneric
			sc.When = c.expr(path+".when", s.When, GenericEnv{}, boolValue)
			sc.Items = c.expr(path+".items", s.Items, GenericEnv{}, anyValue)
		default:
			c.problem(path+".usage", "unknown usage %q (SALES or GENERIC)", s.Usage)
			sc.Usage = engine.UsageSales
		}
		if len(s.Groups) == 0 {
			c.problem(path+".groups", "scenario %q has no groups", s.Name)
		}
		groupNames := map[string]bool{}
		for j, g := range s.Groups {
			gpath := fmt.Sprintf("%s.groups[%d]", path, j)
			if g == nil {
				c.problem(gpath, "empty group")
				continue
			}
			c.uniqueName(gpath+".name", "group", g.Name, groupNames, fmt.Sprintf(" in scenario %q", s.Name))
			gd := &GroupDef{Name: g.Name, Scenario: sc}
			if len(g.Steps) == 0 {
				c.problem(gpath+".steps", "group %q has no steps", g.Name)
			}
			for k, st := range g.Steps {
				spath := fmt.Sprintf("%s.steps[%d]", gpath, k)
				def := c.step(cat, spath, st, gd, sc)
				if def == nil {
					continue
				}
				if prev, dup := steps[def.Name]; dup {
					c.problem(spath+".name", "duplicate step name %q (also at %s)", def.Name, prev.path)
					continue
				}
				steps[def.Name] = stepRef{def: def, path: spath}
				gd.Steps = append(gd.Steps, def)
				cat.Steps[def.Name] = def
				cat.stepsInOrder = append(cat.stepsInOrder, def)
				if st.Compensate != nil {
					def.Compensation = c.revisionStep(cat, spath+".compensate", st.Compensate, gd, sc, RoleCompensation, def, steps)
				}
			}
			sc.Groups = append(sc.Groups, gd)
		}
		for _, part := range []struct {
			key, group, role string
			docs             []*StepDoc
			into             *[]*StepDef
		}{{"onAmend", "On amend", RoleOnAmend, s.OnAmend, &sc.OnAmend}, {"onCancel", "On cancel", RoleOnCancel, s.OnCancel, &sc.OnCancel}} {
			if len(part.docs) > 0 && sc.Usage != engine.UsageSales {
				c.problem(path+"."+part.key, "%s belongs to SALES scenarios: only orders are amended and cancelled", part.key)
				continue
			}
			gd := &GroupDef{Name: part.group, Scenario: sc}
			for k, st := range part.docs {
				if def := c.revisionStep(cat, fmt.Sprintf("%s.%s[%d]", path, part.key, k), st, gd, sc, part.role, nil, steps); def != nil {
					*part.into = append(*part.into, def)
				}
			}
		}
		cat.Scenarios = append(cat.Scenarios, sc)
	}
	// Dependencies, once every step is known (they may name steps of other
	// scenarios that join the same plan).
	for i, s := range c.doc.Scenarios {
		if s == nil || i >= len(cat.Scenarios) {
			continue
		}
		sc := cat.Scenarios[i]
		for j, d := range s.Dependencies {
			path := fmt.Sprintf("scenarios[%d].dependencies[%d]", i, j)
			if dep := c.dependency(path, d, sc, steps); dep != nil {
				sc.Dependencies = append(sc.Dependencies, dep)
			}
		}
	}
	c.cycles(cat)
}

// revisionStep compiles a step that only revisions create: the
// compensation of step of (of its scope and product), or a PLAN step of a
// scenario's onAmend / onCancel group. It is known by name like every step
// but belongs to no group of the plan.
func (c *compiler) revisionStep(cat *Catalog, path string, st *StepDoc, g *GroupDef, sc *ScenarioDef, role string, of *StepDef, steps map[string]stepRef) *StepDef {
	if st == nil {
		c.problem(path, "empty step")
		return nil
	}
	if st.Compensate != nil {
		c.problem(path+".compensate", "%s step has no compensation of its own",
			map[string]string{RoleCompensation: "a compensation", RoleOnAmend: "an onAmend", RoleOnCancel: "an onCancel"}[role])
	}
	doc := *st
	doc.Compensate = nil
	if of != nil {
		if doc.Scope != "" && !strings.EqualFold(doc.Scope, string(of.Scope)) {
			c.problem(path+".scope", "a compensation runs at the scope of the step it undoes (%s), not %s", of.Scope, doc.Scope)
		}
		if doc.Product != "" && doc.Product != of.Product {
			c.problem(path+".product", "a compensation runs for the product of the step it undoes (%q), not %q", of.Product, doc.Product)
		}
		doc.Scope, doc.Product = string(of.Scope), of.Product
	} else if doc.Scope != "" && !strings.EqualFold(doc.Scope, string(engine.ScopePlan)) {
		c.problem(path+".scope", "onAmend and onCancel steps are PLAN steps, not %s", doc.Scope)
	}
	if doc.PointOfNoReturn {
		c.problem(path+".pointOfNoReturn", "a step that only revisions create has no point of no return")
	}
	def := c.step(cat, path, &doc, g, sc)
	if def == nil {
		return nil
	}
	if prev, dup := steps[def.Name]; dup {
		c.problem(path+".name", "duplicate step name %q (also at %s)", def.Name, prev.path)
		return nil
	}
	def.Role, def.Compensates = role, of
	steps[def.Name] = stepRef{def: def, path: path}
	cat.Steps[def.Name] = def
	return def
}

func (c *compiler) step(cat *Catalog, path string, st *StepDoc, g *GroupDef, sc *ScenarioDef) *StepDef {
	if st == nil {
		c.problem(path, "empty step")
		return nil
	}
	if !c.name(path+".name", "step", st.Name) {
		return nil
	}
	def := &StepDef{Name: st.Name, Group: g, Scenario: sc, Product: st.Product, PointOfNoReturn: st.PointOfNoReturn}
	def.Type = engine.StepType(strings.ToUpper(st.Type))
	if !slices.Contains(engine.StepTypes, def.Type) {
		c.problem(path+".type", "unknown step type %q (CALLOUT, AUTO_TASK, MANUAL_TASK, MILESTONE or PAUSE)", st.Type)
	}
	def.Scope = engine.Scope(strings.ToUpper(st.Scope))
	if def.Scope == "" {
		def.Scope = engine.ScopePlan
	}
	if !slices.Contains(engine.StepScopes, def.Scope) {
		c.problem(path+".scope", "unknown step scope %q (PLAN, BUNDLE, ITEM or ACCOUNT)", st.Scope)
	}
	if sc.Usage == engine.UsageGeneric && def.Scope != engine.ScopePlan && def.Scope != engine.ScopeItem {
		c.problem(path+".scope", "GENERIC scenarios use PLAN or ITEM steps, not %s", def.Scope)
	}
	switch def.Scope {
	case engine.ScopeItem, engine.ScopeBundle:
		switch p, ok := cat.Products[st.Product]; {
		case sc.Usage == engine.UsageGeneric && st.Product == "":
			// a generic ITEM step runs for every item of the context
		case st.Product == "":
			c.problem(path+".product", "%s step %q needs a technical product", def.Scope, st.Name)
		case !ok:
			c.problem(path+".product", "unknown product %q", st.Product)
		case !p.Technical && sc.Usage == engine.UsageSales:
			c.problem(path+".product", "product %q is COMMERCIAL: %s steps run per technical product", st.Product, def.Scope)
		}
	default:
		if st.Product != "" {
			c.problem(path+".product", "product applies to ITEM and BUNDLE steps, not %s", def.Scope)
		}
	}
	env, respEnv := stepEnvs(sc.Usage, def.Scope)
	def.When = c.expr(path+".when", st.When, env, boolValue)
	def.StartAt = c.expr(path+".startAt", st.StartAt, env, anyValue)
	def.EstimatedDuration = c.duration(path+".estimatedDuration", st.EstimatedDuration)
	def.JeopardyThreshold = c.duration(path+".jeopardyThreshold", st.JeopardyThreshold)
	if st.JeopardyThreshold.Set() && !st.EstimatedDuration.Set() {
		c.problem(path+".jeopardyThreshold", "a jeopardy threshold needs an estimatedDuration")
	} else if def.JeopardyThreshold > def.EstimatedDuration {
		c.problem(path+".jeopardyThreshold", "threshold %s is longer than the estimated duration %s", st.JeopardyThreshold.Text, st.EstimatedDuration.Text)
	}
	def.Retry = DefaultCalloutRetry
	// Which configuration block the type needs, and none of the others.
	blocks := map[string]bool{"callout": st.Callout != nil, "auto": st.Auto != nil, "task": st.Task != nil, "pause": st.Pause != nil}
	want := map[engine.StepType]string{engine.Callout: "callout", engine.AutoTask: "auto", engine.ManualTask: "task", engine.Pause: "pause"}[def.Type]
	for _, b := range []string{"callout", "auto", "task", "pause"} {
		if blocks[b] && b != want {
			c.problem(path+"."+b, "%s step takes no %s block", article(string(def.Type)), b)
		}
	}
	if want != "" && !blocks[want] {
		c.problem(path+"."+want, "%s step needs %s block", article(string(def.Type)), article(want))
	}
	switch def.Type {
	case engine.Callout:
		if st.Callout != nil {
			def.Callout = c.callout(cat, path+".callout", st.Callout, env, respEnv, def.Scope == engine.ScopeItem)
			if def.Callout.System != nil {
				def.Retry = def.Callout.System.Retry
			}
		}
	case engine.AutoTask:
		if st.Auto != nil {
			a := &AutoDef{Action: st.Auto.Action}
			switch {
			case a.Action == "":
				c.problem(path+".auto.action", "auto task needs an action")
			case c.opts.Actions != nil && !slices.Contains(c.opts.Actions, a.Action):
				c.problem(path+".auto.action", "unknown action %q (registered: %s)", a.Action, strings.Join(c.opts.Actions, ", "))
			}
			a.Params = c.assignments(path+".auto.params", st.Auto.Params, env)
			def.Auto = a
		}
	case engine.ManualTask:
		if st.Task != nil {
			hasItem := def.Scope == engine.ScopeItem
			def.Task = c.task(path+".task", st.Task, env, &hasItem)
		}
	case engine.Pause:
		if st.Pause != nil {
			p := &PauseDef{Until: st.Pause.Until, For: c.duration(path+".pause.for", st.Pause.For)}
			if p.Until == "" && p.For == 0 {
				c.problem(path+".pause", "a pause needs `until` (a signal) or `for` (a duration)")
			}
			def.Pause = p
		}
	}
	if st.Retry != nil {
		if def.Type != engine.Callout && def.Type != engine.AutoTask {
			c.problem(path+".retry", "only CALLOUT and AUTO_TASK steps retry")
		}
		def.Retry = c.retry(path+".retry", st.Retry, def.Retry)
	}
	return def
}

func (c *compiler) callout(cat *Catalog, path string, d *CalloutDoc, env, respEnv checkedEnv, hasItem bool) *CalloutDef {
	co := &CalloutDef{Method: strings.ToUpper(d.Method), Path: d.Path}
	if co.Method == "" {
		co.Method = "POST"
	}
	switch co.Method {
	case "GET", "POST", "PUT", "PATCH", "DELETE":
	default:
		c.problem(path+".method", "unsupported method %q", d.Method)
	}
	if d.System == "" {
		c.problem(path+".system", "callout needs a system")
	} else if sys, ok := cat.Systems[d.System]; !ok {
		c.problem(path+".system", "unknown system %q (defined: %s)", d.System, strings.Join(slices.Sorted(maps.Keys(cat.Systems)), ", "))
	} else {
		co.System = sys
		co.Timeout = sys.Timeout
	}
	if strings.HasPrefix(d.Path, "=") {
		co.PathX = c.expr(path+".path", strings.TrimPrefix(d.Path, "="), env, anyValue)
	} else if d.Path != "" && !strings.HasPrefix(d.Path, "/") {
		c.problem(path+".path", "path %q must start with / (or = for an expression)", d.Path)
	}
	co.Body = c.expr(path+".body", d.Body, env, anyValue)
	co.Headers = c.assignments(path+".headers", d.Headers, env)
	if t := c.duration(path+".timeout", d.Timeout); t > 0 {
		co.Timeout = t
	}
	co.Set = c.setMappings(path+".set", c.assignments(path+".set", d.Set, respEnv), &hasItem)
	return co
}

// setMappings reads the targets of `set` keys: order.x, item.x (only
// where the step has an item, when hasItem is given) or a plain x.
func (c *compiler) setMappings(path string, as []Assignment, hasItem *bool) []Assignment {
	var out []Assignment
	for _, a := range as {
		switch {
		case strings.HasPrefix(a.Name, "order."):
			a.Target, a.Name = "order", strings.TrimPrefix(a.Name, "order.")
		case strings.HasPrefix(a.Name, "item."):
			a.Target, a.Name = "item", strings.TrimPrefix(a.Name, "item.")
			if hasItem != nil && !*hasItem {
				c.problem(path, "set key %q: only ITEM steps have an item to write to", "item."+a.Name)
			}
		}
		if a.Name == "" || strings.Contains(a.Name, ".") {
			c.problem(path, "set key %q: use attr, order.attr or item.attr", a.Name)
		}
		out = append(out, a)
	}
	return out
}

func (c *compiler) dependency(path string, d *DependencyDoc, sc *ScenarioDef, steps map[string]stepRef) *DependencyDef {
	if d == nil {
		c.problem(path, "empty dependency")
		return nil
	}
	dep := &DependencyDef{Scope: engine.Scope(strings.ToUpper(d.Scope))}
	if dep.Scope == "" {
		dep.Scope = engine.ScopePlan
	}
	switch dep.Scope {
	case engine.ScopePlan, engine.ScopeItem:
	case engine.ScopeCrossPlan:
		switch {
		case sc.Usage == engine.UsageGeneric:
			c.problem(path+".scope", "CROSS_PLAN dependencies relate orders: GENERIC scenarios have none")
		case !sc.PlanKey.Present():
			c.problem(path+".scope", "a CROSS_PLAN dependency needs the scenario's planKey (which orders' plans it relates)")
		}
	case engine.ScopeBundle:
		if sc.Usage == engine.UsageGeneric {
			c.problem(path+".scope", "GENERIC scenarios use PLAN or ITEM dependencies, not BUNDLE")
		}
	case engine.ScopeAccount:
		c.problem(path+".scope", "dependency scope ACCOUNT does not exist (PLAN, BUNDLE or ITEM)")
	default:
		c.problem(path+".scope", "unknown dependency scope %q (PLAN, BUNDLE, ITEM or CROSS_PLAN)", d.Scope)
	}
	ref, ok := steps[d.Step]
	switch {
	case d.Step == "":
		c.problem(path+".step", "dependency needs a step")
	case !ok:
		c.problem(path+".step", "unknown step %q", d.Step)
	case ref.def.Role != "":
		c.problem(path+".step", "step %q runs only when a revision creates it (%s); dependencies are between the plan's steps", d.Step, ref.def.Role)
	default:
		dep.Step = ref.def
	}
	if len(d.After) == 0 {
		c.problem(path+".after", "dependency needs at least one step in after")
	}
	for i, name := range d.After {
		apath := fmt.Sprintf("%s.after[%d]", path, i)
		if len(d.After) == 1 {
			apath = path + ".after"
		}
		pre, ok := steps[name]
		if !ok {
			c.problem(apath, "unknown step %q", name)
			continue
		}
		if pre.def.Role != "" {
			c.problem(apath, "step %q runs only when a revision creates it (%s); dependencies are between the plan's steps", name, pre.def.Role)
			continue
		}
		dep.After = append(dep.After, pre.def)
		if dep.Step == nil {
			continue
		}
		a, b := dep.Step, pre.def
		if a.Scenario.Usage != b.Scenario.Usage {
			c.problem(apath, "%s (%s) cannot depend on %s (%s): SALES and GENERIC steps never share a plan", a.Name, a.Scenario.Usage, b.Name, b.Scenario.Usage)
		}
		switch dep.Scope {
		case engine.ScopeItem:
			if a.Scope != engine.ScopeItem || b.Scope != engine.ScopeItem {
				c.problem(path+".scope", "an ITEM dependency pairs instances for the same item: %s and %s must both be ITEM steps", a.Name, b.Name)
			} else if a.Product != b.Product {
				c.problem(path+".scope", "an ITEM dependency pairs instances for the same item: %s (%s) and %s (%s) run on different products; use BUNDLE or PLAN", a.Name, a.Product, b.Name, b.Product)
			}
		case engine.ScopeBundle:
			for _, s := range []*StepDef{a, b} {
				if s.Scope != engine.ScopeBundle && s.Scope != engine.ScopeItem {
					c.problem(path+".scope", "a BUNDLE dependency pairs instances of the same bundle: %s is a %s step", s.Name, s.Scope)
				}
			}
		}
	}
	return dep
}

// cycles reports every dependency cycle, naming its steps.
func (c *compiler) cycles(cat *Catalog) {
	edges := map[string][]string{} // step -> prerequisites
	cross := map[string][]string{}
	for _, sc := range cat.Scenarios {
		for _, d := range sc.Dependencies {
			if d.Step == nil {
				continue
			}
			for _, a := range d.After {
				if d.Scope == engine.ScopeCrossPlan {
					cross[d.Step.Name] = append(cross[d.Step.Name], a.Name)
					continue
				}
				edges[d.Step.Name] = append(edges[d.Step.Name], a.Name)
			}
		}
	}
	// Across plans a step may wait for the same step of earlier orders
	// (X after X), but two steps may not wait for each other: the orders
	// would wait for each other's.
	for _, comp := range stronglyConnected(cat.stepsInOrder, cross) {
		if len(comp) > 1 {
			c.problem("dependencies", "CROSS_PLAN dependencies link steps both ways: %s", strings.Join(cyclePath(comp, cross), " → "))
		}
	}
	for _, comp := range stronglyConnected(cat.stepsInOrder, edges) {
		if len(comp) == 1 && !slices.Contains(edges[comp[0]], comp[0]) {
			continue
		}
		cyc := cyclePath(comp, edges)
		c.problem("dependencies", "dependency cycle: %s", strings.Join(cyc, " → "))
	}
}

// stronglyConnected is Tarjan's algorithm over step names, in document order.
func stronglyConnected(steps []*StepDef, edges map[string][]string) [][]string {
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var out [][]string
	n := 0
	var visit func(v string)
	visit = func(v string) {
		index[v], low[v] = n, n
		n++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range edges[v] {
			if _, seen := index[w]; !seen {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []string
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			slices.Reverse(comp)
			out = append(out, comp)
		}
	}
	for _, s := range steps {
		if _, seen := index[s.Name]; !seen {
			visit(s.Name)
		}
	}
	return out
}

// cyclePath finds one cycle through the component's first step, for the
// message: A → B → C → A.
func cyclePath(comp []string, edges map[string][]string) []string {
	in := map[string]bool{}
	for _, s := range comp {
		in[s] = true
	}
	start := comp[0]
	seen := map[string]bool{}
	var path []string
	var dfs func(v string) bool
	dfs = func(v string) bool {
		path = append(path, v)
		seen[v] = true
		for _, w := range edges[v] {
			if w == start {
				path = append(path, start)
				return true
			}
			if in[w] && !seen[w] && dfs(w) {
				return true
			}
		}
		path = path[:len(path)-1]
		return false
	}
	dfs(start)
	// edges point at prerequisites; show the order of execution.
	slices.Reverse(path)
	return path
}
