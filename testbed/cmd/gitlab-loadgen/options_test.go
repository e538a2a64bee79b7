// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCommonOptions checks that every subcommand keeps its own defaults
// of the shared flags, and that the shared checks apply to all of them.
func TestCommonOptions(t *testing.T) {
	tmp := filepath.Join(os.TempDir(), "gitlab-loadgen")
	parsers := map[string]func([]string) (commonOptions, error){
		"stream": func(a []string) (commonOptions, error) {
			o, err := parseStreamFlags(a, io.Discard)
			return o.commonOptions, err
		},
		"soak": func(a []string) (commonOptions, error) {
			o, err := parseSoakFlags(a, io.Discard)
			return o.commonOptions, err
		},
		"backfill": func(a []string) (commonOptions, error) {
			o, err := parseBackfillFlags(a, io.Discard)
			return o.commonOptions, err
		},
		"enrich": func(a []string) (commonOptions, error) {
			o, err := parseEnrichFlags(a, io.Discard)
			return o.commonOptions, err
		},
		"estate": func(a []string) (commonOptions, error) {
			o, err := parseEstateFlags(a, io.Discard)
			return o.commonOptions, err
		},
		"detect": func(a []string) (commonOptions, error) {
			o, err := parseDetectFlags(a, io.Discard)
			return o.commonOptions, err
		},
		"flaky": func(a []string) (commonOptions, error) {
			o, err := parseFlakyFlags(a, io.Discard)
			return o.commonOptions, err
		},
	}
	want := map[string]commonOptions{
		"stream":   {workDir: tmp, seed: 1, timeout: 10 * time.Second},
		"soak":     {config: "bench/soak.yaml", workDir: tmp, seed: 1, timeout: 10 * time.Second},
		"backfill": {config: "bench/backfill.yaml", workDir: tmp, seed: 1, timeout: 15 * time.Minute},
		"enrich":   {config: "bench/stream-enrich.yaml", workDir: tmp, seed: 1},
		"estate":   {config: "bench/estate.yaml", workDir: tmp, seed: 1},
		"detect":   {config: "bench/detect.yaml", workDir: "_build/bench/results/logs", seed: 7, timeout: 5 * time.Minute},
		"flaky":    {config: "bench/flaky.yaml", workDir: tmp, seed: 1, timeout: 20 * time.Minute},
	}
	for name, parse := range parsers {
		t.Run(name, func(t *testing.T) {
			o, err := parse([]string{"-collector", "bin", "-out", "r.md", "-json", "r.json"})
			require.NoError(t, err)
			w := want[name]
			w.collector, w.out, w.json, w.progress = "bin", "r.md", "r.json", io.Discard
			assert.Equal(t, w, o)

			o, err = parse([]string{"-collector", "bin", "-seed", "42", "-workdir", "w"})
			require.NoError(t, err)
			assert.Equal(t, uint64(42), o.seed)
			assert.Equal(t, "w", o.workDir)

			_, err = parse(nil)
			require.ErrorContains(t, err, "-collector is required")
			_, err = parse([]string{"-collector", "bin", "stray"})
			require.ErrorContains(t, err, "unexpected arguments")
			_, err = parse([]string{"-collector", "bin", "-nonsense"})
			require.Error(t, err)
		})
	}
}

func TestFreshDir(t *testing.T) {
	o := commonOptions{workDir: t.TempDir()}
	dir, err := o.freshDir("storage")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "old"), []byte("x"), 0o600))
	again, err := o.freshDir("storage")
	require.NoError(t, err)
	assert.Equal(t, dir, again)
	entries, err := os.ReadDir(again)
	require.NoError(t, err)
	assert.Empty(t, entries, "freshDir empties the directory")
}
