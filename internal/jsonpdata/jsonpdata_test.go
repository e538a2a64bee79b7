// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package jsonpdata

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// reference decodes with encoding/json and pcommon FromRaw, the baseline.
func reference(t testing.TB, src string) (pcommon.Value, error) {
	var raw any
	if err := json.Unmarshal([]byte(src), &raw); err != nil {
		return pcommon.Value{}, err
	}
	// Integers beyond int64 are kept as their text by this decoder.
	dec := json.NewDecoder(strings.NewReader(src))
	dec.UseNumber()
	var exact any
	if err := dec.Decode(&exact); err == nil {
		raw = bigIntegersAsText(raw, exact)
	}
	v := pcommon.NewValueEmpty()
	if err := v.FromRaw(raw); err != nil {
		t.Fatalf("FromRaw: %v", err)
	}
	return v, nil
}

// bigIntegersAsText replaces, in raw (encoding/json's float64 numbers),
// the integers beyond int64 by their text, read from exact (the same
// document decoded with UseNumber).
func bigIntegersAsText(raw, exact any) any {
	switch e := exact.(type) {
	case json.Number:
		lit := string(e)
		if !strings.ContainsAny(lit, ".eE") {
			if _, err := strconv.ParseInt(lit, 10, 64); err != nil {
				return lit
			}
		}
	case map[string]any:
		r := raw.(map[string]any)
		for k, v := range e {
			r[k] = bigIntegersAsText(r[k], v)
		}
	case []any:
		r := raw.([]any)
		for i, v := range e {
			r[i] = bigIntegersAsText(r[i], v)
		}
	}
	return raw
}

// normalize turns Int values into Double ones, the only difference allowed
// between this decoder (lossless integers) and encoding/json (float64).
func normalize(v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		v.SetDouble(float64(v.Int()))
	case pcommon.ValueTypeMap:
		v.Map().Range(func(_ string, e pcommon.Value) bool { normalize(e); return true })
	case pcommon.ValueTypeSlice:
		for i := 0; i < v.Slice().Len(); i++ {
			normalize(v.Slice().At(i))
		}
	}
}

// decodeValue decodes src, which must hold exactly one JSON value, into v:
// the tests' entry point to decode any value, where DecodeObject takes
// objects only.
func decodeValue(src string, v pcommon.Value) error {
	d := decoder{s: src}
	d.skipSpace()
	if err := d.value(v); err != nil {
		return err
	}
	d.skipSpace()
	if d.i != len(d.s) {
		return d.errf("unexpected data after the JSON value")
	}
	return nil
}

func decodeAny(src string) (pcommon.Value, error) {
	v := pcommon.NewValueEmpty()
	return v, decodeValue(src, v)
}

var samples = []string{
	`{}`,
	`[]`,
	`{"id":1,"author_id":-1,"entity_id":6,"entity_type":"Project","details":{"custom_message":"Project archived","author_name":"Administrator","target_id":"flightjs/flight","ip_address":"127.0.0.1"},"created_at":"2019-08-30T07:00:41.885Z"}`,
	`{"id":"1","details":{"custom_message":{"protocol":"ssh","action":"git-upload-pack"},"from":true,"to":false,"n":null},"list":[1,2.5,"x",null,true,{"a":[]}]}`,
	`  {"a" : "b" , "c":[ 1 , 2 ] }  `,
	`{"esc":"quote \" backslash \\ slash \/ \b\f\n\r\t unicode \u00e9 \u4e2d emoji \ud83d\ude00"}`,
	`{"lone":"\ud800","bad":"\udc00x"}`,
	`{"big":12345678901234567890,"neg":-0,"exp":1e3,"frac":0.5,"negexp":-1.5E-7,"max":9223372036854775807,"min":-9223372036854775808}`,
	`{"dup":1,"dup":2}`,
	`{"utf8":"héllo wörld ✓"}`,
	"{\"invalid\":\"a\xffb\"}",
	`"just a string"`,
	`42`,
	`null`,
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, src := range samples {
		t.Run(src, func(t *testing.T) {
			want, err := reference(t, src)
			require.NoError(t, err)
			got, err := decodeAny(src)
			require.NoError(t, err)
			normalize(got)
			normalize(want)
			assert.Equal(t, want.AsRaw(), got.AsRaw())
		})
	}
}

func TestIntegersStayExact(t *testing.T) {
	m := pcommon.NewMap()
	require.NoError(t, DecodeObject(`{"id":9007199254740993,"f":1.0,"huge":1e400}`, m))
	id, _ := m.Get("id")
	assert.Equal(t, pcommon.ValueTypeInt, id.Type())
	assert.Equal(t, int64(9007199254740993), id.Int(), "float64 would round this id")
	f, _ := m.Get("f")
	assert.Equal(t, pcommon.ValueTypeDouble, f.Type())
	huge, _ := m.Get("huge")
	assert.Equal(t, "1e400", huge.Str(), "numbers beyond float64 keep their text")
}

