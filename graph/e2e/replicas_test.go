//go:build linux

// Replicas: server processes built from this repository (batonBinary), two
// of them on one PostgreSQL schema and one Redis, as in production. This
// file also holds the process helpers crash_test.go uses (rep*: replica
// processes, dedicated redis-servers, the database as the tests read it).
//
// Linux only: child processes get Pdeathsig, so that a test binary that
// dies (timeout panic) does not leave servers behind.

package e2e

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq" // PostgreSQL driver, for reading the tables

	"github.com/batonhq/baton/engine/enginetest"
)

// ---------------------------------------------------------------------------
// Services.

// repPostgres returns a DATABASE_URL with a schema of the test's own (every
// replica of the test uses it); see enginetest.RequirePostgres.
func repPostgres(t *testing.T) string {
	t.Helper()
	enginetest.RequirePostgres(t)
	return enginetest.PostgresURL(t)
}

// repRedisServerBinary is the redis-server dedicated servers are started
// from. It skips without the test services and fails when they are
// expected but BATON_TEST_REDIS_SERVER is not set.
func repRedisServerBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("BATON_TEST_REDIS_SERVER"); bin != "" {
		return bin
	}
	if os.Getenv("BATON_TEST_SERVICES") == "" {
		t.Skip("no redis-server to start: set BATON_TEST_REDIS_SERVER (make test does)")
	}
	t.Fatal("BATON_TEST_SERVICES is set but BATON_TEST_REDIS_SERVER is not")
	return ""
}

// repRedisURL returns a Redis for the test's replicas: a dedicated
// redis-server when one can be started (the test then runs in parallel with
// others: pub/sub channels ignore the DB number, so replicas of different
// tests must not share a server), else the shared BATON_TEST_REDIS_URL (the
// test then runs alone in this package).
func repRedisURL(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("BATON_TEST_REDIS_SERVER"); bin != "" {
		t.Parallel()
		return repStartRedis(t, bin).url()
	}
	if u := os.Getenv("BATON_TEST_REDIS_URL"); u != "" {
		t.Log("BATON_TEST_REDIS_SERVER not set: using the shared BATON_TEST_REDIS_URL (not in parallel)")
		return u
	}
	if os.Getenv("BATON_TEST_SERVICES") == "" {
		t.Skip("Redis not configured: set BATON_TEST_REDIS_SERVER or BATON_TEST_REDIS_URL (make test does)")
	}
	t.Fatal("BATON_TEST_SERVICES is set but neither BATON_TEST_REDIS_SERVER nor BATON_TEST_REDIS_URL is")
	return ""
}

// repFreePort picks a free TCP port on 127.0.0.1.
func repFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// repRedis is a redis-server of the test's own, without persistence.
type repRedis struct {
	t       *testing.T
	bin     string
	dir     string
	port    int
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
	starts  int
}

func repStartRedis(t *testing.T, bin string) *repRedis {
	t.Helper()
	r := &repRedis{t: t, bin: bin, dir: t.TempDir()}
	var err error
	for range 5 {
		r.port = repFreePort(t)
		if err = r.start(10 * time.Second); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("start redis-server: %v\n%s", err, repTail(r.logPath, 30))
	}
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			t.Logf("--- tail of %s\n%s", r.logPath, repTail(r.logPath, 20))
		}
	})
	return r
}

func (r *repRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// start runs redis-server on r.port and waits (up to timeout) until it
// answers PING.
func (r *repRedis) start(timeout time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts++
	r.logPath = filepath.Join(r.dir, fmt.Sprintf("redis-%d.log", r.starts))
	f, err := os.Create(r.logPath)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	r.cmd, r.done = cmd, done
	deadline := time.Now().Add(timeout)
	for {
		if repRedisPing(r.port) == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server on port %d exited: %s", r.port, repTail(r.logPath, 5))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server on port %d did not answer PING within %s", r.port, timeout)
		}
	}
}

// kill stops the server with SIGKILL (as a crash would) and waits for it.
func (r *repRedis) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
	r.cmd = nil
}

