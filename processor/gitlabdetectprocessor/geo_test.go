// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/geodb"
)

// geoStep is one event of a geo test: a sign-in (or another type) of
// user 51 from a place of geodb.World at a time.
type geoStep struct {
	typ   string
	place string // geodb.World name, or an address
	at    time.Time
	// want is the severity each geo rule has on the event ("" absent).
	want map[string]string
}

func (s geoStep) event(t testing.TB) []byte {
	addr := s.place
	if p, ok := worldPlace(s.place); ok {
		addr = p.Addr(3).String()
	}
	typ := s.typ
	if typ == "" {
		typ = "authenticated_with_password"
	}
	ev := map[string]any{
		"id": "1", "author_id": 51, "entity_id": 51, "entity_type": "User", "event_type": typ,
		"author_name": "Andreas", "entity_path": "Andreas", "target_id": 51, "target_type": "User", "target_details": "Andreas",
		"ip_address": addr, "created_at": s.at.UTC().Format(time.RFC3339Nano),
		"details": map[string]any{"author_name": "Andreas", "ip_address": addr},
	}
	if typ == "repository_git_operation" {
		ev["entity_type"], ev["entity_id"], ev["entity_path"] = "Project", 7, "acme/payments"
		ev["details"].(map[string]any)["custom_message"] = map[string]any{"protocol": "ssh", "action": "git-upload-pack"}
	}
	return eventJSON(t, ev)
}

func worldPlace(name string) (geodb.Place, bool) {
	for _, p := range geodb.World {
		if p.Name == name {
			return p, true
		}
	}
	return geodb.Place{}, false
}

var day0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func at(day int, hhmm string) time.Time {
	d, err := time.ParseDuration(hhmm[:2] + "h" + hhmm[3:] + "m")
	if err != nil {
		panic(err)
	}
	return day0.AddDate(0, 0, day).Add(d)
}

// geoSeverities returns the severity each geo rule has on a record: the
// rule's own, or LOW when its note says it was kept at LOW.
func geoSeverities(t *testing.T, lr plog.LogRecord) map[string]string {
	t.Helper()
	notes := map[string]string{}
	for _, part := range strings.Split(attrStr(lr, attrNote), "; GLD-") {
		if id, text, ok := strings.Cut(strings.TrimPrefix(part, "GLD-"), ": "); ok {
			notes["GLD-"+id] = text
		}
	}
	out := map[string]string{}
	for _, id := range ruleIDs(lr) {
		switch id {
		case "GLD-104", "GLD-105", "GLD-106":
			sev := severityOf(t, lr, id)
			if strings.Contains(notes[id], "kept at LOW") {
				sev = "LOW"
			} else if id == "GLD-106" && strings.Contains(attrStr(lr, attrEventType), "admin_mode") {
				sev = "HIGH" // raised
			}
			out[id] = sev
		}
	}
	return out
}

