package installer

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultUnitMatchesTemplate(t *testing.T) {
	b, err := UnitConfig{}.Render()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, DefaultUnit) {
		t.Fatal("installer/borgios-node.service is stale: run INSTALLER_UPDATE_UNIT=1 go test ./installer")
	}
	for _, want := range []string{"User=borgios", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
		"Restart=on-failure", "StateDirectory=borgios", "CapabilityBoundingSet=\n"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("unit lacks %q", want)
		}
	}
}

func TestRenderArgsAndRefusals(t *testing.T) {
	b, err := UnitConfig{Args: []string{"--peers", `k@h:1`, `100%$HOME "q"`}}.Render()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `node --data-dir /var/lib/borgios "--peers" "k@h:1" "100%%$$HOME \"q\"" $BORGIOS_NODE_ARGS`) {
		t.Errorf("ExecStart quoting:\n%s", b)
	}
	for _, bad := range []UnitConfig{
		{User: "root"}, {User: "Bad User"}, {Binary: "relative/borgios"}, {Binary: "/a b"},
		{StateDir: "../etc"}, {Args: []string{"a\nExecStartPre=/bin/evil"}},
	} {
		if _, err := bad.Render(); !errors.Is(err, ErrBadUnitConfig) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// TestSystemdAnalyzeVerify has systemd check the unit (it insists that the
// binary exists, so ExecStart points at a stand-in) and logs the
// exposure score of `systemd-analyze security`.
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	bin := filepath.Join(t.TempDir(), "borgios")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []UnitConfig{{Binary: bin}, {Binary: bin, User: "node_1", StateDir: "borgios-2", Args: []string{"--peers", "a@b:1"}}} {
		b, err := c.Render()
		if err != nil {
			t.Fatal(err)
		}
		unit := filepath.Join(t.TempDir(), UnitName)
		os.WriteFile(unit, b, 0o644)
		out, err := exec.Command(sa, "verify", unit).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
		if out, err := exec.Command(sa, "security", "--offline=true", unit).CombinedOutput(); err == nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			t.Log(lines[len(lines)-1])
		}
	}
}
