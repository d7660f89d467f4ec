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
//go:generate go run -mod=mod ./graph/codegen

import (
	"context"
	"crypto/subtle"
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
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/catalog"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/metrics"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/engine/redisbus"
	"github.com/batonhq/baton/engine/tracing"
	"github.com/batonhq/baton/examples/sandbox"
	"github.com/batonhq/baton/graph"
	"github.com/batonhq/baton/graph/dashboard"
	"github.com/batonhq/baton/graph/identity"
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
	Forecast        orchestrator.ForecastConfig
	LeaseGrace      time.Duration
	PollInterval    time.Duration
	Sandbox         bool
	APITokens       string
	OIDC            identity.OIDCConfig
	RolesFile       string
	Introspection   bool
	CORSOrigins     string
	RateLimit       float64
	RateBurst       int
	Pprof           bool
	MetricsToken    string
	EngineLimits    engine.Limits
	GraphLimits     graph.Limits
}

// limitVar is one limit's configuration: its variable, its flag, and where
// it goes. Every limit is listed in README "Limits".
type limitVar struct {
	env, flag, usage string
	def              string
	set              func(c *config, s string) error
}

func intLimit[N int | int64 | uint](env, flagName, usage string, def N, dst func(*config) *N) limitVar {
	return limitVar{env: env, flag: flagName, usage: usage, def: strconv.FormatInt(int64(def), 10), set: func(c *config, s string) error {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || int64(N(n)) != n {
			return fmt.Errorf("%s: %q is not a positive whole number", env, s)
		}
		*dst(c) = N(n)
		return nil
	}}
}

func durationLimit(env, flagName, usage string, def time.Duration, dst func(*config) *time.Duration) limitVar {
	return limitVar{env: env, flag: flagName, usage: usage, def: def.String(), set: func(c *config, s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("%s: %q is not a positive duration", env, s)
		}
		*dst(c) = d
		return nil
	}}
}

