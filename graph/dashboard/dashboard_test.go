package dashboard

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var (
	srcHrefRe = regexp.MustCompile(`(?:src|href)="([^"]*)"`)
	// A remote reference: a URL with a scheme and host, or a
	// protocol-relative one. The SVG namespace names no resource to fetch.
	remoteRe = regexp.MustCompile(`(?i)(?:https?|wss?)://[a-z0-9.-]+|["'(]//[a-z0-9.-]+\.[a-z]{2,}/`)
	importRe = regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"]([^'"]+)['"]`)
)

// svgNamespace names SVG elements; nothing fetches it.
const svgNamespace = "http://www.w3.org/2000/svg"

// wantCSP is the policy: nothing but the server itself.
const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self' ws://example.com wss://example.com; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// TestPage checks the page, its headers, and that every asset it
// references (and every module those import) is served with its type,
// long-lived caching, gzip and ETag revalidation.
func TestPage(t *testing.T) {
	h := Handler("/graphql")
	rec := get(t, h, http.MethodGet, "/", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /: status %d", rec.Code)
	}
	for k, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-cache",
		"Content-Security-Policy": wantCSP,
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("GET /: %s = %q; want %q", k, got, want)
		}
	}
	page := rec.Body.String()
	if !strings.Contains(page, `<meta name="baton-endpoint" content="/graphql">`) {
		t.Errorf("page does not name the endpoint:\n%s", page)
	}
	if etag := rec.Header().Get("ETag"); etag == "" {
		t.Error("GET /: no ETag")
	} else if nm := get(t, h, http.MethodGet, "/", map[string]string{"If-None-Match": etag}); nm.Code != http.StatusNotModified {
		t.Errorf("GET / with If-None-Match: status %d; want 304", nm.Code)
	}

	// Walk the page's references and the modules' imports.
	var queue []string
	for _, m := range srcHrefRe.FindAllStringSubmatch(page, -1) {
		queue = append(queue, "/"+m[1]) // the page is at "/"
	}
	if len(queue) != 3 {
		t.Fatalf("want 3 references (icon, stylesheet, app.js), got %q", queue)
	}
	seen := map[string]bool{}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		if !regexp.MustCompile(`^/_dashboard/[0-9a-f]{12}/[a-z]+\.(js|css|svg)$`).MatchString(p) {
			t.Errorf("asset path %s is not under the build's directory", p)
		}
		rec := get(t, h, http.MethodGet, p, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status %d", p, rec.Code)
			continue
		}
		want := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}[p[strings.LastIndex(p, "."):]]
		if ct := rec.Header().Get("Content-Type"); ct != want {
			t.Errorf("GET %s: Content-Type %q; want %q", p, ct, want)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control %q", p, cc)
		}
		if rec.Header().Get("Content-Security-Policy") != wantCSP || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: security headers missing: %v", p, rec.Header())
		}
		body := rec.Body.String()
		if m := remoteRe.FindString(strings.ReplaceAll(body, svgNamespace, "")); m != "" {
			t.Errorf("%s references a remote host: %q", p, m)
		}
		if strings.HasSuffix(p, ".js") {
			for _, m := range importRe.FindAllStringSubmatch(body, -1) {
				if !strings.HasPrefix(m[1], "./") {
					t.Errorf("%s imports %q: only relative modules of the build", p, m[1])
					continue
				}
				queue = append(queue, p[:strings.LastIndex(p, "/")+1]+strings.TrimPrefix(m[1], "./"))
			}
			if strings.Contains(body, "innerHTML") || strings.Contains(body, "eval(") {
				t.Errorf("%s writes HTML or evaluates strings", p)
			}
		}
		gz := get(t, h, http.MethodGet, p, map[string]string{"Accept-Encoding": "br, gzip"})
		if gz.Code != http.StatusOK {
			t.Errorf("GET %s (gzip): status %d", p, gz.Code)
		} else if gz.Header().Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(gz.Body)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(plain, rec.Body.Bytes()) {
				t.Errorf("GET %s (gzip): does not decompress to the plain body (err %v)", p, err)
			}
			if gz.Header().Get("ETag") == rec.Header().Get("ETag") {
				t.Errorf("GET %s: the gzip and plain variants share an ETag", p)
			}
		} else if rec.Body.Len() > 2000 {
			t.Errorf("GET %s (gzip): %d bytes sent uncompressed", p, rec.Body.Len())
		}
		if etag := rec.Header().Get("ETag"); etag == "" {
			t.Errorf("GET %s: no ETag", p)
		} else if nm := get(t, h, http.MethodGet, p, map[string]string{"If-None-Match": etag}); nm.Code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: status %d; want 304", p, nm.Code)
		}
	}
	// Every embedded file is reachable from the page.
	for name := range current.assets {
		if p := AssetPrefix + current.id + "/" + name; !seen[p] {
			t.Errorf("embedded %s is referenced by nothing", name)
		}
	}
}

// TestNotFound checks that the handler serves the page and its assets only:
// every other path is a 404, as when nothing was mounted at "/".
func TestNotFound(t *testing.T) {
	h := Handler("/graphql")
	for _, p := range []string{"/index.html", "/orders", "/favicon.ico", "/_dashboard/", "/_dashboard/app.js",
		"/_dashboard/000000000000/app.js", "/_dashboard/" + current.id + "/", "/_dashboard/" + current.id + "/nope.js",
		"/_dashboard/" + current.id + "/../app.js", "/playground"} {
		if rec := get(t, h, http.MethodGet, p, nil); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d; want 404", p, rec.Code)
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec := get(t, h, m, "/", nil)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /: status %d, Allow %q; want 405 with GET, HEAD", m, rec.Code, rec.Header().Get("Allow"))
		}
	}
	if rec := get(t, h, http.MethodHead, "/_dashboard/"+current.id+"/app.js", nil); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD app.js: status %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

// TestBuildID checks that the build's name changes with any file's content.
func TestBuildID(t *testing.T) {
	base := fstest.MapFS{
		"assets/app.js":    {Data: []byte("export {};")},
		"assets/style.css": {Data: []byte("body{}")},
		"assets/icon.svg":  {Data: []byte("<svg/>")},
		"assets/README.md": {Data: []byte("not served")},
	}
	a := mustBuild(base)
	if _, ok := a.assets["README.md"]; ok {
		t.Error("README.md is served")
	}
	changed := fstest.MapFS{}
	for k, v := range base {
		changed[k] = v
	}
	changed["assets/style.css"] = &fstest.MapFile{Data: []byte("body{color:red}")}
	if b := mustBuild(changed); b.id == a.id {
		t.Errorf("build id %s did not change with style.css", a.id)
	}
	if again := mustBuild(base); again.id != a.id {
		t.Errorf("build id not stable: %s then %s", a.id, again.id)
	}
	var _ fs.FS = base
}

// TestContentSecurityPolicy checks that only a plain host is written into
// the policy.
func TestContentSecurityPolicy(t *testing.T) {
	for host, want := range map[string]string{
		"localhost:8080":  "connect-src 'self' ws://localhost:8080 wss://localhost:8080;",
		"[::1]:8080":      "connect-src 'self' ws://[::1]:8080 wss://[::1]:8080;",
		"a;script-src *":  "connect-src 'self';",
		"evil.com 'self'": "connect-src 'self';",
		"":                "connect-src 'self';",
	} {
		if got := contentSecurityPolicy(host); !strings.Contains(got, want) {
			t.Errorf("contentSecurityPolicy(%q) = %q; want it to contain %q", host, got, want)
		}
	}
}
