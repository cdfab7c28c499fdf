package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/borgios/borgios/node"
)

func init() { subcommands = append(subcommands, newNodeCmd) }

type logFlags struct {
	format, level string
}

func (f *logFlags) add(cmd *cobra.Command, level string) {
	cmd.Flags().StringVar(&f.format, "log-format", "text", "log format: text or json")
	cmd.Flags().StringVar(&f.level, "log-level", level, "log level: debug, info, warn or error")
}

func (f *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch f.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", f.format)
}

// defaultNodeDataDir is where a node keeps its state when --data-dir is not
// given: the user's data folder, so a Pi's service user and a desktop user
// both get a sensible place.
func defaultNodeDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "borgios", "node")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "borgios", "node")
	}
	return "borgios-node"
}

func parseContacts(list []string) ([]node.Contact, error) {
	var out []node.Contact
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			if strings.TrimSpace(s) == "" {
				continue
			}
			c, err := node.ParseContact(s)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func newNodeCmd() *cobra.Command {
	var (
		cfg   node.Config
		peers []string
		cells string
		logs  logFlags
	)
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a headless BorgIOS node",
		Long: `Run a headless node: it keeps its own random node key in --data-dir, listens for
QUIC on one UDP port (forward this one port on a home router), and serves its
read-only monitor (/status, /metrics) on --monitor. Stop it with Ctrl-C or SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg.Logger = log
			if cfg.Peers, err = parseContacts(peers); err != nil {
				return err
			}
			if cfg.Cells, err = node.ParseCells(cells); err != nil {
				return err
			}
			n, err := node.Start(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "contact: %s\n", n.Contact())
			if u := n.MonitorURL(); u != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "monitor: %s/status\n", u)
			}
			<-cmd.Context().Done()
			log.Info("shutting down", "reason", "signal")
			return n.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", node.DefaultListen, "UDP address for node-to-node QUIC traffic")
	f.StringVar(&cfg.DataDir, "data-dir", defaultNodeDataDir(), "directory for the node's key and state")
	f.StringVar(&cfg.MonitorListen, "monitor", node.DefaultMonitorListen, `TCP address of the read-only monitor ("" disables it)`)
	f.StringVar(&cfg.Network, "network", node.DefaultNetwork, "network ID")
	f.StringSliceVar(&peers, "peers", nil, "peer contacts NODEKEY@HOST:PORT (repeatable or comma-separated)")
	f.StringVar(&cells, "cells", "all", "cells to run, comma-separated (available: "+strings.Join(node.CellNames(), ", ")+")")
	f.StringVar(&cfg.GenesisPath, "genesis", "", "ledger genesis file shared by the network (default: a dev genesis with this node as its only witness)")
	f.DurationVar(&cfg.TreeHeartbeat, "heartbeat", 0, "tree heartbeat interval (default 1s; lower only for tests)")
	f.IntVar(&cfg.ShardMaxReads, "shard-max-reads", 64, "concurrent shard reads this node serves before it sends readers to another holder (0: no limit)")
	f.BoolVar(&cfg.NAT, "nat", true, "find out at start whether peers can dial this node, and reach the network through a relay when they cannot")
	f.BoolVar(&cfg.Relay, "relay", true, "relay for nodes behind a NAT (on the same home network first) when this node is reachable")
	logs.add(cmd, "info")
	cmd.AddCommand(newNodeInitCmd(), newNodeApproveCmd())
	return cmd
}
