// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Lifecycle tests in the shape mdatagen generates for processors.

package gitlabdetectprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/kyra-mdr/otelcol-gitlab/processor/gitlabdetectprocessor/internal/metadata"
)

var typ = component.MustNewType("gitlab_detect")

func TestComponentFactoryType(t *testing.T) {
	require.Equal(t, typ, NewFactory().Type())
	require.Equal(t, metadata.Type, NewFactory().Type())
}

func TestComponentConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}

func TestComponentLifecycle(t *testing.T) {
	factory := NewFactory()

	tests := []struct {
		createFn func(ctx context.Context, set processor.Settings, cfg component.Config) (component.Component, error)
		name     string
	}{
		{
			name: "logs",
			createFn: func(ctx context.Context, set processor.Settings, cfg component.Config) (component.Component, error) {
				return factory.CreateLogs(ctx, set, cfg, consumertest.NewNop())
			},
		},
	}

	cm, err := confmaptest.LoadConf("metadata.yaml")
	require.NoError(t, err)
	cfg := factory.CreateDefaultConfig()
	sub, err := cm.Sub("tests::config")
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(&cfg))

	for _, tt := range tests {
		t.Run(tt.name+"-shutdown", func(t *testing.T) {
			c, err := tt.createFn(context.Background(), processortest.NewNopSettings(typ), cfg)
			require.NoError(t, err)
			err = c.Shutdown(context.Background())
			require.NoError(t, err)
		})
		t.Run(tt.name+"-lifecycle", func(t *testing.T) {
			c, err := tt.createFn(context.Background(), processortest.NewNopSettings(typ), cfg)
			require.NoError(t, err)
			host := componenttest.NewNopHost()
			err = c.Start(context.Background(), host)
			require.NoError(t, err)
			require.NotPanics(t, func() {
				logs := plog.NewLogs()
				lr := logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
				lr.Body().SetStr("sample")
				lr.Attributes().PutStr("gitlab.audit.event_type", "project_destroyed")
				require.NoError(t, c.(processor.Logs).ConsumeLogs(context.Background(), logs))
			})
			err = c.Shutdown(context.Background())
			require.NoError(t, err)
		})
	}
}

func TestCreateLogsRejectsInvalidConfig(t *testing.T) {
	cfg := defaultConfig()
	cfg.Rules.Disabled = []string{"GLD-999"}
	_, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(typ), cfg, consumertest.NewNop())
	require.ErrorContains(t, err, `unknown rule id "GLD-999"`)
}

func TestCapabilities(t *testing.T) {
	p, _ := newTestProcessor(t, defaultConfig())
	require.True(t, p.Capabilities().MutatesData)
}
