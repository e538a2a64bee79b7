#!/usr/bin/env bash
# `make release`: everything a user downloads, in one directory, that they
# can verify (README.md, "Verify a download"):
#
#   otelcol-kyra-gitlab_<v>_linux_<arch>.tar.gz      binary, LICENSE, README.md
#   otelcol-kyra-gitlab_<v>-1_<arch>.deb             Debian/Ubuntu package
#   otelcol-kyra-gitlab-<v>-1.<rpm arch>.rpm         RHEL/Fedora/SUSE package
#   otelcol-kyra-gitlab_<v>_image.oci.tar            multi-arch image (OCI archive of an image index)
#   <artifact>.cdx.json                              CycloneDX SBOM of each artifact
#                                                    (the image: one per platform)
#   SHA256SUMS, SHA256SUMS.sig                       checksums of all the above, signed
#   allowed_signers                                  the signer's public key (publish it elsewhere too)
#
# for arch in amd64 and arm64. The binaries are built from the sources ocb
# generated in _build (make build) with ocb's own flags; the amd64 one must
# be byte-identical to the binary `make test` tested.
#
# The signature is OpenSSH's (ssh-keygen -Y sign, namespace "file"), made
# offline with the private key RELEASE_SIGNING_KEY names.
#
# Environment (the Makefile sets it): GO, NFPM, CYCLONEDX, VERSION,
# BUILD_DIR, DIST_BIN, RELEASE_DIR, RELEASE_SIGNING_KEY, RELEASE_SIGNER.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${GO:=go}" "${VERSION:?}" "${BUILD_DIR:?}" "${DIST_BIN:?}" "${RELEASE_DIR:?}" "${NFPM:?}" "${CYCLONEDX:?}"
: "${RELEASE_SIGNER:=otelcol-kyra-gitlab-release}"
NAME=otelcol-kyra-gitlab
ARCHES=(amd64 arm64)

die() { echo "release: $*" >&2; exit 1; }

if [[ -z ${RELEASE_SIGNING_KEY:-} ]]; then
    die "set RELEASE_SIGNING_KEY to the private SSH key that signs SHA256SUMS (make one with: ssh-keygen -t ed25519 -C $RELEASE_SIGNER -f ~/.ssh/kyra-release), then publish its public key"
fi
[[ -r $RELEASE_SIGNING_KEY ]] || die "RELEASE_SIGNING_KEY=$RELEASE_SIGNING_KEY: not readable"
command -v buildah >/dev/null || die "the multi-arch image needs Debian's buildah (apt-get install -y buildah)"
command -v ssh-keygen >/dev/null || die "signing needs ssh-keygen (OpenSSH 8.1 or later)"
[[ -x $DIST_BIN ]] || die "$DIST_BIN is missing: make build"
[[ -f $BUILD_DIR/main.go && -f $BUILD_DIR/go.mod ]] || die "the sources ocb generated are missing in $BUILD_DIR: make build"

# Reproducible archive times: the last commit's.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

rpm_arch() { case $1 in amd64) echo x86_64 ;; arm64) echo aarch64 ;; *) echo "$1" ;; esac; }

work=$BUILD_DIR/release-work
rm -rf "$RELEASE_DIR" "$work"
mkdir -p "$RELEASE_DIR" "$work"
start=$(date +%s)

echo "== binaries"
for arch in "${ARCHES[@]}"; do
    mkdir -p "$work/$arch"
    # ocb's build (cmd/builder internal/builder/main.go, v0.165.0):
    # CGO_ENABLED=0, -trimpath, -ldflags="-s -w".
    (cd "$BUILD_DIR" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch GOFLAGS=-buildvcs=false \
        "$GO" build -trimpath -ldflags="-s -w" -o "$work/$arch/$NAME" .)
    echo "built $arch: $(sha256sum "$work/$arch/$NAME" | cut -d' ' -f1)"
done
if [[ $("$GO" env GOARCH) == amd64 ]] && ! cmp -s "$work/amd64/$NAME" "$DIST_BIN"; then
    die "the amd64 release binary differs from $DIST_BIN (the one make test tested): run make build first"
fi

echo "== archives"
for arch in "${ARCHES[@]}"; do
    dir=${NAME}_${VERSION}_linux_${arch}
    mkdir -p "$work/tar/$dir"
    install -m 0755 "$work/$arch/$NAME" "$work/tar/$dir/$NAME"
    install -m 0644 LICENSE README.md "$work/tar/$dir/"
    tar -C "$work/tar" --sort=name --owner=0 --group=0 --numeric-owner \
        --mtime="@$SOURCE_DATE_EPOCH" -cf - "$dir" | gzip -n -9 > "$RELEASE_DIR/$dir.tar.gz"
done

