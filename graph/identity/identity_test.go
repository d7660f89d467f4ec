package identity_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/graph/identity"
	"github.com/batonhq/baton/graph/identity/identitytest"
)

func code(err error) engine.Code {
	var e *engine.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestParseTokens(t *testing.T) {
	t.Parallel()
	pol := access.DefaultPolicy()
	tk, err := identity.ParseTokens("ops:0123456789abcdef, shop:shop-secret-0123456:SERVICE+CUSTOMER@ACME+GLOBEX#install", pol)
	if err != nil {
		t.Fatal(err)
	}
	ops, ok := tk.Lookup("0123456789abcdef")
	if !ok || ops.Name != "ops" || !ops.Can(access.KeyManage) || ops.Scoped() {
		t.Errorf("old form = %+v; want every permission on every account", ops)
	}
	shop, ok := tk.Lookup("shop-secret-0123456")
	if !ok || !slices.Equal(shop.Roles, []string{"SERVICE", "CUSTOMER"}) || !slices.Equal(shop.Accounts, []string{"ACME", "GLOBEX"}) ||
		!slices.Equal(shop.Queues, []string{"install"}) || shop.Can(access.KeyManage) || shop.Method != access.MethodToken {
		t.Errorf("scoped form = %+v", shop)
	}
	if _, ok := tk.Lookup("0123456789abcdeX"); ok {
		t.Error("a wrong secret was accepted")
	}
	for _, bad := range []struct{ spec, want string }{
		{"ops:short", "16 characters"},
		{"ops:0123456789abcdef:NOPE", "unknown role NOPE"},
		{"ops:0123456789abcdef:@ACME", "no role"},
		{"a:0123456789abcdef,b:0123456789abcdef", "another entry's"},
		{"a:0123456789abcdef,a:0123456789abcdeg", "used twice"},
		{":0123456789abcdef", "want name:secret"},
		{"noseparator", "want name:secret"},
	} {
		_, err := identity.ParseTokens(bad.spec, pol)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseTokens(%q) = %v; want an error saying %q", bad.spec, err, bad.want)
		} else if strings.Contains(err.Error(), "0123456789abcde") {
			t.Errorf("ParseTokens(%q) error shows the secret: %v", bad.spec, err)
		}
	}
	if tk, err := identity.ParseTokens(" ", pol); tk != nil || err != nil {
		t.Errorf("empty spec = %v, %v; want nil, nil", tk, err)
	}
}

func TestAuthenticateKeys(t *testing.T) {
	t.Parallel()
	pol := access.DefaultPolicy()
	tk, _ := identity.ParseTokens("ops:0123456789abcdef", pol)
	secret, hash := identity.NewKeySecret()
	if !strings.HasPrefix(secret, identity.KeyPrefix) || identity.HashSecret(secret) != hash || len(hash) != 64 {
		t.Fatalf("NewKeySecret = %q, %q", secret, hash)
	}
	revoked := false
	a := &identity.Authenticator{Tokens: tk, Keys: func(_ context.Context, h string) (*access.Principal, error) {
		if h != hash || revoked {
			return nil, nil
		}
		return pol.Principal(access.Principal{Name: "shop", Method: access.MethodAPIKey, Roles: []string{access.Service}}), nil
	}}
	ctx := context.Background()
	for _, tc := range []struct {
		authz, name string
		code        engine.Code
	}{
		{"Bearer 0123456789abcdef", "ops", ""},
		{"bearer   0123456789abcdef", "ops", ""},
		{"Bearer " + secret, "shop", ""},
		{"Bearer bk_nope", "", engine.CodeUnauthenticated},
		{"Basic 0123456789abcdef", "", engine.CodeUnauthenticated},
		{"", "", engine.CodeUnauthenticated},
		{"Bearer not.a.jwt", "", engine.CodeUnauthenticated},
	} {
		p, err := a.Authenticate(ctx, tc.authz)
		if code(err) != tc.code || (err == nil && p.Name != tc.name) {
			t.Errorf("Authenticate(%q) = %v, %v; want %q, %q", tc.authz, p, err, tc.name, tc.code)
		}
		if err != nil && strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("Authenticate(%q) error shows the secret: %v", tc.authz, err)
		}
	}
	revoked = true
	if _, err := a.Authenticate(ctx, "Bearer "+secret); code(err) != engine.CodeUnauthenticated || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked key: %v; want UNAUTHENTICATED", err)
	}
	if (&identity.Authenticator{}).Enabled() || !a.Enabled() {
		t.Error("Enabled is wrong")
	}
}

