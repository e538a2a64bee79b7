#!/bin/sh
# After the files are removed. Arguments:
#   .deb: remove | purge | upgrade <new version> | ...
#   .rpm: 0 on removal, 1 or more on an upgrade
# Removal keeps the state (checkpoints, exporter queue) and the edited
# configuration; `dpkg --purge` / `apt purge` deletes the state directory as
# well (dpkg deletes the configuration files). The system user is kept, as
# files it owned may remain elsewhere.
set -e

if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = purge ]; then
    rm -rf /var/lib/otelcol-kyra-gitlab
    rmdir /etc/otelcol-kyra-gitlab 2>/dev/null || true
fi
exit 0
