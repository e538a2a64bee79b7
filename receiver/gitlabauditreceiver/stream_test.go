// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/stream"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/testutil"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// streamConfig is a stream-only configuration on a free loopback port.
func streamConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	s := cfg.Stream.GetOrInsertDefault()
	s.NetAddr.Endpoint = "127.0.0.1:0"
	s.VerificationTokens = []configopaque.String{streamToken}
	return cfg
}

// startStream starts a receiver and returns the URL of its events path.
func startStream(t testing.TB, cfg *Config, next consumer.Logs) (*auditReceiver, string) {
	t.Helper()
	r, _ := testReceiver(t, cfg, next, fakeclock.New())
	r.now = time.Now
	require.NoError(t, r.Start(context.Background(), newStatusHost(nil)))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return r, "http://" + r.stream.Addr() + cfg.Stream.Get().Path
}

// streamAnswer is the JSON answer of the streaming endpoint.
type streamAnswer struct {
	Status     string   `json:"status,omitempty"`
	Accepted   int      `json:"accepted"`
	Duplicates int      `json:"duplicates,omitempty"`
	Filtered   int      `json:"filtered,omitempty"`
	Error      string   `json:"error,omitempty"`
	Refused    []string `json:"refused,omitempty"`
}

type answer struct {
	status int
	body   streamAnswer
	raw    string
	header http.Header
}

func post(t *testing.T, client *http.Client, url, body string, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded") // GitLab's default
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var a streamAnswer
	require.NoError(t, json.Unmarshal(raw, &a), string(raw))
	return answer{status: resp.StatusCode, body: a, raw: string(raw), header: resp.Header}
}

func withToken(extra ...string) map[string]string {
	h := map[string]string{"X-Gitlab-Event-Streaming-Token": streamToken}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

func fixtureText(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "events", name))
	require.NoError(t, err)
	return string(b)
}

func TestStreamAcceptsGitLabPayloads(t *testing.T) {
	sink := new(consumertest.LogsSink)
	_, url := startStream(t, streamConfig(), sink)

	// One event, as GitLab sends it by default.
	a := post(t, nil, url, fixtureText(t, "stream_git_operation.json"), withToken("X-Gitlab-Audit-Event-Type", "repository_git_operation"))
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Equal(t, 1, a.body.Accepted)

	// A batch (NATS batch mode): numeric and UUID ids, audit_operation, object messages.
	a = post(t, nil, url, fixtureText(t, "stream_batch.json"), withToken())
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Equal(t, 4, a.body.Accepted)

	got := testutil.Records(sink.AllLogs())
	require.Len(t, got, 5)
	assert.Equal(t, []string{"1", "11", "2", "3", "5d9b1c1e-3f0a-4a8e-9a57-8f3c0e7c2b11"}, testutil.IDs(got))
	assert.Equal(t, []string{"repository_git_operation", "merge_request_approval_operation", "project_group_link_updated", "ci_variable_updated", "repository_git_operation"},
		[]string{got[0].Type, got[1].Type, got[2].Type, got[3].Type, got[4].Type})
	for _, g := range got {
		assert.Equal(t, "stream", g.Source)
	}

	// Same payload again: GitLab may deliver twice; nothing new is emitted.
	a = post(t, nil, url, fixtureText(t, "stream_batch.json"), withToken())
	require.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, 0, a.body.Accepted)
	assert.Equal(t, 4, a.body.Duplicates)
	assert.Equal(t, 5, sink.LogRecordCount())

	// application/json works too, and an empty batch is fine.
	a = post(t, nil, url, `[]`, withToken("Content-Type", "application/json"))
	assert.Equal(t, http.StatusOK, a.status)
}

// refusingConsumer refuses every batch with err.
type refusingConsumer struct{ err error }

func (refusingConsumer) Capabilities() consumer.Capabilities            { return consumer.Capabilities{} }
func (c refusingConsumer) ConsumeLogs(context.Context, plog.Logs) error { return c.err }

