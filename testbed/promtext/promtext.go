// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package promtext reads samples from the Prometheus text exposition
// format, as the collector's telemetry serves it: enough for the load
// generator and the end-to-end tests to read a metric by its labels.
package promtext

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Sum sums the samples of name in Prometheus text format. A counter
// is found with or without the _total suffix (the collector's
// Prometheus exporter adds it or not, depending on its version and
// configuration).
func Sum(r io.Reader, name string, match map[string]string) (float64, error) {
	name = strings.TrimSuffix(name, "_total")
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	total := 0.0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || !strings.HasPrefix(line, name) {
			continue
		}
		rest := strings.TrimPrefix(line[len(name):], "_total")
		labels := ""
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // another metric whose name starts with name
		}
		if !labelsMatch(labels, match) {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("malformed sample %q", line)
		}
		total += v
	}
	return total, sc.Err()
}

func labelsMatch(labels string, match map[string]string) bool {
	got := parseLabels(labels)
	for k, v := range match {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}

// parseLabels reads `a="x",b="y\"z"` into a map.
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, `="`)
		if !ok {
			return out
		}
		var v strings.Builder
		i := 0
		for ; i < len(rest) && rest[i] != '"'; i++ {
			if rest[i] == '\\' && i+1 < len(rest) {
				i++
				switch rest[i] {
				case 'n':
					v.WriteByte('\n')
				default:
					v.WriteByte(rest[i])
				}
				continue
			}
			v.WriteByte(rest[i])
		}
		out[strings.TrimSpace(k)] = v.String()
		if i >= len(rest) {
			return out
		}
		s = strings.TrimPrefix(rest[i+1:], ",")
	}
	return out
}

// ByLabel reads the samples of a gauge, in Prometheus text
// format, by the value of one label.
func ByLabel(r io.Reader, name, label string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		fields := strings.Fields(line[end+1:])
		if end < 0 || len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("malformed sample %q", line)
		}
		out[parseLabels(line[len(name)+1 : end])[label]] = v
	}
	return out, sc.Err()
}
