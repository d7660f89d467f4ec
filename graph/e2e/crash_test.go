//go:build linux

// Crash and shutdown: a replica killed with work in flight, or stopped with
// SIGTERM while it holds claims. The process helpers are in
// replicas_test.go.

package e2e

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/batonhq/baton/engine/enginetest"
)

// repStub plays every external system of the catalog: 200
// {"ok":true,"ref":"R"} after a delay, recording each request by its
// Idempotency-Key.
type repStub struct {
	srv      *httptest.Server
	delay    time.Duration
	mu       sync.Mutex
	hits     map[string][]repHit
	inflight int
}

type repHit struct {
	Attempt  int    // X-Baton-Attempt
	Step     string // X-Baton-Step
	At       time.Time
	Answered bool
}

func newRepStub(t *testing.T, delay time.Duration) *repStub {
	s := &repStub{delay: delay, hits: map[string][]repHit{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		key := r.Header.Get("Idempotency-Key")
		attempt, _ := strconv.Atoi(r.Header.Get("X-Baton-Attempt"))
		s.mu.Lock()
		i := len(s.hits[key])
		s.hits[key] = append(s.hits[key], repHit{Attempt: attempt, Step: r.Header.Get("X-Baton-Step"), At: time.Now()})
		s.inflight++
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.inflight--
			s.mu.Unlock()
		}()
		timer := time.NewTimer(s.delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return // the caller is gone (killed)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"ref":"R"}`)
		s.mu.Lock()
		s.hits[key][i].Answered = true
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *repStub) inFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight
}

// snapshot returns the requests so far, by Idempotency-Key.
func (s *repStub) snapshot() map[string][]repHit {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]repHit, len(s.hits))
	for k, v := range s.hits {
		out[k] = slices.Clone(v)
	}
	return out
}

