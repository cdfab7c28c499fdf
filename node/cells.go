package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/files"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/ledgercell"
	"github.com/borgios/borgios/node/mail"
	"github.com/borgios/borgios/node/netclock"
	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/shard"
)

// cellTypes builds the cell types a node can run, by name. Each build
// function gets the node so that cells can reach its store and clock.
var cellTypes = map[string]func(n *Node) (cell.Type, error){
	"crono":    cronoCell,
	"registry": registryCell,
	"ledger":   ledgerCell,
	"shard":    shardCell,
	"files":    filesCell,
	"mail":     mailCell,
}

// CellNames lists the cell types this build can run, sorted.
func CellNames() []string {
	names := make([]string, 0, len(cellTypes))
	for name := range cellTypes {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// ParseCells turns "crono,registry" (or "all", or "") into cell names,
// refusing unknown ones with the list of known ones.
func ParseCells(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return CellNames(), nil
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if _, ok := cellTypes[name]; !ok {
			return nil, fmt.Errorf("unknown cell %q; this build runs: %s", name, strings.Join(CellNames(), ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// treeConfig is the PeerTree tuning for real nodes; TreeHeartbeat in the
// node config overrides the heartbeat (tests use shorter ones).
func (n *Node) treeConfig() peertree.Config {
	c := peertree.Config{Heartbeat: n.cfg.TreeHeartbeat}
	if c.Heartbeat > 0 {
		// The merge probe's 30 s default is sized for the default 1 s
		// heartbeat; keep the same ratio when the heartbeat is changed.
		c.MergeProbe = 30 * c.Heartbeat
	}
	return c
}

func (n *Node) startCells() error {
	contacts := make([]peertree.Member, 0, len(n.cfg.Peers))
	for _, c := range n.cfg.Peers {
		var id peertree.NodeID
		copy(id[:], c.Key)
		contacts = append(contacts, peertree.Member{ID: id, Addr: c.Addr})
	}
	host := n.cellHost()
	for _, name := range n.cfg.Cells {
		if _, ok := cellTypes[name]; !ok {
			return fmt.Errorf("unknown cell %q; this build runs: %s", name, strings.Join(CellNames(), ", "))
		}
		dna := cellDNA[name]
		n.cellRefs = append(n.cellRefs, registry.CellRef{Name: dna.Name, Version: dna.Version})
	}
	// Build in CellNames order, not the order given, so that builds are the
	// same whatever --cells says: shard (after registry) takes the registry
	// at build time; files, ledger and mail sort before it and resolve it
	// when they first need members.
	for _, name := range CellNames() {
		if !slices.Contains(n.cfg.Cells, name) {
			continue
		}
		build, ok := cellTypes[name]
		if !ok {
			return fmt.Errorf("unknown cell %q", name)
		}
		typ, err := build(n)
		if err != nil {
			return fmt.Errorf("cell %s: %w", name, err)
		}
		if typ.Tree.Heartbeat == 0 {
			typ.Tree = n.treeConfig()
		}
		var rt *cell.Runtime
		if name == netclock.DNA.Name {
			// The crono cell runs with its own wide-window verifier so that a
			// node an hour off can still sync (netclock's doc explains why).
			rt, err = n.clock.Start(host, typ, cell.Options{Contacts: contacts})
		} else {
			rt, err = cell.Start(host, typ, cell.Options{Contacts: contacts})
		}
		if err != nil {
			return fmt.Errorf("start cell %s: %w", name, err)
		}
		n.cells = append(n.cells, rt)
	}
	if rt := n.Cell(registry.DNA.Name); rt != nil {
		if err := n.registry.Attach(rt); err != nil {
			return fmt.Errorf("start registry: %w", err)
		}
	}
	if rt := n.Cell(ledgercell.DNA.Name); rt != nil {
		if err := n.ledger.Attach(rt); err != nil {
			return fmt.Errorf("start ledger: %w", err)
		}
	}
	if rt := n.Cell(shard.DNA.Name); rt != nil {
		if err := n.shard.Attach(rt); err != nil {
			return fmt.Errorf("start shard: %w", err)
		}
	}
	if rt := n.Cell(files.DNA.Name); rt != nil {
		if err := n.files.Attach(rt); err != nil {
			return fmt.Errorf("start files: %w", err)
		}
	}
	if rt := n.Cell(mail.DNA.Name); rt != nil {
		if err := n.mail.Attach(rt); err != nil {
			return fmt.Errorf("start mail: %w", err)
		}
	}
	n.mon.Provide("cells", func() any {
		out := map[string]cell.Status{}
		for _, rt := range n.cells {
			out[rt.DNA().Name] = rt.Status()
		}
		return out
	})
	return nil
}

// cellDNA is every cell type's DNA, for the registry entry the node
// publishes before the cells are built.
var cellDNA = map[string]cell.DNA{
	netclock.DNA.Name:   netclock.DNA,
	registry.DNA.Name:   registry.DNA,
	ledgercell.DNA.Name: ledgercell.DNA,
	shard.DNA.Name:      shard.DNA,
	files.DNA.Name:      files.DNA,
	mail.DNA.Name:       mail.DNA,
}

func (n *Node) cellHost() cell.Host {
	if n.cellMetrics == nil {
		n.cellMetrics = cell.NewMetrics(n.mon.Registry())
	}
	return cell.Host{
		Key: n.key, Network: n.cfg.Network, Transport: n.tr, Verifier: n.verifier,
		Now: n.cfg.Now, Logger: n.log, Metrics: n.cellMetrics,
	}
}

// Cell returns the runtime of the named cell, or nil if the node does not
// run it.
func (n *Node) Cell(name string) *cell.Runtime {
	for _, rt := range n.cells {
		if rt.DNA().Name == name {
			return rt
		}
	}
	return nil
}

// cronoCell is network time over the crono tree.
func cronoCell(n *Node) (cell.Type, error) { return netclock.CellType(n.clock), nil }

// registryCell is the phone book of live endpoints: this node's signed
// entry names the cells it runs, and it keeps everyone else's.
func registryCell(n *Node) (cell.Type, error) {
	cfg := registry.Config{
		Host:       n.cellHost(),
		Cells:      func() []registry.CellRef { return n.cellRefs },
		Registerer: n.mon.Registry(),
	}
	if n.nat != nil {
		cfg.Reach = n.nat.Reach
	}
	if h := n.cfg.TreeHeartbeat; h > 0 {
		// Entries are refreshed every 10 heartbeats (10 s by default) and
		// live for three refreshes.
		cfg.Interval = 10 * h
	}
	reg, err := registry.New(cfg)
	if err != nil {
		return cell.Type{}, err
	}
	n.registry = reg
	typ := reg.Type()
	typ.OnTreeEvent = reg.HandleTreeEvent
	return typ, nil
}

// Registry is the node's registry, or nil if it does not run that cell.
func (n *Node) Registry() *registry.Registry { return n.registry }

// ledgerCell is the shell ledger: every node verifies certificates; nodes
// whose key is a genesis witness also vote. Without a genesis (config or
// --genesis FILE) a node runs a dev genesis with itself as sole witness:
// enough for one stick alone, but two such nodes do not share a ledger.
func ledgerCell(n *Node) (cell.Type, error) {
	g := n.cfg.Genesis
	var err error
	if g == nil && n.cfg.GenesisPath != "" {
		if g, err = ledger.LoadGenesis(n.cfg.GenesisPath); err != nil {
			return cell.Type{}, fmt.Errorf("load genesis: %w", err)
		}
	}
	if g == nil {
		if g, err = ledgercell.DevGenesis([]ed25519.PublicKey{n.PublicKey()}); err != nil {
			return cell.Type{}, err
		}
	}
	cfg := ledgercell.Config{
		Host: n.cellHost(), Genesis: g, DB: n.db.Bolt(),
		// The owner's countersigned binding (borgios node init): without
		// it this node does the work but cannot be paid for it.
		BindingPath: filepath.Join(n.cfg.DataDir, "owner.binding"),
		// The registry is attached after the cells start, so resolve the
		// witnesses' endpoints when they are needed.
		Witnesses: func(ctx context.Context) ([]cell.Target, error) {
			if n.registry == nil {
				return nil, nil
			}
			return ledgercell.RegistryWitnesses(n.registry, g)(ctx)
		},
	}
	if h := n.cfg.TreeHeartbeat; h > 0 {
		cfg.SyncInterval = 30 * h
	}
	c, err := ledgercell.New(cfg)
	if err != nil {
		return cell.Type{}, err
	}
	n.ledger = c
	// The rewarder turns the scrub's storage proofs (and delivery receipts
	// of readers on this node) into claims the worker nodes redeem.
	rw, err := ledgercell.NewRewarder(ledgercell.RewarderConfig{
		Genesis: g, Key: n.key, Now: n.cfg.Now, Logger: n.log,
		Caller: &cell.Client{Transport: n.tr, Key: n.key, Network: n.cfg.Network, Verifier: n.verifier, Now: n.cfg.Now},
		Resolve: func(ctx context.Context, k ed25519.PublicKey) (cell.Target, error) {
			if n.registry == nil {
				return cell.Target{}, ledgercell.ErrUnknownNode
			}
			return ledgercell.RegistryResolver(n.registry)(ctx, k)
		},
	})
	if err != nil {
		return cell.Type{}, err
	}
	n.rewarder = rw
	n.mon.Provide("rewards", func() any { return rw.Stats() })
	return c.Type(), nil
}

// Ledger is the node's ledger cell, or nil if it does not run it.
func (n *Node) Ledger() *ledgercell.Cell { return n.ledger }

// shardCell is encrypted shard storage; its membership view (who holds
// what, by rendezvous hashing) is the registry's list of shard nodes.
func shardCell(n *Node) (cell.Type, error) {
	if n.registry == nil {
		return cell.Type{}, errors.New("the shard cell needs the registry cell: run --cells registry,shard")
	}
	cfg := shard.Config{
		Host:       n.cellHost(),
		Dir:        filepath.Join(n.cfg.DataDir, "shard"),
		Members:    shard.RegistryMembers(n.registry),
		Registerer: n.mon.Registry(),
		MaxReads:   n.cfg.ShardMaxReads,
		OnAudit: func(e shard.AuditEvent) {
			if rw := n.rewarder; rw != nil {
				rw.Audit(e.Holder, e.Shard, e.Size, e.Passed, e.Expected, e.Observed)
			}
		},
	}
	if h := n.cfg.TreeHeartbeat; h > 0 {
		cfg.ScrubInterval = 20 * h
	}
	c, err := shard.New(cfg)
	if err != nil {
		return cell.Type{}, err
	}
	n.shard = c
	return c.Type(), nil
}

// Shard is the node's shard cell, or nil if it does not run it.
func (n *Node) Shard() *shard.Cell { return n.shard }

// filesCell keeps each person's signed head record (the root of their file
// tree) on the k nodes HRW picks among the registry's files members.
func filesCell(n *Node) (cell.Type, error) {
	if !slices.Contains(n.cfg.Cells, registry.DNA.Name) {
		return cell.Type{}, errors.New("the files cell needs the registry cell: run --cells registry,shard,files")
	}
	cfg := files.Config{
		Host: n.cellHost(),
		Dir:  filepath.Join(n.cfg.DataDir, "files"),
		// "files" sorts before "registry", so the registry is built after
		// this cell: resolve it when the view is needed.
		Members: shard.MembersFunc(func(ctx context.Context) ([]shard.Member, error) {
			if n.registry == nil {
				return nil, nil
			}
			return files.RegistryMembers(n.registry).Members(ctx)
		}),
	}
	if h := n.cfg.TreeHeartbeat; h > 0 {
		cfg.SyncInterval = 20 * h
	}
	c, err := files.New(cfg)
	if err != nil {
		return cell.Type{}, err
	}
	n.files = c
	return c.Type(), nil
}

// Files is the node's files cell, or nil if it does not run it.
func (n *Node) Files() *files.Cell { return n.files }

// mailCell keeps each person's signed mail key record and the sealed
// messages sent to them on the k nodes HRW picks among the registry's mail
// members.
func mailCell(n *Node) (cell.Type, error) {
	if !slices.Contains(n.cfg.Cells, registry.DNA.Name) {
		return cell.Type{}, errors.New("the mail cell needs the registry cell: run --cells registry,shard,mail")
	}
	cfg := mail.Config{
		Host: n.cellHost(),
		Dir:  filepath.Join(n.cfg.DataDir, "mail"),
		// "mail" sorts before "registry": resolve the registry when needed.
		Members: shard.MembersFunc(func(ctx context.Context) ([]shard.Member, error) {
			if n.registry == nil {
				return nil, nil
			}
			return mail.RegistryMembers(n.registry).Members(ctx)
		}),
	}
	if h := n.cfg.TreeHeartbeat; h > 0 {
		cfg.SyncInterval = 20 * h
	}
	c, err := mail.New(cfg)
	if err != nil {
		return cell.Type{}, err
	}
	n.mail = c
	return c.Type(), nil
}

// Mail is the node's mail cell, or nil if it does not run it.
func (n *Node) Mail() *mail.Cell { return n.mail }
