// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

//go:build race

package testutil

// RaceEnabled is true when the tests run with the race detector, which
// makes long tests several times slower.
const RaceEnabled = true