// repCatalogFile writes the example catalog with its systems replaced: all
// at BATON_SANDBOX_URL, with the given timeout and a short fixed retry.
func repCatalogFile(t *testing.T, timeout string) string {
	t.Helper()
	text := enginetest.ExampleCatalog(t)
	i, j := strings.Index(text, "\nsystems:\n"), strings.Index(text, "\nproducts:\n")
	if i < 0 || j < i {
		t.Fatal("example catalog: no systems: block before products:")
	}
	var b strings.Builder
	b.WriteString("\nsystems:\n")
	for _, s := range []string{"erp", "shipping", "licensing", "fieldservice", "billing"} {
		fmt.Fprintf(&b, "  %s:\n    url: \"${BATON_SANDBOX_URL}/%s\"\n    timeout: %s\n    retry: {max: 5, policy: FIXED, backoff: 1s}\n", s, s, timeout)
	}
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(path, []byte(text[:i]+b.String()+text[j:]), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// repLease is the longest lease (lease_until − started_at) of RUNNING steps.
func repLease(t *testing.T, db *sql.DB) time.Duration {
	var secs float64
	if err := db.QueryRow(`SELECT COALESCE(EXTRACT(EPOCH FROM MAX(lease_until - started_at)), 0) FROM steps WHERE status = 'RUNNING'`).Scan(&secs); err != nil {
		t.Logf("read lease: %v", err)
	}
	return time.Duration(secs * float64(time.Second)).Round(time.Millisecond)
}

// TestKillNineLosesNothing: replica A is killed with SIGKILL while callouts
// are in flight. B recovers A's claims when their leases expire and every
// order completes, every step exactly once; the retried requests carry the
// step's Idempotency-Key, and only steps that were in flight were sent
// twice.
func TestKillNineLosesNothing(t *testing.T) {
	redisBin := os.Getenv("BATON_TEST_REDIS_SERVER")
	enginetest.RequirePostgres(t) // before t.Parallel
	t.Parallel()
	dbURL := repPostgres(t)
	db := repOpenDB(t, dbURL)
	stub := newRepStub(t, 300*time.Millisecond)
	cfg := repConfig{DatabaseURL: dbURL, Env: []string{
		"BATON_CATALOG=" + repCatalogFile(t, "1s"),
		"BATON_SANDBOX_URL=" + stub.srv.URL,
		// A short lease (1s timeout + 5s): recovery in seconds, not in
		// the default 31s.
		"BATON_LEASE_GRACE=5s",
	}}
	if redisBin != "" {
		cfg.RedisURL = repStartRedis(t, redisBin).url()
	} else {
		t.Log("no BATON_TEST_REDIS_SERVER: replicas without Redis (each hub polls the table)")
	}
	a := repStart(t, "A", cfg)
	b := repStart(t, "B", cfg)
	feed, stopFeed := wsSubscribe(t, b.url, `subscription { events { `+eventFields+` } }`, nil)
	defer stopFeed()
	time.Sleep(500 * time.Millisecond)

	const n = 20
	var ids []string
	for i := range n {
		ids = append(ids, a.submit(fmt.Sprintf("crash-%d", i)))
	}
	repWait(t, 15*time.Second, 2*time.Millisecond, func() (bool, string) {
		in := stub.inFlight()
		return in >= 5, fmt.Sprintf("%d requests in flight", in)
	}, "A never had 5 callouts in flight")

	lease := repLease(t, db)
	killed := time.Now()
	a.kill()
	time.Sleep(300 * time.Millisecond) // PostgreSQL ends A's sessions
	atKill := stub.snapshot()
	steps, err := repSteps(db)
	if err != nil {
		t.Fatal(err)
	}
	held := map[int64]repStep{} // RUNNING under A's lease when A died
	for _, s := range steps {
		if s.Status == "RUNNING" && repWorkerPID(s.LeaseOwner) == a.pid() {
			held[s.ID] = s
		}
	}
	if early, err := repAttempts(db); err == nil {
		for _, at := range early {
			if at.Outcome == "LOST" {
				t.Fatalf("a lease had expired already when the test looked at what A held (step %d): the machine is too slow for a %s lease", at.StepID, lease)
			}
		}
	}
	sent := 0
	for id := range held {
		if len(atKill[strconv.FormatInt(id, 10)]) > 0 {
			sent++
		}
	}
	t.Logf("kill -9 A: %d steps held by A (%d of them already sent to their system); lease %s", len(held), sent, lease)
	if len(held) == 0 {
		t.Fatal("A held no step when it was killed: the test did not test anything")
	}

	deadline := killed.Add(90 * time.Second)
	for _, id := range ids {
		b.completeInstall(id, deadline)
	}
	repWaitOrdersCompleted(t, db, n, deadline)
	recovery := time.Since(killed)

	attempts, err := repAttempts(db)
	if err != nil {
		t.Fatal(err)
	}
	lost := map[int64]bool{}
	var firstLost time.Time
	for _, at := range attempts {
		if at.Outcome != "LOST" {
			continue
		}
		lost[at.StepID] = true
		if firstLost.IsZero() || at.FinishedAt.Before(firstLost) {
			firstLost = at.FinishedAt
		}
		if _, ok := held[at.StepID]; !ok {
			t.Errorf("step %d has a LOST attempt (worker %s) but was not held by A when it died", at.StepID, at.Worker)
		}
	}
	for id, s := range held {
		if !lost[id] {
			t.Errorf("step %d (%s) was RUNNING under A's lease when A died but has no LOST attempt", id, s.Name)
		}
	}
	t.Logf("RECOVERY: all %d orders COMPLETED %s after kill -9 (lease %s; A's leases found expired %s after the kill)",
		n, recovery.Round(time.Millisecond), lease, firstLost.Sub(killed).Round(time.Millisecond))

	steps = repCheckStepsCompletedOnce(t, db, n)

	// Idempotency keys: one per step, reused by the retry; only steps in
	// flight at the kill were sent twice.
	hits := stub.snapshot()
	byID := map[int64]repStep{}
	for _, s := range steps {
		byID[s.ID] = s
	}
	dups := 0
	for key, hs := range hits {
		id, err := strconv.ParseInt(key, 10, 64)
		s, ok := byID[id]
		if err != nil || !ok || s.Type != "CALLOUT" {
			t.Errorf("request with Idempotency-Key %q (%s): not the id of a callout step", key, hs[0].Step)
			continue
		}
		if hs[0].Step != s.Name {
			t.Errorf("Idempotency-Key %s is step %s but the request says X-Baton-Step %s", key, s.Name, hs[0].Step)
		}
		if len(hs) == 1 {
			continue
		}
		dups++
		if _, ok := held[id]; !ok {
			t.Errorf("step %d (%s) was sent %d times but was not in flight at the kill: %+v", id, s.Name, len(hs), hs)
		}
		for i := 1; i < len(hs); i++ {
			if hs[i].Attempt <= hs[i-1].Attempt {
				t.Errorf("step %d: request %d has X-Baton-Attempt %d after %d", id, i+1, hs[i].Attempt, hs[i-1].Attempt)
			}
		}
	}
	for _, s := range steps {
		key := strconv.FormatInt(s.ID, 10)
		if s.Type != "CALLOUT" {
			continue
		}
		if len(hits[key]) == 0 {
			t.Errorf("callout step %d (%s) completed but its system never got a request", s.ID, s.Name)
		}
		if _, ok := held[s.ID]; ok && len(atKill[key]) > 0 && len(hits[key]) < 2 {
			t.Errorf("step %d (%s) was sent before the kill and lost with A, but no retry with its key reached the system", s.ID, s.Name)
		}
	}
	t.Logf("idempotency: %d keys, %d of them sent more than once (all in flight at the kill)", len(hits), dups)

	// B's subscriber: every event once, in order, A's last commits included
	// (A may have died between a commit and its publish).
	repWait(t, 20*time.Second, 50*time.Millisecond, func() (bool, string) {
		max, err := repMaxEventID(db)
		got := feed.snapshot()
		if err != nil || len(got) == 0 {
			return false, fmt.Sprint(err)
		}
		return got[len(got)-1].Cursor == strconv.FormatInt(max, 10), fmt.Sprintf("feed at %s, table at %d", got[len(got)-1].Cursor, max)
	}, "B's subscriber never caught up with the table")
	got := feed.snapshot()
	cursors, err := repCursors(got)
	if err != nil {
		t.Errorf("B's feed: %v", err)
	}
	stored, err := repEvents(db, cursors[0]-1)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int64, len(stored))
	for i, e := range stored {
		want[i] = e.ID
	}
	if !slices.Equal(cursors, want) {
		t.Errorf("B's feed differs from the events table: %s", repDiffIDs(cursors, want))
	}
	if lines := repLogLines(b, "panic"); len(lines) > 0 {
		t.Errorf("replica B panicked:\n%s", strings.Join(lines, "\n"))
	}
}

// TestGracefulShutdownReleasesClaims: SIGTERM to a replica that holds
// claims. It finishes what is running, hands back what it claimed but never
// started, and exits; the other replica finishes everything long before any
// lease could expire.
func TestGracefulShutdownReleasesClaims(t *testing.T) {
	redisBin := os.Getenv("BATON_TEST_REDIS_SERVER")
	enginetest.RequirePostgres(t) // before t.Parallel
	t.Parallel()
	dbURL := repPostgres(t)
	db := repOpenDB(t, dbURL)
	stub := newRepStub(t, time.Second)
	cfg := repConfig{DatabaseURL: dbURL, Env: []string{
		"BATON_CATALOG=" + repCatalogFile(t, "5s"),
		"BATON_SANDBOX_URL=" + stub.srv.URL,
		"BATON_LEASE_GRACE=60s", // leases far longer than the test may take
	}}
	if redisBin != "" {
		cfg.RedisURL = repStartRedis(t, redisBin).url()
	}
	cfgA := cfg
	// One worker: A takes on two steps at most, one running and one
	// waiting for the worker: claimed, not started.
	cfgA.Env = append(slices.Clone(cfg.Env), "BATON_WORKERS=1")
	a := repStart(t, "A", cfgA)
	b := repStart(t, "B", cfg)

	// The orders run on B up to their manual tasks; completing those
	// through A makes A claim the orders' SetupBilling callouts (two, the
	// rest are left READY for B). SetupBilling is the last callout of an
	// order: recording its outcome while A stops makes no new callout
	// READY. (When it does, A claims it while stopping and never runs or
	// releases it: TestStopHandsBackClaimsItNeverRuns.)
	const n = 6
	var ids []string
	for i := range n {
		ids = append(ids, b.submit(fmt.Sprintf("graceful-%d", i)))
	}
	installs := map[string]string{}
	repWait(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		for _, id := range ids {
			if installs[id] != "" {
				continue
			}
			step, err := b.waitingInstall(id)
			if err != nil {
				return false, err.Error()
			}
			installs[id] = step
		}
		waiting := 0
		for _, s := range installs {
			if s != "" {
				waiting++
			}
		}
		return waiting == n, fmt.Sprintf("%d of %d Install tasks waiting", waiting, n)
	}, "the orders' Install tasks never waited")
	for _, id := range ids {
		a.mustGQL(`mutation($s: ID!) { completeTask(stepId: $s) { status } }`, map[string]any{"s": installs[id]})
	}
	var held []repStep
	repWait(t, 15*time.Second, 5*time.Millisecond, func() (bool, string) {
		steps, err := repSteps(db)
		if err != nil {
			return false, err.Error()
		}
		held = held[:0]
		for _, s := range steps {
			if s.Status == "RUNNING" && repWorkerPID(s.LeaseOwner) == a.pid() {
				held = append(held, s)
			}
		}
		return len(held) >= 2 && stub.inFlight() >= 1, fmt.Sprintf("A holds %d steps; %d requests in flight", len(held), stub.inFlight())
	}, "A never held 2 steps with a request in flight")
	lease := repLease(t, db)

	termed := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGTERM to A holding %d steps (lease %s)", len(held), lease)
	if !a.waitExit(30 * time.Second) {
		t.Fatalf("A still running 30s after SIGTERM")
	}
	t.Logf("A exited %s after SIGTERM: %v", time.Since(termed).Round(time.Millisecond), a.state)
	if !a.state.Success() {
		t.Errorf("A exited with %v after SIGTERM; want status 0", a.state)
	}
	if lines := repLogLines(a, "panic", "goroutine "); len(lines) > 0 {
		t.Errorf("A panicked while shutting down:\n%s", strings.Join(lines, "\n"))
	}
	// Nothing is left under A's lease: what ran was recorded, what did not
	// start was handed back.
	steps, err := repSteps(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		if s.Status == "RUNNING" && repWorkerPID(s.LeaseOwner) == a.pid() {
			t.Errorf("step %d (%s of order %d) is still RUNNING under A's lease after A shut down: it waits for lease expiry (%s)",
				s.ID, s.Name, s.OrderID, lease)
		}
	}

	repWaitOrdersCompleted(t, db, n, termed.Add(40*time.Second))
	t.Logf("all %d orders COMPLETED %s after SIGTERM", n, time.Since(termed).Round(time.Millisecond))
	repCheckStepsCompletedOnce(t, db, n)

	attempts, err := repAttempts(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range attempts {
		if at.Outcome == "LOST" {
			t.Errorf("step %d: attempt %d LOST (worker %s): a lease expired", at.StepID, at.Number, at.Worker)
		}
	}
	events, err := repEvents(db, 0)
	if err != nil {
		t.Fatal(err)
	}
	released := 0
	for _, e := range events {
		if e.Kind == "STEP_STATUS" && e.From == "RUNNING" && e.To == "READY" && strings.Contains(e.Note, "released at shutdown") {
			released++
		}
	}
	t.Logf("A handed back %d claimed, unstarted steps at shutdown", released)
	if released == 0 {
		t.Errorf("A held %d steps with one worker when it got SIGTERM but handed none back (no RUNNING → READY event noted \"released at shutdown\")", len(held))
	}
	// A request the system got twice would be an attempt that ran on both.
	for key, hs := range stub.snapshot() {
		if len(hs) > 1 {
			t.Errorf("step %s (%s) was sent %d times", key, hs[0].Step, len(hs))
		}
	}
}

// TestStopHandsBackClaimsItNeverRuns: a replica stopped (SIGTERM) while
// its only running attempts finish. Recording their outcomes makes a
// dependent callout READY; a stopping runner claims nothing more (and a
// claim made by a transaction that began before Stop is handed back, not
// given to a new worker), so the replica exits 0 and leaves no step RUNNING
// under its lease. (It used to panic on the closed outcomes channel, or
// leave the step to lease expiry.)
//
// Each round: a fresh database, one replica, one order (its three first
// callouts are claimed by the submit and all run on the 1s stub), SIGTERM
// while they run.
func TestStopHandsBackClaimsItNeverRuns(t *testing.T) {
	enginetest.RequirePostgres(t) // before t.Parallel
	t.Parallel()
	for round := 1; round <= 6; round++ {
		dbURL := repPostgres(t)
		db := repOpenDB(t, dbURL)
		stub := newRepStub(t, time.Second)
		cfg := repConfig{DatabaseURL: dbURL, Env: []string{
			"BATON_CATALOG=" + repCatalogFile(t, "5s"),
			"BATON_SANDBOX_URL=" + stub.srv.URL,
			"BATON_LEASE_GRACE=60s",
		}}
		a := repStart(t, fmt.Sprintf("A%d", round), cfg)
		a.submit(fmt.Sprintf("stop-%d", round))
		repWait(t, 10*time.Second, 2*time.Millisecond, func() (bool, string) {
			return stub.inFlight() >= 3, fmt.Sprintf("%d requests in flight", stub.inFlight())
		}, "round %d: the order's first three callouts never ran", round)
		if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if !a.waitExit(30 * time.Second) {
			t.Fatalf("round %d: replica still running 30s after SIGTERM", round)
		}
		steps, err := repSteps(db)
		if err != nil {
			t.Fatal(err)
		}
		var stranded []string
		for _, s := range steps {
			if s.Status == "RUNNING" && repWorkerPID(s.LeaseOwner) == a.pid() {
				stranded = append(stranded, fmt.Sprintf("%s (step %d, attempt %d)", s.Name, s.ID, s.Attempts))
			}
		}
		panicLines := repLogLines(a, "panic", "goroutine ", "runner.go", "released claimed")
		if !a.state.Success() || len(stranded) > 0 {
			t.Errorf("round %d: after SIGTERM the replica exited with %v and left %d steps RUNNING under its lease until it expires (5s timeout + 60s grace): %s\nits log:\n%s",
				round, a.state, len(stranded), strings.Join(stranded, ", "), strings.Join(panicLines, "\n"))
			return
		}
		t.Logf("round %d: clean shutdown (exit 0, nothing left RUNNING)", round)
	}
}
