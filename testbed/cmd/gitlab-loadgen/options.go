// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// commonOptions are the options every collector-driving subcommand shares:
// the binary, its configuration and working directory, the seed, the
// report files and where progress goes.
type commonOptions struct {
	collector string
	config    string // empty for stream, which reads -configs
	workDir   string
	seed      uint64
	timeout   time.Duration // zero when the subcommand has no -timeout
	out, json string
	progress  io.Writer
}

// commonFlags are one subcommand's defaults and help texts for the
// common options.
type commonFlags struct {
	config, configHelp string // no -config flag when configHelp is empty
	workDir            string // default $TMPDIR/gitlab-loadgen when empty
	workDirHelp        string
	seed               uint64
	seedHelp           string // "simulator seed" when empty
	timeout            time.Duration
	timeoutHelp        string // no -timeout flag when empty
}

// newFlagSet returns the flag set of `gitlab-loadgen <name>`.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gitlab-loadgen "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// register defines the common flags on fs with the subcommand's defaults.
func (o *commonOptions) register(fs *flag.FlagSet, d commonFlags) {
	fs.StringVar(&o.collector, "collector", "", "the distribution's binary (required)")
	if d.configHelp != "" {
		fs.StringVar(&o.config, "config", d.config, d.configHelp)
	}
	if d.workDir == "" {
		d.workDir = filepath.Join(os.TempDir(), "gitlab-loadgen")
	}
	fs.StringVar(&o.workDir, "workdir", d.workDir, d.workDirHelp)
	if d.seedHelp == "" {
		d.seedHelp = "simulator seed"
	}
	fs.Uint64Var(&o.seed, "seed", d.seed, d.seedHelp)
	if d.timeoutHelp != "" {
		fs.DurationVar(&o.timeout, "timeout", d.timeout, d.timeoutHelp)
	}
	fs.StringVar(&o.out, "out", "", "Markdown report file (default stdout)")
	fs.StringVar(&o.json, "json", "", "also write the results as JSON to this file")
}

// parse parses args with fs and checks the common options: no stray
// arguments, -collector given. Progress then goes to stderr.
func (o *commonOptions) parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.collector == "" {
		return errors.New("-collector is required")
	}
	o.progress = stderr
	return nil
}

// startCollector starts the collector binary with -config (see
// startCollector).
func (o *commonOptions) startCollector(ctx context.Context, name string, listens bool, env map[string]string) (*collector, error) {
	return startCollector(ctx, name, o.collector, o.config, o.workDir, listens, env)
}

// freshDir empties (or creates) the directory name under -workdir, for a
// collector's file_storage, and returns its path.
func (o *commonOptions) freshDir(name string) (string, error) {
	dir := filepath.Join(o.workDir, name)
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	return dir, os.MkdirAll(dir, 0o755)
}

// serveLoopback serves h on a free loopback port and returns its base
// URL and a function closing the server.
func serveLoopback(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// reportFiles are -out and -json.
func (o commonOptions) reportFiles() (out, jsonPath string) { return o.out, o.json }

// runBench is a measuring subcommand: it parses args, measures, and
// writes the report.
func runBench[O interface{ reportFiles() (string, string) }, R any](ctx context.Context, args []string, stdout, stderr io.Writer,
	parse func([]string, io.Writer) (O, error), bench func(context.Context, O) (R, error), markdown func(io.Writer, O, R) error,
) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	r, err := bench(ctx, o)
	if err != nil {
		return err
	}
	out, jsonPath := o.reportFiles()
	return writeReport(out, jsonPath, stdout, r, func(w io.Writer) error { return markdown(w, o, r) })
}

// writeReport writes the Markdown report to out (stdout when empty) and
// the results as JSON to jsonPath when set.
func writeReport(out, jsonPath string, stdout io.Writer, results any, markdown func(io.Writer) error) error {
	if jsonPath != "" {
		raw, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(jsonPath, append(raw, '\n'), 0o644); err != nil {
			return err
		}
	}
	w, closeFn, err := output(out, stdout)
	if err != nil {
		return err
	}
	if err := markdown(w); err != nil {
		_ = closeFn()
		return err
	}
	return closeFn()
}
