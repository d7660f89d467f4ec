// Package static serves embedded files the way the dashboard and the
// playground need them: under names that change with their content (so
// they are cached for a year), with ETags, gzip-compressed when that pays.
package static

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Asset is one embedded file.
type Asset struct {
	ContentType string
	ETag        string // quoted
	Data        []byte

	gzOnce sync.Once
	gz     []byte // gzip-compressed Data, or nil when compressing does not pay
}

// gzipped returns the gzip-compressed content, compressing it on first use.
func (a *Asset) gzipped() []byte {
	a.gzOnce.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(a.Data)
		if zw.Close() == nil && buf.Len() < len(a.Data) {
			a.gz = buf.Bytes()
		}
	})
	return a.gz
}

var noModTime time.Time // no Last-Modified: caching relies on hashed names and ETags

// Serve answers r with the asset: immutable for a year, gzipped when the
// client accepts it (with its own ETag), HEAD, If-None-Match and Range
// handled by http.ServeContent.
func (a *Asset) Serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.ContentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Vary", "Accept-Encoding")
	body, etag := a.Data, a.ETag
	if AcceptsGzip(r) {
		if gz := a.gzipped(); gz != nil {
			h.Set("Content-Encoding", "gzip")
			body, etag = gz, `"`+strings.Trim(a.ETag, `"`)+`-gz"`
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", noModTime, bytes.NewReader(body))
}

// AcceptsGzip reports whether the request's Accept-Encoding allows gzip.
func AcceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "x-gzip" {
				continue
			}
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			return q > 0
		}
	}
	return false
}
