// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestShippedConfigsDoNotLoseAcknowledgedEvents checks every collector
// configuration the project ships (config/, deploy/, and the full
// pipelines in the READMEs and docs) for the combination that loses
// acknowledged events on a crash: a gitlab_audit receiver that persists
// its checkpoints and de-duplication set (storage) feeding an exporter
// whose queue lives in memory, or a batch processor. After kill -9 the
// queued events are gone, and their redelivery is refused as duplicates.
// It needs no binary: it reads the files.
func TestShippedConfigsDoNotLoseAcknowledgedEvents(t *testing.T) {
	root := repoRoot(t)
	var files []string
	for _, dir := range []string{"config", "deploy", "docs"} {
		require.NoError(t, filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".md")) {
				files = append(files, p)
			}
			return err
		}))
	}
	files = append(files, filepath.Join(root, "README.md"), filepath.Join(root, "receiver", "gitlabauditreceiver", "README.md"))

	checked := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		docs := []string{string(raw)}
		if strings.HasSuffix(f, ".md") {
			docs = yamlBlocks(string(raw))
		}
		rel, _ := filepath.Rel(root, f)
		for i, doc := range docs {
			for _, cfg := range collectorConfigs(doc) {
				checked++
				for _, problem := range unsafePipelines(cfg) {
					t.Errorf("%s (document %d): %s", rel, i+1, problem)
				}
			}
		}
	}
	assert.GreaterOrEqual(t, checked, 10, "the shipped configurations were found")
}

var yamlBlock = regexp.MustCompile("(?s)```ya?ml\n(.*?)```")

func yamlBlocks(md string) []string {
	var out []string
	for _, m := range yamlBlock.FindAllStringSubmatch(md, -1) {
		out = append(out, m[1])
	}
	return out
}

// collectorConfigs finds the collector configurations in a YAML stream:
// maps with receivers, exporters and service, at any depth, also inside
// strings (a ConfigMap's data).
func collectorConfigs(doc string) []map[string]any {
	var out []map[string]any
	dec := yaml.NewDecoder(strings.NewReader(doc))
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			break
		}
		walkConfigs(v, &out)
	}
	return out
}

func walkConfigs(v any, out *[]map[string]any) {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["receivers"]; ok {
			if _, ok := x["service"]; ok {
				*out = append(*out, x)
				return
			}
		}
		for _, c := range x {
			walkConfigs(c, out)
		}
	case []any:
		for _, c := range x {
			walkConfigs(c, out)
		}
	case string:
		if strings.Contains(x, "gitlab_audit") && strings.Contains(x, "service:") {
			*out = append(*out, collectorConfigs(x)...)
		}
	}
}

// unsafePipelines lists the logs pipelines where a gitlab_audit receiver
// with storage feeds a batch processor or an exporter with an in-memory
// queue.
func unsafePipelines(cfg map[string]any) []string {
	receivers, _ := cfg["receivers"].(map[string]any)
	exporters, _ := cfg["exporters"].(map[string]any)
	service, _ := cfg["service"].(map[string]any)
	pipelines, _ := service["pipelines"].(map[string]any)
	var problems []string
	for name, p := range pipelines {
		pl, _ := p.(map[string]any)
		persists := false
		for _, id := range strList(pl["receivers"]) {
			if typeOf(id) != "gitlab_audit" {
				continue
			}
			rc, _ := receivers[id].(map[string]any)
			if rc["storage"] != nil {
				persists = true
			}
		}
		if !persists {
			continue
		}
		for _, id := range strList(pl["processors"]) {
			if typeOf(id) == "batch" {
				problems = append(problems, fmt.Sprintf("pipeline %s: processor %s acknowledges events before they are persisted", name, id))
			}
		}
		for _, id := range strList(pl["exporters"]) {
			if typeOf(id) == "nop" || synchronousExporters[typeOf(id)] {
				continue
			}
			ec, _ := exporters[id].(map[string]any)
			q, _ := ec["sending_queue"].(map[string]any)
			if q != nil && (q["enabled"] == false || q["storage"] != nil) {
				continue
			}
			problems = append(problems, fmt.Sprintf("pipeline %s: exporter %s keeps its sending_queue in memory while gitlab_audit persists its state (set sending_queue::storage)", name, id))
		}
	}
	slices.Sort(problems)
	return problems
}

// synchronousExporters have no sending queue: they write within the
// pipeline's call, so what they acknowledge is written. The contrib file
// exporter builds on exporterhelper without a queue (its README: "does not
// support sending_queue").
var synchronousExporters = map[string]bool{"file": true}

func strList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, s := range l {
		if str, ok := s.(string); ok {
			out = append(out, str)
		}
	}
	return out
}

func typeOf(id string) string {
	t, _, _ := strings.Cut(id, "/")
	return t
}

// TestUnsafePipelines checks the check: an in-memory queue or a batch
// processor after a persisting receiver is reported; a persistent queue, a
// disabled queue and an exporter without a queue (file) are not.
func TestUnsafePipelines(t *testing.T) {
	const receivers = "receivers: {gitlab_audit: {storage: file_storage}}\n"
	tests := []struct {
		name, config string
		problems     int
	}{
		{"persistent queue", `exporters: {otlp_http: {sending_queue: {storage: file_storage}}}
service: {pipelines: {logs: {receivers: [gitlab_audit], exporters: [otlp_http]}}}`, 0},
		{"queue disabled", `exporters: {kafka: {sending_queue: {enabled: false}}}
service: {pipelines: {logs: {receivers: [gitlab_audit], exporters: [kafka]}}}`, 0},
		{"file exporter, no queue", `exporters: {file/archive: {path: /a}}
service: {pipelines: {logs/archive: {receivers: [gitlab_audit], exporters: [file/archive]}}}`, 0},
		{"in-memory queue", `exporters: {kafka: {}}
service: {pipelines: {logs: {receivers: [gitlab_audit], exporters: [kafka]}}}`, 1},
		{"batch processor", `exporters: {file: {path: /a}}
processors: {batch: {}}
service: {pipelines: {logs: {receivers: [gitlab_audit], processors: [batch], exporters: [file]}}}`, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfgs := collectorConfigs(receivers + tc.config)
			require.Len(t, cfgs, 1)
			assert.Len(t, unsafePipelines(cfgs[0]), tc.problems)
		})
	}
}
