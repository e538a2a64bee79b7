// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// A receiver test: a simulated instance with seeded history, read back
// with keyset pagination as the receiver does.
func Example() {
	sim := gitlabsim.New(gitlabsim.Options{
		Seed:   42,
		Tokens: map[string]gitlabsim.Token{"glpat-example": {UserID: 1, Admin: true}},
	})
	sim.Populate(3, 5)
	to := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	sim.GenerateWith(gitlabsim.GenerateOptions{Count: 250, From: to.Add(-time.Hour), To: to, SavedOnly: true})
	mfa, _ := sim.GenerateType("user_disable_two_factor", to)

	srv := httptest.NewServer(sim)
	defer srv.Close()

	pages, events := 0, 0
	next := srv.URL + "/api/v4/audit_events?pagination=keyset&order_by=id&sort=desc&per_page=100"
	for next != "" {
		req, _ := http.NewRequest(http.MethodGet, next, nil)
		req.Header.Set("PRIVATE-TOKEN", "glpat-example")
		resp, err := srv.Client().Do(req)
		if err != nil {
			panic(err)
		}
		var page []map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&page)
		_ = resp.Body.Close()
		pages++
		events += len(page)
		// Keyset answers carry only `Link: <url>; rel="next"`, until the end.
		next = ""
		if l, ok := strings.CutSuffix(resp.Header.Get("Link"), `>; rel="next"`); ok {
			next = strings.TrimPrefix(l, "<")
		}
	}
	fmt.Println(pages, "pages,", events, "events; newest is", mfa.ID, mfa.Type)
	// Output: 3 pages, 251 events; newest is 251 user_disable_two_factor
}
