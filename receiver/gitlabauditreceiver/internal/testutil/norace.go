// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

//go:build !race

package testutil

// RaceEnabled is false: the tests run without the race detector.
const RaceEnabled = false
