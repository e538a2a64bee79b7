// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// releaseArch is one architecture of a release, by its names in Go, rpm and
// ELF.
type releaseArch struct {
	goarch, rpmArch string
	machine         elf.Machine
	qemu            []string // qemu-user binaries that run it on another machine
}

var releaseArches = []releaseArch{
	{"amd64", "x86_64", elf.EM_X86_64, []string{"qemu-x86_64-static", "qemu-x86_64"}},
	{"arm64", "aarch64", elf.EM_AARCH64, []string{"qemu-aarch64-static", "qemu-aarch64"}},
}

// releaseFiles are the artifacts `make release` writes for a version, each
// with its CycloneDX SBOM (<artifact>.cdx.json; the image: one per
// platform).
func releaseFiles(version string) []string {
	var out []string
	for _, a := range releaseArches {
		for _, f := range []string{
			fmt.Sprintf("otelcol-kyra-gitlab_%s_linux_%s.tar.gz", version, a.goarch),
			fmt.Sprintf("otelcol-kyra-gitlab_%s-1_%s.deb", version, a.goarch),
			fmt.Sprintf("otelcol-kyra-gitlab-%s-1.%s.rpm", version, a.rpmArch),
		} {
			out = append(out, f, f+".cdx.json")
		}
		out = append(out, fmt.Sprintf("otelcol-kyra-gitlab_%s_image.oci.tar.linux-%s.cdx.json", version, a.goarch))
	}
	out = append(out, fmt.Sprintf("otelcol-kyra-gitlab_%s_image.oci.tar", version))
	sort.Strings(out)
	return out
}

// distVersion is dist::version of builder-config.yaml.
func distVersion(t *testing.T) string {
	t.Helper()
	for _, line := range strings.Split(readFile(t, filepath.Join(repoRoot(t), "builder-config.yaml")), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "version:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("builder-config.yaml has no version")
	return ""
}

// tarGzFile returns a file of a .tar.gz, by the end of its name.
func tarGzFile(t *testing.T, archive, suffix string) []byte {
	t.Helper()
	f, err := os.Open(archive)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	return tarFile(t, gz, suffix)
}

func tarFile(t *testing.T, r io.Reader, suffix string) []byte {
	t.Helper()
	tr := tar.NewReader(bufio.NewReader(r))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("no file %s in the archive", suffix)
		}
		require.NoError(t, err)
		if h.Typeflag == tar.TypeReg && strings.HasSuffix(h.Name, suffix) {
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			return b
		}
	}
}

// imageBinaries returns, by platform (linux/<arch>), the sha256 of
// /otelcol-kyra-gitlab in each image of a multi-arch OCI archive.
func imageBinaries(t *testing.T, file string) map[string]string {
	t.Helper()
	blobs, index := readOCIBlobs(t, file)
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Platform  struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
		} `json:"platform"`
	}
	var top struct {
		Manifests []desc `json:"manifests"`
	}
	require.NoError(t, json.Unmarshal(index, &top))
	require.Len(t, top.Manifests, 1, "one image index")
	require.Equal(t, "application/vnd.oci.image.index.v1+json", top.Manifests[0].MediaType)
	var idx struct {
		Manifests []desc `json:"manifests"`
	}
	require.NoError(t, json.Unmarshal(blobs[top.Manifests[0].Digest], &idx))
	out := map[string]string{}
	for _, m := range idx.Manifests {
		var man struct {
			Config struct{ Digest string }   `json:"config"`
			Layers []struct{ Digest string } `json:"layers"`
		}
		require.NoError(t, json.Unmarshal(blobs[m.Digest], &man))
		var cfg struct{ OS, Architecture string }
		require.NoError(t, json.Unmarshal(blobs[man.Config.Digest], &cfg))
		platform := m.Platform.OS + "/" + m.Platform.Architecture
		assert.Equal(t, platform, cfg.OS+"/"+cfg.Architecture, "the index's platform is the image's")
		for _, l := range man.Layers {
			var r io.Reader = bytes.NewReader(blobs[l.Digest])
			if bytes.HasPrefix(blobs[l.Digest], []byte{0x1f, 0x8b}) {
				gz, err := gzip.NewReader(r)
				require.NoError(t, err)
				r = gz
			}
			tr := tar.NewReader(r)
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				if path.Clean("/"+h.Name) == "/otelcol-kyra-gitlab" {
					b, err := io.ReadAll(tr)
					require.NoError(t, err)
					out[platform] = sha256hex(b)
				}
			}
		}
	}
	return out
}

