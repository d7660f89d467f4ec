// Package sandbox simulates the external systems of the example catalog
// (ERP, shipping, licensing, field service, billing) so that `go run .`
// shows an order flow on a fresh machine. Every answer says it is
// simulated: header X-Baton-Sandbox: true and "sandbox": true in the body.
// Point the catalog's systems at real URLs (BATON_SANDBOX_URL) to leave it.
package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Handler answers POST /{system}/{anything}: 200 with a reference after a
// short, random delay (MinDelay..MaxDelay), like a system doing work. The
// same Idempotency-Key always gets the same reference, as a well-behaved
// system would answer a retry.
type Handler struct {
	MinDelay, MaxDelay time.Duration
	// FailEvery makes every n-th request fail with 503 (0: never), to see
	// retries in the demo.
	FailEvery int

	mu    sync.Mutex
	count int
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	parts := strings.SplitN(strings.Trim(r.URL.Path, "/"), "/", 2)
	system := parts[0]
	if system == "" {
		http.Error(w, "sandbox: POST /sandbox/{system}/{path}", http.StatusNotFound)
		return
	}
	w.Header().Set("X-Baton-Sandbox", "true")
	w.Header().Set("Content-Type", "application/json")
	h.mu.Lock()
	h.count++
	n := h.count
	h.mu.Unlock()
	if d := h.delay(); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if h.FailEvery > 0 && n%h.FailEvery == 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]any{"sandbox": true, "error": "simulated outage"})
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		key = r.URL.Path
	}
	sum := sha256.Sum256([]byte(system + "/" + key))
	ref := strings.ToUpper(system[:min(3, len(system))]) + "-" + strings.ToUpper(hex.EncodeToString(sum[:4]))
	json.NewEncoder(w).Encode(map[string]any{"sandbox": true, "ok": true, "ref": ref, "system": system})
}

func (h *Handler) delay() time.Duration {
	if h.MaxDelay <= h.MinDelay {
		return h.MinDelay
	}
	return h.MinDelay + time.Duration(rand.Int64N(int64(h.MaxDelay-h.MinDelay)))
}
