# Baton. `make test` on a fresh Debian machine installs and starts what the
# tests need (PostgreSQL and Redis, throwaway, on 127.0.0.1; Chromium for the
# dashboard's browser tests) and runs them.

GO ?= go
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: all build generate check-generate run test test-short fuzz vet fmt bench clean

all: build

build:
	$(GO) build -o baton .

# ent (client + graph/ent.graphqls), then gqlgen; see server.go.
generate:
	$(GO) generate ./...

# CI: generated code must be exactly what the generators produce.
check-generate: generate
	@git diff --exit-code --stat -- ent graph gqlgen.yml || \
		(echo "generated code is stale: run 'make generate' and commit the result" >&2; exit 1)
	@test -z "$$(git status --porcelain --untracked-files=all -- ent graph)" || \
		(git status --porcelain -- ent graph; echo "generation created untracked files" >&2; exit 1)

run:
	$(GO) run .

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w $$(git ls-files '*.go' | grep -v -e '^ent/' -e '^graph/generated/' -e '^graph/model/')

# Everything, against SQLite and against real PostgreSQL and Redis; then
# the fuzz tests, each for FUZZTIME inputs.
test:
	./.ci/with-services $(GO) test -race -count=1 -timeout 45m ./...
	$(MAKE) fuzz

# Go fuzz tests of what the outside world sends: catalog documents,
# expressions, order input and where filters. `go test` runs one fuzz
# target at a time; each gets FUZZTIME (their seed corpora also run in
# every plain `go test`). A count, not a duration: when a duration runs
# out while a worker is busy, go test can fail the run with "context
# deadline exceeded" although no input failed (seen on a slow CI machine).
FUZZTIME ?= 20000x
FUZZ_TARGETS := engine/catalog:FuzzCatalogDocument engine/catalog:FuzzExpression engine/orchestrator:FuzzOrderInput graph:FuzzWhere
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	done

# Without the services (SQLite only; PostgreSQL and Redis tests skip).
test-short:
	$(GO) test -count=1 ./...

# Benchmarks on this machine, against a durable PostgreSQL and Redis started
# like make test's: the Go benchmarks, then the reference workload through
# the API, one JSON line per run (see .ci/bench and README "Performance").
# BENCH_ARGS runs only the workload driver, with those flags:
#   make bench BENCH_ARGS="-orders 2000 -concurrency 50 -replicas 2 -backend postgres"
bench:
	BATON_SERVICES_MODE=bench ./.ci/with-services ./.ci/bench $(BENCH_ARGS)

clean:
	rm -f baton baton.db baton.db-wal baton.db-shm