func TestDecodeObjectErrors(t *testing.T) {
	for _, tt := range []struct{ src, msg string }{
		{``, "expected a JSON object"},
		{`[1]`, "expected a JSON object"},
		{`{`, "expected a string key"},
		{`{"a"}`, "expected ':'"},
		{`{"a":}`, "looking for a value"},
		{`{"a":1,}`, "expected a string key"},
		{`{"a":1 "b":2}`, "expected ',' or '}'"},
		{`{"a":"x`, "unterminated string"},
		{`{"a":"\x"}`, "invalid escape"},
		{`{"a":"\u12"}`, "invalid \\u escape"},
		{"{\"a\":\"\n\"}", "control character"},
		{`{"a":tru}`, "invalid literal"},
		{`{"a":01}`, "expected ',' or '}'"},
		{`{"a":1.}`, "no digit after '.'"},
		{`{"a":1e}`, "no digit in exponent"},
		{`{"a":-}`, "looking for a value"},
		{`{"a":[1,2}`, "expected ',' or ']'"},
		{`{"a":1} x`, "unexpected data"},
		{strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100), "nesting deeper"},
	} {
		t.Run(tt.src, func(t *testing.T) {
			err := DecodeObject(tt.src, pcommon.NewMap())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.msg)
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			assert.Contains(t, err.Error(), "invalid JSON at byte")
		})
	}
}

func TestScanArray(t *testing.T) {
	type elem struct {
		index, offset int
		text          string
		fields        []string
	}
	var got []elem
	var fields []string
	scan := func(src string) (bool, error) {
		got, fields = nil, nil
		return ScanArray(src, func(k, raw string) { fields = append(fields, k+"="+raw) }, func(i, off int, e string) error {
			got = append(got, elem{i, off, e, fields})
			fields = nil
			return nil
		})
	}

	src := ` [ {"id":1, "details":{"id":"x","a":[1,{"b":"]"}]}} , 3, {"created_at":"t"} ] `
	isArray, err := scan(src)
	require.NoError(t, err)
	assert.True(t, isArray)
	require.Len(t, got, 3)
	assert.Equal(t, elem{0, 3, `{"id":1, "details":{"id":"x","a":[1,{"b":"]"}]}}`, []string{`id=1`, `details={"id":"x","a":[1,{"b":"]"}]}`}}, got[0])
	assert.Equal(t, elem{1, strings.Index(src, " 3,") + 1, `3`, nil}, got[1])
	assert.Equal(t, elem{2, strings.Index(src, `{"created_at"`), `{"created_at":"t"}`, []string{`created_at="t"`}}, got[2])
	for _, e := range got {
		assert.Equal(t, e.text, src[e.offset:e.offset+len(e.text)])
	}

	isArray, err = scan(`[]`)
	require.NoError(t, err)
	assert.True(t, isArray)
	assert.Empty(t, got)

	// Valid JSON that is not an array: nothing is handed out.
	isArray, err = scan(` {"id":1} `)
	require.NoError(t, err)
	assert.False(t, isArray)
	assert.Empty(t, got)

	// Malformed input is found as it is read: the elements before the
	// fault have been seen, and the error says where it is.
	_, err = scan(`[{"id":1},{"id":2`)
	var se *SyntaxError
	require.ErrorAs(t, err, &se)
	assert.Len(t, got, 1)
	for _, bad := range []string{``, `[`, `[1,]`, `[1 2]`, `[{"a":1,}]`, `[{"a" 1}]`, `[1] 2`, `[{"a":"\x"}]`, "[\"a\x01\"]", `{"a":1}{"b":2}`} {
		_, err := scan(bad)
		require.Error(t, err, bad)
	}
	// An error of elem stops the scan.
	calls := 0
	_, err = ScanArray(`[1,2,3]`, func(string, string) {}, func(int, int, string) error {
		calls++
		return assert.AnError
	})
	require.ErrorIs(t, err, assert.AnError)
	assert.Equal(t, 1, calls)
}

func TestFieldsAndUnquote(t *testing.T) {
	obj := `{"details":{"id":"nested"},"id":123,"created_at":"2019-08-30T07:00:41.885Z","s":"a\"b"}`
	got := map[string]string{}
	require.NoError(t, Fields(obj, func(k, raw string) bool { got[k] = raw; return true }))
	assert.Equal(t, map[string]string{
		"details": `{"id":"nested"}`, "id": "123", "created_at": `"2019-08-30T07:00:41.885Z"`, "s": `"a\"b"`,
	}, got)
	s, ok := Unquote(got["s"])
	assert.True(t, ok)
	assert.Equal(t, `a"b`, s)
	_, ok = Unquote("123")
	assert.False(t, ok)

	n := 0
	require.NoError(t, Fields(obj, func(string, string) bool { n++; return false }))
	assert.Equal(t, 1, n, "stops when fn returns false")
	require.NoError(t, Fields(`{}`, func(string, string) bool { t.Fatal("no field"); return true }))
	require.Error(t, Fields(`[]`, func(string, string) bool { return true }))
	require.Error(t, Fields(`{"a":}`, func(string, string) bool { return true }))
}

