package graph_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/graph"
	"github.com/batonhq/baton/graph/identity"
	"github.com/batonhq/baton/graph/identity/identitytest"
)

// realAuth is the server's authenticator: bootstrap keys, API keys of
// the engine (set *eng once it exists) and, with an issuer, OIDC.
func realAuth(t *testing.T, tokens string, eng **orchestrator.Engine, is *identitytest.Issuer) graph.Authenticator {
	t.Helper()
	pol := access.DefaultPolicy()
	tk, err := identity.ParseTokens(tokens, pol)
	if err != nil {
		t.Fatal(err)
	}
	a := &identity.Authenticator{Tokens: tk, Keys: func(ctx context.Context, hash string) (*access.Principal, error) {
		return (*eng).APIKeyPrincipal(ctx, hash)
	}}
	if is != nil {
		if a.OIDC, err = identity.NewOIDC(context.Background(), identity.OIDCConfig{Issuer: is.URL(), Audience: identitytest.Audience}, pol); err != nil {
			t.Fatal(err)
		}
	}
	return a.Authenticate
}

// TestAPIKeysOverHTTP: a process admin creates a key limited to an
// account, the key works at once with its roles and account, and stops
// working when revoked; only its hash is stored; an unknown role is
// refused with nothing written.
func TestAPIKeysOverHTTP(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		var eng *orchestrator.Engine
		e := newEnv(t, url, envOptions{catalog: accessCatalog, authenticate: realAuth(t, "root:root-secret-0123456789:PROCESS_ADMIN", &eng, nil)})
		eng = e.eng
		admin := as("root-secret-0123456789")
		var created struct {
			CreateAPIKey struct {
				Secret string
				Key    struct {
					ID, Name, CreatedBy string
					Roles, Accounts     []string
				}
			}
		}
		r := e.postWith(admin, `mutation { createApiKey(name: "shop", roles: ["SERVICE"], accounts: ["ACME"]) { secret key { id name createdBy roles accounts } } }`, nil)
		if err := json.Unmarshal(r.Data, &created); err != nil || len(r.Errors) > 0 {
			t.Fatalf("createApiKey: %s", r.Body)
		}
		k := created.CreateAPIKey
		if !strings.HasPrefix(k.Secret, identity.KeyPrefix) || k.Key.CreatedBy != "root" || k.Key.Accounts[0] != "ACME" {
			t.Fatalf("created %+v", k)
		}
		stored := e.client.APIKey.GetX(e.ctx, atoi(t, k.Key.ID))
		if stored.Hash != identity.HashSecret(k.Secret) || strings.Contains(r.Body, stored.Hash) {
			t.Errorf("stored hash %q; want the secret's SHA-256, not returned", stored.Hash)
		}
		var apiKeys struct{ APIKeys []map[string]any }
		r = e.postWith(admin, `{ apiKeys { id name revokedAt } }`, nil)
		if err := json.Unmarshal(r.Data, &apiKeys); err != nil || len(apiKeys.APIKeys) != 1 || strings.Contains(r.Body, k.Secret) {
			t.Errorf("apiKeys: %s", r.Body)
		}

		shop := as(k.Secret)
		var me struct {
			Me struct {
				Name, Method string
				Accounts     []string
			}
		}
		r = e.postWith(shop, `{ me { name method accounts } }`, nil)
		if err := json.Unmarshal(r.Data, &me); err != nil || me.Me.Name != "shop" || me.Me.Method != "API_KEY" {
			t.Fatalf("me with the key: %s", r.Body)
		}
		if r := e.postWith(shop, `mutation($in: SubmitOrderInput!) { submitOrder(input: $in) { id } }`, map[string]any{"in": srvOrder("k-1", "ACME", nil)}); len(r.Errors) > 0 {
			t.Errorf("the key's submit for its account: %s", errorList(r.Errors))
		}
		expectError(t, e.postWith(shop, `mutation($in: SubmitOrderInput!) { submitOrder(input: $in) { id } }`,
			map[string]any{"in": srvOrder("k-2", "GLOBEX", nil)}), "FORBIDDEN")
		expectError(t, e.postWith(shop, `{ apiKeys { id } }`, nil), "FORBIDDEN")

		r = e.postWith(admin, `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt revokedBy } }`, map[string]any{"id": k.Key.ID})
		if len(r.Errors) > 0 || !strings.Contains(r.Body, `"revokedBy":"root"`) {
			t.Fatalf("revoke: %s", r.Body)
		}
		if r := e.postWith(shop, `{ me { name } }`, nil); r.Status != http.StatusUnauthorized {
			t.Errorf("revoked key: HTTP %d %s; want 401", r.Status, r.Body)
		}

		before := e.client.APIKey.Query().CountX(e.ctx)
		expectError(t, e.postWith(admin, `mutation { createApiKey(name: "x", roles: ["NOPE"]) { secret } }`, nil), "BAD_USER_INPUT")
		if n := e.client.APIKey.Query().CountX(e.ctx); n != before {
			t.Errorf("a refused key was stored: %d keys; want %d", n, before)
		}
	})
}

