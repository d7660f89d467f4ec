// Package identitytest is an OpenID Connect issuer for tests: an
// httptest server serving discovery and a JWKS, signing its own tokens,
// whose keys can be rotated while it serves.
package identitytest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Audience is the audience tokens are for unless claims say otherwise.
const Audience = "baton"

// Issuer is a running test issuer.
type Issuer struct {
	srv *httptest.Server

	mu      sync.Mutex
	keys    []*signingKey // served in the JWKS; the last one signs
	next    int
	fetches int
}

type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

// NewIssuer starts an issuer with one key; it stops when the test ends.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	is := &Issuer{}
	is.keys = []*signingKey{is.newKey(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": is.URL(), "jwks_uri": is.URL() + "/keys",
			"authorization_endpoint": is.URL() + "/auth", "token_endpoint": is.URL() + "/token",
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		is.mu.Lock()
		is.fetches++
		var keys []map[string]string
		for _, k := range is.keys {
			keys = append(keys, map[string]string{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid,
				"n": b64(k.priv.N.Bytes()), "e": b64(big.NewInt(int64(k.priv.E)).Bytes())})
		}
		is.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (is *Issuer) newKey(t testing.TB) *signingKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is.next++
	return &signingKey{kid: fmt.Sprintf("key-%d", is.next), priv: priv}
}

// URL is the issuer URL.
func (is *Issuer) URL() string { return is.srv.URL }

// KeyFetches is how often the JWKS was read.
func (is *Issuer) KeyFetches() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.fetches
}

// Rotate adds a new signing key, which signs from now on; the old ones
// stay in the JWKS until Retire.
func (is *Issuer) Rotate(t testing.TB) {
	t.Helper()
	k := is.newKey(t)
	is.mu.Lock()
	is.keys = append(is.keys, k)
	is.mu.Unlock()
}

// Retire drops every key but the newest from the JWKS.
func (is *Issuer) Retire() {
	is.mu.Lock()
	is.keys = is.keys[len(is.keys)-1:]
	is.mu.Unlock()
}

// Token signs claims (adding iss, aud, sub, iat and exp = now + ttl
// unless given) with the current key. A negative ttl makes a token that
// expired already.
func (is *Issuer) Token(t testing.TB, claims map[string]any, ttl time.Duration) string {
	t.Helper()
	is.mu.Lock()
	k := is.keys[len(is.keys)-1]
	is.mu.Unlock()
	return sign(t, k, is.claims(claims, ttl))
}

// ForeignToken is Token signed by a key the issuer never published.
func (is *Issuer) ForeignToken(t testing.TB, claims map[string]any, ttl time.Duration) string {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is.mu.Lock()
	kid := is.keys[len(is.keys)-1].kid // a known key id, the wrong key
	is.mu.Unlock()
	return sign(t, &signingKey{kid: kid, priv: priv}, is.claims(claims, ttl))
}

func (is *Issuer) claims(claims map[string]any, ttl time.Duration) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"iss": is.URL(), "aud": Audience, "sub": "user", "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	return c
}

func sign(t testing.TB, k *signingKey, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
