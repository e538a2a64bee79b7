// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package jsonpdata decodes JSON straight into pdata values, without the
// intermediate map[string]any that encoding/json builds. It is the hot path
// of the gitlab_audit receiver: every polled page and every streamed
// request goes through it.
//
// The input is a string. Decoded strings that need no unescaping are
// substrings of the input, so they cost no allocation and keep the input
// alive while they are referenced. Integers that fit in an int64 become Int
// values, other numbers Double values, null an empty value; integers beyond
// int64 and numbers beyond float64 keep their exact text as a Str value (as
// a float64, two distinct large ids would become one): nothing GitLab sent
// is lost or rounded. Invalid UTF-8 is replaced by U+FFFD, as
// encoding/json does, so that every string can be exported over OTLP.
//
// Objects and arrays nested deeper than [MaxTreeDepth] levels are kept as
// their JSON text, a string value, so that the values can be carried by
// OTLP protobuf (whose decoders refuse deeper values); input nested deeper
// than 64 levels is refused.
//
// The entry points: [DecodeObject] decodes one event into a map;
// [ScanArray], the one splitter, reads a page or a request body in one
// pass, handing out each element's text (and the top-level members of
// each object); [Fields] reads the top level of one object; [Unquote]
// decodes one string; [AppendJSON] and [AppendString] write JSON back.
// One grammar serves them all: the decoder's enter, key and next methods
// (scan.go) step through the members of an object and the elements of an
// array, and decoding, checking (skip) and scanning are loops over them.
package jsonpdata // import "github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// maxDepth bounds nesting so that hostile input cannot exhaust the stack:
// deeper input is refused.
const maxDepth = 64

// MaxTreeDepth is the deepest nesting decoded into maps and slices,
// counting the outermost object or array as level 1. An object or array
// that would be at level MaxTreeDepth+1 is kept, with everything in it, as
// a string holding its JSON text as sent: nothing is lost, and the value
// stays within what OTLP protobuf carries.
//
// pdata's protobuf decoder (the persistent sending queue, OTLP/gRPC and
// OTLP/HTTP receivers downstream) refuses messages nested 100 deep
// (AnyValue, KeyValueList, KeyValue and ArrayValue each count one), which
// is 33 levels of JSON objects in a log record's body
// (TestMaxTreeDepthSurvivesProtobuf measures it). 24 leaves room for
// processors that move a body under an attribute or wrap it in a map.
const MaxTreeDepth = 24

// The number of entries a decoded object's map is first given, rather
// than growing it one, two, four... entries at a time: a GitLab audit
// event has 10 to 16 keys at its top level and most often 9 to 12 in
// details (the simulator's 2,000 events of section 1 of BENCHMARKS.md:
// 13 to 16 at the top, 9 to 12 in details, 2 in a custom_message
// object). Sized so, the maps of an event are allocated once: a map that
// grew from 8 entries was allocated twice and copied
// (BenchmarkStreamHandler: 2 allocations and 0.8 KB less per event).
const (
	rootMapCapacity    = 16
	initialMapCapacity = 12
)

