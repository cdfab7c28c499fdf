package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/borgios/borgios/usb"
)

// Version is set at build time with -ldflags "-X github.com/borgios/borgios/conduit/cli.Version=...".
var Version = "dev"

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Main runs the command line with the given arguments and streams and
// returns the process exit code. SIGINT and SIGTERM cancel the command's
// context so that long-running commands shut down cleanly.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "borgios:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "borgios",
		Short:         "BorgIOS: your personal peer-to-peer network",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	var portableDir string
	root.PersistentFlags().StringVar(&portableDir, "portable", "", "run portable from this stick folder: all state, caches, temp files and logs stay there (default: detected from a .portable marker beside the binary)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		return applyPortable(cmd, portableDir)
	}
	// A bare `borgios` (what a person double-clicks on a stick) runs the
	// conduit, with the conduit's flags.
	attachConduit(root)
	root.Args = cobra.NoArgs
	return root
}

// portableKey is the context key under which the stick layout is kept when
// running portable, for the commands that act on it (the conduit's unplug
// flush and pull-out watch).
type portableKey struct{}

// portableLayout returns the stick layout when running portable.
func portableLayout(ctx context.Context) (usb.Layout, bool) {
	l, ok := ctx.Value(portableKey{}).(usb.Layout)
	return l, ok
}

// applyPortable switches to portable mode when asked (--portable) or when
// the binary sits on a prepared stick: before anything reads TMPDIR, HOME or
// the XDG folders it points them at the stick, and it makes the stick's data
// folders the default --data-dir of the node and the conduit.
func applyPortable(cmd *cobra.Command, explicit string) error {
	l, ok, err := usb.Detect(explicit, usb.ExeDir())
	if err != nil {
		return fmt.Errorf("--portable: %w", err)
	}
	if !ok {
		return nil
	}
	p := l.Paths()
	if err := p.Apply(); err != nil {
		return fmt.Errorf("portable mode on %s: %w", l.Root, err)
	}
	cmd.SetContext(context.WithValue(cmd.Context(), portableKey{}, l))
	if f := cmd.Flags().Lookup("data-dir"); f != nil && !f.Changed {
		dir := p.Conduit
		if cmd.Name() == "node" {
			dir = p.Node
		}
		if err := f.Value.Set(dir); err != nil {
			return err
		}
	}
	return nil
}

// subcommands is filled by each subcommand's file in init, so that the
// files stay independent of one another.
var subcommands []func() *cobra.Command
