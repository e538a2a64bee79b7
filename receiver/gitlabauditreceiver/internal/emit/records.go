// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package emit

import (
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
)

// Resource attributes of every batch.
const (
	attrVCSProvider   = "vcs.provider.name"
	attrServerAddress = "server.address"
	vcsProviderGitLab = "gitlab"
)

// recordFactory starts batches of records with the receiver's resource and
// instrumentation scope, the same for polled and streamed events.
type recordFactory struct {
	serverAddress string // the GitLab host, when known
	version       string
}

func (r *recordFactory) newLogs() (plog.Logs, plog.LogRecordSlice) {
	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	res := rl.Resource().Attributes()
	res.PutStr(attrVCSProvider, vcsProviderGitLab)
	if r.serverAddress != "" {
		res.PutStr(attrServerAddress, r.serverAddress)
	}
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	sl.Scope().SetVersion(r.version)
	return logs, sl.LogRecords()
}
