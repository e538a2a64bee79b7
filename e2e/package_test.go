// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	pkgName     = "otelcol-kyra-gitlab"
	pkgUser     = "otelcol-kyra-gitlab"
	pkgEtc      = "/etc/otelcol-kyra-gitlab"
	pkgConfig   = "/etc/otelcol-kyra-gitlab/config.yaml"
	pkgEnvFile  = "/etc/otelcol-kyra-gitlab/otelcol-kyra-gitlab.conf"
	pkgBinary   = "/usr/bin/otelcol-kyra-gitlab"
	pkgUnit     = "/lib/systemd/system/otelcol-kyra-gitlab.service"
	pkgStateDir = "/var/lib/otelcol-kyra-gitlab"
)

// debPackage returns the .deb under test, or skips when this machine cannot
// install it: the test installs the package into the machine itself, which
// needs root and dpkg (CI runs as root on a fresh Debian machine).
func debPackage(t *testing.T) string {
	t.Helper()
	deb := os.Getenv("E2E_DEB")
	if deb == "" {
		t.Skip("E2E_DEB is not set: `make test` builds the .deb and runs this test")
	}
	if os.Geteuid() != 0 {
		t.Skip("installing the .deb needs root: skipped (CI runs it as root)")
	}
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg is not installed: the .deb install test is skipped")
	}
	if !filepath.IsAbs(deb) {
		deb = filepath.Join(repoRoot(t), deb)
	}
	_, err := os.Stat(deb)
	require.NoError(t, err, "E2E_DEB=%s", deb)

	// One package test at a time on a machine (several worktrees may run
	// `make test` at once): dpkg holds its own lock, this one spans the
	// whole install-check-remove sequence.
	lock, err := os.OpenFile("/run/lock/otelcol-kyra-gitlab-package-test.lock", os.O_CREATE|os.O_RDWR, 0o600)
	require.NoError(t, err)
	require.NoError(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_EX))
	t.Cleanup(func() { _ = lock.Close() })

	if st := pkgStatus(t); st != "" && !strings.Contains(st, "not-installed") {
		t.Skipf("%s is already on this machine (%s): the test does not touch an installation it did not make", pkgName, st)
	}
	return deb
}

func pkgStatus(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", pkgName).Output()
	if err != nil {
		return "" // unknown to dpkg
	}
	return strings.TrimSpace(string(out))
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = nil // a dpkg prompt (conffile question) fails instead of waiting
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
	return string(out)
}

// checkFile checks the owner, group and mode of an installed file.
func checkFile(t *testing.T, path, owner, group string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err, path)
	st := fi.Sys().(*syscall.Stat_t)
	u, err := user.LookupId(strconv.Itoa(int(st.Uid)))
	require.NoError(t, err)
	g, err := user.LookupGroupId(strconv.Itoa(int(st.Gid)))
	require.NoError(t, err)
	assert.Equal(t, owner+":"+group, u.Username+":"+g.Name, "%s owner", path)
	assert.Equal(t, mode, fi.Mode().Perm(), "%s mode", path)
}

// envFile reads a systemd EnvironmentFile (KEY=value, optionally quoted).
func envFile(t *testing.T, path string) []string {
	t.Helper()
	var env []string
	for _, line := range strings.Split(readFile(t, path), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "%s: %q", path, line)
		env = append(env, k+"="+strings.Trim(v, `"`))
	}
	return env
}