func TestStreamAnswers(t *testing.T) {
	valid := `{"id":101,"created_at":"2024-01-01T00:00:00Z","entity_type":"Project","event_type":"add_ssh_key","details":{}}`
	tests := []struct {
		name     string
		cfg      func(*Config)
		next     consumer.Logs
		method   string
		body     string
		headers  map[string]string
		status   int
		errMatch string
		accepted int
		emitted  int
	}{
		{name: "ok", body: valid, headers: withToken(), status: 200, accepted: 1, emitted: 1},
		{name: "get", method: http.MethodGet, headers: withToken(), status: 405, errMatch: "POST"},
		{name: "no token", body: valid, status: 401, errMatch: "missing or invalid verification token"},
		{name: "wrong token", body: valid, headers: map[string]string{"X-Gitlab-Event-Streaming-Token": "nope"}, status: 401},
		{name: "second token accepted", body: valid, cfg: func(c *Config) {
			c.Stream.Get().VerificationTokens = []configopaque.String{"old-token", streamToken}
		}, headers: withToken(), status: 200, accepted: 1, emitted: 1},
		{name: "required header missing", body: valid, cfg: func(c *Config) {
			c.Stream.Get().RequiredHeaders = map[string]configopaque.String{"X-Tenant": "acme"}
		}, headers: withToken(), status: 401},
		{name: "required header wrong", body: valid, cfg: func(c *Config) {
			c.Stream.Get().RequiredHeaders = map[string]configopaque.String{"X-Tenant": "acme"}
		}, headers: withToken("X-Tenant", "globex"), status: 401},
		{name: "required header ok", body: valid, cfg: func(c *Config) {
			c.Stream.Get().RequiredHeaders = map[string]configopaque.String{"X-Tenant": "acme"}
		}, headers: withToken("X-Tenant", "acme"), status: 200, accepted: 1, emitted: 1},
		{name: "malformed json", body: `{"id":1,`, headers: withToken(), status: 400, errMatch: "invalid JSON at byte"},
		{name: "not an object", body: `"hello"`, headers: withToken(), status: 400, errMatch: "event 0: the event is not a JSON object"},
		{name: "batch with bad events keeps the good ones", body: `[` + valid + `,{"created_at":"2024-01-01T00:00:00Z"},{"id":7}]`,
			headers: withToken(), status: 400, errMatch: "2 event(s) refused", accepted: 1, emitted: 1},
		{name: "too large", body: `[` + strings.Repeat(valid+",", 300) + valid + `]`, cfg: func(c *Config) {
			c.Stream.Get().MaxRequestBodySize = 4096
		}, headers: withToken(), status: 413, errMatch: "max_request_body_size"},
		{name: "pipeline overloaded", body: valid, next: refusingConsumer{errors.New("memory limiter refused")}, headers: withToken(), status: 503, errMatch: "memory limiter"},
		{name: "pipeline permanent refusal", body: valid, next: refusingConsumer{consumererror.NewPermanent(errors.New("bad data"))}, headers: withToken(), status: 400, errMatch: "bad data"},
		{name: "filtered", body: valid, cfg: func(c *Config) { c.EventTypes.Exclude = []string{"add_ssh_key"} }, headers: withToken(), status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := streamConfig()
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			sink := new(consumertest.LogsSink)
			var next consumer.Logs = sink
			if tt.next != nil {
				next = tt.next
			}
			_, url := startStream(t, cfg, next)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, url, strings.NewReader(tt.body))
			require.NoError(t, err)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			require.Equal(t, tt.status, resp.StatusCode, string(raw))
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var a streamAnswer
			require.NoError(t, json.Unmarshal(raw, &a))
			if tt.errMatch != "" {
				assert.Contains(t, a.Error+strings.Join(a.Refused, ";"), tt.errMatch)
			}
			assert.Equal(t, tt.accepted, a.Accepted)
			assert.Equal(t, tt.emitted, sink.LogRecordCount())
			assert.NotContains(t, string(raw), streamToken)
			if tt.status == 405 {
				assert.Equal(t, "POST", resp.Header.Get("Allow"))
			}
		})
	}
}

