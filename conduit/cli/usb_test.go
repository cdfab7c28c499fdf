package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/borgios/borgios/usb"
)

func TestUSBPrepareCommand(t *testing.T) {
	dist := t.TempDir()
	for _, tg := range usb.DefaultTargets {
		os.WriteFile(filepath.Join(dist, tg.DistName()), []byte("bin"), 0o755)
	}
	root := filepath.Join(t.TempDir(), "stick")
	os.Mkdir(root, 0o755)

	// A temp folder is not a removable disk: refused without --force.
	if r, _ := usb.IsRemovable(root); r != usb.RemovableYes {
		code, _, stderr := runCLI(t, "", "usb", "prepare", root, "--binaries", dist)
		if code != 3 || !strings.Contains(stderr, "removable") {
			t.Fatalf("without --force: code %d, %s", code, stderr)
		}
	}
	code, stdout, stderr := runCLI(t, "", "usb", "prepare", root, "--force", "--binaries", dist, "--targets", "linux-amd64,windows-amd64")
	if code != 0 {
		t.Fatalf("prepare: %d %s", code, stderr)
	}
	if !strings.Contains(stdout, "[2/2] windows-amd64") || !strings.Contains(stdout, "Done.") {
		t.Errorf("progress: %s", stdout)
	}
	l := usb.Layout{Root: root}
	for _, p := range []string{l.Marker(), l.Readme(), l.DataDir(), filepath.Join(root, "bin", "windows-amd64", "borgios.exe")} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	if code, _, stderr := runCLI(t, "", "usb", "prepare", root, "--force", "--targets", "plan9"); code != 2 {
		t.Errorf("bad target: %d %s", code, stderr)
	}

	code, stdout, _ = runCLI(t, "", "usb", "info", root, "--json")
	var info struct {
		Prepared bool   `json:"prepared"`
		Root     string `json:"root"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &info) != nil || !info.Prepared || info.Root != root {
		t.Errorf("info: %d %s", code, stdout)
	}
	if code, stdout, _ := runCLI(t, "", "usb", "flush", root); code != 0 || !strings.Contains(stdout, "Flushed") {
		t.Errorf("flush: %d %s", code, stdout)
	}
}
