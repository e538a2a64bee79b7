// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"log"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// churn changes the estate every interval, as a real one changes during
// the week: a project is created in a random group (and gets its first
// events at once), and every other time an older project is transferred
// to another group or deleted. Discovery must follow.
func churn(ctx context.Context, sim *gitlabsim.Sim, every time.Duration, seed uint64, logger *log.Logger) {
	if every <= 0 {
		return
	}
	r := rand.New(rand.NewPCG(seed, 0xc4a5))
	t := time.NewTicker(every)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		groups := sim.Groups()
		g := groups[r.IntN(len(groups))]
		p, err := sim.CreateProject(fmt.Sprintf("%s/new-service-%d", g.FullPath, n))
		if err != nil {
			logger.Printf("churn: %v", err)
			continue
		}
		for _, typ := range []string{"project_created", "ci_variable_created", "protected_branch_created"} {
			ev, err := sim.BuildEvent(typ, time.Time{}, false) // now, on the simulator's clock
			if err != nil {
				continue
			}
			ev.Entity = gitlabsim.Entity{Type: gitlabsim.EntityProject, ID: p.ID}
			ev.Target = gitlabsim.Target{}
			sim.Insert(ev)
		}
		logger.Printf("churn: created project %s (%d) with 3 events", p.FullPath, p.ID)
		if n%2 != 0 {
			continue
		}
		projects := sim.Projects()
		old := projects[r.IntN(len(projects))]
		if strings.Contains(old.FullPath, "/new-service-") && r.IntN(2) == 0 {
			if err := sim.DeleteProject(old.ID); err == nil {
				logger.Printf("churn: deleted project %s (%d)", old.FullPath, old.ID)
			}
			continue
		}
		to := groups[r.IntN(len(groups))]
		if err := sim.TransferProject(old.ID, to.FullPath); err == nil {
			logger.Printf("churn: transferred project %s (%d) to %s", old.FullPath, old.ID, to.FullPath)
		}
	}
}
