//go:build linux

// kill -9 while an order revision is being applied (issue 12): a big
// amendment is one transaction, so a server killed while it applies it
// leaves the order either as it was (revision 0) or with the whole
// revision applied (revision 1), never a mix. The process helpers are in
// replicas_test.go.

package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonhq/baton/engine/enginetest"
)

// rcCatalog: every SERVER line gets four ITEM steps: Reserve, a milestone
// (it completes as soon as it is ready, so a removed line has completed
// work to undo) whose compensation Release is a manual task, then three
// manual tasks in a row. Done (PLAN) follows every Test. Nothing calls out
// and no person works the queues: nothing changes unless the test asks.
const rcCatalog = `version: 1
products:
  - {code: SERVER, type: COMMERCIAL}
  - {code: T-SRV, type: TECHNICAL}
decomposition:
  - {name: srv, from: SERVER, to: T-SRV}
scenarios:
  - name: main
    groups:
      - name: Work
        steps:
          - name: Reserve
            type: MILESTONE
            scope: ITEM
            product: T-SRV
            compensate: {name: Release, type: MANUAL_TASK, task: {queue: undo}}
          - {name: Install, type: MANUAL_TASK, scope: ITEM, product: T-SRV, task: {queue: field}}
          - {name: Configure, type: MANUAL_TASK, scope: ITEM, product: T-SRV, task: {queue: field}}
          - {name: Test, type: MANUAL_TASK, scope: ITEM, product: T-SRV, task: {queue: field}}
          - {name: Done, type: MILESTONE}
    dependencies:
      - {step: Install, after: [Reserve], scope: ITEM}
      - {step: Configure, after: [Install], scope: ITEM}
      - {step: Test, after: [Configure], scope: ITEM}
      - {step: Done, after: [Test]}
`

const (
	rcLines  = 300 // lines per order: the amendment removes half and adds as many
	rcRounds = 4   // kills per backend (each costs a restart: on PostgreSQL mostly the migration check)
)

// rcLineIDs: the order's lines as submitted (O0000…), and as amended: the
// odd ones kept, the even ones removed, as many new ones (N0000…) added.
func rcLineIDs() (old, kept, removed, added []string) {
	for i := range rcLines {
		id := fmt.Sprintf("O%04d", i)
		old = append(old, id)
		if i%2 == 1 {
			kept = append(kept, id)
		} else {
			removed = append(removed, id)
		}
	}
	for i := range rcLines / 2 {
		added = append(added, fmt.Sprintf("N%04d", i))
	}
	return
}

func rcLineInputs(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"id": id, "productCode": "SERVER"}
	}
	return out
}

const rcAmendMutation = `mutation($o: ID!, $in: AmendOrderInput!, $r: Int) {
  amendOrder(orderId: $o, input: $in, expectedRevision: $r) { order { revision } revision { number status } } }`

func rcAmendBody(orderID string, lines []string, expected int, reason string) []byte {
	b, _ := json.Marshal(map[string]any{"query": rcAmendMutation, "variables": rcAmendVars(orderID, lines, expected, reason)})
	return b
}

// TestKillNineDuringRevision: an order of rcLines lines (four steps each,
// all waiting for people) is amended to remove half of its lines and add
// as many, and the server is killed with SIGKILL while the amendOrder
// request is in flight, after a delay that homes in on the moment the
// revision commits (bisection over the time an amendment takes without a
// kill), so that kills land inside the transaction and on either side of
// its commit. After each kill the server is started again on the same
// database and the order must be exactly as it was (revision 0: same
// lines, steps, ids, statuses and events, no revision row) or carry the
// whole revision (revision 1: exactly what the same amendment did to a
// reference order without a kill: removed lines REMOVED, their unstarted
// steps CANCELLED, a Release compensation for every completed Reserve, the
// new lines' steps, one ORDER_AMENDED APPLIED event), and the database
// passes the integrity check. Then the order is amended again through the
// restarted server, and the feed shows its revisions once each.
func TestKillNineDuringRevision(t *testing.T) {
	t.Parallel()
	for _, b := range enginetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			rcRun(t, b.URL(t))
		})
	}
	if os.Getenv("BATON_TEST_POSTGRES_URL") == "" {
		t.Log("PostgreSQL not tested: set BATON_TEST_POSTGRES_URL (make test does)")
	}
}

