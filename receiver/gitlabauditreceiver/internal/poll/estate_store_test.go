// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

func TestEstateIndexRoundTripAndDamage(t *testing.T) {
	ctx := context.Background()
	_, s := newMemStore()
	_, ok, err := loadEstate(ctx, s)
	require.NoError(t, err)
	assert.False(t, ok)

	at := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC)
	idx := estateIndex{
		Listed: map[string]time.Time{"acme": at, "42": at.Add(time.Hour)},
		Feeds: []*estateEntry{
			{Kind: gitlabapi.KindGroup, ID: 11, Path: "acme/team\t\n\"x", Root: "acme", Start: at},
			{Kind: gitlabapi.KindProject, ID: 1 << 40, Path: "acme/team/api", Root: "42", Start: at, Gone: at.Add(time.Minute)},
		},
	}
	require.NoError(t, saveEstate(ctx, s, idx))
	got, ok, err := loadEstate(ctx, s)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, idx, got)

	raw := encodeEstate(idx)
	for n := range len(raw) {
		_, err := decodeEstate(raw[:n])
		require.Error(t, err, "a value cut at %d bytes is refused", n)
	}
	_, err = decodeEstate(append(raw, 0))
	require.Error(t, err, "trailing bytes")
	bad := encodeEstate(estateIndex{Feeds: []*estateEntry{{Kind: "instance", ID: 1}}})
	_, err = decodeEstate(bad)
	require.Error(t, err, "only groups and projects are discovered")
}