func TestStreamHealthNeedsNoToken(t *testing.T) {
	r, _ := startStream(t, streamConfig(), new(consumertest.LogsSink))
	resp, err := http.Get("http://" + r.stream.Addr() + "/health")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, "{\"status\":\"ok\"}\n", string(body), "exactly the documented answer") //nolint:testifylint // the exact bytes, not JSON equivalence
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and returns
// the cert and key paths and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "gitlab-audit-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestStreamOverTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	cfg := streamConfig()
	tlsCfg := configtls.NewDefaultServerConfig()
	tlsCfg.CertFile, tlsCfg.KeyFile = certFile, keyFile
	cfg.Stream.Get().TLS = configoptional.Some(tlsCfg)
	sink := new(consumertest.LogsSink)
	_, url := startStream(t, cfg, sink)
	url = strings.Replace(url, "http://", "https://", 1)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	a := post(t, client, url, fixtureText(t, "stream_git_operation.json"), withToken())
	assert.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Equal(t, 1, sink.LogRecordCount())

	// Plain HTTP to the TLS port is refused.
	resp, err := http.Post(strings.Replace(url, "https://", "http://", 1), "application/json", strings.NewReader("{}"))
	if err == nil {
		defer resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	}
}

func TestStreamNeverLogsTokens(t *testing.T) {
	cfg := streamConfig()
	cfg.Stream.Get().RequiredHeaders = map[string]configopaque.String{"X-Tenant": "tenant-SECRET-value"}
	r, logs := testReceiver(t, cfg, new(consumertest.LogsSink), fakeclock.New())
	r.now = time.Now
	require.NoError(t, r.Start(context.Background(), newStatusHost(nil)))
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	url := "http://" + r.stream.Addr() + "/webhook/gitlab-audit"
	post(t, nil, url, `{}`, map[string]string{"X-Gitlab-Event-Streaming-Token": "presented-SECRET-guess"})
	post(t, nil, url, `{"id":1}`, withToken("X-Tenant", "tenant-SECRET-value"))
	post(t, nil, url, `{"id":1}`, withToken("X-Tenant", "wrong-SECRET"))
	require.NotZero(t, logs.Len())
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		assert.NotContains(t, line, "SECRET")
		assert.NotContains(t, line, streamToken)
	}
}

// TestStreamConcurrentDeliveriesExactlyOnce posts 400 events, each two or
// three times, from 64 goroutines at once, single and in batches.
func TestStreamConcurrentDeliveriesExactlyOnce(t *testing.T) {
	sink := new(consumertest.LogsSink)
	_, url := startStream(t, streamConfig(), sink)
	const events = 400
	body := func(i int) string {
		return fmt.Sprintf(`{"id":%d,"created_at":"2024-01-01T00:00:%02dZ","entity_type":"Project","event_type":"repository_git_operation","details":{"custom_message":{"protocol":"ssh","action":"git-upload-pack"}}}`, i, i%60)
	}
	var jobs []string
	for i := range events {
		jobs = append(jobs, body(i), body(i))
		if i%3 == 0 {
			jobs = append(jobs, "["+body(i)+","+body((i+1)%events)+"]")
		}
	}
	work := make(chan string, len(jobs))
	for _, j := range jobs {
		work <- j
	}
	close(work)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	var accepted, dups atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for j := range work {
				a := post(t, client, url, j, withToken())
				if !assert.Equal(t, http.StatusOK, a.status, a.raw) {
					return
				}
				accepted.Add(int64(a.body.Accepted))
				dups.Add(int64(a.body.Duplicates))
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(events), accepted.Load())
	assert.Equal(t, events, sink.LogRecordCount())
	seen := map[string]int{}
	for _, id := range testutil.IDs(testutil.Records(sink.AllLogs())) {
		seen[id]++
	}
	assert.Len(t, seen, events)
	for id, n := range seen {
		assert.Equal(t, 1, n, id)
	}
	assert.Equal(t, int64(len(jobs)+events/3+1-events), dups.Load()+0, "every other delivery is a duplicate")
}