echo "== packages"
for arch in "${ARCHES[@]}"; do
    for packager in deb rpm; do
        if [[ $packager == deb ]]; then
            target=$RELEASE_DIR/${NAME}_${VERSION}-1_${arch}.deb
        else
            target=$RELEASE_DIR/${NAME}-${VERSION}-1.$(rpm_arch "$arch").rpm
        fi
        VERSION=$VERSION ARCH=$arch BINARY=$work/$arch/$NAME \
            "$NFPM" package --config packaging/nfpm.yaml --packager "$packager" --target "$target"
    done
done

echo "== image (linux/amd64, linux/arm64)"
# buildah's storage is the machine's: names of this run only, so that no
# other build's image (make image: localhost/$NAME:$VERSION) is touched.
image=localhost/$NAME-release-$$:$VERSION
B="buildah --storage-driver vfs"
archive=$RELEASE_DIR/${NAME}_${VERSION}_image.oci.tar
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
$B manifest create "$image" >/dev/null
for arch in "${ARCHES[@]}"; do
    packaging/image/rootfs.sh "$work/$arch/$NAME" config/production.yaml \
        /etc/ssl/certs/ca-certificates.crt "$work/image-$arch"
    packaging/image/build.sh "$image-$arch" "$work/image-$arch" "$work/image-$arch.oci.tar" \
        --platform "linux/$arch" --build-arg ROOTFS=prebuilt --build-arg VERSION="$VERSION" \
        --build-arg REVISION="$revision" --build-arg CREATED="$created" >/dev/null
    $B manifest add "$image" "$image-$arch" >/dev/null
done
rm -f "$archive"
$B manifest push --all "$image" "oci-archive:$archive:$NAME:$VERSION" >/dev/null
$B manifest rm "$image" >/dev/null
for arch in "${ARCHES[@]}"; do $B rmi "$image-$arch" >/dev/null 2>&1 || true; done

echo "== SBOMs (CycloneDX, cyclonedx-gomod bin)"
# cyclonedx-gomod bin reads the modules from the binary's build information,
# with two corrections:
# - the goos/goarch of its package URLs come from `go env` (v1.10.0,
#   internal/gomod/module.go, PackageURL), not from the binary: run it with
#   the binary's GOOS and GOARCH;
# - the ocb-generated module replaces this repository's module by the local
#   directory `..` (builder-config.yaml, path: ./), which it would name
#   "..@(devel)": name it as it is, at the version released.
sbom() {
    GOOS=linux GOARCH=$2 "$CYCLONEDX" bin -json -output "$3" -version "v$VERSION" "$1"
    sed -i -e 's|pkg:golang/\.\.@(devel)|pkg:golang/github.com/kyra-mdr/otelcol-gitlab@v'"$VERSION"'|g' \
        -e 's|"name": "\.\."|"name": "github.com/kyra-mdr/otelcol-gitlab"|' \
        -e 's|"version": "(devel)"|"version": "v'"$VERSION"'"|' "$3"
    ! grep -q '"\.\."\|(devel)' "$3" || die "$3: a module is still named \"..\" or \"(devel)\""
}
for arch in "${ARCHES[@]}"; do
    bin=$work/$arch/$NAME
    sbom "$bin" "$arch" "$RELEASE_DIR/${NAME}_${VERSION}_linux_${arch}.tar.gz.cdx.json"
    sbom "$bin" "$arch" "$RELEASE_DIR/${NAME}_${VERSION}-1_${arch}.deb.cdx.json"
    sbom "$bin" "$arch" "$RELEASE_DIR/${NAME}-${VERSION}-1.$(rpm_arch "$arch").rpm.cdx.json"
    sbom "$bin" "$arch" "$archive.linux-$arch.cdx.json"
done

echo "== SHA256SUMS, signature"
(cd "$RELEASE_DIR" && find . -maxdepth 1 -type f ! -name 'SHA256SUMS*' ! -name allowed_signers -printf '%f\n' \
    | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
pub=$(ssh-keygen -y -f "$RELEASE_SIGNING_KEY" | cut -d' ' -f1,2) || die "cannot read the public key of $RELEASE_SIGNING_KEY"
echo "$RELEASE_SIGNER namespaces=\"file\" $pub" > "$RELEASE_DIR/allowed_signers"
ssh-keygen -q -Y sign -f "$RELEASE_SIGNING_KEY" -n file "$RELEASE_DIR/SHA256SUMS"
(cd "$RELEASE_DIR" && ssh-keygen -Y verify -f allowed_signers -I "$RELEASE_SIGNER" -n file \
    -s SHA256SUMS.sig < SHA256SUMS && sha256sum --quiet -c SHA256SUMS) || die "the release does not verify"

rm -rf "$work"
digest=$(tar -xOf "$archive" index.json | sed -n 's/.*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p' | head -n1)
echo "release $VERSION in $RELEASE_DIR ($(($(date +%s) - start)) s); image index digest $digest"
ls -l "$RELEASE_DIR"
