// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package emit

import "crypto/sha256"

// setKey is an event key (auditlog.Event.Key, or a conflict key) as the
// de-duplication set holds it: 24 bytes in place, no pointer. The set
// holds up to max_entries keys (100,000 by default) for as long as the
// collector runs; held as strings, every garbage collection cycle had to
// visit each of them, in the map and in the FIFO: the collector's scanning
// took a tenth of the stream endpoint's CPU under load, most of it these
// keys, and half as much once they were held so (BENCHMARKS.md, section
// 5). A map and a FIFO without pointers are never scanned.
//
// The mapping is one to one (but for SHA-256 collisions): the first byte
// tells the three forms apart.
//   - Keys of up to 23 bytes, such as "P:1234567" (GitLab's event ids are
//     64-bit numbers: "P:" and 20 digits at most), are held as they are:
//     byte 0 is their length, then the key.
//   - A code, ":" and a UUID written in lower case (the key of a
//     stream-only event, "P:0b2c...-..."): byte 0 is uuidKeyTag, byte 1
//     the code, bytes 2 to 17 the UUID's 16 bytes.
//   - Any other key (an entity type GitLab does not use, "~Type:id"; a
//     conflict key): byte 0 is hashedKeyTag, then the first 23 bytes of the
//     key's SHA-256 (184 bits: a collision is out of reach, by chance or
//     by design).
type setKey [24]byte

const (
	inlineKeyLen = len(setKey{}) - 1
	uuidKeyTag   = 0xFE
	hashedKeyTag = 0xFF
	// uuidKeyLen is the length of a key "<code>:<UUID>".
	uuidKeyLen = 2 + 36
)

func makeSetKey(k string) (sk setKey) {
	switch {
	case len(k) <= inlineKeyLen:
		sk[0] = byte(len(k))
		copy(sk[1:], k)
	case len(k) == uuidKeyLen && k[1] == ':' && parseLowerUUID(k[2:], (*[16]byte)(sk[2:18])):
		sk[0], sk[1] = uuidKeyTag, k[0]
	default:
		sum := sha256.Sum256([]byte(k))
		sk[0] = hashedKeyTag
		copy(sk[1:], sum[:])
	}
	return sk
}

// parseLowerUUID reads s, a UUID in its canonical form in lower case
// (8-4-4-4-12 hexadecimal digits), into out. Any other text, upper case
// included, is refused: it is another key and must stay one.
func parseLowerUUID(s string, out *[16]byte) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	j := 0
	for i := 0; i < len(s); i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++ // the dash; the next pair starts after it
		}
		hi, ok1 := lowerHex(s[i])
		lo, ok2 := lowerHex(s[i+1])
		if !ok1 || !ok2 {
			return false
		}
		out[j] = hi<<4 | lo
		j++
	}
	return j == 16
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