// expandDeep replaces in ours each object or array kept as JSON text,
// beyond MaxTreeDepth, by what encoding/json makes of that text, after
// checking that it is where ref has an object or array that deep. level is
// the nesting level ours would have as an object or array.
func expandDeep(t testing.TB, ours, ref pcommon.Value, level int) {
	t.Helper()
	isTree := ref.Type() == pcommon.ValueTypeMap || ref.Type() == pcommon.ValueTypeSlice
	if isTree && level > MaxTreeDepth {
		if ours.Type() != pcommon.ValueTypeStr {
			t.Fatalf("level %d is decoded (%s), not kept as text", level, ours.Type())
		}
		v, err := reference(t, ours.Str())
		if err != nil {
			t.Fatalf("the text kept at level %d is not JSON: %v", level, err)
		}
		v.CopyTo(ours)
		return
	}
	switch {
	case ref.Type() == pcommon.ValueTypeMap && ours.Type() == pcommon.ValueTypeMap:
		ref.Map().Range(func(k string, rv pcommon.Value) bool {
			if ov, ok := ours.Map().Get(k); ok {
				expandDeep(t, ov, rv, level+1)
			}
			return true
		})
	case ref.Type() == pcommon.ValueTypeSlice && ours.Type() == pcommon.ValueTypeSlice:
		for i := 0; i < min(ref.Slice().Len(), ours.Slice().Len()); i++ {
			expandDeep(t, ours.Slice().At(i), ref.Slice().At(i), level+1)
		}
	}
}

func FuzzDecodeValue(f *testing.F) {
	for _, s := range samples {
		f.Add(s)
	}
	// Trees deeper than MaxTreeDepth, kept partly as text.
	f.Add(nested(MaxTreeDepth + 3))
	f.Add(strings.Repeat("[", MaxTreeDepth+2) + `{"a":"\u00e9"}` + strings.Repeat("]", MaxTreeDepth+2))
	f.Fuzz(func(t *testing.T, src string) {
		want, refErr := reference(t, src)
		got, err := decodeAny(src)
		var rangeErr *json.UnmarshalTypeError
		if errors.As(refErr, &rangeErr) {
			// encoding/json refuses numbers beyond float64; they are kept as text here.
			if err != nil {
				t.Fatalf("refused %q: %v", src, err)
			}
			return
		}
		if refErr != nil {
			if err == nil {
				t.Fatalf("accepted invalid JSON %q", src)
			}
			if _, err := ScanArray(src, func(string, string) {}, func(int, int, string) error { return nil }); err == nil {
				t.Fatalf("ScanArray accepted invalid JSON %q", src)
			}
			return
		}
		if err != nil {
			if strings.Contains(err.Error(), "nesting deeper") {
				return
			}
			t.Fatalf("refused valid JSON %q: %v", src, err)
		}
		expandDeep(t, got, want, 1)
		normalize(got)
		normalize(want)
		if !assert.ObjectsAreEqual(want.AsRaw(), got.AsRaw()) {
			t.Fatalf("decoded %q differently:\nwant %#v\ngot  %#v", src, want.AsRaw(), got.AsRaw())
		}
		// ScanArray and Fields must agree on validity.
		if _, err := ScanArray(src, func(string, string) {}, func(int, int, string) error { return nil }); err != nil && !strings.Contains(err.Error(), "nesting deeper") {
			t.Fatalf("ScanArray refused valid JSON %q: %v", src, err)
		}
		if got.Type() == pcommon.ValueTypeMap {
			if err := Fields(src, func(string, string) bool { return true }); err != nil && !strings.Contains(err.Error(), "nesting deeper") {
				t.Fatalf("Fields refused valid JSON %q: %v", src, err)
			}
		}
	})
}

func TestAppendJSONRoundTrips(t *testing.T) {
	for _, src := range samples {
		t.Run(src, func(t *testing.T) {
			v, err := decodeAny(src)
			require.NoError(t, err)
			out := AppendJSON(nil, v)
			require.True(t, json.Valid(out), string(out))
			back, err := decodeAny(string(out))
			require.NoError(t, err)
			assert.Equal(t, v.AsRaw(), back.AsRaw())
		})
	}
	m := pcommon.NewMap()
	m.PutStr("ctl", "a\x01\"\\\n\r\tb")
	m.PutEmpty("nil")
	m.PutDouble("inf", math.Inf(1))
	m.PutEmptyBytes("b").FromRaw([]byte("hi"))
	m.PutStr("bad", "x\xffy")
	v := pcommon.NewValueMap()
	m.CopyTo(v.Map())
	assert.JSONEq(t, `{"ctl":"a\u0001\"\\\n\r\tb","nil":null,"inf":"+Inf","b":"aGk=","bad":"x\ufffdy"}`, string(AppendJSON(nil, v)))
}
