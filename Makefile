# KYRA GitLab audit collector: build, test, lint, run, benchmark.
#
#   make run    build the distribution and the GitLab simulator, then run the
#               demo (or a real GitLab when GITLAB_URL and GITLAB_TOKEN are set)
#   make test   vet, unit and end-to-end tests (builds the distribution and
#               its packages first; the package install test runs as root
#               with dpkg only), and the check of the deploy/ manifests
#   make package  .deb and .rpm of the distribution into _build/packages/
#   make image    the release image (buildah, FROM scratch), verified

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
NFPM_VERSION          := v2.41.3
CYCLONEDX_VERSION     := v1.10.0

OCB           := $(TOOLS_BIN)/builder
GOLANGCI_LINT := $(TOOLS_BIN)/golangci-lint
BENCHSTAT     := $(TOOLS_BIN)/benchstat
NFPM          := $(TOOLS_BIN)/nfpm
CYCLONEDX     := $(TOOLS_BIN)/cyclonedx-gomod

# Version of the distribution (builder-config.yaml, dist::version) and the
# package architecture (Debian names; nfpm translates them for rpm).
VERSION      := $(shell awk '$$1 == "version:" {print $$2; exit}' builder-config.yaml)
PKG_ARCH     ?= $(shell $(GO) env GOARCH)
PKG_DIR      := $(BUILD_DIR)/packages
DEB          := $(PKG_DIR)/$(DIST_NAME)_$(VERSION)-1_$(PKG_ARCH).deb
RPM_ARCH     := $(if $(filter amd64,$(PKG_ARCH)),x86_64,$(if $(filter arm64,$(PKG_ARCH)),aarch64,$(PKG_ARCH)))
RPM          := $(PKG_DIR)/$(DIST_NAME)-$(VERSION)-1.$(RPM_ARCH).rpm
IMAGE_NAME   ?= localhost/$(DIST_NAME):$(VERSION)
IMAGE_DIR    := $(BUILD_DIR)/image
IMAGE_ARCHIVE := $(BUILD_DIR)/$(DIST_NAME)-image.oci.tar
# Metrics and labels the built collector exposed to Prometheus in the e2e
# test TestAlertFiresWithPrometheus; deploy-check compares the alert rules
# and the dashboard with them.
EXPOSED_SERIES := $(BUILD_DIR)/e2e-exposed-series.json

GOTEST_TIMEOUT ?= 20m

.PHONY: all
all: lint test

$(OCB):
	GOBIN=$(TOOLS_BIN) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)

$(GOLANGCI_LINT):
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

$(NFPM):
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

$(CYCLONEDX):
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$(CYCLONEDX_VERSION)

.PHONY: tools
tools: $(OCB) $(GOLANGCI_LINT) $(NFPM) $(CYCLONEDX)

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

## test: go vet, then every test with the race detector, end-to-end tests
## included (the .deb and the .rpm are installed, upgraded and removed when
## run as root with dpkg and rpm; the alert rules run in a real Prometheus
## when Debian's prometheus is installed), then the deploy/ manifests and
## the monitoring rules and dashboard (their own Go module)
.PHONY: test
test: build package
	$(GO) vet ./...
	@rm -f $(EXPOSED_SERIES)
	E2E_COLLECTOR_BINARY=$(DIST_BIN) E2E_SIM_BINARY=$(SIM_BIN) E2E_DEB=$(DEB) E2E_RPM=$(RPM) \
		E2E_EXPOSED_SERIES=$(EXPOSED_SERIES) \
		$(GO) test -race -timeout $(GOTEST_TIMEOUT) ./...
	@# Every benchmark of the shipped code once, so make bench cannot rot.
	$(GO) test -run '^$$' -bench . -benchtime 1x ./internal/... ./receiver/... ./processor/...
	$(MAKE) deploy-check

## deploy-check: render the kustomizations, decode every manifest strictly,
## check the custom resources against their CRD schemas, the Helm values
## against the chart's schema, the network policies, the alert rules
## (promtool) and the dashboard, and validate every embedded collector
## configuration with the built binary
.PHONY: deploy-check
deploy-check: $(DIST_BIN)
	cd deploy && $(GO) vet ./... && \
		E2E_COLLECTOR_BINARY=$(DIST_BIN) E2E_EXPOSED_SERIES=$(EXPOSED_SERIES) \
		$(GO) test -count=1 -timeout 5m ./...

## monitoring-sync: copy the alert rules of deploy/monitoring/rules.yaml into
## the PrometheusRule and the Helm values (deploy-check fails while they differ)
.PHONY: monitoring-sync
monitoring-sync:
	cd deploy && MONITORING_SYNC=1 $(GO) test -count=1 -run '^TestRuleCopies$$' .

## package: .deb and .rpm of the distribution (nfpm, packaging/nfpm.yaml)
.PHONY: package
package: $(DEB) $(RPM)

