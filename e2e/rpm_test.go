// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rpmPackage returns the .rpm under test, or skips when this machine
// cannot install it into a root of its own: that needs root (rpm chroots
// into it to run the scriptlets, and sets owners) and Debian's rpm.
func rpmPackage(t *testing.T) string {
	t.Helper()
	rpm := os.Getenv("E2E_RPM")
	if rpm == "" {
		t.Skip("E2E_RPM is not set: `make test` builds the .rpm and runs this test")
	}
	if os.Geteuid() != 0 {
		t.Skip("SKIP: installing the .rpm into a separate root needs root (CI runs it as root)")
	}
	for _, tool := range []string{"rpm", "ldd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP: %s is not installed: apt-get install rpm (.ci/run installs it); the .rpm install test is skipped", tool)
		}
	}
	if !filepath.IsAbs(rpm) {
		rpm = filepath.Join(repoRoot(t), rpm)
	}
	_, err := os.Stat(rpm)
	require.NoError(t, err, "E2E_RPM=%s", rpm)
	return rpm
}

// scriptletTools are what the package's scriptlets (packaging/scripts)
// run, with the paths of an RPM distribution; shadow-utils provides
// groupadd and useradd there (the package requires it).
var scriptletTools = []string{
	"/bin/sh", "/usr/bin/getent", "/usr/sbin/groupadd", "/usr/sbin/useradd",
	"/usr/bin/chown", "/usr/bin/chmod", "/usr/bin/rm", "/usr/bin/rmdir", "/usr/bin/cat",
	"/usr/sbin/nologin", "/usr/bin/false",
}

var lddPath = regexp.MustCompile(`(/\S+)`)

// newRPMRoot makes a minimal system in a directory, for `rpm --root`: the
// tools the scriptlets call (copied from this machine with the libraries
// they load), /dev/null, the account files useradd edits, and an empty
// rpm database. It is removed with the test.
func newRPMRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	put := func(path string, data []byte, mode os.FileMode) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, path)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, path), data, mode))
	}
	copyIn := func(path string) {
		real, err := filepath.EvalSymlinks(path)
		require.NoError(t, err, "%s is on every Debian machine", path)
		data, err := os.ReadFile(real)
		require.NoError(t, err)
		fi, err := os.Stat(real)
		require.NoError(t, err)
		put(path, data, fi.Mode().Perm())
	}
	for _, tool := range scriptletTools {
		copyIn(tool)
		real, _ := filepath.EvalSymlinks(tool)
		out, _ := exec.Command("ldd", real).Output() // "not a dynamic executable" for static ones
		for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
			if _, err := os.Stat(filepath.Join(root, m[1])); os.IsNotExist(err) {
				copyIn(m[1])
			}
		}
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "dev"), 0o755))
	require.NoError(t, syscall.Mknod(filepath.Join(root, "dev", "null"), syscall.S_IFCHR|0o666, int(devNull)))
	put("/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	put("/etc/group", []byte("root:x:0:\n"), 0o644)
	put("/etc/shadow", []byte("root:*:20000:0:99999:7:::\n"), 0o600)
	put("/etc/gshadow", []byte("root:*::\n"), 0o600)
	put("/etc/nsswitch.conf", []byte("passwd: files\ngroup: files\nshadow: files\n"), 0o644)
	copyIn("/etc/login.defs")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "tmp"), 0o1777))
	run(t, "rpm", "--root", root, "--initdb")
	return root
}

// devNull is the device number of /dev/null (character device 1, 3).
const devNull = 1<<8 | 3

// rootAccount looks a user or group up in the root's /etc/passwd or
// /etc/group: name -> the fields of its line.
func rootAccount(t *testing.T, root, file, name string) []string {
	t.Helper()
	for _, line := range strings.Split(readFile(t, filepath.Join(root, "etc", file)), "\n") {
		if f := strings.Split(line, ":"); len(f) > 2 && f[0] == name {
			return f
		}
	}
	return nil
}

// checkRootFile checks the owner, group and mode of a file installed into
// the root, by the names of the root's own accounts.
func checkRootFile(t *testing.T, root, path, owner, group string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(filepath.Join(root, path))
	require.NoError(t, err, path)
	st := fi.Sys().(*syscall.Stat_t)
	u, g := rootAccount(t, root, "passwd", owner), rootAccount(t, root, "group", group)
	require.NotNil(t, u, "user %s", owner)
	require.NotNil(t, g, "group %s", group)
	assert.Equal(t, u[2]+":"+g[2], strconv.Itoa(int(st.Uid))+":"+strconv.Itoa(int(st.Gid)), "%s owned by %s:%s", path, owner, group)
	assert.Equal(t, mode, fi.Mode().Perm(), "%s mode", path)
}