// rcRun runs the test on one database. Nothing in it is ever deleted, so
// the integrity check every test database gets when its test ends
// (enginetest.CheckDatabases, entstore.CheckURL) sees what every kill
// left behind.
func rcRun(t *testing.T, dbURL string) {
	catPath := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(catPath, []byte(rcCatalog), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := repConfig{DatabaseURL: dbURL, Env: []string{"BATON_CATALOG=" + catPath}}
	db := rcOpenDB(t, dbURL)
	srv := repStart(t, "baton-0", cfg)
	old, kept, removed, added := rcLineIDs()
	amended := append(slices.Clone(kept), added...)

	// The reference: the same amendment, applied without a kill.
	refID := rcSubmit(t, srv, "rc-ref", old)
	refBefore := rcRead(t, db, "rc-ref")
	rcCheckSubmitted(t, refBefore, old)
	start := time.Now()
	d := srv.mustGQL(rcAmendMutation, rcAmendVars(refID, amended, 0, "reference"))
	took := time.Since(start)
	if rev := d["amendOrder"].(map[string]any)["revision"].(map[string]any); rev["number"] != float64(1) || rev["status"] != "APPLIED" {
		t.Fatalf("reference amendment: revision %v; want number 1, APPLIED", rev)
	}
	ref := rcRead(t, db, "rc-ref")
	rcCheckApplied(t, "reference", refBefore, ref, kept, removed, added)
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("reference amendment of %d lines (−%d +%d): %s; %d steps → %d", rcLines, len(removed), len(added),
		took.Round(time.Millisecond), len(refBefore.steps), len(ref.steps))

	// Kills: bisect on the delay (after the request is written) between
	// "the old plan survived" and "the revision survived".
	lo, hi := time.Duration(0), took+took/5
	outcomes := map[int]int{}
	var survivors [2]string // an order that kept revision 0, one that got 1
	for round := range rcRounds {
		ext := fmt.Sprintf("rc-%d", round)
		id := rcSubmit(t, srv, ext, old)
		before := rcRead(t, db, ext)
		rcCheckSubmitted(t, before, old)
		if rb := rcCanon(refBefore); !slices.Equal(rcCanon(before), rb) {
			t.Fatalf("round %d: the order as submitted differs from the reference as submitted:\n%s", round, rcDiff(rcCanon(before), rb))
		}
		// A little jitter, so that runs do not all kill at the same points.
		delay := lo + (hi-lo)/2 + time.Duration(rand.Int64N(int64(took/20)+1)) - took/40
		delay = max(delay, 0)
		answer, answered := rcAmendAndKill(t, srv, rcAmendBody(id, amended, 0, fmt.Sprintf("round %d", round)), delay)
		srv = repStart(t, fmt.Sprintf("baton-%d", round+1), cfg)
		after := rcRead(t, db, ext)
		what := "the old plan"
		switch after.revision {
		case 0:
			if answered {
				t.Errorf("round %d: amendOrder answered %s before the kill, but after the restart the order is at revision 0", round, answer)
			}
			if diff := rcDiff(rcExact(after), rcExact(before)); diff != "" {
				t.Errorf("round %d: the order is at revision 0 but is not the order as it was before the amendment (a mix):\n%s", round, diff)
			}
			lo = delay
			if survivors[1] == "" {
				// No kill has come after the commit yet: it may come later
				// than the reference's took (the database grows).
				hi = max(hi, delay+took/2)
			}
			survivors[0] = ext
		case 1:
			what = "the revision"
			rcCheckApplied(t, fmt.Sprintf("round %d", round), before, after, kept, removed, added)
			if diff := rcDiff(rcCanon(after), rcCanon(ref)); diff != "" {
				t.Errorf("round %d: the order is at revision 1 but differs from the reference amended without a kill (a mix):\n%s", round, diff)
			}
			hi = delay
			survivors[1] = ext
		default:
			t.Errorf("round %d: the order is at revision %d after one amendment", round, after.revision)
		}
		outcomes[after.revision]++
		t.Logf("round %d: kill -9 %s after the request was written (answered before the kill: %v) → %s (revision %d)",
			round, delay.Round(time.Millisecond), answered, what, after.revision)
	}
	t.Logf("kills: %d left the old plan, %d the revision; the commit lies between %s and %s after the request was written",
		outcomes[0], outcomes[1], lo.Round(time.Millisecond), hi.Round(time.Millisecond))

	// The restarted server goes on: each surviving order takes another
	// amendment (two more lines), and the feed has its revisions once each.
	for _, ext := range survivors {
		if ext == "" {
			continue
		}
		rcAmendAgain(t, srv, db, ext, amended, old)
	}
	if lines := repLogLines(srv, "panic"); len(lines) > 0 {
		t.Errorf("the server panicked:\n%s", strings.Join(lines, "\n"))
	}
}

func rcAmendVars(orderID string, lines []string, expected int, reason string) map[string]any {
	return map[string]any{"o": orderID, "r": expected, "in": map[string]any{"lines": rcLineInputs(lines), "reason": reason}}
}

func rcSubmit(t *testing.T, srv *repServer, ext string, lines []string) string {
	t.Helper()
	d := srv.mustGQL(submitMutation, map[string]any{"in": map[string]any{"externalId": ext, "accountId": "acct-" + ext,
		"lines": rcLineInputs(lines)}})
	return d["submitOrder"].(map[string]any)["id"].(string)
}

// rcAmendAndKill posts an amendOrder request and kills the server delay
// after the request's last byte was written. It returns the answer when
// one arrived before the kill.
func rcAmendAndKill(t *testing.T, srv *repServer, body []byte, delay time.Duration) (string, bool) {
	t.Helper()
	var once sync.Once
	wrote := make(chan struct{})
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(wrote) }) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodPost,
		srv.url+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	type result struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: b, err: err}
	}()
	select {
	case <-wrote:
	case r := <-done:
		t.Fatalf("amendOrder ended before its request was written: %d %s %v", r.status, r.body, r.err)
	case <-time.After(30 * time.Second):
		t.Fatal("amendOrder: the request was not written within 30s")
	}
	time.Sleep(delay)
	srv.kill()
	r := <-done
	if r.err != nil {
		return "", false
	}
	return fmt.Sprintf("HTTP %d %s", r.status, r.body), true
}

