// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// benchRuns holds the values of every metric of one benchmark over the
// runs of -count.
type benchRuns struct {
	name    string
	metrics map[string][]float64 // unit → one value per run
}

// median returns the median of a metric, and whether it was reported.
func (b *benchRuns) median(unit string) (float64, bool) {
	vs := slices.Clone(b.metrics[unit])
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], true
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, true
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// parseGoBench reads `go test -bench` output. Benchmarks keep the order
// they first appear in; the GOMAXPROCS suffix is dropped.
func parseGoBench(r io.Reader) ([]*benchRuns, error) {
	var out []*benchRuns
	byName := map[string]*benchRuns{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // not a result line
		}
		name := procSuffix.ReplaceAllString(f[0], "")
		b := byName[name]
		if b == nil {
			b = &benchRuns{name: name, metrics: map[string][]float64{}}
			byName[name] = b
			out = append(out, b)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("malformed benchmark line %q", sc.Text())
			}
			b.metrics[f[i+1]] = append(b.metrics[f[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no benchmark result in the input")
	}
	return out, nil
}

// comparison is a pair of benchmarks the report puts side by side.
type comparison struct {
	title, ours, baseline, note string
}

var comparisons = []comparison{
	{
		title: "Poll decode, identical records (the target)", ours: "BenchmarkPollDecode/gitlab_audit", baseline: "BenchmarkPollDecode/encoding_json+FromRaw+annotate",
		note: "both sides make the very same records (bodies, attributes, timestamps, event name; the annotation is the same code); only the decoding differs",
	},
	{
		title: "Poll decode, full path against bodies only", ours: "BenchmarkPollDecode/gitlab_audit", baseline: "BenchmarkPollDecode/encoding_json+FromRaw",
		note: "gitlab_audit also indexes and sorts the window and writes up to 17 attributes, both timestamps and the event name of every record; the baseline fills bodies only",
	},
	{
		title: "Body decode alone (like for like)", ours: "BenchmarkBodyDecode/jsonpdata", baseline: "BenchmarkBodyDecode/encoding_json+FromRaw",
		note: "the same pages into record bodies, nothing else on either side",
	},
}

func runGoBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gitlab-loadgen gobench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "`go test -bench` output (required)")
	out := fs.String("out", "", "Markdown report file (default stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("-in is required")
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	runs, err := parseGoBench(f)
	if err != nil {
		return err
	}
	w, closeFn, err := output(*out, stdout)
	if err != nil {
		return err
	}
	if err := goBenchMarkdown(w, runs); err != nil {
		_ = closeFn()
		return err
	}
	return closeFn()
}

func goBenchMarkdown(w io.Writer, runs []*benchRuns) error {
	byName := map[string]*benchRuns{}
	for _, r := range runs {
		byName[r.name] = r
	}
	var b strings.Builder
	count := 0
	for _, r := range runs {
		count = max(count, len(r.metrics["ns/op"]))
	}

	b.WriteString("Poll decode: pages of 100 simulated REST events into log records, one core (`-cpu 1`). Ratio > 1: gitlab_audit is better.\n\n")
	b.WriteString("| Comparison | gitlab_audit events/s | baseline events/s | speed ratio | gitlab_audit allocs/event | baseline allocs/event | Notes |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---|\n")
	for _, c := range comparisons {
		o, ok1 := byName[c.ours]
		z, ok2 := byName[c.baseline]
		if !ok1 || !ok2 {
			continue
		}
		oe, _ := o.median("events/s")
		ze, _ := z.median("events/s")
		oa, _ := o.median("allocs/event")
		za, _ := z.median("allocs/event")
		ratio := 0.0
		if ze > 0 {
			ratio = oe / ze
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f× | %.1f | %.1f | %s |\n", c.title, thousands(oe), thousands(ze), ratio, oa, za, c.note)
	}

	if h, ok := byName["BenchmarkStreamHandler"]; ok {
		ns, _ := h.median("ns/event")
		allocs, _ := h.median("allocs/op")
		bytes, _ := h.median("B/op")
		b.WriteString("\nStreaming handler alone (no network, a pipeline that does nothing, one event per request, one core):\n\n")
		b.WriteString("| Benchmark | ns/event | allocs/event | B/event |\n|---|---:|---:|---:|\n")
		fmt.Fprintf(&b, "| BenchmarkStreamHandler | %s | %.0f | %s |\n", thousands(ns), allocs, thousands(bytes))
	}

	var detect []*benchRuns
	for _, r := range runs {
		if strings.HasPrefix(r.name, "BenchmarkProcessLogs/") {
			detect = append(detect, r)
		}
	}
	if len(detect) > 0 {
		b.WriteString("\nDetection (`gitlab_detect`), batches of 1,000 records built as the receiver builds them, one core:\n\n")
		b.WriteString("| Benchmark | ns/event | allocs/event |\n|---|---:|---:|\n")
		for _, r := range detect {
			ns, _ := r.median("ns/event")
			allocs, _ := r.median("allocs/event")
			fmt.Fprintf(&b, "| %s | %s | %.2f |\n", strings.TrimPrefix(r.name, "BenchmarkProcessLogs/"), thousands(ns), allocs)
		}
		med := func(name string) (float64, bool) {
			if r, ok := byName["BenchmarkProcessLogs/"+name]; ok {
				return r.median("ns/event")
			}
			return 0, false
		}
		if ev, ok := med("evaluated_nomatch"); ok {
			verdict := "met"
			if ev >= 300 {
				verdict = "missed"
			}
			fmt.Fprintf(&b, "\nNon-matching events of types that have built-in rules and windows (`evaluated_nomatch`): %.0f ns/event, target under 300 ns/event: %s.\n", ev, verdict)
		}
		n0, ok1 := med("nomatch")
		n1, ok2 := med("nomatch+1000rules")
		if ok1 && ok2 && n0 > 0 {
			fmt.Fprintf(&b, "Cost with 1,000 extra rules on other event types ÷ cost without: %.2f (1.00: the cost does not grow with the number of rules).\n", n1/n0)
		}
	}

	fmt.Fprintf(&b, "\nMedians of %d runs.\n", count)
	_, err := io.WriteString(w, b.String())
	return err
}