// TestStreamAndPollEmitEachEventOnce feeds the same events by stream (with
// duplicate deliveries) and by polling, concurrently.
func TestStreamAndPollEmitEachEventOnce(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sink := new(consumertest.LogsSink)
	cfg := pollConfig(srv.URL)
	s := cfg.Stream.GetOrInsertDefault()
	s.NetAddr.Endpoint = "127.0.0.1:0"
	s.VerificationTokens = []configopaque.String{streamToken}
	r, _ := testReceiver(t, cfg, sink, clk)
	startManual(t, r, newStatusHost(nil))

	evs := sim.Generate(600, clk.Now().Add(-time.Hour), clk.Now().Add(-time.Minute))
	streamer := &gitlabsim.Streamer{URL: "http://" + r.stream.Addr() + s.Path, Token: streamToken, DuplicateRatio: 0.3, Seed: 7}
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := streamer.Send(context.Background(), evs)
		assert.NoError(t, err)
	})
	require.NoError(t, pollAll(t, r))
	wg.Wait()
	require.NoError(t, pollAll(t, r))

	want := map[string]bool{}
	for _, e := range evs {
		want[e.StreamID] = true
	}
	got := map[string]int{}
	for _, rec := range testutil.Records(sink.AllLogs()) {
		got[rec.ID]++
	}
	assert.Len(t, got, len(want))
	for id := range want {
		assert.Equal(t, 1, got[id], "event %s", id)
	}
}

// blockingConsumer blocks until released or until the request is cancelled.
type blockingConsumer struct {
	release chan struct{}
	entered atomic.Int32
}

func (*blockingConsumer) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (b *blockingConsumer) ConsumeLogs(ctx context.Context, _ plog.Logs) error {
	b.entered.Add(1)
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestStreamShutdownWithRequestsInFlight(t *testing.T) {
	next := &blockingConsumer{release: make(chan struct{})}
	r, _ := testReceiver(t, streamConfig(), next, fakeclock.New())
	r.now = time.Now
	require.NoError(t, r.Start(context.Background(), newStatusHost(nil)))
	url := "http://" + r.stream.Addr() + "/webhook/gitlab-audit"

	client := &http.Client{}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(fmt.Sprintf(`{"id":%d,"created_at":"2024-01-01T00:00:00Z"}`, i)))
			req.Header.Set(stream.TokenHeader, streamToken)
			resp, err := client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	require.Eventually(t, func() bool { return next.entered.Load() == 20 }, 5*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := r.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "in-flight requests outlived the grace period and were cut")
	wg.Wait()
	client.CloseIdleConnections()
	// goleak (TestMain) checks that no handler goroutine is left behind.
}

func TestStreamDeduplicationSurvivesRestart(t *testing.T) {
	storageID := storagetest.NewStorageID("file_storage")
	host := newStatusHost(storagetest.NewStorageHost().WithFileBackedStorageExtension("file_storage", t.TempDir()).GetExtensions())
	cfg := streamConfig()
	cfg.Storage = &storageID
	event := fixtureText(t, "stream_git_operation.json")

	for round := range 2 {
		sink := new(consumertest.LogsSink)
		r, _ := testReceiver(t, cfg, sink, fakeclock.New())
		r.now = time.Now
		require.NoError(t, r.Start(context.Background(), host))
		a := post(t, nil, "http://"+r.stream.Addr()+"/webhook/gitlab-audit", event, withToken())
		require.Equal(t, http.StatusOK, a.status)
		require.NoError(t, r.Shutdown(context.Background()))
		if round == 0 {
			assert.Equal(t, 1, a.body.Accepted)
		} else {
			assert.Equal(t, 1, a.body.Duplicates, "the delivery after a restart is recognised")
		}
	}
}

func TestStreamBodyIsReadWhateverTheContentType(t *testing.T) {
	sink := new(consumertest.LogsSink)
	_, url := startStream(t, streamConfig(), sink)
	for i, ct := range []string{"application/x-www-form-urlencoded", "application/json", "text/plain", ""} {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(fmt.Sprintf(`{"id":%d,"created_at":"2024-01-01T00:00:00Z"}`, i)))
		req.Header.Set(stream.TokenHeader, streamToken)
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, ct)
	}
	assert.Equal(t, 4, sink.LogRecordCount())
}
