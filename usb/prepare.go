package usb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// ModulePath and MainPackage say what Prepare builds from a source checkout.
const (
	ModulePath  = "github.com/borgios/borgios"
	MainPackage = "./conduit/cmd/borgios"
	versionVar  = ModulePath + "/conduit/cli.Version"
)

// FAT32MaxFile is the largest file FAT32 can hold.
const FAT32MaxFile = 4<<30 - 1

var (
	// ErrNotRemovable: the target is not (known to be) on removable media
	// and Force was not given.
	ErrNotRemovable = errors.New("usb: not a removable disk (use --force to prepare it anyway)")
	// ErrNoStick: the target folder does not exist (a stick is mounted
	// at an existing folder) and Force was not given.
	ErrNoStick = errors.New("usb: no such folder (is the stick mounted?)")
	// ErrNoBinaries: there is neither a binaries folder nor a source
	// checkout with a Go toolchain to build from.
	ErrNoBinaries = errors.New("usb: no binaries to put on the stick (give --binaries DIR, e.g. dist/ from `go tool task build-all`, or run from a source checkout)")
	// ErrMissingBinary: the binaries folder lacks a target's binary.
	ErrMissingBinary = errors.New("usb: binary missing")
	// ErrTooLargeForFAT: a binary is over FAT32's 4 GiB file limit.
	ErrTooLargeForFAT = errors.New("usb: file too large for FAT32")
)

// PrepareOptions says how to lay out a stick.
type PrepareOptions struct {
	// Root is the stick's top folder (its mount point, or a folder on it).
	Root string
	// Force prepares Root even when it is not known to be removable, and
	// creates it when missing.
	Force bool
	// Binaries is a folder of dist-named binaries (borgios-linux-amd64,
	// borgios-windows-amd64.exe, ...). Empty: build them from Source.
	Binaries string
	// Source is the module checkout to build from; empty: found upward
	// from the working directory.
	Source string
	// Targets are the systems to carry; default DefaultTargets.
	Targets []Target
	// Version is stamped into built binaries.
	Version string
	// Progress gets one line per step; nil discards.
	Progress io.Writer
}

// PrepareReport is what Prepare found and did.
type PrepareReport struct {
	Layout    Layout
	Removable Removable
	Mount     Mount
	Warnings  []string
	// Desktop lists the systems whose desktop app (borgios-desktop) the
	// binaries folder had, now on the stick beside borgios.
	Desktop []Target
}

// Prepare lays out a stick: binaries for every target, the launchers, the
// marker, README-FIRST.txt and the data folder with its subfolders. It
// refuses a disk that is not removable unless forced, warns on FAT32, and
// never touches what is already in data/. Every file is written through a
// temporary file and fsynced, and the stick is flushed at the end, so a
// stick pulled right after Prepare returns is complete.
func Prepare(ctx context.Context, o PrepareOptions) (PrepareReport, error) {
	var rep PrepareReport
	out := o.Progress
	if out == nil {
		out = io.Discard
	}
	if o.Root == "" {
		return rep, fmt.Errorf("%w: empty path", ErrNoStick)
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return rep, fmt.Errorf("usb: %s: %w", o.Root, err)
	}
	rep.Layout = Layout{Root: root}
	if fi, err := os.Stat(root); err != nil {
		if !errors.Is(err, os.ErrNotExist) || !o.Force {
			return rep, fmt.Errorf("%w: %s", ErrNoStick, root)
		}
		if err := os.MkdirAll(root, 0o755); err != nil {
			return rep, fmt.Errorf("usb: create %s: %w", root, err)
		}
	} else if !fi.IsDir() {
		return rep, fmt.Errorf("%w: %s is a file", ErrNoStick, root)
	}
	warn := func(format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		rep.Warnings = append(rep.Warnings, msg)
		fmt.Fprintln(out, "warning:", msg)
	}

	rep.Removable, err = IsRemovable(root)
	if err != nil {
		warn("cannot tell whether %s is removable: %v", root, err)
	}
	if rep.Removable != RemovableYes {
		// Linux answers reliably for real disks; elsewhere "unknown" is
		// all we can say, so it warns instead of refusing.
		refuse := rep.Removable == RemovableNo || runtime.GOOS == "linux"
		if refuse && !o.Force {
			return rep, fmt.Errorf("%w: %s is %v", ErrNotRemovable, root, rep.Removable)
		}
		warn("%s is %v media; preparing it anyway", root, rep.Removable)
	}
	rep.Mount, _ = MountOf(root)
	fat := rep.Mount.FAT32()
	if fat {
		warn("%s is FAT32: files are limited to 4 GiB and programs cannot be started from it directly on Linux; use start-linux.sh (or reformat as exFAT)", root)
	}
	fmt.Fprintf(out, "Preparing %s (%v, %s)\n", root, rep.Removable, orUnknown(rep.Mount.FSType))

	targets := o.Targets
	if len(targets) == 0 {
		targets = DefaultTargets
	}
	build, err := binarySource(o)
	if err != nil {
		return rep, err
	}
	l := rep.Layout
	for i, t := range targets {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		dst := l.Binary(t)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return rep, fmt.Errorf("usb: %w", err)
		}
		fmt.Fprintf(out, "[%d/%d] %s\n", i+1, len(targets), t)
		if err := build(ctx, t, dst); err != nil {
			return rep, err
		}
		if fi, err := os.Stat(dst); err == nil && fat && fi.Size() > FAT32MaxFile {
			return rep, fmt.Errorf("%w: %s is %d bytes", ErrTooLargeForFAT, dst, fi.Size())
		}
		if o.Binaries != "" {
			copied, err := copyDesktop(o.Binaries, t, l.DesktopBinary(t))
			if err != nil {
				return rep, err
			}
			if copied {
				fmt.Fprintf(out, "      and the desktop app for %s\n", t)
				rep.Desktop = append(rep.Desktop, t)
			}
		}
	}

	fmt.Fprintln(out, "Writing launchers, README-FIRST.txt and the portable marker")
	files := []struct {
		name string
		perm os.FileMode
	}{
		{LauncherLinux, 0o755}, {LauncherMacOS, 0o755}, {LauncherWindows, 0o644}, {ReadmeName, 0o644},
	}
	for _, f := range files {
		b, err := Asset(f.name)
		if err != nil {
			return rep, fmt.Errorf("usb: asset %s: %w", f.name, err)
		}
		if err := writeFileSync(filepath.Join(root, f.name), b, f.perm); err != nil {
			return rep, fmt.Errorf("usb: write %s: %w", f.name, err)
		}
	}
	if _, err := Init(root); err != nil {
		return rep, err
	}
	if err := l.Paths().Ensure(); err != nil {
		return rep, err
	}
	fmt.Fprintln(out, "Flushing to the stick")
	if err := Flush(root); err != nil {
		return rep, err
	}
	fmt.Fprintf(out, "Done. Start BorgIOS with one of the start-* files on %s.\n", root)
	return rep, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown filesystem"
	}
	return s
}