// SyntaxError reports malformed JSON and where it was found.
type SyntaxError struct {
	Offset int    // byte offset in the input
	Msg    string // what was wrong
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

type decoder struct {
	s          string
	i          int
	depth      int
	lastNumber string
}

func (d *decoder) errf(format string, args ...any) error {
	return &SyntaxError{Offset: d.i, Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) skipSpace() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// DecodeObject decodes src, which must hold exactly one JSON object, into
// m. m is cleared first.
func DecodeObject(src string, m pcommon.Map) error {
	d := decoder{s: src}
	d.skipSpace()
	if d.i >= len(d.s) || d.s[d.i] != '{' {
		return d.errf("expected a JSON object")
	}
	m.Clear()
	m.EnsureCapacity(rootMapCapacity)
	if err := d.object(m); err != nil {
		return err
	}
	d.skipSpace()
	if d.i != len(d.s) {
		return d.errf("unexpected data after the JSON object")
	}
	return nil
}

// object decodes the object starting at d.s[d.i] == '{' into m.
func (d *decoder) object(m pcommon.Map) error {
	more, err := d.enter()
	if more && m.Len() == 0 {
		m.EnsureCapacity(initialMapCapacity)
	}
	for more {
		var key string
		if key, err = d.key(true); err != nil {
			return err
		}
		if err = d.valueInto(m, key); err != nil {
			return err
		}
		more, err = d.next('}')
	}
	return err
}

// array decodes the array starting at d.s[d.i] == '[' into sl.
func (d *decoder) array(sl pcommon.Slice) error {
	more, err := d.enter()
	for more {
		if err = d.value(sl.AppendEmpty()); err != nil {
			return err
		}
		more, err = d.next(']')
	}
	return err
}

// valueInto decodes the value at d.i as m[key]. Scalars use the typed Put
// methods, which are cheaper than PutEmpty followed by a setter.
func (d *decoder) valueInto(m pcommon.Map, key string) error {
	if d.i >= len(d.s) {
		return d.errf("expected a value")
	}
	switch d.s[d.i] {
	case '"':
		s, err := d.str()
		if err != nil {
			return err
		}
		m.PutStr(key, s)
	case '{', '[':
		if d.depth >= MaxTreeDepth {
			s, err := d.rawText()
			if err != nil {
				return err
			}
			m.PutStr(key, s)
			return nil
		}
		if d.s[d.i] == '{' {
			return d.object(m.PutEmptyMap(key))
		}
		return d.array(m.PutEmptySlice(key))
	case 't', 'f', 'n':
		b, isNull, err := d.literal()
		if err != nil {
			return err
		}
		if isNull {
			m.PutEmpty(key)
		} else {
			m.PutBool(key, b)
		}
	default:
		iv, fv, kind, err := d.number()
		if err != nil {
			return err
		}
		switch kind {
		case numInt:
			m.PutInt(key, iv)
		case numFloat:
			m.PutDouble(key, fv)
		default:
			m.PutStr(key, d.lastNumber)
		}
	}
	return nil
}

// value decodes the value at d.i into v.
func (d *decoder) value(v pcommon.Value) error {
	if d.i >= len(d.s) {
		return d.errf("expected a value")
	}
	switch d.s[d.i] {
	case '"':
		s, err := d.str()
		if err != nil {
			return err
		}
		v.SetStr(s)
	case '{', '[':
		if d.depth >= MaxTreeDepth {
			s, err := d.rawText()
			if err != nil {
				return err
			}
			v.SetStr(s)
			return nil
		}
		if d.s[d.i] == '{' {
			return d.object(v.SetEmptyMap())
		}
		return d.array(v.SetEmptySlice())
	case 't', 'f', 'n':
		b, isNull, err := d.literal()
		if err != nil {
			return err
		}
		if !isNull {
			v.SetBool(b)
		}
	default:
		iv, fv, kind, err := d.number()
		if err != nil {
			return err
		}
		switch kind {
		case numInt:
			v.SetInt(iv)
		case numFloat:
			v.SetDouble(fv)
		default:
			v.SetStr(d.lastNumber)
		}
	}
	return nil
}

// rawText checks the value at d.i and returns its JSON text as sent, with
// invalid UTF-8 replaced as in every other string.
func (d *decoder) rawText() (string, error) {
	start := d.i
	if err := d.skip(); err != nil {
		return "", err
	}
	s := d.s[start:d.i]
	if !utf8.ValidString(s) {
		s = fixUTF8(s)
	}
	return s, nil
}

func (d *decoder) literal() (b, isNull bool, err error) {
	rest := d.s[d.i:]
	switch {
	case strings.HasPrefix(rest, "true"):
		d.i += 4
		return true, false, nil
	case strings.HasPrefix(rest, "false"):
		d.i += 5
		return false, false, nil
	case strings.HasPrefix(rest, "null"):
		d.i += 4
		return false, true, nil
	}
	return false, false, d.errf("invalid literal")
}

type numKind uint8

const (
	numInt   numKind = iota // fits an int64
	numFloat                // a float64
	numText                 // out of float64 range: kept as its literal text
)

// number parses a JSON number. Integers that fit an int64 are returned as
// such, other numbers as a float64; an integer beyond int64 or a number
// beyond the float64 range is reported as numText and its literal is left in d.lastNumber, so that it
// is kept as written rather than turned into an infinity.
func (d *decoder) number() (int64, float64, numKind, error) {
	start := d.i
	isFloat := false
	if d.i < len(d.s) && d.s[d.i] == '-' {
		d.i++
	}
	if d.i >= len(d.s) {
		return 0, 0, 0, d.errf("invalid number")
	}
	switch {
	case d.s[d.i] == '0':
		d.i++
	case d.s[d.i] >= '1' && d.s[d.i] <= '9':
		for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
			d.i++
		}
	default:
		return 0, 0, 0, d.errf("invalid character %q looking for a value", d.s[d.i])
	}
	if d.i < len(d.s) && d.s[d.i] == '.' {
		isFloat = true
		d.i++
		digits := d.i
		for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
			d.i++
		}
		if d.i == digits {
			return 0, 0, 0, d.errf("invalid number: no digit after '.'")
		}
	}
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		isFloat = true
		d.i++
		if d.i < len(d.s) && (d.s[d.i] == '+' || d.s[d.i] == '-') {
			d.i++
		}
		digits := d.i
		for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
			d.i++
		}
		if d.i == digits {
			return 0, 0, 0, d.errf("invalid number: no digit in exponent")
		}
	}
	lit := d.s[start:d.i]
	if !isFloat {
		iv, err := strconv.ParseInt(lit, 10, 64)
		if err == nil {
			return iv, 0, numInt, nil
		}
		// Beyond int64: the exact text, not a rounded float64 (ids
		// 18446744073709551616 and ...617 must stay distinct).
		d.lastNumber = lit
		return 0, 0, numText, nil
	}
	fv, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) && !math.IsInf(fv, 0) {
			return 0, fv, numFloat, nil // underflow to zero
		}
		if errors.Is(err, strconv.ErrRange) {
			d.lastNumber = lit
			return 0, 0, numText, nil
		}
		return 0, 0, 0, &SyntaxError{Offset: start, Msg: "invalid number " + lit}
	}
	return 0, fv, numFloat, nil
}

