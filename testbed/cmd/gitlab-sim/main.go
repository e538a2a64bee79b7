// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Command gitlab-sim runs the project's GitLab simulator: it serves
// GitLab's audit event REST API for a simulated instance with seeded,
// realistic history, keeps producing new events, and optionally streams
// them to an HTTP destination the way GitLab's audit event streaming does.
//
//	gitlab-sim -listen 127.0.0.1:8080 -backfill 10000 -rate 2 \
//	    -stream-url http://127.0.0.1:8088/gitlab -stream-token s3cr3t
//
// The first token is an administrator's; the others belong to Owners of
// every top-level group. -access adds tokens with any role and GitLab's
// token metadata (scopes, expiry, revocation):
//
//	gitlab-sim -access 'glpat-dev=developer@acme;user=3;scopes=read_api;expires-in=5d'
//
// Tokens are never printed. See testbed/README.md for every mode.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// Demo defaults: the token the demo collector configuration uses, and the
// streaming verification token (24 characters, like GitLab's).
const (
	DefaultToken       = "glpat-gitlab-sim-demo-token"
	DefaultStreamToken = "gitlab-sim-stream-token1"
)

// tokenList collects -token flags, repeated or comma-separated.
type tokenList []string

// String implements flag.Value without revealing the tokens.
func (l *tokenList) String() string { return fmt.Sprintf("%d token(s)", len(*l)) }

// Set adds one or several comma-separated tokens.
func (l *tokenList) Set(v string) error {
	for _, t := range strings.Split(v, ",") {
		if t = strings.TrimSpace(t); t != "" {
			*l = append(*l, t)
		}
	}
	return nil
}

type config struct {
	listen          string
	tokens          tokenList
	seed            uint64
	groups          int
	projects        int
	backfill        int
	backfillSpan    time.Duration
	rate            float64
	lateShare       float64
	streamURL       string
	streamToken     string
	streamBatch     bool
	streamBatchSize int
	dupRatio        float64
	rateLimit       int
	legacyShare     float64
	securityShare   float64
	tier            string
	noKeyset        bool
	groupRollup     bool
	noEventName     bool
	quiet           bool
	clockOffset     time.Duration
	faults          gitlabsim.Faults
	churn           time.Duration
	vanishMidWalk   int
	access          accessList
	adminMode       bool
	appLimits       gitlabsim.AppLimits
	streamGroup     string
	streamTypes     string
	streamNS        string
	streamName      string
	streamInactive  bool
}

