// Command bench runs Baton's reference workload (README "Performance",
// "Pro Server Package") through the public API and prints one JSON line
// per run, and with -runs > 1 a line of the medians of each configuration
// ("summary": "median"): orders submitted by GraphQL mutation, their completion observed
// on the subscription feed, against N fresh server processes, a callout
// stub and the database on this machine.
//
//	make bench                                   # the WORKLOAD.md matrix on both backends
//	go run ./examples/bench -orders 2000 -concurrency 50 -backend postgres
//
// PostgreSQL and Redis come from the environment `.ci/with-services` sets
// (BATON_TEST_POSTGRES_URL, BATON_TEST_REDIS_URL); each run gets a fresh
// database.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type config struct {
	Orders      int
	Concurrency int
	Replicas    int
	Backend     string
	Warmup      int
	Subscribers int
	Binary      string
	Catalog     string
	Workers     int
	Timeout     time.Duration
	Profile     string
	KeepDB      bool
}

func main() { os.Exit(realMain()) }

// realMain is main with an exit code, so that its deferred clean-ups (the
// built binary, the stub, the signal handler) run whatever way it ends.
func realMain() int {
	var cfg config
	var matrix bool
	var runs int
	var backends string
	flag.IntVar(&cfg.Orders, "orders", 2000, "orders per run (N)")
	flag.IntVar(&cfg.Concurrency, "concurrency", 50, "orders in flight (C)")
	flag.IntVar(&cfg.Replicas, "replicas", 1, "Baton server processes")
	flag.StringVar(&backends, "backend", "postgres", "sqlite, postgres, or both (comma-separated)")
	flag.IntVar(&cfg.Warmup, "warmup", 20, "orders run before measuring, not counted")
	flag.IntVar(&cfg.Subscribers, "subscribers", 0, "extra dashboard subscriptions spread over the replicas (each follows every order's status)")
	flag.IntVar(&runs, "runs", 1, "runs of each configuration")
	flag.BoolVar(&matrix, "matrix", false, "run the WORKLOAD.md matrix: N in {500, 2000} x C in {50, 200}")
	flag.StringVar(&cfg.Binary, "binary", "", "Baton binary (default: build this repository)")
	flag.StringVar(&cfg.Catalog, "catalog", "", "catalog (default: examples/bench/catalog.yaml)")
	flag.IntVar(&cfg.Workers, "workers", 0, "BATON_WORKERS of each server (0: server default)")
	flag.DurationVar(&cfg.Timeout, "timeout", 60*time.Second, "how long one order may take before it counts as an error")
	flag.StringVar(&cfg.Profile, "profile", "", "write a CPU profile of replica 1 to this file (pprof)")
	flag.BoolVar(&cfg.KeepDB, "keep-db", false, "keep each run's database (its URL is logged) for inspection")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench: ")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := repoRoot()
	if err != nil {
		log.Print(err)
		return 1
	}
	if cfg.Catalog == "" {
		cfg.Catalog = filepath.Join(root, "examples", "bench", "catalog.yaml")
	}
	if cfg.Binary == "" {
		dir, err := os.MkdirTemp("", "baton-bench-")
		if err != nil {
			log.Print(err)
			return 1
		}
		defer os.RemoveAll(dir)
		cfg.Binary = filepath.Join(dir, "baton")
		cmd := exec.Command("go", "build", "-o", cfg.Binary, ".")
		cmd.Dir, cmd.Stderr = root, os.Stderr
		if err := cmd.Run(); err != nil {
			log.Printf("build baton: %v", err)
			return 1
		}
	}
	stub, err := startStub()
	if err != nil {
		log.Print(err)
		return 1
	}
	defer stub.Close()

	type point struct{ n, c int }
	points := []point{{cfg.Orders, cfg.Concurrency}}
	if matrix {
		points = []point{{500, 50}, {500, 200}, {2000, 50}, {2000, 200}}
	}
	failed := false
	for _, backend := range strings.Split(backends, ",") {
		for _, p := range points {
			var done []result
			for i := 0; i < runs; i++ {
				c := cfg
				c.Backend, c.Orders, c.Concurrency = strings.TrimSpace(backend), p.n, p.c
				res, err := run(ctx, c, stub)
				if err != nil {
					log.Printf("run %s n=%d c=%d: %v", c.Backend, c.Orders, c.Concurrency, err)
					failed = true
					if errors.Is(err, context.Canceled) {
						return 1
					}
					continue
				}
				b, _ := json.Marshal(res)
				fmt.Println(string(b))
				done = append(done, *res)
			}
			if sum, ok := summarize(done); ok && runs > 1 {
				b, _ := json.Marshal(sum)
				fmt.Println(string(b))
			}
		}
	}
	if failed {
		return 1
	}
	return 0
}

// repoRoot finds the repository (where go.mod is) from the working
// directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			_, file, _, _ := runtime.Caller(0)
			return filepath.Join(filepath.Dir(file), "..", ".."), nil
		}
		dir = parent
	}
}
