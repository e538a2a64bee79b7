// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestShardOfIsStableBalancedAndMovesLittle(t *testing.T) {
	const feeds = 3000
	counts := make([]int, 3)
	moved := 0
	for i := range feeds {
		key := fmt.Sprintf("project:%d", 1000+i)
		s := shardOf(key, 3)
		assert.Equal(t, s, shardOf(key, 3), "stable")
		counts[s]++
		if shardOf(key, 4) != s {
			moved++
		}
	}
	for _, c := range counts {
		assert.InDelta(t, feeds/3, c, feeds/10, "balanced: %v", counts)
	}
	assert.InDelta(t, feeds/4, moved, feeds/10, "3 -> 4 shards moves about a quarter")
	assert.True(t, Shard{}.Owns("anything"))
	assert.Equal(t, 0, shardOf("x", 1))
}
