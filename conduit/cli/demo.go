package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/borgios/borgios/conduit"
	"github.com/borgios/borgios/conduit/netclient"
	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/ledgercell"
	"github.com/borgios/borgios/node/store"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

type demoOptions struct {
	nodes     int
	dataDir   string
	listen    string
	noBrowser bool
	heartbeat time.Duration
	logs      logFlags
}

func newDemoCmd() *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a local BorgIOS network and a conduit, all on 127.0.0.1",
		Long: `Start a small BorgIOS network on this computer (every node on 127.0.0.1, each
with its own key and data folder), wait until the nodes have organised
themselves into their trees, print each node's contact and monitor, and open
the conduit's page, where you create a fresh identity. Ctrl-C stops it all;
the data folders are removed unless --data-dir was given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), *o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.nodes, "nodes", 5, "how many nodes to start (1-50)")
	f.StringVar(&o.dataDir, "data-dir", "", "keep the nodes' data here (default: a temporary folder removed at exit)")
	f.StringVar(&o.listen, "listen", conduit.DefaultListen, "loopback address of the conduit's pages")
	f.BoolVar(&o.noBrowser, "no-browser", false, "print the address but do not open a browser")
	f.DurationVar(&o.heartbeat, "heartbeat", 500*time.Millisecond, "tree heartbeat of the demo nodes")
	o.logs.add(cmd, "warn")
	return cmd
}

func runDemo(ctx context.Context, stdout, stderr io.Writer, o demoOptions) error {
	if o.nodes < 1 || o.nodes > 50 {
		return fmt.Errorf("--nodes %d: choose between 1 and 50", o.nodes)
	}
	log, err := o.logs.logger(stderr)
	if err != nil {
		return err
	}
	base := o.dataDir
	if base == "" {
		if base, err = os.MkdirTemp("", "borgios-demo-"); err != nil {
			return fmt.Errorf("demo data folder: %w", err)
		}
		defer os.RemoveAll(base)
	}

	fmt.Fprintf(stdout, "Starting %d BorgIOS nodes on 127.0.0.1 (data in %s)\n", o.nodes, base)
	// The faucet's key lives only in this process: the demo's genesis
	// gives it shells so that a fresh identity can try the Wallet.
	_, faucetKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	genesis, err := demoGenesis(base, o.nodes, ledger.Allocation{Account: ledger.AccountID(faucetKey.Public().(ed25519.PublicKey)), Amount: demoFaucetFunds})
	if err != nil {
		return err
	}
	var nodes []*node.Node
	defer func() {
		for i := len(nodes) - 1; i >= 0; i-- {
			nodes[i].Close()
		}
	}()
	for i := 0; i < o.nodes; i++ {
		var peers []node.Contact
		if i > 0 {
			// Everyone knows the first node and the one before it, as
			// people who tell each other their contact would.
			peers = append(peers, nodes[0].Contact())
			if i > 1 {
				peers = append(peers, nodes[i-1].Contact())
			}
		}
		n, err := node.Start(ctx, node.Config{
			DataDir:       demoNodeDir(base, i),
			Listen:        "127.0.0.1:0",
			MonitorListen: "127.0.0.1:0",
			Peers:         peers,
			TreeHeartbeat: o.heartbeat,
			Genesis:       genesis,
			Logger:        log.With("demo_node", i+1),
		})
		if err != nil {
			return fmt.Errorf("start node %d: %w", i+1, err)
		}
		nodes = append(nodes, n)
	}

	status := conduit.LocalNodes{Nodes: nodes, Network: node.DefaultNetwork, Mode: "demo network"}
	if err := waitDemoTrees(ctx, stdout, nodes, 90*time.Second); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "%-4s %-10s %-9s %-24s %s\n", "node", "key", "position", "QUIC (udp)", "monitor")
	for i, n := range nodes {
		pos := "-"
		if rt := n.Cell("registry"); rt != nil {
			pos = fmt.Sprint(rt.View().Position)
		}
		fmt.Fprintf(stdout, "%-4d %-10x %-9s %-24s %s/\n", i+1, n.PublicKey()[:4], pos, n.Contact().Addr, n.MonitorURL())
	}
	fmt.Fprintf(stdout, "\nJoin another node to this network with:\n  borgios node --listen 127.0.0.1:0 --monitor 127.0.0.1:0 --data-dir DIR --peers %s\n\n", nodes[0].Contact())

	// The pages reach the demo network the way they reach any network:
	// through a network client whose bootstrap contacts are the nodes.
	nc := &conduit.NetworkClient{}
	contacts := make([]node.Contact, 0, len(nodes))
	for _, n := range nodes {
		contacts = append(contacts, n.Contact())
	}
	ncCtx, cancelNC := context.WithCancel(ctx)
	ncDone := make(chan struct{})
	go func() {
		defer close(ncDone)
		if err := nc.Connect(ncCtx, netclient.Config{Network: node.DefaultNetwork, Bootstrap: contacts, Listen: "127.0.0.1:0", Logger: log}); err != nil && ncCtx.Err() == nil {
			log.Error("demo network client", "err", err)
		}
	}()
	defer func() { cancelNC(); nc.Close(); <-ncDone }()
	network := conduit.DemoNetwork{LocalNodes: status, Client: nc}
	var witnesses []cell.Target
	for _, n := range nodes[:min(len(nodes), 4)] {
		c := n.Contact()
		witnesses = append(witnesses, cell.Target{Key: c.Key, Addr: c.Addr})
	}
	faucet := demoFaucet(genesis, faucetKey, nc, witnesses)
	return runConduitWith(ctx, stdout, stderr, conduitOptions{listen: o.listen, noBrowser: o.noBrowser, idleLock: conduit.DefaultIdleLock, faucet: faucet}, openBrowser, network)
}

// The demo faucet holds a million shells and gives 100 per press.
const (
	demoFaucetFunds = 1_000_000 * ledger.MicroPerShell
	demoFaucetGift  = 100 * ledger.MicroPerShell
)

// demoFaucet sends demo shells from the faucet account through the demo's
// own network client, one send at a time (an account's blocks are a chain).
func demoFaucet(g *ledger.Genesis, key ed25519.PrivateKey, nc *conduit.NetworkClient, witnesses []cell.Target) func(context.Context, ledger.AccountID) (ledger.Amount, error) {
	var mu sync.Mutex
	var client *ledgercell.Client
	return func(ctx context.Context, to ledger.AccountID) (ledger.Amount, error) {
		mu.Lock()
		defer mu.Unlock()
		if client == nil {
			p := nc.Pool()
			if p == nil {
				return 0, errors.New("the demo network is still connecting; try again in a moment")
			}
			client = ledgercell.NewClient(ledgercell.ClientConfig{Genesis: g, Caller: p.Client(key),
				Witnesses: ledgercell.StaticWitnesses(witnesses)})
		}
		if _, err := client.Send(ctx, to, demoFaucetGift); err != nil {
			return 0, fmt.Errorf("faucet: %w", err)
		}
		return demoFaucetGift, nil
	}
}

// demoGenesis makes the demo network's ledger genesis: its witnesses are
// the first (up to) four nodes, whose keys are created here, before the
// nodes start, so that every node can be given the same genesis.
func demoGenesis(base string, nodes int, allocs ...ledger.Allocation) (*ledger.Genesis, error) {
	var witnesses []ed25519.PublicKey
	for i := 0; i < nodes && i < 4; i++ {
		db, err := store.Open(demoNodeDir(base, i))
		if err != nil {
			return nil, err
		}
		key, err := db.NodeKey()
		db.Close()
		if err != nil {
			return nil, err
		}
		witnesses = append(witnesses, key.Public().(ed25519.PublicKey))
	}
	return ledgercell.DevGenesis(witnesses, allocs...)
}

func demoNodeDir(base string, i int) string { return filepath.Join(base, fmt.Sprintf("node%02d", i+1)) }

// waitDemoTrees shows progress until every node sits in one tree of each
// cell it runs.
func waitDemoTrees(ctx context.Context, w io.Writer, nodes []*node.Node, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	last := -1
	for {
		placed, agree := 0, true
		root := map[string]string{}
		for _, n := range nodes {
			ok := true
			for _, name := range node.CellNames() {
				rt := n.Cell(name)
				if rt == nil {
					continue
				}
				v := rt.View()
				if v.Position < 1 || v.Size != len(nodes) {
					ok = false
				}
				if r, seen := root[name]; seen && r != v.Root.Key {
					agree = false
				}
				root[name] = v.Root.Key
			}
			if ok {
				placed++
			}
		}
		if placed != last {
			fmt.Fprintf(w, "\r  forming the trees: %d/%d nodes placed", placed, len(nodes))
			last = placed
		}
		if placed == len(nodes) && agree {
			fmt.Fprintln(w, " - done")
			return nil
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(w)
			return errors.New("the demo nodes did not form one tree in time; run with --log-level info to see why")
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(w)
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