func parseFlags(args []string, output io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("gitlab-sim", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address to serve the GitLab API on")
	fs.Var(&c.tokens, "token", "accepted access token; repeat or comma-separate; the first is an administrator's, the others group Owners' (default "+DefaultToken+")")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed: the same seed gives the same instance and events")
	fs.IntVar(&c.groups, "groups", gitlabsim.DefaultGroups, "number of groups (acme, acme/platform, globex, ...)")
	fs.IntVar(&c.projects, "projects", gitlabsim.DefaultProjects, "number of projects (acme/platform/api, ...)")
	fs.IntVar(&c.backfill, "backfill", 1000, "number of historical (REST-visible) events generated at start")
	fs.DurationVar(&c.backfillSpan, "backfill-span", 24*time.Hour, "time span of the historical events, ending now")
	fs.Float64Var(&c.rate, "rate", 2, "new events per second (0 stops live generation)")
	fs.Float64Var(&c.lateShare, "late-share", 0.01, "share of new events committed late (created_at up to 2 minutes in the past)")
	fs.StringVar(&c.streamURL, "stream-url", "", "stream every new event to this HTTP destination")
	fs.StringVar(&c.streamToken, "stream-token", DefaultStreamToken, "X-Gitlab-Event-Streaming-Token sent to the destination")
	fs.BoolVar(&c.streamBatch, "stream-batch", false, "stream JSON arrays (GitLab's batch mode) instead of one event per request")
	fs.IntVar(&c.streamBatchSize, "stream-batch-size", gitlabsim.DefaultBatchSize, "events per request in batch mode")
	fs.Float64Var(&c.dupRatio, "dup-ratio", 0, "share of streamed events delivered twice")
	fs.IntVar(&c.rateLimit, "rate-limit", 0, "API requests allowed per token and minute (0 = unlimited)")
	fs.Float64Var(&c.legacyShare, "legacy-share", 0, "share of events rendered in GitLab's legacy shape (no event_name)")
	fs.Float64Var(&c.securityShare, "security-share", 0.05, "share of events drawn from security-relevant types")
	fs.StringVar(&c.tier, "tier", gitlabsim.TierUltimate, "license tier: ultimate, premium or free (403 on audit events)")
	fs.BoolVar(&c.noKeyset, "no-keyset", false, "reject keyset pagination of the audit event endpoints with 405, like old instances")
	fs.BoolVar(&c.groupRollup, "group-rollup", false, "group feeds include their subgroups' and projects' events")
	fs.BoolVar(&c.noEventName, "no-event-name", false, "omit event_name from REST answers, like instances older than 17.0")
	fs.BoolVar(&c.quiet, "quiet", false, "do not log each streaming request")
	fs.DurationVar(&c.clockOffset, "clock-offset", 0, "the simulated GitLab's clock minus the host's (e.g. -20m): stamps created_at and the Date header")
	fs.Float64Var(&c.faults.FailShare, "fail-share", 0, "share of API requests answered with -fail-status")
	fs.IntVar(&c.faults.FailStatus, "fail-status", 500, "status of failed API requests")
	fs.Float64Var(&c.faults.SlowShare, "slow-share", 0, "share of API requests answered only after -slow-delay")
	fs.DurationVar(&c.faults.SlowDelay, "slow-delay", 40*time.Second, "how late slow API requests are answered")
	fs.DurationVar(&c.faults.Latency, "latency", 0, "how long every API request takes to be answered (a healthy GitLab answers in tens to hundreds of milliseconds)")
	fs.DurationVar(&c.faults.SlowRange, "slow-range", 0, "answer audit event queries over a longer created_at range only after -slow-delay (0 = no limit)")
	fs.DurationVar(&c.faults.MaxRange, "max-range", 0, "answer 500 to audit event queries over a longer created_at range (0 = no limit)")
	fs.StringVar(&c.faults.Path, "fail-path", "", "limit the faults above to API requests whose escaped path starts with this (e.g. /api/v4/groups/acme/audit_events: that feed stops being served)")
	fs.DurationVar(&c.churn, "churn", 0, "change the estate at this interval: create a project (with its first events), and every other time transfer or delete one (0 = never)")
	fs.IntVar(&c.vanishMidWalk, "vanish-mid-listing", 0, "delete this many projects right after the first page of a group projects listing was served, once (a removal between two pages of a walk; 0 = never)")
	fs.Var(&c.access, "access", accessUsage)
	fs.BoolVar(&c.adminMode, "admin-mode", false, "turn on GitLab's Admin Mode: administrators' tokens act as administrators only with the admin_mode scope")
	fs.IntVar(&c.appLimits.UsersGetByID, "users-limit", 0, "GET /users/:id per user and 10 minutes before a header-less 429 (GitLab's users_get_by_id; 0 = off)")
	fs.IntVar(&c.appLimits.GroupProjects, "group-projects-limit", 0, "GET /groups/:id/projects per user and minute before a header-less 429 (group_projects_api; 0 = off)")
	fs.IntVar(&c.appLimits.AuditEvents, "audit-limit", 0, "audit event requests per user and minute before a header-less 429 (not a GitLab limit; 0 = off)")
	fs.DurationVar(&c.appLimits.Interval, "app-limit-interval", 0, "replace the application limits' intervals (0 = GitLab's: 10m for -users-limit, 1m otherwise)")
	fs.BoolVar(&c.appLimits.RetryAfter, "app-limit-retry-after", false, "application 429s carry Retry-After (the whole interval), as the newest GitLab sends")
	fs.StringVar(&c.streamGroup, "stream-group", "", "the streaming destination belongs to this top-level group: only its groups' and projects' events are streamed (default: an instance destination)")
	fs.StringVar(&c.streamTypes, "stream-event-types", "", "comma-separated event types the streaming destination is filtered to")
	fs.StringVar(&c.streamNS, "stream-namespaces", "", "comma-separated subgroups or projects (at most 5) the streaming destination is filtered to")
	fs.StringVar(&c.streamName, "stream-name", "", "name of the streaming destination (GraphQL)")
	fs.BoolVar(&c.streamInactive, "stream-inactive", false, "the streaming destination is inactive: listed with active false, nothing streamed")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if err := errors.Join(c.access.errs...); err != nil {
		return c, err
	}
	if len(c.tokens) == 0 {
		c.tokens = tokenList{DefaultToken}
	}
	switch {
	case c.groups < 1 || c.projects < 1:
		return c, errors.New("-groups and -projects must be at least 1")
	case c.backfill < 0 || c.backfillSpan < 0 || c.rate < 0 || c.rateLimit < 0 || c.churn < 0 || c.vanishMidWalk < 0:
		return c, errors.New("-backfill, -backfill-span, -rate, -rate-limit, -churn and -vanish-mid-listing must not be negative")
	case !isShare(c.lateShare) || !isShare(c.dupRatio) || !isShare(c.legacyShare) || !isShare(c.securityShare):
		return c, errors.New("-late-share, -dup-ratio, -legacy-share and -security-share must be between 0 and 1")
	case !isShare(c.faults.FailShare) || !isShare(c.faults.SlowShare):
		return c, errors.New("-fail-share and -slow-share must be between 0 and 1")
	case c.faults.FailStatus < 400 || c.faults.FailStatus > 599 || c.faults.SlowDelay < 0 || c.faults.MaxRange < 0 || c.faults.Latency < 0 || c.faults.SlowRange < 0:
		return c, errors.New("-fail-status must be a 4xx or 5xx status; -slow-delay, -latency, -slow-range and -max-range must not be negative")
	case c.appLimits.UsersGetByID < 0 || c.appLimits.GroupProjects < 0 || c.appLimits.AuditEvents < 0 || c.appLimits.Interval < 0:
		return c, errors.New("-users-limit, -group-projects-limit, -audit-limit and -app-limit-interval must not be negative")
	}
	if d := c.destination(); d != nil {
		if err := d.Validate(); err != nil {
			return c, err
		}
	}
	if c.faults.Path != "" && !strings.HasPrefix(c.faults.Path, "/api/v4/") {
		return c, fmt.Errorf("-fail-path %q: an API path, starting with /api/v4/", c.faults.Path)
	}
	c.faults.Seed = c.seed
	switch strings.ToLower(c.tier) {
	case gitlabsim.TierUltimate, gitlabsim.TierPremium, gitlabsim.TierFree:
	default:
		return c, fmt.Errorf("unknown -tier %q", c.tier)
	}
	return c, nil
}

func isShare(f float64) bool { return f >= 0 && f <= 1 }

// destination is the streaming destination as GitLab would have it
// configured (nil without -stream-url).
func (c config) destination() *gitlabsim.StreamingDestination {
	if c.streamURL == "" {
		return nil
	}
	return &gitlabsim.StreamingDestination{
		Name: c.streamName, URL: c.streamURL, Group: c.streamGroup, Inactive: c.streamInactive,
		EventTypeFilters: splitList(c.streamTypes), NamespaceFilters: splitList(c.streamNS),
	}
}

func splitList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gitlab-sim:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, log.New(os.Stderr, "gitlab-sim: ", log.LstdFlags), nil); err != nil {
		fmt.Fprintln(os.Stderr, "gitlab-sim:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done. It prints the listening line to out, logs
// to logger, and sends the listening address on ready if not nil.
func run(ctx context.Context, cfg config, out io.Writer, logger *log.Logger, ready chan<- string) error {
	opts := gitlabsim.Options{
		Tokens:             map[string]gitlabsim.Token{},
		Tier:               cfg.tier,
		RateLimitPerMinute: cfg.rateLimit,
		NoKeyset:           cfg.noKeyset,
		GroupRollup:        cfg.groupRollup,
		NoEventName:        cfg.noEventName,
		Seed:               cfg.seed,
		LegacyShare:        cfg.legacyShare,
		SecurityShare:      cfg.securityShare,
		AdminMode:          cfg.adminMode,
		AppLimits:          cfg.appLimits,
	}
	if cfg.clockOffset != 0 {
		offset := cfg.clockOffset
		opts.Now = func() time.Time { return time.Now().Add(offset) }
	}
	if cfg.streamURL != "" {
		opts.StreamTo = &gitlabsim.Streamer{
			URL:            cfg.streamURL,
			Token:          cfg.streamToken,
			Batch:          cfg.streamBatch,
			BatchSize:      cfg.streamBatchSize,
			DuplicateRatio: cfg.dupRatio,
			Seed:           cfg.seed,
			OnDelivery:     deliveryLogger(logger, cfg.quiet),
			Destination:    cfg.destination(),
		}
	}
	sim := gitlabsim.New(opts)
	sim.SetFaults(cfg.faults)
	sim.Populate(cfg.groups, cfg.projects)
	sim.VanishMidListing(cfg.vanishMidWalk)
	if err := checkNamespaces(sim, cfg); err != nil {
		_ = sim.Close()
		return err
	}
	var topLevel []string
	for _, g := range sim.Groups() {
		if g.ParentID == 0 {
			topLevel = append(topLevel, g.FullPath)
		}
	}
	users := sim.Users()
	for i, tok := range cfg.tokens {
		if i == 0 {
			opts.Tokens[tok] = gitlabsim.Token{UserID: users[0].ID, Admin: true}
		} else {
			owner := gitlabsim.Token{UserID: users[i%len(users)].ID, Groups: map[string]gitlabsim.Role{}}
			for _, g := range topLevel {
				owner.Groups[g] = gitlabsim.Owner
			}
			opts.Tokens[tok] = owner
		}
		sim.SetToken(tok, opts.Tokens[tok])
	}
	for _, spec := range cfg.access.specs {
		t, err := spec.build(sim, sim.Now())
		if err != nil {
			_ = sim.Close()
			return err
		}
		sim.SetToken(spec.token, t)
	}

	if cfg.backfill > 0 {
		t0, start := time.Now(), sim.Now()
		evs := sim.GenerateWith(gitlabsim.GenerateOptions{
			Count: cfg.backfill, From: start.Add(-cfg.backfillSpan), To: start, SavedOnly: true, NoStream: true,
		})
		logger.Printf("backfilled %d events (ids %d..%d) over %s in %s",
			len(evs), evs[0].ID, evs[len(evs)-1].ID, cfg.backfillSpan, time.Since(t0).Round(time.Millisecond))
	}

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		_ = sim.Close()
		return err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger}
	if _, err := fmt.Fprintln(out, listeningLine(ln.Addr().String(), cfg, sim)); err != nil {
		_ = ln.Close()
		_ = sim.Close()
		return err
	}
	if cfg.streamURL != "" {
		logger.Printf("streaming new events to %s (batch=%t, dup-ratio=%g, group=%q, event types=%q, namespaces=%q, active=%t)",
			redactURL(cfg.streamURL), cfg.streamBatch, cfg.dupRatio, cfg.streamGroup, cfg.streamTypes, cfg.streamNS, !cfg.streamInactive)
	}
	if ready != nil {
		ready <- ln.Addr().String()
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	genDone := make(chan struct{})
	genCtx, stopGen := context.WithCancel(ctx)
	go func() {
		defer close(genDone)
		var wg sync.WaitGroup
		wg.Go(func() { churn(genCtx, sim, cfg.churn, cfg.seed, logger) })
		produce(genCtx, sim, cfg)
		wg.Wait()
	}()

	var runErr error
	select {
	case <-ctx.Done():
		logger.Printf("shutting down")
	case runErr = <-serveErr:
	}
	stopGen()
	<-genDone
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && runErr == nil {
		runErr = err
	}
	if err := sim.Flush(shutdownCtx); err != nil {
		logger.Printf("streaming queue not drained: %v", err)
	}
	_ = sim.Close()
	if cfg.streamURL != "" {
		st := sim.StreamStats()
		logger.Printf("streamed %d events in %d requests (%d failed, %d duplicates, %d left out by the destination's filters)", st.Events, st.Requests, st.Failed, st.Duplicates, st.Filtered)
	}
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	return runErr
}

// produce generates cfg.rate events per second until ctx is done. A share
// of them are late commits: a new id with a created_at in the recent past.
func produce(ctx context.Context, sim *gitlabsim.Sim, cfg config) {
	if cfg.rate <= 0 {
		return
	}
	tick := 100 * time.Millisecond
	if cfg.rate < 10 {
		tick = time.Duration(float64(time.Second) / cfg.rate)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	r := rand.New(rand.NewPCG(cfg.seed, 0x5eed))
	last := time.Now()
	due := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			due += cfg.rate * now.Sub(last).Seconds()
			last = now
			for ; due >= 1; due-- {
				at := sim.Now()
				if r.Float64() < cfg.lateShare {
					at = at.Add(-time.Duration(1+r.IntN(120)) * time.Second)
				}
				sim.GenerateWith(gitlabsim.GenerateOptions{Count: 1, From: at, To: at})
			}
		}
	}
}

// listeningLine says where the simulator listens and what it holds. It
// never includes tokens.
func listeningLine(addr string, cfg config, sim *gitlabsim.Sim) string {
	var b strings.Builder
	fmt.Fprintf(&b, "gitlab-sim listening on http://%s (tier %s, %d token(s), %d events", addr, strings.ToLower(cfg.tier), len(cfg.tokens)+len(cfg.access.specs), sim.EventCount())
	if cfg.adminMode {
		b.WriteString(", admin mode")
	}
	b.WriteString(")")
	list := func(label string, names []string) {
		const shown = 20
		fmt.Fprintf(&b, "; %s:", label)
		for i, n := range names {
			if i == shown {
				fmt.Fprintf(&b, " … and %d more", len(names)-shown)
				break
			}
			b.WriteString(" " + n)
		}
	}
	var groups, projects []string
	for _, g := range sim.Groups() {
		groups = append(groups, fmt.Sprintf("%s(%d)", g.FullPath, g.ID))
	}
	for _, p := range sim.Projects() {
		projects = append(projects, fmt.Sprintf("%s(%d)", p.FullPath, p.ID))
	}
	list("groups", groups)
	list("projects", projects)
	return b.String()
}

// deliveryLogger logs each streaming request.
func deliveryLogger(logger *log.Logger, quiet bool) func(gitlabsim.Delivery) {
	return func(d gitlabsim.Delivery) {
		if quiet && d.Err == nil && d.Status < 300 {
			return
		}
		what := d.EventType
		if what == "" {
			what = "batch"
		}
		dup := ""
		if d.Duplicate {
			dup = " (duplicate)"
		}
		if d.Err != nil {
			logger.Printf("stream: %d event(s) %s%s failed: %v", len(d.StreamIDs), what, dup, d.Err)
			return
		}
		logger.Printf("stream: %d event(s) %s id=%s%s -> %d (%s)", len(d.StreamIDs), what, firstID(d.StreamIDs), dup, d.Status, d.Duration.Round(time.Millisecond))
	}
}

func firstID(ids []string) string {
	switch len(ids) {
	case 0:
		return ""
	case 1:
		return ids[0]
	}
	return ids[0] + ",…"
}

// redactURL drops credentials and query from a URL before logging it.
func redactURL(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if scheme, rest, ok := strings.Cut(raw, "://"); ok {
		if at := strings.LastIndexByte(strings.SplitN(rest, "/", 2)[0], '@'); at >= 0 {
			rest = rest[at+1:]
		}
		return scheme + "://" + rest
	}
	return raw
}

// checkNamespaces checks that the streaming destination's group and
// namespace filters exist, as GitLab requires.
func checkNamespaces(sim *gitlabsim.Sim, cfg config) error {
	d := cfg.destination()
	if d == nil {
		return nil
	}
	known := map[string]bool{}
	for _, g := range sim.Groups() {
		known[strings.ToLower(g.FullPath)] = g.ParentID == 0 // true: a top-level group
	}
	for _, p := range sim.Projects() {
		known[strings.ToLower(p.FullPath)] = false
	}
	if d.Group != "" {
		if top, ok := known[strings.ToLower(strings.Trim(d.Group, "/"))]; !ok || !top {
			return fmt.Errorf("-stream-group: no top-level group %q", d.Group)
		}
	}
	for _, ns := range d.NamespaceFilters {
		if _, ok := known[strings.ToLower(strings.Trim(ns, "/"))]; !ok {
			return fmt.Errorf("-stream-namespaces: no group or project %q", ns)
		}
	}
	return nil
}
