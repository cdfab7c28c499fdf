package installer

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func script(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "scripts", "install-pi.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("install"); err != nil {
		t.Skip("coreutils install missing")
	}
	return p
}

func runScript(t *testing.T, wantOK bool, args ...string) string {
	t.Helper()
	out, err := exec.Command("sh", append([]string{script(t)}, args...)...).CombinedOutput()
	if (err == nil) != wantOK {
		t.Fatalf("install-pi.sh %q: err %v\n%s", args, err, out)
	}
	return string(out)
}

// tree lists the files and folders under root.
func tree(t *testing.T, root string) map[string]bool {
	t.Helper()
	m := map[string]bool{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		m[rel] = true
		return nil
	})
	return m
}

// accountFiles are the system's user database: a real system has them
// already; in an empty scratch root systemd-sysusers creates them, and
// uninstall leaves them without any trace of our user.
var accountFiles = map[string]bool{"etc": true}

func init() {
	for _, f := range []string{"passwd", "group", "shadow", "gshadow", ".pwd.lock"} {
		accountFiles["etc/"+f] = true
		accountFiles["etc/"+f+"-"] = true
	}
}

func TestInstallScriptScratchRoot(t *testing.T) {
	root := t.TempDir()
	binary := []byte("#!/bin/sh\necho borgios stand-in\n")
	key := newReleaseKey(t)
	dist := makeRelease(t, key, map[string][]byte{"borgios-linux-arm64": binary, "borgios-linux-amd64": []byte("other")})
	before := tree(t, root)

	out := runScript(t, true, "--root", root, "--dist", dist, "--arch", "arm64", "--release-key", key.pub)
	for _, want := range []string{"signature of SHA256SUMS verified (release key " + key.fingerprint + ")", "checksum of borgios-linux-arm64 verified"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	got, err := os.ReadFile(filepath.Join(root, "usr/local/bin/borgios"))
	if err != nil || string(got) != string(binary) {
		t.Fatalf("binary: %v", err)
	}
	unit, _ := os.ReadFile(filepath.Join(root, "etc/systemd/system", UnitName))
	if string(unit) != string(DefaultUnit) {
		t.Error("installed unit differs from borgios-node.service")
	}
	for _, f := range []string{"etc/default/borgios-node", "usr/lib/sysusers.d/borgios.conf", "etc/sysctl.d/60-borgios.conf"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Error(err)
		}
	}
	_, sysusers := exec.LookPath("systemd-sysusers")
	if sysusers == nil {
		pw, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
		if !strings.Contains(string(pw), "borgios:") || !strings.Contains(string(pw), "/usr/sbin/nologin") {
			t.Errorf("no system user: %q", pw)
		}
	}
	// A second install (an upgrade) keeps the person's settings.
	os.WriteFile(filepath.Join(root, "etc/default/borgios-node"), []byte("BORGIOS_NODE_ARGS=\"--peers x\"\n"), 0o644)
	runScript(t, true, "--root", root, "--dist", dist, "--arch", "arm64", "--release-key", key.pub)
	if b, _ := os.ReadFile(filepath.Join(root, "etc/default/borgios-node")); !strings.Contains(string(b), "--peers x") {
		t.Error("upgrade overwrote /etc/default/borgios-node")
	}
	os.MkdirAll(filepath.Join(root, "var/lib/borgios"), 0o700)
	os.WriteFile(filepath.Join(root, "var/lib/borgios/node.key"), []byte("k"), 0o600)

	_, userdel := exec.LookPath("userdel")
	if sysusers == nil && userdel != nil {
		t.Skip("userdel missing: cannot test that uninstall removes the user")
	}
	runScript(t, true, "--uninstall", "--root", root)
	for p := range tree(t, root) {
		if before[p] {
			continue
		}
		if !accountFiles[p] {
			t.Errorf("uninstall left %s", p)
			continue
		}
		if fi, _ := os.Stat(filepath.Join(root, p)); fi.Mode().IsRegular() {
			if b, _ := os.ReadFile(filepath.Join(root, p)); strings.Contains(string(b), "borgios") && !strings.HasSuffix(p, "-") {
				t.Errorf("%s still names borgios: %q", p, b)
			}
		}
	}
}
