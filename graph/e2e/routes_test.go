package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/batonhq/baton/engine/enginetest"
)

// TestRoutes checks what the server serves where: the dashboard at "/",
// GraphiQL under /playground/ (with its assets), and 404 for the rest, as
// server.go wires them.
func TestRoutes(t *testing.T) {
	r := repStart(t, "routes", repConfig{DatabaseURL: enginetest.SQLiteURL(t)})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, http.Header, string) {
		t.Helper()
		res, err := noRedirect.Get(r.url + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}

	code, h, body := get("/")
	if code != 200 || !strings.Contains(body, `<meta name="baton-endpoint" content="/graphql">`) ||
		!strings.HasPrefix(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("GET /: %d, CSP %q:\n%s", code, h.Get("Content-Security-Policy"), body)
	}
	m := regexp.MustCompile(`src="(_dashboard/[^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("GET /: no module in\n%s", body)
	}
	if code, h, _ := get("/" + m[1]); code != 200 || h.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("GET /%s: %d %q", m[1], code, h.Get("Content-Type"))
	}

	if code, h, _ := get("/playground"); code/100 != 3 || h.Get("Location") != "/playground/" {
		t.Errorf("GET /playground: %d to %q; want a redirect to /playground/", code, h.Get("Location"))
	}
	code, _, body = get("/playground/")
	if code != 200 || !strings.Contains(body, "GraphiQL") {
		t.Errorf("GET /playground/: %d\n%s", code, body)
	}
	assets := regexp.MustCompile(`(?:src|href)="(_playground/[^"]+)"`).FindAllStringSubmatch(body, -1)
	if len(assets) != 4 {
		t.Errorf("GET /playground/: %d assets; want 4", len(assets))
	}
	for _, a := range assets {
		if code, _, _ := get("/playground/" + a[1]); code != 200 {
			t.Errorf("GET /playground/%s: %d", a[1], code)
		}
	}

	for _, p := range []string{"/nope", "/index.html", "/orders", "/_playground/x.js", "/playground/nope", "/_dashboard/x/app.js"} {
		if code, _, _ := get(p); code != http.StatusNotFound {
			t.Errorf("GET %s: %d; want 404", p, code)
		}
	}
	if log := repTail(r.logPath, 200); !strings.Contains(log, `dashboard=`+r.url+`/`) || !strings.Contains(log, `playground=`+r.url+`/playground/`) {
		t.Errorf("the start-up log does not say where the dashboard and the playground are:\n%s", log)
	}
}
