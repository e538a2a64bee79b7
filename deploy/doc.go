// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package deploy holds the checks of the deployment examples in this
// folder: `make deploy-check` (part of `make test`) renders the
// kustomizations, decodes every manifest strictly into the Kubernetes API
// types, validates the OpenTelemetryCollector resource against the
// operator's CRD schema, and runs the distribution's `validate` on every
// collector configuration embedded in a ConfigMap, the CR, the Helm values
// and the Docker Compose sidecar.
//
// It is a Go module of its own so that the Kubernetes and kustomize modules
// stay out of the distribution's module graph (ocb builds the distribution
// from the root go.mod).
package deploy
