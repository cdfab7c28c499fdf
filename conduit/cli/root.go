package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
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
	// A bare `borgios` (what a person double-clicks on a stick) runs the
	// conduit, with the conduit's flags.
	attachConduit(root)
	root.Args = cobra.NoArgs
	return root
}

// subcommands is filled by each subcommand's file in init, so that the
// files stay independent of one another.
var subcommands []func() *cobra.Command
