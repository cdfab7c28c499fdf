package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/relay"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

const network = "nat-test"

var outMu sync.Mutex

func say(format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Printf(format+"\n", args...)
}

func main() {
	listen := flag.String("listen", "0.0.0.0:7446", "UDP address")
	peersFlag := flag.String("peers", "", "comma-separated KEYHEX@HOST:PORT")
	serve := flag.Bool("relay", true, "offer relaying when reachable")
	dir := flag.String("dir", "", "data directory")
	storeOn := flag.String("store-on", "", "client mode: comma-separated node keys to store a file on, then read it back")
	want := flag.Int("want", 0, "client mode: registry entries to wait for")
	punch := flag.String("punch", "", "try a direct path to this KEYHEX@RELAYEDADDR after setup")
	flag.Parse()
	if err := run(*listen, *peersFlag, *serve, *dir, *storeOn, *want, *punch); err != nil {
		say("ERROR %v", err)
		os.Exit(1)
	}
}

func parseContact(s string) (cell.Target, error) {
	k, a, ok := strings.Cut(strings.TrimSpace(s), "@")
	key, err := hex.DecodeString(k)
	if !ok || err != nil || len(key) != ed25519.PublicKeySize {
		return cell.Target{}, fmt.Errorf("bad contact %q", s)
	}
	return cell.Target{Key: key, Addr: a}, nil
}

func run(listen, peersFlag string, serve bool, dir, storeOn string, want int, punch string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub := key.Public().(ed25519.PublicKey)
	say("KEY %s", hex.EncodeToString(pub))
	tr, err := transport.Listen(transport.Config{Key: key, ListenAddr: listen, Logger: log})
	if err != nil {
		return err
	}
	defer tr.Close()
	now := func() int64 { return time.Now().UnixMilli() }
	ver := wire.NewVerifier(wire.Config{Network: network, Now: now})
	svc, err := relay.New(relay.Config{Transport: tr, Key: key, Network: network, Verifier: ver, Now: now,
		Logger: log, Serve: serve, RegisterInterval: 2 * time.Second})
	if err != nil {
		return err
	}
	defer svc.Close()
	var contacts []cell.Target
	for _, s := range strings.Split(peersFlag, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		c, err := parseContact(s)
		if err != nil {
			return err
		}
		contacts = append(contacts, c)
	}
	ctx := context.Background()
	if len(contacts) > 0 {
		for attempt := 0; ; attempt++ {
			res, raddr, err := svc.Setup(ctx, contacts, contacts)
			if err == nil {
				say("REACH %d %s %s", res.Reach, res.Observed, raddr)
				break
			}
			if attempt == 60 {
				return err
			}
			log.Warn("setup failed; retrying", "err", err)
			time.Sleep(time.Second)
		}
	} else {
		say("REACH 0 - -")
	}
	say("ADDR %s", tr.Addr().String())

	host := cell.Host{Key: key, Network: network, Transport: tr, Verifier: ver, Now: now, Logger: log}
	members := make([]peertree.Member, 0, len(contacts))
	for _, c := range contacts {
		var id peertree.NodeID
		copy(id[:], c.Key)
		members = append(members, peertree.Member{ID: id, Addr: c.Addr})
	}
	opts := cell.Options{Contacts: members}
	cells := []registry.CellRef{{Name: registry.DNA.Name, Version: registry.DNA.Version}}
	if storeOn == "" {
		cells = append(cells, registry.CellRef{Name: shard.DNA.Name, Version: shard.DNA.Version})
	}
	reg, rrt, err := registry.Start(registry.Config{Host: host, Interval: time.Second, Reach: svc.Reach,
		Cells: func() []registry.CellRef { return cells }}, opts)
	if err != nil {
		return err
	}
	defer rrt.Close()
	defer reg.Close()
	if storeOn == "" {
		sc, err := shard.New(shard.Config{Host: host, Dir: dir, Members: shard.RegistryMembers(reg)})
		if err != nil {
			return err
		}
		srt, err := cell.Start(host, sc.Type(), opts)
		if err != nil {
			return err
		}
		if err := sc.Attach(srt); err != nil {
			return err
		}
		defer srt.Close()
		defer sc.Close()
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	if punch != "" {
		go func() {
			t, err := parseContact(punch)
			if err != nil {
				say("PUNCH error %v", err)
				return
			}
			direct, err := svc.DirectPath(ctx, t)
			if err != nil {
				say("PUNCH relayed %v", err)
				return
			}
			say("PUNCH direct %s", direct)
		}()
	}
	last := ""
	stored := false
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-tick.C:
		}
		es := reg.Lookup(registry.DNA.Name, 1000)
		nat := 0
		for _, e := range es {
			if e.Reach == registry.ReachNAT {
				nat++
			}
		}
		line := fmt.Sprintf("ENTRIES %d nat=%d view=%s", len(es), nat, rrt.View().TreeID)
		if line != last {
			say("%s", line)
			last = line
		}
		if storeOn != "" && !stored && len(es) >= want {
			stored = true
			go func() {
				if err := storeAndRead(ctx, tr, ver, reg, storeOn); err != nil {
					say("GOT error %v", err)
				}
			}()
		}
	}
}

// storeAndRead stores a random file on exactly the nodes in keys (the
// membership view is cut down to them) and reads it back with a new client.
func storeAndRead(ctx context.Context, tr *transport.Transport, ver *wire.Verifier, reg *registry.Registry, keys string) error {
	var only [][]byte
	for _, k := range strings.Split(keys, ",") {
		b, err := hex.DecodeString(k)
		if err != nil {
			return err
		}
		only = append(only, b)
	}
	view := shard.MembersFunc(func(ctx context.Context) ([]shard.Member, error) {
		ms, err := shard.RegistryMembers(reg).Members(ctx)
		return slices.DeleteFunc(ms, func(m shard.Member) bool {
			return !slices.ContainsFunc(only, func(k []byte) bool { return bytes.Equal(k, m.Key) })
		}), err
	})
	_, account, _ := ed25519.GenerateKey(rand.Reader)
	var root [32]byte
	_, _ = rand.Read(root[:])
	now := func() int64 { return time.Now().UnixMilli() }
	call := &cell.Client{Transport: tr, Key: account, Network: network, Verifier: ver, Now: now}
	cl, err := shard.NewClient(shard.ClientConfig{Call: call, FileRoot: &root, Members: view, K: len(only), ChunkSize: 64 << 10})
	if err != nil {
		return err
	}
	data := make([]byte, 300<<10)
	_, _ = rand.Read(data)
	var m *shard.Manifest
	for attempt := 0; ; attempt++ {
		m, err = cl.Put(ctx, bytes.NewReader(data), nil)
		if err == nil {
			break
		}
		if attempt == 20 {
			return fmt.Errorf("put: %w", err)
		}
		time.Sleep(time.Second)
	}
	say("PUT %d bytes on %d nodes", len(data), len(only))
	cl2, err := shard.NewClient(shard.ClientConfig{Call: call, FileRoot: &root, Members: view, K: len(only)})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if _, err := cl2.Get(ctx, m, &out); err != nil {
		return fmt.Errorf("get: %w", err)
	}
	a, b := sha256.Sum256(data), sha256.Sum256(out.Bytes())
	if a != b {
		return fmt.Errorf("read back different bytes")
	}
	say("GOT ok %x", a[:8])
	return nil
}
