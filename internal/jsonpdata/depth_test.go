// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package jsonpdata

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// nested returns a JSON object nested levels deep: {"a":{"a":...{"a":1}}}.
// Every level but the innermost also holds an array of one object, so that
// both kinds of container are cut.
func nested(levels int) string {
	var b strings.Builder
	for i := 1; i < levels; i++ {
		b.WriteString(`{"n":` + strings.Repeat(" ", i%3) + `1,"a":`)
	}
	b.WriteString(`{"leaf":[1,"x"]}`)
	b.WriteString(strings.Repeat("}", levels-1))
	return b.String()
}

// protoRoundTrip marshals a log record with body as OTLP protobuf and
// unmarshals it, as the persistent sending queue and OTLP exporters and
// receivers do, and returns the body read back.
func protoRoundTrip(t testing.TB, body pcommon.Map) (pcommon.Map, error) {
	t.Helper()
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	body.CopyTo(lr.Body().SetEmptyMap())
	buf, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	back, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(buf)
	if err != nil {
		return pcommon.Map{}, err
	}
	return back.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Map(), nil
}

// TestMaxTreeDepthSurvivesProtobuf measures how deep a record's body can
// be nested in maps and still be read back from OTLP protobuf, and checks
// that MaxTreeDepth stays well under it.
func TestMaxTreeDepthSurvivesProtobuf(t *testing.T) {
	limit := 0
	for levels := 1; levels <= maxDepth; levels++ {
		// Built with FromRaw, not the decoder, which would cut it.
		var raw any = int64(1)
		for range levels {
			raw = map[string]any{"a": raw}
		}
		body := pcommon.NewMap()
		require.NoError(t, body.FromRaw(raw.(map[string]any)))
		if _, err := protoRoundTrip(t, body); err != nil {
			require.ErrorContains(t, err, "recursion")
			break
		}
		limit = levels
	}
	t.Logf("a body nested %d levels of objects reads back from protobuf, %d does not; MaxTreeDepth is %d", limit, limit+1, MaxTreeDepth)
	require.Less(t, limit, maxDepth, "protobuf has no depth limit below the decoder's: the measurement is wrong")
	assert.LessOrEqual(t, MaxTreeDepth+8, limit, "MaxTreeDepth leaves too little room under protobuf's limit")
}

// TestDeepTreesKeptAsText decodes an event nested 40 levels deep: the
// levels beyond MaxTreeDepth are one string holding their JSON text as
// sent, the record reads back from protobuf, and that text decodes to the
// very sub-tree that was sent.
func TestDeepTreesKeptAsText(t *testing.T) {
	src := nested(40)
	body := pcommon.NewMap()
	require.NoError(t, DecodeObject(src, body))

	// Walk down to the last decoded level.
	m := body
	for level := 1; level < MaxTreeDepth; level++ {
		v, ok := m.Get("a")
		require.True(t, ok, "level %d", level)
		require.Equal(t, pcommon.ValueTypeMap, v.Type(), "level %d is decoded", level+1)
		m = v.Map()
	}
	deep, ok := m.Get("a")
	require.True(t, ok)
	require.Equal(t, pcommon.ValueTypeStr, deep.Type(), "level %d is kept as text", MaxTreeDepth+1)
	// The text is the sub-tree as sent, a substring of the input.
	assert.True(t, strings.HasPrefix(deep.Str(), `{"n":`), deep.Str())
	assert.Contains(t, src, deep.Str())
	var want, got any
	require.NoError(t, json.Unmarshal([]byte(src), &want))
	for range MaxTreeDepth {
		want = want.(map[string]any)["a"]
	}
	require.NoError(t, json.Unmarshal([]byte(deep.Str()), &got))
	assert.Equal(t, want, got, "nothing of the sub-tree is lost")

	back, err := protoRoundTrip(t, body)
	require.NoError(t, err, "the decoded event must survive OTLP protobuf")
	assert.Equal(t, body.AsRaw(), back.AsRaw())

	// Arrays are cut at the same level, and so are trees under a
	// top-level array.
	arr := strings.Repeat("[", 30) + "1" + strings.Repeat("]", 30)
	v, err := decodeAny(arr)
	require.NoError(t, err)
	for level := 1; level < MaxTreeDepth; level++ {
		require.Equal(t, pcommon.ValueTypeSlice, v.Type(), "level %d", level)
		v = v.Slice().At(0)
	}
	require.Equal(t, pcommon.ValueTypeSlice, v.Type())
	require.Equal(t, pcommon.ValueTypeStr, v.Slice().At(0).Type())
	assert.Equal(t, strings.Repeat("[", 30-MaxTreeDepth)+"1"+strings.Repeat("]", 30-MaxTreeDepth), v.Slice().At(0).Str())

	// Invalid UTF-8 in the kept text is replaced, as in every string.
	bad := strings.Repeat(`{"a":`, MaxTreeDepth) + "{\"s\":\"x\xffy\"}" + strings.Repeat("}", MaxTreeDepth)
	require.NoError(t, DecodeObject(bad, body))
	m = body
	for range MaxTreeDepth - 1 {
		v, _ := m.Get("a")
		m = v.Map()
	}
	deep, _ = m.Get("a")
	assert.Equal(t, `{"s":"x`+"\uFFFD"+`y"}`, deep.Str()) //nolint:testifylint // the exact text kept, not JSON equivalence

	// Deeper than 64 levels is refused, as before.
	require.ErrorContains(t, DecodeObject(nested(maxDepth), body), "nesting deeper")
	require.NoError(t, DecodeObject(nested(maxDepth-1), body), "64 levels: 63 objects and the leaf's array")
}

// TestErrorsAreBounded: an error quotes at most a little of the input,
// however long the key it is about.
func TestErrorsAreBounded(t *testing.T) {
	long := strings.Repeat("k", 100_000)
	for _, src := range []string{`{"` + long + `" 1}`, `[{"a":1},{"` + long + `" 1}]`} {
		_, err := ScanArray(src, func(string, string) {}, func(int, int, string) error { return nil })
		require.ErrorContains(t, err, "expected ':' after key")
		assert.Less(t, len(err.Error()), 200)
		err = DecodeObject(src, pcommon.NewMap())
		require.Error(t, err)
		assert.Less(t, len(err.Error()), 200)
	}
}
