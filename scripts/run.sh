#!/usr/bin/env bash
# `make run`: the distribution against the bundled GitLab simulator, or
# against a real GitLab when GITLAB_URL and GITLAB_TOKEN are set. Shows one
# line per audit event, detections highlighted; the collector's full output
# is kept in .run/collector.log. Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

DIST_BIN=${DIST_BIN:-_build/otelcol-kyra-gitlab}
SIM_BIN=${SIM_BIN:-_build/gitlab-sim}
RUN_DIR=${RUN_DIR:-.run}
SIM_PORT=${DEMO_SIM_PORT:-18080}
export DEMO_STREAM_PORT=${DEMO_STREAM_PORT:-8443}
export DEMO_HEALTH_PORT=${DEMO_HEALTH_PORT:-13133}
export DEMO_METRICS_PORT=${DEMO_METRICS_PORT:-8888}
export DEMO_STORAGE_DIR=${DEMO_STORAGE_DIR:-$RUN_DIR/storage}
export GITLAB_STREAM_TOKEN=${GITLAB_STREAM_TOKEN:-demo-stream-token-0001}

for bin in "$DIST_BIN" "$SIM_BIN"; do
  [[ -x $bin ]] || { echo "missing $bin: run 'make build' (or just 'make run')" >&2; exit 1; }
done
mkdir -p "$RUN_DIR"

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo
  echo "Stopped. Full collector output: $RUN_DIR/collector.log"
}
trap cleanup INT TERM EXIT

# wait_port HOST PORT SECONDS: wait until something listens there.
wait_port() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

if [[ -z ${GITLAB_URL:-} ]]; then
  if [[ -n ${GITLAB_TOKEN:-} ]]; then
    echo "GITLAB_TOKEN is set but GITLAB_URL is not: set both to use a real GitLab." >&2
    exit 1
  fi
  # Demo: the simulator serves the audit API with an hour of history, and
  # streams every new event (a few of them twice, as GitLab may) to the
  # collector's streaming endpoint.
  # The estate: 10 groups (acme has 4 subgroups) and 40 projects; every
  # 45 s a project is created (and sometimes one moved or deleted), which
  # discovery must follow.
  # The simulator makes a new history at every start (ids from 1, other
  # content): the state a previous demo stored (checkpoints, remembered
  # ids) belongs to another GitLab, so the demo starts without it.
  if [[ $DEMO_STORAGE_DIR == "$RUN_DIR/storage" ]]; then
    rm -rf "$DEMO_STORAGE_DIR"
  fi
  "$SIM_BIN" -listen "127.0.0.1:$SIM_PORT" -backfill 400 -backfill-span 1h \
    -groups 10 -projects 40 -churn 45s \
    -rate 3 -security-share 0.3 -legacy-share 0.05 -dup-ratio 0.05 \
    -stream-url "http://127.0.0.1:$DEMO_STREAM_PORT/webhook/gitlab-audit" \
    -stream-token "$GITLAB_STREAM_TOKEN" >"$RUN_DIR/gitlab-sim.log" 2>&1 &
  pids+=($!)
  wait_port 127.0.0.1 "$SIM_PORT" 10 || { echo "the GitLab simulator did not start; see $RUN_DIR/gitlab-sim.log" >&2; exit 1; }
  export GITLAB_URL="http://127.0.0.1:$SIM_PORT"
  export GITLAB_TOKEN=glpat-gitlab-sim-demo-token
  # Only the top group is configured: its subgroups and projects are
  # discovered and polled as feeds of their own (watch "discovered" below).
  export GITLAB_COLLECT_INSTANCE=${GITLAB_COLLECT_INSTANCE:-false}
  export GITLAB_GROUPS='[acme]'
  export GITLAB_DISCOVERY_INTERVAL=${GITLAB_DISCOVERY_INTERVAL:-1m}
  export GITLAB_POLL_INTERVAL=${GITLAB_POLL_INTERVAL:-15s}
  export GITLAB_STREAM_PUBLIC_URL="http://127.0.0.1:$DEMO_STREAM_PORT/webhook/gitlab-audit"
  echo "GitLab simulator on $GITLAB_URL (log: $RUN_DIR/gitlab-sim.log), streaming to 127.0.0.1:$DEMO_STREAM_PORT"
