// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEventShapesWithoutNameOrAddress reproduces two small shapes of
// GitLab's JSON: ee/lib/api/entities/audit_event.rb exposes event_name as
// details.fetch(:event_name, nil) (present and null for a legacy event,
// absent on instances older than 17.0), and the streamed top-level
// ip_address comes from AuditEvents::CommonModel#as_json
// (app/models/concerns/audit_events/common_model.rb: ip_address.to_s),
// so it is "" when unknown while details.ip_address stays null.
func TestEventShapesWithoutNameOrAddress(t *testing.T) {
	decode := func(b []byte) map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m), string(b))
		return m
	}
	for _, noEventName := range []bool{false, true} {
		s, _ := newSim(t, Options{NoEventName: noEventName})
		legacy := s.Insert(Event{Type: "member_created", Legacy: true, Entity: groupE(10), Author: Author{ID: 2},
			Details: map[string]any{"add": "user_access", "as": "Maintainer"}, CreatedAt: baseTime})
		named := s.Insert(Event{Type: "project_archived", Entity: projectE(100), Author: Author{ID: 2}, CreatedAt: baseTime})

		rest := decode(legacy.RESTJSON)
		name, present := rest["event_name"]
		assert.Equal(t, !noEventName, present, "event_name key present unless the instance predates it")
		assert.Nil(t, name)
		if !noEventName {
			assert.Equal(t, "project_archived", decode(named.RESTJSON)["event_name"])
		}
		_, hasTopIP := rest["ip_address"]
		assert.False(t, hasTopIP, "REST has no top-level ip_address")

		for _, se := range []StoredEvent{legacy, named} {
			stream := decode(se.StreamJSON)
			assert.Empty(t, stream["ip_address"], "streamed ip_address is \"\" when unknown")
			assert.IsType(t, "", stream["ip_address"], "a string, not null")
			assert.Nil(t, stream["details"].(map[string]any)["ip_address"])
		}
	}
	s, _ := newSim(t, Options{})
	known := insertAt(s, "project_archived", projectE(100), 2, baseTime)
	assert.Equal(t, "192.0.2.1", decode(known.StreamJSON)["ip_address"])
}
