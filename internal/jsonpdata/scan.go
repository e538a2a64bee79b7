// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package jsonpdata

// enter moves past the '{' or '[' at d.i and the space after it, one
// nesting level down. more is false when the object or array is empty (it
// is then closed already) or err is set; otherwise d.i is at the first
// key or element.
func (d *decoder) enter() (more bool, err error) {
	d.depth++
	if d.depth > maxDepth {
		return false, d.errf("nesting deeper than %d levels", maxDepth)
	}
	end := byte('}')
	if d.s[d.i] == '[' {
		end = ']'
	}
	d.i++
	d.skipSpace()
	if d.i < len(d.s) && d.s[d.i] == end {
		d.i++
		d.depth--
		return false, nil
	}
	return true, nil
}

// key reads a member's key and the ':' after it, leaving d.i at the value.
// With decode false the key is checked but not decoded, and "" returned.
func (d *decoder) key(decode bool) (string, error) {
	if d.i >= len(d.s) || d.s[d.i] != '"' {
		return "", d.errf("expected a string key")
	}
	start := d.i
	var k string
	var err error
	if decode {
		k, err = d.str()
	} else {
		err = d.skipString()
	}
	if err != nil {
		return "", err
	}
	raw := d.s[start:d.i]
	d.skipSpace()
	if d.i >= len(d.s) || d.s[d.i] != ':' {
		// The key quoted, cut to 40 characters: errors are shown to the
		// sender, and a key can be megabytes long.
		return "", d.errf("expected ':' after key %.40q", raw[1:len(raw)-1])
	}
	d.i++
	d.skipSpace()
	return k, nil
}

// next moves past what follows a member or an element: a ',' and the
// space after it (more is true, d.i is at the next key or element), or the
// end byte ('}' or ']') that closes the object or array, one nesting level
// up. It is small enough to be inlined where the input has no space
// before the ',' or the end byte (as GitLab writes it); nextSpaced does
// the rest.
func (d *decoder) next(end byte) (more bool, err error) {
	if d.i < len(d.s) {
		switch d.s[d.i] {
		case ',':
			d.i++
			if d.i < len(d.s) && d.s[d.i] <= ' ' {
				d.skipSpace()
			}
			return true, nil
		case end:
			d.i++
			d.depth--
			return false, nil
		}
	}
	return d.nextSpaced(end)
}

// nextSpaced is next where space comes first, or what comes is wrong.
func (d *decoder) nextSpaced(end byte) (more bool, err error) {
	d.skipSpace()
	if d.i < len(d.s) && (d.s[d.i] == ',' || d.s[d.i] == end) {
		return d.next(end)
	}
	what := "object"
	if end == ']' {
		what = "array"
	}
	if d.i >= len(d.s) {
		return false, d.errf("unterminated %s", what)
	}
	return false, d.errf("expected ',' or '%c' in %s", end, what)
}

// skip moves past the value at d.i, checking that it is well-formed.
func (d *decoder) skip() error {
	if d.i >= len(d.s) {
		return d.errf("expected a value")
	}
	switch d.s[d.i] {
	case '"':
		return d.skipString()
	case '{':
		more, err := d.enter()
		for more {
			if _, err = d.key(false); err != nil {
				return err
			}
			if err = d.skip(); err != nil {
				return err
			}
			more, err = d.next('}')
		}
		return err
	case '[':
		more, err := d.enter()
		for more {
			if err = d.skip(); err != nil {
				return err
			}
			more, err = d.next(']')
		}
		return err
	case 't', 'f', 'n':
		_, _, err := d.literal()
		return err
	default:
		_, _, _, err := d.number()
		return err
	}
}

// fields reads the object at d.s[d.i] == '{', calling fn with each key
// and the raw text of its value, until fn returns false (stopped) or the
// object ends; d.i is then past the object.
func (d *decoder) fields(fn func(key, raw string) bool) (stopped bool, err error) {
	more, err := d.enter()
	for more {
		var k string
		if k, err = d.key(true); err != nil {
			return false, err
		}
		start := d.i
		if err = d.skip(); err != nil {
			return false, err
		}
		if !fn(k, d.s[start:d.i]) {
			return true, nil
		}
		more, err = d.next('}')
	}
	return false, err
}

// Fields calls fn with every top-level key of the JSON object obj and the
// raw text of its value, until fn returns false. Nested values are skipped
// without being decoded.
func Fields(obj string, fn func(key, raw string) bool) error {
	d := decoder{s: obj}
	d.skipSpace()
	if d.i >= len(d.s) || d.s[d.i] != '{' {
		return d.errf("expected a JSON object")
	}
	_, err := d.fields(fn)
	return err
}

// ScanArray reads src, which must hold one JSON value, in one pass. When
// it is an array, ScanArray calls, for each element that is an object,
// field (unless nil) with every top-level key and the raw text of its
// value, then, for every element, elem with its index, its byte offset in
// src and its text (without surrounding space). When src is valid JSON
// but not an array, ScanArray returns isArray false and calls neither.
//
// src is checked as it is read: when it is malformed, the error is
// returned after field and elem have seen the elements before the fault,
// and the caller must discard what it did with them. In exchange, src is
// read once, and the top level of every object is read in the same pass.
// An error returned by elem stops the scan and is returned.
func ScanArray(src string, field func(key, raw string), elem func(index, offset int, elem string) error) (isArray bool, err error) {
	d := decoder{s: src}
	d.skipSpace()
	if d.i >= len(d.s) {
		return false, d.errf("empty input")
	}
	if d.s[d.i] != '[' {
		if err := d.skip(); err != nil {
			return false, err
		}
		d.skipSpace()
		if d.i != len(d.s) {
			return false, d.errf("unexpected data after the JSON value")
		}
		return false, nil
	}
	all := func(k, raw string) bool {
		field(k, raw)
		return true
	}
	more, err := d.enter()
	for n := 0; more; n++ {
		start := d.i
		if field != nil && d.i < len(d.s) && d.s[d.i] == '{' {
			_, err = d.fields(all)
		} else {
			err = d.skip()
		}
		if err != nil {
			return true, err
		}
		if err = elem(n, start, src[start:d.i]); err != nil {
			return true, err
		}
		more, err = d.next(']')
	}
	if err != nil {
		return true, err
	}
	d.skipSpace()
	if d.i != len(d.s) {
		return true, d.errf("unexpected data after the JSON array")
	}
	return true, nil
}

// Unquote decodes a raw JSON string value (with its quotes). ok is false
// when raw is not a JSON string.
func Unquote(raw string) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	d := decoder{s: raw}
	s, err := d.str()
	if err != nil || d.i != len(raw) {
		return "", false
	}
	return s, true
}

// skipString moves past the string at d.i, checking escapes.
func (d *decoder) skipString() error {
	i := d.i + 1
	for i < len(d.s) {
		for i < len(d.s) && !strStop[d.s[i]] {
			i++
		}
		if i >= len(d.s) {
			break
		}
		switch c := d.s[i]; {
		case c == '"':
			d.i = i + 1
			return nil
		case c == '\\':
			if i+1 >= len(d.s) {
				d.i = i
				return d.errf("unterminated string")
			}
			switch d.s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(d.s, i+2); !ok {
					d.i = i
					return d.errf("invalid \\u escape")
				}
				i += 6
			default:
				d.i = i
				return d.errf("invalid escape \\%c", d.s[i+1])
			}
		case c < 0x20:
			d.i = i
			return d.errf("control character in string")
		default:
			i++
		}
	}
	d.i = i
	return d.errf("unterminated string")
}
