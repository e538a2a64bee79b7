// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// object is one Kubernetes object of an example.
type object struct {
	origin     string // file or kustomization it comes from
	raw        []byte // its YAML
	apiVersion string
	kind       string
	name       string
	typed      any // the strictly decoded API type; nil for the CR
}

// newTyped returns an empty value of the API type of apiVersion/kind, or
// nil when the examples are not expected to contain that kind.
func newTyped(apiVersion, kind string) any {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}
	case "v1/Secret":
		return &corev1.Secret{}
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}
	case "v1/Service":
		return &corev1.Service{}
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1/PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}
	case "rbac.authorization.k8s.io/v1/Role":
		return &rbacv1.Role{}
	case "rbac.authorization.k8s.io/v1/RoleBinding":
		return &rbacv1.RoleBinding{}
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	}
	return nil
}

const crKind = "opentelemetry.io/v1beta1/OpenTelemetryCollector"

// crds are the custom resources of the examples, with the CRD (testdata)
// and version whose schema they are checked against.
var crds = map[string]struct{ file, version string }{
	crKind: {"opentelemetry.io_opentelemetrycollectors.yaml", "v1beta1"},
	"monitoring.coreos.com/v1/ServiceMonitor": {"monitoring.coreos.com_servicemonitors.yaml", "v1"},
	"monitoring.coreos.com/v1/PrometheusRule": {"monitoring.coreos.com_prometheusrules.yaml", "v1"},
}

// decode strictly decodes one YAML document: unknown and duplicate fields
// are errors, as `kubectl apply --validate=strict` makes them.
func decode(t *testing.T, origin string, raw []byte) object {
	t.Helper()
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(raw, &head); err != nil {
		t.Fatalf("%s: %v", origin, err)
	}
	o := object{origin: origin, raw: raw, apiVersion: head.APIVersion, kind: head.Kind, name: head.Metadata.Name}
	if _, ok := crds[o.apiVersion+"/"+o.kind]; ok {
		return o // checked against its CRD's schema (checkSet)
	}
	o.typed = newTyped(o.apiVersion, o.kind)
	if o.typed == nil {
		t.Errorf("%s: %s %s/%s: no API type known to these checks; add it to newTyped", origin, o.name, o.apiVersion, o.kind)
		return o
	}
	if err := yaml.UnmarshalStrict(raw, o.typed); err != nil {
		t.Errorf("%s: %s %s: %v", origin, o.kind, o.name, err)
	}
	return o
}

// splitDocs splits a multi-document YAML file.
func splitDocs(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(probe) == 0 { // comments only
			continue
		}
		docs = append(docs, doc)
	}
}

// kustomizationDirs lists the folders holding a kustomization.
func kustomizationDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir("kubernetes", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "kustomization.yaml" && !strings.Contains(readText(t, path), "\nkind: Component\n") {
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// render builds a kustomization as `kubectl kustomize` does.
func render(t *testing.T, dir string) []object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []object
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		objs = append(objs, decode(t, dir, y))
	}
	return objs
}

