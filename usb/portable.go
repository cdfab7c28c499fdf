package usb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotPortable: the directory given as a stick root is not a directory.
var ErrNotPortable = errors.New("usb: not a portable stick root")

// markerText is what Prepare writes into the marker. Only the marker's
// existence matters; the text tells a curious person what it is.
const markerText = "This file makes BorgIOS keep everything it writes on this stick (portable mode).\nDeleting it turns portable mode off.\n"

// Detect finds the stick root for the running binary: the directory named
// by explicit (the --portable flag), else by $BORGIOS_PORTABLE (set by the
// launchers), else a marker beside the executable (exeDir) or at the root of
// a prepared stick two levels up (bin/<os>-<arch>/borgios). ok is false when
// BorgIOS is not running portably. An explicit or environment root is
// created and marked if needed, so `--portable DIR` works on any folder.
func Detect(explicit, exeDir string) (l Layout, ok bool, err error) {
	return detect(explicit, exeDir, os.Getenv)
}

func detect(explicit, exeDir string, getenv func(string) string) (Layout, bool, error) {
	dir := explicit
	if dir == "" {
		dir = getenv(PortableEnv)
	}
	if dir != "" {
		l, err := Init(dir)
		return l, err == nil, err
	}
	if exeDir == "" {
		return Layout{}, false, nil
	}
	for _, cand := range []string{exeDir, filepath.Join(exeDir, "..", "..")} {
		cand = filepath.Clean(cand)
		if fi, err := os.Stat(filepath.Join(cand, MarkerName)); err == nil && fi.Mode().IsRegular() {
			abs, err := filepath.Abs(cand)
			if err != nil {
				return Layout{}, false, fmt.Errorf("usb: portable root %s: %w", cand, err)
			}
			return Layout{Root: abs}, true, nil
		}
	}
	return Layout{}, false, nil
}

// ExeDir is the directory of the running executable, symlinks resolved, or
// "" when the system cannot say.
func ExeDir() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Dir(exe)
}

// Init makes dir a portable root: the folder, the marker and data/. It
// leaves an existing marker and data untouched.
func Init(dir string) (Layout, error) {
	abs, err := filepath.Abs(strings.TrimRight(dir, `"`))
	if err != nil {
		return Layout{}, fmt.Errorf("usb: portable root %s: %w", dir, err)
	}
	l := Layout{Root: abs}
	if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
		return Layout{}, fmt.Errorf("%w: %s is a file", ErrNotPortable, abs)
	}
	if err := os.MkdirAll(l.DataDir(), 0o700); err != nil {
		return Layout{}, fmt.Errorf("usb: portable root: %w", err)
	}
	if _, err := os.Stat(l.Marker()); errors.Is(err, os.ErrNotExist) {
		if err := writeFileSync(l.Marker(), []byte(markerText), 0o644); err != nil {
			return Layout{}, fmt.Errorf("usb: portable marker: %w", err)
		}
	}
	return l, nil
}

// Paths is where each kind of state goes. In portable mode every one of
// them is under the stick's data/ folder.
//
// What Apply and Environ redirect: Go's os.TempDir (TMPDIR, TMP, TEMP),
// os.UserConfigDir and os.UserCacheDir (XDG_CONFIG_HOME, XDG_CACHE_HOME,
// HOME on macOS, APPDATA and LOCALAPPDATA on Windows), the XDG data and
// state folders, and HOME/USERPROFILE, so that child processes (a browser
// with our profile, WebKitGTK in the desktop app, which keeps
// ~/.cache/<exe> and ~/.local/share/<exe>) write to the stick too.
//
// What cannot be redirected by a program on the host, so BorgIOS minimises
// traces rather than erasing them: memory paged to swap or the Windows
// pagefile and hibernation file; the system's logs (journald, the macOS
// unified log, Windows event logs and Prefetch); recent-files lists,
// thumbnail caches and shell history the desktop keeps; the DNS cache; the
// default browser's own profile when the browser is already running (a new
// window joins the running process); and XDG_RUNTIME_DIR, left alone
// because it is a per-user tmpfs (RAM) that sockets need and that is gone
// at logout. The Linux launcher's copy of the binary on a noexec stick goes
// to that tmpfs and is removed when BorgIOS exits.
type Paths struct {
	Data    string // data/ itself
	Conduit string // the conduit's state (key file, bbolt)
	Node    string // the embedded node's data directory
	Config  string // XDG_CONFIG_HOME, APPDATA
	Cache   string // XDG_CACHE_HOME, LOCALAPPDATA
	Share   string // XDG_DATA_HOME
	State   string // XDG_STATE_HOME
	Temp    string // TMPDIR, TMP, TEMP
	Logs    string // log files
	Home    string // HOME, USERPROFILE for child processes
	Browser string // the system browser's profile folder
}

// PathsUnder lays Paths out under data.
func PathsUnder(data string) Paths {
	j := func(s string) string { return filepath.Join(data, s) }
	return Paths{
		Data:    data,
		Conduit: j("conduit"),
		Node:    j("node"),
		Config:  j("config"),
		Cache:   j("cache"),
		Share:   j("share"),
		State:   j("state"),
		Temp:    j("tmp"),
		Logs:    j("logs"),
		Home:    j("home"),
		Browser: j("browser"),
	}
}

func (p Paths) all() []string {
	return []string{p.Data, p.Conduit, p.Node, p.Config, p.Cache, p.Share, p.State, p.Temp, p.Logs, p.Home, p.Browser}
}

// Ensure creates every folder, readable by the owner only (where the
// filesystem has permissions at all; FAT has none).
func (p Paths) Ensure() error {
	for _, d := range p.all() {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("usb: create %s: %w", d, err)
		}
	}
	return nil
}

// Env is the variables that point a process's state at these Paths.
func (p Paths) Env() []string {
	return []string{
		"TMPDIR=" + p.Temp,
		"TMP=" + p.Temp,
		"TEMP=" + p.Temp,
		"HOME=" + p.Home,
		"USERPROFILE=" + p.Home,
		"XDG_CONFIG_HOME=" + p.Config,
		"XDG_CACHE_HOME=" + p.Cache,
		"XDG_DATA_HOME=" + p.Share,
		"XDG_STATE_HOME=" + p.State,
		"APPDATA=" + p.Config,
		"LOCALAPPDATA=" + p.Cache,
	}
}

// Environ returns base (as from os.Environ) with Env's variables replacing
// any of the same name, for exec.Cmd.Env of child processes.
func (p Paths) Environ(base []string) []string {
	over := p.Env()
	names := make(map[string]bool, len(over))
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		names[strings.ToUpper(k)] = true
	}
	out := make([]string, 0, len(base)+len(over))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		// Windows variable names are case-insensitive.
		if !names[strings.ToUpper(k)] {
			out = append(out, kv)
		}
	}
	return append(out, over...)
}

// Apply creates the folders and sets Env in this process, so that
// os.TempDir, os.UserConfigDir, os.UserCacheDir and every child process
// started afterwards use the stick. Call it first thing in main, before
// anything (GTK above all) reads the variables.
func (p Paths) Apply() error {
	if err := p.Ensure(); err != nil {
		return err
	}
	for _, kv := range p.Env() {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			return fmt.Errorf("usb: set %s: %w", k, err)
		}
	}
	return nil
}