func TestOIDC(t *testing.T) {
	t.Parallel()
	is := identitytest.NewIssuer(t)
	pol := access.DefaultPolicy()
	ctx := context.Background()
	o, err := identity.NewOIDC(ctx, identity.OIDCConfig{Issuer: is.URL(), Audience: identitytest.Audience,
		RolesClaim: "realm_access.roles", NameClaim: "email"}, pol)
	if err != nil {
		t.Fatal(err)
	}
	a := &identity.Authenticator{OIDC: o}
	good := map[string]any{"sub": "u-1", "email": "ann@example.com",
		"realm_access": map[string]any{"roles": []any{"CUSTOMER", "NOT_A_ROLE"}}, "accounts": "ACME GLOBEX", "queues": []any{"install"}}
	p, err := a.Authenticate(ctx, "Bearer "+is.Token(t, good, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "ann@example.com" || p.Method != access.MethodOIDC || !slices.Equal(p.Roles, []string{"CUSTOMER"}) ||
		!slices.Equal(p.Accounts, []string{"ACME", "GLOBEX"}) || !slices.Equal(p.Queues, []string{"install"}) ||
		p.Expires.Before(time.Now().Add(59*time.Minute)) {
		t.Errorf("principal = %+v", p)
	}
	withClaim := func(k string, v any) map[string]any {
		c := map[string]any{}
		for k, v := range good {
			c[k] = v
		}
		c[k] = v
		return c
	}
	for _, tc := range []struct {
		name, token, want string
	}{
		{"expired", is.Token(t, good, -time.Minute), "token expired"},
		{"wrong audience", is.Token(t, withClaim("aud", "other"), time.Hour), "another audience"},
		{"wrong issuer", is.Token(t, withClaim("iss", "https://evil.example"), time.Hour), "another issuer"},
		{"foreign key", is.ForeignToken(t, good, time.Hour), "signature invalid"},
		{"malformed", "@@@.@@@.@@@", "malformed"},
	} {
		_, err := a.Authenticate(ctx, "Bearer "+tc.token)
		if code(err) != engine.CodeUnauthenticated || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want UNAUTHENTICATED %q", tc.name, err, tc.want)
		}
	}

	// Rotation: a token signed with a new key verifies with the same
	// verifier, which fetches the JWKS again; after the old key is
	// retired, its tokens no longer do.
	old := is.Token(t, good, time.Hour)
	before := is.KeyFetches()
	is.Rotate(t)
	is.Retire()
	if _, err := a.Authenticate(ctx, "Bearer "+is.Token(t, good, time.Hour)); err != nil {
		t.Errorf("token of the rotated key: %v", err)
	}
	if is.KeyFetches() == before {
		t.Error("the new key was verified without fetching the JWKS")
	}
	// go-oidc signals the fetch's waiters before it replaces its cache, so
	// the retired key may verify for a moment after the fetch returns.
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		_, err := a.Authenticate(ctx, "Bearer "+old)
		if code(err) == engine.CodeUnauthenticated {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("token of a retired key: %v; want UNAUTHENTICATED", err)
			break
		}
	}

	if _, err := identity.NewOIDC(ctx, identity.OIDCConfig{Issuer: is.URL()}, pol); err == nil {
		t.Error("an issuer without an audience was accepted")
	}
	if _, err := identity.NewOIDC(ctx, identity.OIDCConfig{Issuer: is.URL() + "/nowhere", Audience: "x"}, pol); err == nil {
		t.Error("an issuer without discovery was accepted")
	}
}
