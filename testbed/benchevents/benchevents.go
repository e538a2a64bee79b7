// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package benchevents provides realistic GitLab audit events for
// benchmarks and load tests, drawn from the project's GitLab simulator.
//
// An event is kept as a Template: its streaming JSON with a hole where the
// id goes, so that every request of a load test can carry a distinct event
// (the gitlab_audit receiver de-duplicates on entity type and id, and would
// otherwise drop repeated events before they reach the pipeline). The same
// event can be rendered as a one-record OTLP/HTTP JSON logs request, with
// the event as a structured body (kvlist) or as a string body, so that the
// collector's own OTLP receiver can be loaded with the very same events.
package benchevents // import "github.com/kyra-mdr/otelcol-gitlab/testbed/benchevents"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// Resource and scope of the OTLP requests: what the gitlab_audit receiver
// writes on its own batches.
const (
	resourceProvider = "vcs.provider.name"
	providerGitLab   = "gitlab"
	scopeName        = "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"
	// placeholder stands for the id while a template is being cut.
	placeholder = "@@BENCHEVENTS_ID@@"
)

// End is the fixed end of the simulated history: events are dated in the
// hour before it, so that the same seed gives byte-identical events on
// every run.
var End = time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)

// OTLPBody chooses how an event is carried in an OTLP log record body.
type OTLPBody int

const (
	// BodyKVList carries the event as a structured body (an OTLP kvlist),
	// the shape the gitlab_audit receiver produces: the OTLP receiver then
	// decodes every field of the event, as the gitlab_audit receiver does.
	BodyKVList OTLPBody = iota
	// BodyString carries the event JSON as a string body: the OTLP receiver
	// decodes one string and leaves the event unparsed.
	BodyString
)

// String returns the name used in flags and reports.
func (b OTLPBody) String() string {
	if b == BodyString {
		return "string"
	}
	return "kvlist"
}

// ParseOTLPBody reads "kvlist" or "string".
func ParseOTLPBody(s string) (OTLPBody, error) {
	switch s {
	case "kvlist":
		return BodyKVList, nil
	case "string":
		return BodyString, nil
	}
	return 0, fmt.Errorf("unknown OTLP body %q: want kvlist or string", s)
}

// Template is one GitLab audit event whose id can be rewritten.
type Template struct {
	// Type is the event type, as sent in X-Gitlab-Audit-Event-Type.
	Type string
	// UUID is true for stream-only events, whose ids are UUIDs.
	UUID bool

	stream [2][]byte // streaming JSON before and after the id value
	otlp   [2][2][]byte
}

