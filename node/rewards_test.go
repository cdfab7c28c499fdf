package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/ledgercell"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/store"
)

// TestScrubProofsPayOwners is issue 6's earning path end to end with real
// nodes: the shard scrub's storage proofs go through each node's rewarder
// to the holders, whose ledger cells certify rewards from the treasury to
// the owner named in their owner.binding. The total supply never moves.
func TestScrubProofsPayOwners(t *testing.T) {
	const n = 4
	ownerPub, ownerKey, _ := ed25519.GenerateKey(nil)
	var owner ledger.AccountID
	copy(owner[:], ownerPub)

	// Make the node keys first, so the genesis can name the nodes as its
	// witnesses and auditors.
	dirs := make([]string, n)
	keys := make([]ed25519.PrivateKey, n)
	pubs := make([]ed25519.PublicKey, n)
	for i := range dirs {
		dirs[i] = t.TempDir()
		db, err := store.Open(dirs[i])
		if err != nil {
			t.Fatal(err)
		}
		if keys[i], err = db.NodeKey(); err != nil {
			t.Fatal(err)
		}
		db.Close()
		pubs[i] = keys[i].Public().(ed25519.PublicKey)
	}
	g, err := ledgercell.DevGenesis(pubs)
	if err != nil {
		t.Fatal(err)
	}
	gj, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	genesisPath := filepath.Join(t.TempDir(), "genesis.json")
	if err := os.WriteFile(genesisPath, gj, 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range dirs {
		b := ledger.NewNodeBinding(g.Hash(), keys[i], ownerKey)
		if err := os.WriteFile(filepath.Join(dirs[i], "owner.binding"), b.Encode(), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	nodes := make([]*Node, n)
	for i := range nodes {
		var peers []Contact
		if i > 0 {
			peers = []Contact{nodes[0].Contact()}
		}
		// Each node parses the genesis itself, as separate machines would
		// (a parsed genesis caches verified signatures).
		nodes[i], err = Start(context.Background(), Config{
			DataDir: dirs[i], Listen: "127.0.0.1:0", Peers: peers, GenesisPath: genesisPath,
			TreeHeartbeat: 250 * time.Millisecond, PeerInterval: time.Second, Logger: quietLogger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nodes[i].Close() })
	}
	waitTree(t, "shard", n, nodes...)
	members := shard.RegistryMembers(nodes[0].Registry())
	waitFor(t, 120*time.Second, "every node to see 4 shard members", func() bool {
		ms, err := members.Members(context.Background())
		return err == nil && len(ms) == n
	})

	_, person, _ := ed25519.GenerateKey(nil)
	var root [32]byte
	rand.Read(root[:])
	sc, err := shard.NewClient(shard.ClientConfig{Call: newTestClient(t, person), FileRoot: &root, Members: members})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 700<<10) // three chunks
	rand.Read(data)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if _, err := sc.Put(ctx, bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}

	// The scrub runs every 20 heartbeats (5 s here); a reward needs a
	// scrub pass, a claim and a certificate, then the certificate spreads.
	defer func() {
		if t.Failed() {
			for _, nd := range nodes {
				t.Logf("node %x rewarder: %+v", nd.PublicKey()[:4], nd.rewarder.Stats())
			}
		}
	}()
	// Rewards are certified sends from the treasury to the owner; the
	// owner credits them to their own chain (as the Wallet page does).
	wallet := ledgercell.NewClient(ledgercell.ClientConfig{Genesis: g, Caller: newTestClient(t, ownerKey),
		Witnesses: ledgercell.RegistryWitnesses(nodes[0].Registry(), g)})
	defer wallet.Close()
	var info ledgercell.AccountInfo
	waitFor(t, 180*time.Second, "a storage reward for the owner", func() bool {
		info, err = wallet.Balance(ctx, owner)
		return err == nil && len(info.Pending) > 0
	})
	// Crediting needs a quorum of witnesses in the registry the wallet
	// reads; on a loaded machine an entry can be missing for a moment
	// ("1 witness endpoints known"), so a refusal of that kind is retried.
	var lastErr error
	waitFor(t, 120*time.Second, "the owner to credit a reward", func() bool {
		_, lastErr = wallet.Receive(ctx)
		if lastErr != nil {
			t.Logf("crediting a reward: %v (retrying)", lastErr)
			time.Sleep(500 * time.Millisecond)
		}
		return lastErr == nil
	})
	if info, err = wallet.Balance(ctx, owner); err != nil || info.Balance == 0 {
		t.Fatalf("owner balance after crediting rewards: %+v, %v", info.AccountState, err)
	}
	t.Logf("owner credited %s for storage proofs (%d rewards)", info.Balance, len(info.Pending))
	for _, nd := range nodes {
		nd.ledger.View(func(l *ledger.Ledger) {
			if err := l.CheckConservation(); err != nil {
				t.Errorf("node %x: %v", nd.PublicKey()[:4], err)
			}
		})
	}
}
