package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
)

// OIDCConfig configures OpenID Connect bearer tokens.
type OIDCConfig struct {
	// Issuer is the issuer URL; its discovery document names its keys.
	Issuer string
	// Audience is the audience (client id) tokens must be for.
	Audience string
	// RolesClaim, AccountsClaim and QueuesClaim name the claims that carry
	// a token's roles, accounts and queues (defaults roles, accounts,
	// queues): a dotted path reaches nested claims (realm_access.roles);
	// a claim is an array of strings or a space- or comma-separated
	// string.
	RolesClaim, AccountsClaim, QueuesClaim string
	// NameClaim names the person (default sub; e.g. email).
	NameClaim string
	// HTTPClient fetches discovery and keys (default http.DefaultClient).
	HTTPClient *http.Client
	// Now is the verifier's clock (default time.Now).
	Now func() time.Time
}

// OIDC verifies bearer tokens of one issuer.
type OIDC struct {
	cfg      OIDCConfig
	verifier *oidc.IDTokenVerifier
	policy   *access.Policy
	client   *http.Client
}

// NewOIDC reads the issuer's discovery document. Its keys are fetched
// when first needed, cached, and fetched again when a token names a key
// the cache does not hold: the issuer may rotate keys at any time.
// Errors: the issuer could not be reached or its discovery document is
// wrong (the server then refuses to start, saying so).
func NewOIDC(ctx context.Context, cfg OIDCConfig, pol *access.Policy) (*OIDC, error) {
	if cfg.Audience == "" {
		return nil, errors.New("an OIDC issuer needs an audience (BATON_OIDC_AUDIENCE)")
	}
	for _, c := range []*string{&cfg.RolesClaim, &cfg.AccountsClaim, &cfg.QueuesClaim, &cfg.NameClaim} {
		*c = strings.TrimSpace(*c)
	}
	cfg.RolesClaim = or(cfg.RolesClaim, "roles")
	cfg.AccountsClaim = or(cfg.AccountsClaim, "accounts")
	cfg.QueuesClaim = or(cfg.QueuesClaim, "queues")
	cfg.NameClaim = or(cfg.NameClaim, "sub")
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, client), cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("OIDC discovery at %s: %w", cfg.Issuer, err)
	}
	v := provider.VerifierContext(oidc.ClientContext(context.WithoutCancel(ctx), client), &oidc.Config{ClientID: cfg.Audience, Now: cfg.Now})
	return &OIDC{cfg: cfg, verifier: v, policy: pol, client: client}, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Verify checks a token (signature against the issuer's keys, issuer,
// audience, expiry) and returns its principal: Method OIDC, Expires the
// token's expiry, roles the policy knows (others are dropped). Errors:
// UNAUTHENTICATED saying which check failed.
func (o *OIDC) Verify(ctx context.Context, raw string) (*access.Principal, error) {
	tok, err := o.verifier.Verify(oidc.ClientContext(ctx, o.client), raw)
	if err != nil {
		return nil, engine.Errorf(engine.CodeUnauthenticated, "%s", reason(err))
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, engine.Errorf(engine.CodeUnauthenticated, "malformed token claims")
	}
	name := tok.Subject
	if n := strings.Join(claimList(claims, o.cfg.NameClaim), " "); n != "" {
		name = n
	}
	var roles []string
	for _, r := range claimList(claims, o.cfg.RolesClaim) {
		if _, ok := o.policy.Role(r); ok {
			roles = append(roles, r)
		}
	}
	return o.policy.Principal(access.Principal{Name: name, Method: access.MethodOIDC, Roles: roles,
		Accounts: claimList(claims, o.cfg.AccountsClaim), Queues: claimList(claims, o.cfg.QueuesClaim), Expires: tok.Expiry}), nil
}

// reason is a short, safe account of a verification failure.
func reason(err error) string {
	var expired *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &expired):
		return "token expired"
	case strings.Contains(msg, "expected audience"):
		return "token for another audience"
	case strings.Contains(msg, "different provider"):
		return "token from another issuer"
	case strings.Contains(msg, "malformed"):
		return "malformed token"
	case strings.Contains(msg, "verify signature"):
		return "token signature invalid"
	}
	return "token not accepted"
}

// claimList reads a claim by dotted path as a list of strings.
func claimList(claims map[string]any, path string) []string {
	var v any = claims
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[part]
	}
	switch x := v.(type) {
	case string:
		return strings.FieldsFunc(x, func(r rune) bool { return r == ' ' || r == ',' })
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