func repRedisPing(port int) error {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING: %q", line)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Replica processes.

// repConfig configures a replica process.
type repConfig struct {
	DatabaseURL string
	RedisURL    string   // "" for the in-process broker
	Env         []string // more KEY=VALUE
}

// repServer is one Baton server process.
type repServer struct {
	t       *testing.T
	name    string
	url     string // http://127.0.0.1:PORT
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	state   *os.ProcessState // set when done is closed
}

var repHTTP = &http.Client{Timeout: 15 * time.Second}

// repStart starts a replica and waits (30s at most) until GET /readyz
// answers 200. The process is killed when the test ends; when the test
// failed, the tail of its log is printed.
func repStart(t *testing.T, name string, cfg repConfig) *repServer {
	t.Helper()
	bin := batonBinary(t)
	dir := t.TempDir()
	for try := 1; ; try++ {
		port := repFreePort(t)
		r := &repServer{t: t, name: name, url: fmt.Sprintf("http://127.0.0.1:%d", port),
			logPath: filepath.Join(dir, fmt.Sprintf("%s-%d.log", name, try)), done: make(chan struct{})}
		f, err := os.Create(r.logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(),
			"BATON_ADDR=127.0.0.1:"+strconv.Itoa(port),
			"DATABASE_URL="+cfg.DatabaseURL,
			"REDIS_URL="+cfg.RedisURL,
			"BATON_LOG_LEVEL=debug",
			"BATON_LOG_FORMAT=text",
			"BATON_API_TOKENS=",
			"BATON_CATALOG=",
			"BATON_SANDBOX_URL=",
		)
		cmd.Env = append(cmd.Env, cfg.Env...)
		cmd.Stdout, cmd.Stderr = f, f
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		err = cmd.Start()
		f.Close()
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		r.cmd = cmd
		go func() {
			cmd.Wait()
			r.state = cmd.ProcessState
			close(r.done)
		}()
		t.Cleanup(func() {
			r.kill()
			if t.Failed() {
				t.Logf("--- replica %s (pid %d): tail of %s\n%s", r.name, r.pid(), r.logPath, repTail(r.logPath, 60))
			}
		})
		err = r.waitReady(30 * time.Second)
		if err == nil {
			t.Logf("replica %s: %s, pid %d, log %s", name, r.url, r.pid(), r.logPath)
			return r
		}
		if try < 3 && strings.Contains(repTail(r.logPath, 10), "address already in use") {
			continue // lost the port to someone else: another one
		}
		t.Fatalf("replica %s not ready: %v\n--- tail of %s\n%s", name, err, r.logPath, repTail(r.logPath, 60))
	}
}

func (r *repServer) pid() int { return r.cmd.Process.Pid }

// exited reports whether the process has ended.
func (r *repServer) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// ready reports whether GET /readyz answers 200.
func (r *repServer) ready() (bool, string) {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(r.url + "/readyz")
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode == http.StatusOK, fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(b.String()))
}