// TestRelease verifies what `make release` wrote (E2E_RELEASE_DIR) the way
// README.md tells a user to: every artifact is there, SHA256SUMS covers
// them and matches, its signature verifies with allowed_signers (and not
// once SHA256SUMS is changed), each binary is of its architecture and is
// the same binary in the archive, the packages and the image, each SBOM is
// CycloneDX naming that binary, and each binary runs (--version, validate):
// natively, or under Debian's qemu-user-static.
func TestRelease(t *testing.T) {
	dir := os.Getenv("E2E_RELEASE_DIR")
	if dir == "" {
		t.Skip("E2E_RELEASE_DIR is not set: `make release` builds a release and runs this test")
	}
	version := distVersion(t)
	signer := os.Getenv("RELEASE_SIGNER")
	if signer == "" {
		signer = "otelcol-kyra-gitlab-release"
	}

	// Every artifact, and nothing unexpected.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := append(releaseFiles(version), "SHA256SUMS", "SHA256SUMS.sig", "allowed_signers")
	sort.Strings(want)
	require.Equal(t, want, got)

	// SHA256SUMS: every artifact, with its hash.
	sums := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, filepath.Join(dir, "SHA256SUMS"))), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		require.True(t, ok, "sha256sum format: %q", line)
		sums[name] = sum
	}
	require.Len(t, sums, len(releaseFiles(version)))
	for _, f := range releaseFiles(version) {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		assert.Equal(t, sums[f], sha256hex(b), "%s: SHA256SUMS", f)
	}

	// The signature, as README.md "Verify a download" checks it.
	verify := func(sumsFile string) ([]byte, error) {
		cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", filepath.Join(dir, "allowed_signers"),
			"-I", signer, "-n", "file", "-s", filepath.Join(dir, "SHA256SUMS.sig"))
		f, err := os.Open(sumsFile)
		require.NoError(t, err)
		defer func() { _ = f.Close() }()
		cmd.Stdin = f
		return cmd.CombinedOutput()
	}
	out, err := verify(filepath.Join(dir, "SHA256SUMS"))
	require.NoError(t, err, "ssh-keygen -Y verify:\n%s", out)
	assert.Contains(t, string(out), `Good "file" signature for `+signer)
	tampered := filepath.Join(t.TempDir(), "SHA256SUMS")
	require.NoError(t, os.WriteFile(tampered, []byte(strings.Replace(readFile(t, filepath.Join(dir, "SHA256SUMS")), sums[releaseFiles(version)[0]], strings.Repeat("0", 64), 1)), 0o600))
	out, err = verify(tampered)
	require.Error(t, err, "a changed SHA256SUMS must not verify:\n%s", out)

	images := imageBinaries(t, filepath.Join(dir, fmt.Sprintf("otelcol-kyra-gitlab_%s_image.oci.tar", version)))
	assert.Len(t, images, len(releaseArches), "one image per architecture: %v", images)

	for _, a := range releaseArches {
		t.Run(a.goarch, func(t *testing.T) {
			// The binary of the archive, and its architecture.
			bin := tarGzFile(t, filepath.Join(dir, fmt.Sprintf("otelcol-kyra-gitlab_%s_linux_%s.tar.gz", version, a.goarch)), "/otelcol-kyra-gitlab")
			ef, err := elf.NewFile(bytes.NewReader(bin))
			require.NoError(t, err)
			assert.Equal(t, a.machine, ef.Machine, "ELF machine")
			assert.Equal(t, elf.ELFCLASS64, ef.Class)
			for _, p := range ef.Progs {
				assert.NotEqual(t, elf.PT_INTERP, p.Type, "statically linked (CGO_ENABLED=0)")
			}
			sum := sha256hex(bin)
			if a.goarch == "amd64" {
				if built := os.Getenv("E2E_COLLECTOR_BINARY"); built != "" {
					assert.Equal(t, sha256hex([]byte(readFile(t, collectorBinary(t)))), sum, "the amd64 release binary is the one make test tested")
				}
			}

			// The same binary in the .deb, the .rpm and the image.
			deb := filepath.Join(dir, fmt.Sprintf("otelcol-kyra-gitlab_%s-1_%s.deb", version, a.goarch))
			if _, err := exec.LookPath("dpkg-deb"); err == nil {
				arch, err := exec.Command("dpkg-deb", "-f", deb, "Architecture").Output()
				require.NoError(t, err)
				assert.Equal(t, a.goarch, strings.TrimSpace(string(arch)))
				data, err := exec.Command("dpkg-deb", "--fsys-tarfile", deb).Output()
				require.NoError(t, err)
				assert.Equal(t, sum, sha256hex(tarFile(t, bytes.NewReader(data), "/usr/bin/otelcol-kyra-gitlab")), ".deb binary")
			} else {
				t.Log("SKIP: dpkg-deb is not installed: the .deb is not opened")
			}
			rpmFile := filepath.Join(dir, fmt.Sprintf("otelcol-kyra-gitlab-%s-1.%s.rpm", version, a.rpmArch))
			if _, err := exec.LookPath("rpm"); err == nil {
				out, err := exec.Command("rpm", "-qp", "--qf", `%{ARCH}\n[%{FILENAMES} %{FILEDIGESTALGO} %{FILEDIGESTS}\n]`, rpmFile).Output()
				require.NoError(t, err)
				lines := strings.Split(string(out), "\n")
				assert.Equal(t, a.rpmArch, lines[0])
				assert.Contains(t, lines, "/usr/bin/otelcol-kyra-gitlab 8 "+sum, ".rpm binary (digest algorithm 8: SHA-256)")
			} else {
				t.Log("SKIP: rpm is not installed (apt-get install rpm): the .rpm is not opened")
			}
			assert.Equal(t, sum, images["linux/"+a.goarch], "image binary")

			// Each SBOM: CycloneDX, for this binary.
			for _, f := range []string{
				fmt.Sprintf("otelcol-kyra-gitlab_%s_linux_%s.tar.gz.cdx.json", version, a.goarch),
				fmt.Sprintf("otelcol-kyra-gitlab_%s-1_%s.deb.cdx.json", version, a.goarch),
				fmt.Sprintf("otelcol-kyra-gitlab-%s-1.%s.rpm.cdx.json", version, a.rpmArch),
				fmt.Sprintf("otelcol-kyra-gitlab_%s_image.oci.tar.linux-%s.cdx.json", version, a.goarch),
			} {
				var bom struct {
					BOMFormat   string `json:"bomFormat"`
					SpecVersion string `json:"specVersion"`
					Metadata    struct {
						Component struct {
							Name, Version, Purl string
						} `json:"component"`
						Properties []struct{ Name, Value string } `json:"properties"`
					} `json:"metadata"`
					Components []struct{ Name, Version string } `json:"components"`
				}
				require.NoError(t, json.Unmarshal([]byte(readFile(t, filepath.Join(dir, f))), &bom), f)
				assert.Equal(t, "CycloneDX", bom.BOMFormat, f)
				assert.NotEmpty(t, bom.SpecVersion, f)
				assert.Equal(t, "github.com/kyra-mdr/otelcol-gitlab/dist", bom.Metadata.Component.Name, f)
				assert.Equal(t, "v"+version, bom.Metadata.Component.Version, f)
				assert.Contains(t, bom.Metadata.Component.Purl, "goarch="+a.goarch, f)
				hash := ""
				for _, p := range bom.Metadata.Properties {
					if p.Name == "cdx:gomod:binary:hash:SHA-256" {
						hash = p.Value
					}
				}
				assert.Equal(t, sum, hash, "%s describes this binary", f)
				names := map[string]bool{}
				for _, c := range bom.Components {
					names[c.Name] = true
				}
				assert.Greater(t, len(bom.Components), 100, f)
				for _, m := range []string{"go.opentelemetry.io/collector/otelcol", "github.com/kyra-mdr/otelcol-gitlab"} {
					assert.True(t, names[m], "%s lists %s", f, m)
				}
			}

			// Run it: natively, or under qemu-user.
			exe := filepath.Join(t.TempDir(), "otelcol-kyra-gitlab")
			require.NoError(t, os.WriteFile(exe, bin, 0o755)) //nolint:gosec // an executable
			var wrapper []string
			how := "natively"
			if a.goarch != runtime.GOARCH {
				for _, q := range a.qemu {
					if p, err := exec.LookPath(q); err == nil {
						wrapper, how = []string{p}, "under "+q
						break
					}
				}
				if wrapper == nil {
					t.Skipf("SKIP: no %s (apt-get install qemu-user-static; .ci/run installs it): the %s binary is checked for its architecture only", a.qemu[0], a.goarch)
				}
			}
			command := func(args ...string) *exec.Cmd {
				full := append(append(append([]string{}, wrapper...), exe), args...)
				return exec.Command(full[0], full[1:]...)
			}
			out, err := command("--version").CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), version, "--version")
			versionLine := strings.TrimSpace(string(firstLine(out)))
			cmd := command("validate", "--config", filepath.Join(repoRoot(t), "config", "production.yaml"))
			cmd.Env = []string{
				"GITLAB_URL=https://gitlab.example.com", "GITLAB_TOKEN=glpat-example", "GITLAB_GROUPS=[acme]",
				"GITLAB_STREAM_TOKEN=stream-example", "OTLP_ENDPOINT=https://otlp.example.com:4318", "OTLP_API_KEY=key",
				"OTELCOL_STORAGE_DIR=" + t.TempDir(),
			}
			out, err = cmd.CombinedOutput()
			require.NoError(t, err, "validate config/production.yaml:\n%s", out)
			t.Logf("the %s binary ran %s: --version (%s), validate config/production.yaml", a.goarch, how, versionLine)
		})
	}
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i]
	}
	return b
}
