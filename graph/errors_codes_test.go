package graph

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/batonhq/baton/engine"
)

// Every engine code has its extensions.code in the one table, and no
// source file of graph or graph/wsgorilla writes a code as a literal
// string: codes are named (the table, the transport constants in
// errors.go, wsgorilla.OperationLimitCode), so the set the server can send
// is the set listed there.
func TestEveryCodeInTheTable(t *testing.T) {
	for _, c := range engine.Codes {
		if codes[c] == "" {
			t.Errorf("engine code %s has no extensions.code in graph's table", c)
		}
	}
	codeLike := regexp.MustCompile(`^[A-Z][A-Z_]{4,}$`)
	allowed := map[string]bool{"errors.go": true, "protocol.go": true}
	for _, dir := range []string{".", "wsgorilla"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") || allowed[filepath.Base(f)] {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			file, err := parser.ParseFile(token.NewFileSet(), f, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				if v, err := strconv.Unquote(lit.Value); err == nil && codeLike.MatchString(v) {
					t.Errorf("%s: the code-like literal %q; name it in errors.go's table", f, v)
				}
				return true
			})
		}
	}
}
