// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/kyra-mdr/otelcol-gitlab/processor/gitlabdetectprocessor/internal/metadata"
)

// Defaults of the configuration; the README documents them.
const (
	defaultRulesetName       = "gitlab-audit"
	defaultMaxTrackedAuthors = 10000
	defaultTokenMaxLifetime  = 90 * 24 * time.Hour
)

// NewFactory returns the factory of the gitlab_detect processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		RulesetName:        defaultRulesetName,
		PrivilegedRoles:    []string{"Owner", "Maintainer"},
		PrivilegedAccounts: []string{"root", "Administrator"},
		TokenMaxLifetime:   defaultTokenMaxLifetime,
		Windows: WindowsConfig{
			BruteForce:        BruteForceConfig{Failures: 5, Window: 10 * time.Minute},
			MassDownload:      MassDownloadConfig{Count: 20, AutomationCount: 100, Window: 5 * time.Minute, IncludeGitClones: true},
			MassDeletion:      CountWindowConfig{Count: 5, AutomationCount: 20, Window: 10 * time.Minute},
			TokenBurst:        CountWindowConfig{Count: 5, AutomationCount: 20, Window: 10 * time.Minute},
			MaxTrackedAuthors: defaultMaxTrackedAuthors,
		},
		Baseline: BaselineConfig{
			Enabled:      true,
			Days:         14,
			Factor:       1.5,
			MaxAuthors:   defaultMaxTrackedAuthors,
			SaveInterval: time.Minute,
		},
		GeoIP: GeoIPConfig{
			CheckInterval:    time.Minute,
			ImpossibleTravel: ImpossibleTravelConfig{MaxSpeedKMH: 900, MinDistanceKM: 300},
			MaxPlacesPerUser: 32,
			SharedPlaceUsers: 5,
		},
		ErrorMode: ottl.IgnoreError,
		OCSF:      SchemaConfig{Enabled: true},
		ECS:       SchemaConfig{Enabled: true},
	}
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	p, err := newDetectProcessor(cfg.(*Config), set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p.id = set.ID
	return processorhelper.NewLogs(ctx, set, cfg, next, p.processLogs,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown))
}
