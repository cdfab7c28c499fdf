package usb

import (
	"path/filepath"
	"strings"
)

// Names of the entries at the root of a prepared stick.
const (
	// MarkerName is the file whose presence switches BorgIOS into portable
	// mode (the KeePassXC convention), and whose disappearance means the
	// stick was pulled out.
	MarkerName = ".portable"
	// ReadmeName is the text a person sees first when they open the stick.
	ReadmeName = "README-FIRST.txt"
	// DataDirName holds every byte of state BorgIOS writes in portable mode.
	DataDirName = "data"
	// BinDirName holds one folder per system, bin/<os>-<arch>/borgios[.exe].
	BinDirName = "bin"
	// BinaryName is the executable's name without the .exe of Windows.
	BinaryName = "borgios"
	// DesktopName is the desktop app's executable name (without .exe),
	// carried beside borgios when --binaries has one for the system.
	DesktopName = "borgios-desktop"

	LauncherLinux   = "start-linux.sh"
	LauncherMacOS   = "start-macos.command"
	LauncherWindows = "start-windows.bat"
)

// PortableEnv names the environment variable the launchers set to the stick
// root. It works for every subcommand and survives the Linux launcher
// copying the binary off a noexec stick, where the marker is no longer
// beside the executable.
const PortableEnv = "BORGIOS_PORTABLE"

// Target is a system a stick carries a binary for.
type Target struct {
	GOOS, GOARCH string
	// GOARM is the ARM version for GOARCH=arm ("7"), empty otherwise.
	GOARM string
}

// String names the target the way bin/ folders and dist/ files do:
// linux-amd64, linux-armv7, windows-amd64.
func (t Target) String() string {
	s := t.GOOS + "-" + t.GOARCH
	if t.GOARCH == "arm" && t.GOARM != "" {
		s = t.GOOS + "-armv" + t.GOARM
	}
	return s
}

// Exe is the executable's file name on the target.
func (t Target) Exe() string {
	if t.GOOS == "windows" {
		return BinaryName + ".exe"
	}
	return BinaryName
}

// DistName is the file name `go tool task build-all` gives the target's
// binary in dist/: borgios-linux-amd64, borgios-windows-amd64.exe.
func (t Target) DistName() string { return t.distName(BinaryName) }

// DesktopDistName is the desktop app's file name in dist/:
// borgios-desktop-linux-amd64, borgios-desktop-windows-amd64.exe. The app
// needs the system's webview (cgo on Linux and macOS), so it is built on
// each system and optional on a stick.
func (t Target) DesktopDistName() string { return t.distName(DesktopName) }

func (t Target) distName(base string) string {
	name := base + "-" + t.String()
	if t.GOOS == "windows" {
		name += ".exe"
	}
	return name
}

// Env is the go build environment for the target (pure Go, no cgo).
func (t Target) Env() []string {
	env := []string{"GOOS=" + t.GOOS, "GOARCH=" + t.GOARCH, "CGO_ENABLED=0"}
	if t.GOARM != "" {
		env = append(env, "GOARM="+t.GOARM)
	}
	return env
}

// DefaultTargets are the systems a prepared stick serves: the desktop
// systems people plug sticks into, and 32-bit Raspberry Pi OS.
var DefaultTargets = []Target{
	{GOOS: "linux", GOARCH: "amd64"},
	{GOOS: "linux", GOARCH: "arm64"},
	{GOOS: "linux", GOARCH: "arm", GOARM: "7"},
	{GOOS: "darwin", GOARCH: "amd64"},
	{GOOS: "darwin", GOARCH: "arm64"},
	{GOOS: "windows", GOARCH: "amd64"},
}

// ParseTarget reads "linux-arm64", "linux/arm64" or "linux-armv7".
func ParseTarget(s string) (Target, bool) {
	goos, arch, ok := strings.Cut(strings.ReplaceAll(s, "/", "-"), "-")
	if !ok || goos == "" || arch == "" {
		return Target{}, false
	}
	if v, isARM := strings.CutPrefix(arch, "armv"); isARM {
		return Target{GOOS: goos, GOARCH: "arm", GOARM: v}, v != ""
	}
	if arch == "arm" {
		return Target{GOOS: goos, GOARCH: "arm", GOARM: "7"}, true
	}
	return Target{GOOS: goos, GOARCH: arch}, true
}

// Layout is the arrangement of files on a stick whose top folder is Root.
type Layout struct {
	Root string
}

// Marker is the portable marker's path.
func (l Layout) Marker() string { return filepath.Join(l.Root, MarkerName) }

// Readme is the path of the person's README.
func (l Layout) Readme() string { return filepath.Join(l.Root, ReadmeName) }

// DataDir is the folder all portable state lives under.
func (l Layout) DataDir() string { return filepath.Join(l.Root, DataDirName) }

// BinDir is the folder of per-system binaries.
func (l Layout) BinDir() string { return filepath.Join(l.Root, BinDirName) }

// Binary is the path of the target's executable on the stick.
func (l Layout) Binary(t Target) string {
	return filepath.Join(l.Root, BinDirName, t.String(), t.Exe())
}

// DesktopBinary is the path of the target's desktop app on the stick,
// beside borgios, where it finds the portable marker the same way.
func (l Layout) DesktopBinary(t Target) string {
	name := DesktopName
	if t.GOOS == "windows" {
		name += ".exe"
	}
	return filepath.Join(l.Root, BinDirName, t.String(), name)
}

// Launchers are the paths of the per-system start scripts.
func (l Layout) Launchers() []string {
	return []string{
		filepath.Join(l.Root, LauncherLinux),
		filepath.Join(l.Root, LauncherMacOS),
		filepath.Join(l.Root, LauncherWindows),
	}
}

// Paths is where each kind of state goes on this stick.
func (l Layout) Paths() Paths { return PathsUnder(l.DataDir()) }
