# KYRA GitLab audit collector: build, test, lint, run, benchmark.
#
#   make run    build the distribution and the GitLab simulator, then run the
#               demo (or a real GitLab when GITLAB_URL and GITLAB_TOKEN are set)
#   make test   vet, unit and end-to-end tests (builds the distribution first)

SHELL        := /usr/bin/env bash
GO           ?= go
TOOLS_BIN    := $(CURDIR)/.tools/bin
BUILD_DIR    := $(CURDIR)/_build
DIST_NAME    := otelcol-kyra-gitlab
DIST_BIN     := $(BUILD_DIR)/$(DIST_NAME)
SIM_BIN      := $(BUILD_DIR)/gitlab-sim
LOADGEN_BIN  := $(BUILD_DIR)/gitlab-loadgen

# Pinned tool versions (see shared deps.md); the builder must match the
# collector core release line of go.mod.
OCB_VERSION           := v0.165.0
GOLANGCI_LINT_VERSION := v2.15.0
BENCHSTAT_VERSION     := v0.0.0-20260908200009-22c9c6c9d4da

OCB           := $(TOOLS_BIN)/builder
GOLANGCI_LINT := $(TOOLS_BIN)/golangci-lint
BENCHSTAT     := $(TOOLS_BIN)/benchstat

GOTEST_TIMEOUT ?= 20m

.PHONY: all
all: lint test

$(OCB):
	GOBIN=$(TOOLS_BIN) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)

$(GOLANGCI_LINT):
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: tools
tools: $(OCB) $(GOLANGCI_LINT)

## build: the collector distribution (ocb) and the GitLab simulator into _build/
.PHONY: build
build: $(DIST_BIN) $(SIM_BIN)

# The distribution is rebuilt when the recipe or any Go source changes.
GO_SOURCES := $(shell find . -name '*.go' -not -path './_build/*' -not -path './.tools/*') go.mod go.sum
$(DIST_BIN): $(OCB) builder-config.yaml $(GO_SOURCES)
	$(OCB) --config builder-config.yaml
	@touch $(DIST_BIN)

$(SIM_BIN): $(GO_SOURCES)
	$(GO) build -o $(SIM_BIN) ./testbed/cmd/gitlab-sim

.PHONY: sim
sim: $(SIM_BIN)

## test: go vet, then every test with the race detector, end-to-end tests included
.PHONY: test
test: build
	$(GO) vet ./...
	E2E_COLLECTOR_BINARY=$(DIST_BIN) E2E_SIM_BINARY=$(SIM_BIN) \
		$(GO) test -race -timeout $(GOTEST_TIMEOUT) ./...

## unit: tests without the end-to-end suite (no distribution build)
.PHONY: unit
unit:
	$(GO) test -race -timeout $(GOTEST_TIMEOUT) ./...

## fuzz: every fuzz test (stream handler, state encoding, JSON decoder) for
## FUZZTIME each (default 1m); make test runs their seed corpora only
FUZZTIME ?= 1m
.PHONY: fuzz
fuzz:
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for fn in $$(grep -h --include='*_test.go' -r -o '^func Fuzz[A-Za-z0-9_]*' $$dir | sed 's/^func //' | sort -u); do \
			echo "== $$dir $$fn ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$dir; \
		done; \
	done

## lint: gofmt, go vet, golangci-lint
.PHONY: lint
lint: $(GOLANGCI_LINT)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...

$(BENCHSTAT):
	GOBIN=$(TOOLS_BIN) $(GO) install golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION)

## bench: Go benchmarks, stream ingest and backfill load tests against a copy of
## the distribution built into _build/bench; writes BENCHMARKS.md (about 10
## minutes; BENCH_QUICK=1 for a short smoke run into _build/bench)
.PHONY: bench
bench: $(OCB) $(BENCHSTAT)
	GO=$(GO) OCB=$(OCB) BENCHSTAT=$(BENCHSTAT) ./scripts/bench.sh

## run: the demo (simulator + distribution), or a real GitLab with GITLAB_URL and GITLAB_TOKEN
.PHONY: run
run: build
	DIST_BIN=$(DIST_BIN) SIM_BIN=$(SIM_BIN) ./scripts/run.sh

.PHONY: clean
clean:
	rm -rf $(BUILD_DIR)
