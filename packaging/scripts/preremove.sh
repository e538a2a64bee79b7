#!/bin/sh
# Before the files are removed. Arguments:
#   .deb: remove | upgrade <new version> | ...
#   .rpm: 0 on removal, 1 or more on an upgrade
# Stop and disable the service on removal only; an upgrade restarts it in
# postinstall.
set -e

case "$1" in
    remove|0)
        if [ -d /run/systemd/system ]; then
            systemctl stop otelcol-kyra-gitlab.service >/dev/null 2>&1 || true
        fi
        systemctl disable otelcol-kyra-gitlab.service >/dev/null 2>&1 || true
        ;;
esac
exit 0