// TestGeoRulesTellTravelFromRoaming runs users through a few days each:
// offices, VPN exits, trips and takeovers.
func TestGeoRulesTellTravelFromRoaming(t *testing.T) {
	none := map[string]string{}
	tests := []struct {
		name  string
		steps []geoStep
	}{
		{"a takeover: Berlin, then São Paulo an hour later", []geoStep{
			{place: "berlin-office", at: at(0, "09:00"), want: none},
			{place: "berlin-office", at: at(1, "09:00"), want: none},
			{place: "sao-paulo", at: at(1, "10:00"), want: map[string]string{"GLD-104": "MEDIUM", "GLD-105": "HIGH"}},
			{place: "sao-paulo", at: at(1, "10:30"), want: none}, // the country is known now
		}},
		{"two offices: London is usual for this user", []geoStep{
			{place: "berlin-office", at: at(0, "09:00"), want: none},
			// The company's proxies alternate between the two offices' exits.
			{place: "london-office", at: at(0, "09:20"), want: map[string]string{"GLD-105": "LOW"}}, // no earlier day
			{place: "berlin-office", at: at(1, "09:00"), want: none},                                // a day later
			{place: "london-office", at: at(1, "09:20"), want: map[string]string{"GLD-105": "LOW"}}, // both places usual
			{place: "berlin-office", at: at(1, "09:40"), want: map[string]string{"GLD-105": "LOW"}},
		}},
		{"VPN exits of one provider", []geoStep{
			{place: "vpn-frankfurt", at: at(0, "09:00"), want: none},
			{place: "vpn-frankfurt", at: at(1, "09:00"), want: none},
			{place: "vpn-stockholm", at: at(1, "09:20"), want: map[string]string{"GLD-104": "LOW", "GLD-105": "LOW"}},
			{place: "vpn-zurich", at: at(1, "09:40"), want: map[string]string{"GLD-104": "LOW", "GLD-105": "LOW"}},
			{place: "vpn-zurich", at: at(2, "09:00"), want: none},
		}},
		{"a trip to New York by plane", []geoStep{
			{place: "berlin-home", at: at(0, "20:00"), want: none},
			{place: "berlin-office", at: at(1, "07:00"), want: none},
			{place: "new-york", at: at(1, "19:30"), want: map[string]string{"GLD-104": "MEDIUM"}},
			{place: "new-york", at: at(2, "09:00"), want: none},
		}},
		{"private and unknown addresses are ignored", []geoStep{
			{place: "berlin-office", at: at(0, "09:00"), want: none},
			{place: "10.1.2.3", at: at(1, "09:00"), want: none},
			{place: "192.0.2.250", at: at(1, "09:01"), want: none},
			{place: "berlin-office", at: at(1, "09:02"), want: none},
		}},
		{"a stolen token clones from Lagos, Admin Mode from Singapore", []geoStep{
			{place: "berlin-office", at: at(0, "09:00"), want: none},
			{typ: "repository_git_operation", place: "berlin-office", at: at(0, "09:10"), want: none},
			{typ: "repository_git_operation", place: "lagos", at: at(1, "03:00"), want: map[string]string{"GLD-106": "MEDIUM"}},
			{typ: "user_enable_admin_mode", place: "singapore", at: at(1, "04:00"), want: map[string]string{"GLD-106": "HIGH"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, sink := newTestProcessor(t, geoConfig(t))
			for i, s := range tt.steps {
				ld, lrs := newLogs()
				appendEvent(t, lrs, s.event(t), viaReceiver)
				require.NoError(t, p.ConsumeLogs(context.Background(), ld))
				recs := allRecords(sink)
				lr := recs[len(recs)-1]
				assert.Equal(t, s.want, geoSeverities(t, lr), "step %d (%s at %s): note %q", i, s.place, s.at, attrStr(lr, attrNote))
			}
		})
	}
}

// TestGeoAlertSaysBothPlacesAndTimes: the note of each geo rule names the
// two places and their times.
func TestGeoAlertSaysBothPlacesAndTimes(t *testing.T) {
	p, sink := newTestProcessor(t, geoConfig(t))
	for _, s := range []geoStep{
		{place: "berlin-office", at: at(0, "09:00")},
		{place: "berlin-office", at: at(1, "09:12")},
		{place: "sao-paulo", at: at(1, "15:03")},
	} {
		ld, lrs := newLogs()
		appendEvent(t, lrs, s.event(t), viaReceiver)
		require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	}
	recs := allRecords(sink)
	lr := recs[len(recs)-1]
	assert.Equal(t, "GLD-105", attrStr(lr, attrRuleUUID))
	assert.Equal(t, "HIGH", attrStr(lr, attrSeverity))
	note := attrStr(lr, attrNote)
	for _, want := range []string{
		"GLD-105: Berlin, DE (AS3320 Deutsche Telekom AG) at 2026-03-03T09:12:00Z, then São Paulo, BR (AS28573 Claro NXT Telecomunicacoes Ltda) at 2026-03-03T15:03:00Z: 10",
		"km in 5h51m", "km/h; max_speed_kmh 900)",
		"GLD-104: first sign-in from São Paulo, BR (AS28573 Claro NXT Telecomunicacoes Ltda) at 2026-03-03T15:03:00Z; before it: Berlin, DE (AS3320 Deutsche Telekom AG) at 2026-03-03T09:12:00Z; countries of the last 14 days: DE",
	} {
		assert.Contains(t, note, want)
	}
	assert.Equal(t, "BR", attrStr(lr, "client.geo.country.iso_code"))
}

// TestGeoProfilesPersist: the places of users survive a restart through
// the storage extension, so a takeover the day after a restart is caught.
func TestGeoProfilesPersist(t *testing.T) {
	dir := t.TempDir()
	storageID := storagetest.NewStorageID("file_storage")
	host := storagetest.NewStorageHost().WithFileBackedStorageExtension("file_storage", dir)
	cfg := geoConfig(t)
	cfg.Storage = &storageID
	run := func(steps []geoStep) plog.LogRecord {
		p, err := newDetectProcessor(cfg, componenttest.NewNopTelemetrySettings())
		require.NoError(t, err)
		p.id = component.MustNewID("gitlab_detect")
		require.NoError(t, p.start(context.Background(), host))
		var last plog.LogRecord
		for _, s := range steps {
			ld, lrs := newLogs()
			appendEvent(t, lrs, s.event(t), viaReceiver)
			out, err := p.processLogs(context.Background(), ld)
			require.NoError(t, err)
			last = out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		}
		require.NoError(t, p.shutdown(context.Background()))
		return last
	}
	run([]geoStep{{place: "berlin-office", at: at(0, "09:00")}, {place: "berlin-office", at: at(1, "09:00")}})
	lr := run([]geoStep{{place: "singapore", at: at(1, "10:00")}})
	assert.Contains(t, ruleIDs(lr), "GLD-105", "the previous sign-in was restored")
	assert.Contains(t, ruleIDs(lr), "GLD-104", "the user's countries were restored")
}

// TestGeoProfilesBounded: users and places per user are bounded.
func TestGeoProfilesBounded(t *testing.T) {
	cfg := geoConfig(t)
	cfg.GeoIP.MaxPlacesPerUser = 3
	cfg.Baseline.MaxAuthors = 2
	g := newGeoProfiles(cfg.GeoIP, cfg.Baseline, cfg.Baseline.MaxAuthors)
	for u := int64(1); u <= 3; u++ {
		for i, name := range []string{"berlin-office", "london-office", "vpn-frankfurt", "vpn-amsterdam", "lisbon"} {
			pl := geodb.Named(name)
			attrs := pcommon.NewMap()
			attrs.PutInt("user.id", u)
			putGeo(attrs, geoInfo{country: pl.Country, city: pl.City, lat: pl.Lat, lon: pl.Lon, hasLocation: true, asn: int64(pl.ASN)})
			e := &event{typ: "authenticated_with_password", attrs: attrs, at: int64(i+1) * int64(time.Hour)}
			g.assess(e)
		}
	}
	assert.Equal(t, 2, g.tracked())
	held := 0
	for el := g.lru.Front(); el != nil; el = el.Next() {
		assert.Len(t, el.Value.(*geoUser).places, 3)
		held += len(el.Value.(*geoUser).places)
	}
	counted := 0
	for _, n := range g.places {
		counted += n
	}
	assert.Equal(t, held, counted, "the organisation's counts follow the profiles")
}

// TestGeoSharedPlaces: a user's first sign-in from an office many
// colleagues sign in from is a place of the organisation, not travel.
func TestGeoSharedPlaces(t *testing.T) {
	p, sink := newTestProcessor(t, geoConfig(t))
	send := func(user int, place string, when time.Time) plog.LogRecord {
		raw := eventJSON(t, map[string]any{
			"id": "1", "author_id": user, "entity_id": user, "entity_type": "User", "event_type": "authenticated_with_password",
			"author_name": "u", "entity_path": "u", "target_id": user, "target_type": "User", "target_details": "u",
			"ip_address": geodb.Named(place).Addr(1 + user%10).String(), "created_at": when.Format(time.RFC3339Nano),
			"details": map[string]any{"with": "standard"},
		})
		ld, lrs := newLogs()
		appendEvent(t, lrs, raw, viaReceiver)
		require.NoError(t, p.ConsumeLogs(context.Background(), ld))
		recs := allRecords(sink)
		return recs[len(recs)-1]
	}
	for u := 1; u <= 5; u++ { // five colleagues work from London
		send(u, "london-office", at(0, "09:00"))
	}
	send(9, "berlin-office", at(0, "09:00"))
	send(9, "berlin-office", at(1, "09:00"))
	lr := send(9, "london-office", at(1, "09:30"))
	assert.Equal(t, map[string]string{"GLD-104": "LOW", "GLD-105": "LOW"}, geoSeverities(t, lr))
	assert.Contains(t, attrStr(lr, attrNote), "kept at LOW: a place of the organisation (5 users' events came from it)")

	// Four are not enough.
	for u := 11; u <= 14; u++ {
		send(u, "lisbon", at(0, "09:00"))
	}
	lr = send(9, "lisbon", at(1, "10:00"))
	assert.Equal(t, map[string]string{"GLD-104": "MEDIUM", "GLD-105": "HIGH"}, geoSeverities(t, lr))
}
