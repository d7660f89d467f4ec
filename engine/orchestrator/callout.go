package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
	"github.com/batonhq/baton/engine/metrics"
	"github.com/batonhq/baton/engine/tracing"
)

// newHTTPClient is the client callouts share: keep-alive connections to
// every system, no global timeout (each callout has its own).
func newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 512
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// callout performs one attempt of a CALLOUT step: the request the catalog
// describes, with `Idempotency-Key: <step id>` (the same on every attempt,
// so a system can tell a retry from a new request). 2xx completes (202
// waits for respondToCallout); a timeout, a 5xx, 408, 429 or a connection
// error is retried; any other 4xx falls out at once.
func (e *Engine) callout(ctx context.Context, c *Claim) (*Result, error) {
	var res *Result
	var err error
	if e.tracer == nil {
		res, err = e.calloutAttempt(ctx, c)
	} else {
		var span trace.Span
		ctx, span = e.calloutSpan(ctx, c)
		res, err = e.calloutAttempt(ctx, c)
		endCalloutSpan(span, res, err)
	}
	// Logged whether tracing is on or not (with it, the line carries the
	// trace and span ids).
	if err != nil {
		// Not the error's text (see calloutFailure): it stays on the step.
		e.log.WarnContext(ctx, "callout attempt failed", "system", c.Def.Callout.System.Name, "step", c.Step.ID,
			"name", c.Step.Name, "attempt", c.Attempt, "failure", calloutFailure(calloutOutcomeStatus(res, err)))
	}
	return res, err
}

// calloutAttempt is callout's request and the reading of its answer.
func (e *Engine) calloutAttempt(ctx context.Context, c *Claim) (*Result, error) {
	def := c.Def.Callout
	env := e.stepEnvFor(c.Step, c.Ctx)
	path := def.Path
	if def.PathX.Present() {
		v, err := def.PathX.Eval(env)
		if err != nil {
			return nil, &StepError{Message: fmt.Sprintf("path: %v", err)}
		}
		path = fmt.Sprint(v)
	}
	var body any
	if def.Body.Present() {
		v, err := def.Body.Eval(env)
		if err != nil {
			return nil, &StepError{Message: fmt.Sprintf("body: %v", err)}
		}
		body = v
	} else {
		body = map[string]any{"order": env.Order.ExternalID, "step": c.Step.Name, "stepId": strconv.Itoa(c.Step.ID)}
	}
	var reqBody io.Reader
	if def.Method != http.MethodGet && def.Method != http.MethodDelete {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, &StepError{Message: fmt.Sprintf("body: %v", err)}
		}
		reqBody = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, def.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, def.Method, def.System.URL+path, reqBody)
	if err != nil {
		return nil, &StepError{Message: fmt.Sprintf("request: %v", err)}
	}
	for k, v := range def.System.Headers {
		req.Header.Set(k, v)
	}
	for _, h := range def.Headers {
		v, err := h.Expr.Eval(env)
		if err != nil {
			return nil, &StepError{Message: fmt.Sprintf("header %s: %v", h.Name, err)}
		}
		req.Header.Set(h.Name, fmt.Sprint(v))
	}
	if reqBody != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", strconv.Itoa(c.Step.ID))
	req.Header.Set("X-Baton-Step", c.Step.Name)
	req.Header.Set("X-Baton-Attempt", strconv.Itoa(c.Attempt))
	tracing.Inject(ctx, req.Header) // traceparent, when the attempt has a span
	resp, err := e.http.Do(req)
	if err != nil {
		msg := err.Error()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			msg = fmt.Sprintf("%s %s: no answer within %s", def.Method, req.URL.Redacted(), def.Timeout)
		}
		return nil, &StepError{Message: msg, Retryable: true}
	}
	defer resp.Body.Close()
	// One byte past the limit tells a long answer from one of exactly the
	// limit's size.
	limit := e.limits.CalloutResponseBytes
	raw, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, &StepError{Message: fmt.Sprintf("read answer: %v", err), Retryable: true, HTTPStatus: resp.StatusCode}
	}
	tooLong := len(raw) > limit
	if tooLong {
		raw = raw[:limit]
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
	case code >= 500, code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return nil, &StepError{Message: fmt.Sprintf("%s %s: %s%s", def.Method, req.URL.Redacted(), resp.Status, snippet(raw)),
			Retryable: true, HTTPStatus: code}
	default:
		return nil, &StepError{Message: fmt.Sprintf("%s %s: %s%s", def.Method, req.URL.Redacted(), resp.Status, snippet(raw)),
			HTTPStatus: code}
	}
	// A 2xx answer becomes the step's output. What the stores cannot hold
	// as it is — a NUL character or invalid UTF-8, which PostgreSQL
	// refuses and SQLite keeps, a value nested past the limits — fails this
	// attempt here, with its reason, like a 5xx: it must not reach the
	// transaction that records this outcome together with others.
	unusable := func(format string, args ...any) *StepError {
		return &StepError{Message: fmt.Sprintf("%s %s: %s: ", def.Method, req.URL.Redacted(), resp.Status) + fmt.Sprintf(format, args...),
			Retryable: true, HTTPStatus: resp.StatusCode}
	}
	if tooLong {
		return nil, unusable("the answer is longer than %d bytes", limit)
	}
	if at := invalidUTF8(raw); at >= 0 {
		return nil, unusable("the answer is not valid UTF-8 (byte %d)", at)
	}
	var parsed any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &parsed); err != nil {
			parsed = string(raw)
		}
	}
	parsed = engine.NormalizeJSON(parsed)
	if msg := e.unstorable("response.body", parsed); msg != "" {
		return nil, unusable("the answer cannot be stored: %s", msg)
	}
	res := &Result{HTTPStatus: resp.StatusCode, Wait: resp.StatusCode == http.StatusAccepted}
	if m, ok := parsed.(map[string]any); ok {
		res.Output = m
	} else if parsed != nil {
		res.Output = map[string]any{"body": parsed}
	}
	// A 202 only acknowledges: `set` maps the answer, which comes later
	// with respondToCallout.
	if len(def.Set) > 0 && !res.Wait {
		headers := map[string]string{}
		for k := range resp.Header {
			headers[k] = resp.Header.Get(k)
		}
		renv := &catalog.ResponseEnv{StepEnv: *env, Response: &catalog.ResponseView{Status: resp.StatusCode, Body: parsed, Headers: headers}}
		// A mapping that fails says nothing of the system: retrying cannot
		// help.
		if err := e.mapResponse(def, renv, c.Step.ItemID != 0, res); err != nil {
			return nil, &StepError{Message: err.Error(), HTTPStatus: resp.StatusCode}
		}
	}
	return res, nil
}

// snippet is the start of an answer for an error message. The message is
// stored as the step's error, so it must be storable whatever the answer
// held: cut on a character boundary, NUL characters and invalid UTF-8
// spelled out.
func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	return ": " + storableText(string(b), 200)
}

// invalidUTF8 returns the offset of the first byte of b that is not valid
// UTF-8, or -1. JSON is UTF-8 (RFC 8259); encoding/json would quietly
// replace such bytes, so the stored answer would differ from the one
// received.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// calloutOutcome names an attempt's outcome for the metrics.
func calloutOutcome(res *Result, err error) string {
	if err != nil {
		if se, ok := err.(*StepError); ok && !se.Retryable {
			return metrics.OutcomeRejected
		}
		return metrics.OutcomeError
	}
	if res != nil && res.Wait {
		return metrics.OutcomeAccepted
	}
	return metrics.OutcomeSuccess
}
