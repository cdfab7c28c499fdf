package usb

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func fakeDist(t *testing.T) string {
	t.Helper()
	dist := t.TempDir()
	for _, tg := range DefaultTargets {
		if err := os.WriteFile(filepath.Join(dist, tg.DistName()), []byte("binary for "+tg.String()), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dist
}

func TestPrepareRefusesFixedDisk(t *testing.T) {
	dir := t.TempDir()
	if r, _ := IsRemovable(dir); r == RemovableYes {
		t.Skip("the temp dir is on removable media here")
	}
	if runtime.GOOS != "linux" {
		t.Skip("only Linux refuses an unknown disk")
	}
	_, err := Prepare(context.Background(), PrepareOptions{Root: dir, Binaries: fakeDist(t)})
	if !errors.Is(err, ErrNotRemovable) {
		t.Fatalf("got %v, want ErrNotRemovable", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("refused prepare wrote %d entries", len(entries))
	}
	if _, err := Prepare(context.Background(), PrepareOptions{Root: filepath.Join(dir, "none"), Binaries: fakeDist(t)}); !errors.Is(err, ErrNoStick) {
		t.Fatalf("missing folder: %v", err)
	}
}

func TestPrepareFromBinaries(t *testing.T) {
	dist := fakeDist(t)
	// One system's desktop app: carried; the others have none.
	winApp := Target{GOOS: "windows", GOARCH: "amd64"}
	if err := os.WriteFile(filepath.Join(dist, winApp.DesktopDistName()), []byte("desktop app"), 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "stick")
	var progress bytes.Buffer
	rep, err := Prepare(context.Background(), PrepareOptions{Root: root, Force: true, Binaries: dist, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("progress:\n%s", progress.String())
	l := rep.Layout
	for _, tg := range DefaultTargets {
		b, err := os.ReadFile(l.Binary(tg))
		if err != nil || string(b) != "binary for "+tg.String() {
			t.Errorf("%s: %q %v", tg, b, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "bin", "windows-amd64", "borgios-desktop.exe")); err != nil || string(b) != "desktop app" {
		t.Errorf("desktop app: %q %v", b, err)
	}
	if len(rep.Desktop) != 1 || rep.Desktop[0] != winApp {
		t.Errorf("report's desktop apps: %v", rep.Desktop)
	}
	if _, err := os.Stat(l.DesktopBinary(Target{GOOS: "linux", GOARCH: "amd64"})); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a desktop app appeared from nowhere: %v", err)
	}
	for _, p := range append(l.Launchers(), l.Marker(), l.Readme()) {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	for _, d := range l.Paths().all() {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("data folder %s: %v", d, err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(root, LauncherLinux)); fi.Mode()&0o100 == 0 {
		t.Error("start-linux.sh not executable")
	}
	bat, _ := os.ReadFile(filepath.Join(root, LauncherWindows))
	if !bytes.Contains(bat, []byte("\r\n")) || !bytes.Contains(bat, []byte(`bin\windows-amd64\borgios.exe`)) {
		t.Error("start-windows.bat lacks CRLF or the binary path")
	}
	if !strings.Contains(progress.String(), "[6/6]") {
		t.Error("no progress lines")
	}
	// Preparing again keeps the person's data.
	keep := filepath.Join(l.Paths().Conduit, "keep")
	os.WriteFile(keep, []byte("mine"), 0o600)
	if _, err := Prepare(context.Background(), PrepareOptions{Root: root, Force: true, Binaries: dist}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(keep); string(b) != "mine" {
		t.Fatal("re-prepare touched data/")
	}
	os.Remove(filepath.Join(dist, DefaultTargets[3].DistName()))
	if _, err := Prepare(context.Background(), PrepareOptions{Root: root, Force: true, Binaries: dist}); !errors.Is(err, ErrMissingBinary) {
		t.Fatalf("missing binary: %v", err)
	}
	if _, err := Prepare(context.Background(), PrepareOptions{Root: root, Force: true, Source: t.TempDir()}); err == nil {
		t.Fatal("built from a folder that is not the module")
	}
}

var (
	hostOnce sync.Once
	hostDist string
	hostErr  error
)

// hostBinaries builds borgios for this machine once, the way Prepare does
// from a checkout, and returns a dist-style folder holding it.
func hostBinaries(t *testing.T) (string, Target) {
	t.Helper()
	host := Target{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
	if runtime.GOARCH == "arm" {
		host.GOARM = "7"
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain")
	}
	hostOnce.Do(func() {
		dir, err := os.MkdirTemp("", "usb-dist-")
		if err != nil {
			hostErr = err
			return
		}
		wd, _ := os.Getwd()
		_, hostErr = Prepare(context.Background(), PrepareOptions{
			Root: filepath.Join(dir, "stick"), Force: true, Source: FindModuleRoot(wd),
			Targets: []Target{host}, Version: "usbtest",
		})
		if hostErr == nil {
			hostErr = os.Rename(Layout{Root: filepath.Join(dir, "stick")}.Binary(host), filepath.Join(dir, host.DistName()))
		}
		hostDist = dir
	})
	if hostErr != nil {
		t.Fatal(hostErr)
	}
	return hostDist, host
}

func TestMain(m *testing.M) {
	code := m.Run()
	if hostDist != "" {
		os.RemoveAll(hostDist)
	}
	os.Exit(code)
}

// runLinuxLauncher runs start-linux.sh with args and a home and temp dir of
// the test's own, and returns its output.
func runLinuxLauncher(t *testing.T, root string, args ...string) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("start-linux.sh is for Linux")
	}
	cmd := exec.Command("sh", append([]string{filepath.Join(root, LauncherLinux)}, args...)...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_RUNTIME_DIR="+t.TempDir(), "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("start-linux.sh %q: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestPrepareBuildAndLaunch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dist, host := hostBinaries(t)
	root := filepath.Join(t.TempDir(), "stick")
	if _, err := Prepare(context.Background(), PrepareOptions{Root: root, Force: true, Binaries: dist, Targets: []Target{host}}); err != nil {
		t.Fatal(err)
	}
	if out := runLinuxLauncher(t, root, "--version"); !strings.Contains(out, "usbtest") {
		t.Fatalf("launcher printed %q", out)
	}
}
