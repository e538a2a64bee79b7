#!/usr/bin/env bash
# make bench: the project's benchmarks, written into BENCHMARKS.md.
#
#   1. builds its own copy of the distribution into _build/bench (never
#      _build itself, which `make build` and the end-to-end tests use) and
#      the load generator;
#   2. runs the Go benchmarks (-benchmem, one core) into a file benchstat
#      reads, and summarises them;
#   3. runs the stream ingest load test: gitlab_audit's streaming endpoint
#      against the core OTLP/HTTP receiver of the same build and a bare
#      net/http server (gitlab-loadgen bare-http, a process of its own);
#   4. runs the backfill: a million simulated events polled by the
#      distribution, with Go's default memory settings and with GOMEMLIMIT;
#   5. runs the soak: 10 minutes of streaming into the distribution with
#      its de-duplication state in file_storage (BENCH_SOAK_DURATION);
#   6. runs the enrichment load test: the same streamed events with the
#      API lookups off and on, lookups per 1,000 events and latency;
#   7. runs the detection benchmark: the simulator's scenario (days of
#      benign traffic, attack chains on the last day) through the
#      distribution, scored per attack step and per rule;
#   8. runs the estate: 2,000 discovered projects (20 active) polled under
#      a 2,000 requests/minute budget, and a restart on their checkpoints;
#   9. runs the slow or flaky GitLab: the same backlog from a healthy and
#      from a flaky simulated GitLab;
#  10. writes BENCHMARKS.md from bench/BENCHMARKS.md.tmpl.
#
# BENCH_QUICK=1 makes a short smoke run and writes
# _build/bench/BENCHMARKS.quick.md instead of BENCHMARKS.md (BENCH_OUT
# overrides the output file either way). Results and collector logs are
# kept in _build/bench/results (results-quick for a smoke run);
# BENCH_RENDER_ONLY=1 writes the output again
# from them (after an edit of bench/BENCHMARKS.md.tmpl) without measuring.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
OCB=${OCB:-.tools/bin/builder}
BENCHSTAT=${BENCHSTAT:-.tools/bin/benchstat}
QUICK=${BENCH_QUICK:-0}

DIR=_build/bench
RES=$DIR/results
# A smoke run keeps its results apart: rendering BENCHMARKS.md again
# (BENCH_RENDER_ONLY=1) must never pick up a smoke run's numbers.
if [[ "$QUICK" == 1 ]]; then RES=$DIR/results-quick; fi
DIST=$DIR/otelcol-kyra-gitlab
LOADGEN=$DIR/gitlab-loadgen

if [[ "$QUICK" == 1 ]]; then
	COUNT=1 BENCHTIME=200ms
	DURATION=1s WARMUP=300ms LEVELS=1,8
	EVENTS=100000 ENRICH_EVENTS=2000
	SOAK_DURATION=${BENCH_SOAK_DURATION:-20s} SOAK_INTERVAL=5s
	ESTATE_ARGS="-projects 500 -active 10 -poll-interval 10s -idle-poll-interval 1m -warmup 45s -duration 20s"
	OUT=${BENCH_OUT:-$DIR/BENCHMARKS.quick.md}
else
	COUNT=${BENCH_COUNT:-8} BENCHTIME=1s
	DURATION=${BENCH_DURATION:-10s} WARMUP=2s LEVELS=${BENCH_LEVELS:-1,8,32}
	EVENTS=1000000 ENRICH_EVENTS=20000
	SOAK_DURATION=${BENCH_SOAK_DURATION:-10m} SOAK_INTERVAL=1m
	ESTATE_ARGS=${BENCH_ESTATE_ARGS:-"-projects 2000 -active 20 -poll-interval 1m -idle-poll-interval 5m -warmup 12m -duration 5m"}
	OUT=${BENCH_OUT:-BENCHMARKS.md}