// TestExamplesAreAllChecked keeps every YAML file of deploy/ in one of the
// checks below, so that a new example cannot go unchecked.
func TestExamplesAreAllChecked(t *testing.T) {
	covered := map[string]bool{
		filepath.Join("helm", "values.yaml"):            true, // TestHelmValues, TestHelmGuardRails, TestRuleCopies
		filepath.Join("sidecar", "docker-compose.yaml"): true, // TestDockerComposeSidecar
		filepath.Join("sidecar", "otelcol.yaml"):        true, // TestDockerComposeSidecar
		rulesFile:                                       true, // TestAlertRules
		rulesTestFile:                                   true, // TestAlertRules (promtool test rules)
		// The monitoring component: rendered by kubernetes/base (TestKustomizations).
		filepath.Join("monitoring", "kustomization.yaml"):  true,
		filepath.Join("monitoring", "servicemonitor.yaml"): true,
		filepath.Join("monitoring", "prometheusrule.yaml"): true, // and TestRuleCopies
	}
	for _, f := range plainManifests {
		covered[f] = true
		for _, c := range companions(t, f) {
			covered[c] = true // applied with it (TestPlainManifests)
		}
	}
	kdirs := kustomizationDirs(t)
	if len(kdirs) < 2 {
		t.Fatalf("kustomizations found: %v", kdirs)
	}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || (!strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml")) {
			return nil
		}
		if covered[path] {
			return nil
		}
		for _, k := range kdirs {
			if filepath.Dir(path) == k {
				return nil // rendered by TestKustomizations
			}
		}
		t.Errorf("%s is in no check of deploy_test.go", path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestKustomizations renders every kustomization and checks what it gives.
func TestKustomizations(t *testing.T) {
	for _, dir := range kustomizationDirs(t) {
		t.Run(dir, func(t *testing.T) {
			objs := render(t, dir)
			if len(objs) == 0 {
				t.Fatal("renders nothing")
			}
			checkSet(t, objs)
		})
	}
}

// plainManifests are applied with `kubectl apply -f`, together with the
// files their header comment tells to apply with them.
var plainManifests = []string{
	filepath.Join("kubernetes", "deployment-pvc.yaml"),
	filepath.Join("kubernetes", "operator", "opentelemetrycollector.yaml"),
	filepath.Join("sidecar", "pod.yaml"),
}

var applyFile = regexp.MustCompile(`-f\s+(\S+\.yaml)`)

// companions reads the `kubectl apply -f ...` lines of a manifest's header
// comment: the files to apply with it.
func companions(t *testing.T, file string) []string {
	t.Helper()
	var out []string
	// Comment lines, with the continuations (`\`) of a command joined.
	var lines []string
	cont := false
	for _, line := range strings.Split(readText(t, file), "\n") {
		if !strings.HasPrefix(line, "#") {
			cont = false
			continue
		}
		text := strings.TrimPrefix(line, "#")
		if cont {
			lines[len(lines)-1] += " " + text
		} else {
			lines = append(lines, text)
		}
		cont = strings.HasSuffix(strings.TrimSpace(text), "\\")
	}
	for _, line := range lines {
		if !strings.Contains(line, "kubectl apply") {
			continue
		}
		for _, m := range applyFile.FindAllStringSubmatch(line, -1) {
			ref := strings.TrimPrefix(m[1], "deploy/")
			var found string
			for _, p := range []string{filepath.Join(filepath.Dir(file), ref), filepath.Join("kubernetes", ref), ref} {
				if _, err := os.Stat(p); err == nil {
					found = filepath.Clean(p)
					break
				}
			}
			if found == "" {
				t.Errorf("%s: its header applies %s, which does not exist", file, m[1])
				continue
			}
			if found != filepath.Clean(file) {
				out = append(out, found)
			}
		}
	}
	return out
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPlainManifests(t *testing.T) {
	for _, f := range plainManifests {
		t.Run(f, func(t *testing.T) {
			var objs []object
			for _, p := range append([]string{f}, companions(t, f)...) {
				for _, doc := range splitDocs(t, p) {
					objs = append(objs, decode(t, p, doc))
				}
			}
			checkSet(t, objs)
		})
	}
}

// checkSet checks what the API server does not check at decode time: the
// references between the objects of one example, and every embedded
// collector configuration.
func checkSet(t *testing.T, objs []object) {
	t.Helper()
	secrets := map[string]*corev1.Secret{}
	configMaps := map[string]*corev1.ConfigMap{}
	validated := map[string]bool{} // ConfigMap/key validated with a workload's environment
	for _, o := range objs {
		switch v := o.typed.(type) {
		case *corev1.Secret:
			secrets[v.Name] = v
		case *corev1.ConfigMap:
			configMaps[v.Name] = v
		}
	}
	var pods []podOf
	for _, o := range objs {
		switch v := o.typed.(type) {
		case *appsv1.StatefulSet:
			checkSelector(t, o, v.Spec.Selector.MatchLabels, v.Spec.Template.Labels)
			var claims []string
			for _, c := range v.Spec.VolumeClaimTemplates {
				claims = append(claims, c.Name)
			}
			pods = append(pods, podOf{o, v.Spec.Template.Labels, v.Spec.Template.Spec, claims})
		case *appsv1.Deployment:
			checkSelector(t, o, v.Spec.Selector.MatchLabels, v.Spec.Template.Labels)
			pods = append(pods, podOf{o, v.Spec.Template.Labels, v.Spec.Template.Spec, nil})
		}
		if o.apiVersion+"/"+o.kind == crKind {
			checkCR(t, o, secrets)
		}
	}
	for _, p := range pods {
		checkPod(t, p, secrets, configMaps, validated)
	}
	for _, o := range objs {
		if s, ok := o.typed.(*corev1.Service); ok {
			checkService(t, o, s, pods)
		}
	}
	checkGuardRails(t, objs, pods)
	// ConfigMaps no workload of the set mounts: validate them on their own.
	for name, cm := range configMaps {
		for key, cfg := range cm.Data {
			if !validated[name+"/"+key] && looksLikeCollectorConfig(cfg) {
				t.Run("configmap/"+name+"/"+key, func(t *testing.T) {
					validateConfig(t, cfg, envFor(cfg, nil))
				})
			}
		}
	}
}

type podOf struct {
	o      object
	labels map[string]string
	spec   corev1.PodSpec
	claims []string // volumeClaimTemplates
}

func checkSelector(t *testing.T, o object, selector, labels map[string]string) {
	t.Helper()
	for k, v := range selector {
		if labels[k] != v {
			t.Errorf("%s %s: selector %s=%s does not match the pod template labels %v", o.kind, o.name, k, v, labels)
		}
	}
}

func checkPod(t *testing.T, p podOf, secrets map[string]*corev1.Secret, configMaps map[string]*corev1.ConfigMap, validated map[string]bool) {
	t.Helper()
	volumes := map[string]corev1.Volume{}
	for _, v := range p.spec.Volumes {
		volumes[v.Name] = v
	}
	for _, c := range p.claims {
		volumes[c] = corev1.Volume{Name: c}
	}
	for _, c := range p.spec.Containers {
		where := fmt.Sprintf("%s %s, container %s", p.o.kind, p.o.name, c.Name)
		ports := map[string]bool{}
		for _, port := range c.Ports {
			ports[port.Name] = true
		}
		for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			if probe != nil && probe.HTTPGet != nil && probe.HTTPGet.Port.Type == intstr.String && !ports[probe.HTTPGet.Port.StrVal] {
				t.Errorf("%s: probe port %q is not a port of the container", where, probe.HTTPGet.Port.StrVal)
			}
		}
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				t.Errorf("%s: volume mount %q has no volume", where, m.Name)
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil && secrets[ef.SecretRef.Name] == nil {
				t.Errorf("%s: envFrom Secret %q is not in the example", where, ef.SecretRef.Name)
			}
		}
		// The collector configuration the container runs: every
		// --config=<file> (merged in order, as the collector does) on a
		// mounted ConfigMap or Secret; Kubernetes expands $(VAR) in args.
		env := containerEnv(t, where, c.Env, c.EnvFrom, secrets)
		for _, e := range c.Env {
			if p.o.kind == "StatefulSet" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
				env[e.Name] = p.o.name + "-0" // the first replica's pod name
			}
		}
		var cfgs []string
		for _, arg := range append(append([]string{}, c.Command...), c.Args...) {
			file, ok := strings.CutPrefix(arg, "--config=")
			if !ok {
				continue
			}
			file = argVar.ReplaceAllStringFunc(file, func(v string) string {
				if x, ok := env[v[2:len(v)-1]]; ok {
					return x
				}
				return v
			})
			kind, name, key := mountedSource(c, volumes, file)
			var cfg string
			switch kind {
			case "ConfigMap":
				data, ok := configMaps[name]
				if !ok || data.Data[key] == "" {
					t.Errorf("%s: --config=%s: ConfigMap %s has no key %q in the example", where, file, name, key)
					continue
				}
				validated[name+"/"+key] = true
				cfg = data.Data[key]
			case "Secret":
				sec := secrets[name]
				if sec == nil {
					t.Errorf("%s: --config=%s: Secret %s is not in the example", where, file, name)
					continue
				}
				cfg = sec.StringData[key]
				if cfg == "" {
					cfg = string(sec.Data[key])
				}
				if cfg == "" {
					t.Errorf("%s: --config=%s: Secret %s has no key %q in the example", where, file, name, key)
					continue
				}
			default:
				t.Errorf("%s: --config=%s is on no mounted ConfigMap or Secret", where, file)
				continue
			}
			cfgs = append(cfgs, cfg)
		}
		if len(cfgs) == 0 {
			continue
		}
		t.Run(fmt.Sprintf("%s/%s/%s", strings.ToLower(p.o.kind), p.o.name, c.Name), func(t *testing.T) {
			all := strings.Join(cfgs, "\n")
			checkEnvProvided(t, where, all, env)
			validateConfig(t, cfgs[0], envFor(all, env), cfgs[1:]...)
		})
	}
}

