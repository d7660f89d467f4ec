package playground

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
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
	remoteRe  = regexp.MustCompile(`(?i)https?://|//[a-z0-9.-]+\.[a-z]{2,}/`)
)

// TestPage checks the page and that every asset it references is served.
func TestPage(t *testing.T) {
	h := Handler("Baton <Playground>", "/graphql")
	rec := get(t, h, http.MethodGet, "/", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /: status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("GET /: Content-Type %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("GET /: Cache-Control %q, want no-cache", cc)
	}
	body := rec.Body.String()

	if m := remoteRe.FindString(body); m != "" {
		t.Errorf("page references a remote URL (%q):\n%s", m, body)
	}
	if !strings.Contains(body, "<title>Baton &lt;Playground&gt;</title>") {
		t.Errorf("title not escaped into the page:\n%s", body)
	}
	if !strings.Contains(body, `new URL("/graphql", window.location.href)`) {
		t.Errorf("endpoint not in the page script:\n%s", body)
	}
	for _, want := range []string{"subscriptionUrl", "wss:", "ws:", "GraphiQL.createFetcher", "ReactDOM.createRoot"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	wantTypes := map[string]string{
		"react.production.min.":     "text/javascript; charset=utf-8",
		"react-dom.production.min.": "text/javascript; charset=utf-8",
		"graphiql.min.":             "text/javascript; charset=utf-8",
	}
	var refs []string
	for _, m := range srcHrefRe.FindAllStringSubmatch(body, -1) {
		if strings.HasPrefix(m[1], "data:") {
			continue // inline favicon
		}
		refs = append(refs, m[1])
	}
	if len(refs) != 4 {
		t.Fatalf("want 4 local asset references (react, react-dom, graphiql js+css), got %q", refs)
	}
	seenCSS := false
	for _, ref := range refs {
		if !strings.HasPrefix(ref, strings.TrimPrefix(AssetPrefix, "/")) {
			t.Errorf("asset %q is not a relative %s path", ref, AssetPrefix)
			continue
		}
		// The page is at "/", so the relative reference resolves to "/"+ref.
		p := "/" + ref
		rec := get(t, h, http.MethodGet, p, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status %d", p, rec.Code)
			continue
		}
		ct := rec.Header().Get("Content-Type")
		var want string
		if strings.HasSuffix(p, ".css") {
			want, seenCSS = "text/css; charset=utf-8", true
		} else if strings.HasSuffix(p, ".js") {
			name := p[strings.LastIndex(p, "/")+1:]
			for prefix, typ := range wantTypes {
				if strings.HasPrefix(name, prefix) {
					want = typ
				}
			}
		}
		if want == "" || ct != want {
			t.Errorf("GET %s: Content-Type %q, want %q", p, ct, want)
		}
		if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") || !strings.Contains(cc, "immutable") {
			t.Errorf("GET %s: Cache-Control %q, want long-lived immutable", p, cc)
		}
		if !regexp.MustCompile(`\.[0-9a-f]{12}\.(js|css)$`).MatchString(p) {
			t.Errorf("asset path %s has no content hash", p)
		}
		if rec.Body.Len() < 1000 {
			t.Errorf("GET %s: suspiciously small body (%d bytes)", p, rec.Body.Len())
		}
		if rec.Header().Get("Content-Encoding") != "" {
			t.Errorf("GET %s without Accept-Encoding: got Content-Encoding %q", p, rec.Header().Get("Content-Encoding"))
		}

		// gzip variant decodes to the same bytes.
		gz := get(t, h, http.MethodGet, p, map[string]string{"Accept-Encoding": "br, gzip"})
		if gz.Code != http.StatusOK || gz.Header().Get("Content-Encoding") != "gzip" {
			t.Errorf("GET %s (gzip): status %d, Content-Encoding %q", p, gz.Code, gz.Header().Get("Content-Encoding"))
		} else {
			zr, err := gzip.NewReader(gz.Body)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(plain, rec.Body.Bytes()) {
				t.Errorf("GET %s (gzip): body does not decompress to the plain body (err %v)", p, err)
			}
		}

		// Revalidation by ETag.
		if etag := rec.Header().Get("ETag"); etag == "" {
			t.Errorf("GET %s: no ETag", p)
		} else if nm := get(t, h, http.MethodGet, p, map[string]string{"If-None-Match": etag}); nm.Code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: status %d, want 304", p, nm.Code)
		}
	}
	if !seenCSS {
		t.Error("page references no stylesheet")
	}
}

