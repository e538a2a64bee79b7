// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package emit

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
)

// TestSetKeyIsOneToOne makes the keys of every form, and keys that differ
// from them by little (case, a dash, length), and requires distinct keys
// to stay distinct.
func TestSetKeyIsOneToOne(t *testing.T) {
	const uuid = "0b2c4d6e-8f10-4a12-b314-c516d718e91a"
	keys := []string{
		"", "P", "P:", "P:1", "G:1", "U:1", "I:1", "P:12", "P:18446744073709551615", "P:123456789012345678901",
		"P:" + uuid, "G:" + uuid, "~:" + uuid, "P:" + strings.ToUpper(uuid), "P:" + uuid[:35] + "b",
		"P:" + strings.ReplaceAll(uuid, "-", "0"), "P:" + uuid + "0", "P:" + uuid[:35], "PP" + uuid,
		"~Gitlab::Audit::InstanceScope:1", "~Gitlab::Audit::InstanceScope:2", "~P:" + uuid,
		conflictKey("P:1", auditlog.Fingerprint{CreatedAt: 1}), conflictKey("P:1", auditlog.Fingerprint{CreatedAt: 2}),
		strings.Repeat("x", inlineKeyLen), strings.Repeat("x", inlineKeyLen+1), strings.Repeat("x", 2+len(uuid)),
	}
	for i := range 2000 {
		keys = append(keys, fmt.Sprintf("P:%d", i), fmt.Sprintf("P:%08x-0000-4000-8000-%012x", i, i))
	}
	seen := map[setKey]string{}
	for _, k := range keys {
		sk := makeSetKey(k)
		if prev, dup := seen[sk]; dup {
			require.Equal(t, prev, k, "two keys share a set key")
		}
		seen[sk] = k
		assert.Equal(t, sk, makeSetKey(strings.Clone(k)), "the same key, the same set key")
	}
	distinct := map[string]bool{}
	for _, k := range keys {
		distinct[k] = true
	}
	assert.Len(t, seen, len(distinct))
}

func TestSetKeyForms(t *testing.T) {
	const uuid = "0b2c4d6e-8f10-4a12-b314-c516d718e91a"
	for _, tc := range []struct {
		key string
		tag byte
	}{
		{"P:1234", 6},
		{"P:1234567890123", 15},
		{"P:12345678901234", hashedKeyTag},
		{"P:" + uuid, hashedKeyTag},
		{"~Gitlab::Audit::Other:12345", hashedKeyTag},
	} {
		assert.Equal(t, tc.tag, makeSetKey(tc.key)[0], tc.key)
	}
	sk := makeSetKey("P:1234")
	assert.Equal(t, "P:1234", string(sk[1:7]), "short keys as they are")
}

// TestDedupSetHoldsNoPointers guards what makes the set cheap for the
// garbage collector: its entries and FIFO items hold no pointer, so the
// map's and the FIFO's memory is never scanned.
func TestDedupSetHoldsNoPointers(t *testing.T) {
	for _, typ := range []reflect.Type{
		reflect.TypeFor[setKey](), reflect.TypeFor[dedupEntry](), reflect.TypeFor[fifoItem](),
	} {
		assert.False(t, hasPointers(typ), "%s holds a pointer", typ)
	}
}

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	}
	return true
}