// limitVars are the configurable limits, engine's then the API's.
func limitVars() []limitVar {
	el, gl := engine.DefaultLimits, graph.DefaultLimits
	return []limitVar{
		intLimit("BATON_MAX_CATALOG_BYTES", "max-catalog-bytes", "largest catalog document, in bytes", el.CatalogBytes, func(c *config) *int { return &c.EngineLimits.CatalogBytes }),
		intLimit("BATON_MAX_CATALOG_DEPTH", "max-catalog-depth", "deepest nesting of a catalog document", el.CatalogDepth, func(c *config) *int { return &c.EngineLimits.CatalogDepth }),
		intLimit("BATON_MAX_CATALOG_NODES", "max-catalog-nodes", "most YAML nodes in a catalog document, estimated before parsing", el.CatalogNodes, func(c *config) *int { return &c.EngineLimits.CatalogNodes }),
		intLimit("BATON_MAX_EXPR_LENGTH", "max-expr-length", "longest expression, in bytes", el.ExprLength, func(c *config) *int { return &c.EngineLimits.ExprLength }),
		intLimit("BATON_MAX_EXPR_DEPTH", "max-expr-depth", "deepest nesting of an expression", el.ExprDepth, func(c *config) *int { return &c.EngineLimits.ExprDepth }),
		intLimit("BATON_MAX_EXPR_NODES", "max-expr-nodes", "largest expression syntax tree, in nodes", el.ExprNodes, func(c *config) *uint { return &c.EngineLimits.ExprNodes }),
		intLimit("BATON_EXPR_MEMORY", "expr-memory", "allocation budget of one expression evaluation (expr-lang units)", el.ExprMemory, func(c *config) *uint { return &c.EngineLimits.ExprMemory }),
		durationLimit("BATON_EXPR_TIMEOUT", "expr-timeout", "longest run of one expression evaluation", el.ExprTimeout, func(c *config) *time.Duration { return &c.EngineLimits.ExprTimeout }),
		intLimit("BATON_MAX_EXPR_STEPS", "max-expr-steps", "most loop steps (predicate runs) of one expression evaluation", el.ExprSteps, func(c *config) *int { return &c.EngineLimits.ExprSteps }),
		intLimit("BATON_MAX_EXPR_STRING_BYTES", "max-expr-string-bytes", "longest string an expression may build, in bytes", el.ExprStringBytes, func(c *config) *int { return &c.EngineLimits.ExprStringBytes }),
		intLimit("BATON_MAX_ID_LENGTH", "max-id-length", "longest id, externalId, name or attribute key, in bytes", el.IDLength, func(c *config) *int { return &c.EngineLimits.IDLength }),
		intLimit("BATON_MAX_TEXT_LENGTH", "max-text-length", "longest free text or string attribute value, in bytes", el.TextLength, func(c *config) *int { return &c.EngineLimits.TextLength }),
		intLimit("BATON_MAX_ORDER_LINES", "max-order-lines", "most lines in one order", el.OrderLines, func(c *config) *int { return &c.EngineLimits.OrderLines }),
		intLimit("BATON_MAX_VALUE_DEPTH", "max-value-depth", "deepest nesting of a JSON value given as input", el.ValueDepth, func(c *config) *int { return &c.EngineLimits.ValueDepth }),
		intLimit("BATON_MAX_CALLOUT_RESPONSE_BYTES", "max-callout-response-bytes", "largest callout answer read; a longer 2xx answer fails the attempt", el.CalloutResponseBytes, func(c *config) *int { return &c.EngineLimits.CalloutResponseBytes }),
		intLimit("BATON_MAX_COMPLEXITY", "max-complexity", "costliest query (lists and connections cost their children times their size)", gl.Complexity, func(c *config) *int { return &c.GraphLimits.Complexity }),
		intLimit("BATON_MAX_LIST_SIZE", "max-list-size", "length a plain list (no first/last) is costed at", gl.ListSize, func(c *config) *int { return &c.GraphLimits.ListSize }),
		intLimit("BATON_MAX_DEPTH", "max-depth", "deepest selection nesting outside introspection", gl.Depth, func(c *config) *int { return &c.GraphLimits.Depth }),
		intLimit("BATON_MAX_TOKENS", "max-tokens", "most lexical tokens in a query document", gl.Tokens, func(c *config) *int { return &c.GraphLimits.Tokens }),
		intLimit("BATON_MAX_FIELDS", "max-fields", "most field selections in an operation, fragments expanded", gl.Fields, func(c *config) *int { return &c.GraphLimits.Fields }),
		intLimit("BATON_MAX_ALIASES", "max-aliases", "most aliased fields in an operation", gl.Aliases, func(c *config) *int { return &c.GraphLimits.Aliases }),
		intLimit("BATON_MAX_FRAGMENT_SPREADS", "max-fragment-spreads", "most fragment spreads in an operation, as they expand", gl.FragmentSpreads, func(c *config) *int { return &c.GraphLimits.FragmentSpreads }),
		durationLimit("BATON_REQUEST_TIMEOUT", "request-timeout", "deadline of every query and mutation", gl.RequestTimeout, func(c *config) *time.Duration { return &c.GraphLimits.RequestTimeout }),
		durationLimit("BATON_BODY_TIMEOUT", "body-timeout", "longest a request body may take to arrive", gl.BodyTimeout, func(c *config) *time.Duration { return &c.GraphLimits.BodyTimeout }),
		intLimit("BATON_MAX_BODY_BYTES", "max-body-bytes", "largest request body, in bytes", gl.MaxBodyBytes, func(c *config) *int64 { return &c.GraphLimits.MaxBodyBytes }),
		intLimit("BATON_MAX_WEBSOCKET_OPERATIONS", "max-websocket-operations", "most operations one websocket connection runs at once", gl.WebsocketOperations, func(c *config) *int { return &c.GraphLimits.WebsocketOperations }),
		durationLimit("BATON_WEBSOCKET_INIT_TIMEOUT", "websocket-init-timeout", "longest a websocket may take to send connection_init (then 4408)", gl.WebsocketInitTimeout, func(c *config) *time.Duration { return &c.GraphLimits.WebsocketInitTimeout }),
		intLimit("BATON_MAX_WHERE_TERMS", "max-where-terms", "most terms in one where filter", gl.WhereTerms, func(c *config) *int { return &c.GraphLimits.WhereTerms }),
		intLimit("BATON_MAX_WHERE_STRING_BYTES", "max-where-string-bytes", "longest string in a where filter, in bytes", gl.WhereStringBytes, func(c *config) *int { return &c.GraphLimits.WhereStringBytes }),
	}
}

