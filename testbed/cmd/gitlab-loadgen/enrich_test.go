// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

func TestParseEnrichFlags(t *testing.T) {
	o, err := parseEnrichFlags([]string{"-collector", "bin", "-events", "10", "-lookup-delay", "50ms"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 10, o.events)
	assert.Equal(t, 8, o.concurrency)
	assert.Equal(t, 50*time.Millisecond, o.lookupDelay)
	_, err = parseEnrichFlags([]string{"-events", "10"}, io.Discard)
	require.ErrorContains(t, err, "-collector is required")
	_, err = parseEnrichFlags([]string{"-collector", "bin", "-security-share", "2"}, io.Discard)
	require.Error(t, err)
}

func TestLookupKind(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v4/personal_access_tokens/4":   "personal_access_token",
		"/api/v4/projects/1/access_tokens/4": "project/group access token",
		"/api/v4/groups/1/variables/K":       "ci variable",
		"/api/v4/admin/ci/variables/K":       "ci variable",
		"/api/v4/projects/1/deploy_keys/2":   "deploy key",
		"/api/v4/groups/1/deploy_tokens/2":   "deploy token",
		"/api/v4/users/12":                   "author",
		"/api/v4/audit_events?per_page=100":  "other",
	} {
		assert.Equal(t, want, lookupKind(path), path)
	}
}

// TestStreamOnce sends every event once, as GitLab does, and measures.
func TestStreamOnce(t *testing.T) {
	sim := gitlabsim.New(gitlabsim.Options{Seed: 4})
	sim.Populate(1, 2)
	evs := sim.GenerateWith(gitlabsim.GenerateOptions{Count: 50, From: time.Now().Add(-time.Hour), To: time.Now(), NoStream: true})
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Gitlab-Event-Streaming-Token") != streamToken || !bytes.HasPrefix(b, []byte("{")) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got.Add(1)
		_, _ = w.Write([]byte(`{"status":"ok","accepted":1}`))
	}))
	defer srv.Close()
	r, err := streamOnce(context.Background(), srv.URL, evs, 4)
	require.NoError(t, err)
	assert.Equal(t, 50, r.Events)
	assert.Equal(t, int32(50), got.Load())
	assert.Positive(t, r.P99us)

	var b bytes.Buffer
	r.Enrich, r.Requests, r.ObjectEvent = true, map[string]int{"author": 2, "ci variable": 1}, 1
	r.Statuses = map[string]float64{"ok": 49}
	require.NoError(t, enrichMarkdown(&b, enrichOptions{events: 50, concurrency: 4, commonOptions: commonOptions{config: "bench/stream-enrich.yaml"}}, []enrichResult{r}))
	assert.Contains(t, b.String(), "| on | 50 |")
	assert.Contains(t, b.String(), "| ci variable | 1 | 20.0 |")
}
