// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// listParams are the parsed query parameters of a list request.
type listParams struct {
	w        window
	page     int
	perPage  int // clamped
	keyset   bool
	orderBy  string
	sort     string
	cursor   string
	entity   string // instance endpoint: entity_type filter
	entityID int64
	hasEntID bool
}

// lastValue returns the last value of a query parameter, as Rack does.
func lastValue(q url.Values, key string) (string, bool) {
	vs, ok := q[key]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// parseList validates the query like Grape does; it returns the messages of
// every invalid parameter, which GitLab joins into a 400 body.
func (s *Sim) parseList(q url.Values, instance bool) (listParams, []string) {
	p := listParams{w: fullWindow, page: 1, perPage: 20}
	var errs []string
	if v, ok := lastValue(q, "created_after"); ok && v != "" {
		t, err := parseDateTime(v)
		if err != nil {
			errs = append(errs, "created_after is invalid")
		} else {
			p.w.after = t.UnixMicro()
		}
	}
	if v, ok := lastValue(q, "created_before"); ok && v != "" {
		t, err := parseDateTime(v)
		if err != nil {
			errs = append(errs, "created_before is invalid")
		} else {
			p.w.before = t.UnixMicro()
		}
	}
	if instance {
		if v, ok := lastValue(q, "entity_type"); ok {
			switch v {
			case EntityUser, EntityGroup, EntityProject, EntityInstance:
				p.entity = v
			default:
				errs = append(errs, "entity_type does not have a valid value")
			}
		}
		if v, ok := lastValue(q, "entity_id"); ok {
			id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				errs = append(errs, "entity_id is invalid")
			} else {
				p.entityID, p.hasEntID = id, true
			}
			if _, hasType := q["entity_type"]; !hasType {
				errs = append(errs, "entity_type is missing")
			}
		}
	}
	if v, ok := lastValue(q, "page"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case err != nil:
			errs = append(errs, "page is invalid")
		case n <= 0:
			errs = append(errs, "page does not have a valid value")
		default:
			p.page = n
		}
	}
	if v, ok := lastValue(q, "per_page"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case err != nil:
			errs = append(errs, "per_page is invalid")
		case n <= 0:
			errs = append(errs, "per_page does not have a valid value")
		default:
			p.perPage = min(n, s.opts.MaxPerPage)
		}
	}
	p.perPage = min(p.perPage, s.opts.MaxPerPage)
	if v, _ := lastValue(q, "pagination"); v == "keyset" {
		p.keyset = true
	}
	p.orderBy, _ = lastValue(q, "order_by")
	p.sort, _ = lastValue(q, "sort")
	p.cursor, _ = lastValue(q, "cursor")
	return p, errs
}

// parseDateTime parses a created_after/created_before value like Grape's
// DateTime coercion: RFC 3339 with optional fraction and offset, a space
// instead of T, a missing zone (UTC), a date alone, and an offset whose "+"
// was decoded to a space because it was not sent as %2B. The result is
// truncated to microseconds, the precision of the database.
func parseDateTime(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	// "2017-10-17T23:11:13.000 05:30": a "+" decoded as a space.
	if n := len(v); n > 6 && v[n-6] == ' ' && v[n-3] == ':' && isDigits(v[n-5:n-3]) && isDigits(v[n-2:]) && strings.Count(v, " ") == 1 && strings.ContainsRune(v, 'T') {
		v = v[:n-6] + "+" + v[n-5:]
	}
	layouts := []string{
		"2006-01-02T15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999Z0700",
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999 Z07:00",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04",
		"2006-01-02",
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.Truncate(time.Microsecond).UTC(), nil
		}
	}
	// Lower-case z and t, which Ruby accepts.
	if up := strings.ToUpper(v); up != v {
		return parseDateTime(up)
	}
	return time.Time{}, errors.New("invalid date time")
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// cursorData is the content of a keyset cursor, as GitLab's cursor-based
// keyset paginator encodes it: the last id, and the direction ("n" = next).
type cursorData struct {
	ID string `json:"id"`
	KD string `json:"_kd"`
}

func encodeCursor(id int64) string {
	b, _ := json.Marshal(cursorData{ID: strconv.FormatInt(id, 10), KD: "n"})
	return base64.URLEncoding.EncodeToString(b)
}

func decodeCursor(c string) (int64, error) {
	raw, err := base64.URLEncoding.DecodeString(c)
	if err != nil {
		raw, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(c, "="))
		if err != nil {
			return 0, err
		}
	}
	var d cursorData
	if err := json.Unmarshal(raw, &d); err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(d.ID, 10, 64)
	if err != nil {
		return 0, err
	}
	if d.KD != "" && d.KD != "n" {
		return 0, errors.New("unsupported cursor direction")
	}
	return id, nil
}

// positionBelow turns a cursor id into an exclusive store position bound.
func (st *store) positionBelow(id int64) int32 {
	p := id - st.firstID
	switch {
	case p < 0:
		return 0
	case p > math.MaxInt32:
		return math.MaxInt32
	}
	return int32(p)
}
