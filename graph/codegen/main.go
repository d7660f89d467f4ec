// Command codegen runs gqlgen with gqlgen.yml, as `gqlgen generate` does,
// and then resolves the objects named in serialObjects on the goroutine
// that marshals them: their fields one after another, and a list of them
// element by element.
//
// gqlgen runs every field that has a resolver or a method taking a
// context on a goroutine of its own, and every element of a list of
// objects on one too (at most exec.worker_limit at a time). For a step
// that is two or three goroutines per step whose fields are already
// loaded (ent's eager loading fills dependsOn, fulfillmentLine and the
// rest before the step is marshalled): reading a 50,000-step plan started
// about 200,000 goroutines and spent a sixth of its CPU growing their
// stacks. Their fields never wait on a dataloader, so nothing is lost by
// running them in line.
//
//	go generate ./...   (server.go runs it after ent's generation)
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"regexp"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
)

// serialObjects are the GraphQL objects resolved in line. An object
// belongs here only when none of its fields waits on a dataloader: a
// loader gathers the keys asked for within its wait, and asked one at a
// time each key would wait alone. Objects reached through these fields
// (a step's order, its plan) keep their own concurrency.
var serialObjects = []string{"Step"}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "codegen:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.LoadConfigFromDefaultLocations()
	if err != nil {
		return err
	}
	if err := api.Generate(cfg, api.AddPlugin(serial{})); err != nil {
		return err
	}
	return serializeLists(cfg.Exec.Dir())
}

// serial marks serialObjects before gqlgen writes its executor.
type serial struct{}

func (serial) Name() string { return "serial-objects" }

func (serial) GenerateCode(data *codegen.Data) error {
	for _, name := range serialObjects {
		o := data.Objects.ByName(name)
		if o == nil {
			return fmt.Errorf("serialObjects names %s, which the schema does not have", name)
		}
		o.DisableConcurrency = true
	}
	return nil
}

// serializeLists rewrites the marshalling of lists of serialObjects in the
// generated executor to graphql's serial loop (generated.marshalSerially,
// in graph/generated/serial.go): gqlgen's template has no switch for it.
func serializeLists(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.generated.go"))
	if err != nil {
		return err
	}
	rewritten := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		out := src
		for _, name := range serialObjects {
			out = serializeListsOf(out, name, &rewritten)
		}
		if bytes.Equal(out, src) {
			continue
		}
		if out, err = format.Source(out); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := os.WriteFile(f, out, 0o644); err != nil {
			return err
		}
	}
	if rewritten == 0 {
		return fmt.Errorf("no list of %v found to marshal serially: has gqlgen's output changed?", serialObjects)
	}
	return nil
}

// concurrentSlice is the call gqlgen's template writes for a list of
// objects: graphql.MarshalSliceConcurrently(ctx, len(v), limit,
// omitPanicHandler, func…).
var concurrentSlice = regexp.MustCompile(`graphql\.MarshalSliceConcurrently\(ctx, len\(v\), \d+, (true|false), `)

// serializeListsOf rewrites the body of every marshal function of a list
// of name (marshalNStep2ᚕ…, marshalOStep2ᚕ…).
func serializeListsOf(src []byte, name string, n *int) []byte {
	head := regexp.MustCompile(`(?m)^func \(ec \*executionContext\) marshal[NO]` + regexp.QuoteMeta(name) + `2ᚕ[^(]*\(`)
	var out []byte
	for {
		loc := head.FindIndex(src)
		if loc == nil {
			return append(out, src...)
		}
		end := bytes.Index(src[loc[1]:], []byte("\n}\n"))
		if end < 0 {
			return append(out, src...)
		}
		end += loc[1]
		body := src[loc[0]:end]
		if concurrentSlice.Match(body) {
			body = concurrentSlice.ReplaceAll(body, []byte("marshalSerially(ctx, len(v), ${1}, "))
			*n++
		}
		out = append(out, src[:loc[0]]...)
		out = append(out, body...)
		src = src[end:]
	}
}
