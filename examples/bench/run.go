package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/lib/pq"
	"github.com/redis/go-redis/v9"
)

// result is one run, with the keys WORKLOAD.md lists.
type result struct {
	Workload       string      `json:"workload"`
	Backend        string      `json:"backend"`
	Replicas       int         `json:"replicas"`
	N              int         `json:"n"`
	Concurrency    int         `json:"concurrency"`
	Subscribers    int         `json:"subscribers,omitempty"`
	Completed      int         `json:"completed"`
	Errors         int         `json:"errors"`
	WallS          float64     `json:"wall_s"`
	OrdersPerS     float64     `json:"orders_per_s"`
	StepsPerS      float64     `json:"steps_per_s"`
	LatencyMS      percentiles `json:"latency_ms"`
	EventLatencyMS percentiles `json:"event_latency_ms"`
	// FeedMessages is how many events all subscriptions received during
	// the run (what the servers' CPU for the feed is spent on).
	FeedMessages int          `json:"feed_messages"`
	Servers      []procUsage  `json:"servers"`
	Postgres     *procUsage   `json:"postgres,omitempty"`
	Redis        *procUsage   `json:"redis,omitempty"`
	Driver       procUsage    `json:"driver"`
	FirstError   string       `json:"first_error,omitempty"`
	Config       runnerConfig `json:"config"`
}

type runnerConfig struct {
	Warmup  int `json:"warmup"`
	Workers int `json:"workers,omitempty"`
}

type percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95,omitempty"`
	P99 float64 `json:"p99"`
}

// procUsage is one process's (or PostgreSQL's process tree's) share of
// the run. peak_rss_mb is the peak resident set (VmHWM); for PostgreSQL,
// whose processes share their buffers, it is the sum of their PSS at the
// end of the run.
type procUsage struct {
	CPUS      float64 `json:"cpu_s"`
	AvgCores  float64 `json:"avg_cores"`
	PeakRSSMB float64 `json:"peak_rss_mb,omitempty"`
}

func pct(xs []float64) percentiles {
	if len(xs) == 0 {
		return percentiles{}
	}
	sort.Float64s(xs)
	at := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(xs)))) - 1
		return round(xs[max(0, min(i, len(xs)-1))])
	}
	return percentiles{P50: at(0.50), P95: at(0.95), P99: at(0.99)}
}

func round(x float64) float64 { return math.Round(x*100) / 100 }

type replica struct {
	cmd  *exec.Cmd
	base string
	log  *os.File
}

