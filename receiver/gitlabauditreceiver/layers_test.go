// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// layers is the shape of the receiver: each package owns one stage of an
// event's path and imports only packages of lower layers, never a sibling
// (docs/architecture.md draws it). testutil is for tests only.
var layers = map[string]int{
	"internal/tick":      0, // run every interval, sleep until cancelled
	"internal/metadata":  0, // identity, self-metrics
	"internal/auditlog":  1, // one GitLab event -> one record
	"internal/gitlabapi": 1, // GitLab's REST API
	"internal/enrich":    2, // lookups of the objects events name
	"internal/access":    2, // what the token can see, its expiry
	"internal/emit":      3, // admit, de-duplicate, enrich, deliver, store
	"internal/stream":    4, // the streaming endpoint and the stream watch
	"internal/poll":      4, // feeds, scheduler, discovery, slices, checkpoints
	".":                  5, // what the collector sees: config, factory, wiring
}

const module = "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

// TestPackagesFollowTheEventsPath fails on an import that runs back up or
// sideways between the receiver's packages (non-test files).
func TestPackagesFollowTheEventsPath(t *testing.T) {
	imports := map[string][]string{}
	fset := token.NewFileSet()
	require.NoError(t, filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if rel, ok := strings.CutPrefix(p, module+"/"); ok {
				imports[pkg] = append(imports[pkg], rel)
			}
		}
		if _, ok := imports[pkg]; !ok {
			imports[pkg] = nil
		}
		return nil
	}))
	var pkgs []string
	for pkg := range imports {
		pkgs = append(pkgs, pkg)
	}
	sort.Strings(pkgs)
	for _, pkg := range pkgs {
		if pkg == "internal/testutil" {
			continue
		}
		from, ok := layers[pkg]
		if !assert.True(t, ok, "package %s has no layer: place it in layers and in docs/architecture.md", pkg) {
			continue
		}
		for _, dep := range imports[pkg] {
			to, ok := layers[dep]
			if !ok {
				t.Errorf("%s imports %s, which is not a package of the path (test-only?)", pkg, dep)
				continue
			}
			assert.Less(t, to, from, "%s (layer %d) imports %s (layer %d): an import runs back up or sideways", pkg, from, dep, to)
		}
	}
	assert.Contains(t, pkgs, "internal/emit", "the walk found the packages")
}

// TestConsumeLogsIsCalledOnce: events leave the receiver in one place.
func TestConsumeLogsIsCalledOnce(t *testing.T) {
	var calls []string
	require.NoError(t, filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, src, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "ConsumeLogs" {
				calls = append(calls, path)
			}
			return true
		})
		return nil
	}))
	assert.Equal(t, []string{"internal/emit/emitter.go"}, calls)
}
