package wsgorilla

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// OriginChecker returns a function for websocket.Upgrader.CheckOrigin that
// admits a websocket handshake when any of these holds:
//
//   - the request has no Origin header. Browsers always send one on websocket
//     handshakes, so this admits only non-browser clients (mobile apps, CLI
//     tools, other servers), which are not exposed to cross-site websocket
//     hijacking;
//   - the request is same-origin: the host[:port] of the Origin equals the
//     request's Host header, ignoring case (gorilla's default rule; the scheme
//     is not compared). Behind a proxy that rewrites Host, list the public
//     origin in allowed instead;
//   - the Origin's host is localhost, 127.0.0.1 or [::1], with any scheme and
//     any port, so that local front-end dev servers work without
//     configuration. Note that this also admits any page served from the
//     user's own machine;
//   - allowed contains "*" (every origin is admitted: only for development or
//     for endpoints that do not rely on cookies or other ambient credentials);
//   - the Origin equals an entry of allowed. Entries are exact origins of the
//     form scheme://host[:port], for example "https://dash.example.com";
//     scheme and host compare case-insensitively, a default port (80 for
//     http/ws, 443 for https/wss) is the same as no port, and a trailing "/"
//     is ignored. Wildcard subdomains are not supported.
//
// Any other request, including one whose Origin cannot be parsed (or is
// "null"), is refused, and the gorilla Upgrader answers it with 403 Forbidden.
//
// OriginChecker panics if an entry of allowed is neither "*" nor a valid
// origin, so that a configuration mistake fails at startup rather than
// silently refusing (or admitting) clients. The returned function is safe for
// concurrent use and does not retain allowed.
func OriginChecker(allowed []string) func(*http.Request) bool {
	allowAll := false
	exact := make(map[string]struct{}, len(allowed))
	for _, entry := range allowed {
		entry = strings.TrimSpace(entry)
		if entry == "*" {
			allowAll = true
			continue
		}
		origin, ok := normalizeOrigin(entry)
		if !ok || strings.Contains(origin, "*") {
			panic(fmt.Sprintf("wsgorilla.OriginChecker: %q is not \"*\" or an origin like \"https://app.example.com\"", entry))
		}
		exact[origin] = struct{}{}
	}

	return func(r *http.Request) bool {
		values := r.Header.Values("Origin")
		if len(values) == 0 {
			return true
		}
		if allowAll {
			return true
		}
		u, err := url.Parse(values[0])
		if err != nil || u.Host == "" {
			return false
		}
		if strings.EqualFold(u.Host, r.Host) {
			return true
		}
		switch strings.ToLower(u.Hostname()) {
		case "localhost", "127.0.0.1", "::1":
			return true
		}
		origin, ok := normalizeOrigin(values[0])
		if !ok {
			return false
		}
		_, ok = exact[origin]
		return ok
	}
}

// normalizeOrigin returns origin as lower-case "scheme://host[:port]" with a
// default port removed, or false if it is not of that form.
func normalizeOrigin(origin string) (string, bool) {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", false
	}
	port := u.Port()
	switch {
	case port == "80" && (scheme == "http" || scheme == "ws"),
		port == "443" && (scheme == "https" || scheme == "wss"):
		port = ""
	}
	switch {
	case port != "":
		host = net.JoinHostPort(host, port)
	case strings.Contains(host, ":"):
		host = "[" + host + "]"
	}
	return scheme + "://" + host, true
}