// validateAs runs the installed binary's validate on the installed
// configuration as the service user, with the environment file, as the
// systemd unit would start it.
func validateAs(t *testing.T, extraEnv ...string) (string, error) {
	t.Helper()
	args := []string{"-u", pkgUser, "--", pkgBinary, "validate", "--config", pkgConfig}
	cmd := exec.Command("runuser", args...)
	cmd.Env = append(append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, envFile(t, pkgEnvFile)...), extraEnv...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestDebPackage installs the .deb with dpkg, checks its files, owners,
// modes, user and unit, validates the installed configuration with the
// installed binary as the service user, upgrades over an edited
// configuration (kept), then removes and purges the package.
func TestDebPackage(t *testing.T) {
	deb := debPackage(t)
	t.Cleanup(func() {
		if st := pkgStatus(t); st != "" && !strings.Contains(st, "not-installed") {
			out, err := exec.Command("dpkg", "--purge", pkgName).CombinedOutput()
			if err != nil {
				t.Errorf("cleanup: dpkg --purge: %v\n%s", err, out)
			}
		}
	})

	out := run(t, "dpkg", "-i", deb)
	assert.Contains(t, out, "installed and enabled, not started", "first install tells what to configure")
	assert.Equal(t, "install ok installed", pkgStatus(t))

	// Files, owners and modes, as packaging/nfpm.yaml declares them.
	checkFile(t, pkgBinary, "root", "root", 0o755)
	checkFile(t, pkgEtc, "root", "root", 0o755)
	checkFile(t, pkgConfig, "root", pkgUser, 0o640)
	checkFile(t, pkgEnvFile, "root", pkgUser, 0o640)
	checkFile(t, pkgUnit, "root", "root", 0o644)
	checkFile(t, pkgStateDir, pkgUser, pkgUser, 0o750)
	_, err := os.Stat("/usr/share/doc/otelcol-kyra-gitlab/examples/privacy.yaml")
	require.NoError(t, err, "example configurations")

	// A system user without a login shell.
	u, err := user.Lookup(pkgUser)
	require.NoError(t, err)
	uid, _ := strconv.Atoi(u.Uid)
	assert.Less(t, uid, 1000, "system user")
	assert.Equal(t, pkgStateDir, u.HomeDir)
	passwd := readFile(t, "/etc/passwd")
	for _, line := range strings.Split(passwd, "\n") {
		if strings.HasPrefix(line, pkgUser+":") {
			assert.True(t, strings.HasSuffix(line, "nologin") || strings.HasSuffix(line, "/bin/false"), line)
		}
	}

	// Both configuration files are conffiles: dpkg keeps them when edited.
	conffiles := run(t, "dpkg-query", "-W", "-f=${Conffiles}", pkgName)
	assert.Contains(t, conffiles, pkgConfig)
	assert.Contains(t, conffiles, pkgEnvFile)

	// The unit: hardened, and well-formed for systemd.
	unit := readFile(t, pkgUnit)
	for _, want := range []string{
		"User=" + pkgUser, "StateDirectory=otelcol-kyra-gitlab", "ProtectSystem=strict",
		"NoNewPrivileges=yes", "EnvironmentFile=" + pkgEnvFile, "ExecStart=" + pkgBinary + " $OTELCOL_OPTIONS",
		"CapabilityBoundingSet=\n", "PrivateTmp=yes",
	} {
		assert.Contains(t, unit, want)
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		out, err := exec.Command("systemd-analyze", "verify", pkgUnit).CombinedOutput()
		assert.NoError(t, err, "systemd-analyze verify:\n%s", out)
		assert.NotContains(t, string(out), "otelcol-kyra-gitlab.service:", "no warning about the unit:\n%s", out)
	} else {
		t.Log("systemd-analyze is not installed: the unit is not verified by systemd")
	}

	// As shipped, the configuration names no feed: validate says what to set.
	out, err = validateAs(t)
	require.Error(t, err, "the shipped environment file has no feed yet:\n%s", out)
	assert.Contains(t, out, "nothing to collect")

	// The administrator's edit: a token and a group in the environment
	// file, a comment in config.yaml. The service user can read both.
	editedEnv := strings.Replace(readFile(t, pkgEnvFile), "GITLAB_GROUPS=[]", "GITLAB_GROUPS=[acme, 42]", 1)
	editedEnv = strings.Replace(editedEnv, "REPLACE-WITH-GITLAB-ACCESS-TOKEN", "glpat-package-test", 1)
	require.NoError(t, os.WriteFile(pkgEnvFile, []byte(editedEnv), 0o640))
	editedConfig := readFile(t, pkgConfig) + "# edited by the package test\n"
	require.NoError(t, os.WriteFile(pkgConfig, []byte(editedConfig), 0o640))
	out, err = validateAs(t)
	require.NoError(t, err, "installed binary, installed configuration, service user:\n%s", out)

	// Upgrade (the same package again: preinst upgrade, postinst configure
	// with the old version): the edited files are kept, without a question.
	out = run(t, "dpkg", "-i", deb)
	assert.NotContains(t, out, "installed and enabled, not started", "an upgrade is not a first install")
	assert.Equal(t, editedEnv, readFile(t, pkgEnvFile), "edited environment file kept")
	assert.Equal(t, editedConfig, readFile(t, pkgConfig), "edited config.yaml kept")
	checkFile(t, pkgEnvFile, "root", pkgUser, 0o640)
	_, err = validateAs(t)
	require.NoError(t, err)

	// State written by the service survives removal, not a purge.
	state := filepath.Join(pkgStateDir, "storage")
	require.NoError(t, os.MkdirAll(state, 0o750))

	run(t, "dpkg", "-r", pkgName)
	for _, gone := range []string{pkgBinary, pkgUnit} {
		_, err := os.Stat(gone)
		assert.True(t, os.IsNotExist(err), "%s removed", gone)
	}
	assert.Equal(t, editedEnv, readFile(t, pkgEnvFile), "removal keeps the configuration")
	_, err = os.Stat(state)
	require.NoError(t, err, "removal keeps the state")

	run(t, "dpkg", "--purge", pkgName)
	for _, gone := range []string{pkgEtc, pkgStateDir} {
		_, err := os.Stat(gone)
		assert.True(t, os.IsNotExist(err), "%s purged", gone)
	}
	st := pkgStatus(t)
	assert.True(t, st == "" || strings.Contains(st, "not-installed"), "dpkg status after purge: %q", st)
}

// TestContribComponents checks the contrib components of builder-config.yaml
// that the packaged configurations use are in the distribution.
func TestContribComponents(t *testing.T) {
	bin := collectorBinary(t)
	out, err := exec.Command(bin, "components").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, name := range []string{"file_log", "redaction", "kafka", "file"} {
		assert.Contains(t, string(out), "name: "+name+"\n", name)
	}
}
