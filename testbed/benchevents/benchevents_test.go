// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package benchevents

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
)

func TestEventsAreRealisticAndRewritable(t *testing.T) {
	evs, err := Events(1, 300)
	require.NoError(t, err)
	require.Len(t, evs, 300)
	uuids := 0
	for i := range evs {
		ev := &evs[i]
		seq := uint64(1_000_000 + i)
		var obj map[string]any
		raw := ev.AppendStream(nil, seq)
		require.NoError(t, json.Unmarshal(raw, &obj), string(raw))
		if ev.UUID {
			uuids++
			assert.Equal(t, UUID(seq), obj["id"])
		} else {
			assert.Equal(t, strconv.FormatUint(seq, 10), string(mustNumber(t, obj["id"])))
		}
		assert.Equal(t, ev.Type, obj["event_type"], "streamed events carry their type")
		assert.Contains(t, obj, "details")
		assert.Contains(t, obj, "created_at")
	}
	assert.Positive(t, uuids, "stream-only events (UUID ids) are part of the mix")
	assert.Less(t, uuids, len(evs), "database events (numeric ids) are part of the mix")
}

func mustNumber(t *testing.T, v any) []byte {
	t.Helper()
	f, ok := v.(float64)
	require.True(t, ok, "%v is not a number", v)
	return strconv.AppendFloat(nil, f, 'f', -1, 64)
}

func TestOTLPCarriesTheSameEvent(t *testing.T) {
	evs, err := Events(2, 100)
	require.NoError(t, err)
	for i := range evs {
		ev := &evs[i]
		seq := uint64(7 + i)
		stream := ev.AppendStream(nil, seq)
		want := pcommon.NewMap()
		require.NoError(t, jsonpdata.DecodeObject(string(stream), want))

		for _, body := range []OTLPBody{BodyKVList, BodyString} {
			req := ev.AppendOTLP(nil, seq, body)
			ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(req)
			require.NoError(t, err, string(req))
			require.Equal(t, 1, ld.LogRecordCount())
			rl := ld.ResourceLogs().At(0)
			provider, _ := rl.Resource().Attributes().Get("vcs.provider.name")
			assert.Equal(t, "gitlab", provider.Str())
			lr := rl.ScopeLogs().At(0).LogRecords().At(0)
			assert.NotZero(t, lr.Timestamp(), "created_at is the record time")
			switch body {
			case BodyKVList:
				require.Equal(t, pcommon.ValueTypeMap, lr.Body().Type())
				assert.Equal(t, want.AsRaw(), lr.Body().Map().AsRaw())
			case BodyString:
				assert.Equal(t, string(stream), lr.Body().Str())
			}
		}
	}
}

func TestUUIDsAreDistinctAndWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, seq := range []uint64{0, 1, 15, 16, 1 << 40, 1<<48 + 3, 1<<63 + 9} {
		u := UUID(seq)
		assert.Regexp(t, `^[0-9a-f]{8}-0000-4000-8000-[0-9a-f]{12}$`, u)
		assert.False(t, seen[u], u)
		seen[u] = true
	}
}

func TestNewTemplateRefusesEventsWithoutUsableID(t *testing.T) {
	for _, bad := range []string{`[]`, `{"created_at":"2024-01-01T00:00:00Z"}`, `{"id":true}`, `{"id":-3}`, `{"id":`} {
		_, err := NewTemplate([]byte(bad), "x")
		require.Error(t, err, bad)
	}
	tpl, err := NewTemplate([]byte(`{ "details" : {"id": 9}, "id" : 42 , "x":1}`), "x")
	require.NoError(t, err)
	assert.JSONEq(t, `{"details":{"id":9},"id":5,"x":1}`, string(tpl.AppendStream(nil, 5)))
}

func TestParseOTLPBody(t *testing.T) {
	for _, b := range []OTLPBody{BodyKVList, BodyString} {
		got, err := ParseOTLPBody(b.String())
		require.NoError(t, err)
		assert.Equal(t, b, got)
	}
	_, err := ParseOTLPBody("proto")
	assert.Error(t, err)
}
