// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// alertsConfig runs poll + stream + detection against the simulator, with
// the telemetry reader of the deploy/ configurations (Prometheus, no type
// suffix, no units), a sending queue, and a second exporter whose backend
// refuses everything (send failures).
const alertsConfig = `
extensions:
  health_check:
    endpoint: 127.0.0.1:%[1]d
receivers:
  gitlab_audit:
    endpoint: %[2]s
    token: %[3]s
    poll_interval: 10s
    idle_poll_interval: 10s
    initial_lookback: 2h
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 500ms
      max_elapsed_time: 2s
    collect:
      instance: true
      groups: [acme]
    stream:
      endpoint: 127.0.0.1:%[4]d
      verification_tokens: [%[5]s]
      public_url: http://127.0.0.1:%[4]d/webhook/gitlab-audit
processors:
  gitlab_detect: {}
exporters:
  otlp_http:
    endpoint: %[6]s
    sending_queue:
      enabled: true
  otlp_http/refused:
    endpoint: %[7]s
    retry_on_failure:
      enabled: false
service:
  extensions: [health_check]
  pipelines:
    logs:
      receivers: [gitlab_audit]
      processors: [gitlab_detect]
      exporters: [otlp_http, otlp_http/refused]
  telemetry:
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %[8]d
                without_scope_info: true
                without_type_suffix: true
                without_units: true
`

// prometheusConfig scrapes the collector every second and evaluates the
// rules every second.
const prometheusConfig = `
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%[1]s]
scrape_configs:
  - job_name: otelcol-kyra-gitlab
    static_configs:
      - targets: ["127.0.0.1:%[2]d"]
`

// forClause is the `for:` of a rule in deploy/monitoring/rules.yaml.
var forClause = regexp.MustCompile(`(?m)^(\s+)for: \S+$`)

// testRules returns the shipped alert rules with every `for` cut to 0s, so
// that an alert fires as soon as its expression holds: the expressions are
// those promtool tests and users load.
func testRules(t *testing.T) string {
	t.Helper()
	src := readFile(t, filepath.Join(repoRoot(t), "deploy", "monitoring", "rules.yaml"))
	n := len(forClause.FindAllString(src, -1))
	require.Greater(t, n, 5, "the rules have `for` clauses")
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(forClause.ReplaceAllString(src, "${1}for: 0s")), 0o600))
	return path
}

// promServer is a running Prometheus.
type promServer struct {
	url string
}

// startPrometheus runs Debian's prometheus (package prometheus) with the
// configuration, or skips when it is not installed.
func startPrometheus(t *testing.T, config string) *promServer {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("SKIP: prometheus is not installed: apt-get install prometheus (.ci/run installs it); the alert rules are not run against the collector")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(config), 0o600))
	port := freePort(t)
	logPath := filepath.Join(dir, "prometheus.log")
	logf, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithTest(cmd)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("prometheus log:\n%s", b)
		}
	})
	p := &promServer{url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	require.Eventually(t, func() bool {
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "prometheus ready")
	return p
}

// api GETs a Prometheus API path and decodes its data.
func (p *promServer) api(t *testing.T, path string, q url.Values, data any) {
	t.Helper()
	resp, err := http.Get(p.url + path + "?" + q.Encode())
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	require.NoError(t, json.Unmarshal(body, &env), "%s", body)
	require.Equal(t, "success", env.Status, "%s: %s", path, env.Error)
	require.NoError(t, json.Unmarshal(env.Data, data))
}

// count returns how many series a query returns now.
func (p *promServer) count(t *testing.T, query string) int {
	t.Helper()
	var data struct {
		Result []json.RawMessage `json:"result"`
	}
	p.api(t, "/api/v1/query", url.Values{"query": {query}}, &data)
	return len(data.Result)
}

// alertState returns the state (pending, firing) of the alerts with that
// name and feed label, "" when there is none.
func (p *promServer) alertState(t *testing.T, name, feed string) string {
	t.Helper()
	var data struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	p.api(t, "/api/v1/alerts", nil, &data)
	state := ""
	for _, a := range data.Alerts {
		if a.Labels["alertname"] == name && a.Labels["feed"] == feed {
			if state != "firing" {
				state = a.State
			}
		}
	}
	return state
}

// exposedSeries writes every metric name Prometheus scraped from the
// collector since start, with the names of its labels (job and instance
// included), for deploy/'s TestMetricNamesExposed.
func (p *promServer) exposedSeries(t *testing.T, since time.Time) map[string][]string {
	t.Helper()
	var series []map[string]string
	p.api(t, "/api/v1/series", url.Values{
		"match[]": {`{job="otelcol-kyra-gitlab"}`},
		"start":   {strconv.FormatInt(since.Unix(), 10)},
		"end":     {strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)},
	}, &series)
	labels := map[string]map[string]bool{}
	for _, s := range series {
		name := s["__name__"]
		if labels[name] == nil {
			labels[name] = map[string]bool{}
		}
		for l := range s {
			if l != "__name__" {
				labels[name][l] = true
			}
		}
	}
	out := map[string][]string{}
	for name, ls := range labels {
		out[name] = []string{}
		for l := range ls {
			out[name] = append(out[name], l)
		}
		sort.Strings(out[name])
	}
	return out
}

