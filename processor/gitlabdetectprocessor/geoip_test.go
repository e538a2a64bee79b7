// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/geodb"
)

// geoConfig is the default configuration with a database of the
// simulator's World, generated in the test.
func geoConfig(t testing.TB) *Config {
	t.Helper()
	path, err := geodb.Write(t.TempDir(), "world.mmdb", geodb.World)
	require.NoError(t, err)
	cfg := defaultConfig()
	cfg.GeoIP.Databases = []string{path}
	return cfg
}

// signInFrom is a streamed sign-in of user 51 from an address, at a time.
func signInFrom(t testing.TB, addr string, at time.Time) []byte {
	return eventJSON(t, map[string]any{
		"id": "1", "author_id": 51, "entity_id": 51, "entity_type": "User", "event_type": "authenticated_with_password",
		"author_name": "Andreas", "entity_path": "Andreas", "target_id": 51, "target_type": "User", "target_details": "Andreas",
		"ip_address": addr, "created_at": at.UTC().Format(time.RFC3339Nano),
		"details": map[string]any{"with": "standard", "ip_address": addr, "author_name": "Andreas"},
	})
}

func TestGeoIPAnnotates(t *testing.T) {
	cfg := geoConfig(t)
	at := time.Date(2024, 6, 3, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name, addr string
		want       map[string]any // nil: nothing written
	}{
		{"office", geodb.Named("berlin-office").Addr(5).String(), map[string]any{
			"client.geo.country.iso_code": "DE", "client.geo.locality.name": "Berlin",
			"client.geo.location.lat": 52.52, "client.geo.location.lon": 13.405,
			"client.as.number": int64(3320), "client.as.organization.name": "Deutsche Telekom AG",
		}},
		{"IPv6", "2001:db8:66::9", map[string]any{
			"client.geo.country.iso_code": "RO", "client.geo.locality.name": "Bucharest",
			"client.geo.location.lat": 44.4268, "client.geo.location.lon": 26.1025,
			"client.as.number": int64(9009), "client.as.organization.name": "M247 Europe SRL",
		}},
		{"IPv4-mapped IPv6", "::ffff:" + geodb.Named("lagos").Addr(2).String(), map[string]any{
			"client.geo.country.iso_code": "NG", "client.geo.locality.name": "Lagos",
			"client.geo.location.lat": 6.5244, "client.geo.location.lon": 3.3792,
			"client.as.number": int64(37148), "client.as.organization.name": "Globacom Limited",
		}},
		{"private", "10.20.30.40", nil},
		{"carrier-grade NAT", "100.64.1.1", nil},
		{"loopback", "::1", nil},
		{"public, not in the database", "192.0.2.200", nil},
		{"not an address", "gitlab.example.com", nil},
		{"absent", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, dv := range deliveries {
				lr := processOne(t, cfg, signInFrom(t, tt.addr, at), dv.d)
				got := map[string]any{}
				for k, v := range lr.Attributes().AsRaw() {
					if strings.HasPrefix(k, "client.geo.") || strings.HasPrefix(k, "client.as.") {
						got[k] = v
					}
				}
				if tt.want == nil {
					assert.Empty(t, got, dv.name)
					continue
				}
				assert.Equal(t, tt.want, got, dv.name)
			}
		})
	}
}