// argVar is a $(VAR) reference in a container's command or args.
var argVar = regexp.MustCompile(`\$\([A-Za-z_][A-Za-z0-9_]*\)`)

// mountedSource finds the ConfigMap or Secret, and its key, a file path of
// the container comes from.
func mountedSource(c corev1.Container, volumes map[string]corev1.Volume, file string) (kind, name, key string) {
	for _, m := range c.VolumeMounts {
		v := volumes[m.Name]
		var items []corev1.KeyToPath
		switch {
		case v.ConfigMap != nil:
			kind, name, items = "ConfigMap", v.ConfigMap.Name, v.ConfigMap.Items
		case v.Secret != nil:
			kind, name, items = "Secret", v.Secret.SecretName, v.Secret.Items
		default:
			continue
		}
		rel, err := filepath.Rel(m.MountPath, file)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		if m.SubPath != "" {
			if rel == "." {
				return kind, name, m.SubPath
			}
			continue
		}
		for _, item := range items {
			if item.Path == rel {
				return kind, name, item.Key
			}
		}
		if len(items) == 0 {
			return kind, name, rel
		}
	}
	return "", "", ""
}

// containerEnv is the environment a container gets from env and envFrom
// (Secret values as written in the example).
func containerEnv(t *testing.T, where string, env []corev1.EnvVar, from []corev1.EnvFromSource, secrets map[string]*corev1.Secret) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, ef := range from {
		if ef.SecretRef == nil {
			continue
		}
		if s := secrets[ef.SecretRef.Name]; s != nil {
			for k, v := range s.StringData {
				out[ef.Prefix+k] = v
			}
			for k, v := range s.Data {
				out[ef.Prefix+k] = string(v)
			}
		}
	}
	for _, e := range env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s := secrets[ref.Name]
			if s == nil {
				t.Errorf("%s: env %s: Secret %q is not in the example", where, e.Name, ref.Name)
				continue
			}
			v, ok := s.StringData[ref.Key]
			if !ok {
				v, ok = string(s.Data[ref.Key]), s.Data[ref.Key] != nil
			}
			if !ok {
				t.Errorf("%s: env %s: Secret %s has no key %q", where, e.Name, ref.Name, ref.Key)
			}
			out[e.Name] = v
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			// A pod's name (checkPod puts a StatefulSet's first pod name
			// here: collect::shard::index reads its ordinal).
			out[e.Name] = "example-pod-0"
		default:
			out[e.Name] = "from-" + e.Name // field or resource reference: set at run time
		}
	}
	return out
}

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// checkEnvProvided reports the ${env:NAME} of a configuration (without a
// default) that the workload does not set: the collector would read them as
// empty.
func checkEnvProvided(t *testing.T, where, cfg string, env map[string]string) {
	t.Helper()
	for _, m := range envRef.FindAllStringSubmatch(cfg, -1) {
		if m[2] != "" {
			continue
		}
		if _, ok := env[m[1]]; !ok {
			t.Errorf("%s: the configuration reads ${env:%s}, which the workload does not set", where, m[1])
		}
	}
}

