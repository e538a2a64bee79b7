// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ociArchive is an OCI image archive (`buildah push IMAGE oci-archive:FILE`),
// read into memory: blobs by digest, and the first manifest.
type ociArchive struct {
	blobs    map[string][]byte
	manifest struct {
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
		Layers []struct {
			Digest string `json:"digest"`
		} `json:"layers"`
	}
}

func readOCIArchive(t *testing.T, file string) *ociArchive {
	t.Helper()
	blobs, index := readOCIBlobs(t, file)
	a := &ociArchive{blobs: blobs}
	var idx struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	require.NoError(t, json.Unmarshal(index, &idx))
	require.Len(t, idx.Manifests, 1)
	require.NoError(t, json.Unmarshal(a.blobs[idx.Manifests[0].Digest], &a.manifest))
	return a
}

// readOCIBlobs reads an OCI archive: its blobs by digest (each checked
// against its digest) and its index.json.
func readOCIBlobs(t *testing.T, file string) (map[string][]byte, []byte) {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	blobs := map[string][]byte{}
	var index []byte
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(h.Name, "./")
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		switch {
		case name == "index.json":
			index = b
		case strings.HasPrefix(name, "blobs/sha256/"):
			blobs["sha256:"+path.Base(name)] = b
		}
	}
	require.NotNil(t, index, "%s has no index.json", file)
	for d, b := range blobs {
		assert.Equal(t, d, "sha256:"+sha256hex(b), "blob digest")
	}
	return blobs, index
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// imageEntry is what the image's layers say of one path.
type imageEntry struct {
	typ      byte
	mode     int64
	uid, gid int
}

// unpack applies the layers in order into dir and returns every path's
// header (whiteouts applied).
func (a *ociArchive) unpack(t *testing.T, dir string) map[string]imageEntry {
	t.Helper()
	entries := map[string]imageEntry{}
	for _, l := range a.manifest.Layers {
		blob := a.blobs[l.Digest]
		var r io.Reader = bytes.NewReader(blob)
		if bytes.HasPrefix(blob, []byte{0x1f, 0x8b}) {
			gz, err := gzip.NewReader(r)
			require.NoError(t, err)
			r = gz
		}
		tr := tar.NewReader(bufio.NewReader(r))
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			name := "/" + strings.TrimPrefix(path.Clean("/"+h.Name), "/")
			if base := path.Base(name); strings.HasPrefix(base, ".wh.") {
				delete(entries, path.Join(path.Dir(name), strings.TrimPrefix(base, ".wh.")))
				continue
			}
			entries[name] = imageEntry{typ: h.Typeflag, mode: h.Mode, uid: h.Uid, gid: h.Gid}
			target := filepath.Join(dir, filepath.FromSlash(name))
			switch h.Typeflag {
			case tar.TypeDir:
				require.NoError(t, os.MkdirAll(target, 0o755))
			case tar.TypeReg:
				require.NoError(t, os.MkdirAll(filepath.Dir(target), 0o755))
				b, err := io.ReadAll(tr)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(target, b, os.FileMode(h.Mode)&0o777|0o600))
			}
		}
	}
	return entries
}