PKG_SOURCES := packaging/nfpm.yaml packaging/config.yaml packaging/otelcol-kyra-gitlab.conf \
	packaging/otelcol-kyra-gitlab.service $(wildcard packaging/scripts/*.sh) \
	README.md docs/deployment.md docs/gitlab-setup.md $(wildcard config/*.yaml)

$(DEB): $(DIST_BIN) $(NFPM) $(PKG_SOURCES)
	@mkdir -p $(PKG_DIR)
	VERSION=$(VERSION) ARCH=$(PKG_ARCH) BINARY=$(DIST_BIN) $(NFPM) package --config packaging/nfpm.yaml --packager deb --target $@

$(RPM): $(DIST_BIN) $(NFPM) $(PKG_SOURCES)
	@mkdir -p $(PKG_DIR)
	VERSION=$(VERSION) ARCH=$(PKG_ARCH) BINARY=$(DIST_BIN) $(NFPM) package --config packaging/nfpm.yaml --packager rpm --target $@

## image: the release image FROM scratch with buildah (Debian's `buildah`;
## no base image is pulled), exported to an OCI archive and verified: its
## layout, and the binary run from its file system (components, validate)
.PHONY: image
image: $(DIST_BIN)
	@command -v buildah >/dev/null || { echo "make image needs buildah (apt-get install -y buildah)"; exit 1; }
	packaging/image/rootfs.sh $(DIST_BIN) config/production.yaml /etc/ssl/certs/ca-certificates.crt $(IMAGE_DIR)
	packaging/image/build.sh $(IMAGE_NAME) $(IMAGE_DIR) $(IMAGE_ARCHIVE) \
		--build-arg ROOTFS=prebuilt --build-arg VERSION=$(VERSION) \
		--build-arg REVISION="$$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
		--build-arg CREATED="$$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	E2E_COLLECTOR_BINARY=$(DIST_BIN) E2E_IMAGE_ARCHIVE=$(IMAGE_ARCHIVE) \
		$(GO) test -count=1 -run 'TestImage' -v ./e2e/

## release: linux amd64 and arm64 tar.gz, .deb and .rpm, a multi-arch image
## (buildah manifest, OCI archive), a CycloneDX SBOM per artifact, SHA256SUMS
## signed with RELEASE_SIGNING_KEY (a private SSH key: ssh-keygen -Y sign),
## into _build/release/; then TestRelease verifies all of it (checksums,
## signature, architectures, the arm64 binary under qemu-user when present)
RELEASE_DIR ?= $(BUILD_DIR)/release
.PHONY: release
release: build $(NFPM) $(CYCLONEDX)
	GO=$(GO) NFPM=$(NFPM) CYCLONEDX=$(CYCLONEDX) VERSION=$(VERSION) BUILD_DIR=$(BUILD_DIR) \
		DIST_BIN=$(DIST_BIN) RELEASE_DIR=$(RELEASE_DIR) scripts/release.sh
	E2E_COLLECTOR_BINARY=$(DIST_BIN) E2E_RELEASE_DIR=$(RELEASE_DIR) \
		RELEASE_SIGNER=$${RELEASE_SIGNER:-otelcol-kyra-gitlab-release} \
		$(GO) test -count=1 -timeout 10m -run '^TestRelease$$' -v ./e2e/

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

## lint: the tree (no tracked binary, SPDX headers), gofmt, go vet,
## golangci-lint (the distribution's module and deploy/)
.PHONY: lint
lint: $(GOLANGCI_LINT)
	scripts/check-tree.sh
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...
	cd deploy && $(GO) vet ./... && $(GOLANGCI_LINT) run --config ../.golangci.yml ./...

$(BENCHSTAT):
	GOBIN=$(TOOLS_BIN) $(GO) install golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION)

## bench: Go benchmarks, stream ingest and backfill load tests against a copy of
## the distribution built into _build/bench; writes BENCHMARKS.md (about 10
## minutes; BENCH_QUICK=1 for a short smoke run into _build/bench)
.PHONY: bench
bench: $(OCB) $(BENCHSTAT)
	GO=$(GO) OCB=$(OCB) BENCHSTAT=$(BENCHSTAT) ./scripts/bench.sh

## sigma: write every built-in rule gitlab_detect has as a Sigma rule (and
## the windowed ones as Sigma correlation rules) into rules/sigma/; the
## processor's TestSigmaRules fails when they are out of date
.PHONY: sigma
sigma:
	$(GO) test ./processor/gitlabdetectprocessor/ -run '^TestSigmaRules$$' -count=1 -update

## run: the demo (simulator + distribution), or a real GitLab with GITLAB_URL and GITLAB_TOKEN
.PHONY: run
run: build
	DIST_BIN=$(DIST_BIN) SIM_BIN=$(SIM_BIN) ./scripts/run.sh

.PHONY: clean
clean:
	rm -rf $(BUILD_DIR)
