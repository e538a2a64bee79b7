// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The monitoring and guard-rail objects of the examples: ServiceMonitor and
// PrometheusRule (Prometheus Operator CRDs), NetworkPolicy,
// PodDisruptionBudget, and pinning the image by digest.

// Ports of the collector that the network policies are about.
const (
	streamPort  = 8443
	metricsPort = 8888
)

// target is a set of pods a NetworkPolicy can select: their labels, their
// container ports, and where they send their data.
type target struct {
	where    string
	labels   map[string]string
	ports    map[string]int32 // container port name -> number
	otlpPort int32            // port of OTLP_ENDPOINT; 0 when unknown
}

func (tg target) hasPort(n int32) bool {
	for _, p := range tg.ports {
		if p == n {
			return true
		}
	}
	return false
}

// endpointPort is the port of an OTLP endpoint URL (https: 443 when none).
func endpointPort(raw string) int32 {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return 0
	}
	if p := u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		return int32(n) //nolint:gosec // a port
	}
	if u.Scheme == "https" {
		return 443
	}
	return 80
}

func envValue(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func podTarget(p podOf) target {
	tg := target{where: p.o.kind + " " + p.o.name, labels: p.labels, ports: map[string]int32{}}
	for _, c := range p.spec.Containers {
		for _, cp := range c.Ports {
			tg.ports[cp.Name] = cp.ContainerPort
		}
		if e := envValue(c.Env, "OTLP_ENDPOINT"); e != "" {
			tg.otlpPort = endpointPort(e)
		}
	}
	return tg
}

// crTarget is the pods the OpenTelemetry Operator runs for a CR: its
// selector labels (internal/manifests/manifestutils/labels.go,
// SelectorLabels, operator v0.158), the ports of spec.ports, the metrics
// port it adds ("metrics", internal/manifests/collector/container.go) and
// the health_check port.
func crTarget(t *testing.T, o object) target {
	t.Helper()
	var cr struct {
		Metadata struct{ Name, Namespace string } `json:"metadata"`
		Spec     struct {
			Ports []struct {
				Name       string             `json:"name"`
				Port       int32              `json:"port"`
				TargetPort intstr.IntOrString `json:"targetPort"`
			} `json:"ports"`
			Env []corev1.EnvVar `json:"env"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(o.raw, &cr); err != nil {
		t.Fatal(err)
	}
	tg := target{
		where: o.kind + " " + o.name,
		labels: map[string]string{
			"app.kubernetes.io/managed-by": "opentelemetry-operator",
			"app.kubernetes.io/instance":   cr.Metadata.Namespace + "." + cr.Metadata.Name,
			"app.kubernetes.io/part-of":    "opentelemetry",
			"app.kubernetes.io/component":  "opentelemetry-collector",
		},
		ports:    map[string]int32{"metrics": metricsPort, "health": 13133},
		otlpPort: endpointPort(envValue(cr.Spec.Env, "OTLP_ENDPOINT")),
	}
	for _, p := range cr.Spec.Ports {
		n := p.Port
		if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal != 0 {
			n = p.TargetPort.IntVal
		}
		tg.ports[p.Name] = n
	}
	return tg
}

// checkGuardRails checks the monitoring and guard-rail objects of one
// example against the rest of it.
func checkGuardRails(t *testing.T, objs []object, pods []podOf) {
	t.Helper()
	var targets []target
	for _, p := range pods {
		targets = append(targets, podTarget(p))
	}
	var services []*corev1.Service
	for _, o := range objs {
		if o.apiVersion+"/"+o.kind == crKind {
			targets = append(targets, crTarget(t, o))
		}
		if s, ok := o.typed.(*corev1.Service); ok {
			services = append(services, s)
		}
	}
	for _, o := range objs {
		where := o.kind + " " + o.name
		switch o.apiVersion + "/" + o.kind {
		case "monitoring.coreos.com/v1/ServiceMonitor":
			checkCRDSchema(t, o)
			checkServiceMonitor(t, o, services)
		case "monitoring.coreos.com/v1/PrometheusRule":
			checkCRDSchema(t, o)
			var pr struct {
				Spec ruleGroups `json:"spec"`
			}
			if err := yaml.Unmarshal(o.raw, &pr); err != nil {
				t.Errorf("%s: %v", where, err)
			}
			if !equalJSON(pr.Spec, loadRules(t)) {
				t.Errorf("%s: its groups are not those of %s (make monitoring-sync)", where, rulesFile)
			}
		}
		switch v := o.typed.(type) {
		case *networkingv1.NetworkPolicy:
			checkNetworkPolicy(t, where, v.Spec, targets)
		case *policyv1.PodDisruptionBudget:
			checkPDB(t, where, v, objs)
		}
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// checkCRDSchema validates a custom resource against its CRD's schema, as
// the API server does, unknown fields included.
func checkCRDSchema(t *testing.T, o object) {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal(o.raw, &obj); err != nil {
		t.Fatal(err)
	}
	for _, p := range crProblems(crdSchema(t, o.apiVersion+"/"+o.kind), obj) {
		t.Errorf("%s %s: %s", o.kind, o.name, p)
	}
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false // these checks never expect an empty selector
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkServiceMonitor: it selects a Service of the example, in its
// namespace, that has the port each endpoint scrapes.
func checkServiceMonitor(t *testing.T, o object, services []*corev1.Service) {
	t.Helper()
	var sm struct {
		Metadata struct{ Namespace string } `json:"metadata"`
		Spec     struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			NamespaceSelector struct {
				MatchNames []string `json:"matchNames"`
			} `json:"namespaceSelector"`
			Endpoints []struct {
				Port string `json:"port"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(o.raw, &sm); err != nil {
		t.Fatal(err)
	}
	namespaces := sm.Spec.NamespaceSelector.MatchNames
	if len(namespaces) == 0 {
		namespaces = []string{sm.Metadata.Namespace}
	}
	var selected []*corev1.Service
	for _, s := range services {
		if contains(namespaces, s.Namespace) && selects(sm.Spec.Selector.MatchLabels, s.Labels) {
			selected = append(selected, s)
		}
	}
	if len(selected) == 0 {
		t.Errorf("ServiceMonitor %s selects no Service of the example (%v in %v)", o.name, sm.Spec.Selector.MatchLabels, namespaces)
		return
	}
	if len(sm.Spec.Endpoints) == 0 {
		t.Errorf("ServiceMonitor %s has no endpoint", o.name)
	}
	for _, e := range sm.Spec.Endpoints {
		found := false
		for _, s := range selected {
			for _, p := range s.Spec.Ports {
				found = found || (p.Name == e.Port && p.Port == metricsPort)
			}
		}
		if !found {
			t.Errorf("ServiceMonitor %s: no selected Service has a port %q on %d (the collector's metrics)", o.name, e.Port, metricsPort)
		}
	}
}

// checkPDB: it selects the pods of a workload of the example that runs
// more than one replica, and lets at most one go at a time.
func checkPDB(t *testing.T, where string, pdb *policyv1.PodDisruptionBudget, objs []object) {
	t.Helper()
	if pdb.Spec.Selector == nil || len(pdb.Spec.Selector.MatchExpressions) > 0 {
		t.Errorf("%s: a matchLabels selector is expected", where)
		return
	}
	found := false
	for _, o := range objs {
		var replicas *int32
		var labels map[string]string
		switch v := o.typed.(type) {
		case *appsv1.StatefulSet:
			replicas, labels = v.Spec.Replicas, v.Spec.Template.Labels
		case *appsv1.Deployment:
			replicas, labels = v.Spec.Replicas, v.Spec.Template.Labels
		default:
			continue
		}
		if !selects(pdb.Spec.Selector.MatchLabels, labels) {
			continue
		}
		found = true
		n := int32(1)
		if replicas != nil {
			n = *replicas
		}
		if n < 2 {
			t.Errorf("%s: %s %s runs %d replica: the budget would block every node drain or do nothing", where, o.kind, o.name, n)
		}
		mu, ma := pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable
		switch {
		case mu != nil && mu.Type == intstr.Int && mu.IntVal == 1 && ma == nil:
		case ma != nil && ma.Type == intstr.Int && ma.IntVal == n-1 && mu == nil:
		default:
			t.Errorf("%s: maxUnavailable 1 (or minAvailable replicas-1) expected, got maxUnavailable %v minAvailable %v", where, mu, ma)
		}
	}
	if !found {
		t.Errorf("%s: selects no workload of the example", where)
	}
}

// peerKind classifies a NetworkPolicy peer.
func peerKind(p networkingv1.NetworkPolicyPeer, own []target) string {
	switch {
	case p.IPBlock != nil:
		if strings.HasSuffix(p.IPBlock.CIDR, "/0") {
			return "everywhere"
		}
		return "address " + p.IPBlock.CIDR
	case p.NamespaceSelector != nil:
		ns := p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
		if ns == "" {
			return "every namespace"
		}
		return "namespace " + ns
	case p.PodSelector != nil:
		for _, tg := range own {
			if selects(p.PodSelector.MatchLabels, tg.labels) {
				return "own pods"
			}
		}
		return "other pods"
	}
	return "everywhere"
}

// checkNetworkPolicy checks what a policy lets in and out of the pods it
// selects: the stream port only from GitLab's addresses or the ingress
// controller's namespace, the metrics port only from the monitoring
// namespace, and out only DNS, GitLab (443) and the OTLP backend.
func checkNetworkPolicy(t reporter, where string, np networkingv1.NetworkPolicySpec, targets []target) {
	t.Helper()
	if len(np.PodSelector.MatchExpressions) > 0 {
		t.Errorf("%s: a matchLabels pod selector is expected", where)
	}
	var own []target
	for _, tg := range targets {
		if selects(np.PodSelector.MatchLabels, tg.labels) {
			own = append(own, tg)
		}
	}
	if len(own) == 0 {
		t.Errorf("%s: its podSelector %v selects no pod of the example", where, np.PodSelector.MatchLabels)
		return
	}
	types := map[networkingv1.PolicyType]bool{networkingv1.PolicyTypeIngress: true}
	if len(np.PolicyTypes) > 0 {
		types = map[networkingv1.PolicyType]bool{}
		for _, pt := range np.PolicyTypes {
			types[pt] = true
		}
	} else if len(np.Egress) > 0 {
		types[networkingv1.PolicyTypeEgress] = true
	}
	if !types[networkingv1.PolicyTypeIngress] || !types[networkingv1.PolicyTypeEgress] {
		t.Errorf("%s: restricts %v; both Ingress and Egress are expected", where, np.PolicyTypes)
	}
	resolve := func(p *intstr.IntOrString) (int32, bool) {
		if p == nil {
			return 0, false
		}
		if p.Type == intstr.Int {
			for _, tg := range own {
				if !tg.hasPort(p.IntVal) {
					t.Errorf("%s: port %d is no container port of %s", where, p.IntVal, tg.where)
				}
			}
			return p.IntVal, true
		}
		var n int32
		for _, tg := range own {
			v, ok := tg.ports[p.StrVal]
			if !ok {
				t.Errorf("%s: port %q is no container port of %s", where, p.StrVal, tg.where)
				continue
			}
			n = v
		}
		return n, n != 0
	}
	// Who may reach a port: the kinds of the peers of every rule covering it.
	sources := func(port int32) map[string]bool {
		out := map[string]bool{}
		for _, r := range np.Ingress {
			covers := len(r.Ports) == 0
			for _, p := range r.Ports {
				if n, ok := resolve(p.Port); ok && n == port {
					covers = true
				}
			}
			if !covers {
				continue
			}
			if len(r.From) == 0 {
				out["everywhere"] = true
			}
			for _, peer := range r.From {
				out[peerKind(peer, own)] = true
			}
		}
		return out
	}
	stream := sources(streamPort)
	gitlab := 0
	for s := range stream {
		switch {
		case strings.HasPrefix(s, "address "), strings.HasPrefix(s, "namespace ") && s != "namespace monitoring":
			gitlab++
		case s == "own pods":
		default:
			t.Errorf("%s: the stream port %d is open to %s; only GitLab's addresses or the ingress controller's namespace should reach it", where, streamPort, s)
		}
	}
	if gitlab == 0 {
		t.Errorf("%s: nothing may reach the stream port %d (GitLab's addresses or the ingress controller's namespace)", where, streamPort)
	}
	metrics := sources(metricsPort)
	if !metrics["namespace monitoring"] {
		t.Errorf("%s: the monitoring namespace cannot reach the metrics port %d", where, metricsPort)
	}
	for s := range metrics {
		if s != "namespace monitoring" && s != "own pods" {
			t.Errorf("%s: the metrics port %d is open to %s; only the monitoring namespace should reach it", where, metricsPort, s)
		}
	}

	// Egress: DNS over UDP and TCP, GitLab over HTTPS, the OTLP backend.
	allowed := map[string]bool{}
	for _, r := range np.Egress {
		if len(r.Ports) == 0 {
			t.Errorf("%s: an egress rule without ports lets everything out", where)
		}
		for _, p := range r.Ports {
			proto := corev1.ProtocolTCP
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			if p.Port != nil && p.Port.Type == intstr.Int {
				allowed[fmt.Sprintf("%d/%s", p.Port.IntVal, proto)] = true
			}
		}
		for _, peer := range r.To {
			if k := peerKind(peer, own); k == "everywhere" || k == "every namespace" {
				t.Errorf("%s: egress to %s", where, k)
			}
		}
	}
	want := []string{"53/UDP", "53/TCP", "443/TCP"}
	for _, tg := range own {
		if tg.otlpPort != 0 {
			want = append(want, fmt.Sprintf("%d/TCP", tg.otlpPort))
		}
	}
	for _, w := range want {
		if !allowed[w] {
			t.Errorf("%s: no egress to port %s (DNS, GitLab's API, the OTLP backend)", where, w)
		}
	}
}

// TestEveryKustomizationIsGuarded: every kustomization renders the
// ServiceMonitor, the PrometheusRule and a NetworkPolicy (their contents
// are checked by TestKustomizations), and the stream-only one a
// PodDisruptionBudget.
func TestEveryKustomizationIsGuarded(t *testing.T) {
	for _, dir := range kustomizationDirs(t) {
		t.Run(dir, func(t *testing.T) {
			kinds := map[string]int{}
			for _, o := range render(t, dir) {
				kinds[o.kind]++
			}
			for _, k := range []string{"ServiceMonitor", "PrometheusRule", "NetworkPolicy"} {
				if kinds[k] != 1 {
					t.Errorf("%d %s objects, want 1", kinds[k], k)
				}
			}
			wantPDB := 0
			if filepath.Base(dir) == "stream-only" {
				wantPDB = 1 // GitLab never re-sends a streamed event
			}
			if kinds["PodDisruptionBudget"] != wantPDB {
				t.Errorf("%d PodDisruptionBudgets, want %d", kinds["PodDisruptionBudget"], wantPDB)
			}
		})
	}
}

// TestImagePinnedByDigest pins the image by digest the way the base's
// kustomization tells (images: name + digest) in an overlay of every
// kustomization: every container must then run the pinned image, which
// holds only if every workload names the image as the comment does.
func TestImagePinnedByDigest(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	m := regexp.MustCompile(`(?m)^#\s+- name: (\S+)$`).FindStringSubmatch(readText(t, filepath.Join("kubernetes", "base", "kustomization.yaml")))
	if m == nil || !strings.Contains(readText(t, filepath.Join("kubernetes", "base", "kustomization.yaml")), "digest: sha256:") {
		t.Fatal("the base kustomization no longer shows how to pin the image by digest")
	}
	for _, dir := range kustomizationDirs(t) {
		t.Run(dir, func(t *testing.T) {
			abs, err := filepath.Abs(dir)
			if err != nil {
				t.Fatal(err)
			}
			overlay := t.TempDir()
			rel, err := filepath.Rel(overlay, abs) // kustomize refuses absolute roots
			if err != nil {
				t.Fatal(err)
			}
			k := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - %s\nimages:\n  - name: %s\n    digest: %s\n", rel, m[1], digest)
			if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(k), 0o600); err != nil {
				t.Fatal(err)
			}
			rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), overlay)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range rm.Resources() {
				y, err := r.AsYAML()
				if err != nil {
					t.Fatal(err)
				}
				var w struct {
					Spec struct {
						Template struct {
							Spec corev1.PodSpec `json:"spec"`
						} `json:"template"`
					} `json:"spec"`
				}
				if err := yaml.Unmarshal(y, &w); err != nil {
					t.Fatal(err)
				}
				for _, c := range append(w.Spec.Template.Spec.InitContainers, w.Spec.Template.Spec.Containers...) {
					n++
					if c.Image != m[1]+"@"+digest {
						t.Errorf("%s %s, container %s: image %q is not pinned", r.GetKind(), r.GetName(), c.Name, c.Image)
					}
				}
			}
			if n == 0 {
				t.Error("no container rendered")
			}
		})
	}
}