// envFor completes a workload's environment with example values for what a
// configuration reads and the workload leaves to the operator.
func envFor(cfg string, env map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range envRef.FindAllStringSubmatch(cfg, -1) {
		out[m[1]] = exampleValue(m[1])
	}
	for k, v := range env {
		out[k] = v
	}
	return out
}

func exampleValue(name string) string {
	switch {
	case strings.HasSuffix(name, "_URL"):
		return "https://gitlab.example.com"
	case strings.HasSuffix(name, "_ENDPOINT"):
		return "https://otlp.example.com:4318"
	case strings.HasSuffix(name, "POD_IP"), strings.HasSuffix(name, "NODE_IP"):
		return "10.0.0.10"
	}
	return "example-" + strings.ToLower(name)
}

func looksLikeCollectorConfig(s string) bool {
	var m map[string]any
	if yaml.Unmarshal([]byte(s), &m) != nil {
		return false
	}
	_, ok := m["service"]
	return ok
}

// collectorBinary returns the distribution, or skips.
func collectorBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("E2E_COLLECTOR_BINARY")
	if bin == "" {
		t.Skip("E2E_COLLECTOR_BINARY is not set: `make deploy-check` runs `validate` with the built distribution")
	}
	if !filepath.IsAbs(bin) {
		bin = filepath.Join("..", bin)
	}
	return bin
}

