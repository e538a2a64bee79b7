// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottllog"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/ottlfuncs"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/plog"
)

// customRule is a rule written as OTTL log conditions, ORed together.
type customRule struct {
	meta  *ruleMeta
	types []string // canonical event types; empty: every event
	allow *allowlist
	seq   ottl.ConditionSequence[*ottllog.TransformContext]
}

// parseConditions parses OTTL log conditions. Paths must carry their
// context name (log.attributes["x"], resource.attributes["y"], ...).
func parseConditions(conditions []string, set component.TelemetrySettings, mode ottl.ErrorMode) (ottl.ConditionSequence[*ottllog.TransformContext], error) {
	parser, err := ottllog.NewParser(ottlfuncs.StandardConverters[*ottllog.TransformContext](), set, ottllog.EnablePathContextNames())
	if err != nil {
		return ottl.ConditionSequence[*ottllog.TransformContext]{}, err
	}
	conds, err := parser.ParseConditions(conditions)
	if err != nil {
		return ottl.ConditionSequence[*ottllog.TransformContext]{}, err
	}
	return ottllog.NewConditionSequence(conds, set, ottllog.WithConditionSequenceErrorMode(mode)), nil
}

// customEval evaluates custom rules on one record, creating the OTTL
// transform context once and only when a rule needs it.
type customEval struct {
	ctx  context.Context
	rl   plog.ResourceLogs
	sl   plog.ScopeLogs
	lr   plog.LogRecord
	tCtx *ottllog.TransformContext
}

func (c *customEval) eval(r *customRule) (bool, error) {
	if c.tCtx == nil {
		c.tCtx = ottllog.NewTransformContext(c.rl, c.sl, c.lr)
	}
	return r.seq.Eval(c.ctx, c.tCtx)
}

// close returns the transform context to its pool.
func (c *customEval) close() {
	if c.tCtx != nil {
		c.tCtx.Close()
		c.tCtx = nil
	}
}
