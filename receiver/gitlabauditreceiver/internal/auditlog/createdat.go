// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package auditlog // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"

import (
	"fmt"
	"math"
	"time"
)

// The created_at a record can carry: its timestamp is nanoseconds since
// 1970 (pdata's Timestamp is unsigned, Go's UnixNano an int64), so a time
// before 1970 would wrap to the year 2554 and one after April 2262 would
// overflow. GitLab writes neither; such a value is refused.
var (
	minCreatedAt = time.Unix(0, 0).UTC()
	maxCreatedAt = time.Unix(0, math.MaxInt64).UTC()
)

// parseCreatedAt reads created_at (RFC 3339) and checks that a record's
// timestamp can hold it. Errors quote at most a few dozen bytes of it.
func parseCreatedAt(text string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return time.Time{}, fmt.Errorf(`"created_at" %s is not an RFC 3339 time`, quoteBounded(text))
	}
	if t.Before(minCreatedAt) || t.After(maxCreatedAt) {
		return time.Time{}, fmt.Errorf(`"created_at" %s is outside the times a record can hold (1970-01-01 to 2262-04-11 UTC)`, quoteBounded(text))
	}
	return t, nil
}
