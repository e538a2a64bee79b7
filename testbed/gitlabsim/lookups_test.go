// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUserTwoFactorFollowsTheEvents: GET /users/:id shows administrators
// whether the user still has a second factor, as the removals of the
// simulator's events left it, and hides it from other tokens, as GitLab does.
func TestUserTwoFactorFollowsTheEvents(t *testing.T) {
	s, srv := newSim(t, Options{Seed: 3})
	s.AddUser(User{ID: 51, Username: "andreas", Name: "Andreas"})
	s.SetTwoFactor(51, TwoFactor{OTP: true, WebAuthnDevices: 1})
	removal := func(msg string) {
		s.Insert(Event{Type: "user_disable_two_factor", Entity: Entity{Type: EntityUser, ID: 51}, Author: Author{ID: 51},
			Target: Target{ID: int64(51), Type: "User", Details: "Andreas"}, CustomMessage: msg, CreatedAt: baseTime})
	}
	enabled := func(token string) (any, bool) {
		r := get(t, srv.URL+"/api/v4/users/51", token)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var u map[string]any
		require.NoError(t, json.Unmarshal(r.body, &u))
		v, ok := u["two_factor_enabled"]
		return v, ok
	}
	tests := []struct {
		msg  string
		want bool
	}{
		{"Disabled One-time password authenticator", true}, // the WebAuthn device remains
		{"Deleted WebAuthn device", false},                 // nothing remains
	}
	for _, tt := range tests {
		removal(tt.msg)
		v, ok := enabled(adminToken)
		assert.True(t, ok, tt.msg)
		assert.Equal(t, tt.want, v, tt.msg)
		_, shown := enabled(devToken)
		assert.False(t, shown, "only administrators and auditors see two_factor_enabled")
	}
	assert.Equal(t, TwoFactor{}, s.TwoFactorOf(51))

	s.SetTwoFactor(51, TwoFactor{OTP: true, WebAuthnDevices: 2})
	removal("Disabled two-factor authentication")
	assert.Equal(t, TwoFactor{}, s.TwoFactorOf(51), "disabling two-factor authentication removes every factor")

	// Users no event names draw their factors from the seed, the same each time.
	drawnOnce := s.TwoFactorOf(900)
	assert.Equal(t, drawnOnce, s.TwoFactorOf(900))
	drawn := map[TwoFactor]bool{}
	for id := int64(1000); id < 1100; id++ {
		drawn[s.TwoFactorOf(id)] = true
	}
	assert.Len(t, drawn, 4, "OTP only, OTP and a device, two devices, none")
}
