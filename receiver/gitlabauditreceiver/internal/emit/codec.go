// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package emit

import (
	"errors"
	"fmt"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
)

// The one encoding of every value the receiver stores: a version byte,
// then unsigned varints (shortest form only: one value, one encoding),
// zig-zag signed ints, strings as a length and their bytes, fingerprints
// as 16 bytes. No input can forge or break a value, and a value that does
// not decode exactly is refused. Other stages (the poller's checkpoints
// and estate) encode their values with it too.

// Version is the first byte of every value the receiver stores.
const Version byte = 2

// fingerprintSize is the encoded size of an auditlog.Fingerprint.
const fingerprintSize = 16

// Encoder appends values; start one with NewEncoder.
type Encoder []byte

// NewEncoder starts a value of about size bytes with the version byte.
func NewEncoder(size int) Encoder {
	e := make(Encoder, 0, size+1)
	return append(e, Version)
}

// Uint appends an unsigned varint.
func (e Encoder) Uint(v uint64) Encoder { return Encoder(appendUvarint(e, v)) }

// Int appends a signed (zig-zag) varint.
func (e Encoder) Int(v int64) Encoder { return e.Uint(uint64(v<<1) ^ uint64(v>>63)) }

// Str appends a string.
func (e Encoder) Str(s string) Encoder { return append(e.Uint(uint64(len(s))), s...) }

// FP appends a fingerprint.
func (e Encoder) FP(f auditlog.Fingerprint) Encoder { return Encoder(appendFingerprint(e, f)) }

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendFingerprint(b []byte, f auditlog.Fingerprint) []byte {
	c := uint64(f.CreatedAt)
	w := uint64(f.Who)<<32 | uint64(f.Type)
	for i := 56; i >= 0; i -= 8 {
		b = append(b, byte(c>>i))
	}
	for i := 56; i >= 0; i -= 8 {
		b = append(b, byte(w>>i))
	}
	return b
}

// Decoder reads what an Encoder wrote; the first error sticks.
type Decoder struct {
	b   []byte
	err error
}

// ErrTruncated is the error of a value that does not decode exactly.
var ErrTruncated = errors.New("truncated or malformed value")

func NewDecoder(b []byte) *Decoder {
	d := &Decoder{b: b}
	if len(b) == 0 || b[0] != Version {
		d.err = fmt.Errorf("unknown encoding version (want %d)", Version)
		return d
	}
	d.b = b[1:]
	return d
}

func (d *Decoder) Uint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	for i := 0; i < 10 && i < len(d.b); i++ {
		c := d.b[i]
		if i == 9 && c > 1 {
			break
		}
		if i > 0 && c == 0 {
			break // not the shortest form: one value, one encoding
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			d.b = d.b[i+1:]
			return v
		}
	}
	d.err = ErrTruncated
	return 0
}

func (d *Decoder) Int() int64 {
	u := d.Uint()
	return int64(u>>1) ^ -int64(u&1)
}

// count reads a count of items each at least min bytes long, refusing
// counts the rest of the value cannot hold.
func (d *Decoder) Count(minSize int) int {
	n := d.Uint()
	if d.err == nil && n > uint64(len(d.b)/minSize) {
		d.err = ErrTruncated
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

func (d *Decoder) Str() string {
	n := d.Uint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = ErrTruncated
	}
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *Decoder) FP() auditlog.Fingerprint {
	if d.err == nil && len(d.b) < fingerprintSize {
		d.err = ErrTruncated
	}
	if d.err != nil {
		return auditlog.Fingerprint{}
	}
	var c, w uint64
	for i := range 8 {
		c = c<<8 | uint64(d.b[i])
		w = w<<8 | uint64(d.b[8+i])
	}
	d.b = d.b[fingerprintSize:]
	return auditlog.Fingerprint{CreatedAt: int64(c), Who: uint32(w >> 32), Type: uint32(w)}
}

// Err returns the first error so far.
func (d *Decoder) Err() error { return d.err }

// Fail marks the value malformed: a field decoded but is not valid.
func (d *Decoder) Fail() {
	if d.err == nil {
		d.err = ErrTruncated
	}
}

// End reports the first error, or trailing bytes.
func (d *Decoder) End() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = ErrTruncated
	}
	return d.err
}

// encodeChunk: version, expires, count, then per entry its key and
// fingerprint.
func encodeChunk(items []Item, expires int64) []byte {
	n := 2 * BinaryMaxVarint
	for _, it := range items {
		n += BinaryMaxVarint + len(it.Key) + fingerprintSize
	}
	e := NewEncoder(n).Int(expires).Uint(uint64(len(items)))
	for _, it := range items {
		e = e.Str(it.Key).FP(it.FP)
	}
	return e
}

// BinaryMaxVarint is the most bytes a varint takes.
const BinaryMaxVarint = 10

// decodeChunk adds a chunk's entries to into (the latest expiry wins).
func decodeChunk(b []byte, into map[string]storedEntry) error {
	d := NewDecoder(b)
	expires := d.Int()
	n := d.Count(1 + fingerprintSize)
	type kv struct {
		k  string
		fp auditlog.Fingerprint
	}
	items := make([]kv, 0, n)
	for range n {
		k := d.Str()
		fp := d.FP()
		items = append(items, kv{k, fp})
	}
	if err := d.End(); err != nil {
		return err
	}
	for _, it := range items {
		if expires > into[it.k].expires {
			into[it.k] = storedEntry{expires: expires, fp: it.fp}
		}
	}
	return nil
}

func encodeStateMeta(m stateMeta) []byte {
	e := NewEncoder(2*BinaryMaxVarint + len(m.segments)*5*BinaryMaxVarint).Uint(m.base).Uint(m.next).Uint(uint64(len(m.segments)))
	for _, s := range m.segments {
		e = e.Uint(s.first).Uint(s.next - s.first).Uint(s.entries).Int(s.opened).Int(s.expires)
	}
	return e
}

func decodeStateMeta(b []byte) (stateMeta, error) {
	d := NewDecoder(b)
	var m stateMeta
	m.base, m.next = d.Uint(), d.Uint()
	n := d.Count(5)
	prev := m.base
	for range n {
		var s segment
		s.first = d.Uint()
		s.next = s.first + d.Uint()
		s.entries, s.opened, s.expires = d.Uint(), d.Int(), d.Int()
		if d.err == nil && (s.first < prev || s.next < s.first || s.next > m.next) {
			d.err = errors.New("segments out of order")
		}
		prev = s.next
		m.segments = append(m.segments, s)
	}
	if err := d.End(); err != nil {
		return stateMeta{}, fmt.Errorf("malformed %s: %w", stateMetaKey, err)
	}
	return m, nil
}
