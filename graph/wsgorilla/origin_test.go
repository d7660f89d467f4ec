package wsgorilla_test

import (
	"net/http/httptest"
	"testing"

	"github.com/batonhq/baton/graph/wsgorilla"
)

func TestOriginChecker(t *testing.T) {
	allowed := []string{"https://dash.example.com", "HTTP://Admin.Example.com:80/", "https://ops.example.com:8443", "http://[2001:db8::1]:9000"}
	cases := []struct {
		origin string // "" means no Origin header
		host   string
		want   bool
	}{
		{"", "api.example.com", true},

		// same origin
		{"https://api.example.com", "api.example.com", true},
		{"http://API.example.com:8080", "api.example.com:8080", true},
		{"https://api.example.com:8443", "api.example.com", false},

		// local development
		{"http://localhost", "api.example.com", true},
		{"http://localhost:5173", "api.example.com", true},
		{"https://LOCALHOST:3000", "api.example.com", true},
		{"http://127.0.0.1:8080", "api.example.com", true},
		{"http://[::1]:8080", "api.example.com", true},
		{"http://localhost.evil.com", "api.example.com", false},
		{"http://127.0.0.1.evil.com", "api.example.com", false},
		{"http://evil.com/localhost", "api.example.com", false},

		// allow list
		{"https://dash.example.com", "api.example.com", true},
		{"https://DASH.example.com", "api.example.com", true},
		{"https://dash.example.com:443", "api.example.com", true},
		{"http://dash.example.com", "api.example.com", false},
		{"https://dash.example.com:8443", "api.example.com", false},
		{"https://evil-dash.example.com", "api.example.com", false},
		{"https://dash.example.com.evil.com", "api.example.com", false},
		{"http://admin.example.com", "api.example.com", true},
		{"https://ops.example.com:8443", "api.example.com", true},
		{"https://ops.example.com", "api.example.com", false},
		{"http://[2001:db8::1]:9000", "api.example.com", true},

		// junk
		{"null", "api.example.com", false},
		{"://", "api.example.com", false},
		{"https://evil.example.com", "api.example.com", false},
	}
	check := wsgorilla.OriginChecker(allowed)
	for _, tc := range cases {
		r := httptest.NewRequest("GET", "http://"+tc.host+"/graphql", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if got := check(r); got != tc.want {
			t.Errorf("Origin %q, Host %q: allowed=%v, want %v", tc.origin, tc.host, got, tc.want)
		}
	}

	t.Run("wildcard", func(t *testing.T) {
		check := wsgorilla.OriginChecker([]string{"https://dash.example.com", "*"})
		for _, origin := range []string{"https://evil.example.com", "null", "chrome-extension://abc"} {
			r := httptest.NewRequest("GET", "http://api.example.com/graphql", nil)
			r.Header.Set("Origin", origin)
			if !check(r) {
				t.Errorf("Origin %q refused despite \"*\"", origin)
			}
		}
	})

	t.Run("nil allow list", func(t *testing.T) {
		check := wsgorilla.OriginChecker(nil)
		r := httptest.NewRequest("GET", "http://api.example.com/graphql", nil)
		r.Header.Set("Origin", "https://dash.example.com")
		if check(r) {
			t.Error("foreign origin admitted with an empty allow list")
		}
	})

	t.Run("invalid entries panic", func(t *testing.T) {
		for _, entry := range []string{"dash.example.com", "https://*.example.com", "https://dash.example.com/app", "", "null"} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("OriginChecker accepted entry %q", entry)
					}
				}()
				wsgorilla.OriginChecker([]string{entry})
			}()
		}
	})
}
