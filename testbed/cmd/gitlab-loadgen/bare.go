// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// The stream benchmark's bare-http target: a plain Go net/http server whose
// handler reads the whole request body and answers 200 with the short JSON
// answer gitlab_audit gives to an accepted event, and does nothing else. It
// is what any Go HTTP endpoint costs at the least, the floor gitlab_audit's
// stream endpoint is compared with. `gitlab-loadgen stream` starts it as a
// process of its own (this program, `gitlab-loadgen bare-http`), so that
// its CPU time is measured from /proc like a collector's, apart from the
// load generator's, and it gets the very same requests (bytes, headers,
// keep-alive connections) as the gitlab_audit target.

// bareAnswer is gitlab_audit's answer to a request whose one event was
// accepted (internal/stream's appendCountsAnswer).
const bareAnswer = "{\"status\":\"ok\",\"accepted\":1}\n"

// bareHandler reads the whole body and answers 200.
func bareHandler(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, bareAnswer)
}

// runBareHTTP serves bareHandler on $BENCH_ENDPOINT (set by startProcess)
// until ctx ends.
func runBareHTTP(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("bare-http", stderr)
	fs.Usage = func() {
		logf(stderr, "usage: gitlab-loadgen bare-http (started by `gitlab-loadgen stream`; serves on $BENCH_ENDPOINT)\n")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	endpoint := os.Getenv("BENCH_ENDPOINT")
	if endpoint == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("bare-http takes no arguments and needs BENCH_ENDPOINT")
	}
	ln, err := net.Listen("tcp", endpoint)
	if err != nil {
		return err
	}
	return serveBare(ctx, ln)
}

// serveBare serves bareHandler on ln until ctx ends.
func serveBare(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: http.HandlerFunc(bareHandler), ReadHeaderTimeout: time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("bare-http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
