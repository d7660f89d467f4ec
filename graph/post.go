package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// postTransport is gqlgen's transport.POST with the same requests,
// answers and status codes, except that a response is written as it is:
// transport.POST hands the whole response to json.Marshal, which scans
// and copies the data gqlgen already encoded twice more (for a
// 50,000-step plan, 8.5 MB: about 25 MB of buffers and a pass over every
// byte) before writing it. The JSON is the same; its bytes differ in
// that strings keep <, >, & and U+2028/U+2029 as gqlgen wrote them,
// where json.Marshal would escape them (responses are application/json
// with nosniff, never HTML).
type postTransport struct{}

var _ graphql.Transport = postTransport{}

const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

func (postTransport) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" {
		return false
	}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && r.Method == http.MethodPost && mediaType == mediaJSON
}

func (postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	contentType := responseContentType(r)
	w.Header().Set("Content-Type", contentType)
	start := graphql.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("could not read request body: %+v", err)}))
		return
	}
	var params graphql.RawParams
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("json request body could not be decoded: %+v body:%s", err, body)}))
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	rc, opErr := exec.CreateOperationContext(ctx, &params)
	if opErr != nil {
		w.WriteHeader(statusFor(contentType, opErr))
		writeResponse(w, exec.DispatchError(graphql.WithOperationContext(ctx, rc), opErr))
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	writeResponse(w, responses(ctx))
}

// responseContentType is transport.POST's choice: the first of
// application/json and application/graphql-response+json the Accept
// header names, application/json for none or a wildcard, and
// application/graphql-response+json when it names neither.
func responseContentType(r *http.Request) string {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return mediaJSON
	}
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mediaType {
		case "*/*", "application/*", mediaJSON:
			return mediaJSON
		case mediaGraphQLResponse:
			return mediaGraphQLResponse
		}
	}
	return mediaGraphQLResponse
}

// statusFor is the status of a request refused before it runs: 422 for
// application/json and 400 for application/graphql-response+json when the
// request itself is wrong (a parse or validation error), 200 otherwise.
func statusFor(contentType string, errs gqlerror.List) int {
	if errcode.GetErrorKind(errs) != errcode.KindProtocol {
		return http.StatusOK
	}
	if contentType == mediaGraphQLResponse {
		return http.StatusBadRequest
	}
	return http.StatusUnprocessableEntity
}

// writeResponse writes resp as json.Marshal would, the data as gqlgen
// encoded it. Errors and extensions, small, still go through json.Marshal.
func writeResponse(w io.Writer, resp *graphql.Response) {
	if resp == nil {
		resp = &graphql.Response{}
	}
	if resp.Label != "" || resp.Path != nil || resp.HasNext != nil {
		// Incremental delivery's fields (not in a plain POST's answer).
		enc, err := json.Marshal(resp)
		if err != nil {
			panic(fmt.Errorf("unable to marshal the response: %w", err))
		}
		_, _ = w.Write(enc)
		return
	}
	var head bytes.Buffer
	head.WriteByte('{')
	if len(resp.Errors) > 0 {
		writeMember(&head, "errors", resp.Errors)
		head.WriteByte(',')
	}
	head.WriteString(`"data":`)
	if _, err := w.Write(head.Bytes()); err != nil {
		return
	}
	data := []byte(resp.Data)
	if len(data) == 0 {
		data = []byte("null")
	}
	if _, err := w.Write(data); err != nil {
		return
	}
	var tail bytes.Buffer
	if len(resp.Extensions) > 0 {
		tail.WriteByte(',')
		writeMember(&tail, "extensions", resp.Extensions)
	}
	tail.WriteByte('}')
	_, _ = w.Write(tail.Bytes())
}

// writeMember writes "name":value.
func writeMember(b *bytes.Buffer, name string, v any) {
	enc, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Errorf("unable to marshal the response's %s: %w", name, err))
	}
	fmt.Fprintf(b, "%q:", name)
	b.Write(enc)
}