// run performs one measured run on fresh servers and a fresh database.
func run(ctx context.Context, cfg config, stub *stub) (*result, error) {
	dbURL, cleanupDB, err := freshDatabase(cfg.Backend)
	if err != nil {
		return nil, err
	}
	if cfg.KeepDB {
		fmt.Fprintf(os.Stderr, "bench: database kept: %s\n", dbURL)
	} else {
		defer cleanupDB()
	}
	redisURL := os.Getenv("BATON_TEST_REDIS_URL")
	if cfg.Backend == "sqlite" {
		if cfg.Replicas != 1 {
			return nil, fmt.Errorf("sqlite is a single-process database: run it with -replicas 1")
		}
		redisURL = ""
	} else if redisURL == "" {
		return nil, fmt.Errorf("BATON_TEST_REDIS_URL is not set (run under .ci/with-services, as make bench does)")
	}
	logDir, err := os.MkdirTemp("", "baton-bench-logs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(logDir)

	var reps []*replica
	defer func() {
		for _, r := range reps {
			r.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, r := range reps {
			done := make(chan struct{})
			go func() { r.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				r.cmd.Process.Kill()
				<-done
			}
			r.log.Close()
		}
	}()
	for i := 0; i < cfg.Replicas; i++ {
		r, err := startReplica(ctx, cfg, i, dbURL, redisURL, stub.url, logDir)
		if err != nil {
			return nil, err
		}
		reps = append(reps, r)
	}
	for _, r := range reps {
		if err := waitReady(ctx, r); err != nil {
			return nil, err
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency + 8, MaxIdleConns: 4 * (cfg.Concurrency + 8)},
		Timeout: 30 * time.Second}
	feeds := make([]*feed, len(reps))
	for i, r := range reps {
		f, err := dialFeed(r.base, true)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		feeds[i] = f
	}
	var extra []*feed
	defer func() {
		for _, f := range extra {
			f.Close()
		}
	}()
	for i := 0; i < cfg.Subscribers; i++ {
		f, err := dialFeed(reps[i%len(reps)].base, false)
		if err != nil {
			return nil, fmt.Errorf("subscriber %d: %w", i, err)
		}
		extra = append(extra, f)
	}
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)

	// Warm-up: not counted.
	if cfg.Warmup > 0 {
		if _, _, errs, first := drive(ctx, client, reps, feeds, runID+"w", cfg.Warmup, min(cfg.Concurrency, cfg.Warmup), cfg.Timeout); errs > 0 {
			return nil, fmt.Errorf("warm-up: %d orders failed: %s", errs, first)
		}
	}
	evLat := new(histogram)
	for _, f := range append(append([]*feed{}, feeds...), extra...) {
		f.startRecording(evLat)
	}
	pgPID, redisPID := databasePIDs(cfg.Backend, dbURL, redisURL)
	profDone := make(chan error, 1)
	if cfg.Profile != "" {
		go func() { profDone <- fetchProfile(reps[0].base, cfg.Profile) }()
	}
	before := snapshot(reps, pgPID, redisPID)
	start := time.Now()
	lat, completed, errs, firstErr := drive(ctx, client, reps, feeds, runID, cfg.Orders, cfg.Concurrency, cfg.Timeout)
	wall := time.Since(start).Seconds()
	after := snapshot(reps, pgPID, redisPID)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res := &result{Workload: "pro-server-package", Backend: cfg.Backend, Replicas: cfg.Replicas, N: cfg.Orders,
		Concurrency: cfg.Concurrency, Subscribers: cfg.Subscribers, Completed: completed, Errors: errs, WallS: round(wall),
		OrdersPerS: round(float64(completed) / wall), StepsPerS: round(float64(completed*12) / wall),
		LatencyMS: pct(lat), EventLatencyMS: evLat.percentiles(), FeedMessages: evLat.count(), FirstError: firstErr,
		Config: runnerConfig{Warmup: cfg.Warmup, Workers: cfg.Workers}}
	for i, r := range reps {
		cpu := after.servers[i] - before.servers[i]
		res.Servers = append(res.Servers, procUsage{CPUS: round(cpu), AvgCores: round(cpu / wall), PeakRSSMB: round(peakRSSMB(r.cmd.Process.Pid))})
	}
	if pgPID != 0 {
		cpu := after.pg - before.pg
		res.Postgres = &procUsage{CPUS: round(cpu), AvgCores: round(cpu / wall), PeakRSSMB: round(treePSSMB(pgPID))}
	}
	if redisPID != 0 {
		cpu := after.redis - before.redis
		res.Redis = &procUsage{CPUS: round(cpu), AvgCores: round(cpu / wall), PeakRSSMB: round(peakRSSMB(redisPID))}
	}
	dcpu := after.driver - before.driver
	res.Driver = procUsage{CPUS: round(dcpu), AvgCores: round(dcpu / wall), PeakRSSMB: round(peakRSSMB(os.Getpid()))}
	if cfg.Profile != "" {
		if err := <-profDone; err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
	}
	return res, nil
}

type usage struct {
	servers           []float64
	pg, redis, driver float64
}

func snapshot(reps []*replica, pgPID, redisPID int) usage {
	var u usage
	for _, r := range reps {
		u.servers = append(u.servers, cpuOf(r.cmd.Process.Pid, false))
	}
	if pgPID != 0 {
		u.pg = treeCPU(pgPID)
	}
	if redisPID != 0 {
		u.redis = cpuOf(redisPID, false)
	}
	u.driver = cpuOf(os.Getpid(), false)
	return u
}

// drive submits n orders with at most c in flight, each waiting for its
// completion on the feed of the replica it was submitted to, and returns
// the submit-to-completion latencies in ms.
func drive(ctx context.Context, client *http.Client, reps []*replica, feeds []*feed, prefix string, n, c int, timeout time.Duration) ([]float64, int, int, string) {
	var next atomic.Int64
	var mu sync.Mutex
	var lat []float64
	var completed, errs int
	var firstErr string
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			k := w % len(reps)
			for {
				i := int(next.Add(1))
				if i > n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				err := oneOrder(ctx, client, reps[k].base, feeds[k], fmt.Sprintf("%s-%d", prefix, i), timeout)
				d := float64(time.Since(t0).Microseconds()) / 1000
				mu.Lock()
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					completed++
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	return lat, completed, errs, firstErr
}

const submit = `mutation($in: SubmitOrderInput!) { submitOrder(input: $in) { id } }`

func oneOrder(ctx context.Context, client *http.Client, base string, f *feed, externalID string, timeout time.Duration) error {
	body, _ := json.Marshal(map[string]any{"query": submit, "variables": map[string]any{"in": map[string]any{
		"externalId": externalID, "accountId": "acct-" + externalID,
		"attributes": map[string]any{"shipTo": "1 Main St"},
		"lines":      []any{map[string]any{"id": "L1", "productCode": "PRO-SERVER-PKG"}},
	}}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			SubmitOrder struct{ ID string } `json:"submitOrder"`
		} `json:"data"`
		Errors []struct{ Message string } `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("submitOrder: %w", err)
	}
	if len(out.Errors) > 0 {
		return fmt.Errorf("submitOrder: %s", out.Errors[0].Message)
	}
	id := out.Data.SubmitOrder.ID
	select {
	case <-f.wait(id):
		return nil
	case <-time.After(timeout):
		f.forget(id)
		return fmt.Errorf("order %s not completed on the feed within %s", id, timeout)
	case <-ctx.Done():
		f.forget(id)
		return ctx.Err()
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startReplica(ctx context.Context, cfg config, i int, dbURL, redisURL, stubURL, logDir string) (*replica, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(logDir, fmt.Sprintf("replica-%d.log", i)))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(cfg.Binary)
	cmd.Env = append(os.Environ(),
		"BATON_ADDR="+addr, "DATABASE_URL="+dbURL, "REDIS_URL="+redisURL, "BATON_CATALOG="+cfg.Catalog,
		"BATON_BENCH_STUB_URL="+stubURL, "BATON_SANDBOX=false", "BATON_LOG_LEVEL=warn")
	if cfg.Profile != "" && i == 0 {
		// Only the profiled replica; the others run as in production.
		cmd.Env = append(cmd.Env, "BATON_PPROF=true")
	}
	if cfg.Workers > 0 {
		cmd.Env = append(cmd.Env, "BATON_WORKERS="+strconv.Itoa(cfg.Workers))
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start replica: %w", err)
	}
	return &replica{cmd: cmd, base: "http://" + addr, log: logf}, nil
}

func waitReady(ctx context.Context, r *replica) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(r.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	b, _ := os.ReadFile(r.log.Name())
	return fmt.Errorf("replica %s not ready after 60s; log:\n%s", r.base, b)
}

// freshDatabase returns the DATABASE_URL of an empty database for one run.
func freshDatabase(backend string) (string, func(), error) {
	switch backend {
	case "sqlite":
		dir, err := os.MkdirTemp("", "baton-bench-db-")
		if err != nil {
			return "", nil, err
		}
		return "sqlite://" + filepath.Join(dir, "baton.db"), func() { os.RemoveAll(dir) }, nil
	case "postgres":
		base := os.Getenv("BATON_TEST_POSTGRES_URL")
		if base == "" {
			return "", nil, fmt.Errorf("BATON_TEST_POSTGRES_URL is not set (run under .ci/with-services, as make bench does)")
		}
		admin, err := sql.Open("postgres", base)
		if err != nil {
			return "", nil, err
		}
		name := fmt.Sprintf("bench_%d", time.Now().UnixNano())
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			admin.Close()
			return "", nil, fmt.Errorf("create database: %w", err)
		}
		u, _ := url.Parse(base)
		u.Path = "/" + name
		return u.String(), func() {
			admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			admin.Close()
		}, nil
	}
	return "", nil, fmt.Errorf("backend %q: use sqlite or postgres", backend)
}

// databasePIDs finds the PostgreSQL postmaster (parent of a backend) and
// the Redis server of the run.
func databasePIDs(backend, dbURL, redisURL string) (pg, rd int) {
	if backend == "postgres" {
		if db, err := sql.Open("postgres", dbURL); err == nil {
			var backendPID int
			if db.QueryRow("SELECT pg_backend_pid()").Scan(&backendPID) == nil {
				pg = ppidOf(backendPID)
			}
			db.Close()
		}
	}
	if redisURL != "" {
		if opt, err := redis.ParseURL(redisURL); err == nil {
			c := redis.NewClient(opt)
			if info, err := c.Info(context.Background(), "server").Result(); err == nil {
				for _, line := range strings.Split(info, "\n") {
					if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
						rd, _ = strconv.Atoi(v)
					}
				}
			}
			c.Close()
		}
	}
	return pg, rd
}

// fetchProfile saves a 10s CPU profile of a replica (BATON_PPROF serves
// /debug/pprof on it).
func fetchProfile(base, path string) error {
	resp, err := http.Get(base + "/debug/pprof/profile?seconds=10")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
