// Package identity authenticates the callers of Baton's API: bootstrap
// keys from BATON_API_TOKENS, keys created through the API (stored as
// hashes), and OpenID Connect bearer tokens verified against the
// issuer's keys. Each way in yields an access.Principal; refusals are
// UNAUTHENTICATED and never echo a secret.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
)

// Tokens are the bootstrap keys of BATON_API_TOKENS.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	secret    []byte
	principal *access.Principal
}

// ParseTokens reads BATON_API_TOKENS: comma-separated entries, each
// `name:secret` (every role on every account, the form of earlier
// versions) or `name:secret:ROLE+ROLE[@account+account][#queue+queue]`.
// Secrets have 16 characters or more; names and secrets are unique; role
// names must be roles of pol. Errors name the entry by position and name,
// never by its secret. An empty spec is nil Tokens.
func ParseTokens(spec string, pol *access.Policy) (*Tokens, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	t := &Tokens{}
	names, secrets := map[string]bool{}, map[string]bool{}
	for i, raw := range strings.Split(spec, ",") {
		entry := strings.TrimSpace(raw)
		name, rest, ok := strings.Cut(entry, ":")
		where := fmt.Sprintf("BATON_API_TOKENS entry %d", i+1)
		if name != "" {
			where += fmt.Sprintf(" (%s)", name)
		}
		if !ok || name == "" {
			return nil, fmt.Errorf("%s: want name:secret or name:secret:ROLE+ROLE[@account+…][#queue+…]", where)
		}
		secret, grant, scoped := strings.Cut(rest, ":")
		if len(secret) < 16 {
			return nil, fmt.Errorf("%s: the secret must have 16 characters or more", where)
		}
		if names[name] {
			return nil, fmt.Errorf("%s: the name is used twice", where)
		}
		if secrets[secret] {
			return nil, fmt.Errorf("%s: the secret is another entry's too", where)
		}
		names[name], secrets[secret] = true, true
		base := access.Principal{Name: name, Method: access.MethodToken}
		if !scoped {
			t.entries = append(t.entries, tokenEntry{[]byte(secret), pol.All(base)})
			continue
		}
		grant, queues, _ := strings.Cut(grant, "#")
		roles, accounts, _ := strings.Cut(grant, "@")
		base.Roles, base.Accounts, base.Queues = list(roles), list(accounts), list(queues)
		if len(base.Roles) == 0 {
			return nil, fmt.Errorf("%s: no role (name:secret:ROLE+ROLE…)", where)
		}
		if unknown := pol.CheckRoles(base.Roles); len(unknown) > 0 {
			return nil, fmt.Errorf("%s: unknown role %s", where, strings.Join(unknown, ", "))
		}
		t.entries = append(t.entries, tokenEntry{[]byte(secret), pol.Principal(base)})
	}
	return t, nil
}

func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, "+") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Lookup returns the principal of a bootstrap secret. Every entry is
// compared in constant time, so the answer's time tells nothing.
func (t *Tokens) Lookup(secret string) (*access.Principal, bool) {
	if t == nil {
		return nil, false
	}
	var found *access.Principal
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(e.secret, []byte(secret)) == 1 {
			found = e.principal
		}
	}
	return found, found != nil
}

// KeyPrefix starts every secret of a key created through the API.
const KeyPrefix = "bk_"

// NewKeySecret makes a key's secret (KeyPrefix and 32 random bytes) and
// the hash the store keeps of it.
func NewKeySecret() (secret, hash string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("identity: no randomness: %v", err)) // crypto/rand does not fail on supported systems
	}
	secret = KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashSecret(secret)
}

// HashSecret is the hex SHA-256 of a key's secret. A secret has 256
// random bits, so a fast hash is as good as a slow one here.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// KeyLookup finds the principal of a key by its secret's hash: nil (and
// no error) for no key or a revoked one.
type KeyLookup func(ctx context.Context, hash string) (*access.Principal, error)

// Authenticator checks Authorization headers against every configured
// way in. The zero value (nothing configured) authenticates no one:
// Enabled reports false and the server runs open.
type Authenticator struct {
	Tokens *Tokens
	Keys   KeyLookup
	OIDC   *OIDC
}

// Enabled reports whether any way in is configured.
func (a *Authenticator) Enabled() bool {
	return a.Tokens != nil || a.Keys != nil || a.OIDC != nil
}

// Authenticate returns the principal of `Bearer <credential>` (the scheme
// in any case, RFC 7235). Errors: UNAUTHENTICATED, saying why in a few
// words, without the credential.
func (a *Authenticator) Authenticate(ctx context.Context, authorization string) (*access.Principal, error) {
	scheme, cred, _ := strings.Cut(strings.TrimSpace(authorization), " ")
	cred = strings.TrimSpace(cred)
	if !strings.EqualFold(scheme, "Bearer") || cred == "" {
		return nil, engine.Errorf(engine.CodeUnauthenticated, "send Authorization: Bearer <token>")
	}
	if p, ok := a.Tokens.Lookup(cred); ok {
		return p, nil
	}
	if strings.HasPrefix(cred, KeyPrefix) && a.Keys != nil {
		p, err := a.Keys(ctx, HashSecret(cred))
		if err != nil {
			return nil, err
		}
		if p == nil {
			return nil, engine.Errorf(engine.CodeUnauthenticated, "unknown or revoked API key")
		}
		return p, nil
	}
	if a.OIDC != nil && strings.Count(cred, ".") == 2 {
		return a.OIDC.Verify(ctx, cred)
	}
	return nil, engine.Errorf(engine.CodeUnauthenticated, "unknown token")
}
