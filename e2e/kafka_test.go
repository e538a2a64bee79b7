// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// testCA is a certificate authority and a server certificate it signed for
// 127.0.0.1, made for one test.
type testCA struct {
	caFile string // the CA certificate, PEM
	server tls.Certificate
	pool   *x509.CertPool
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return testCA{caFile: caFile, server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool: pool}
}

const (
	kafkaTopic    = "gitlab-audit"
	kafkaUser     = "otelcol-kyra-gitlab"
	kafkaPassword = "e2e-kafka-password-0123456789"
)

// newKafka starts an in-process Kafka broker (franz-go's kfake, which
// speaks the Kafka protocol) on loopback, with TLS and SASL SCRAM-SHA-512
// only, and a topic of three partitions.
func newKafka(t *testing.T, ca testCA) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(3, kafkaTopic),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{ca.server}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", kafkaUser, kafkaPassword),
	)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// kafkaMessage is one message read back from the topic.
type kafkaMessage struct {
	value     []byte
	partition int32
}

// consumeAll reads the topic from the start, over TLS with SASL, until
// want records were decoded or the time is up.
func consumeAll(t *testing.T, c *kfake.Cluster, ca testCA, decode func([]byte) (plog.Logs, error), want int, timeout time.Duration) ([]kafkaMessage, plog.Logs) {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.DialTLSConfig(&tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: kafkaUser, Pass: kafkaPassword}.AsSha512Mechanism()),
		kgo.ConsumeTopics(kafkaTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	require.NoError(t, err)
	defer cl.Close()
	all := plog.NewLogs()
	var msgs []kafkaMessage
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for all.LogRecordCount() < want {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		for _, fe := range fetches.Errors() {
			require.NoError(t, fe.Err, "fetch from %s/%d", fe.Topic, fe.Partition)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			msgs = append(msgs, kafkaMessage{value: r.Value, partition: r.Partition})
			ld, err := decode(r.Value)
			require.NoError(t, err, "message at %s/%d@%d decodes", r.Topic, r.Partition, r.Offset)
			ld.ResourceLogs().MoveAndAppendTo(all.ResourceLogs())
		})
	}
	// Anything after the expected count would be a duplicate: give it a
	// moment to show.
	late, cancelLate := context.WithTimeout(context.Background(), time.Second)
	defer cancelLate()
	cl.PollFetches(late).EachRecord(func(r *kgo.Record) {
		msgs = append(msgs, kafkaMessage{value: r.Value, partition: r.Partition})
		if ld, err := decode(r.Value); err == nil {
			ld.ResourceLogs().MoveAndAppendTo(all.ResourceLogs())
		}
	})
	return msgs, all
}

// recordsByID indexes the records of logs by gitlab.audit.event.id,
// counting duplicates.
func recordsByID(ld plog.Logs) (map[string]sinkRecord, map[string]int) {
	byID, count := map[string]sinkRecord{}, map[string]int{}
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				id := attr(lrs.At(k), "gitlab.audit.event.id")
				byID[id] = sinkRecord{rl, lrs.At(k)}
				count[id]++
			}
		}
	}
	return byID, count
}

// wholeRecord is everything a record carries, for comparisons.
func wholeRecord(r sinkRecord) map[string]any {
	return map[string]any{
		"resource":   r.resource.Resource().Attributes().AsRaw(),
		"attributes": r.record.Attributes().AsRaw(),
		"body":       r.record.Body().AsRaw(),
		"event_name": r.record.EventName(),
		"time":       r.record.Timestamp().String(),
		"severity":   fmt.Sprintf("%d %s", r.record.SeverityNumber(), r.record.SeverityText()),
	}
}

