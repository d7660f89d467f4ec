package access

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/batonhq/baton/engine"
)

func code(err error) engine.Code {
	var e *engine.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestRequire(t *testing.T) {
	t.Parallel()
	pol := DefaultPolicy()
	cust := pol.Principal(Principal{Name: "ann", Roles: []string{Customer}, Accounts: []string{"ACME"}})
	ctx := With(context.Background(), cust)
	tests := []struct {
		perm Permission
		want engine.Code
	}{
		{OrderSubmit, ""},
		{OrderRead, ""},
		{CatalogImport, engine.CodeForbidden},
		{FalloutRetry, engine.CodeForbidden},
	}
	for _, tt := range tests {
		if got := code(Require(ctx, tt.perm)); got != tt.want {
			t.Errorf("customer Require(%s) = %q; want %q", tt.perm, got, tt.want)
		}
	}
	err := Require(ctx, CatalogImport)
	if !strings.Contains(err.Error(), "catalog:import") {
		t.Errorf("FORBIDDEN %q does not name the permission", err)
	}
	if got := code(RequireAccount(ctx, OrderCancel, "GLOBEX", "order 7")); got != engine.CodeNotFound {
		t.Errorf("another account's order: %q; want NOT_FOUND (never FORBIDDEN)", got)
	}
	if got := code(RequireAccount(ctx, CatalogImport, "ACME", "order 7")); got != engine.CodeForbidden {
		t.Errorf("own account, missing permission: %q; want FORBIDDEN", got)
	}
	if err := Require(context.Background(), KeyManage); err != nil {
		t.Errorf("no principal is the system: %v", err)
	}
	open := With(context.Background(), Open(""))
	if From(open).Name != "anonymous" || Require(open, KeyManage) != nil || From(open).Scoped() {
		t.Errorf("open principal = %+v; want anonymous with every permission", From(open))
	}
	all := pol.All(Principal{Name: "ops", Method: MethodToken, Accounts: []string{"X"}})
	if !all.Can(KeyManage) || all.Scoped() || len(all.Roles) != len(DefaultRoles) {
		t.Errorf("All = %+v; want every role and permission, no account limit", all)
	}
}

func TestQueues(t *testing.T) {
	t.Parallel()
	pol := DefaultPolicy()
	agent := pol.Principal(Principal{Name: "fa", Roles: []string{FulfillmentAgent}, Queues: []string{"install"}})
	mgr := pol.Principal(Principal{Name: "fm", Roles: []string{FulfillmentManager}})
	cust := pol.Principal(Principal{Name: "c", Roles: []string{Customer}, Queues: []string{"install"}})
	for _, tt := range []struct {
		p     *Principal
		queue string
		want  bool
	}{
		{agent, "install", true}, {agent, "credit", false}, {mgr, "credit", true}, {cust, "install", false},
	} {
		if got := tt.p.WorksQueue(tt.queue); got != tt.want {
			t.Errorf("%s.WorksQueue(%q) = %v; want %v", tt.p.Name, tt.queue, got, tt.want)
		}
	}
}

func TestLoadPolicy(t *testing.T) {
	t.Parallel()
	p, err := LoadPolicy([]byte("roles:\n  CUSTOMER: {permissions: [order:read]}\n  AUDITOR: {description: reads, permissions: [audit:read]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := p.Role(Customer); len(r.Permissions) != 1 {
		t.Errorf("CUSTOMER = %+v; want replaced by the file", r)
	}
	if _, ok := p.Role("AUDITOR"); !ok || len(p.Roles()) != len(DefaultRoles)+1 {
		t.Errorf("AUDITOR not added: %v", p.Roles())
	}
	if u := p.CheckRoles([]string{"AUDITOR", "NOPE"}); len(u) != 1 || u[0] != "NOPE" {
		t.Errorf("CheckRoles = %v; want [NOPE]", u)
	}
	for _, bad := range []string{
		"roles:\n  X: {permissions: [order:fly]}\n",
		"roles:\n  lower: {permissions: []}\n",
		"roles:\n  X: {perms: []}\n",
		"- not a map\n",
	} {
		if _, err := LoadPolicy([]byte(bad)); err == nil {
			t.Errorf("LoadPolicy(%q) = nil error", bad)
		}
	}
	for _, r := range DefaultRoles {
		for _, perm := range r.Permissions {
			if !Known(perm) {
				t.Errorf("default role %s grants unknown %q", r.Name, perm)
			}
		}
	}
}
