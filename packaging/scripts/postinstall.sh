#!/bin/sh
# After the files are unpacked. Arguments:
#   .deb: configure <previously configured version, empty on a first install>
#   .rpm: 1 on a first install, 2 or more on an upgrade
# A first install enables the service but does not start it: the token and
# the backend are set in /etc/otelcol-kyra-gitlab/otelcol-kyra-gitlab.conf
# first. An upgrade restarts the service if it was running.
set -e

upgrade=false
case "$1" in
    configure) [ -n "$2" ] && upgrade=true ;;
    [2-9]*) upgrade=true ;;
esac

# The state directory (also the unit's StateDirectory) and the files with
# secrets: owner and modes as the package ships them, also for files kept
# from an earlier version.
chown otelcol-kyra-gitlab:otelcol-kyra-gitlab /var/lib/otelcol-kyra-gitlab
chmod 0750 /var/lib/otelcol-kyra-gitlab
for f in /etc/otelcol-kyra-gitlab/config.yaml /etc/otelcol-kyra-gitlab/otelcol-kyra-gitlab.conf; do
    if [ -e "$f" ]; then
        chown root:otelcol-kyra-gitlab "$f"
        chmod 0640 "$f"
    fi
done

if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    if [ "$upgrade" = true ]; then
        systemctl try-restart otelcol-kyra-gitlab.service >/dev/null 2>&1 || true
    else
        systemctl enable otelcol-kyra-gitlab.service >/dev/null 2>&1 || true
    fi
fi

if [ "$upgrade" = false ]; then
    cat <<'MSG'
otelcol-kyra-gitlab is installed and enabled, not started.
Set GITLAB_URL, GITLAB_TOKEN, the feeds and the backend in
  /etc/otelcol-kyra-gitlab/otelcol-kyra-gitlab.conf
then: systemctl start otelcol-kyra-gitlab
MSG
fi
exit 0