// rcAmendAgain amends a surviving order once more through the restarted
// server (two lines added, with the revision read) while a subscriber
// replays its ORDER_AMENDED events from the start: the feed has each
// revision's events once, as the table does.
func rcAmendAgain(t *testing.T, srv *repServer, db *sql.DB, ext string, amended, old []string) {
	t.Helper()
	st := rcRead(t, db, ext)
	d := srv.mustGQL(`query($e: String!) { orderByExternalId(externalId: $e) { id revision status } }`, map[string]any{"e": ext})
	o := d["orderByExternalId"].(map[string]any)
	id := o["id"].(string)
	if o["revision"] != float64(st.revision) {
		t.Errorf("%s: GraphQL says revision %v, the database %d", ext, o["revision"], st.revision)
	}
	feed, stop := wsSubscribe(t, srv.url, `subscription($o: ID) { events(orderId: $o, kinds: [ORDER_AMENDED], after: "0") { `+eventFields+` } }`,
		map[string]any{"o": id})
	defer stop()
	lines := slices.Clone(old)
	if st.revision == 1 {
		lines = slices.Clone(amended)
	}
	lines = append(lines, "X0000", "X0001")
	d = srv.mustGQL(rcAmendMutation, rcAmendVars(id, lines, st.revision, "after the restart"))
	rev := d["amendOrder"].(map[string]any)["revision"].(map[string]any)
	if rev["number"] != float64(st.revision+1) || rev["status"] != "APPLIED" {
		t.Errorf("%s: the amendment after the restart: revision %v; want number %d, APPLIED", ext, rev, st.revision+1)
	}
	after := rcRead(t, db, ext)
	for _, l := range []string{"X0000", "X0001"} {
		if got := after.lineSteps(l); got != "Install:WAITING Configure:PENDING Test:PENDING Reserve:COMPLETED" {
			t.Errorf("%s: line %s added after the restart has steps %q", ext, l, got)
		}
	}
	var want []string
	for _, e := range after.events {
		if e.kind == "ORDER_AMENDED" {
			want = append(want, fmt.Sprint(e.id))
		}
	}
	if len(want) != st.revision+1 {
		t.Errorf("%s: %d ORDER_AMENDED events in the table after revision %d; want one per revision", ext, len(want), st.revision+1)
	}
	repWait(t, 20*time.Second, 20*time.Millisecond, func() (bool, string) {
		got := feed.snapshot()
		return len(got) > 0 && got[len(got)-1].Cursor == want[len(want)-1], fmt.Sprintf("%d events", len(got))
	}, "%s: the feed never delivered the ORDER_AMENDED event of the amendment after the restart", ext)
	var got []string
	for _, e := range feed.snapshot() {
		got = append(got, e.Cursor)
		if e.To != "APPLIED" {
			t.Errorf("%s: ORDER_AMENDED event %s to %s; want APPLIED", ext, e.Cursor, e.To)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: the feed's ORDER_AMENDED events %v; the table's %v", ext, got, want)
	}
	if errs := repErrs(feed); len(errs) > 0 {
		t.Errorf("%s: subscription errors: %v", ext, errs)
	}
	// And its work goes on: the Install task of a line added after the
	// restart completes, and its Configure waits in turn.
	d = srv.mustGQL(`query($o: ID!) { steps(where: {orderID: $o, name: "Install", instanceKey: "ITEM:srv:X0000"}) { edges { node { id status } } } }`,
		map[string]any{"o": id})
	edges, _ := d["steps"].(map[string]any)["edges"].([]any)
	if len(edges) != 1 {
		t.Fatalf("%s: Install of line X0000: %v", ext, d)
	}
	task := edges[0].(map[string]any)["node"].(map[string]any)["id"].(string)
	d = srv.mustGQL(`mutation($s: ID!) { completeTask(stepId: $s) { status } }`, map[string]any{"s": task})
	if st := d["completeTask"].(map[string]any)["status"]; st != "COMPLETED" {
		t.Errorf("%s: completeTask(Install of X0000): %v", ext, st)
	}
	if got := rcRead(t, db, ext).lineSteps("X0000"); got != "Install:COMPLETED Configure:WAITING Test:PENDING Reserve:COMPLETED" {
		t.Errorf("%s: after its Install completed, line X0000 has steps %q", ext, got)
	}
	t.Logf("%s: amended again after the restart (revision %d → %d); the feed has its %d revisions once each", ext, st.revision, st.revision+1, len(want))
}

// ---------------------------------------------------------------------------
// The order as the database holds it.

type rcStep struct {
	id          int64
	name        string
	instance    string
	status      string
	pending     int
	frozen      bool
	compensates int64
}

type rcEvent struct {
	id     int64
	kind   string
	stepID int64
	from   string
	to     string
}

type rcOrder struct {
	id        int64
	status    string
	revision  int
	plan      string // status open_steps awaiting_lines
	openSteps int
	lines     []string // line_id status revision, in position order
	items     []string // id key removed_in
	steps     []rcStep
	revisions []string // number kind status
	events    []rcEvent

	byID   map[int64]rcStep
	byLine map[string][]rcStep // ITEM steps and their compensations, by order line
}

func rcOpenDB(t *testing.T, dbURL string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if path, ok := strings.CutPrefix(dbURL, "sqlite://"); ok {
		db, err = sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)&_pragma=busy_timeout(10000)")
	} else {
		db, err = sql.Open("postgres", dbURL)
	}
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	t.Cleanup(func() { db.Close() })
	return db
}