func TestAbsoluteEndpoint(t *testing.T) {
	body := get(t, Handler("x", "https://api.example.com/graphql"), http.MethodGet, "/", nil).Body.String()
	if !strings.Contains(body, `new URL("https://api.example.com/graphql", window.location.href)`) {
		t.Errorf("absolute endpoint not in the page:\n%s", body)
	}
}

func TestEndpointIsEscaped(t *testing.T) {
	body := get(t, Handler("x", `/graphql"</script><script>alert(1)//`), http.MethodGet, "/", nil).Body.String()
	if strings.Contains(body, "<script>alert(1)") {
		t.Errorf("endpoint not escaped:\n%s", body)
	}
}

func TestNotFound(t *testing.T) {
	h := Handler("Baton", "/graphql")
	for _, p := range []string{
		"/favicon.ico",
		"/index.html",
		"/graphql",
		"/foo/",
		"/_playground/",
		"/_playground/graphiql.min.js", // unhashed name
		"/_playground/../assets/VERSIONS",
		"/_playground/VERSIONS",
		"/_playground/graphiql/LICENSE",
		"/_playground/x/" + reactJS.name,
		"/assets/react/react.production.min.js",
	} {
		if rec := get(t, h, http.MethodGet, p, nil); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, rec.Code)
		}
	}
}

func TestMethods(t *testing.T) {
	h := Handler("Baton", "/graphql")
	for _, p := range []string{"/", AssetPrefix + graphiqlJS.name} {
		if rec := get(t, h, http.MethodHead, p, nil); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Errorf("HEAD %s: status %d, body %d bytes", p, rec.Code, rec.Body.Len())
		}
		rec := get(t, h, http.MethodPost, p, nil)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("POST %s: status %d, Allow %q", p, rec.Code, rec.Header().Get("Allow"))
		}
	}
}

// TestStripPrefixMount checks the documented way of mounting under a subtree.
func TestStripPrefixMount(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/playground/", http.StripPrefix("/playground", Handler("Baton", "/graphql")))
	// ServeMux redirects the bare subtree root to the trailing-slash form
	// (301 or 307 depending on the Go version).
	if rec := get(t, mux, http.MethodGet, "/playground", nil); rec.Code/100 != 3 || rec.Header().Get("Location") != "/playground/" {
		t.Errorf("GET /playground: status %d, Location %q", rec.Code, rec.Header().Get("Location"))
	}
	for p, want := range map[string]int{
		"/playground/": http.StatusOK,
		"/playground/_playground/" + reactJS.name: http.StatusOK,
		"/playground/nope":                        http.StatusNotFound,
		"/_playground/" + reactJS.name:            http.StatusNotFound,
	} {
		if rec := get(t, mux, http.MethodGet, p, nil); rec.Code != want {
			t.Errorf("GET %s: status %d, want %d", p, rec.Code, want)
		}
	}
}

// TestLicensesEmbedded checks that the license files travel with the assets.
func TestLicensesEmbedded(t *testing.T) {
	for _, f := range []string{
		"assets/graphiql/LICENSE",
		"assets/react/LICENSE",
		"assets/react-dom/LICENSE",
		"assets/THIRD_PARTY_NOTICES",
		"assets/VERSIONS",
	} {
		b, err := assetsFS.ReadFile(f)
		if err != nil || len(b) == 0 {
			t.Errorf("%s not embedded: %v", f, err)
		}
	}
}
