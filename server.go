// Command baton serves Baton: order decomposition and fulfillment
// orchestration with a GraphQL API and a live status feed.
//
//	go run .                      # SQLite file + in-process broker + example catalog
//	DATABASE_URL=postgres://... REDIS_URL=redis://... go run .
//
// Configuration comes from the environment (flags mirror it); see README.md.
package main

// Code generation, in order: ent (client and graph/ent.graphqls), then
// gqlgen (graph/generated, graph/model, resolver stubs).
//go:generate go run -mod=mod ./ent/entc.go
//go:generate go run -mod=mod github.com/99designs/gqlgen generate

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/redisbus"
	"github.com/batonhq/baton/examples/sandbox"
	"github.com/batonhq/baton/graph"
	"github.com/batonhq/baton/graph/playground"
)

//go:embed examples/pro-server-package.yaml
var exampleCatalog string

// config is Baton's configuration: environment variables, mirrored by flags.
type config struct {
	Addr            string
	DatabaseURL     string
	RedisURL        string
	Catalog         string
	LogLevel        string
	LogFormat       string
	AllowedOrigins  string
	ShutdownTimeout time.Duration
	Workers         int
	LeaseGrace      time.Duration
	PollInterval    time.Duration
	Sandbox         bool
	APITokens       string
	Pprof           bool
}

func loadConfig(args []string, getenv func(string) string) (config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var c config
	fs := flag.NewFlagSet("baton", flag.ContinueOnError)
	fs.StringVar(&c.Addr, "addr", env("BATON_ADDR", ":8080"), "listen address (BATON_ADDR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("DATABASE_URL", "sqlite://baton.db"), "sqlite://PATH or postgres://... (DATABASE_URL)")
	fs.StringVar(&c.RedisURL, "redis-url", env("REDIS_URL", ""), "redis://host:port/db; empty: in-process broker (REDIS_URL)")
	fs.StringVar(&c.Catalog, "catalog", env("BATON_CATALOG", ""), "catalog file imported at start-up (BATON_CATALOG)")
	fs.StringVar(&c.LogLevel, "log-level", env("BATON_LOG_LEVEL", "info"), "debug, info, warn or error (BATON_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", env("BATON_LOG_FORMAT", "text"), "text or json (BATON_LOG_FORMAT)")
	fs.StringVar(&c.AllowedOrigins, "allowed-origins", env("BATON_ALLOWED_ORIGINS", ""), "extra websocket origins, comma-separated; * for any (BATON_ALLOWED_ORIGINS)")
	fs.IntVar(&c.Workers, "workers", atoi(env("BATON_WORKERS", "256")), "concurrent step attempts on this replica (BATON_WORKERS)")
	fs.BoolVar(&c.Sandbox, "sandbox", env("BATON_SANDBOX", "true") == "true", "serve the simulated external systems at /sandbox/ (BATON_SANDBOX)")
	fs.BoolVar(&c.Pprof, "pprof", env("BATON_PPROF", "false") == "true", "serve /debug/pprof/ and sample blocking and mutex contention (BATON_PPROF)")
	fs.StringVar(&c.APITokens, "api-tokens", env("BATON_API_TOKENS", ""), "name:token pairs, comma-separated; when set /graphql needs `Authorization: Bearer <token>` (BATON_API_TOKENS)")
	durations := []struct {
		flag, env, def, usage string
		dst                   *time.Duration
	}{
		{"shutdown-timeout", "BATON_SHUTDOWN_TIMEOUT", "30s", "how long a graceful shutdown may take", &c.ShutdownTimeout},
		{"lease-grace", "BATON_LEASE_GRACE", "30s", "added to a callout's timeout to make its lease: how long before another replica retries the work of one that died", &c.LeaseGrace},
		{"poll-interval", "BATON_POLL_INTERVAL", "1s", "slow poll for work and timers other replicas left", &c.PollInterval},
	}
	texts := make([]string, len(durations))
	for i, d := range durations {
		texts[i] = env(d.env, d.def)
		fs.Func(d.flag, fmt.Sprintf("%s (%s, default %s)", d.usage, d.env, d.def), func(s string) error {
			texts[i] = s
			return nil
		})
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for i, d := range durations {
		v, err := time.ParseDuration(texts[i])
		if err != nil || v <= 0 {
			return c, fmt.Errorf("%s: %q is not a positive duration", d.env, texts[i])
		}
		*d.dst = v
	}
	return c, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func newLogger(c config) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("BATON_LOG_LEVEL: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("BATON_LOG_FORMAT: %q is neither text nor json", c.LogFormat)
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-healthcheck" {
		// Container health checks without a shell: GET the URL, exit 0 on 200.
		os.Exit(healthcheck(os.Args[2]))
	}
	cfg, err := loadConfig(os.Args[1:], os.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "baton:", err)
		os.Exit(2)
	}
	log, err := newLogger(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baton:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("baton stopped", "err", err)
		os.Exit(1)
	}
}

func healthcheck(url string) int {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck:", resp.Status)
		return 1
	}
	return 0
}

