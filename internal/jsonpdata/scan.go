package jsonpdata

// ForEachElement calls fn with each element of src and its byte offset in
// src: src itself when it holds one JSON value that is not an array, or
// every element of a JSON array. Elements are substrings of src with
// surrounding space removed. The
// whole input is checked to be well-formed JSON before fn is first called,
// so a malformed body is refused as a whole and nothing is half-consumed.
func ForEachElement(src string, fn func(index, offset int, elem string) error) (isArray bool, err error) {
	d := decoder{s: src}
	d.skipSpace()
	if d.i >= len(d.s) {
		return false, d.errf("empty input")
	}
	if d.s[d.i] != '[' {
		start := d.i
		if err := d.skip(); err != nil {
			return false, err
		}
		end := d.i
		d.skipSpace()
		if d.i != len(d.s) {
			return false, d.errf("unexpected data after the JSON value")
		}
		return false, fn(0, start, src[start:end])
	}
	// Validate first, then iterate.
	if err := d.skip(); err != nil {
		return true, err
	}
	d.skipSpace()
	if d.i != len(d.s) {
		return true, d.errf("unexpected data after the JSON array")
	}
	d = decoder{s: src}
	d.skipSpace()
	d.i++ // '['
	for n := 0; ; n++ {
		d.skipSpace()
		if d.s[d.i] == ']' {
			return true, nil
		}
		start := d.i
		_ = d.skip() // already validated
		if err := fn(n, start, src[start:d.i]); err != nil {
			return true, err
		}
		d.skipSpace()
		if d.s[d.i] == ',' {
			d.i++
		}
	}
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

// fields reads the object at d.s[d.i] == '{', calling fn with each key
// and the raw text of its value, until fn returns false (stopped) or the
// object ends; d.i is then past the object.
func (d *decoder) fields(fn func(key, raw string) bool) (stopped bool, err error) {
	d.depth++
	if d.depth > maxDepth {
		return false, d.errf("nesting deeper than %d levels", maxDepth)
	}
	d.i++ // '{'
	d.skipSpace()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		d.depth--
		return false, nil
	}
	for {
		d.skipSpace()
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return false, d.errf("expected a string key")
		}
		key, err := d.str()
		if err != nil {
			return false, err
		}
		d.skipSpace()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			return false, d.errf("expected ':' after key %q", key)
		}
		d.i++
		d.skipSpace()
		start := d.i
		if err := d.skip(); err != nil {
			return false, err
		}
		if !fn(key, d.s[start:d.i]) {
			return true, nil
		}
		d.skipSpace()
		if d.i >= len(d.s) {
			return false, d.errf("unterminated object")
		}
		switch d.s[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			d.depth--
			return false, nil
		default:
			return false, d.errf("expected ',' or '}' in object")
		}
	}
}

// ScanArray reads the JSON array src in one pass. For each element that
// is an object it calls field with every top-level key and the raw text
// of its value, then, for every element, elem with its index, its byte
// offset in src and its text. When src is valid JSON but not an array,
// ScanArray returns isArray false and calls neither.
//
// Unlike ForEachElement, src is checked as it is read: when it is
// malformed, the error is returned after field and elem have seen the
// elements before the fault, and the caller must discard what it did
// with them. In exchange, src is read once instead of twice, and the top
// level of every object is read in the same pass.
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
	d.i++ // '['
	d.depth++
	d.skipSpace()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
	} else {
		all := func(k, raw string) bool {
			field(k, raw)
			return true
		}
		for n := 0; ; n++ {
			d.skipSpace()
			start := d.i
			if d.i < len(d.s) && d.s[d.i] == '{' {
				if _, err := d.fields(all); err != nil {
					return true, err
				}
			} else if err := d.skip(); err != nil {
				return true, err
			}
			if err := elem(n, start, src[start:d.i]); err != nil {
				return true, err
			}
			d.skipSpace()
			if d.i >= len(d.s) {
				return true, d.errf("unterminated array")
			}
			if d.s[d.i] == ']' {
				d.i++
				break
			}
			if d.s[d.i] != ',' {
				return true, d.errf("expected ',' or ']' in array")
			}
			d.i++
		}
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

// skip moves past the value at d.i, checking that it is well-formed.
func (d *decoder) skip() error {
	if d.i >= len(d.s) {
		return d.errf("expected a value")
	}
	switch d.s[d.i] {
	case '"':
		return d.skipString()
	case '{':
		d.depth++
		if d.depth > maxDepth {
			return d.errf("nesting deeper than %d levels", maxDepth)
		}
		d.i++
		d.skipSpace()
		if d.i < len(d.s) && d.s[d.i] == '}' {
			d.i++
			d.depth--
			return nil
		}
		for {
			d.skipSpace()
			if d.i >= len(d.s) || d.s[d.i] != '"' {
				return d.errf("expected a string key")
			}
			if err := d.skipString(); err != nil {
				return err
			}
			d.skipSpace()
			if d.i >= len(d.s) || d.s[d.i] != ':' {
				return d.errf("expected ':' after key")
			}
			d.i++
			d.skipSpace()
			if err := d.skip(); err != nil {
				return err
			}
			d.skipSpace()
			if d.i >= len(d.s) {
				return d.errf("unterminated object")
			}
			switch d.s[d.i] {
			case ',':
				d.i++
			case '}':
				d.i++
				d.depth--
				return nil
			default:
				return d.errf("expected ',' or '}' in object")
			}
		}
	case '[':
		d.depth++
		if d.depth > maxDepth {
			return d.errf("nesting deeper than %d levels", maxDepth)
		}
		d.i++
		d.skipSpace()
		if d.i < len(d.s) && d.s[d.i] == ']' {
			d.i++
			d.depth--
			return nil
		}
		for {
			d.skipSpace()
			if err := d.skip(); err != nil {
				return err
			}
			d.skipSpace()
			if d.i >= len(d.s) {
				return d.errf("unterminated array")
			}
			switch d.s[d.i] {
			case ',':
				d.i++
			case ']':
				d.i++
				d.depth--
				return nil
			default:
				return d.errf("expected ',' or ']' in array")
			}
		}
	case 't', 'f', 'n':
		_, _, err := d.literal()
		return err
	default:
		_, _, _, err := d.number()
		return err
	}
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