// helmChartSchema is the chart's values.schema.json (testdata), with its
// two references to $defs resolved in place.
func helmChartSchema(t *testing.T) *spec.Schema {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "helm-chart-values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	defs, _ := doc["$defs"].(map[string]any)
	var inline func(v any) any
	inline = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				name, ok := strings.CutPrefix(ref, "#/$defs/")
				if !ok || defs[name] == nil {
					t.Fatalf("unresolved $ref %q", ref)
				}
				return defs[name]
			}
			for k, e := range x {
				x[k] = inline(e)
			}
		case []any:
			for i, e := range x {
				x[i] = inline(e)
			}
		}
		return v
	}
	delete(doc, "$defs")
	resolved, err := json.Marshal(inline(doc))
	if err != nil {
		t.Fatal(err)
	}
	s := &spec.Schema{}
	if err := json.Unmarshal(resolved, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// helmValues returns helm/values.yaml as data.
func helmValues(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := yaml.Unmarshal([]byte(readText(t, filepath.Join("helm", "values.yaml"))), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestHelmGuardRails validates helm/values.yaml against the chart's own
// schema (what `helm install` does), then checks the chart's switches:
// ServiceMonitor on the metrics port, PrometheusRule with our groups and
// without the chart's default rules (they query _total names), the
// NetworkPolicy the chart renders from the values
// (templates/networkpolicy.yaml of chart 0.170.0: one rule for every
// enabled port from allowIngressFrom, then extraIngressRules, egressRules;
// pods selected by the chart's selector labels and component), the
// PodDisruptionBudget switch, and the image digest option.
func TestHelmGuardRails(t *testing.T) {
	values := helmValues(t)
	// Helm validates the chart's defaults merged with the given values.
	var defaults map[string]any
	if err := yaml.Unmarshal([]byte(readText(t, filepath.Join("testdata", "helm-chart-values.yaml"))), &defaults); err != nil {
		t.Fatal(err)
	}
	res := validate.NewSchemaValidator(helmChartSchema(t), nil, "", strfmt.Default).Validate(coalesce(defaults, values))
	for _, err := range res.Errors {
		t.Errorf("helm/values.yaml against the chart's values.schema.json: %v", err)
	}

	var v struct {
		Mode  string `json:"mode"`
		Image struct {
			Repository string  `json:"repository"`
			Digest     *string `json:"digest"`
		} `json:"image"`
		Ports map[string]struct {
			Enabled       bool            `json:"enabled"`
			ContainerPort int32           `json:"containerPort"`
			Protocol      corev1.Protocol `json:"protocol"`
		} `json:"ports"`
		ExtraEnvs      []corev1.EnvVar `json:"extraEnvs"`
		ServiceMonitor struct {
			Enabled          bool                    `json:"enabled"`
			MetricsEndpoints []struct{ Port string } `json:"metricsEndpoints"`
		} `json:"serviceMonitor"`
		PrometheusRule struct {
			Enabled      bool `json:"enabled"`
			DefaultRules struct {
				Enabled bool `json:"enabled"`
			} `json:"defaultRules"`
		} `json:"prometheusRule"`
		PodDisruptionBudget struct {
			Enabled bool `json:"enabled"`
		} `json:"podDisruptionBudget"`
		ReplicaCount  int `json:"replicaCount"`
		NetworkPolicy struct {
			Enabled           bool                                    `json:"enabled"`
			AllowIngressFrom  []networkingv1.NetworkPolicyPeer        `json:"allowIngressFrom"`
			ExtraIngressRules []networkingv1.NetworkPolicyIngressRule `json:"extraIngressRules"`
			EgressRules       []networkingv1.NetworkPolicyEgressRule  `json:"egressRules"`
		} `json:"networkPolicy"`
	}
	raw, err := json.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}

	if v.Image.Digest == nil {
		t.Error("image.digest is not in the values: the option to pin the image by digest")
	} else if d := *v.Image.Digest; d != "" && !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(d) {
		t.Errorf("image.digest %q is not sha256:<64 hex>", d)
	}

	if !v.ServiceMonitor.Enabled || len(v.ServiceMonitor.MetricsEndpoints) == 0 {
		t.Error("serviceMonitor is not enabled with an endpoint")
	}
	for _, e := range v.ServiceMonitor.MetricsEndpoints {
		if p, ok := v.Ports[e.Port]; !ok || !p.Enabled || p.ContainerPort != metricsPort {
			t.Errorf("serviceMonitor scrapes port %q, which is not the enabled metrics port (%d)", e.Port, metricsPort)
		}
	}
	if !v.PrometheusRule.Enabled || v.PrometheusRule.DefaultRules.Enabled {
		t.Error("prometheusRule: enabled with our groups (TestRuleCopies), and the chart's default rules off")
	}
	if v.PodDisruptionBudget.Enabled && v.ReplicaCount < 2 {
		t.Errorf("a PodDisruptionBudget with %d replica blocks node drains or does nothing", v.ReplicaCount)
	}

	if !v.NetworkPolicy.Enabled {
		t.Fatal("networkPolicy is not enabled")
	}
	release := regexp.MustCompile(`helm install (\S+) `).FindStringSubmatch(readText(t, filepath.Join("helm", "values.yaml")))
	if release == nil {
		t.Fatal("the header no longer says `helm install <release> ...`")
	}
	component := map[string]string{"deployment": "standalone-collector", "statefulset": "statefulset-collector", "daemonset": "agent-collector"}[v.Mode]
	pods := target{
		where: "the chart's " + v.Mode + " pods",
		labels: map[string]string{
			"app.kubernetes.io/name":     "opentelemetry-collector", // no nameOverride
			"app.kubernetes.io/instance": release[1],
			"component":                  component,
		},
		ports:    map[string]int32{},
		otlpPort: endpointPort(envValue(v.ExtraEnvs, "OTLP_ENDPOINT")),
	}
	tcp := corev1.ProtocolTCP
	first := networkingv1.NetworkPolicyIngressRule{From: v.NetworkPolicy.AllowIngressFrom}
	for name, p := range v.Ports {
		if !p.Enabled {
			continue
		}
		pods.ports[name] = p.ContainerPort
		port, proto := intstr.FromInt32(p.ContainerPort), p.Protocol
		if proto == "" {
			proto = tcp
		}
		first.Ports = append(first.Ports, networkingv1.NetworkPolicyPort{Port: &port, Protocol: &proto})
	}
	rendered := networkingv1.NetworkPolicySpec{
		PodSelector: metavLabels(map[string]string{
			"app.kubernetes.io/name":     "opentelemetry-collector",
			"app.kubernetes.io/instance": release[1],
			"component":                  component,
		}),
		Ingress: append([]networkingv1.NetworkPolicyIngressRule{first}, v.NetworkPolicy.ExtraIngressRules...),
		Egress:  v.NetworkPolicy.EgressRules,
	}
	checkNetworkPolicy(t, "helm networkPolicy", rendered, []target{pods})
}

// TestGuardRailChecksCatchMistakes shows the network policy and budget
// checks failing on the mistakes they are there for.
func TestGuardRailChecksCatchMistakes(t *testing.T) {
	pods := []target{{where: "pods", labels: map[string]string{"app": "c"}, ports: map[string]int32{"stream": streamPort, "metrics": metricsPort}, otlpPort: 4318}}
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port := func(n int32, p *corev1.Protocol) networkingv1.NetworkPolicyPort {
		v := intstr.FromInt32(n)
		return networkingv1.NetworkPolicyPort{Port: &v, Protocol: p}
	}
	ns := func(name string) networkingv1.NetworkPolicyPeer {
		return networkingv1.NetworkPolicyPeer{NamespaceSelector: metavLabelsPtr(map[string]string{"kubernetes.io/metadata.name": name})}
	}
	good := func() networkingv1.NetworkPolicySpec {
		return networkingv1.NetworkPolicySpec{
			PodSelector: metavLabels(map[string]string{"app": "c"}),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{Ports: []networkingv1.NetworkPolicyPort{port(streamPort, &tcp)}, From: []networkingv1.NetworkPolicyPeer{ns("ingress-nginx")}},
				{Ports: []networkingv1.NetworkPolicyPort{port(metricsPort, &tcp)}, From: []networkingv1.NetworkPolicyPeer{ns("monitoring")}},
			},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{Ports: []networkingv1.NetworkPolicyPort{port(53, &udp), port(53, &tcp)}},
				{Ports: []networkingv1.NetworkPolicyPort{port(443, &tcp), port(4318, &tcp)}},
			},
		}
	}
	for _, c := range []struct {
		name   string
		break_ func(*networkingv1.NetworkPolicySpec)
		want   string
	}{
		{"metrics from the ingress namespace", func(s *networkingv1.NetworkPolicySpec) {
			s.Ingress[0].Ports = append(s.Ingress[0].Ports, port(metricsPort, &tcp))
		}, "the metrics port 8888 is open to namespace ingress-nginx"},
		{"a rule without ports", func(s *networkingv1.NetworkPolicySpec) {
			s.Ingress[1].Ports = nil
		}, "the stream port 8443 is open to namespace monitoring"},
		{"a rule without sources", func(s *networkingv1.NetworkPolicySpec) {
			s.Ingress[0].From = nil
		}, "open to everywhere"},
		{"no DNS", func(s *networkingv1.NetworkPolicySpec) {
			s.Egress = s.Egress[1:]
		}, "no egress to port 53/UDP"},
		{"no egress restriction", func(s *networkingv1.NetworkPolicySpec) {
			s.PolicyTypes, s.Egress = nil, nil
		}, "both Ingress and Egress are expected"},
		{"selects nothing", func(s *networkingv1.NetworkPolicySpec) {
			s.PodSelector = metavLabels(map[string]string{"app": "other"})
		}, "selects no pod"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := good()
			c.break_(&s)
			got := captureErrors(func(r reporter) { checkNetworkPolicy(r, "np", s, pods) })
			if !strings.Contains(got, c.want) {
				t.Errorf("want an error containing %q, got:\n%s", c.want, got)
			}
		})
	}
	if got := captureErrors(func(r reporter) { checkNetworkPolicy(r, "np", good(), pods) }); got != "" {
		t.Errorf("the good policy fails: %s", got)
	}
}

// reporter is what the checks report through: a *testing.T, or a
// recorder in the tests of the checks.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// recorder keeps what a check reports.
type recorder struct{ errs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// captureErrors returns what a check reports.
func captureErrors(check func(r reporter)) string {
	r := &recorder{}
	check(r)
	return strings.Join(r.errs, "\n")
}

func metavLabels(m map[string]string) metav1.LabelSelector {
	return metav1.LabelSelector{MatchLabels: m}
}

func metavLabelsPtr(m map[string]string) *metav1.LabelSelector {
	s := metavLabels(m)
	return &s
}