// validateInRoot runs the installed binary's validate on the installed
// configuration inside the root, as the service user, with the
// environment file, as the systemd unit would start it.
func validateInRoot(t *testing.T, root string) (string, error) {
	t.Helper()
	u := rootAccount(t, root, "passwd", pkgUser)
	require.NotNil(t, u)
	uid, _ := strconv.Atoi(u[2])
	gid, _ := strconv.Atoi(u[3])
	cmd := exec.Command(pkgBinary, "validate", "--config", pkgConfig)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + pkgStateDir}, envFile(t, filepath.Join(root, pkgEnvFile))...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     root,
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, //nolint:gosec // ids of the root's passwd
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestRPMPackage installs the .rpm with Debian's rpm into a root of its
// own (the scriptlets run there, chrooted, with real useradd), checks its
// files, owners, modes, user, dependencies and config flags, validates the
// installed configuration with the installed binary as the service user,
// upgrades over an edited configuration (kept), then erases the package:
// the state stays, the edited configuration is saved as .rpmsave.
func TestRPMPackage(t *testing.T) {
	pkg := rpmPackage(t)
	root := newRPMRoot(t)
	rpm := func(args ...string) string {
		t.Helper()
		return run(t, "rpm", append([]string{"--root", root}, args...)...)
	}

	// The scriptlets need getent, groupadd and useradd: shadow-utils.
	assert.Contains(t, run(t, "rpm", "-qp", "--requires", pkg), "shadow-utils")
	// The root's database knows no shadow-utils: its tools were copied in.
	out := rpm("-i", "--nodeps", pkg)
	assert.Contains(t, out, "installed and enabled, not started", "first install tells what to configure")
	assert.Contains(t, rpm("-q", pkgName), pkgName+"-")

	// The service user, made by the preinstall scriptlet.
	u := rootAccount(t, root, "passwd", pkgUser)
	require.NotNil(t, u, "the preinstall scriptlet added the user")
	uid, _ := strconv.Atoi(u[2])
	assert.Less(t, uid, 1000, "system user")
	assert.Equal(t, pkgStateDir, u[5])
	assert.Regexp(t, `(nologin|/bin/false)$`, u[6])

	// Files, owners and modes, as packaging/nfpm.yaml declares them.
	checkRootFile(t, root, pkgBinary, "root", "root", 0o755)
	checkRootFile(t, root, pkgEtc, "root", "root", 0o755)
	checkRootFile(t, root, pkgConfig, "root", pkgUser, 0o640)
	checkRootFile(t, root, pkgEnvFile, "root", pkgUser, 0o640)
	checkRootFile(t, root, pkgUnit, "root", "root", 0o644)
	checkRootFile(t, root, pkgStateDir, pkgUser, pkgUser, 0o750)
	_, err := os.Stat(filepath.Join(root, "/usr/share/doc/otelcol-kyra-gitlab/examples/privacy.yaml"))
	require.NoError(t, err, "example configurations")
	// Both configuration files are %config(noreplace): "cn".
	flags := rpm("-q", "--qf", `[%{FILENAMES} %{FILEFLAGS:fflags}\n]`, pkgName)
	assert.Contains(t, flags, pkgConfig+" cn\n")
	assert.Contains(t, flags, pkgEnvFile+" cn\n")
	assert.Contains(t, readFile(t, filepath.Join(root, pkgUnit)), "User="+pkgUser)

	// As shipped, the configuration names no feed: validate says what to set.
	out, err = validateInRoot(t, root)
	require.Error(t, err, "the shipped environment file has no feed yet:\n%s", out)
	assert.Contains(t, out, "nothing to collect")
	editedEnv := strings.Replace(readFile(t, filepath.Join(root, pkgEnvFile)), "GITLAB_GROUPS=[]", "GITLAB_GROUPS=[acme, 42]", 1)
	editedEnv = strings.Replace(editedEnv, "REPLACE-WITH-GITLAB-ACCESS-TOKEN", "glpat-package-test", 1)
	require.NoError(t, os.WriteFile(filepath.Join(root, pkgEnvFile), []byte(editedEnv), 0o640))
	editedConfig := readFile(t, filepath.Join(root, pkgConfig)) + "# edited by the package test\n"
	require.NoError(t, os.WriteFile(filepath.Join(root, pkgConfig), []byte(editedConfig), 0o640))
	out, err = validateInRoot(t, root)
	require.NoError(t, err, "installed binary, installed configuration, service user:\n%s", out)

	// Upgrade (the same package again: the scriptlets see 2 installed
	// instances): edited files are kept, without .rpmnew.
	out = rpm("-U", "--replacepkgs", "--nodeps", pkg)
	assert.NotContains(t, out, "installed and enabled, not started", "an upgrade is not a first install")
	assert.Equal(t, editedEnv, readFile(t, filepath.Join(root, pkgEnvFile)), "edited environment file kept")
	assert.Equal(t, editedConfig, readFile(t, filepath.Join(root, pkgConfig)), "edited config.yaml kept")
	for _, f := range []string{pkgConfig, pkgEnvFile} {
		_, err := os.Stat(filepath.Join(root, f+".rpmnew"))
		assert.True(t, os.IsNotExist(err), "no %s.rpmnew", f)
	}
	checkRootFile(t, root, pkgEnvFile, "root", pkgUser, 0o640)
	_, err = validateInRoot(t, root)
	require.NoError(t, err)

	// Erase: the binary and the unit go, the state stays, edited
	// configuration files are saved as .rpmsave.
	state := filepath.Join(root, pkgStateDir, "storage")
	require.NoError(t, os.MkdirAll(state, 0o750))
	rpm("-e", "--nodeps", pkgName)
	for _, gone := range []string{pkgBinary, pkgUnit, pkgConfig, pkgEnvFile} {
		_, err := os.Stat(filepath.Join(root, gone))
		assert.True(t, os.IsNotExist(err), "%s removed", gone)
	}
	assert.Equal(t, editedConfig, readFile(t, filepath.Join(root, pkgConfig+".rpmsave")), "edited config.yaml saved")
	assert.Equal(t, editedEnv, readFile(t, filepath.Join(root, pkgEnvFile+".rpmsave")), "edited environment file saved")
	_, err = os.Stat(state)
	require.NoError(t, err, "erasing keeps the state")
	q := exec.Command("rpm", "--root", root, "-q", pkgName)
	qout, err := q.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(qout), "is not installed")
}
