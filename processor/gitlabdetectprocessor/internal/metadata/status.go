// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Code written by hand in the shape mdatagen generates (mdatagen is not
// available for this collector version); keep in sync with metadata.yaml.

package metadata

import (
	"go.opentelemetry.io/collector/component"
)

var (
	// Type is the component type of the processor in collector configurations.
	Type = component.MustNewType("gitlab_detect")
	// ScopeName is the instrumentation scope name of the processor.
	ScopeName = "github.com/kyra-mdr/otelcol-gitlab/processor/gitlabdetectprocessor"
)

const (
	// LogsStability is the stability level of the logs signal.
	LogsStability = component.StabilityLevelDevelopment
)
