// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package e2e runs the built distribution (the real otelcol-kyra-gitlab
// binary) against the GitLab simulator, with an OTLP endpoint in the test
// collecting what the distribution exports. `make test` builds the
// binaries and points E2E_COLLECTOR_BINARY and E2E_SIM_BINARY at them.
package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/promtext"
)

// collectorBinary returns the distribution under test, or skips when the
// suite runs outside `make test`.
func collectorBinary(t *testing.T) string {
	t.Helper()
	return builtBinary(t, "E2E_COLLECTOR_BINARY")
}

// simBinary returns the built GitLab simulator (gitlab-sim), or skips when
// the suite runs outside `make test`.
func simBinary(t *testing.T) string {
	t.Helper()
	return builtBinary(t, "E2E_SIM_BINARY")
}

// builtBinary returns the binary the environment variable names, or skips
// when it is not set.
func builtBinary(t *testing.T, env string) string {
	t.Helper()
	bin := os.Getenv(env)
	if bin == "" {
		t.Skip(env + " is not set: run the end-to-end tests with `make test`")
	}
	abs := bin
	if !filepath.IsAbs(bin) { // relative to the repository root, where make runs
		abs = filepath.Join(repoRoot(t), bin)
	}
	_, err := os.Stat(abs)
	require.NoError(t, err, "%s=%s", env, bin)
	return abs
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	return root
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

// record is what the OTLP sink keeps of each exported log record.
type record struct {
	key       string // entity type / event id
	id        string
	eventType string
	source    string
	category  string
	indicator string
	severity  plog.SeverityNumber
	attrs     map[string]any // every attribute
	body      string         // the body as JSON text
}

// otlpSink is an OTLP/HTTP logs endpoint that remembers every record of
// the requests it acknowledged. It can hold requests (hold/release): a held
// request whose sender goes away is neither acknowledged nor remembered, as
// a backend that commits only what it acknowledges.
type otlpSink struct {
	srv     *httptest.Server
	mu      sync.Mutex
	records []record
	gate    chan struct{} // nil when open; closed by release
	held    int
}

// hold makes the sink keep the next requests waiting.
func (s *otlpSink) hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = make(chan struct{})
}

// release lets the waiting requests through.
func (s *otlpSink) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

// waiting returns how many requests are held now.
func (s *otlpSink) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

func (s *otlpSink) wait(r *http.Request) bool {
	s.mu.Lock()
	gate := s.gate
	if gate != nil {
		s.held++
	}
	s.mu.Unlock()
	if gate == nil {
		return true
	}
	defer func() {
		s.mu.Lock()
		s.held--
		s.mu.Unlock()
	}()
	select {
	case <-gate:
		return true
	case <-r.Context().Done():
		return false
	}
}

func newOTLPSink(t *testing.T) *otlpSink {
	t.Helper()
	s := &otlpSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in io.Reader = r.Body
		switch r.Header.Get("Content-Encoding") {
		case "gzip": // the otlp_http exporter's default
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			in = gz
		case "", "identity":
		default:
			http.Error(w, "unsupported Content-Encoding", http.StatusUnsupportedMediaType)
			return
		}
		body, err := io.ReadAll(in)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := plogotlp.NewExportRequest()
		if strings.Contains(r.Header.Get("Content-Type"), "json") {
			err = req.UnmarshalJSON(body)
		} else {
			err = req.UnmarshalProto(body)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if !s.wait(r) {
			return // the sender went away before the answer: nothing was acknowledged
		}
		s.add(req.Logs())
		resp, _ := plogotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	}))
	t.Cleanup(func() {
		s.release()
		s.srv.Close()
	})
	return s
}

func (s *otlpSink) add(l plog.Logs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < l.ResourceLogs().Len(); i++ {
		sls := l.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				get := func(key string) string {
					if v, ok := lr.Attributes().Get(key); ok {
						return v.AsString()
					}
					return ""
				}
				s.records = append(s.records, record{
					key:       get("gitlab.audit.entity.type") + "/" + get("gitlab.audit.event.id"),
					id:        get("gitlab.audit.event.id"),
					eventType: get("gitlab.audit.event_type"),
					source:    get("gitlab.audit.source"),
					category:  get("gitlab.audit.category"),
					indicator: get("gitlab.detect.indicator"),
					severity:  lr.SeverityNumber(),
					attrs:     lr.Attributes().AsRaw(),
					body:      lr.Body().AsString(),
				})
			}
		}
	}
}

func (s *otlpSink) all() []record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]record(nil), s.records...)
}

