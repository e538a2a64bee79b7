// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import "hash/fnv"

// Shard is this replica's part of the feeds: Index of Count (0 or 1: all).
type Shard struct {
	Index, Count int
}

// Owns reports whether this replica polls the feed with the given stable
// key ("instance", "group:acme", "project:1234" for a discovered project,
// identified by id so a move keeps its shard).
func (s Shard) Owns(key string) bool {
	if s.Count <= 1 {
		return true
	}
	return shardOf(key, s.Count) == s.Index
}

// shardOf maps a key to one of n shards with a jump consistent hash
// (Lamping and Veach, 2014) over its FNV-1a hash: stable across restarts,
// versions and machines, and changing n from k to k+1 moves only about
// 1/(k+1) of the feeds.
func shardOf(key string, n int) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	k := h.Sum64()
	var b, j int64 = -1, 0
	for j < int64(n) {
		b = j
		k = k*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((k>>33)+1)))
	}
	return int(b)
}
