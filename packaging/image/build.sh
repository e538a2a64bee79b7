#!/bin/sh
# `make image`: builds the release image with buildah (vfs storage, no base
# image pulled) from the file system rootfs.sh laid out in <context>, and
# exports it as an OCI archive. Removes what the build left behind in
# buildah's storage (the working containers and images of the intermediate
# stages, and the previous image of the same name).
#
# usage: build.sh <image name> <context dir> <oci archive> [buildah bud args...]
set -eu

name=$1 context=$2 archive=$3
shift 3
B="buildah --storage-driver vfs"

containers_before=$($B containers -q | sort)
images_before=$($B images -q --no-trunc | sort)
previous=$($B images -q --no-trunc "$name" 2>/dev/null || true)

$B bud --layers=false --pull=never -f Dockerfile -t "$name" "$@" "$context"

new_image=$($B images -q --no-trunc "$name")
for c in $($B containers -q | sort | comm -13 /dev/fd/3 - 3<<EOF2
$containers_before
EOF2
); do
    $B rm "$c" >/dev/null
done
for i in $($B images -q --no-trunc | sort | comm -13 /dev/fd/3 - 3<<EOF2
$images_before
EOF2
) $previous; do
    [ "$i" = "$new_image" ] || $B rmi "$i" >/dev/null 2>&1 || true
done

rm -f "$archive"
$B push "$name" "oci-archive:$archive:$name"
echo "image $name ($new_image) exported to $archive"