func (s *otlpSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// collector is a running distribution process.
type collector struct {
	t          *testing.T
	bin        string
	configPath string
	env        []string
	logPath    string
	healthURL  string
	cmd        *exec.Cmd
	done       chan error
}

func newCollector(t *testing.T, bin, config string, env map[string]string, healthPort int) *collector {
	t.Helper()
	dir := t.TempDir()
	c := &collector{
		t:          t,
		bin:        bin,
		configPath: filepath.Join(dir, "config.yaml"),
		logPath:    filepath.Join(dir, "collector.log"),
		healthURL:  fmt.Sprintf("http://127.0.0.1:%d/", healthPort),
	}
	c.writeConfig(config)
	c.env = os.Environ()
	for k, v := range env {
		c.env = append(c.env, k+"="+v)
	}
	t.Cleanup(c.stop)
	return c
}

func (c *collector) writeConfig(config string) {
	require.NoError(c.t, os.WriteFile(c.configPath, []byte(config), 0o600))
}

// start runs the collector and waits until its health check answers.
func (c *collector) start() {
	c.t.Helper()
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(c.t, err)
	c.cmd = exec.Command(c.bin, "--config", c.configPath)
	c.cmd.Env = c.env
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	dieWithTest(c.cmd)
	require.NoError(c.t, c.cmd.Start())
	c.done = make(chan error, 1)
	cmd := c.cmd
	go func() {
		c.done <- cmd.Wait()
		_ = logf.Close()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-c.done:
			c.done <- err
			c.t.Fatalf("the collector exited at start (%v):\n%s", err, c.log())
		default:
		}
		if resp, err := http.Get(c.healthURL); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("the collector did not become healthy:\n%s", c.log())
}

// kill ends the collector with SIGKILL, as a crash or an OOM kill would.
func (c *collector) kill() {
	c.t.Helper()
	require.NoError(c.t, c.cmd.Process.Signal(syscall.SIGKILL))
	err := <-c.done
	require.ErrorContains(c.t, err, "killed")
	c.cmd = nil
}

func (c *collector) signal(sig os.Signal) {
	c.t.Helper()
	require.NoError(c.t, c.cmd.Process.Signal(sig))
}

// stop ends the collector gracefully (SIGTERM), then forcefully.
func (c *collector) stop() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		if err != nil {
			c.t.Logf("the collector exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		c.t.Logf("the collector did not stop within 15 s after SIGTERM and was killed: %v", <-c.done)
	}
	c.cmd = nil
}

func (c *collector) log() string {
	b, _ := os.ReadFile(c.logPath)
	return string(b)
}

// post sends a streamed event and returns the status code.
func post(ctx context.Context, url, token, body string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewBufferString(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Gitlab-Event-Streaming-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// serveSim serves the GitLab simulator in this process on loopback, with the e2e admin token
// (apiToken) and groups and projects, until the end of the test. It
// returns the simulator and its URL.
func serveSim(t *testing.T, opts gitlabsim.Options, groups, projects int) (*gitlabsim.Sim, string) {
	t.Helper()
	opts.Tokens = map[string]gitlabsim.Token{apiToken: {UserID: 1, Admin: true}}
	sim := gitlabsim.New(opts)
	sim.Populate(groups, projects)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		_ = sim.Close()
	})
	return sim, srv.URL
}

// simProcess is a running gitlab-sim.
type simProcess struct {
	url     string // the simulated GitLab's base URL
	logPath string
}

// listeningRE reads the address from gitlab-sim's first line.
var listeningRE = regexp.MustCompile(`^gitlab-sim listening on (http://\S+) `)

// startSim runs the built gitlab-sim with args on a free loopback port and
// waits until it listens; it is stopped when the test ends.
func startSim(t *testing.T, args ...string) *simProcess {
	t.Helper()
	dir := t.TempDir()
	s := &simProcess{logPath: filepath.Join(dir, "gitlab-sim.log")}
	logf, err := os.Create(s.logPath)
	require.NoError(t, err)
	cmd := exec.Command(simBinary(t), append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	dieWithTest(cmd)
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() {
		done <- cmd.Wait()
		_ = logf.Close()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			err = <-done
		}
		if err != nil && !t.Failed() {
			t.Logf("gitlab-sim exited with %v", err)
		}
		if t.Failed() {
			t.Logf("gitlab-sim log:\n%s", s.log())
		}
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-line:
		m := listeningRE.FindStringSubmatch(l)
		require.True(t, ok && m != nil, "gitlab-sim did not start: %q\n%s", l, s.log())
		s.url = m[1]
	case <-time.After(60 * time.Second):
		t.Fatalf("gitlab-sim did not listen within a minute:\n%s", s.log())
	}
	return s
}

func (s *simProcess) log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// telemetry reads the collector's own metrics from its Prometheus
// endpoint (service::telemetry::metrics::readers, pull).
type telemetry struct {
	url string
}

func (m telemetry) scrape(read func(io.Reader) error) error {
	resp, err := http.Get(m.url)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the collector's telemetry answered %s", resp.Status)
	}
	return read(resp.Body)
}

// sum returns the sum of a metric's samples over the label sets that hold
// every label of match (0 when there is none).
func (m telemetry) sum(name string, match map[string]string) (v float64, err error) {
	err = m.scrape(func(r io.Reader) error {
		v, err = promtext.Sum(r, name, match)
		return err
	})
	return v, err
}

// byLabel returns a gauge's samples by the value of one label.
func (m telemetry) byLabel(name, label string) (out map[string]float64, err error) {
	err = m.scrape(func(r io.Reader) error {
		out, err = promtext.ByLabel(r, name, label)
		return err
	})
	return out, err
}

// logged returns the entries of the collector's log, written in JSON
// (service::telemetry::logs::encoding: json), whose message is msg.
func (c *collector) logged(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(c.log(), "\n") {
		if !strings.Contains(line, msg) {
			continue
		}
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil && e["msg"] == msg {
			out = append(out, e)
		}
	}
	return out
}
