// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExcludeGlobs(t *testing.T) {
	tests := []struct {
		glob  string
		match []string
		miss  []string
	}{
		{"acme/sandbox/**", []string{"acme/sandbox", "acme/sandbox/a", "ACME/Sandbox/a/b/c"}, []string{"acme/sandboxes", "acme/x/sandbox/a"}},
		{"**/archive-*", []string{"acme/archive-2019", "a/b/archive-"}, []string{"acme/archive-2019/x", "archive-1x/y"}},
		{"acme/*/legacy", []string{"acme/platform/legacy"}, []string{"acme/a/b/legacy", "acme/legacy"}},
		{"acme/team-?", []string{"acme/team-1"}, []string{"acme/team-10", "acme/team-/"}},
	}
	for _, tt := range tests {
		re, err := CompileGlob(tt.glob)
		require.NoError(t, err, tt.glob)
		for _, m := range tt.match {
			assert.True(t, re.MatchString(m), "%s should match %s", tt.glob, m)
		}
		for _, m := range tt.miss {
			assert.False(t, re.MatchString(m), "%s should not match %s", tt.glob, m)
		}
	}
}
