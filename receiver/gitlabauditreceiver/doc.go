// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package gitlabauditreceiver implements the gitlab_audit receiver: it
// collects GitLab audit events as logs by polling the REST API (instance,
// group and project audit events, with persistent checkpoints) and by
// accepting GitLab's audit event streaming (HTTP destination), alone or
// together, emitting each event once.
package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"