// TestImage verifies the release image `make image` built (buildah, FROM
// scratch) from its OCI archive: the runtime settings, the file system
// (nothing but the binary, the default configuration, CA certificates,
// passwd/group, /tmp and the state directory, with their owners and modes),
// and the binary itself run from the image's file system.
func TestImage(t *testing.T) {
	archive := os.Getenv("E2E_IMAGE_ARCHIVE")
	if archive == "" {
		t.Skip("E2E_IMAGE_ARCHIVE is not set: `make image` builds the image and runs this test")
	}
	a := readOCIArchive(t, archive)

	var cfg struct {
		Config struct {
			User         string
			ExposedPorts map[string]struct{}
			Volumes      map[string]struct{}
			Entrypoint   []string
			Cmd          []string
			Labels       map[string]string
		} `json:"config"`
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	}
	require.NoError(t, json.Unmarshal(a.blobs[a.manifest.Config.Digest], &cfg))
	c := cfg.Config
	assert.Equal(t, "linux", cfg.OS)
	assert.Equal(t, "65532:65532", c.User, "non-root")
	assert.Equal(t, []string{"/otelcol-kyra-gitlab"}, c.Entrypoint)
	assert.Equal(t, []string{"--config=/etc/otelcol/config.yaml"}, c.Cmd)
	assert.Contains(t, c.Volumes, "/var/lib/otelcol")
	for _, p := range []string{"8443/tcp", "13133/tcp", "8888/tcp"} {
		assert.Contains(t, c.ExposedPorts, p, "stream, health and metrics ports")
	}
	assert.Equal(t, "otelcol-kyra-gitlab", c.Labels["org.opencontainers.image.title"])
	assert.NotEmpty(t, c.Labels["org.opencontainers.image.version"])

	root := t.TempDir()
	entries := a.unpack(t, root)
	var files []string
	for p, e := range entries {
		if e.typ == tar.TypeReg || e.typ == tar.TypeSymlink || e.typ == tar.TypeLink {
			files = append(files, p)
		}
	}
	sort.Strings(files)
	assert.Equal(t, []string{
		"/etc/group", "/etc/otelcol/config.yaml", "/etc/passwd",
		"/etc/ssl/certs/ca-certificates.crt", "/otelcol-kyra-gitlab",
	}, files, "FROM scratch: nothing else (no shell, no package manager)")

	want := map[string]imageEntry{
		"/otelcol-kyra-gitlab":               {tar.TypeReg, 0o755, 0, 0},
		"/etc/otelcol/config.yaml":           {tar.TypeReg, 0o644, 0, 0},
		"/etc/ssl/certs/ca-certificates.crt": {tar.TypeReg, 0o644, 0, 0},
		"/etc/passwd":                        {tar.TypeReg, 0o644, 0, 0},
		"/tmp":                               {tar.TypeDir, 0o1777, 0, 0},
		"/var/lib/otelcol":                   {tar.TypeDir, 0o750, 65532, 65532},
		"/var/lib/otelcol/storage":           {tar.TypeDir, 0o750, 65532, 65532},
	}
	for p, w := range want {
		got, ok := entries[p]
		if !assert.True(t, ok, "%s in the image", p) {
			continue
		}
		assert.Equal(t, w.typ, got.typ, "%s type", p)
		assert.Equal(t, w.mode, got.mode&0o7777, "%s mode %o", p, got.mode)
		assert.Equal(t, [2]int{w.uid, w.gid}, [2]int{got.uid, got.gid}, "%s owner", p)
	}
	assert.Contains(t, readFile(t, filepath.Join(root, "etc", "passwd")), "nonroot:x:65532:65532:")
	assert.Contains(t, readFile(t, filepath.Join(root, "etc", "ssl", "certs", "ca-certificates.crt")), "BEGIN CERTIFICATE")
	assert.Equal(t, readFile(t, filepath.Join(repoRoot(t), "config", "production.yaml")), readFile(t, filepath.Join(root, "etc", "otelcol", "config.yaml")))

	bin := filepath.Join(root, "otelcol-kyra-gitlab")
	if built := os.Getenv("E2E_COLLECTOR_BINARY"); built != "" {
		assert.Equal(t, sha256hex([]byte(readFile(t, collectorBinary(t)))), sha256hex([]byte(readFile(t, bin))), "the image carries the binary of `make build`")
	}
	out, err := exec.Command(bin, "components").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, name := range []string{"gitlab_audit", "gitlab_detect", "redaction", "file_log", "kafka", "otlp_http", "file_storage", "health_check"} {
		assert.Contains(t, string(out), "name: "+name+"\n")
	}
	cmd := exec.Command(bin, "validate", "--config", filepath.Join(root, "etc", "otelcol", "config.yaml"))
	cmd.Env = []string{
		"GITLAB_URL=https://gitlab.example.com", "GITLAB_TOKEN=glpat-example", "GITLAB_GROUPS=[acme]",
		"GITLAB_STREAM_TOKEN=stream-example", "OTLP_ENDPOINT=https://otlp.example.com:4318", "OTLP_API_KEY=key",
	}
	out, err = cmd.CombinedOutput()
	assert.NoError(t, err, "validate the bundled configuration:\n%s", out)
}
