// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Command gitlab-loadgen measures the KYRA GitLab audit collector
// distribution on loopback. It has eight subcommands:
//
//	gitlab-loadgen stream   -collector BIN [flags]
//	gitlab-loadgen soak     -collector BIN [flags]
//	gitlab-loadgen backfill -collector BIN [flags]
//	gitlab-loadgen enrich   -collector BIN [flags]
//	gitlab-loadgen estate   -collector BIN [flags]
//	gitlab-loadgen flaky    -collector BIN [flags]
//	gitlab-loadgen gobench  -in bench.txt
//	gitlab-loadgen detect   -collector BIN [flags]
//
// stream starts one collector process per target (the gitlab_audit
// streaming endpoint with and without the gitlab_detect processor, and the
// core otlp receiver), and the bare-http target, a plain net/http server
// that only reads the body (`gitlab-loadgen bare-http`, a process of its
// own), then, for each concurrency level in turn and for each target in
// turn, posts single-event requests over keep-alive connections for a
// fixed time. The events are realistic (drawn from the GitLab simulator)
// and all distinct; the OTLP targets receive the very same events as
// one-record OTLP/HTTP JSON requests, bare-http the very requests
// gitlab_audit gets. It reports events/s, client-side p50/p99 latency and
// the server's CPU time per event (utime+stime of the process, from
// /proc), and gitlab_audit's ratios to the others.
//
// soak streams for a long time (10 minutes by default) into a collector
// that keeps its de-duplication state in file_storage, and reports per
// interval (a minute by default) the events/s and the size of the storage
// directory: throughput must hold and storage must stay bounded.
//
// backfill serves a simulated GitLab holding N events in this process,
// starts the collector polling it, and measures the time until the
// collector accepted all N records, its peak RSS (VmHWM) and the API
// requests it made.
//
// enrich serves a simulated GitLab, streams the same simulated events
// once each to a collector with enrichment off and then on, and reports
// the stream latency (p50/p99) and the lookups the simulator answered per
// 1,000 events.
// detect streams the simulator's detection scenario (days of benign
// traffic, attack chains on the last day) to the distribution and scores
// the records gitlab_detect tagged (testbed/detectbench): attack steps
// tagged right, and the share of benign events raised to HIGH or MEDIUM.
//
// estate serves an estate of 2,000 projects under one group, 20 of them
// active, and measures the collector discovering and polling them all
// under a request budget: requests per minute, checkpoint lag of active
// and idle feeds, peak RSS, and the restart on 2,000 stored checkpoints.
//
// flaky reads the same backlog (a few hours of history in four project
// feeds) twice from the collector's first start: from a simulated GitLab
// that answers every request in the same time, then from one that answers
// one request in nine only after 40 s, past the request timeout. It
// reports both times and their ratio, the requests, and the records
// accepted (every backlog event once).
//
// gobench summarises `go test -bench` output of the project's benchmarks
// as Markdown tables with the ratios the benchmarks exist for.
//
// Every subcommand writes Markdown to -out (default stdout) and, with
// -json, the raw results.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		logf(os.Stderr, "gitlab-loadgen: %v\n", err)
		os.Exit(1)
	}
}

const usage = `usage: gitlab-loadgen <stream|soak|backfill|enrich|estate|flaky|gobench|detect|bare-http> [flags]; -h after a subcommand lists its flags`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		logf(stderr, "%s\n", usage)
		return errors.New("no subcommand")
	}
	switch args[0] {
	case "stream":
		return runBench(ctx, args[1:], stdout, stderr, parseStreamFlags, streamBench, streamMarkdown)
	case "soak":
		return runBench(ctx, args[1:], stdout, stderr, parseSoakFlags, soak, soakMarkdown)
	case "backfill":
		return runBench(ctx, args[1:], stdout, stderr, parseBackfillFlags, backfill, backfillMarkdown)
	case "estate":
		return runBench(ctx, args[1:], stdout, stderr, parseEstateFlags, estateBench, estateMarkdown)
	case "gobench":
		return runGoBench(args[1:], stdout, stderr)
	case "bare-http":
		return runBareHTTP(ctx, args[1:], stderr)
	case "enrich":
		return runBench(ctx, args[1:], stdout, stderr, parseEnrichFlags, enrichBench, enrichMarkdown)
	case "detect":
		return runBench(ctx, args[1:], stdout, stderr, parseDetectFlags, detect, detectMarkdown)
	case "flaky":
		return runBench(ctx, args[1:], stdout, stderr, parseFlakyFlags, flakyBench, flakyMarkdown)
	case "-h", "-help", "--help", "help":
		logf(stdout, "%s\n", usage)
		return nil
	}
	logf(stderr, "%s\n", usage)
	return fmt.Errorf("unknown subcommand %q", args[0])
}

// output opens -out: a file, or stdout when empty or "-".
func output(path string, stdout io.Writer) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}

// logf writes progress or usage text; a failed write to the terminal is
// not worth failing a measurement for.
func logf(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}
