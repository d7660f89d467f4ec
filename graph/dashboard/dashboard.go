// Package dashboard serves Baton's operations dashboard: a small
// single-page application in plain JavaScript (ES modules, no build step)
// embedded into the binary, so it works with no network beyond the server.
//
// It talks only to the public API: queries and mutations by HTTP POST to
// the GraphQL endpoint, the live feed over a websocket to the same endpoint
// (graphql-transport-ws, a client of its own in assets/gql.js). Pages are
// chosen by the URL's fragment (#/orders, #/orders/<id>, #/work, #/fallout,
// #/systems, #/analytics), so the server serves one page and its assets and
// nothing else.
//
// Assets are served under AssetPrefix + <build>/, where <build> is a hash
// of every embedded file: the modules import each other by relative name,
// and a change to any of them changes every URL, so browsers may cache them
// for a year. The page and the assets carry a Content-Security-Policy that
// allows nothing but the server itself (scripts, styles, images, and
// connections over HTTP and websockets).
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/batonhq/baton/graph/static"
)

// AssetPrefix is the sub-path, relative to where the handler is mounted,
// under which the embedded files are served.
const AssetPrefix = "/_dashboard/"

//go:embed assets
var assetsFS embed.FS

// contentTypes are the types of the files the dashboard is made of; an
// embedded file of another kind is a programming error.
var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
	".png": "image/png",
}

// asset is one embedded file.
type asset = static.Asset

// build is every embedded asset, by its path below assets/, and the hash
// of them all that names this build.
type build struct {
	id     string
	assets map[string]*asset
}

var current = mustBuild(assetsFS)

func mustBuild(fsys fs.FS) *build {
	b := &build{assets: map[string]*asset{}}
	var names []string
	err := fs.WalkDir(fsys, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := strings.TrimPrefix(p, "assets/")
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			if path.Ext(name) == ".md" || path.Base(name) == "LICENSE" {
				return nil // documentation, not served
			}
			return fmt.Errorf("no content type for %s", name)
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		b.assets[name] = &asset{ContentType: ct, ETag: `"` + hex.EncodeToString(sum[:8]) + `"`, Data: data}
		names = append(names, name)
		return nil
	})
	if err != nil {
		panic("dashboard: embedded assets: " + err.Error())
	}
	for _, want := range []string{"app.js", "style.css", "icon.svg"} {
		if b.assets[want] == nil {
			panic("dashboard: embedded asset missing: " + want)
		}
	}
	// The build's name covers every file's name and content.
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%s\x00", n, b.assets[n].ETag)
	}
	b.id = hex.EncodeToString(h.Sum(nil)[:6])
	return b
}

// The asset URLs are relative, so the page works wherever the handler is
// mounted, as long as the page's URL ends with "/".
var page = template.Must(template.New("dashboard").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="baton-endpoint" content="{{.Endpoint}}">
<title>Baton</title>
<link rel="icon" href="{{.Base}}icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{{.Base}}style.css">
<script type="module" src="{{.Base}}app.js"></script>
</head>
<body>
<header id="top"></header>
<main id="main"><p class="loading">Loading…</p></main>
<noscript>The Baton dashboard needs JavaScript; the API is at {{.Endpoint}}.</noscript>
</body>
</html>
`))

// Handler returns the dashboard for the GraphQL API at endpoint (an
// absolute path such as "/graphql"; the dashboard's websocket goes to the
// same path on the page's host). It serves the page for "/" and the assets
// under AssetPrefix, and 404s for any other path, so mount it at "/":
//
//	mux.Handle("/", dashboard.Handler("/graphql"))
//
// Only GET and HEAD are answered (405 otherwise).
func Handler(endpoint string) http.Handler {
	b := current
	var buf bytes.Buffer
	if err := page.Execute(&buf, struct{ Endpoint, Base string }{
		Endpoint: endpoint,
		Base:     strings.TrimPrefix(AssetPrefix, "/") + b.id + "/",
	}); err != nil {
		panic("dashboard: rendering page: " + err.Error())
	}
	html := buf.Bytes()
	sum := sha256.Sum256(html)
	pageETag := `"` + hex.EncodeToString(sum[:8]) + `"`
	prefix := AssetPrefix + b.id + "/"

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var serve func()
		switch p := r.URL.Path; {
		case p == "/":
			serve = func() {
				h := w.Header()
				h.Set("Content-Type", "text/html; charset=utf-8")
				h.Set("Cache-Control", "no-cache")
				h.Set("ETag", pageETag)
				http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(html))
			}
		case strings.HasPrefix(p, prefix):
			if a, ok := b.assets[p[len(prefix):]]; ok {
				serve = func() { a.Serve(w, r) }
			}
		}
		if serve == nil {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy(r.Host))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		serve()
	})
}

// contentSecurityPolicy allows the page only what comes from the server
// itself: its scripts, styles and images, and connections to it over HTTP
// and websockets. Browsers that implement CSP 3 count ws(s) to the same
// host as 'self'; older ones need the host written out, which is done when
// the Host header is a plain host[:port] (it comes from the client, so
// nothing else is copied into the header).
func contentSecurityPolicy(host string) string {
	connect := "'self'"
	if plainHost(host) {
		connect += " ws://" + host + " wss://" + host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"connect-src " + connect + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

func plainHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}
