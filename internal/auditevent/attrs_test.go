// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package auditevent

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func value(t *testing.T, v any) pcommon.Value {
	t.Helper()
	pv := pcommon.NewValueEmpty()
	require.NoError(t, pv.FromRaw(v))
	return pv
}

func TestText(t *testing.T) {
	assert.Equal(t, "51", Text(value(t, 51.0)))
	assert.Equal(t, "1.5", Text(value(t, 1.5)))
	assert.Equal(t, "51", Text(value(t, int64(51))))
	assert.Equal(t, "true", Text(value(t, true)))
	assert.Empty(t, Text(value(t, nil)))
	assert.Empty(t, Text(pcommon.Value{}))
	assert.JSONEq(t, `{"protocol":"ssh","action":"git-upload-pack"}`, Text(value(t, map[string]any{"protocol": "ssh", "action": "git-upload-pack"})))
	assert.JSONEq(t, `["a",1]`, Text(value(t, []any{"a", 1})))
}

func TestBodyGet(t *testing.T) {
	m := pcommon.NewMap()
	require.NoError(t, m.FromRaw(map[string]any{
		"author_id": 5, "entity_path": "", "target_type": "Project",
		"details": map[string]any{"entity_path": "g/p", "target_type": "User", "change": "x"},
	}))
	b := NewBody(m)
	tests := []struct {
		key, want string
		ok        bool
	}{
		{"author_id", "5", true},         // top level only
		{"entity_path", "g/p", true},     // empty at the top level: details
		{"target_type", "Project", true}, // top level first
		{"change", "x", true},
		{"missing", "", false},
	}
	for _, tt := range tests {
		v, ok := b.Get(tt.key)
		assert.Equal(t, tt.ok, ok, tt.key)
		assert.Equal(t, tt.want, Text(v), tt.key)
	}
	v, ok := b.Detail("target_type")
	assert.True(t, ok)
	assert.Equal(t, "User", v.Str(), "Detail reads details")

	flat := pcommon.NewMap()
	flat.PutStr("change", "visibility")
	v, ok = NewBody(flat).Detail("change")
	assert.True(t, ok, "flat bodies: details keys at the top level")
	assert.Equal(t, "visibility", v.Str())

	_, ok = Body{}.Get("author_id")
	assert.False(t, ok, "the zero Body holds nothing")
}
