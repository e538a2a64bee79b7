#!/bin/sh
# Lays out the file system of the release image, for both recipes of the
# Dockerfile (the multi-stage Docker build and `make image`, buildah from a
# prebuilt binary), so that they produce the same image:
#
#   /otelcol-kyra-gitlab                  the distribution (static, CGO_ENABLED=0)
#   /etc/otelcol/config.yaml              default configuration (config/production.yaml)
#   /etc/ssl/certs/ca-certificates.crt    CA bundle (Debian's ca-certificates)
#   /etc/passwd, /etc/group               root and nonroot (65532:65532)
#   /tmp                                  1777 (the poller spills large windows to $TMPDIR)
#   /var/lib/otelcol/storage              file_storage, owned by 65532 (from <out>/state)
#
# usage: rootfs.sh <binary> <config.yaml> <ca-bundle> <out>
# writes <out>/rootfs (owned by root in the image) and <out>/state (the
# content of /var/lib, copied with --chown=65532:65532).
set -eu

if [ $# -ne 4 ]; then
    echo "usage: $0 <binary> <config.yaml> <ca-bundle> <out>" >&2
    exit 2
fi
bin=$1 config=$2 ca=$3 out=$4
for f in "$bin" "$config" "$ca"; do
    [ -f "$f" ] || { echo "rootfs.sh: $f: no such file" >&2; exit 1; }
done

rm -rf "$out/rootfs" "$out/state"
umask 022
mkdir -p "$out/rootfs/etc/otelcol" "$out/rootfs/etc/ssl/certs" "$out/rootfs/tmp" "$out/state/otelcol/storage"

install -m 0755 "$bin" "$out/rootfs/otelcol-kyra-gitlab"
install -m 0644 "$config" "$out/rootfs/etc/otelcol/config.yaml"
install -m 0644 "$ca" "$out/rootfs/etc/ssl/certs/ca-certificates.crt"
cat > "$out/rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat > "$out/rootfs/etc/group" <<'GROUP'
root:x:0:
nonroot:x:65532:
GROUP
chmod 0644 "$out/rootfs/etc/passwd" "$out/rootfs/etc/group"
chmod 1777 "$out/rootfs/tmp"
chmod 0750 "$out/state/otelcol" "$out/state/otelcol/storage"