func loadConfig(args []string, getenv func(string) string) (config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	// Numbers from the environment: a malformed one is refused (after
	// the flags, which the flag package checks itself).
	var numErr error
	atoi := func(name, def string) int {
		v := env(name, def)
		n, err := strconv.Atoi(v)
		if err != nil && numErr == nil {
			numErr = fmt.Errorf("%s: %q is not a whole number", name, v)
		}
		return n
	}
	atof := func(name, def string) float64 {
		v := env(name, def)
		f, err := strconv.ParseFloat(v, 64)
		if err != nil && numErr == nil {
			numErr = fmt.Errorf("%s: %q is not a number", name, v)
		}
		return f
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
	fs.IntVar(&c.Workers, "workers", atoi("BATON_WORKERS", "256"), "concurrent step attempts on this replica (BATON_WORKERS)")
	fs.IntVar(&c.Forecast.MinSamples, "forecast-min-samples", atoi("BATON_FORECAST_MIN_SAMPLES", "20"), "completions of a step definition before forecasts use its observed p50/p90 instead of its estimate; -1: never (BATON_FORECAST_MIN_SAMPLES)")
	fs.IntVar(&c.Forecast.Window, "forecast-window", atoi("BATON_FORECAST_WINDOW", "200"), "latest completions of a step definition its history reads (BATON_FORECAST_WINDOW)")
	fs.BoolVar(&c.Sandbox, "sandbox", env("BATON_SANDBOX", "true") == "true", "serve the simulated external systems at /sandbox/ (BATON_SANDBOX)")
	fs.StringVar(&c.MetricsToken, "metrics-token", env("BATON_METRICS_TOKEN", ""), "when set, /metrics answers only requests with Authorization: Bearer <token> (BATON_METRICS_TOKEN)")
	fs.BoolVar(&c.Pprof, "pprof", env("BATON_PPROF", "false") == "true", "serve /debug/pprof/ and sample blocking and mutex contention (BATON_PPROF)")
	fs.StringVar(&c.APITokens, "api-tokens", env("BATON_API_TOKENS", ""), "bootstrap API keys name:secret:ROLE+ROLE[@account+account][#queue+queue], comma-separated (name:secret: every role); when set, or with an OIDC issuer, every request must authenticate (BATON_API_TOKENS)")
	fs.StringVar(&c.OIDC.Issuer, "oidc-issuer", env("BATON_OIDC_ISSUER", ""), "OpenID Connect issuer URL whose bearer tokens authenticate people (BATON_OIDC_ISSUER)")
	fs.StringVar(&c.OIDC.Audience, "oidc-audience", env("BATON_OIDC_AUDIENCE", ""), "the audience (client id) tokens must be for (BATON_OIDC_AUDIENCE)")
	fs.StringVar(&c.OIDC.RolesClaim, "oidc-roles-claim", env("BATON_OIDC_ROLES_CLAIM", "roles"), "the claim (a dotted path) that carries a token's roles (BATON_OIDC_ROLES_CLAIM)")
	fs.StringVar(&c.OIDC.AccountsClaim, "oidc-accounts-claim", env("BATON_OIDC_ACCOUNTS_CLAIM", "accounts"), "the claim that carries the accounts a token is limited to (BATON_OIDC_ACCOUNTS_CLAIM)")
	fs.StringVar(&c.OIDC.QueuesClaim, "oidc-queues-claim", env("BATON_OIDC_QUEUES_CLAIM", "queues"), "the claim that carries a token's work queues (BATON_OIDC_QUEUES_CLAIM)")
	fs.StringVar(&c.OIDC.NameClaim, "oidc-name-claim", env("BATON_OIDC_NAME_CLAIM", "sub"), "the claim that names a token's person (BATON_OIDC_NAME_CLAIM)")
	fs.StringVar(&c.RolesFile, "roles-file", env("BATON_ROLES_FILE", ""), "a YAML role table over the default roles (BATON_ROLES_FILE)")
	fs.BoolVar(&c.Introspection, "introspection", env("BATON_INTROSPECTION", "true") == "true", "answer GraphQL introspection (BATON_INTROSPECTION)")
	fs.StringVar(&c.CORSOrigins, "cors-origins", env("BATON_CORS_ORIGINS", ""), "browser origins allowed to call /graphql, comma-separated (BATON_CORS_ORIGINS)")
	fs.Float64Var(&c.RateLimit, "rate-limit", atof("BATON_RATE_LIMIT", "100"), "requests per second per principal; 0: no limit (BATON_RATE_LIMIT)")
	fs.IntVar(&c.RateBurst, "rate-burst", atoi("BATON_RATE_BURST", "200"), "requests a principal may send at once above the rate (BATON_RATE_BURST)")
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
	limits := limitVars()
	limitTexts := make([]string, len(limits))
	for i, l := range limits {
		limitTexts[i] = env(l.env, "")
		fs.Func(l.flag, fmt.Sprintf("%s (%s, default %s)", l.usage, l.env, l.def), func(s string) error {
			limitTexts[i] = s
			return nil
		})
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if numErr != nil {
		return c, numErr
	}
	for i, l := range limits {
		if limitTexts[i] == "" {
			continue // the zero value takes the default
		}
		if err := l.set(&c, limitTexts[i]); err != nil {
			return c, err
		}
	}
	for i, d := range durations {
		v, err := time.ParseDuration(texts[i])
		if err != nil || v <= 0 {
			return c, fmt.Errorf("%s: %q is not a positive duration", d.env, texts[i])
		}
		*d.dst = v
	}
	// The forecast's numbers: 0 would silently become the default.
	if m := c.Forecast.MinSamples; m < 1 && m != -1 {
		return c, fmt.Errorf("BATON_FORECAST_MIN_SAMPLES: %d is neither a positive number of completions nor -1 (never)", m)
	}
	if w := c.Forecast.Window; w < 1 {
		return c, fmt.Errorf("BATON_FORECAST_WINDOW: %d is not a positive number of completions", w)
	}
	return c, nil
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
	// Configuration is checked before anything is touched: a malformed
	// token list must not leave a database created or a catalog imported.
	policy := access.DefaultPolicy()
	if cfg.RolesFile != "" {
		doc, err := os.ReadFile(cfg.RolesFile)
		if err != nil {
			return fmt.Errorf("BATON_ROLES_FILE: %w", err)
		}
		if policy, err = access.LoadPolicy(doc); err != nil {
			return fmt.Errorf("BATON_ROLES_FILE %s: %w", cfg.RolesFile, err)
		}
	}
	tokens, err := identity.ParseTokens(cfg.APITokens, policy)
	if err != nil {
		return err
	}
	// Traces (README "Metrics and traces"): off unless OTEL_* asks.
	tp, shutdownTracing, err := newTracerProvider(ctx, os.Getenv)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(sctx); err != nil {
			log.Warn("flush traces", "err", err)
		}
	}()
	log = slog.New(tracing.LogHandler(log.Handler())) // trace_id and span_id on lines logged with a span's context
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

	store, err := entstore.Open(ctx, cfg.DatabaseURL, entstore.Options{Logger: log, TracerProvider: tp})
	if err != nil {
		return err
	}
	defer store.Close()
	met := metrics.New()
	eng := orchestrator.New(orchestrator.Config{Store: store, Logger: log, Getenv: getenv, Limits: cfg.EngineLimits, Policy: policy,
		Metrics: met, TracerProvider: tp, Forecast: cfg.Forecast})
	authn := &identity.Authenticator{Tokens: tokens}
	if tokens != nil || cfg.OIDC.Issuer != "" {
		authn.Keys = eng.APIKeyPrincipal // keys made with createApiKey work once authentication is on
	}
	if cfg.OIDC.Issuer != "" {
		if authn.OIDC, err = identity.NewOIDC(ctx, cfg.OIDC, policy); err != nil {
			return fmt.Errorf("BATON_OIDC_ISSUER: %w", err)
		}
	}
	var auth graph.Authenticator
	if authn.Enabled() {
		auth = authn.Authenticate
	} else {
		log.Warn("NO AUTHENTICATION: this is a development server; anyone who can reach " + cfg.Addr +
			" may do everything, named by X-Baton-User. Set BATON_API_TOKENS or BATON_OIDC_ISSUER before exposing it.")
	}
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
	hub := orchestrator.NewHub(store, orchestrator.HubConfig{Logger: log, OnSystemChange: eng.SystemsChanged, Metrics: met})
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
	if err := eng.Start(orchestrator.RunnerConfig{Workers: cfg.Workers, LeaseGrace: cfg.LeaseGrace, PollInterval: cfg.PollInterval}); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := eng.Stop(sctx); err != nil {
			log.Warn("stop engine", "err", err)
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := met.Register(reg); err != nil {
		return err
	}
	reg.MustRegister(metrics.NewStateCollector(metrics.StateConfig{Source: store, Systems: eng.SystemNames, Queues: eng.QueueNames, Clock: eng.Clock(), Metrics: met}),
		metrics.FeedSubscriptions(hub.Subscribers))

	mux := http.NewServeMux()
	gcfg := graph.Config{Client: store.Client(), Engine: eng, Hub: hub, Logger: log,
		Authenticate: auth, AllowedOrigins: splitList(cfg.AllowedOrigins), Limits: cfg.GraphLimits,
		DisableIntrospection: !cfg.Introspection, CORSOrigins: splitList(cfg.CORSOrigins), RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst, TracerProvider: tp}
	mux.Handle("/graphql", graph.NewHandler(gcfg))
	mux.Handle("/audit.jsonl", graph.AuditExport(gcfg))
	if cfg.Sandbox {
		mux.Handle("/sandbox/", http.StripPrefix("/sandbox", &sandbox.Handler{MinDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond}))
	}
	// The dashboard at "/" (its pages are chosen by the URL's fragment, so
	// it serves only "/" and its assets: any other path is a 404), GraphiQL
	// under /playground/ (the mux redirects /playground there).
	mux.Handle("/", dashboard.Handler("/graphql"))
	mux.Handle("/playground/", http.StripPrefix("/playground", playground.Handler("Baton", "/graphql")))
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
	mux.Handle("/metrics", bearerOnly(cfg.MetricsToken, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	if cfg.Pprof {
		// Profiling for diagnostics; off by default (the sampling of
		// blocking and contention costs on every blocking event).
		runtime.SetBlockProfileRate(10000)
		runtime.SetMutexProfileFraction(100)
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}

	// Headers must arrive within 10 s; bodies within BATON_BODY_TIMEOUT
	// (set per request by the /graphql handler, so websockets, which are
	// hijacked, are not cut off); idle keep-alive connections go after
	// two minutes.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("baton serving", "dashboard", base+"/", "graphql", base+"/graphql", "playground", base+"/playground/", "database", redact(cfg.DatabaseURL))

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
func importStartupCatalog(ctx context.Context, eng *orchestrator.Engine, cfg config, log *slog.Logger) error {
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
		if catalog.CatalogChecksum(text) == cur.Checksum {
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

// bearerOnly serves h only to requests with "Authorization: Bearer token"
// (any request when token is empty): /metrics names systems, queues and
// step definitions and shows order volumes.
func bearerOnly(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics: a bearer token is required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