// run serves until ctx is cancelled, then shuts down gracefully.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	base := "http://" + loopbackAddr(ln.Addr())
	getenv := func(name string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		if name == "BATON_SANDBOX_URL" {
			return base + "/sandbox"
		}
		return ""
	}

	store, err := entstore.Open(ctx, cfg.DatabaseURL, entstore.Options{Logger: log})
	if err != nil {
		return err
	}
	defer store.Close()
	eng := engine.New(engine.Config{Store: store, Logger: log, Getenv: getenv})
	if err := importStartupCatalog(ctx, eng, cfg, log); err != nil {
		return err
	}
	// The live feed: a hub per process, fed by this process's commits
	// directly and by the other replicas through the broker.
	var broker engine.Broker = engine.NewLocalBroker()
	var redisPing func(context.Context) error
	if cfg.RedisURL != "" {
		bus, err := redisbus.Open(ctx, cfg.RedisURL, store.DeploymentID(), eng.WorkerID(), log)
		if err != nil {
			return err
		}
		broker = bus
		redisPing = func(ctx context.Context) error { return bus.Client().Ping(ctx).Err() }
	}
	defer broker.Close()
	hub := engine.NewHub(store, engine.HubConfig{Logger: log, OnSystemChange: eng.SystemsChanged})
	eng.SetPublisher(func(events []*engine.Event) {
		hub.Ingest(events)
		if err := broker.Publish(context.Background(), events); err != nil {
			log.Warn("publish events", "err", err)
		}
	})
	eng.SetWorkSignaler(func() {
		if err := broker.Signal(context.Background()); err != nil {
			log.Warn("signal work", "err", err)
		}
	})
	if err := hub.Start(ctx, broker, eng.NotifyWork); err != nil {
		return err
	}
	defer hub.Close()
	if err := eng.Start(engine.RunnerConfig{Workers: cfg.Workers, LeaseGrace: cfg.LeaseGrace, PollInterval: cfg.PollInterval}); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := eng.Stop(sctx); err != nil {
			log.Warn("stop engine", "err", err)
		}
	}()
	auth, err := graph.TokenAuth(cfg.APITokens)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	mux := http.NewServeMux()
	mux.Handle("/graphql", graph.NewHandler(graph.Config{Client: store.Client(), Engine: eng, Hub: hub, Logger: log,
		Authenticate: auth, AllowedOrigins: splitList(cfg.AllowedOrigins)}))
	if cfg.Sandbox {
		mux.Handle("/sandbox/", http.StripPrefix("/sandbox", &sandbox.Handler{MinDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond}))
	}
	mux.Handle("/", playground.Handler("Baton", "/graphql"))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := store.DB().PingContext(ctx); err != nil {
			http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if redisPing != nil {
			if err := redisPing(ctx); err != nil {
				http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if cfg.Pprof {
		// Profiling for diagnostics; off by default (the sampling of
		// blocking and contention costs on every blocking event).
		runtime.SetBlockProfileRate(10000)
		runtime.SetMutexProfileFraction(100)
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("baton serving", "graphql", base+"/graphql", "playground", base+"/", "database", redact(cfg.DatabaseURL))

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	return nil
}

// importStartupCatalog imports BATON_CATALOG when set (unless that exact
// document is already current), or the example catalog when no catalog is
// stored yet.
func importStartupCatalog(ctx context.Context, eng *engine.Engine, cfg config, log *slog.Logger) error {
	text := ""
	source := ""
	if cfg.Catalog != "" {
		b, err := os.ReadFile(cfg.Catalog)
		if err != nil {
			return fmt.Errorf("read catalog: %w", err)
		}
		text, source = string(b), cfg.Catalog
	}
	cur, err := eng.CurrentCatalog(ctx)
	switch {
	case err == nil && text == "":
		log.Info("catalog", "version", cur.Version)
		return nil
	case err != nil && !engine.IsCode(err, engine.CodeNotFound):
		return err
	case err == nil:
		if engine.CatalogChecksum(text) == cur.Checksum {
			log.Info("catalog unchanged", "version", cur.Version, "file", source)
			return nil
		}
	case text == "":
		text, source = exampleCatalog, "examples/pro-server-package.yaml (built in)"
	}
	rec, err := eng.ImportCatalog(ctx, text)
	if err != nil {
		return fmt.Errorf("import catalog %s: %w", source, err)
	}
	log.Info("catalog imported", "version", rec.Version, "source", source)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// loopbackAddr turns a listen address into one this host can call.
func loopbackAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// redact hides a password in a database URL for logs.
func redact(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if at := strings.LastIndex(u, "@"); at > i {
			cred := u[i+3 : at]
			if c := strings.IndexByte(cred, ':'); c >= 0 {
				return u[:i+3] + cred[:c] + ":***" + u[at:]
			}
		}
	}
	return u
}
