#!/bin/sh
# Before the files are unpacked (install and upgrade, .deb and .rpm):
# the service user and group own the state directory and read the
# configuration, so they must exist first.
set -e

USER_NAME=otelcol-kyra-gitlab
GROUP_NAME=otelcol-kyra-gitlab
HOME_DIR=/var/lib/otelcol-kyra-gitlab

if ! getent group "$GROUP_NAME" >/dev/null 2>&1; then
    groupadd --system "$GROUP_NAME"
fi
if ! getent passwd "$USER_NAME" >/dev/null 2>&1; then
    NOLOGIN=/usr/sbin/nologin
    [ -x "$NOLOGIN" ] || NOLOGIN=/sbin/nologin
    [ -x "$NOLOGIN" ] || NOLOGIN=/bin/false
    useradd --system --gid "$GROUP_NAME" --home-dir "$HOME_DIR" --no-create-home \
        --shell "$NOLOGIN" --comment "KYRA GitLab audit collector" "$USER_NAME"
fi
exit 0