func (r *repServer) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		if r.exited() {
			return fmt.Errorf("the process exited (%v)", r.state)
		}
		ok, status := r.ready()
		if ok {
			return nil
		}
		last = status
		if time.Now().After(deadline) {
			return fmt.Errorf("GET /readyz not 200 within %s; last answer: %s", timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL (kill -9) and waits for it.
func (r *repServer) kill() {
	if r.exited() {
		return
	}
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// waitExit waits up to timeout for the process to end.
func (r *repServer) waitExit(timeout time.Duration) bool {
	select {
	case <-r.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (r *repServer) tail(n int) string { return repTail(r.logPath, n) }

// gql posts a query to the replica.
func (r *repServer) gql(query string, vars map[string]any) (map[string]any, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	resp, err := repHTTP.Post(r.url+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("replica %s: %w", r.name, err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   map[string]any    `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("replica %s: HTTP %d: decode: %w", r.name, resp.StatusCode, err)
	}
	if len(out.Errors) > 0 {
		var msgs []string
		for _, e := range out.Errors {
			msgs = append(msgs, string(e))
		}
		return out.Data, fmt.Errorf("replica %s: graphql errors: %s", r.name, strings.Join(msgs, "; "))
	}
	return out.Data, nil
}

func (r *repServer) mustGQL(query string, vars map[string]any) map[string]any {
	r.t.Helper()
	d, err := r.gql(query, vars)
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

// submit submits a Pro Server Package order and returns its id.
func (r *repServer) submit(externalID string) string {
	r.t.Helper()
	d := r.mustGQL(submitMutation, orderVars(externalID))
	return d["submitOrder"].(map[string]any)["id"].(string)
}

// waitingInstall returns the id of the order's Install task when it waits.
func (r *repServer) waitingInstall(orderID string) (string, error) {
	d, err := r.gql(`query($o: ID!) { steps(where: {orderID: $o, name: "Install", status: WAITING}) { edges { node { id } } } }`,
		map[string]any{"o": orderID})
	if err != nil {
		return "", err
	}
	edges, _ := d["steps"].(map[string]any)["edges"].([]any)
	if len(edges) == 0 {
		return "", nil
	}
	return edges[0].(map[string]any)["node"].(map[string]any)["id"].(string), nil
}

// completeInstall waits (until deadline) for the order's Install task and
// completes it through this replica.
func (r *repServer) completeInstall(orderID string, deadline time.Time) {
	r.t.Helper()
	var stepID string
	repWaitUntil(r.t, deadline, 50*time.Millisecond, func() (bool, string) {
		id, err := r.waitingInstall(orderID)
		if err != nil {
			return false, err.Error()
		}
		stepID = id
		return id != "", ""
	}, "Install of order %s never waited (asked replica %s)", orderID, r.name)
	d := r.mustGQL(`mutation($s: ID!) { completeTask(stepId: $s) { status } }`, map[string]any{"s": stepID})
	if st := d["completeTask"].(map[string]any)["status"]; st != "COMPLETED" {
		r.t.Fatalf("completeTask(%s) through %s: status %v; want COMPLETED", stepID, r.name, st)
	}
}

// repTail returns the last n lines of a file.
func repTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// repLogLines returns the lines of a replica's log that contain any of the
// given strings.
func repLogLines(r *repServer, subs ...string) []string {
	b, _ := os.ReadFile(r.logPath)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, s := range subs {
			if strings.Contains(l, s) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Waiting.

// repWait polls cond every interval until it holds, or fails the test after
// timeout with msg and what cond last said.
func repWait(t *testing.T, timeout, interval time.Duration, cond func() (bool, string), msg string, args ...any) {
	t.Helper()
	repWaitUntil(t, time.Now().Add(timeout), interval, cond, msg, args...)
}

func repWaitUntil(t *testing.T, deadline time.Time, interval time.Duration, cond func() (bool, string), msg string, args ...any) {
	t.Helper()
	start := time.Now()
	for {
		ok, status := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if status != "" {
				status = " (last: " + status + ")"
			}
			t.Fatalf("after %s: "+msg+"%s", append(append([]any{time.Since(start).Round(time.Millisecond)}, args...), status)...)
		}
		time.Sleep(interval)
	}
}

// ---------------------------------------------------------------------------
// The database, as the tests read it.

func repOpenDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	t.Cleanup(func() { db.Close() })
	return db
}

type repEvent struct {
	ID      int64
	Kind    string
	OrderID int64
	StepID  int64
	From    string
	To      string
	Note    string
}

// repEvents returns the stored events with id > after, in id order.
func repEvents(db *sql.DB, after int64) ([]repEvent, error) {
	rows, err := db.Query(`SELECT id, kind, COALESCE(order_id, 0), COALESCE(step_id, 0), COALESCE("from", ''), "to", COALESCE(note, '')
		FROM events WHERE id > $1 ORDER BY id`, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []repEvent
	for rows.Next() {
		var e repEvent
		if err := rows.Scan(&e.ID, &e.Kind, &e.OrderID, &e.StepID, &e.From, &e.To, &e.Note); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func repMaxEventID(db *sql.DB) (int64, error) {
	var id int64
	err := db.QueryRow(`SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&id)
	return id, err
}

type repStep struct {
	ID         int64
	OrderID    int64
	Name       string
	Type       string
	Status     string
	LeaseOwner string
	Attempts   int
}

func repSteps(db *sql.DB) ([]repStep, error) {
	rows, err := db.Query(`SELECT id, COALESCE(order_id, 0), name, type, status, COALESCE(lease_owner, ''), attempt_count FROM steps ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []repStep
	for rows.Next() {
		var s repStep
		if err := rows.Scan(&s.ID, &s.OrderID, &s.Name, &s.Type, &s.Status, &s.LeaseOwner, &s.Attempts); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

type repAttempt struct {
	StepID     int64
	Number     int
	Outcome    string
	Worker     string
	FinishedAt time.Time
}

func repAttempts(db *sql.DB) ([]repAttempt, error) {
	rows, err := db.Query(`SELECT step_id, number, outcome, COALESCE(worker, ''), finished_at FROM attempts ORDER BY step_id, number, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []repAttempt
	for rows.Next() {
		var a repAttempt
		if err := rows.Scan(&a.StepID, &a.Number, &a.Outcome, &a.Worker, &a.FinishedAt); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// repOrderStatuses returns how many orders are in each status.
func repOrderStatuses(db *sql.DB) (map[string]int, error) {
	rows, err := db.Query(`SELECT status, COUNT(*) FROM orders GROUP BY status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// repWaitOrdersCompleted waits until n orders are COMPLETED.
func repWaitOrdersCompleted(t *testing.T, db *sql.DB, n int, deadline time.Time) {
	t.Helper()
	repWaitUntil(t, deadline, 100*time.Millisecond, func() (bool, string) {
		st, err := repOrderStatuses(db)
		if err != nil {
			return false, err.Error()
		}
		return st["COMPLETED"] == n, fmt.Sprintf("orders by status %v", st)
	}, "not all %d orders COMPLETED", n)
}

// repWorkerPID is the process id in a worker id (host-PID-hex), 0 if none.
func repWorkerPID(worker string) int {
	i := strings.LastIndexByte(worker, '-')
	if i <= 0 {
		return 0
	}
	j := strings.LastIndexByte(worker[:i], '-')
	pid, err := strconv.Atoi(worker[j+1 : i])
	if err != nil {
		return 0
	}
	return pid
}

// repCheckStepsCompletedOnce checks that every step is COMPLETED and has
// exactly one STEP_STATUS event to COMPLETED in the events table, and that
// every order has the same number of steps. It returns the steps.
func repCheckStepsCompletedOnce(t *testing.T, db *sql.DB, orders int) []repStep {
	t.Helper()
	steps, err := repSteps(db)
	if err != nil {
		t.Fatal(err)
	}
	events, err := repEvents(db, 0)
	if err != nil {
		t.Fatal(err)
	}
	completed := map[int64]int{}
	for _, e := range events {
		if e.Kind == "STEP_STATUS" && e.To == "COMPLETED" {
			completed[e.StepID]++
		}
	}
	perOrder := map[int64]int{}
	for _, s := range steps {
		perOrder[s.OrderID]++
		if s.Status != "COMPLETED" {
			t.Errorf("step %d (%s of order %d) is %s; want COMPLETED", s.ID, s.Name, s.OrderID, s.Status)
		}
		if n := completed[s.ID]; n != 1 {
			t.Errorf("step %d (%s of order %d) has %d COMPLETED events; want exactly 1", s.ID, s.Name, s.OrderID, n)
		}
	}
	if len(perOrder) != orders {
		t.Errorf("steps belong to %d orders; want %d", len(perOrder), orders)
	}
	counts := map[int]int{}
	for _, n := range perOrder {
		counts[n]++
	}
	if len(counts) != 1 {
		t.Errorf("orders have different numbers of steps: %v (steps per order: number of orders)", counts)
	}
	return steps
}

// repCursors returns the cursors of a feed, and an error when they are not
// strictly increasing.
func repCursors(events []wsEvent) ([]int64, error) {
	var out []int64
	var errs []error
	for i, e := range events {
		c, err := strconv.ParseInt(e.Cursor, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("event %d: cursor %q: %v", i, e.Cursor, err))
			continue
		}
		if len(out) > 0 && c <= out[len(out)-1] {
			errs = append(errs, fmt.Errorf("event %d: cursor %d after %d (not strictly increasing: a duplicate or out of order)", i, c, out[len(out)-1]))
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

// repDiffIDs describes how got differs from want (both id lists).
func repDiffIDs(got, want []int64) string {
	gs, ws := map[int64]int{}, map[int64]int{}
	for _, id := range got {
		gs[id]++
	}
	for _, id := range want {
		ws[id]++
	}
	var missing, extra, dup []int64
	for id := range ws {
		if gs[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range gs {
		if ws[id] == 0 {
			extra = append(extra, id)
		}
		if n > 1 {
			dup = append(dup, id)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	slices.Sort(dup)
	return fmt.Sprintf("got %d, want %d; missing %s; not in the table %s; duplicated %s",
		len(got), len(want), repShortList(missing), repShortList(extra), repShortList(dup))
}

func repShortList(ids []int64) string {
	if len(ids) > 30 {
		return fmt.Sprintf("%v… (%d)", ids[:30], len(ids))
	}
	return fmt.Sprint(ids)
}

func repMedian(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func repErrs(c *collector) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.errs)
}

// ---------------------------------------------------------------------------
// Tests.

// TestTwoReplicasShareWork: two server processes on one PostgreSQL schema
// and one Redis. Orders submitted through A, their manual tasks completed
// through B: every order completes, every step completes exactly once, and
// B's subscribers see everything, live, once, in commit order.
func TestTwoReplicasShareWork(t *testing.T) {
	redisURL := repRedisURL(t)
	dbURL := repPostgres(t)
	db := repOpenDB(t, dbURL)
	cfg := repConfig{DatabaseURL: dbURL, RedisURL: redisURL}
	a := repStart(t, "A", cfg)
	b := repStart(t, "B", cfg)

	statusFeed, stopStatus := wsSubscribe(t, b.url, `subscription { orderStatusChanged { `+eventFields+` } }`, nil)
	defer stopStatus()
	// graphql-transport-ws does not acknowledge a subscribe: give B a
	// moment to register it before the first change.
	time.Sleep(500 * time.Millisecond)

	const n = 10
	var ids []string
	var latencies []time.Duration
	var orderFeed *collector
	for i := range n {
		id := a.submit(fmt.Sprintf("replicas-%d", i))
		submitted := time.Now()
		ids = append(ids, id)
		// A's change reaches B's subscriber live (A commits, publishes on
		// Redis; B's hub delivers).
		repWait(t, 10*time.Second, time.Millisecond, func() (bool, string) {
			return statusFeed.has(func(e wsEvent) bool { return e.OrderID == id && e.To == "SUBMITTED" }), ""
		}, "order %s was submitted through A; B's orderStatusChanged subscriber never got its SUBMITTED event", id)
		latencies = append(latencies, time.Since(submitted))
		if i == 0 {
			// A second subscriber, later, on one order, from its beginning:
			// replay from the table, then live, without a gap.
			var stop func()
			orderFeed, stop = wsSubscribe(t, b.url, `subscription($o: ID) { events(orderId: $o, after: "0") { `+eventFields+` } }`,
				map[string]any{"o": id})
			defer stop()
		}
	}
	t.Logf("submit through A → SUBMITTED on B's feed: median %s, all %v", repMedian(latencies), latencies)
	if m := repMedian(latencies); m > 500*time.Millisecond {
		t.Errorf("A's events reach B's subscriber in %s (median): that is the table poll, not the Redis fan-out", m)
	}

	deadline := time.Now().Add(90 * time.Second)
	for _, id := range ids {
		b.completeInstall(id, deadline)
	}
	repWaitOrdersCompleted(t, db, n, deadline)
	repWait(t, 30*time.Second, 20*time.Millisecond, func() (bool, string) {
		got := len(statusFeed.snapshot())
		return got >= 3*n, fmt.Sprintf("%d events", got)
	}, "B's orderStatusChanged subscriber did not get the %d status changes of %d orders", 3*n, n)
	repWait(t, 30*time.Second, 20*time.Millisecond, func() (bool, string) {
		return orderFeed.has(func(e wsEvent) bool { return e.Kind == "ORDER_STATUS" && e.To == "COMPLETED" }), ""
	}, "B's events(orderId: %s) subscriber never saw the order complete", ids[0])
	time.Sleep(300 * time.Millisecond) // anything extra (a duplicate) would arrive now

	stored, err := repEvents(db, 0)
	if err != nil {
		t.Fatal(err)
	}

	// orderStatusChanged on B: every order SUBMITTED → IN_PROGRESS →
	// COMPLETED, each change once, in commit order, nothing else.
	got := statusFeed.snapshot()
	if errs := repErrs(statusFeed); len(errs) > 0 {
		t.Errorf("orderStatusChanged errors: %v", errs)
	}
	cursors, err := repCursors(got)
	if err != nil {
		t.Errorf("orderStatusChanged on B: %v", err)
	}
	var want []int64
	for _, e := range stored {
		if e.Kind == "ORDER_STATUS" {
			want = append(want, e.ID)
		}
	}
	if !slices.Equal(cursors, want) {
		t.Errorf("orderStatusChanged on B differs from the ORDER_STATUS events in the table: %s", repDiffIDs(cursors, want))
	}
	moves := map[string][]string{}
	for _, e := range got {
		if e.Kind != "ORDER_STATUS" {
			t.Errorf("orderStatusChanged delivered a %s event (cursor %s)", e.Kind, e.Cursor)
		}
		moves[e.OrderID] = append(moves[e.OrderID], e.From+">"+e.To)
	}
	for _, id := range ids {
		if m := strings.Join(moves[id], " "); m != ">SUBMITTED SUBMITTED>IN_PROGRESS IN_PROGRESS>COMPLETED" {
			t.Errorf("order %s on B's feed: %q; want SUBMITTED, IN_PROGRESS, COMPLETED once each", id, m)
		}
	}

	// events(orderId:, after: "0") on B: exactly the order's stored events.
	if errs := repErrs(orderFeed); len(errs) > 0 {
		t.Errorf("events(orderId) errors: %v", errs)
	}
	oc, err := repCursors(orderFeed.snapshot())
	if err != nil {
		t.Errorf("events(orderId: %s) on B: %v", ids[0], err)
	}
	want = nil
	first, _ := strconv.ParseInt(ids[0], 10, 64)
	for _, e := range stored {
		if e.OrderID == first {
			want = append(want, e.ID)
		}
	}
	if !slices.Equal(oc, want) {
		t.Errorf("events(orderId: %s) on B differs from the order's events in the table: %s", ids[0], repDiffIDs(oc, want))
	}

	// The same event is the same, field by field, whether it reached B
	// live from A (Redis) or was replayed from the table by cursor.
	live := map[string]wsEvent{}
	for _, e := range got {
		live[e.Cursor] = e
	}
	compared := 0
	for _, e := range orderFeed.snapshot() {
		l, ok := live[e.Cursor]
		if !ok {
			continue
		}
		compared++
		lj, _ := json.Marshal(l)
		ej, _ := json.Marshal(e)
		if string(lj) != string(ej) || l.At == "" {
			t.Errorf("event %s live: %+v; by cursor: %+v", e.Cursor, l, e)
		}
	}
	if compared < 3 {
		t.Errorf("only %d events to compare live and replayed", compared)
	}

	// Every step of every order completed exactly once.
	steps := repCheckStepsCompletedOnce(t, db, n)

	// Both replicas worked: attempts were made by both processes.
	attempts, err := repAttempts(db)
	if err != nil {
		t.Fatal(err)
	}
	byPID := map[int]int{}
	for _, at := range attempts {
		byPID[repWorkerPID(at.Worker)]++
	}
	t.Logf("%d orders, %d steps, %d events; attempts by A (pid %d): %d, by B (pid %d): %d",
		n, len(steps), len(stored), a.pid(), byPID[a.pid()], b.pid(), byPID[b.pid()])
	if byPID[a.pid()] == 0 || byPID[b.pid()] == 0 {
		t.Errorf("attempts by worker pid %v: want work on both A (%d) and B (%d)", byPID, a.pid(), b.pid())
	}
	for _, r := range []*repServer{a, b} {
		if lines := repLogLines(r, "panic", "level=ERROR"); len(lines) > 0 {
			t.Errorf("replica %s logged errors:\n%s", r.name, strings.Join(lines, "\n"))
		}
	}
}

// TestRedisRestartLosesNothing: Redis is only the feed. While it is down
// orders still run, and B's subscriber still gets A's events (from the
// table); after it comes back on the same port, live fan-out resumes. B's
// subscriber gets every event exactly once, in cursor order.
func TestRedisRestartLosesNothing(t *testing.T) {
	bin := repRedisServerBinary(t)
	t.Parallel()
	dbURL := repPostgres(t)
	db := repOpenDB(t, dbURL)
	rs := repStartRedis(t, bin)
	cfg := repConfig{DatabaseURL: dbURL, RedisURL: rs.url()}
	a := repStart(t, "A", cfg)
	b := repStart(t, "B", cfg)

	feed, stop := wsSubscribe(t, b.url, `subscription { events { `+eventFields+` } }`, nil)
	defer stop()
	time.Sleep(500 * time.Millisecond)

	var ids []string
	submitAndWait := func(phase string, k int) {
		t.Helper()
		var batch []string
		for i := range k {
			start := time.Now()
			id := a.submit(fmt.Sprintf("redis-%s-%d", phase, i))
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("%s: submitOrder through A took %s", phase, d)
			}
			batch = append(batch, id)
		}
		deadline := time.Now().Add(30 * time.Second)
		for _, id := range batch {
			b.completeInstall(id, deadline)
		}
		ids = append(ids, batch...)
		repWaitOrdersCompleted(t, db, len(ids), deadline)
		// B's subscriber has them, whatever the state of Redis.
		repWaitUntil(t, deadline.Add(10*time.Second), 20*time.Millisecond, func() (bool, string) {
			n := 0
			for _, id := range batch {
				if feed.has(func(e wsEvent) bool { return e.OrderID == id && e.Kind == "ORDER_STATUS" && e.To == "COMPLETED" }) {
					n++
				}
			}
			return n == len(batch), fmt.Sprintf("%d of %d", n, len(batch))
		}, "%s: B's subscriber did not see every order complete", phase)
	}

	submitAndWait("before", 2)

	// Outage.
	rs.kill()
	killed := time.Now()
	repWait(t, 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		okA, sa := a.ready()
		okB, sb := b.ready()
		return !okA && !okB, "A: " + sa + "; B: " + sb
	}, "both replicas should report not ready while Redis is down")
	submitAndWait("outage", 3)
	t.Logf("orders ran and reached B's subscriber while Redis was down (%s)", time.Since(killed).Round(time.Millisecond))

	// Back, on the same port.
	if err := rs.start(10 * time.Second); err != nil {
		t.Fatalf("restart redis-server on port %d: %v", rs.port, err)
	}
	restarted := time.Now()
	repWait(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		okA, sa := a.ready()
		okB, sb := b.ready()
		return okA && okB, "A: " + sa + "; B: " + sb
	}, "replicas not ready again after Redis came back")
	t.Logf("replicas ready %s after Redis came back", time.Since(restarted).Round(time.Millisecond))
	// Live fan-out again: A's submit reaches B quickly (not at the table
	// poll's pace). Give go-redis time to resubscribe first.
	var latencies []time.Duration
	for i := range 3 {
		id := a.submit(fmt.Sprintf("redis-live-%d", i))
		start := time.Now()
		repWait(t, 10*time.Second, time.Millisecond, func() (bool, string) {
			return feed.has(func(e wsEvent) bool { return e.OrderID == id && e.To == "SUBMITTED" }), ""
		}, "after the restart, order %s's SUBMITTED never reached B", id)
		latencies = append(latencies, time.Since(start))
		ids = append(ids, id)
		b.completeInstall(id, time.Now().Add(30*time.Second))
	}
	t.Logf("after the restart: submit through A → B's feed: %v", latencies)
	submitAndWait("after", 3)

	// B's feed is the table from its first event on: each event once, in
	// order.
	var stored []repEvent
	repWait(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		got := feed.snapshot()
		if len(got) == 0 {
			return false, "no events"
		}
		first, _ := strconv.ParseInt(got[0].Cursor, 10, 64)
		var err error
		stored, err = repEvents(db, first-1)
		if err != nil {
			return false, err.Error()
		}
		return len(got) >= len(stored) && got[len(got)-1].Cursor == strconv.FormatInt(stored[len(stored)-1].ID, 10),
			fmt.Sprintf("feed has %d events up to %s; table %d up to %d", len(got), got[len(got)-1].Cursor, len(stored), stored[len(stored)-1].ID)
	}, "B's subscriber never caught up with the events table")
	time.Sleep(300 * time.Millisecond)
	got := feed.snapshot()
	if errs := repErrs(feed); len(errs) > 0 {
		t.Errorf("subscription errors: %v", errs)
	}
	cursors, err := repCursors(got)
	if err != nil {
		t.Errorf("B's feed: %v", err)
	}
	want := make([]int64, len(stored))
	for i, e := range stored {
		want[i] = e.ID
	}
	if !slices.Equal(cursors, want) {
		t.Errorf("B's feed differs from the events table after cursor %d: %s", want[0]-1, repDiffIDs(cursors, want))
	}
	repCheckStepsCompletedOnce(t, db, len(ids))
	t.Logf("%d orders, %d events on B's feed, all in order, none twice", len(ids), len(got))
}

// TestTwoDeploymentsOnOneRedisStaySeparate: two independent deployments
// (each its own database) that use one Redis server with different DB
// numbers, as REDIS_URL redis://host:port/DB invites. Pub/sub ignores the
// DB number, so the channels carry the deployment's id (kept in its
// database): a subscriber gets exactly its own deployment's events.
func TestTwoDeploymentsOnOneRedisStaySeparate(t *testing.T) {
	bin := repRedisServerBinary(t)
	enginetest.RequirePostgres(t) // before t.Parallel
	t.Parallel()
	rs := repStartRedis(t, bin)
	db1URL, db2URL := repPostgres(t), repPostgres(t)
	db1 := repOpenDB(t, db1URL)
	one := repStart(t, "one", repConfig{DatabaseURL: db1URL, RedisURL: fmt.Sprintf("redis://127.0.0.1:%d/1", rs.port)})
	two := repStart(t, "two", repConfig{DatabaseURL: db2URL, RedisURL: fmt.Sprintf("redis://127.0.0.1:%d/2", rs.port)})

	feed, stop := wsSubscribe(t, one.url, `subscription { events { `+eventFields+` } }`, nil)
	defer stop()
	time.Sleep(500 * time.Millisecond)
	// Deployment two is busier: its event ids run ahead of one's.
	for i := range 3 {
		two.submit(fmt.Sprintf("other-%d", i))
	}
	time.Sleep(time.Second)
	var mine []string
	for i := range 2 {
		id := one.submit(fmt.Sprintf("mine-%d", i))
		mine = append(mine, id)
		one.completeInstall(id, time.Now().Add(30*time.Second))
	}
	repWaitOrdersCompleted(t, db1, len(mine), time.Now().Add(30*time.Second))
	time.Sleep(2 * time.Second) // the hub's table poll (1s) has run
	stored, err := repEvents(db1, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Both databases number their rows alike, so a foreign event may carry
	// the cursor of one of ours: compare what the events say, not only
	// their cursors.
	byID := map[int64]repEvent{}
	for _, e := range stored {
		byID[e.ID] = e
	}
	got := feed.snapshot()
	if _, err := repCursors(got); err != nil {
		t.Errorf("deployment one's feed: %v", err)
	}
	ours := map[int64]bool{}
	var foreign []string
	for _, e := range got {
		id, _ := strconv.ParseInt(e.Cursor, 10, 64)
		s, ok := byID[id]
		stepID := int64(0)
		if e.Step != nil {
			stepID, _ = strconv.ParseInt(e.Step.ID, 10, 64)
		}
		if ok && s.Kind == e.Kind && strconv.FormatInt(s.OrderID, 10) == e.OrderID && s.StepID == stepID && s.From == e.From && s.To == e.To {
			ours[id] = true
			continue
		}
		foreign = append(foreign, fmt.Sprintf("%s %s order %s %s>%s", e.Cursor, e.Kind, e.OrderID, e.From, e.To))
	}
	var missing []int64
	for _, e := range stored {
		if !ours[e.ID] {
			missing = append(missing, e.ID)
		}
	}
	if len(foreign) > 0 || len(missing) > 0 {
		if len(foreign) > 10 {
			foreign = append(foreign[:10], fmt.Sprintf("… (%d in all)", len(foreign)))
		}
		t.Errorf("deployment one's feed is not its events table (%d events): %d delivered events are not deployment one's (they come from deployment two through the shared Redis): %s; %d of one's own events never delivered: %s",
			len(stored), len(got)-len(ours), strings.Join(foreign, "; "), len(missing), repShortList(missing))
	}
}