fi
MEMLIMIT=${BENCH_GOMEMLIMIT:-128MiB}
DETECT_DAYS=${BENCH_DETECT_DAYS:-4}
# Where the benchmarks are since the receiver's split into internal packages:
# stream (BenchmarkStreamHandler, BenchmarkStreamBody), poll (BenchmarkPollDecode,
# BenchmarkBodyDecode, BenchmarkStartWith2000StoredFeeds), emit
# (BenchmarkDedupClaimCommit), enrich (BenchmarkEnrich), gitlab_detect.
PACKAGES=(./receiver/gitlabauditreceiver/internal/stream/ ./receiver/gitlabauditreceiver/internal/poll/
	./receiver/gitlabauditreceiver/internal/emit/ ./receiver/gitlabauditreceiver/internal/enrich/
	./processor/gitlabdetectprocessor/)

step() { printf '\n== %s\n' "$*" >&2; }

# measure runs everything and leaves the results, as Markdown pieces, in $RES.
measure() {
	rm -rf "$RES"
	mkdir -p "$RES"

	step "build: the distribution into $DIR, and the load generator"
	sed 's#^\(  output_path:\).*#\1 ./_build/bench#' builder-config.yaml >"$DIR/builder-config.yaml"
	"$OCB" --config "$DIR/builder-config.yaml" >"$RES/ocb.log" 2>&1 || { cat "$RES/ocb.log" >&2; exit 1; }
	"$GO" build -o "$LOADGEN" ./testbed/cmd/gitlab-loadgen

	GOBENCH_CMD="go test -run '^\$' -bench . -benchmem -cpu 1 -count $COUNT -benchtime $BENCHTIME ${PACKAGES[*]}"
	step "$GOBENCH_CMD"
	"$GO" test -run '^$' -bench . -benchmem -cpu 1 -count "$COUNT" -benchtime "$BENCHTIME" "${PACKAGES[@]}" | tee "$RES/gobench.txt" >&2
	"$BENCHSTAT" "$RES/gobench.txt" >"$RES/benchstat.txt"
	"$LOADGEN" gobench -in "$RES/gobench.txt" -out "$RES/gobench.md"

	STREAM_ARGS="-duration $DURATION -warmup $WARMUP -concurrency $LEVELS"
	step "stream ingest: gitlab-loadgen stream $STREAM_ARGS"
	# shellcheck disable=SC2086 # word splitting of the arguments is intended
	"$LOADGEN" stream -collector "$DIST" -configs bench $STREAM_ARGS \
		-workdir "$RES/logs" -out "$RES/stream.md" -json "$RES/stream.json"

	step "backfill: $EVENTS events, Go's default memory settings"
	"$LOADGEN" backfill -collector "$DIST" -config bench/backfill.yaml -events "$EVENTS" \
		-workdir "$RES/logs" -out "$RES/backfill.md" -json "$RES/backfill.json"
	step "backfill: $EVENTS events, GOMEMLIMIT=$MEMLIMIT"
	GOMEMLIMIT=$MEMLIMIT "$LOADGEN" backfill -collector "$DIST" -config bench/backfill.yaml -events "$EVENTS" \
		-workdir "$RES/logs" -out "$RES/backfill-memlimit.md" -json "$RES/backfill-memlimit.json"

	SOAK_ARGS="-duration $SOAK_DURATION -interval $SOAK_INTERVAL -concurrency 16"
	step "soak: gitlab-loadgen soak $SOAK_ARGS"
	# shellcheck disable=SC2086 # word splitting of the arguments is intended
	"$LOADGEN" soak -collector "$DIST" -config bench/soak.yaml $SOAK_ARGS \
		-workdir "$RES/logs" -out "$RES/soak.md" -json "$RES/soak.json"
	step "enrichment: $ENRICH_EVENTS streamed events, lookups off and on"
	"$LOADGEN" enrich -collector "$DIST" -config bench/stream-enrich.yaml -events "$ENRICH_EVENTS" -concurrency 8 \
		-workdir "$RES/logs" -out "$RES/enrich.md" -json "$RES/enrich.json"

	step "detection: gitlab-loadgen detect -days $DETECT_DAYS"
	"$LOADGEN" detect -collector "$DIST" -config bench/detect.yaml -days "$DETECT_DAYS" \
		-workdir "$RES/logs" -out "$RES/detect.md" -json "$RES/detect.json"

	step "estate: gitlab-loadgen estate $ESTATE_ARGS"
	# shellcheck disable=SC2086 # word splitting of the arguments is intended
	"$LOADGEN" estate -collector "$DIST" -config bench/estate.yaml $ESTATE_ARGS \
		-workdir "$RES/logs" -out "$RES/estate.md" -json "$RES/estate.json"

	step "slow or flaky GitLab: gitlab-loadgen flaky"
	"$LOADGEN" flaky -collector "$DIST" -config bench/flaky.yaml \
		-workdir "$RES/logs" -out "$RES/flaky.md" -json "$RES/flaky.json"

	step "write $OUT"
	mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
	cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
	{
		echo "| | |"
		echo "|---|---|"
		echo "| Date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
		echo "| Commit | $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)') |"
		echo "| CPU | ${cpu_model:-unknown}, $(nproc) logical CPUs (shared) |"
		echo "| Memory | $((mem_kb / 1024)) MiB |"
		echo "| OS | $(uname -sr) |"
		echo "| Go | $("$GO" env GOVERSION) |"
		echo "| Mode | $([[ "$QUICK" == 1 ]] && echo 'BENCH_QUICK=1 (smoke run: numbers not comparable)' || echo 'full') |"
	} >"$RES/machine.md"
	cat >"$RES/commands.md" <<-EOF
	\`\`\`sh
	make bench                       # everything below, then this file
	BENCH_QUICK=1 make bench         # a short smoke run, written to _build/bench/BENCHMARKS.quick.md

	# Go benchmarks, one core, and their summary
	$GOBENCH_CMD > gobench.txt
	benchstat gobench.txt
	go run ./testbed/cmd/gitlab-loadgen gobench -in gobench.txt

	# stream ingest and backfill, against the distribution built into _build/bench
	go run ./testbed/cmd/gitlab-loadgen stream -collector $DIST -configs bench $STREAM_ARGS
	go run ./testbed/cmd/gitlab-loadgen backfill -collector $DIST -config bench/backfill.yaml -events $EVENTS
	GOMEMLIMIT=$MEMLIMIT go run ./testbed/cmd/gitlab-loadgen backfill -collector $DIST -config bench/backfill.yaml -events $EVENTS
	go run ./testbed/cmd/gitlab-loadgen soak -collector $DIST -config bench/soak.yaml $SOAK_ARGS
	go run ./testbed/cmd/gitlab-loadgen enrich -collector $DIST -config bench/stream-enrich.yaml -events $ENRICH_EVENTS -concurrency 8

	# detection quality: the simulator's scenario through the distribution
	go run ./testbed/cmd/gitlab-loadgen detect -collector $DIST -config bench/detect.yaml -days $DETECT_DAYS

	go run ./testbed/cmd/gitlab-loadgen estate -collector $DIST -config bench/estate.yaml $ESTATE_ARGS
	go run ./testbed/cmd/gitlab-loadgen flaky -collector $DIST -config bench/flaky.yaml
	\`\`\`
	EOF
	{
		echo '```'
		cat "$RES/benchstat.txt"
		echo '```'
	} >"$RES/benchstat.md"

}

if [[ "${BENCH_RENDER_ONLY:-0}" == 1 ]]; then
	# Write the output again from the results of the last run (after an
	# edit of the template), without measuring anything.
	[[ -f "$RES/machine.md" ]] || { echo "no results in $RES: run make bench first" >&2; exit 1; }
else
	measure
fi

# Each line of the template that is exactly @@NAME@@ is replaced by the
# file $RES/NAME.md.
awk -v res="$RES" '
	/^@@[a-z_-]+@@$/ {
		f = res "/" substr($0, 3, length($0) - 4) ".md"
		while ((getline line < f) > 0) print line
		close(f)
		next
	}
	{ print }
' bench/BENCHMARKS.md.tmpl >"$OUT"
echo "wrote $OUT" >&2
