package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/borgios/borgios/conduit"
	"github.com/borgios/borgios/conduit/netclient"
	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/usb"
)

func init() { subcommands = append(subcommands, newConduitCmd) }

// conduitOptions are the conduit's flags, shared by `borgios conduit` and
// the bare `borgios` (see attachConduit).
type conduitOptions struct {
	listen    string
	noBrowser bool
	idleLock  time.Duration
	keyFile   string
	// peers are the bootstrap contacts of the network client; dataDir is
	// where its embedded node lives when none of them answers. Neither set
	// (tests): no network client, the pages say "not connected".
	peers   []string
	dataDir string
	network string
	// faucet gives demo shells (borgios demo only).
	faucet func(context.Context, ledger.AccountID) (ledger.Amount, error)
}

func newConduitCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "conduit",
		Short: "Open your BorgIOS pages in the browser (what borgios does with no arguments)",
		Long: `The conduit serves your BorgIOS pages to the browser on this computer only
(127.0.0.1). It prints an address with a secret token: open it, then create
an identity or unlock with your 24 words. Your keys stay in the conduit's
memory; Lock, Prepare to unplug, quitting and 15 minutes without use wipe them.`,
		Args: cobra.NoArgs,
	}
	attachConduit(cmd)
	return cmd
}

// attachConduit gives cmd the conduit's flags and makes it run the
// conduit. The root command calls it too, so that a bare `borgios` (what
// a person double-clicks on a stick) starts the conduit.
func attachConduit(cmd *cobra.Command) {
	o := &conduitOptions{}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", conduit.DefaultListen, "loopback address to serve on (port 0 picks a free one)")
	f.BoolVar(&o.noBrowser, "no-browser", false, "print the address but do not open a browser")
	f.DurationVar(&o.idleLock, "idle-lock", conduit.DefaultIdleLock, "wipe the keys after this long without use")
	f.StringVar(&o.keyFile, "keyfile", "", "encrypted key file (from borgios seed keyfile) to offer unlocking with its passphrase")
	f.StringSliceVar(&o.peers, "peers", nil, "nodes to reach the network through, NODEKEY@HOST:PORT (repeatable or comma-separated)")
	f.StringVar(&o.dataDir, "data-dir", defaultConduitDataDir(), "directory for the embedded node, run when no node in --peers answers")
	f.StringVar(&o.network, "network", node.DefaultNetwork, "network ID")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runConduit(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), *o, openBrowser)
	}
}

// runConduit serves until ctx ends or the person prepares to unplug.
func runConduit(ctx context.Context, stdout, stderr io.Writer, o conduitOptions, open func(string) error) error {
	return runConduitWith(ctx, stdout, stderr, o, open, nil)
}

// runConduitWith is runConduit with the network status the pages show
// (nil: not connected); `borgios demo` passes its local nodes.
func runConduitWith(ctx context.Context, stdout, stderr io.Writer, o conduitOptions, open func(string) error, network conduit.NetworkStatus) error {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var nc *conduit.NetworkClient
	var peers []node.Contact
	if network == nil && (len(o.peers) > 0 || o.dataDir != "") {
		var err error
		if peers, err = parseContacts(o.peers); err != nil {
			return err
		}
		nc = &conduit.NetworkClient{}
		network = nc
	}
	cfg := conduit.Config{
		Listen:       o.listen,
		Network:      network,
		Logger:       logger,
		IdleLock:     o.idleLock,
		ExitOnUnplug: true,
		Faucet:       o.faucet,
	}
	if o.keyFile != "" {
		cfg.KeyFile = conduit.KeyFilePath(o.keyFile)
	}
	if l, ok := portableLayout(ctx); ok && o.keyFile == "" {
		// On a stick the key file lives beside the data, so Settings can
		// offer "save on the stick" and the next start can unlock with it.
		cfg.KeyFile = conduit.KeyFilePath(filepath.Join(l.Paths().Conduit, "identity.keyfile"))
	}
	if l, ok := portableLayout(ctx); ok {
		// Prepare to unplug flushes the stick; pulling it out wipes the
		// keys and stops the conduit (the context below).
		cfg.OnUnplug = func(context.Context) error { return usb.Flush(l.Root) }
	}
	srv, err := conduit.New(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		if nc != nil {
			nc.Close()
		}
		wg.Wait()
	}()
	if nc != nil {
		// Connect in the background so the address is printed at once;
		// the pages say "Connecting..." meanwhile.
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := nc.Connect(ctx, netclient.Config{Network: o.network, Bootstrap: peers, DataDir: o.dataDir, Logger: logger})
			if err != nil && !errors.Is(err, netclient.ErrClosed) && ctx.Err() == nil {
				logger.Error("network client", "err", err)
			}
		}()
	}
	if l, ok := portableLayout(ctx); ok {
		gone := usb.Watch(ctx, l.Root, usb.DefaultWatchInterval)
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-gone:
				if ctx.Err() == nil {
					fmt.Fprintln(stdout, "The stick was removed: keys wiped, stopping.")
					cancel()
				}
			case <-ctx.Done():
			}
		}()
	}
	fmt.Fprintf(stdout, `BorgIOS is running. Open this address in your browser:

    %s

The address holds a secret for this session: do not share it.
Press Ctrl+C to stop (your keys are wiped when the conduit stops).
`, srv.URL())
	if !o.noBrowser && desktopPresent(runtime.GOOS, os.Getenv) {
		if err := open(srv.URL()); err != nil {
			// Never fatal: the address is printed above.
			fmt.Fprintf(stderr, "borgios: could not open a browser (%v); open the address above by hand.\n", err)
		}
	}
	if err := srv.Run(ctx); err != nil {
		return err
	}
	select {
	case <-srv.Unplugged():
		fmt.Fprintln(stdout, "Keys wiped. It is safe to unplug.")
	default:
		fmt.Fprintln(stdout, "Stopped. Keys wiped.")
	}
	return nil
}

// defaultConduitDataDir is where the conduit's embedded node lives on a
// computer (in portable mode the usb layer supplies a directory on the
// stick instead).
func defaultConduitDataDir() string {
	return filepath.Join(filepath.Dir(defaultNodeDataDir()), "conduit-node")
}

// desktopPresent guesses whether a browser can be shown: always on macOS
// and Windows, and on other systems only with an X11 or Wayland display
// (so not on a headless Pi or over plain SSH).
func desktopPresent(goos string, getenv func(string) string) bool {
	switch goos {
	case "darwin", "windows":
		return true
	}
	return getenv("DISPLAY") != "" || getenv("WAYLAND_DISPLAY") != ""
}

// openBrowser asks the system to open url in the default browser. It
// does not wait for the browser, which may run for hours.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }() // reap it
	return nil
}
