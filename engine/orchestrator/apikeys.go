package orchestrator

import (
	"context"
	"fmt"
	"strings"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
)

// Policy is the role table in force.
func (e *Engine) Policy() *access.Policy { return e.policy }

// CreateAPIKey stores a key with these roles, accounts and queues; the
// caller made the secret and passes only its hash (the engine never sees
// a secret). Errors: FORBIDDEN without key:manage; BAD_USER_INPUT for an
// empty or over-long name, no roles, an unknown role, or an empty account
// or queue name.
func (e *Engine) CreateAPIKey(ctx context.Context, k engine.APIKey) (*engine.APIKey, error) {
	if err := access.Require(ctx, access.KeyManage); err != nil {
		return nil, err
	}
	k.Name = strings.TrimSpace(k.Name)
	c := newInputCheck(e.limits).actor(ctx).name("name", k.Name)
	if k.Name == "" {
		c.add("name", "a key needs a name")
	}
	if len(k.Roles) == 0 {
		c.add("roles", "a key needs at least one role")
	}
	for _, r := range e.policy.CheckRoles(k.Roles) {
		c.add("roles", "unknown role %q", r)
	}
	for _, list := range []struct {
		path  string
		names []string
	}{{"roles", k.Roles}, {"accounts", k.Accounts}, {"queues", k.Queues}} {
		for i, n := range list.names {
			p := fmt.Sprintf("%s[%d]", list.path, i)
			if strings.TrimSpace(n) == "" {
				c.add(p, "must not be empty")
			}
			c.name(p, n)
		}
	}
	if len(k.Hash) < 32 {
		c.add("secret", "the key's secret hash is missing")
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	k.CreatedBy = ActorFrom(ctx)
	_, err := e.store.Write(ctx, func(tx engine.Tx) error { return tx.InsertAPIKey(ctx, &k) })
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// RevokeAPIKey revokes a key: from now on it authenticates no one (and a
// subscription opened with it ends when it next checks). Idempotent.
// Errors: FORBIDDEN without key:manage; NOT_FOUND.
func (e *Engine) RevokeAPIKey(ctx context.Context, id int) (*engine.APIKey, error) {
	if err := access.Require(ctx, access.KeyManage); err != nil {
		return nil, err
	}
	var k *engine.APIKey
	_, err := e.store.Write(ctx, func(tx engine.Tx) error {
		var err error
		k, err = tx.RevokeAPIKey(ctx, id, ActorFrom(ctx))
		return err
	})
	return k, err
}

// APIKeyPrincipal returns the principal of the key whose secret hashes to
// hash, or nil for no key or a revoked one (the authenticator's lookup).
func (e *Engine) APIKeyPrincipal(ctx context.Context, hash string) (*access.Principal, error) {
	k, err := e.store.APIKeyByHash(ctx, hash)
	if err != nil || k == nil || k.RevokedAt != nil {
		return nil, err
	}
	return e.policy.Principal(access.Principal{Name: k.Name, Method: access.MethodAPIKey, Roles: k.Roles,
		Accounts: k.Accounts, Queues: k.Queues, KeyID: k.ID}), nil
}
