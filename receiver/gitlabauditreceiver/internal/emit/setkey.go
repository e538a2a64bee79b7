// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package emit

import (
	"encoding/binary"
	"hash/maphash"
)

// setKey is an event key (auditlog.Event.Key, or a conflict key) as the
// de-duplication set holds it: 16 bytes in place, no pointer. The set
// holds up to max_entries keys (100,000 by default) for as long as the
// collector runs; held as strings, every garbage collection cycle had to
// visit each of them, in the map and in the FIFO: the collector's scanning
// took a tenth of the stream endpoint's CPU under load, most of it these
// keys, and half as much once they were held so (BENCHMARKS.md, section
// 5). A map and a FIFO without pointers are never scanned. 16 bytes rather
// than 24: the set's map slot and FIFO item are 8 bytes shorter each,
// about 20 bytes an entry, 2 MB of a full set (the backfill benchmark's
// peak RSS is about twice the live heap).
//
// The first byte tells the two forms apart:
//   - Keys of up to 15 bytes, such as "P:1234567" (GitLab's event ids are
//     numbers far below 10^13), are held as they are: byte 0 is their
//     length, then the key. These keys map one to one.
//   - Any other key (a stream-only event's "<code>:<UUID>", an entity type
//     GitLab does not use, a conflict key): byte 0 is hashedKeyTag, then
//     15 bytes of two 64-bit hashes of the key with random seeds of this
//     process (the set is in memory only: the state store keeps the key
//     strings, and a restart builds the set from them). Two such keys share
//     them with a probability of about n^2/2^121 for n keys: 4e-25 for a
//     million, far below any hardware fault; the seeds are secret, so
//     nobody can aim for a collision.
type setKey [16]byte

const (
	inlineKeyLen = len(setKey{}) - 1
	hashedKeyTag = 0xFF
)

var setKeySeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func makeSetKey(k string) (sk setKey) {
	if len(k) <= inlineKeyLen {
		sk[0] = byte(len(k))
		copy(sk[1:], k)
		return sk
	}
	sk[0] = hashedKeyTag
	binary.LittleEndian.PutUint64(sk[1:9], maphash.String(setKeySeeds[0], k))
	var tail [8]byte
	binary.LittleEndian.PutUint64(tail[:], maphash.String(setKeySeeds[1], k))
	copy(sk[9:], tail[:7])
	return sk
}
