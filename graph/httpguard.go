package graph

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/batonhq/baton/engine/access"
)

// withCORS lets the listed browser origins call the API: a preflight is
// answered 204 (403 for an origin not listed), an actual request gets
// Access-Control-Allow-Origin for its origin. No origins: nothing is
// added, and browsers keep to the same origin. "*" allows any origin,
// without credentials.
func withCORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	any := slices.Contains(origins, "*")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		allowed := any || slices.Contains(origins, origin)
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if !allowed {
			if preflight {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r) // the browser withholds the answer
			return
		}
		if any {
			w.Header().Set("Access-Control-Allow-Origin", "*")
		} else {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
		}
		if preflight {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, X-Baton-User, X-Request-Id")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
		next.ServeHTTP(w, r)
	})
}

// rateLimiter bounds each principal's request rate. Limiters idle for a
// while are dropped (swept on use, at most once a minute), and the table
// has a hard cap, so that many callers cannot grow it without bound.
type rateLimiter struct {
	perSecond rate.Limit
	burst     int
	now       func() time.Time

	mu        sync.Mutex
	limiters  map[string]*limiterEntry
	lastSweep time.Time
}

type limiterEntry struct {
	lim  *rate.Limiter
	used time.Time
}

const (
	rateIdle    = 10 * time.Minute
	rateMaxKeys = 100_000
)

func newRateLimiter(perSecond float64, burst int) *rateLimiter {
	if burst < 1 {
		burst = 1
	}
	return &rateLimiter{perSecond: rate.Limit(perSecond), burst: burst, now: time.Now, limiters: map[string]*limiterEntry{}}
}

// reserve takes one request of key's budget, or says how long to wait.
func (l *rateLimiter) reserve(key string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute || len(l.limiters) >= rateMaxKeys {
		for k, e := range l.limiters {
			if now.Sub(e.used) > rateIdle || len(l.limiters) >= rateMaxKeys {
				delete(l.limiters, k)
			}
		}
		l.lastSweep = now
	}
	e := l.limiters[key]
	if e == nil {
		e = &limiterEntry{lim: rate.NewLimiter(l.perSecond, l.burst)}
		l.limiters[key] = e
	}
	e.used = now
	r := e.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// middleware refuses a principal's requests above its rate with 429
// RATE_LIMITED and Retry-After; it runs after authentication, so a
// principal is its method and name (the not yet authenticated, by
// address). An open development server is not limited.
func (l *rateLimiter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := access.From(r.Context())
		if p.Method == access.MethodOpen {
			next.ServeHTTP(w, r)
			return
		}
		key := string(p.Method) + ":" + p.Name
		if p.Method == access.MethodNone {
			key = "addr:" + clientAddr(r)
		}
		if ok, wait := l.reserve(key); !ok {
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			writeHTTPError(w, http.StatusTooManyRequests, codeRateLimited,
				"too many requests: "+strconv.FormatFloat(float64(l.perSecond), 'g', -1, 64)+" per second allowed; retry after "+strconv.Itoa(max(secs, 1))+"s")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// graphqlHTTPSpec brings gqlgen's answers to a request the server could
// not execute (a document that does not parse or validate, variables that
// do not coerce) in line with the GraphQL-over-HTTP spec: with
// application/json they are 200, not 422; with
// application/graphql-response+json they stay 4xx and carry no data
// entry. Other answers pass through unbuffered.
func graphqlHTTPSpec(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodGet || isWebsocket(r) {
			next.ServeHTTP(w, r)
			return
		}
		sw := &specWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		sw.finish()
	})
}

type specWriter struct {
	http.ResponseWriter
	status  int
	hold    bool // a request error of graphql-response+json: body buffered
	body    bytes.Buffer
	written bool
}

func (s *specWriter) WriteHeader(code int) {
	if s.written {
		return
	}
	s.written = true
	ct := s.Header().Get("Content-Type")
	switch {
	case code == http.StatusUnprocessableEntity && strings.HasPrefix(ct, "application/json"):
		code = http.StatusOK
	case code >= 400 && strings.HasPrefix(ct, "application/graphql-response+json"):
		s.hold, s.status = true, code
		return
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *specWriter) Write(b []byte) (int, error) {
	if !s.written {
		s.WriteHeader(http.StatusOK)
	}
	if s.hold {
		return s.body.Write(b)
	}
	return s.ResponseWriter.Write(b)
}

func (s *specWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok && !s.hold {
		f.Flush()
	}
}

// finish writes a held body without its data entry.
func (s *specWriter) finish() {
	if !s.hold {
		return
	}
	out := s.body.Bytes()
	var m map[string]json.RawMessage
	if json.Unmarshal(out, &m) == nil {
		if _, ok := m["data"]; ok {
			delete(m, "data")
			if b, err := json.Marshal(m); err == nil {
				out = b
			}
		}
	}
	s.Header().Del("Content-Length")
	s.ResponseWriter.WriteHeader(s.status)
	s.ResponseWriter.Write(out)
}
