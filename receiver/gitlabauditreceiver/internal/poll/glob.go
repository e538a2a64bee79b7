// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"fmt"
	"regexp"
	"strings"
)

// CompileGlob turns a full-path glob into a regular expression: "**"
// matches any run of characters, "*" any run without "/", "?" one
// character but "/".
func CompileGlob(p string) (*regexp.Regexp, error) {
	if p == "" {
		return nil, fmt.Errorf("empty pattern")
	}
	if strings.TrimSpace(p) != p || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return nil, fmt.Errorf("%q must be a full path pattern without surrounding spaces or slashes, e.g. acme/sandbox/**", p)
	}
	var b strings.Builder
	b.WriteString("(?i)^")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			if i+1 < len(p) && p[i+1] == '*' {
				i++
				// "a/**" also matches "a" itself.
				if i+1 == len(p) && strings.HasSuffix(b.String(), "/") {
					s := strings.TrimSuffix(b.String(), "/")
					b.Reset()
					b.WriteString(s)
					b.WriteString("(/.*)?")
					continue
				}
				b.WriteString(".*")
				continue
			}
			b.WriteString("[^/]*")
		case '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