// TestKafkaExport runs config/kafka.yaml as shipped (TLS and SASL from the
// environment) against an in-process Kafka broker that requires both, in
// both encodings, with a second pipeline from the same receiver exporting
// over OTLP/HTTP as the reference. Every event GitLab recorded is in the
// topic exactly once, each record identical to the reference (resource,
// attributes, body, time, severity), in messages under Kafka's 1 MB.
func TestKafkaExport(t *testing.T) {
	bin := collectorBinary(t)
	for _, tc := range []struct {
		encoding string
		decode   func([]byte) (plog.Logs, error)
	}{
		{"otlp_proto", (&plog.ProtoUnmarshaler{}).UnmarshalLogs},
		{"otlp_json", (&plog.JSONUnmarshaler{}).UnmarshalLogs},
	} {
		t.Run(tc.encoding, func(t *testing.T) {
			sim, simURL := serveSim(t, gitlabsim.Options{Seed: 2020, SecurityShare: 0.4, LegacyShare: 0.1}, 3, 6)
			now := time.Now()
			events := sim.GenerateWith(gitlabsim.GenerateOptions{Count: 1500, From: now.Add(-50 * time.Minute), To: now.Add(-time.Minute), SavedOnly: true, NoStream: true})

			ca := newTestCA(t)
			kafka := newKafka(t, ca)
			reference := newLogsSink(t)
			health := freePort(t)
			cfg := shippedConfig(t, "kafka.yaml", map[string]any{
				"extensions::health_check::endpoint":                    fmt.Sprintf("127.0.0.1:%d", health),
				"receivers::gitlab_audit::poll_interval":                "10s",
				"receivers::gitlab_audit::initial_lookback":             "1h",
				"receivers::gitlab_audit::collect":                      map[string]any{"instance": true, "groups": []any{}, "projects": []any{}},
				"exporters::kafka::sending_queue::batch::flush_timeout": "200ms",
				"exporters::kafka::retry_on_failure::initial_interval":  "100ms",
				// The reference: the same records, over OTLP/HTTP. Its own
				// gitlab_detect, without storage (one instance per pipeline;
				// the baselines start empty in both).
				"processors::gitlab_detect/reference": map[string]any{},
				"exporters::otlp_http/reference":      map[string]any{"endpoint": reference.srv.URL, "compression": "none"},
				"service::pipelines::logs/reference": map[string]any{
					"receivers": []any{"gitlab_audit"}, "processors": []any{"memory_limiter", "gitlab_detect/reference"}, "exporters": []any{"otlp_http/reference"},
				},
				"service::telemetry::metrics::level": "none",
			})
			col := newCollector(t, bin, cfg, map[string]string{
				"GITLAB_URL": simURL, "GITLAB_TOKEN": apiToken,
				"OTELCOL_STORAGE_DIR": t.TempDir(),
				"KAFKA_BROKERS":       "[" + strings.Join(kafka.ListenAddrs(), ", ") + "]",
				"KAFKA_TOPIC":         kafkaTopic,
				"KAFKA_ENCODING":      tc.encoding,
				"KAFKA_USERNAME":      kafkaUser,
				"KAFKA_PASSWORD":      kafkaPassword,
				"KAFKA_CA_FILE":       ca.caFile,
			}, health)
			col.start()

			msgs, got := consumeAll(t, kafka, ca, tc.decode, len(events), 60*time.Second)
			require.Equal(t, len(events), got.LogRecordCount(), "every event in the topic; collector log:\n%s", col.log())
			require.Eventually(t, func() bool { return reference.count() >= len(events) }, 30*time.Second, 100*time.Millisecond)
			col.stop()
			assert.NotContains(t, col.log(), kafkaPassword, "the SASL password is not logged")

			byID, count := recordsByID(got)
			refLogs := plog.NewLogs()
			for _, r := range reference.records() {
				nr := refLogs.ResourceLogs().AppendEmpty()
				r.resource.Resource().CopyTo(nr.Resource())
				r.record.CopyTo(nr.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty())
			}
			refByID, _ := recordsByID(refLogs)
			require.Len(t, refByID, len(events))
			for _, e := range events {
				id := fmt.Sprint(e.ID)
				assert.Equal(t, 1, count[id], "event %d in the topic once", e.ID)
				rec, ok := byID[id]
				if !assert.True(t, ok, "event %d", e.ID) {
					continue
				}
				assert.Equal(t, wholeRecord(refByID[id]), wholeRecord(rec), "event %d as exported over OTLP", e.ID)
				assert.NotEmpty(t, attr(rec.record, "ocsf.class_uid"), "event %d is classified", e.ID)
			}

			partitions := map[int32]bool{}
			largest := 0
			for _, m := range msgs {
				partitions[m.partition] = true
				largest = max(largest, len(m.value))
				if tc.encoding == "otlp_json" {
					assert.True(t, json.Valid(m.value), "an otlp_json message is JSON")
				} else {
					assert.False(t, json.Valid(m.value), "an otlp_proto message is not JSON")
				}
			}
			assert.Less(t, largest, 1000000, "messages stay under Kafka's default 1 MB")
			assert.Greater(t, len(msgs), 1, "the records were batched into several messages")
			t.Logf("%s: %d events in %d messages over %d partitions, largest %d bytes", tc.encoding, len(events), len(msgs), len(partitions), largest)
		})
	}
}
