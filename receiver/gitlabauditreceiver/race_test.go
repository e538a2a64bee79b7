// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

//go:build race

package gitlabauditreceiver

// raceEnabled is true when the tests run with the race detector, which
// makes long tests several times slower.
const raceEnabled = true