// validateConfig runs the distribution's `validate` on a configuration.
func validateConfig(t *testing.T, cfg string, env map[string]string, more ...string) {
	t.Helper()
	bin := collectorBinary(t)
	if out, err := runValidate(t, bin, cfg, env, more...); err != nil {
		t.Errorf("otelcol-kyra-gitlab validate: %v\n%s\nconfiguration:\n%s", err, out, cfg)
	}
}

func runValidate(t *testing.T, bin, cfg string, env map[string]string, more ...string) (string, error) {
	t.Helper()
	args := []string{"validate"}
	dir := t.TempDir()
	for i, c := range append([]string{cfg}, more...) {
		path := filepath.Join(dir, fmt.Sprintf("config-%d.yaml", i))
		if err := os.WriteFile(path, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func checkService(t *testing.T, o object, s *corev1.Service, pods []podOf) {
	t.Helper()
	var selected []podOf
	for _, p := range pods {
		match := len(s.Spec.Selector) > 0
		for k, v := range s.Spec.Selector {
			if p.labels[k] != v {
				match = false
			}
		}
		if match {
			selected = append(selected, p)
		}
	}
	if len(selected) == 0 {
		t.Errorf("Service %s: its selector %v selects no pod of the example", s.Name, s.Spec.Selector)
		return
	}
	for _, port := range s.Spec.Ports {
		if port.TargetPort.Type != intstr.String {
			continue
		}
		for _, p := range selected {
			found := false
			for _, c := range p.spec.Containers {
				for _, cp := range c.Ports {
					found = found || cp.Name == port.TargetPort.StrVal
				}
			}
			if !found {
				t.Errorf("Service %s: targetPort %q is no container port of %s %s", s.Name, port.TargetPort.StrVal, p.o.kind, p.o.name)
			}
		}
	}
	if sts, ok := findStatefulSet(pods); ok && s.Spec.ClusterIP == corev1.ClusterIPNone && sts.ServiceName != s.Name {
		t.Errorf("headless Service %s is not the serviceName (%s) of the StatefulSet", s.Name, sts.ServiceName)
	}
	_ = o
}

func findStatefulSet(pods []podOf) (appsv1.StatefulSetSpec, bool) {
	for _, p := range pods {
		if sts, ok := p.o.typed.(*appsv1.StatefulSet); ok {
			return sts.Spec, true
		}
	}
	return appsv1.StatefulSetSpec{}, false
}

// crSchema is the v1beta1 schema of the operator's OpenTelemetryCollector
// CRD (testdata, see its README).
func crSchema(t *testing.T) *spec.Schema { return crdSchema(t, crKind) }

// crdSchema is the schema of a custom resource's kind (crds, testdata).
func crdSchema(t *testing.T, kind string) *spec.Schema {
	t.Helper()
	c, ok := crds[kind]
	if !ok {
		t.Fatalf("no CRD for %s", kind)
	}
	raw, err := os.ReadFile(filepath.Join("testdata", c.file))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string `json:"name"`
				Schema struct {
					OpenAPIV3Schema json.RawMessage `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	for _, v := range crd.Spec.Versions {
		if v.Name == c.version {
			s := &spec.Schema{}
			if err := json.Unmarshal(v.Schema.OpenAPIV3Schema, s); err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	t.Fatalf("the CRD of %s has no %s version", kind, c.version)
	return nil
}

// checkCR validates an OpenTelemetryCollector against the CRD schema, as
// the API server does (types, enums, required fields, and unknown fields,
// which the API server would prune silently), then its collector
// configuration with the distribution.
func checkCR(t *testing.T, o object, secrets map[string]*corev1.Secret) {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal(o.raw, &obj); err != nil {
		t.Fatal(err)
	}
	for _, p := range crProblems(crSchema(t), obj) {
		t.Errorf("%s %s: %s", o.kind, o.name, p)
	}
	var meta struct {
		Metadata json.RawMessage `json:"metadata"`
	}
	_ = yaml.Unmarshal(o.raw, &meta)
	var om corev1.ConfigMap // any type with ObjectMeta
	if err := yaml.UnmarshalStrict([]byte(`{"metadata":`+string(meta.Metadata)+`}`), &om); err != nil {
		t.Errorf("%s %s: metadata: %v", o.kind, o.name, err)
	}

	var cr struct {
		Spec struct {
			Config  map[string]any                 `json:"config"`
			Env     []corev1.EnvVar                `json:"env"`
			EnvFrom []corev1.EnvFromSource         `json:"envFrom"`
			Args    map[string]string              `json:"args"`
			Volumes []corev1.Volume                `json:"volumes"`
			Mounts  []corev1.VolumeMount           `json:"volumeMounts"`
			Claims  []corev1.PersistentVolumeClaim `json:"volumeClaimTemplates"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(o.raw, &cr); err != nil {
		t.Fatal(err)
	}
	volumes := map[string]bool{}
	for _, v := range cr.Spec.Volumes {
		volumes[v.Name] = true
	}
	for _, c := range cr.Spec.Claims {
		volumes[c.Name] = true
	}
	for _, m := range cr.Spec.Mounts {
		if !volumes[m.Name] {
			t.Errorf("%s %s: volume mount %q has no volume", o.kind, o.name, m.Name)
		}
	}
	cfg, err := yaml.Marshal(cr.Spec.Config)
	if err != nil {
		t.Fatal(err)
	}
	where := o.kind + " " + o.name
	env := containerEnv(t, where, cr.Spec.Env, cr.Spec.EnvFrom, secrets)
	t.Run("cr/"+o.name, func(t *testing.T) {
		checkEnvProvided(t, where, string(cfg), env)
		validateConfig(t, string(cfg), envFor(string(cfg), env))
	})
}

// crProblems validates an OpenTelemetryCollector against the CRD schema:
// schema errors, and fields the schema does not know.
func crProblems(schema *spec.Schema, obj map[string]any) []string {
	var out []string
	res := validate.NewSchemaValidator(schema, nil, "", strfmt.Default).Validate(obj)
	for _, err := range res.Errors {
		out = append(out, "CRD schema: "+err.Error())
	}
	for _, p := range unknownFields(schema, obj, "") {
		if strings.HasPrefix(p, ".metadata.") {
			continue // ObjectMeta, decoded strictly on its own
		}
		out = append(out, p+" is not in the CRD schema (the API server would drop it)")
	}
	return out
}

// unknownFields lists the paths of obj that schema neither declares nor
// leaves open (additionalProperties, x-kubernetes-preserve-unknown-fields).
func unknownFields(s *spec.Schema, obj any, path string) []string {
	if s == nil {
		return nil
	}
	if v, ok := s.Extensions["x-kubernetes-preserve-unknown-fields"]; ok && v == true {
		return nil
	}
	var out []string
	switch v := obj.(type) {
	case map[string]any:
		if len(s.Properties) == 0 {
			if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
				for k, item := range v {
					out = append(out, unknownFields(s.AdditionalProperties.Schema, item, path+"."+k)...)
				}
			}
			return out
		}
		for k, item := range v {
			prop, ok := s.Properties[k]
			if !ok {
				out = append(out, path+"."+k)
				continue
			}
			out = append(out, unknownFields(&prop, item, path+"."+k)...)
		}
	case []any:
		if s.Items != nil && s.Items.Schema != nil {
			for i, item := range v {
				out = append(out, unknownFields(s.Items.Schema, item, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return out
}

// TestHelmValues checks helm/values.yaml against the chart's own handling:
// the chart merges `config` into its default configuration (`null` removes
// a default), and the collector runs the result.
func TestHelmValues(t *testing.T) {
	var values struct {
		Config          map[string]any              `json:"config"`
		AlternateConfig map[string]any              `json:"alternateConfig"`
		ExtraEnvs       []corev1.EnvVar             `json:"extraEnvs"`
		ExtraEnvsFrom   []corev1.EnvFromSource      `json:"extraEnvsFrom"`
		Command         struct{ Name string }       `json:"command"`
		Image           struct{ Repository string } `json:"image"`
	}
	raw, err := os.ReadFile(filepath.Join("helm", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	if values.Command.Name != "otelcol-kyra-gitlab" {
		t.Errorf("command.name = %q: the image's binary is /otelcol-kyra-gitlab", values.Command.Name)
	}
	var defaults struct {
		Config map[string]any `json:"config"`
	}
	rawDefaults, err := os.ReadFile(filepath.Join("testdata", "helm-chart-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(rawDefaults, &defaults); err != nil {
		t.Fatal(err)
	}
	effective := values.AlternateConfig
	if len(effective) == 0 {
		effective = coalesce(defaults.Config, values.Config)
	}
	cfg, err := yaml.Marshal(effective)
	if err != nil {
		t.Fatal(err)
	}
	// The chart's pod sets MY_POD_IP and the OTEL_K8S_* variables of its
	// default telemetry resource itself.
	env := map[string]string{}
	for _, name := range []string{"MY_POD_IP", "OTEL_K8S_NAMESPACE", "OTEL_K8S_NODE_NAME", "OTEL_K8S_NODE_IP", "OTEL_K8S_POD_NAME", "OTEL_K8S_POD_IP"} {
		env[name] = exampleValue(name)
	}
	secret := decode(t, "kubernetes/base/secret.yaml", splitDocs(t, filepath.Join("kubernetes", "base", "secret.yaml"))[0]).typed.(*corev1.Secret)
	for k, v := range containerEnv(t, "helm values", values.ExtraEnvs, values.ExtraEnvsFrom, map[string]*corev1.Secret{secret.Name: secret}) {
		env[k] = v
	}
	checkEnvProvided(t, "helm values", string(cfg), env)
	validateConfig(t, string(cfg), envFor(string(cfg), env))
}

// coalesce merges values over defaults as Helm does: maps merge key by key,
// null removes a default, anything else replaces it.
func coalesce(defaults, values map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range values {
		if v == nil {
			delete(out, k)
			continue
		}
		dm, dok := out[k].(map[string]any)
		vm, vok := v.(map[string]any)
		if dok && vok {
			out[k] = coalesce(dm, vm)
			continue
		}
		out[k] = v
	}
	return out
}

// TestDockerComposeSidecar validates the sidecar's configuration with the
// environment the compose file gives it (its .env file holds the variables
// the header of docker-compose.yaml lists).
func TestDockerComposeSidecar(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Image       string            `json:"image"`
			Command     []string          `json:"command"`
			Environment map[string]string `json:"environment"`
			EnvFile     string            `json:"env_file"`
			Volumes     []string          `json:"volumes"`
		} `json:"services"`
	}
	raw, err := os.ReadFile(filepath.Join("sidecar", "docker-compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	svc, ok := compose.Services["otelcol"]
	if !ok {
		t.Fatal("no otelcol service")
	}
	mounted := false
	for _, v := range svc.Volumes {
		mounted = mounted || strings.HasPrefix(v, "./otelcol.yaml:/etc/otelcol/config.yaml")
	}
	if !mounted {
		t.Errorf("otelcol.yaml is not mounted at /etc/otelcol/config.yaml: %v", svc.Volumes)
	}
	cfg, err := os.ReadFile(filepath.Join("sidecar", "otelcol.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for k, v := range svc.Environment {
		env[k] = v
	}
	// The .env file the compose header tells to write.
	for _, m := range regexp.MustCompile(`(?m)^#\s+([A-Z_]+)=`).FindAllStringSubmatch(string(raw), -1) {
		env[m[1]] = exampleValue(m[1])
	}
	checkEnvProvided(t, "docker-compose otelcol", string(cfg), env)
	validateConfig(t, string(cfg), envFor(string(cfg), env))
}

// TestChecksCatchMistakes shows that each check fails on the mistake it is
// there for.
func TestChecksCatchMistakes(t *testing.T) {
	t.Run("unknown field", func(t *testing.T) {
		err := yaml.UnmarshalStrict([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndatta: {}\n"), newTyped("v1", "ConfigMap"))
		if err == nil || !strings.Contains(err.Error(), "datta") {
			t.Errorf("strict decoding accepted an unknown field: %v", err)
		}
	})
	t.Run("misspelled container field", func(t *testing.T) {
		err := yaml.UnmarshalStrict([]byte(`
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: x}
spec:
  template:
    spec:
      containers:
        - name: c
          imagePullPolicyy: Always
`), newTyped("apps/v1", "StatefulSet"))
		if err == nil || !strings.Contains(err.Error(), "imagePullPolicyy") {
			t.Errorf("strict decoding accepted a misspelled field: %v", err)
		}
	})
	t.Run("CR against the CRD", func(t *testing.T) {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(`
apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: x}
spec:
  mode: sidecarr
  replicas: one
  volumeClaimTemplatess: []
  config:
    receivers: {}
    exporters: {}
    service: {pipelines: {}}
`), &obj); err != nil {
			t.Fatal(err)
		}
		got := strings.Join(crProblems(crSchema(t), obj), "\n")
		for _, want := range []string{"spec.mode", "spec.replicas", ".spec.volumeClaimTemplatess is not in the CRD schema"} {
			if !strings.Contains(got, want) {
				t.Errorf("no problem about %s in:\n%s", want, got)
			}
		}
	})
	t.Run("collector configuration", func(t *testing.T) {
		bin := collectorBinary(t)
		out, err := runValidate(t, bin, `
receivers:
  gitlab_audit:
    stream: {endpoint: 127.0.0.1:0, verification_tokens: [t]}
exporters:
  otlp_htp: {endpoint: https://x.example.com}
service:
  pipelines:
    logs: {receivers: [gitlab_audit], exporters: [otlp_htp]}
`, nil)
		if err == nil || !strings.Contains(out, "otlp_htp") {
			t.Errorf("validate accepted an unknown exporter: %v\n%s", err, out)
		}
	})
}