// rcRead reads the order with this external id (test input, not user
// input: it is written into the SQL). All reads run in one transaction.
func rcRead(t *testing.T, db *sql.DB, ext string) *rcOrder {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	o := &rcOrder{}
	if err := tx.QueryRow(fmt.Sprintf(`SELECT id, status, revision FROM orders WHERE external_id = '%s'`, ext)).Scan(&o.id, &o.status, &o.revision); err != nil {
		t.Fatalf("order %s: %v", ext, err)
	}
	var ps string
	var awaiting int
	if err := tx.QueryRow(fmt.Sprintf(`SELECT status, open_steps, awaiting_lines FROM plans WHERE order_id = %d`, o.id)).Scan(&ps, &o.openSteps, &awaiting); err != nil {
		t.Fatalf("plan of order %s: %v", ext, err)
	}
	o.plan = fmt.Sprintf("%s open=%d awaiting=%d", ps, o.openSteps, awaiting)
	rows := func(q string, scan func(*sql.Rows) error) {
		t.Helper()
		rs, err := tx.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rs.Close()
		for rs.Next() {
			if err := scan(rs); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := rs.Err(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rows(fmt.Sprintf(`SELECT line_id, status, revision FROM order_lines WHERE order_id = %d ORDER BY position, id`, o.id), func(r *sql.Rows) error {
		var id, st string
		var rev int
		err := r.Scan(&id, &st, &rev)
		o.lines = append(o.lines, fmt.Sprintf("%s %s %d", id, st, rev))
		return err
	})
	rows(fmt.Sprintf(`SELECT id, key, COALESCE(removed_in, -1) FROM fulfillment_lines WHERE order_id = %d ORDER BY id`, o.id), func(r *sql.Rows) error {
		var id int64
		var key string
		var removed int
		err := r.Scan(&id, &key, &removed)
		o.items = append(o.items, fmt.Sprintf("%d %s %d", id, key, removed))
		return err
	})
	rows(fmt.Sprintf(`SELECT id, name, instance_key, status, pending, frozen, COALESCE(compensates, 0) FROM steps WHERE order_id = %d ORDER BY id`, o.id), func(r *sql.Rows) error {
		var s rcStep
		err := r.Scan(&s.id, &s.name, &s.instance, &s.status, &s.pending, &s.frozen, &s.compensates)
		o.steps = append(o.steps, s)
		return err
	})
	rows(fmt.Sprintf(`SELECT number, kind, status FROM order_revisions WHERE order_id = %d ORDER BY number, id`, o.id), func(r *sql.Rows) error {
		var n int
		var k, st string
		err := r.Scan(&n, &k, &st)
		o.revisions = append(o.revisions, fmt.Sprintf("%d %s %s", n, k, st))
		return err
	})
	rows(fmt.Sprintf(`SELECT id, kind, COALESCE(step_id, 0), COALESCE("from", ''), "to" FROM events WHERE order_id = %d ORDER BY id`, o.id), func(r *sql.Rows) error {
		var e rcEvent
		err := r.Scan(&e.id, &e.kind, &e.stepID, &e.from, &e.to)
		o.events = append(o.events, e)
		return err
	})
	return o
}

// lineOf is the order line an ITEM step runs for ("" for other steps):
// the instance key ends with the line id (ITEM:<rule>:<line>).
func lineOf(s rcStep) string {
	if !strings.HasPrefix(s.instance, "ITEM:") {
		return ""
	}
	return s.instance[strings.LastIndexByte(s.instance, ':')+1:]
}

// index builds byID and byLine once (the order is not read again).
func (o *rcOrder) index() {
	if o.byID != nil {
		return
	}
	o.byID = make(map[int64]rcStep, len(o.steps))
	o.byLine = map[string][]rcStep{}
	for _, s := range o.steps {
		o.byID[s.id] = s
	}
	for _, s := range o.steps {
		l := lineOf(s)
		if s.compensates != 0 {
			l = lineOf(o.byID[s.compensates])
		}
		if l != "" {
			o.byLine[l] = append(o.byLine[l], s)
		}
	}
}

// lineSteps: the line's steps as name:status, in the order of
// rcStepRank; a compensation (instance UNDO:<step id>) counts for the line
// of the step it undoes.
func (o *rcOrder) lineSteps(line string) string {
	o.index()
	var out []string
	for _, s := range o.byLine[line] {
		out = append(out, s.name+":"+s.status)
	}
	sort.Slice(out, func(i, j int) bool { return rcStepRank(out[i]) < rcStepRank(out[j]) })
	return strings.Join(out, " ")
}

func rcStepRank(s string) string {
	name, _, _ := strings.Cut(s, ":")
	return map[string]string{"Install": "1", "Configure": "2", "Test": "3", "Reserve": "4", "Release": "5"}[name] + s
}

func (o *rcOrder) stepID(name, line string) int64 {
	o.index()
	for _, s := range o.byLine[line] {
		if s.name == name && s.compensates == 0 {
			return s.id
		}
	}
	return 0
}

// rcExact renders everything, ids included: for "nothing changed".
func rcExact(o *rcOrder) []string {
	out := []string{fmt.Sprintf("order %s revision %d", o.status, o.revision), "plan " + o.plan}
	for _, l := range o.lines {
		out = append(out, "line "+l)
	}
	for _, it := range o.items {
		out = append(out, "item "+it)
	}
	for _, s := range o.steps {
		out = append(out, fmt.Sprintf("step %d %s %s %s pending=%d frozen=%v compensates=%d", s.id, s.name, s.instance, s.status, s.pending, s.frozen, s.compensates))
	}
	for _, r := range o.revisions {
		out = append(out, "revision "+r)
	}
	for _, e := range o.events {
		out = append(out, fmt.Sprintf("event %d %s step=%d %s>%s", e.id, e.kind, e.stepID, e.from, e.to))
	}
	return out
}

// rcCanon renders the order without ids (steps by name and instance, a
// compensation by the step it undoes, events as a sorted multiset): for
// comparing two orders given the same input.
func rcCanon(o *rcOrder) []string {
	byID := map[int64]rcStep{}
	for _, s := range o.steps {
		byID[s.id] = s
	}
	out := []string{fmt.Sprintf("order %s revision %d", o.status, o.revision), "plan " + o.plan}
	for _, l := range o.lines {
		out = append(out, "line "+l)
	}
	var items, steps, events []string
	for _, it := range o.items {
		_, rest, _ := strings.Cut(it, " ")
		items = append(items, "item "+rest)
	}
	for _, s := range o.steps {
		steps = append(steps, fmt.Sprintf("step %s|%s %s pending=%d frozen=%v", s.name, rcInstance(s, byID), s.status, s.pending, s.frozen))
	}
	for _, e := range o.events {
		st := ""
		if s, ok := byID[e.stepID]; ok {
			st = " " + s.name + "|" + rcInstance(s, byID)
		}
		events = append(events, fmt.Sprintf("event %s%s %s>%s", e.kind, st, e.from, e.to))
	}
	slices.Sort(items)
	slices.Sort(steps)
	slices.Sort(events)
	out = append(out, items...)
	out = append(out, steps...)
	for _, r := range o.revisions {
		out = append(out, "revision "+r)
	}
	return append(out, events...)
}

// rcInstance is a step's instance key without ids: a compensation's
// (UNDO:<step id>) names the step it undoes by its own name and instance.
func rcInstance(s rcStep, byID map[int64]rcStep) string {
	if s.compensates == 0 {
		return s.instance
	}
	c, ok := byID[s.compensates]
	if !ok {
		return fmt.Sprintf("UNDO a step %d not on the order", s.compensates)
	}
	if want := fmt.Sprintf("UNDO:%d", c.id); s.instance != want {
		return fmt.Sprintf("%s (not %s)", s.instance, want)
	}
	return "UNDO " + c.name + "|" + c.instance
}

// rcDiff describes how got differs from want ("" when equal), briefly.
func rcDiff(got, want []string) string {
	gs, ws := map[string]int{}, map[string]int{}
	for _, s := range got {
		gs[s]++
	}
	for _, s := range want {
		ws[s]++
	}
	var extra, missing []string
	for _, s := range got {
		if ws[s] == 0 || gs[s] > ws[s] {
			extra = append(extra, s)
			gs[s]--
		}
	}
	for _, s := range want {
		if gs[s] <= 0 {
			missing = append(missing, s)
		}
	}
	if len(extra) == 0 && len(missing) == 0 {
		if slices.Equal(got, want) {
			return ""
		}
		return "the same rows in another order"
	}
	short := func(l []string) string {
		if len(l) > 15 {
			return strings.Join(l[:15], "\n    ") + fmt.Sprintf("\n    … (%d in all)", len(l))
		}
		return strings.Join(l, "\n    ")
	}
	return fmt.Sprintf("  %d rows not expected:\n    %s\n  %d rows missing:\n    %s", len(extra), short(extra), len(missing), short(missing))
}

// rcCheckSubmitted: the order as submitted: every line's Reserve
// completed, its Install waiting, the rest pending; no revision.
func rcCheckSubmitted(t *testing.T, o *rcOrder, lines []string) {
	t.Helper()
	if o.revision != 0 || len(o.revisions) != 0 {
		t.Fatalf("submitted order: revision %d, revisions %v", o.revision, o.revisions)
	}
	for _, l := range lines {
		if got := o.lineSteps(l); got != "Install:WAITING Configure:PENDING Test:PENDING Reserve:COMPLETED" {
			t.Fatalf("submitted order: line %s has steps %q", l, got)
		}
	}
	if want := 4*len(lines) + 1; len(o.steps) != want {
		t.Fatalf("submitted order: %d steps; want %d", len(o.steps), want)
	}
	rcCheckCounts(t, "submitted order", o)
}

// rcCheckCounts: the plan's count of open steps is the steps' own.
func rcCheckCounts(t *testing.T, what string, o *rcOrder) {
	t.Helper()
	open := 0
	for _, s := range o.steps {
		switch s.status {
		case "COMPLETED", "SKIPPED", "CANCELLED":
		default:
			open++
		}
	}
	if open != o.openSteps {
		t.Errorf("%s: the plan counts %d open steps; %d steps are open", what, o.openSteps, open)
	}
}

// rcCheckApplied: after is before with the whole revision 1 applied.
func rcCheckApplied(t *testing.T, what string, before, after *rcOrder, kept, removed, added []string) {
	t.Helper()
	if after.revision != 1 || !slices.Equal(after.revisions, []string{"1 AMEND APPLIED"}) {
		t.Errorf("%s: revision %d, revisions %v; want 1, [1 AMEND APPLIED]", what, after.revision, after.revisions)
	}
	lines := map[string]string{}
	for _, l := range after.lines {
		id, rest, _ := strings.Cut(l, " ")
		lines[id] = rest
	}
	bad := 0
	check := func(ok bool, format string, args ...any) {
		t.Helper()
		if !ok {
			if bad++; bad <= 10 {
				t.Errorf(what+": "+format, args...)
			}
		}
	}
	beforeSteps := map[int64]rcStep{}
	for _, s := range before.steps {
		beforeSteps[s.id] = s
	}
	afterSteps := map[int64]rcStep{}
	comps := map[int64][]rcStep{}
	for _, s := range after.steps {
		afterSteps[s.id] = s
		if s.compensates != 0 {
			comps[s.compensates] = append(comps[s.compensates], s)
		}
	}
	for _, l := range removed {
		check(lines[l] == "REMOVED 1", "removed line %s is %q; want REMOVED at revision 1", l, lines[l])
		check(after.lineSteps(l) == "Install:CANCELLED Configure:CANCELLED Test:CANCELLED Reserve:COMPLETED Release:WAITING",
			"removed line %s has steps %q; want its unstarted steps CANCELLED and a Release compensation waiting", l, after.lineSteps(l))
		reserve := after.stepID("Reserve", l)
		cs := comps[reserve]
		check(len(cs) == 1 && cs[0].name == "Release", "removed line %s: Reserve (step %d) has compensations %v; want one Release", l, reserve, cs)
	}
	for _, l := range kept {
		check(lines[l] == "DECOMPOSED 0", "kept line %s is %q; want DECOMPOSED at revision 0", l, lines[l])
		for _, name := range []string{"Reserve", "Install", "Configure", "Test"} {
			id := after.stepID(name, l)
			check(id != 0 && id == before.stepID(name, l) && afterSteps[id] == beforeSteps[id],
				"kept line %s: %s is %+v; before the amendment %+v", l, name, afterSteps[id], beforeSteps[before.stepID(name, l)])
		}
	}
	for _, l := range added {
		check(lines[l] == "DECOMPOSED 1", "added line %s is %q; want DECOMPOSED at revision 1", l, lines[l])
		check(after.lineSteps(l) == "Install:WAITING Configure:PENDING Test:PENDING Reserve:COMPLETED",
			"added line %s has steps %q", l, after.lineSteps(l))
	}
	if want := len(before.steps) + len(removed) + 4*len(added); len(after.steps) != want {
		t.Errorf("%s: %d steps; want %d (%d before, a compensation per removed line, four per added line)", what, len(after.steps), want, len(before.steps))
	}
	removedItems := 0
	for _, it := range after.items {
		if strings.HasSuffix(it, " 1") {
			removedItems++
		}
	}
	if removedItems != len(removed) {
		t.Errorf("%s: %d fulfillment lines removed in revision 1; want %d", what, removedItems, len(removed))
	}
	// Events: the ones before, then the revision's: one ORDER_AMENDED
	// APPLIED, a STEP_STATUS to CANCELLED per cancelled step, a
	// COMPENSATION_STARTED per compensation.
	if len(after.events) < len(before.events) || !slices.Equal(after.events[:len(before.events)], before.events) {
		t.Errorf("%s: the order's events before the amendment are not the first of its events now", what)
	} else {
		kinds := map[string]int{}
		for _, e := range after.events[len(before.events):] {
			switch {
			case e.kind == "ORDER_AMENDED":
				kinds["ORDER_AMENDED "+e.from+">"+e.to]++
			case e.kind == "STEP_STATUS" && e.to == "CANCELLED":
				kinds["cancelled"]++
			case e.kind == "COMPENSATION_STARTED":
				kinds["compensation"]++
			}
		}
		if kinds["ORDER_AMENDED >APPLIED"] != 1 || len(kinds) != 3 || kinds["cancelled"] != 3*len(removed) || kinds["compensation"] != len(removed) {
			t.Errorf("%s: the revision's events %v; want one ORDER_AMENDED >APPLIED, %d cancelled, %d compensations",
				what, kinds, 3*len(removed), len(removed))
		}
	}
	rcCheckCounts(t, what, after)
}
