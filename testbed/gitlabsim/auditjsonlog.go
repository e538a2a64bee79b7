// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// AuditJSONLogLine renders a stored event as the line GitLab writes for it
// to audit_json.log on a self-managed instance (Gitlab::AuditJsonLogger,
// `/var/log/gitlab/gitlab-rails/audit_json.log`): one JSON object per line,
// in the flat shape: the logger's severity and time, the correlation id and
// the `meta.*` keys of the request context, the event's author_id,
// entity_id and entity_type, and the keys of its details at the top level
// (event_name, author_name, target_*, custom_message, ip_address,
// entity_path, change/from/to, add, remove, with, ...; not author_email,
// which only the REST API adds). The file has no event id. The line is built from the event's REST rendering, so both say
// the same thing; correlationID stands for the request's correlation id.
// Stream-only events are not saved and have no REST rendering: they are
// refused.
func AuditJSONLogLine(e StoredEvent, correlationID string) ([]byte, error) {
	if e.RESTJSON == nil {
		return nil, errors.New("gitlabsim: a stream-only event has no audit_json.log line in this simulator")
	}
	dec := json.NewDecoder(bytes.NewReader(e.RESTJSON))
	dec.UseNumber()
	var rest map[string]any
	if err := dec.Decode(&rest); err != nil {
		return nil, fmt.Errorf("gitlabsim: event %d: %w", e.ID, err)
	}
	line := map[string]any{
		"severity":       "INFO",
		"time":           rest["created_at"],
		"correlation_id": correlationID,
		"author_id":      rest["author_id"],
		"entity_id":      rest["entity_id"],
		"entity_type":    rest["entity_type"],
	}
	details, _ := rest["details"].(map[string]any)
	for k, v := range details {
		if k == "author_email" {
			continue // added by the REST API's formatted_details, not in the event's own details
		}
		line[k] = v
	}
	if ip, ok := details["ip_address"].(string); ok && ip != "" {
		line["meta.remote_ip"] = ip
	}
	if name, ok := rest["event_name"]; ok {
		line["event_name"] = name
	}
	// Keys in a stable order, one line.
	keys := make([]string, 0, len(line))
	for k := range line {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(line[k])
		if err != nil {
			return nil, fmt.Errorf("gitlabsim: event %d: %s: %w", e.ID, k, err)
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}