// TestAlertFiresWithPrometheus runs the built collector against the
// simulator (poll + stream + detection), a real Prometheus scraping it
// with the alert rules of deploy/monitoring, and makes the simulator stop
// serving a feed (403, as when the token loses its access to the group):
// GitLabAuditPollsFailing must fire for that feed, and only after the
// fault. On the way it brings out the series that appear only when
// something happens (a 429, a refused stream request, events the stream
// missed, refused exports), and writes what the collector exposed to
// E2E_EXPOSED_SERIES for deploy/'s TestMetricNamesExposed.
func TestAlertFiresWithPrometheus(t *testing.T) {
	bin := collectorBinary(t)
	start := time.Now()

	health, streamPort, metricsPort := freePort(t), freePort(t), freePort(t)
	streamURL := fmt.Sprintf("http://127.0.0.1:%d/webhook/gitlab-audit", streamPort)
	sim := gitlabsim.New(gitlabsim.Options{
		// An administrator's token that expires in 60 days (the expiry
		// gauge has a series), and the instance destination that posts to
		// the stream (the destination gauge says found).
		Tokens:        map[string]gitlabsim.Token{apiToken: {UserID: 1, Admin: true, ExpiresAt: time.Now().UTC().AddDate(0, 0, 60)}},
		Destinations:  []gitlabsim.StreamingDestination{{Name: "kyra", URL: streamURL}},
		Seed:          19,
		SecurityShare: 0.3,
	})
	sim.Populate(3, 6)
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	defer func() { _ = sim.Close() }()
	sim.GenerateWith(gitlabsim.GenerateOptions{Count: 300, From: sim.Now().Add(-time.Hour), To: sim.Now(), SavedOnly: true, NoStream: true})

	sink := newOTLPSink(t)
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "refused", http.StatusBadRequest) // permanent: the records are dropped
	}))
	defer refusing.Close()

	col := newCollector(t, bin, fmt.Sprintf(alertsConfig, health, simSrv.URL, apiToken, streamPort, streamToken,
		sink.srv.URL, refusing.URL, metricsPort), nil, health)
	col.start()
	prom := startPrometheus(t, fmt.Sprintf(prometheusConfig, testRules(t), metricsPort))

	// GitLab keeps recording, and streams what it records, but every
	// fourth batch never reaches the collector (a broken delivery).
	streamer := &gitlabsim.Streamer{URL: streamURL, Token: streamToken, DuplicateRatio: 0.1, Seed: 19, Timeout: 2 * time.Second}
	ctx, stop := context.WithCancel(context.Background())
	var live sync.WaitGroup
	live.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			now := sim.Now()
			evs := sim.GenerateWith(gitlabsim.GenerateOptions{Count: 2, From: now.Add(-time.Second), To: now, SavedOnly: true})
			if i%4 != 3 {
				_, _ = streamer.Send(ctx, evs)
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
	defer func() {
		stop()
		live.Wait()
	}()

	eventually := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		require.Eventually(t, cond, within, 500*time.Millisecond, "%s; collector log:\n%s", what, col.log())
	}
	eventually("Prometheus scrapes the group feed's lag and the detections", 60*time.Second, func() bool {
		return prom.count(t, `otelcol_gitlab_audit_checkpoint_lag{feed="group:acme"}`) == 1 &&
			prom.count(t, `otelcol_gitlab_detect_detections`) > 0
	})
	require.Empty(t, prom.alertState(t, "GitLabAuditPollsFailing", "group:acme"), "no poll of group:acme failed yet")

	// A streaming request with a wrong verification token.
	status, err := post(context.Background(), streamURL, "not-the-token", `{"id":"1"}`)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, status)

	// GitLab's rate limit on the instance feed, until the collector saw it.
	sim.SetFaults(gitlabsim.Faults{FailShare: 1, FailStatus: http.StatusTooManyRequests, Path: "/api/v4/audit_events"})
	eventually("a 429 is counted", 60*time.Second, func() bool {
		return prom.count(t, `otelcol_gitlab_audit_api_rate_limited{feed="instance"} > 0`) == 1
	})

	// GitLab stops serving the group's audit events.
	faultAt := time.Now()
	sim.SetFaults(gitlabsim.Faults{FailShare: 1, FailStatus: http.StatusForbidden, Path: "/api/v4/groups/acme/audit_events"})
	eventually("GitLabAuditPollsFailing fires for group:acme", 90*time.Second, func() bool {
		return prom.alertState(t, "GitLabAuditPollsFailing", "group:acme") == "firing"
	})
	t.Logf("GitLabAuditPollsFailing fired %s after the feed stopped being served", time.Since(faultAt).Round(time.Second))
	require.Empty(t, prom.alertState(t, "GitLabAuditPollsFailing", "instance"), "the other feeds are fine")

	eventually("the stream's misses and the refused exports are counted", 90*time.Second, func() bool {
		return prom.count(t, `otelcol_gitlab_audit_stream_missed > 0`) == 1 &&
			prom.count(t, `otelcol_exporter_send_failed_log_records{exporter="otlp_http/refused"} > 0`) == 1 &&
			prom.count(t, `otelcol_gitlab_audit_stream_requests_rejected{reason="auth"} > 0`) == 1
	})

	exposed := prom.exposedSeries(t, start)
	require.Contains(t, exposed, "otelcol_gitlab_audit_poll_errors")
	if out := os.Getenv("E2E_EXPOSED_SERIES"); out != "" {
		raw, err := json.MarshalIndent(map[string]any{
			"comment": "Metrics (and their labels) Prometheus scraped from the built collector in TestAlertFiresWithPrometheus; read by deploy/monitoring_test.go",
			"metrics": exposed,
		}, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(out), 0o755))
		require.NoError(t, os.WriteFile(out, raw, 0o600))
	}
}