// strStop marks the bytes that end the fast scan of a string's content:
// the closing quote, the backslash of an escape, control characters (which
// JSON forbids in strings) and non-ASCII bytes (whose UTF-8 must be
// checked). One table lookup per byte is cheaper than four comparisons.
var strStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	for c := utf8.RuneSelf; c < 256; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// str decodes the string starting at d.s[d.i] == '"'.
func (d *decoder) str() (string, error) {
	start := d.i + 1
	i := start
	ascii := true
	for {
		for i < len(d.s) && !strStop[d.s[i]] {
			i++
		}
		if i >= len(d.s) {
			d.i = i
			return "", d.errf("unterminated string")
		}
		switch c := d.s[i]; {
		case c == '"':
			s := d.s[start:i]
			d.i = i + 1
			if !ascii && !utf8.ValidString(s) {
				s = fixUTF8(s)
			}
			return s, nil
		case c == '\\':
			return d.unescape(start)
		case c < 0x20:
			d.i = i
			return "", d.errf("control character in string")
		default:
			ascii = false
			i++
		}
	}
}

// unescaped maps the character after a backslash to what it stands for,
// for the one-character escapes of JSON (RFC 8259, section 7).
var unescaped = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// unescape decodes a string that holds escapes, from start (just after the
// opening quote).
func (d *decoder) unescape(start int) (string, error) {
	var b strings.Builder
	b.Grow(len(d.s) - start)
	i := start
	for i < len(d.s) {
		c := d.s[i]
		switch {
		case c == '"':
			d.i = i + 1
			s := b.String()
			if !utf8.ValidString(s) {
				s = fixUTF8(s)
			}
			return s, nil
		case c < 0x20:
			d.i = i
			return "", d.errf("control character in string")
		case c != '\\':
			j := i + 1
			for j < len(d.s) && d.s[j] != '\\' && d.s[j] != '"' && d.s[j] >= 0x20 {
				j++
			}
			b.WriteString(d.s[i:j])
			i = j
			continue
		}
		// c == '\\'
		if i+1 >= len(d.s) {
			break
		}
		switch e := d.s[i+1]; e {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			b.WriteByte(unescaped[e])
			i += 2
		case 'u':
			r, ok := hex4(d.s, i+2)
			if !ok {
				d.i = i
				return "", d.errf("invalid \\u escape")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(0), false
				if i+6 <= len(d.s) && d.s[i] == '\\' && d.s[i+1] == 'u' {
					r2, ok2 = hex4(d.s, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			b.WriteRune(r)
		default:
			d.i = i
			return "", d.errf("invalid escape \\%c", e)
		}
	}
	d.i = i
	return "", d.errf("unterminated string")
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// fixUTF8 replaces every byte of an invalid UTF-8 sequence by U+FFFD, as
// encoding/json does.
func fixUTF8(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