else
  if [[ -z ${GITLAB_TOKEN:-} ]]; then
    echo "GITLAB_URL is set: set GITLAB_TOKEN too (an access token with the read_api scope)." >&2
    exit 1
  fi
  if [[ -z ${GITLAB_GROUPS:-}${GITLAB_PROJECTS:-} && ${GITLAB_COLLECT_INSTANCE:-false} != true ]]; then
    echo "Say what to poll: GITLAB_GROUPS='[my-group]', GITLAB_PROJECTS='[my-group/my-project]'" >&2
    echo "and/or GITLAB_COLLECT_INSTANCE=true (administrator token, Self-Managed)." >&2
    exit 1
  fi
  echo "Polling $GITLAB_URL; streaming endpoint on 127.0.0.1:$DEMO_STREAM_PORT"
fi

echo "Collector: health http://127.0.0.1:$DEMO_HEALTH_PORT/  metrics http://127.0.0.1:$DEMO_METRICS_PORT/metrics"
echo "Press Ctrl-C to stop."
echo

# One line per event: severity, indicator, type, author, path; the
# collector's own warnings and errors as they are.
"$DIST_BIN" --config config/demo.yaml 2>&1 | tee "$RUN_DIR/collector.log" | awk -v color="$([[ -t 1 ]] && echo 1 || echo 0)" '
  function val(key,   i, rest, j) {
    i = index($0, " " key "=")
    if (!i) return ""
    rest = substr($0, i + length(key) + 2)
    j = match(rest, / [a-z_]+(\.[a-z_]+)+=/)
    return j ? substr(rest, 1, j - 1) : rest
  }
  function paint(code, s) { return color ? "\033[" code "m" s "\033[0m" : s }
  /gitlab\.audit\.event\.id=/ {
    sev = val("gitlab.detect.severity"); ind = val("gitlab.detect.indicator")
    line = sprintf("%-24s by %-18s %-8s %s", val("gitlab.audit.event_type"), val("user.name"), val("gitlab.audit.source"), val("gitlab.audit.entity.path"))
    # What the receiver looked up in the GitLab API (enrichment), when it did.
    st = val("gitlab.enrichment.status")
    if (st == "ok") {
      facts = ""
      if ((v = val("gitlab.ci_variable.protected")) != "") facts = facts " protected=" v " masked=" val("gitlab.ci_variable.masked")
      if ((v = val("gitlab.token.scopes")) != "") { e = val("gitlab.token.expires_at"); facts = facts " expires=" (e == "" ? "never" : e) " scopes=" v }
      if ((v = val("gitlab.deploy_key.can_push")) != "") facts = facts " can_push=" v
      if ((v = val("gitlab.deploy_token.scopes")) != "") facts = facts " scopes=" v
      line = line "  [" substr(facts, 2) "]"
    } else if (st != "") line = line "  [lookup " st "]"
    if (sev == "") { print paint("2", sprintf("%-8s %-20s %s", "INFO", "", line)); fflush(); next }
    code = (sev == "CRITICAL" || sev == "HIGH") ? "1;31" : (sev == "MEDIUM" ? "1;33" : "36")
    print paint(code, sprintf("%-8s %-20s %s  <- %s", sev, ind, line, val("security_rule.name"))); fflush(); next
  }
  /^(ResourceLog|ScopeLog) #/ || /"otelcol.component.id": "debug"/ { next }
  /\t(warn|error|fatal)\t/ || /Everything is ready/ || /Accepting GitLab audit event streaming/ || /The token sees every event/ || /The GitLab token/ || /streaming destination/ || /Polling GitLab audit events\t/ || /Discovered the subgroups/ || /The estate changed/ || /Catching up with/ || /Every feed has caught up/ { print; fflush() }
' &
pids+=($!)
wait