// Events returns n streaming events of a simulated instance (default
// groups and projects, 5% drawn from security-relevant types, stream-only
// types included), dated in the hour before End.
func Events(seed uint64, n int) ([]Template, error) {
	if n <= 0 {
		return nil, errors.New("benchevents: n must be positive")
	}
	sim := gitlabsim.New(gitlabsim.Options{Seed: seed, SecurityShare: 0.05})
	defer func() { _ = sim.Close() }()
	sim.Populate(gitlabsim.DefaultGroups, gitlabsim.DefaultProjects)
	stored := sim.GenerateWith(gitlabsim.GenerateOptions{Count: n, From: End.Add(-time.Hour), To: End, NoStream: true})
	out := make([]Template, 0, len(stored))
	for i := range stored {
		t, err := NewTemplate(stored[i].StreamJSON, stored[i].StreamType)
		if err != nil {
			return nil, fmt.Errorf("event %s: %w", stored[i].StreamID, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// NewTemplate cuts a streaming event (a JSON object with a top-level "id")
// around its id.
func NewTemplate(streamJSON []byte, eventType string) (Template, error) {
	t := Template{Type: eventType}
	obj := string(streamJSON)
	start, end, err := idSpan(streamJSON)
	if err != nil {
		return t, err
	}
	raw := obj[start:end]
	if _, ok := jsonpdata.Unquote(raw); ok {
		t.UUID = true
	} else if _, err := strconv.ParseUint(raw, 10, 64); err != nil {
		return t, fmt.Errorf("the id %s is neither a non-negative integer nor a string", raw)
	}
	t.stream = [2][]byte{[]byte(obj[:start]), []byte(obj[end:])}

	// The OTLP renderings: the event with a placeholder id, marshalled by
	// pdata, then cut around the placeholder.
	withHole := obj[:start] + strconv.Quote(placeholder) + obj[end:]
	for _, body := range []OTLPBody{BodyKVList, BodyString} {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr(resourceProvider, providerGitLab)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(scopeName)
		lr := sl.LogRecords().AppendEmpty()
		if body == BodyString {
			lr.Body().SetStr(withHole)
		} else if err := jsonpdata.DecodeObject(withHole, lr.Body().SetEmptyMap()); err != nil {
			return t, err
		}
		if ts, ok := createdAt(obj); ok {
			lr.SetTimestamp(ts)
		}
		raw, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
		if err != nil {
			return t, err
		}
		// kvlist: the id is the value {"stringValue":"<placeholder>"};
		// string: the quoted placeholder is escaped inside the body string.
		hole := []byte(`{"stringValue":"` + placeholder + `"}`)
		if body == BodyString {
			hole = []byte(`\"` + placeholder + `\"`)
		}
		i := bytes.Index(raw, hole)
		if i < 0 || bytes.Count(raw, hole) != 1 {
			return t, errors.New("cannot locate the id in the OTLP rendering")
		}
		t.otlp[body] = [2][]byte{raw[:i:i], raw[i+len(hole):]}
	}
	return t, nil
}

// AppendStream appends the streaming JSON of the event with id seq: the
// number seq, or a UUID derived from it for stream-only events.
func (t *Template) AppendStream(b []byte, seq uint64) []byte {
	b = append(b, t.stream[0]...)
	b = appendID(b, seq, t.UUID, false)
	return append(b, t.stream[1]...)
}

// AppendOTLP appends the one-record OTLP/HTTP JSON logs request carrying
// the same event as AppendStream(seq).
func (t *Template) AppendOTLP(b []byte, seq uint64, body OTLPBody) []byte {
	b = append(b, t.otlp[body][0]...)
	if body == BodyString {
		b = appendID(b, seq, t.UUID, true)
	} else if t.UUID {
		b = append(b, `{"stringValue":`...)
		b = appendID(b, seq, true, false)
		b = append(b, '}')
	} else {
		b = append(b, `{"intValue":"`...)
		b = strconv.AppendUint(b, seq, 10)
		b = append(b, `"}`...)
	}
	return append(b, t.otlp[body][1]...)
}

// appendID appends the JSON of id seq; escaped writes the quotes of a
// UUID as they appear inside a JSON string.
func appendID(b []byte, seq uint64, uuid, escaped bool) []byte {
	if !uuid {
		return strconv.AppendUint(b, seq, 10)
	}
	q := `"`
	if escaped {
		q = `\"`
	}
	b = append(b, q...)
	b = append(b, UUID(seq)...)
	return append(b, q...)
}

// UUID returns a version-4-shaped UUID that encodes seq.
func UUID(seq uint64) string {
	const hexDigits = "0123456789abcdef"
	u := []byte("00000000-0000-4000-8000-000000000000")
	for i := len(u) - 1; i >= len(u)-12; i-- {
		u[i] = hexDigits[seq&0xf]
		seq >>= 4
	}
	for i := 7; i >= 0 && seq > 0; i-- {
		u[i] = hexDigits[seq&0xf]
		seq >>= 4
	}
	return string(u)
}

// idSpan returns the byte span of the value of the top-level "id" of a
// JSON object.
func idSpan(obj []byte) (start, end int, err error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return 0, 0, errors.New("the event is not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return 0, 0, err
		}
		afterKey := int(dec.InputOffset())
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return 0, 0, err
		}
		if tok != "id" {
			continue
		}
		end = int(dec.InputOffset())
		start = afterKey + bytes.Index(obj[afterKey:end], v)
		return start, start + len(v), nil
	}
	return 0, 0, errors.New(`the event has no top-level "id"`)
}

// createdAt reads the event's created_at.
func createdAt(obj string) (ts pcommon.Timestamp, ok bool) {
	_ = jsonpdata.Fields(obj, func(k, raw string) bool {
		if k != "created_at" {
			return true
		}
		if s, isStr := jsonpdata.Unquote(raw); isStr {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				ts, ok = pcommon.NewTimestampFromTime(t), true
			}
		}
		return false
	})
	return ts, ok
}
