// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.uber.org/zap/zapcore"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/testutil"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

func TestStartAdvisesThatThePipelineMustPersistWhenStorageIsSet(t *testing.T) {
	clk := fakeclock.New()
	_, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	for _, withStorage := range []bool{false, true} {
		cfg := pollConfig(srv.URL)
		host := newStatusHost(nil)
		if withStorage {
			id := storagetest.NewStorageID("file_storage")
			cfg.Storage = &id
			host = newStatusHost(storagetest.NewStorageHost().WithFileBackedStorageExtension("file_storage", t.TempDir()).GetExtensions())
		}
		r, logs := testReceiver(t, cfg, new(consumertest.LogsSink), clk)
		startManual(t, r, host)
		warned := logs.FilterMessageSnippet("events are only safe if the rest of the pipeline persists them too").All()
		if !withStorage {
			assert.Empty(t, warned)
			continue
		}
		require.Len(t, warned, 1)
		assert.Equal(t, zapcore.InfoLevel, warned[0].Level, "advice, not a warning: nothing is known to be wrong")
		assert.Contains(t, warned[0].ContextMap()["what_to_do"], "sending_queue::storage: "+cfg.Storage.String())
	}
}
