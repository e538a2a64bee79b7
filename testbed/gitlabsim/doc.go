// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package gitlabsim is the project's one fake of GitLab: a deterministic,
// in-memory simulator of GitLab's audit events, served through the same REST
// API GitLab exposes and pushed through audit event streaming the way GitLab
// does it.
//
// A Sim is an http.Handler. Mount it with httptest.NewServer(sim) in tests, or
// run it with testbed/cmd/gitlab-sim. It answers:
//
//   - GET /api/v4/audit_events and /api/v4/audit_events/:id (instance level,
//     administrators, Premium and Ultimate);
//   - GET /api/v4/groups/:id/audit_events[/:audit_event_id];
//   - GET /api/v4/projects/:id/audit_events[/:audit_event_id];
//   - the objects events name, for enrichment lookups (lookups.go,
//     objects.go): GET /api/v4/personal_access_tokens/:id,
//     /projects/:id/access_tokens/:token_id, /groups/:id/access_tokens/:token_id,
//     /projects/:id/variables/:key, /groups/:id/variables/:key,
//     /admin/ci/variables/:key, /projects/:id/deploy_keys/:key_id,
//     /projects/:id/deploy_tokens/:token_id, /groups/:id/deploy_tokens/:token_id,
//     /users/:id, with GitLab's roles and answers; every CI/CD variable
//     value is a unique marker (SecretMarkerPrefix);
//   - who the token is (access.go): GET /api/v4/user,
//     /api/v4/personal_access_tokens/self and
//     /api/v4/groups|projects/:id/members/all/:user_id;
//   - GET /api/v4/groups/:id/descendant_groups and /api/v4/groups/:id/projects
//     (the estate listings discovery uses, offset pages only; see estate.go);
//   - POST /api/graphql for the audit event streaming destinations
//     (graphql.go, destinations.go);
//   - GET /-/health.
//
// Tokens belong to users with roles (Owner ... Guest, auditor,
// administrator) and carry GitLab's metadata (scopes, expiry, revocation,
// kind). Each feed shows what GitLab shows that user: filter_by_author
// keeps only the user's own events below the group Owner or project
// Maintainer, also for auditors; the instance feed is for administrators,
// with Admin Mode only with the admin_mode scope (Options.AdminMode).
// Application rate limits (Options.AppLimits, ratelimit.go) answer 429
// without rate limit headers.
//
// A group feed returns the group's own events only, as GitLab does while
// its audit_event_group_rollup feature flag is off (Options.GroupRollup
// turns the roll-up on). Groups and projects can be created, deleted,
// transferred and archived during a run (CreateGroup, CreateProject,
// DeleteProject, DeleteGroup, TransferProject, TransferGroup,
// ArchiveProject).
//
// The behaviour copies GitLab: newest-first order (id desc), inclusive
// created_after/created_before bounds, offset pagination with GitLab's headers
// (x-total and rel="last" disappear above 10,000 rows), cursor-based keyset
// pagination of the audit event feeds (pagination=keyset&order_by=id&sort=desc,
// opaque cursor in a Link rel="next" header), role-based silent filtering
// (below group Owner or project Maintainer only one's own events), GitLab's
// error bodies, Rack::Attack style rate limiting with its headers, and the
// REST and streaming JSON shapes (from/to as strings in REST, raw in the
// stream; author_email in REST only; event_name null when absent; the
// streamed ip_address "" when unknown; UUID ids for stream-only types). A
// streaming destination (Streamer.Destination) receives only what its
// group, event type and namespace filters let through.
//
// Its clock (Options.Now) stamps created_at and the Date header of every
// answer, so it can be set apart from the client's to simulate clock skew.
// Faults (SetFaults) make it slow or failing like a loaded instance: a
// share of requests answered late or with a 5xx, and 500s for audit
// queries over long time ranges; limited to one path (Faults.Path), they
// make one feed stop being served while the others answer.
//
// Timestamps are kept at microsecond precision, as PostgreSQL stores them,
// and rendered with milliseconds, as the GitLab API does. As on a real
// instance, an event stored at 10:00:00.123456 is rendered
// "10:00:00.123Z"; it matches created_after=10:00:00.123Z but not
// created_before=10:00:00.123Z.
//
// Events are stored pre-rendered (REST and stream JSON) in id order, with
// per-feed indexes of id-sorted runs whose created_at is non-decreasing, so a
// page of any window is found by binary search, never by scanning the store.
// Events inserted late (a higher id with an older created_at, GitLab's "late
// commit") open a new run and stay visible in the older windows.
//
// Generation is seeded (Options.Seed) and spreads events over the whole
// catalogue of event types of package auditevent, weighted like a real
// instance: sign-ins, Git operations and merge request activity are common,
// administrative and security changes are rare. Every type the detection
// rules rely on is produced with realistic details.
package gitlabsim // import "github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
