package access

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The default roles: the nine people of an order's life (ServiceNow Order
// Management's personas) and SERVICE for integrators' systems.
const (
	Customer           = "CUSTOMER"
	OrderAgent         = "ORDER_AGENT"
	FulfillmentAgent   = "FULFILLMENT_AGENT"
	OrderManager       = "ORDER_MANAGER"
	OrderApprover      = "ORDER_APPROVER"
	FulfillmentManager = "FULFILLMENT_MANAGER"
	FalloutAgent       = "FALLOUT_AGENT"
	FalloutManager     = "FALLOUT_MANAGER"
	ProcessAdmin       = "PROCESS_ADMIN"
	Service            = "SERVICE"
)

// Role is a named set of permissions.
type Role struct {
	Name        string
	Description string
	Permissions []Permission
}

// DefaultRoles is the role table the README shows, in its order.
var DefaultRoles = []Role{
	{Customer, "a customer's own people: submit, follow, change and cancel the account's orders",
		[]Permission{OrderRead, OrderSubmit, OrderAmend, OrderCancel}},
	{OrderAgent, "takes orders for customers: submit, enrich, change and cancel",
		[]Permission{CatalogRead, OrderRead, OrderSubmit, OrderEnrich, OrderAmend, OrderCancel}},
	{FulfillmentAgent, "does the manual tasks of the queues it is a member of",
		[]Permission{CatalogRead, OrderRead, TaskWork}},
	{OrderManager, "runs order intake: what an order agent does, plus signals and the audit log",
		[]Permission{CatalogRead, OrderRead, OrderSubmit, OrderEnrich, OrderAmend, OrderCancel, OrderSignal, AuditRead}},
	{OrderApprover, "approves or rejects orders that wait for approval",
		[]Permission{CatalogRead, OrderRead, OrderApprove}},
	{FulfillmentManager, "reviews and approves orders before fulfillment, assigns and works every queue's tasks",
		[]Permission{CatalogRead, OrderRead, OrderApprove, OrderSignal, TaskWork, TaskManage, AuditRead}},
	{FalloutAgent, "works the fallout queue: retries and resumes steps",
		[]Permission{CatalogRead, OrderRead, FalloutRetry}},
	{FalloutManager, "what a fallout agent does, plus completing or skipping steps by hand and integration holds",
		[]Permission{CatalogRead, OrderRead, FalloutRetry, FalloutResolve, SystemManage, AuditRead}},
	{ProcessAdmin, "designs the processes and runs the server: catalogs, systems, generic orchestrations, keys, the audit log",
		[]Permission{CatalogRead, CatalogImport, OrderRead, OrchestrationStart, SystemManage, AuditRead, KeyManage}},
	{Service, "an integrator's system: submits and changes orders, answers callouts, signals",
		[]Permission{CatalogRead, OrderRead, OrderSubmit, OrderEnrich, OrderAmend, OrderCancel, OrderSignal,
			OrchestrationStart, CalloutRespond}},
}

// Policy maps role names to permissions. The zero Policy is not usable:
// use DefaultPolicy or LoadPolicy.
type Policy struct {
	roles map[string]Role
	order []string
}

// DefaultPolicy is the policy of DefaultRoles.
func DefaultPolicy() *Policy {
	p := &Policy{roles: map[string]Role{}}
	for _, r := range DefaultRoles {
		p.add(r)
	}
	return p
}

func (p *Policy) add(r Role) {
	if _, ok := p.roles[r.Name]; !ok {
		p.order = append(p.order, r.Name)
	}
	p.roles[r.Name] = r
}

var roleName = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// roleFile is the role file's shape.
type roleFile struct {
	Roles map[string]struct {
		Description string       `yaml:"description"`
		Permissions []Permission `yaml:"permissions"`
	} `yaml:"roles"`
}

// LoadPolicy reads a role file over the defaults: a role it names
// replaces the default of that name (its permissions exactly), a new name
// adds a role. Every problem is reported at once; an unknown permission
// or a malformed name is one.
//
//	roles:
//	  CUSTOMER: {permissions: [order:read, order:submit]}
//	  AUDITOR:  {description: reads the audit log, permissions: [audit:read, order:read]}
func LoadPolicy(doc []byte) (*Policy, error) {
	var f roleFile
	dec := yaml.NewDecoder(strings.NewReader(string(doc)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("role file: %w", err)
	}
	p := DefaultPolicy()
	var problems []string
	names := make([]string, 0, len(f.Roles))
	for n := range f.Roles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := f.Roles[n]
		if !roleName.MatchString(n) {
			problems = append(problems, fmt.Sprintf("roles.%s: a role name is upper case letters, digits and _", n))
		}
		for i, perm := range r.Permissions {
			if !Known(perm) {
				problems = append(problems, fmt.Sprintf("roles.%s.permissions[%d]: unknown permission %q", n, i, perm))
			}
		}
		p.add(Role{Name: n, Description: r.Description, Permissions: slices.Clone(r.Permissions)})
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("role file: %s", strings.Join(problems, "; "))
	}
	return p, nil
}

// Roles lists the policy's roles: the defaults in table order, then the
// added ones.
func (p *Policy) Roles() []Role {
	out := make([]Role, 0, len(p.order))
	for _, n := range p.order {
		out = append(out, p.roles[n])
	}
	return out
}

// Role returns a role by name.
func (p *Policy) Role(name string) (Role, bool) {
	r, ok := p.roles[name]
	return r, ok
}

// CheckRoles returns the names among roles that are no role of the policy.
func (p *Policy) CheckRoles(roles []string) (unknown []string) {
	for _, r := range roles {
		if _, ok := p.roles[r]; !ok {
			unknown = append(unknown, r)
		}
	}
	return unknown
}

// Principal returns pr with its permissions resolved from its roles;
// names that are no role grant nothing (callers refuse them where a
// person chose them: keys, the token list).
func (p *Policy) Principal(pr Principal) *Principal {
	pr.perms = map[Permission]bool{}
	for _, name := range pr.Roles {
		for _, perm := range p.roles[name].Permissions {
			pr.perms[perm] = true
		}
	}
	pr.all = false
	return &pr
}

// All returns a principal holding every permission on every account (the
// old BATON_API_TOKENS form name:secret): its Roles list every role.
func (p *Policy) All(pr Principal) *Principal {
	pr.Roles = slices.Clone(p.order)
	out := p.Principal(pr)
	out.all = true
	out.Accounts = nil
	return out
}
