# Phoenix — developer entry points. `make run` and `make test` are the two
# set-up commands; both work on a fresh machine with Go installed.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X github.com/phoenix/platform/internal/version.Version=$(VERSION)
BIN      := bin/phoenix
PKGS     := ./...
TEST_TIMEOUT ?= 30m
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build run test e2e test-short bench bench-fanout overhead lint fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/phoenix

# run starts Phoenix with its embedded defaults: the server and an agent
# for this host in one process, SQLite and measurements under ./.phoenix,
# the API on 127.0.0.1:8080; nothing outside is needed.
run: build
	./$(BIN) dev --demo

# test runs every suite; integration suites need PostgreSQL, Redis and
# Prometheus (see README) and fail under CI=true when one is unreachable.
test:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $$($(GO) list $(PKGS) | grep -v /test/e2e)
	$(MAKE) e2e

# e2e runs the PRD's acceptance matrix (test/e2e) against the real binary:
# phoenix dev, the load simulator and the CLI. It runs on its own, after the
# other suites, because it measures this host's processes.
e2e:
	$(GO) test -race -count=1 -timeout 20m -v ./test/e2e

test-short:
	$(GO) test -short $(PKGS)

# bench prints the figures the issues promise (ns per data point, data
# points per second, and the OTTL comparison run in the same benchmark).
# BENCH_TIME is a fixed number of batches per side: the processor
# benchmarks build every batch with the timer stopped, so a time-based
# -benchtime would spend minutes building batches.
BENCH_TIME ?= 2000x
BENCH_COUNT ?= 3
bench:
	$(GO) test -run '^$$' -bench . -skip '^BenchmarkFanOut$$' -benchmem -benchtime $(BENCH_TIME) -count $(BENCH_COUNT) ./collector/...

# bench-fanout prints the CPU of one scrape fanned out to baseline and
# candidate against two collectors each scraping for one variant, same
# host, same load, same run (about a minute).
bench-fanout:
	$(GO) test -run '^$$' -bench '^BenchmarkFanOut$$' -benchtime 1x ./collector/

# overhead prints the agent's CPU and memory on this host running the
# baseline pipeline (PRD AT-P10) and fails above 5% of a core or 100 MiB.
overhead:
	$(GO) test -count=1 -run '^TestOverhead$$' ./internal/agent -overhead -v | grep -E 'overhead|CPU|RSS|FAIL|ok'

lint:
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

# fuzz runs each processor's fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	for p in $$(ls -d collector/processor/*processor); do \
		$(GO) test -run '^$$' -fuzz '^FuzzProcess$$' -fuzztime $(FUZZTIME) ./$$p || exit 1; \
	done

clean:
	rm -rf bin .phoenix

# loadtest drives a real server at LOAD_RATE requests/s (70% GET, 20% list,
# 10% create of experiments) from a separate generator process, on SQLite
# and on PostgreSQL, prints p50/p99 per endpoint and fails when the p99 of
# GET or list is above 10 ms, or that of create (which waits for its commits
# to reach the disk) above 50 ms.
LOAD_RATE ?= 1000
LOAD_DURATION ?= 10s
.PHONY: loadtest
loadtest: SHELL := /bin/bash
loadtest:
	set -o pipefail; rc=0; \
	for st in sqlite postgres; do \
		$(GO) test -count=1 -run '^TestLoad$$' ./internal/server -load -load-store $$st -load-rate $(LOAD_RATE) -load-duration $(LOAD_DURATION) -v \
			| grep -E '^loadtest|above the target|FAIL|ok' || rc=1; \
	done; exit $$rc
