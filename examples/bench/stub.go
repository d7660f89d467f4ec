package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
)

// stub is the external systems of the benchmark: POST /callout/<Step>
// answers 200 at once with {"ok":true,"ref":"TRK-…"}.
type stub struct {
	srv   *http.Server
	url   string
	calls atomic.Int64
}

func startStub() (*stub, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &stub{url: "http://" + ln.Addr().String()}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/callout/") {
			http.NotFound(w, r)
			return
		}
		n := s.calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"ref":"TRK-%d"}`, n)
	})}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *stub) Close() error { return s.srv.Close() }
