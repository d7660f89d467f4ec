package engine_test

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// The pure core (the vocabulary and ports in engine, the catalog, planning)
// imports nothing stateful and nothing above it. A forbidden import anywhere
// in a core package's transitive dependencies fails this test.
var coreRules = map[string]struct {
	allowBaton []string // packages of this module the package may depend on
}{
	"github.com/batonhq/baton/engine":          {},
	"github.com/batonhq/baton/engine/calendar": {},
	"github.com/batonhq/baton/engine/catalog":  {[]string{"github.com/batonhq/baton/engine", "github.com/batonhq/baton/engine/calendar"}},
	"github.com/batonhq/baton/engine/plan": {[]string{"github.com/batonhq/baton/engine", "github.com/batonhq/baton/engine/catalog",
		"github.com/batonhq/baton/engine/calendar"}},
}

// forbidden are import paths (or prefixes ending in "/") no core package may
// reach.
var forbidden = []string{
	"database/sql", "net", "net/http", "os/exec", "log/slog", "crypto/rand", "math/rand", "math/rand/v2",
	"entgo.io/", "github.com/lib/pq", "modernc.org/", "github.com/redis/", "github.com/99designs/",
	"github.com/gorilla/", "github.com/prometheus/",
}

func TestCoreImports(t *testing.T) {
	for pkg, rule := range coreRules {
		for _, dep := range deps(t, pkg) {
			if dep == pkg {
				continue
			}
			for _, f := range forbidden {
				if dep == f || strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f) {
					t.Errorf("%s depends on %s: the core imports nothing stateful", pkg, dep)
				}
			}
			if strings.HasPrefix(dep, "github.com/batonhq/baton/") || dep == "github.com/batonhq/baton" {
				ok := false
				for _, a := range rule.allowBaton {
					ok = ok || dep == a
				}
				if !ok {
					t.Errorf("%s depends on %s: only %v allowed", pkg, dep, rule.allowBaton)
				}
			}
		}
	}
}

// deps lists pkg's transitive dependencies (non-test files) with go list.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath", pkg).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list %s: %v\n%s", pkg, err, ee.Stderr)
		}
		t.Fatalf("go list %s: %v", pkg, err)
	}
	var paths []string
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct{ ImportPath string }
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p.ImportPath)
	}
	if len(paths) == 0 {
		t.Fatalf("go list %s: no packages", pkg)
	}
	return paths
}