type buildFunc func(ctx context.Context, t Target, dst string) error

// binarySource picks where binaries come from: the folder given, or a
// build from the source checkout.
// copyDesktop copies the target's desktop app from the binaries folder
// when there is one: it is optional, since it is built on each system.
func copyDesktop(binaries string, t Target, dst string) (bool, error) {
	src := filepath.Join(binaries, t.DesktopDistName())
	if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err := copyFileSync(src, dst, 0o755); err != nil {
		return false, fmt.Errorf("usb: copy %s: %w", src, err)
	}
	return true, nil
}

func binarySource(o PrepareOptions) (buildFunc, error) {
	if o.Binaries != "" {
		return func(_ context.Context, t Target, dst string) error {
			src := filepath.Join(o.Binaries, t.DistName())
			if err := copyFileSync(src, dst, 0o755); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("%w: %s (build it with `go tool task build-all`)", ErrMissingBinary, src)
				}
				return fmt.Errorf("usb: copy %s: %w", src, err)
			}
			return nil
		}, nil
	}
	src := o.Source
	if src == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, ErrNoBinaries
		}
		src = FindModuleRoot(wd)
	}
	goTool, err := exec.LookPath("go")
	if src == "" || err != nil {
		return nil, ErrNoBinaries
	}
	version := o.Version
	if version == "" {
		version = "dev"
	}
	return func(ctx context.Context, t Target, dst string) error {
		tmp := dst + ".tmp"
		cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath",
			"-ldflags", "-s -w -X "+versionVar+"="+version, "-o", tmp, MainPackage)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), t.Env()...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("usb: go build %s: %w\n%s", t, err, strings.TrimSpace(stderr.String()))
		}
		if err := syncFile(tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, dst); err != nil {
			return fmt.Errorf("usb: %w", err)
		}
		return syncDir(filepath.Dir(dst))
	}, nil
}

// FindModuleRoot returns the folder at or above dir whose go.mod declares
// the BorgIOS module, or "".
func FindModuleRoot(dir string) string {
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if strings.TrimSpace(line) == "module "+ModulePath {
					return dir
				}
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("usb: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("usb: sync %s: %w", path, err)
	}
	return nil
}

// copyFileSync copies src to dst through a temporary file, fsynced and
// renamed into place.
func copyFileSync(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	outF, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(outF, in)
	if err == nil {
		err = outF.Sync()
	}
	if cerr := outF.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	_ = os.Chmod(tmp, perm)
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(dst))
}
