// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"go.uber.org/zap"
)

// advisePersistence says, when the receiver persists its state, that the
// rest of the pipeline must persist too.
//
// With storage set, the checkpoints and the de-duplication set survive a
// crash. Events the pipeline acknowledged but still holds in memory (an
// exporter's in-memory sending_queue, a batch processor) do not: after
// kill -9 they are gone, the checkpoints have moved past them, and when
// GitLab or the overlap delivers them again they are refused as
// duplicates. (Measured: 334 of 1,000 acknowledged events lost.)
//
// A receiver cannot tell whether its pipeline persists. In collector
// v0.165 the host a receiver is started with offers GetExtensions, and,
// by type assertion, the deprecated GetExporters and GetFactory: the
// exporter instances of every pipeline, without their configuration
// (whether sending_queue has storage is internal to exporterhelper),
// without which pipeline they serve, and nothing about processors. A
// storage extension does not list the clients it handed out either. So
// the advice is given whenever storage is set, with what to check: at info
// level, since the receiver cannot know whether anything is wrong (a
// warning at every start of a correct configuration teaches users to skip
// warnings; every shipped configuration is checked by
// e2e/safeconfig_test.go instead).
func advisePersistence(logger *zap.Logger, cfg *Config) {
	if cfg.Storage == nil {
		return
	}
	logger.Info("The receiver persists its checkpoints and de-duplication state; events are only safe if the rest of the pipeline persists them too",
		zap.String("storage", cfg.Storage.String()),
		zap.String("what_to_do", "give every exporter of this pipeline a persistent queue (sending_queue::storage: "+cfg.Storage.String()+
			", or sending_queue::enabled: false) and keep the batch processor out of it; otherwise a crash loses acknowledged events and their redelivery is dropped as duplicates"),
		zap.String("why_always", "a receiver cannot see the configuration of the exporters and processors after it"))
}
