// Package enginetest holds what the engine's tests share: the backends every
// store test runs against (SQLite always; PostgreSQL when the test services
// are up, as `make test` arranges) and a fake clock start. It is a leaf: it
// knows no store, so that a store's own tests can use it; the check every
// database gets at the end of its test is registered by the test package
// (CheckDatabases).
package enginetest

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq" // PostgreSQL driver

	"github.com/batonhq/baton/engine"
)

// Epoch is where fake clocks start in tests.
var Epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// Backend is a database a store test runs against.
type Backend struct {
	Name string
	// URL returns the DATABASE_URL of a fresh, empty database for one test.
	URL func(t testing.TB) string
}

// Backends returns SQLite and, when BATON_TEST_POSTGRES_URL is set,
// PostgreSQL.
func Backends() []Backend {
	bs := []Backend{{Name: "sqlite", URL: SQLiteURL}}
	if os.Getenv("BATON_TEST_POSTGRES_URL") != "" || os.Getenv("BATON_TEST_SERVICES") != "" {
		bs = append(bs, Backend{Name: "postgres", URL: PostgresURL})
	}
	return bs
}

// EachBackend runs fn as a subtest per backend.
func EachBackend(t *testing.T, fn func(t *testing.T, url string)) {
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, b.URL(t))
		})
	}
	if os.Getenv("BATON_TEST_POSTGRES_URL") == "" {
		t.Log("PostgreSQL not tested: set BATON_TEST_POSTGRES_URL (make test does)")
	}
}

// RequirePostgres skips the test when PostgreSQL is not configured, and
// fails it when the test services are expected (BATON_TEST_SERVICES, which
// make test and CI set) but BATON_TEST_POSTGRES_URL is missing: in CI a
// PostgreSQL test never passes by being skipped.
func RequirePostgres(t testing.TB) {
	t.Helper()
	if os.Getenv("BATON_TEST_POSTGRES_URL") != "" {
		return
	}
	if os.Getenv("BATON_TEST_SERVICES") == "" {
		t.Skip("PostgreSQL not configured: set BATON_TEST_POSTGRES_URL (make test does)")
	}
	t.Fatal("BATON_TEST_SERVICES is set but BATON_TEST_POSTGRES_URL is not")
}

// SQLiteURL returns a SQLite database in the test's temporary directory.
func SQLiteURL(t testing.TB) string {
	u := "sqlite://" + filepath.Join(t.TempDir(), "baton.db")
	checkAtEnd(t, u)
	return u
}

// A Check inspects the database at url once a test is over and returns
// what is wrong with it (nil: nothing).
type Check func(ctx context.Context, url string) ([]string, error)

var check Check

// CheckDatabases registers the check every database SQLiteURL and
// PostgresURL hand out gets when its test ends. A test package that uses
// them registers one (entstore.CheckURL, the references PostgreSQL does
// not enforce) in an init function, before its tests run.
func CheckDatabases(c Check) { check = c }

// checkAtEnd makes the test fail if, once it is over, the registered check
// finds a problem in the database. Without a registered check the test
// fails: a store test that is never checked must not pass unnoticed.
func checkAtEnd(t testing.TB, url string) {
	if check == nil {
		t.Fatal("enginetest: no database check registered: call enginetest.CheckDatabases(entstore.CheckURL) in an init function of the test package")
	}
	c := check
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		problems, err := c(ctx, url)
		if err != nil {
			t.Errorf("integrity check: %v", err)
		}
		for _, p := range problems {
			t.Errorf("integrity: %s", p)
		}
	})
}

// PostgresURL returns the test PostgreSQL with a schema of the test's own,
// dropped when the test ends. It fails the test when PostgreSQL is
// expected (BATON_TEST_SERVICES is set) but unreachable.
func PostgresURL(t testing.TB) string {
	base := os.Getenv("BATON_TEST_POSTGRES_URL")
	if base == "" {
		t.Fatal("BATON_TEST_SERVICES is set but BATON_TEST_POSTGRES_URL is not")
	}
	schema := fmt.Sprintf("t_%d_%08x", time.Now().UnixNano()%1e9, rand.Uint32())
	db, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatalf("open %s: %v", base, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
		db.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", base, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	checkAtEnd(t, u.String())
	return u.String()
}

// ExampleCatalog returns the text of examples/pro-server-package.yaml.
func ExampleCatalog(t testing.TB) string {
	for _, p := range []string{"examples/pro-server-package.yaml", "../examples/pro-server-package.yaml",
		"../../examples/pro-server-package.yaml", "../../../examples/pro-server-package.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			return string(b)
		}
	}
	t.Fatal("examples/pro-server-package.yaml not found")
	return ""
}

// Logger returns a logger that writes to the test's log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Eventually polls cond until it holds or timeout passes, then fails the
// test with msg. It waits for an outside party (a subscriber's feed, a
// client on another goroutine) to get somewhere; it measures nothing. The
// engine's own work is waited for without polling: run the runner until
// idle (orchestrator's Engine.RunUntilIdle).
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BundleLattice is a catalog whose bundles B0…Bn-1 each hold the next
// level twice over (Bi+1 and Ci+1, both holding Bi+2 and Ci+2): 2^n paths
// from B0 down, through only 2n products.
func BundleLattice(n int) string {
	var b strings.Builder
	b.WriteString("version: 1\nproducts:\n")
	for i := range n {
		for _, p := range []string{"B", "C"} {
			fmt.Fprintf(&b, "  - code: %s%d\n    components: [{product: B%d}, {product: C%d}]\n", p, i, i+1, i+1)
		}
	}
	fmt.Fprintf(&b, "  - {code: B%d}\n  - {code: C%d}\n", n, n)
	b.WriteString(`scenarios:
  - name: s
    groups:
      - name: g
        steps:
          - {name: m, type: MILESTONE}
`)
	return b.String()
}

// WriteEach starts one write per id on the store at once, each running fn
// for its id, and returns a function that waits for them all and returns
// their errors by index: for tests of what a group of concurrent writes
// does when one of them fails.
func WriteEach(ctx context.Context, s engine.Store, ids []string, fn func(tx engine.Tx, id string) error) (wait func() []error) {
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Write(ctx, func(tx engine.Tx) error { return fn(tx, id) })
		}()
	}
	return func() []error { wg.Wait(); return errs }
}
