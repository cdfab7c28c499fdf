package usb

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestTargetNames(t *testing.T) {
	cases := map[string]Target{
		"linux-amd64":   {GOOS: "linux", GOARCH: "amd64"},
		"linux-armv7":   {GOOS: "linux", GOARCH: "arm", GOARM: "7"},
		"windows-amd64": {GOOS: "windows", GOARCH: "amd64"},
	}
	for name, want := range cases {
		got, ok := ParseTarget(name)
		if !ok || got != want || got.String() != name {
			t.Errorf("ParseTarget(%q) = %+v %v", name, got, ok)
		}
	}
	if got, _ := ParseTarget("linux/arm64"); got.String() != "linux-arm64" {
		t.Errorf("linux/arm64 -> %v", got)
	}
	for _, bad := range []string{"", "linux", "-amd64", "linux-armv"} {
		if _, ok := ParseTarget(bad); ok {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
	w := Target{GOOS: "windows", GOARCH: "amd64"}
	if w.DistName() != "borgios-windows-amd64.exe" || w.Exe() != "borgios.exe" {
		t.Errorf("windows names %s %s", w.DistName(), w.Exe())
	}
	l := Layout{Root: "/s"}
	if got := l.Binary(DefaultTargets[2]); got != filepath.Join("/s", "bin", "linux-armv7", "borgios") {
		t.Errorf("Binary = %s", got)
	}
}

func TestDetect(t *testing.T) {
	noEnv := func(string) string { return "" }
	root := t.TempDir()
	exeDir := filepath.Join(root, "bin", "linux-amd64")
	if err := os.MkdirAll(exeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := detect("", exeDir, noEnv); ok || err != nil {
		t.Fatalf("detected without a marker: %v %v", ok, err)
	}
	if err := os.WriteFile(filepath.Join(root, MarkerName), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l, ok, err := detect("", exeDir, noEnv)
	if !ok || err != nil || l.Root != root {
		t.Fatalf("stick layout: %+v %v %v", l, ok, err)
	}
	// A marker beside the binary (the KeePassXC convention).
	beside := t.TempDir()
	os.WriteFile(filepath.Join(beside, MarkerName), nil, 0o644)
	if l, ok, _ := detect("", beside, noEnv); !ok || l.Root != beside {
		t.Fatalf("marker beside binary: %+v %v", l, ok)
	}
	// --portable DIR makes any folder a root; the environment likewise.
	explicit := filepath.Join(t.TempDir(), "stick")
	if l, ok, err := detect(explicit, "", noEnv); !ok || err != nil || l.Root != explicit {
		t.Fatalf("explicit: %+v %v %v", l, ok, err)
	}
	for _, p := range []string{filepath.Join(explicit, MarkerName), filepath.Join(explicit, DataDirName)} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("explicit root lacks %s", p)
		}
	}
	envRoot := filepath.Join(t.TempDir(), "env")
	env := func(k string) string {
		if k == PortableEnv {
			return envRoot
		}
		return ""
	}
	if l, ok, err := detect("", "", env); !ok || err != nil || l.Root != envRoot {
		t.Fatalf("env: %+v %v %v", l, ok, err)
	}
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	if _, _, err := detect(file, "", noEnv); err == nil {
		t.Fatal("a file accepted as portable root")
	}
}

func TestPathsEnviron(t *testing.T) {
	p := Layout{Root: "/stick"}.Paths()
	for _, d := range p.all() {
		if !strings.HasPrefix(d, filepath.Join("/stick", "data")) {
			t.Errorf("%s is not under data/", d)
		}
	}
	env := p.Environ([]string{"HOME=/home/x", "PATH=/bin", "tmp=/lower", "XDG_CACHE_HOME=/c"})
	want := map[string]string{"PATH": "/bin", "HOME": p.Home, "TMPDIR": p.Temp, "TMP": p.Temp, "XDG_CACHE_HOME": p.Cache}
	seen := map[string]int{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		seen[strings.ToUpper(k)]++
		if w, ok := want[k]; ok && w != v {
			t.Errorf("%s=%s, want %s", k, v, w)
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s appears %d times", k, n)
		}
	}
}

// TestApplyRedirectsChildren runs a child with Environ and checks that Go's
// own notions of temp, config and cache folders land on the stick.
func TestApplyRedirectsChildren(t *testing.T) {
	if os.Getenv("USB_PATHS_CHILD") == "1" {
		cfg, _ := os.UserConfigDir()
		cache, _ := os.UserCacheDir()
		home, _ := os.UserHomeDir()
		os.Stdout.WriteString(strings.Join([]string{os.TempDir(), cfg, cache, home}, "\n"))
		os.Exit(0)
	}
	root := t.TempDir()
	p := Layout{Root: root}.Paths()
	if err := p.Ensure(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestApplyRedirectsChildren$")
	cmd.Env = append(p.Environ(os.Environ()), "USB_PATHS_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 4 {
		t.Fatalf("child said %q", out)
	}
	for _, l := range lines[:4] {
		if !strings.HasPrefix(l, root) {
			t.Errorf("child folder %s is off the stick %s", l, root)
		}
	}
	if runtime.GOOS == "linux" && !slices.Contains(lines, p.Temp) {
		t.Errorf("TempDir not %s: %q", p.Temp, lines)
	}
}

func TestBrowserCommand(t *testing.T) {
	only := func(have ...string) func(string) (string, error) {
		return func(p string) (string, error) {
			if slices.Contains(have, p) {
				return "/usr/bin/" + filepath.Base(p), nil
			}
			return "", os.ErrNotExist
		}
	}
	name, args, ok := BrowserCommand("linux", "http://127.0.0.1:1/?token=x", "/s/data/browser", only("chromium"))
	if !ok || name != "/usr/bin/chromium" || !slices.Contains(args, "--user-data-dir=/s/data/browser") || args[len(args)-1] != "http://127.0.0.1:1/?token=x" {
		t.Errorf("chromium: %s %q %v", name, args, ok)
	}
	_, args, ok = BrowserCommand("linux", "u", "/p", only("firefox"))
	if !ok || !slices.Contains(args, "-no-remote") || !slices.Contains(args, "/p") {
		t.Errorf("firefox: %q %v", args, ok)
	}
	if _, _, ok := BrowserCommand("linux", "u", "/p", only()); ok {
		t.Error("found a browser where there is none")
	}
	if name, _, ok := BrowserCommand("darwin", "u", "/p", only("/Applications/Firefox.app/Contents/MacOS/firefox")); !ok || name == "" {
		t.Error("macOS Firefox not found")
	}
}
