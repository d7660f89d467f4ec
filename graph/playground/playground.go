// Package playground serves a GraphiQL IDE that works without internet
// access: GraphiQL, React and ReactDOM are vendored from npm into assets/
// (see assets/VERSIONS and vendor.sh) and embedded into the binary.
//
// Queries and mutations are sent with HTTP POST to the endpoint; subscriptions
// go over a websocket to the same endpoint (ws:// or wss:// depending on the
// page's scheme), using the graphql-ws client bundled in GraphiQL, which
// speaks the graphql-transport-ws subprotocol.
package playground

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/batonhq/baton/graph/static"
)

// AssetPrefix is the sub-path, relative to where the handler is mounted,
// under which the static assets are served.
const AssetPrefix = "/_playground/"

//go:embed assets
var assetsFS embed.FS

// asset is one embedded static file, served under a content-addressed name.
type asset struct {
	name string // served name, e.g. "graphiql.min.0123456789ab.js"
	*static.Asset
}

// The embedded files that the page loads, in the order they are referenced.
var (
	reactJS    = mustAsset("react/react.production.min.js")
	reactDOMJS = mustAsset("react-dom/react-dom.production.min.js")
	graphiqlJS = mustAsset("graphiql/graphiql.min.js")
	graphiqlCS = mustAsset("graphiql/graphiql.min.css")

	assetsByName = map[string]*asset{
		reactJS.name:    reactJS,
		reactDOMJS.name: reactDOMJS,
		graphiqlJS.name: graphiqlJS,
		graphiqlCS.name: graphiqlCS,
	}
)

var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

func mustAsset(file string) *asset {
	data, err := assetsFS.ReadFile("assets/" + file)
	if err != nil {
		panic(fmt.Sprintf("playground: embedded asset missing (run vendor.sh): %v", err))
	}
	ext := path.Ext(file)
	ct, ok := contentTypes[ext]
	if !ok {
		panic("playground: no content type for " + file)
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:6])
	return &asset{
		// "graphiql.min.js" -> "graphiql.min.<hash>.js": the name changes
		// whenever the content does, so it can be cached forever.
		name:  strings.TrimSuffix(path.Base(file), ext) + "." + hash + ext,
		Asset: &static.Asset{ContentType: ct, ETag: `"` + hash + `"`, Data: data},
	}
}

// The asset URLs are relative ("_playground/..."), so the page works wherever
// the handler is mounted, as long as the page's URL ends with "/" (true for "/"
// and for a "/playground/" subtree pattern with http.StripPrefix).
var page = template.Must(template.New("graphiql").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{{.CSS}}">
<style>
html, body { height: 100%; margin: 0; }
#graphiql { height: 100vh; }
#graphiql > .loading { height: 100%; display: flex; align-items: center; justify-content: center; font: 2rem system-ui, sans-serif; }
</style>
</head>
<body>
<div id="graphiql"><div class="loading">Loading…</div></div>
<noscript>GraphiQL needs JavaScript.</noscript>
<script src="{{.React}}"></script>
<script src="{{.ReactDOM}}"></script>
<script src="{{.GraphiQL}}"></script>
<script>
(function () {
  // The endpoint may be an absolute path ("/graphql") or an absolute URL.
  var url = new URL({{.Endpoint}}, window.location.href);
  // Subscriptions: same endpoint over a websocket, wss:// on https pages.
  var subscriptionUrl = new URL(url.href);
  subscriptionUrl.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  var fetcher = GraphiQL.createFetcher({
    url: url.href,
    subscriptionUrl: subscriptionUrl.href,
  });
  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    }),
  );
})();
</script>
</body>
</html>
`))

type pageData struct {
	Title, Endpoint                string
	React, ReactDOM, GraphiQL, CSS string
}

// Handler returns an http.Handler serving a GraphiQL page titled title that
// talks to the GraphQL server at endpoint (an absolute path such as
// "/graphql", or an absolute http(s) URL).
//
// The handler serves the page for "/" and its assets under AssetPrefix
// ("/_playground/<file>.<hash>.<ext>"), and 404s for any other path, so mount
// it at "/":
//
//	mux.Handle("/", playground.Handler("Baton", "/graphql"))
//
// or under a subtree with the prefix stripped:
//
//	mux.Handle("/playground/", http.StripPrefix("/playground", playground.Handler("Baton", "/graphql")))
//
// Assets are cached by browsers for a year (their names contain a content
// hash); the page itself is served with Cache-Control: no-cache.
func Handler(title, endpoint string) http.Handler {
	rel := func(a *asset) string { return strings.TrimPrefix(AssetPrefix, "/") + a.name }
	var buf bytes.Buffer
	if err := page.Execute(&buf, pageData{
		Title:    title,
		Endpoint: endpoint,
		React:    rel(reactJS),
		ReactDOM: rel(reactDOMJS),
		GraphiQL: rel(graphiqlJS),
		CSS:      rel(graphiqlCS),
	}); err != nil {
		panic("playground: rendering page: " + err.Error())
	}
	html := buf.Bytes()

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var serve func()
		switch p := r.URL.Path; {
		case p == "/":
			serve = func() {
				h := w.Header()
				h.Set("Content-Type", "text/html; charset=utf-8")
				h.Set("Cache-Control", "no-cache")
				h.Set("X-Content-Type-Options", "nosniff")
				http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(html))
			}
		case strings.HasPrefix(p, AssetPrefix):
			if a, ok := assetsByName[p[len(AssetPrefix):]]; ok {
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
		serve()
	})
}