// TestOIDCOverWebsocket: people sign in with the issuer's tokens; a
// subscription ends UNAUTHENTICATED when the token expires and resumes by
// cursor, with no gap, on a new connection with a fresh token; a token of
// a rotated key works without a restart.
func TestOIDCOverWebsocket(t *testing.T) {
	t.Parallel()
	is := identitytest.NewIssuer(t)
	var eng *orchestrator.Engine
	w := newWSEnvWith(t, wsOptions{dbURL: enginetest.SQLiteURL(t), catalog: accessCatalog,
		authenticate: realAuth(t, "root:root-secret-0123456789", &eng, is)})
	eng = w.eng
	e := w.env
	claims := map[string]any{"sub": "ann", "roles": []any{"CUSTOMER"}, "accounts": []any{"ACME"}}
	token := is.Token(t, claims, time.Hour)
	dial := func(tok string) *wsConn {
		c := w.dialRaw("graphql-transport-ws")
		c.send(wsMsg{Type: "connection_init", Payload: json.RawMessage(`{"authorization": "Bearer ` + tok + `"}`)})
		c.expect("connection_ack", "")
		return c
	}
	sub := func(c *wsConn, after string) {
		c.send(wsMsg{Type: "subscribe", ID: "1", Payload: json.RawMessage(
			`{"query":"subscription($a: String) { events(after: $a) { cursor orderId } }","variables":{"a":"` + after + `"}}`)})
	}
	cursorOf := func(m wsMsg) string {
		var p struct {
			Data struct{ Events struct{ Cursor string } }
		}
		json.Unmarshal(m.Payload, &p)
		return p.Data.Events.Cursor
	}
	e.submitAs("root-secret-0123456789", srvOrder("oidc-1", "ACME", nil))
	c := dial(token)
	sub(c, "")
	last := cursorOf(c.expect("next", "1"))

	// The token's expiry, on the hub's clock.
	exp := time.Now().Add(time.Hour)
	w.clock.Set(exp.Add(time.Minute))
	for {
		m, err := c.next()
		if err != nil {
			t.Fatalf("waiting for the expiry: %v", err)
		}
		if m.Type == "next" {
			last = cursorOf(m)
			continue
		}
		if m.Type != "error" || !strings.Contains(string(m.Payload), "UNAUTHENTICATED") || !strings.Contains(string(m.Payload), "after") {
			t.Fatalf("got %s %s; want error UNAUTHENTICATED saying how to resume", m.Type, m.Payload)
		}
		break
	}

	// A fresh token, signed by a rotated key, resumes after the cursor.
	is.Rotate(t)
	is.Retire()
	e.submitAs("root-secret-0123456789", srvOrder("oidc-2", "ACME", nil))
	fresh := dial(is.Token(t, claims, 3*time.Hour)) // valid past the hub's clock

	sub(fresh, last)
	m := fresh.expect("next", "1")
	if next := cursorOf(m); next == "" || len(next) < len(last) || len(next) == len(last) && next <= last {
		t.Errorf("resumed with %s after %s", m.Payload, last)
	}
	if r := e.postWith(as(token), `{ me { name } }`, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("a token of the retired key: HTTP %d; want 401", r.Status)
	}
}
