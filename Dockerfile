# syntax=docker/dockerfile:1
#
# Container image of otelcol-kyra-gitlab, the KYRA GitLab audit collector.
#
#   docker build -t otelcol-kyra-gitlab:0.1.0 \
#     --build-arg VERSION=0.1.0 \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#
# Stage 1 builds the distribution with ocb from builder-config.yaml, exactly as
# `make build` does, and lays out the image file system with
# packaging/image/rootfs.sh; stage 2 is a `FROM scratch`, non-root runtime with
# nothing but the static binary, the default configuration, CA certificates and
# the state directory. `make image` builds the same image with buildah from the
# binary of `make build` (no base image is pulled). See docs/deployment.md.

# Go toolchain of the build stage. Keep the minor version in line with the
# `go` directive of go.mod.
ARG GO_IMAGE=golang:1.26-bookworm
# Where the image file system comes from: `build` (stage 1, ocb in this
# Dockerfile) or `prebuilt` (`make image`: laid out from _build/ beforehand).
ARG ROOTFS=build

############################################################################
# Stage 1: build the distribution with the OpenTelemetry Collector Builder.
############################################################################
FROM ${GO_IMAGE} AS build

# ocb must belong to the same collector release line as go.mod and
# builder-config.yaml (v0.165.0 / v1.71.0).
ARG OCB_VERSION=v0.165.0
# Module proxy: point it at your mirror when the build host cannot reach
# proxy.golang.org (--build-arg GOPROXY=https://goproxy.example.com).
ARG GOPROXY=https://proxy.golang.org,direct

# ocb builds with CGO_ENABLED=0 (its default, `cgo_enabled: false`); setting it
# here as well keeps `go mod download` and any other go command consistent.
ENV CGO_ENABLED=0 \
    GOFLAGS=-buildvcs=false \
    GOPROXY=${GOPROXY}

RUN --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=cache,target=/go/pkg/mod \
    go install "go.opentelemetry.io/collector/cmd/builder@${OCB_VERSION}"

WORKDIR /src

# Module downloads first, so that a source change does not invalidate them.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .

# builder-config.yaml writes the sources and the binary to ./_build
# (`output_path`), and resolves `path: ./` (this repository) against the
# working directory.
RUN --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=cache,target=/go/pkg/mod \
    builder --config builder-config.yaml \
 && test -x _build/otelcol-kyra-gitlab \
 && go version -m _build/otelcol-kyra-gitlab | grep -q 'CGO_ENABLED=0' \
 && _build/otelcol-kyra-gitlab components > /dev/null

# The image file system, laid out by the same script as `make image`
# (packaging/image/rootfs.sh): binary, default configuration, CA bundle,
# passwd/group with the nonroot user, /tmp, and the state directory.
RUN packaging/image/rootfs.sh _build/otelcol-kyra-gitlab config/production.yaml \
        /etc/ssl/certs/ca-certificates.crt /out

############################################################################
# Alternative first stage: the file system laid out beforehand from a
# prebuilt binary. `make image` builds with --build-arg ROOTFS=prebuilt and
# _build/image as the context (buildah, no base image pulled); the `build`
# stage is then skipped.
############################################################################
FROM scratch AS prebuilt
COPY rootfs/ /out/rootfs/
COPY state/ /out/state/

FROM ${ROOTFS} AS rootfs

############################################################################
# Stage 2: the runtime image, from scratch: nothing but what rootfs.sh laid
# out (no shell, no package manager).
############################################################################
FROM scratch

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="otelcol-kyra-gitlab" \
      org.opencontainers.image.description="KYRA GitLab audit security collector: OpenTelemetry Collector distribution with the gitlab_audit receiver and the gitlab_detect processor" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/kyra-mdr/otelcol-gitlab" \
      org.opencontainers.image.vendor="KYRA MDR" \
      org.opencontainers.image.licenses="Apache-2.0"

# The binary sits at the image root, as in the upstream collector images: the
# official Helm chart runs `/<command.name>`. The default configuration
# (/etc/otelcol/config.yaml) is read-only and owned by root: mount your own
# file over it, or pass another --config.
COPY --from=rootfs /out/rootfs/ /

# file_storage directory (checkpoints, de-duplication set, exporter queue).
# Copying the content of /var/lib makes `otelcol` itself a copied entry, so
# --chown applies to it and not only to what it contains.
COPY --from=rootfs --chown=65532:65532 /out/state/ /var/lib/

USER 65532:65532

# Must be persistent whenever the collector polls: see docs/deployment.md.
VOLUME ["/var/lib/otelcol"]

# 8443: GitLab audit event streaming (gitlab_audit `stream`)
# 13133: health_check extension
# 8888: the collector's own metrics (Prometheus)
EXPOSE 8443 13133 8888

# ENTRYPOINT is the binary and CMD only the flags, so that the OpenTelemetry
# Operator (which passes `--config=/conf/collector.yaml` as arguments) and
# `docker run <image> --config=...` both replace the default configuration.
ENTRYPOINT ["/otelcol-kyra-gitlab"]
CMD ["--config=/etc/otelcol/config.yaml"]
