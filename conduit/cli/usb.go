package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/borgios/borgios/usb"
)

func init() { subcommands = append(subcommands, newUSBCmd) }

func newUSBCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "usb",
		Short: "Prepare a USB stick that carries BorgIOS and keeps everything on it",
	}
	cmd.AddCommand(newUSBPrepareCmd(), newUSBFlushCmd(), newUSBInfoCmd())
	return cmd
}

func newUSBPrepareCmd() *cobra.Command {
	var (
		o       usb.PrepareOptions
		targets string
	)
	cmd := &cobra.Command{
		Use:   "prepare PATH",
		Short: "Lay out a stick: binaries for every system, launchers, README and data folder",
		Long: `Prepare puts BorgIOS onto the stick mounted at PATH: binaries for Linux,
macOS and Windows under bin/, a start file for each system, README-FIRST.txt,
the .portable marker (so BorgIOS keeps all its state on the stick) and the
data/ folder. What is already in data/ is kept.

Binaries are built from the source checkout you run this in (needs Go), or
copied from --binaries DIR, such as dist/ made by "go tool task build-all".

It refuses a disk that is not removable unless --force is given, and warns on
FAT32 (4 GiB file limit; Linux cannot start programs from it directly, which
start-linux.sh works around). exFAT is the better choice.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Root = args[0]
			o.Version = Version
			o.Progress = cmd.OutOrStdout()
			if targets != "" {
				o.Targets = nil
				for _, s := range strings.Split(targets, ",") {
					t, ok := usb.ParseTarget(strings.TrimSpace(s))
					if !ok {
						return &exitError{code: 2, err: fmt.Errorf("bad target %q (want e.g. linux-arm64)", s)}
					}
					o.Targets = append(o.Targets, t)
				}
			}
			_, err := usb.Prepare(cmd.Context(), o)
			if errors.Is(err, usb.ErrNotRemovable) || errors.Is(err, usb.ErrNoStick) {
				return &exitError{code: 3, err: err}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.Force, "force", false, "prepare PATH even if it is not a removable disk (or does not exist yet)")
	f.StringVar(&o.Binaries, "binaries", "", "copy binaries from this folder (borgios-<os>-<arch>[.exe]) instead of building them")
	f.StringVar(&targets, "targets", "", "comma-separated systems to carry (default: "+targetList(usb.DefaultTargets)+")")
	return cmd
}

func targetList(ts []usb.Target) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.String()
	}
	return strings.Join(names, ",")
}

func newUSBFlushCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "flush PATH",
		Short: "Write everything cached for the stick at PATH to it, before unplugging",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := usb.Flush(args[0]); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Flushed. It is safe to unplug once BorgIOS has stopped.")
			return nil
		},
	}
}

func newUSBInfoCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info [PATH]",
		Short: "Show whether PATH (default: this binary's stick) is removable, its filesystem and portable state",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var root string
			portable := false
			if len(args) == 1 {
				root = args[0]
			} else {
				l, ok, err := usb.Detect("", usb.ExeDir())
				if err != nil {
					return err
				}
				if !ok {
					return &exitError{code: 1, err: errors.New("not running from a prepared stick; give a PATH")}
				}
				root, portable = l.Root, true
			}
			abs, err := filepath.Abs(root)
			if err != nil {
				return err
			}
			r, err := usb.IsRemovable(abs)
			if err != nil {
				return err
			}
			m, _ := usb.MountOf(abs)
			l := usb.Layout{Root: abs}
			_, markErr := os.Stat(l.Marker())
			info := map[string]any{
				"root":      abs,
				"removable": r.String(),
				"fstype":    m.FSType,
				"fat32":     m.FAT32(),
				"prepared":  markErr == nil,
				"running":   portable,
				"data":      l.DataDir(),
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), info)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "root: %s\nremovable: %s\nfilesystem: %s\nprepared: %v\n", abs, r, orDash(m.FSType), markErr == nil)
			if m.FAT32() {
				fmt.Fprintln(out, "note: FAT32 (4 GiB file limit, no exec bit); exFAT is the better choice")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ErrNoDisplay: the desktop app was started where no window can be shown.
var ErrNoDisplay = errors.New("no display to show a window on (neither DISPLAY nor WAYLAND_DISPLAY is set); run borgios instead, which prints an address to open")

// RunWindowed runs the conduit the way a bare `borgios` does, with the same
// flags (args, without the program name) and the same portable detection,
// but hands the address to show instead of opening a browser: the desktop
// app's window. show is called once, after portable mode has pointed TMPDIR,
// HOME and the XDG folders at the stick, so a window toolkit started from
// show reads the stick's folders (WebKitGTK keeps its data and caches under
// XDG_DATA_HOME and XDG_CACHE_HOME). RunWindowed returns when ctx ends or
// the conduit stops by itself (Prepare to unplug, the stick pulled out); it
// returns nil without calling show for --help and --version.
func RunWindowed(ctx context.Context, args []string, stdout, stderr io.Writer, show func(url string)) error {
	root := newRootCmd()
	root.Use = "borgios-desktop"
	root.Short = "BorgIOS in its own window"
	// Only the conduit belongs in a window; the other commands are
	// borgios's.
	root.ResetCommands()
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if !desktopPresent(runtime.GOOS, os.Getenv) {
			return ErrNoDisplay
		}
		o, err := conduitFlags(cmd)
		if err != nil {
			return err
		}
		o.noBrowser = false
		return runConduitWith(cmd.Context(), stdout, stderr, o, func(u string) error {
			show(u)
			return nil
		}, nil)
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

// conduitFlags reads back the options attachConduit bound to the flags.
func conduitFlags(cmd *cobra.Command) (conduitOptions, error) {
	f := cmd.Flags()
	var o conduitOptions
	var errs []error
	str := func(name string) string {
		v, err := f.GetString(name)
		errs = append(errs, err)
		return v
	}
	o.listen = str("listen")
	o.keyFile = str("keyfile")
	o.dataDir = str("data-dir")
	o.network = str("network")
	var err error
	o.idleLock, err = f.GetDuration("idle-lock")
	errs = append(errs, err)
	o.peers, err = f.GetStringSlice("peers")
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return conduitOptions{}, fmt.Errorf("conduit flags: %w", err)
	}
	return o, nil
}
