// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

//go:build !race

package gitlabauditreceiver

const raceEnabled = false