// TestGeoIPReloadsChangedFile: a database replaced in place is read again;
// a replacement that is not a database is reported once and the previous
// content stays in use; a database that appears later is picked up.
func TestGeoIPReloadsChangedFile(t *testing.T) {
	dir := t.TempDir()
	berlin := geodb.Named("berlin-office")
	path, err := geodb.Write(dir, "city.mmdb", []geodb.Place{berlin})
	require.NoError(t, err)
	missing := filepath.Join(dir, "asn.mmdb")

	core, logs := observer.New(zapcore.InfoLevel)
	cfg := defaultConfig()
	cfg.GeoIP.Databases = []string{path, missing}
	cfg.GeoIP.CheckInterval = 20 * time.Millisecond
	set := componenttest.NewNopTelemetrySettings()
	set.Logger = zap.New(core)
	p, err := newDetectProcessor(cfg, set)
	require.NoError(t, err)
	require.NoError(t, p.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, p.shutdown(context.Background())) }()

	country := func() string {
		ld, lrs := newLogs()
		appendEvent(t, lrs, signInFrom(t, berlin.Addr(3).String(), time.Now()), viaReceiver)
		out, err := p.processLogs(context.Background(), ld)
		require.NoError(t, err)
		return attrStr(out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0), "client.geo.country.iso_code")
	}
	assert.Equal(t, "DE", country())
	assert.Equal(t, 1, logs.FilterMessage("Cannot read the GeoIP database; addresses are not located with it until it can be read.").Len())

	// The updater replaces the file: the network moved to another country.
	moved := berlin
	moved.Country, moved.City = "FR", "Paris"
	writeLater(t, dir, "city.mmdb", []geodb.Place{moved})
	require.Eventually(t, func() bool { return country() == "FR" }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, 1, logs.FilterMessage("GeoIP database changed; reloaded").Len())

	// A broken replacement: reported once, the previous content serves.
	later := time.Now().Add(time.Minute)
	require.NoError(t, os.WriteFile(path, []byte("not a database"), 0o600))
	require.NoError(t, os.Chtimes(path, later, later))
	require.Eventually(t, func() bool {
		return logs.FilterMessage("The changed GeoIP database is not a MaxMind DB file; the previous content stays in use.").Len() == 1
	}, 5*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, "FR", country())
	assert.Equal(t, 1, logs.FilterMessage("The changed GeoIP database is not a MaxMind DB file; the previous content stays in use.").Len(), "said once")
	assert.Equal(t, 1, logs.FilterMessage("Cannot read the GeoIP database; addresses are not located with it until it can be read.").Len(), "the missing file is reported once")

	// The missing database appears.
	_, err = geodb.Write(dir, "asn.mmdb", []geodb.Place{geodb.Named("lagos")})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return logs.FilterMessage("GeoIP database loaded").Len() == 2 }, 5*time.Second, 10*time.Millisecond)
}

// writeLater rewrites a database with a modification time in the future,
// so that the change is seen even on a file system with coarse times.
func writeLater(t *testing.T, dir, name string, places []geodb.Place) {
	t.Helper()
	path, err := geodb.Write(dir, name, places)
	require.NoError(t, err)
	later := time.Now().Add(30 * time.Second)
	require.NoError(t, os.Chtimes(path, later, later))
}

// TestNoGeoIPSaysSoOnce: without a database the processor says so once at
// start, writes no location and registers no geo rule.
func TestNoGeoIPSaysSoOnce(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	set := componenttest.NewNopTelemetrySettings()
	set.Logger = zap.New(core)
	p, err := newDetectProcessor(defaultConfig(), set)
	require.NoError(t, err)
	require.NoError(t, p.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, p.shutdown(context.Background())) }()
	for _, w := range p.windows {
		assert.False(t, w.kind.geo(), "%s registered without a database", w.meta.id)
	}
	for i := 0; i < 3; i++ {
		ld, lrs := newLogs()
		appendEvent(t, lrs, signInFrom(t, geodb.Named("lagos").Addr(1).String(), time.Now()), viaReceiver)
		out, err := p.processLogs(context.Background(), ld)
		require.NoError(t, err)
		_, ok := out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().Get("client.geo.country.iso_code")
		assert.False(t, ok)
	}
	assert.Equal(t, 1, logs.FilterMessageSnippet("No GeoIP database").Len())
}

func TestGeoIPConfigValidate(t *testing.T) {
	cfg := defaultConfig()
	cfg.GeoIP = GeoIPConfig{Databases: []string{" "}, CheckInterval: 0, ImpossibleTravel: ImpossibleTravelConfig{MaxSpeedKMH: 0, MinDistanceKM: -1}}
	err := cfg.Validate()
	require.Error(t, err)
	for _, want := range []string{
		"geoip::databases::0: must not be empty", "geoip::check_interval: must be positive",
		"geoip::impossible_travel::max_speed_kmh: must be positive", "geoip::impossible_travel::min_distance_km: must not be negative",
		"geoip::max_places_per_user: must be at least 1", "geoip::shared_place_users: must be at least 2",
	} {
		assert.ErrorContains(t, err, want)
	}
}
