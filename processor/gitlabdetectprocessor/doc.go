// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package gitlabdetectprocessor implements the gitlab_detect logs
// processor. It reads GitLab audit events (as produced by the gitlab_audit
// receiver, or GitLab audit JSON that reached the pipeline another way),
// resolves their event type whatever their shape (streamed, REST, legacy),
// adds a security category to every record, and tags the records that match
// a detection rule: built-in stateless rules indexed by event type,
// windowed rules per author (brute force, mass download, mass deletion,
// token bursts) and custom rules written as OTTL conditions. Records are
// never dropped or reordered, and their severity is only ever raised.
//
// See README.md for the rule catalogue, the configuration and the
// attributes written.
package gitlabdetectprocessor // import "github.com/kyra-mdr/otelcol-gitlab/processor/gitlabdetectprocessor"
