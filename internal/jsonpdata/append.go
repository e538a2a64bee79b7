// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package jsonpdata

import (
	"math"
	"strconv"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// AppendJSON appends the JSON text of v to buf, keeping map keys in their
// stored order. Empty values are written as null, bytes as a base64
// string, non-finite doubles as strings.
func AppendJSON(buf []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return AppendString(buf, v.Str())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(buf, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return AppendString(buf, strconv.FormatFloat(f, 'g', -1, 64))
		}
		n := len(buf)
		buf = strconv.AppendFloat(buf, f, 'g', -1, 64)
		for _, c := range buf[n:] {
			if c == '.' || c == 'e' {
				return buf
			}
		}
		// Keep integral doubles recognisable as doubles.
		return append(buf, '.', '0')
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(buf, v.Bool())
	case pcommon.ValueTypeMap:
		buf = append(buf, '{')
		first := true
		v.Map().Range(func(k string, e pcommon.Value) bool {
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = AppendString(buf, k)
			buf = append(buf, ':')
			buf = AppendJSON(buf, e)
			return true
		})
		return append(buf, '}')
	case pcommon.ValueTypeSlice:
		buf = append(buf, '[')
		sl := v.Slice()
		for i := 0; i < sl.Len(); i++ {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = AppendJSON(buf, sl.At(i))
		}
		return append(buf, ']')
	case pcommon.ValueTypeBytes:
		return AppendString(buf, v.AsString())
	default:
		return append(buf, "null"...)
	}
}

const hexDigits = "0123456789abcdef"

// AppendString appends s to buf as a JSON string. Invalid UTF-8 is
// written as U+FFFD, as encoding/json does.
func AppendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, "\ufffd"...)
			i++
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
