// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScenario(t *testing.T) {
	a := New(Options{Seed: 3}).Scenario(ScenarioOptions{Days: 3, Developers: 20})
	b := New(Options{Seed: 3}).Scenario(ScenarioOptions{Days: 3, Developers: 20})
	require.Len(t, b, len(a))
	for i := range a {
		require.Equal(t, a[i].StreamJSON, b[i].StreamJSON, "deterministic")
	}
	steps, attacks := 0, 0
	for i, ev := range a {
		if i > 0 {
			assert.False(t, ev.CreatedAt.Before(a[i-1].CreatedAt), "in created_at order")
		}
		if ev.Attack {
			attacks++
			assert.Equal(t, 2, ev.Day, "attacks on the last day")
		}
		if ev.Step != nil {
			steps++
			assert.True(t, ev.Attack)
			assert.NotEmpty(t, ev.Step.Chain)
			assert.NotEmpty(t, ev.Step.Rule)
		}
		assert.NotEmpty(t, ev.StreamJSON)
	}
	assert.Equal(t, 19, steps)
	assert.Greater(t, attacks, steps)
}
