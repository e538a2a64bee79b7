// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package metadata holds the component's identity. mdatagen is not served
// at v0.165 by the module proxy here, so this file is written by hand in
// the shape mdatagen generates.
package metadata // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"

import (
	"go.opentelemetry.io/collector/component"
)

var (
	// Type is the component type used in collector configurations.
	Type = component.MustNewType("gitlab_audit")
	// ScopeName is the instrumentation scope of the records and telemetry.
	ScopeName = "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"
)

const (
	// LogsStability is the stability of the logs signal.
	LogsStability = component.StabilityLevelAlpha
)
