// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/benchevents"
)

// TestBareHTTP serves the bare-http target on loopback, loads it as the
// stream benchmark does, and checks its answer and its shutdown.
func TestBareHTTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveBare(ctx, ln) }()

	url := "http://" + ln.Addr().String() + "/webhook/gitlab-audit"
	resp, err := http.Post(url, "application/x-www-form-urlencoded", strings.NewReader(`{"id":1}`))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.JSONEq(t, bareAnswer, string(body))

	templates, err := benchevents.Events(1, 20)
	require.NoError(t, err)
	i := indexTarget(t, "bare-http")
	l := &loader{target: allTargets[i], url: url, templates: templates, seq: &atomic.Uint64{}, timeout: 5 * time.Second}
	r, err := l.run(ctx, 4, 50*time.Millisecond, 0)
	require.NoError(t, err)
	assert.Zero(t, r.Errors, r.FirstError)
	assert.Positive(t, r.Events)

	cancel()
	select {
	case err := <-served:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("bare-http did not stop")
	}
}

// TestBareHTTPProcess starts the bare-http server as the stream benchmark
// does, as a process of its own serving on BENCH_ENDPOINT (this test
// binary, running TestBareHTTPHelper), and stops it.
func TestBareHTTPProcess(t *testing.T) {
	ctx := context.Background()
	c, err := startProcess(ctx, "bare-http", []string{os.Args[0], "-test.run=^TestBareHTTPHelper$"}, t.TempDir(), false, true,
		map[string]string{"GITLAB_LOADGEN_BARE_HELPER": "1"})
	require.NoError(t, err)
	defer func() { require.NoError(t, c.stop()) }()
	assert.Zero(t, c.metricsPort)
	resp, err := http.Post("http://"+c.endpoint+"/", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.JSONEq(t, bareAnswer, string(body))
	_, err = cpuTime(c.pid())
	require.NoError(t, err)
}

// TestBareHTTPHelper is the process TestBareHTTPProcess starts.
func TestBareHTTPHelper(t *testing.T) {
	if os.Getenv("GITLAB_LOADGEN_BARE_HELPER") != "1" {
		t.Skip("started by TestBareHTTPProcess")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	require.NoError(t, run(ctx, []string{"bare-http"}, io.Discard, os.Stderr))
}

// TestBareHandlerReadsTheBody checks that the handler fails a request
// whose body cannot be read to its end (it does read it).
func TestBareHandlerReadsTheBody(t *testing.T) {
	req, err := http.NewRequest(http.MethodPost, "/", io.MultiReader(strings.NewReader("{"), errReader{}))
	require.NoError(t, err)
	w := httptest.NewRecorder()
	bareHandler(w, req)
	assert.Equal(t, http.StatusBadRequest, w.Code)
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func indexTarget(t *testing.T, name string) int {
	for i, tgt := range allTargets {
		if tgt.Name == name {
			return i
		}
	}
	t.Fatalf("no target %s", name)
	return -1
}

// TestStreamMarkdownRatios checks the ratios and goals of the report.
func TestStreamMarkdownRatios(t *testing.T) {
	var o streamOptions
	for _, name := range []string{"gitlab_audit", "otlp-kvlist", "bare-http"} {
		o.targets = append(o.targets, allTargets[indexTarget(t, name)])
	}
	o.levels = []int{1, 8}
	results := []streamResult{
		{Target: "gitlab_audit", Concurrency: 1, EventsPerS: 6000, CPUus: 50},
		{Target: "otlp-kvlist", Concurrency: 1, EventsPerS: 4000, CPUus: 60},
		{Target: "bare-http", Concurrency: 1, EventsPerS: 12000, CPUus: 20},
		{Target: "gitlab_audit", Concurrency: 8, EventsPerS: 12000, CPUus: 40},
		{Target: "otlp-kvlist", Concurrency: 8, EventsPerS: 10000, CPUus: 60},
		{Target: "bare-http", Concurrency: 8, EventsPerS: 18000, CPUus: 20},
	}
	var md strings.Builder
	require.NoError(t, streamMarkdown(&md, o, results))
	for _, row := range []string{
		"| gitlab_audit | otlp-kvlist | 1 | 1.50 | 1.20 | ≥ 1.50: met |",
		"| gitlab_audit | otlp-kvlist | 8 | 1.20 | 1.50 | ≥ 1.50: **not met** |",
		"| gitlab_audit | bare-http | 1 | 0.50 | 0.40 | ≥ 0.60: **not met** |",
		"| gitlab_audit | bare-http | 8 | 0.67 | 0.50 | ≥ 0.60: met |",
		"- `bare-http`: a Go net/http server",
	} {
		assert.Contains(t, md.String(), row)
	}
}
