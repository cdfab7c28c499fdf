package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/ledgercell"
	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

// walletNet starts four witness nodes running only the ledger cell over
// QUIC on 127.0.0.1, with a genesis that gives alloc 1,000 shells, and
// returns the first node's contact line.
func walletNet(t *testing.T, alloc ledger.AccountID) string {
	t.Helper()
	contact, _, _, _ := walletNetNodes(t, alloc)
	return contact
}

// walletNetNodes is walletNet that also returns the nodes' keys, endpoints
// and data directory (node i reads its owner binding from
// DIR/<first 4 key bytes in hex>.binding).
func walletNetNodes(t *testing.T, alloc ledger.AccountID) (string, []ed25519.PrivateKey, []cell.Target, string) {
	t.Helper()
	var keys []ed25519.PrivateKey
	var pubs []ed25519.PublicKey
	for range 4 {
		_, k, _ := ed25519.GenerateKey(nil)
		keys = append(keys, k)
		pubs = append(pubs, k.Public().(ed25519.PublicKey))
	}
	g, err := ledgercell.DevGenesis(pubs, ledger.Allocation{Account: alloc, Amount: 1000 * ledger.MicroPerShell})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := func() int64 { return time.Now().UnixMilli() }
	var targets []cell.Target
	var trs []*transport.Transport
	for _, k := range keys {
		tr, err := transport.Listen(transport.Config{Key: k, ListenAddr: "127.0.0.1:0", Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		trs = append(trs, tr)
		targets = append(targets, cell.Target{Key: k.Public().(ed25519.PublicKey), Addr: tr.Addr().String()})
	}
	dir := t.TempDir()
	var contacts []peertree.Member
	for i, k := range keys {
		host := cell.Host{Key: k, Network: node.DefaultNetwork, Transport: trs[i], Now: now, Logger: log,
			Verifier: wire.NewVerifier(wire.Config{Network: node.DefaultNetwork, Now: now})}
		c, rt, err := ledgercell.Start(ledgercell.Config{Host: host, Genesis: g, StorePath: filepath.Join(dir, hex.EncodeToString(pubs[i][:4])+".db"),
			BindingPath: filepath.Join(dir, hex.EncodeToString(pubs[i][:4])+".binding"),
			Witnesses:   ledgercell.StaticWitnesses(targets), Tree: peertree.Config{Heartbeat: 100 * time.Millisecond}},
			cell.Options{Contacts: contacts})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.Close(); c.Close() })
		var id peertree.NodeID
		copy(id[:], pubs[i])
		contacts = append(contacts, peertree.Member{ID: id, Addr: targets[i].Addr})
	}
	return node.Contact{Key: targets[0].Key, Addr: targets[0].Addr}.String(), keys, targets, dir
}

func TestWalletBalanceSendReceiveHistory(t *testing.T) {
	alice, err := identity.NewMnemonic()
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := identity.NewMnemonic()
	ak, _ := identity.KeysFromMnemonic(alice, "")
	bk, _ := identity.KeysFromMnemonic(bob, "")
	peer := walletNet(t, ledger.AccountID(ak.AccountPublic()))

	balance := func(phrase string) map[string]any {
		t.Helper()
		code, out, errOut := runCLI(t, phrase+"\n\n", "wallet", "balance", "--json", "--peer", peer)
		if code != 0 {
			t.Fatalf("balance: exit %d: %s", code, errOut)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("balance output: %v\n%s", err, out)
		}
		return m
	}
	if m := balance(alice); m["balance"] != "1000.000000" || m["verified"] != true {
		t.Fatalf("alice starts with %v", m)
	}
	code, out, errOut := runCLI(t, alice+"\n\n", "wallet", "send", bk.Address(), "12.5", "--peer", peer)
	if code != 0 || !strings.Contains(out, "Final: send block 0") {
		t.Fatalf("send: exit %d\n%s%s", code, out, errOut)
	}
	if m := balance(alice); m["balance"] != "987.499000" {
		t.Fatalf("alice after send: %v", m)
	}
	// The transfer waits for Bob until his chain credits it.
	m := balance(bob)
	if p, _ := m["pending"].([]any); len(p) != 1 || m["balance"] != "0.000000" {
		t.Fatalf("bob before receive: %v", m)
	}
	code, out, errOut = runCLI(t, bob+"\n\n", "wallet", "receive", "--peer", peer)
	if code != 0 || !strings.Contains(out, "Final: receive") {
		t.Fatalf("receive: exit %d\n%s%s", code, out, errOut)
	}
	if m := balance(bob); m["balance"] != "12.500000" {
		t.Fatalf("bob after receive: %v", m)
	}
	code, out, errOut = runCLI(t, bob+"\n\n", "wallet", "history", "--peer", peer)
	if code != 0 || !strings.Contains(out, "received 1 sends") || !strings.Contains(out, "incoming 12.500000 from "+ak.Address()+" (credited)") {
		t.Fatalf("history: exit %d\n%s%s", code, out, errOut)
	}
	// Overspending is refused by the witnesses and says why.
	code, _, errOut = runCLI(t, bob+"\n\n", "wallet", "send", ak.Address(), "100", "--peer", peer)
	if code == 0 || !strings.Contains(errOut, "insufficient funds") {
		t.Fatalf("overspend: exit %d: %s", code, errOut)
	}
	// A missing --peer and a bad address are clear errors.
	if code, _, errOut = runCLI(t, alice+"\n\n", "wallet", "balance"); code == 0 || !strings.Contains(errOut, "--peer") {
		t.Fatalf("no peer: %d %s", code, errOut)
	}
	if code, _, errOut = runCLI(t, alice+"\n\n", "wallet", "send", "borg1nope", "1", "--peer", peer); code == 0 {
		t.Fatalf("bad address accepted: %s", errOut)
	}
}

// TestWalletShowsEarnings: node 1 is bound to Carol's account; node 0, a
// genesis auditor, proves node 1's storage. Carol's wallet shows the
// earnings waiting, credits them, and lists them in the history.
func TestWalletShowsEarnings(t *testing.T) {
	carol, _ := identity.NewMnemonic()
	ck, _ := identity.KeysFromMnemonic(carol, "")
	_, keys, targets, dir := walletNetNodes(t, ledger.AccountID(ck.AccountPublic()))
	peer := node.Contact{Key: targets[1].Key, Addr: targets[1].Addr}.String()
	g, err := ledgercell.DevGenesis([]ed25519.PublicKey{targets[0].Key, targets[1].Key, targets[2].Key, targets[3].Key},
		ledger.Allocation{Account: ledger.AccountID(ck.AccountPublic()), Amount: 1000 * ledger.MicroPerShell})
	if err != nil {
		t.Fatal(err)
	}
	req := ledger.NewBindingRequest(g.Hash(), keys[1], ledger.AccountID(ck.AccountPublic()))
	if err := req.SignOwner(ck.Account); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, hex.EncodeToString(targets[1].Key[:4])+".binding"), req.Encode(), 0o600); err != nil {
		t.Fatal(err)
	}
	content := ledger.Hash{7}
	proof := &ledger.ServiceProof{Genesis: g.Hash(), Kind: ledger.ProofStorage, Node: ledger.AccountID(targets[1].Key),
		Expected: content, Observed: content, Bytes: 20 << 30, Period: 1}
	proof.Sign(keys[0])
	_, trKey, _ := ed25519.GenerateKey(nil)
	tr, err := transport.Listen(transport.Config{Key: trKey, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	now := func() int64 { return time.Now().UnixMilli() }
	caller := &cell.Client{Transport: tr, Key: keys[0], Network: node.DefaultNetwork, Now: now,
		Verifier: wire.NewVerifier(wire.Config{Network: node.DefaultNetwork, Now: now})}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := ledgercell.Claim(ctx, caller, targets[1], []*ledger.ServiceProof{proof})
	if err != nil || res[0].Err() != nil {
		t.Fatalf("claim: %v %v", err, res)
	}
	earned := 20 * g.Params.StorageRate // 20 GiB at the per-GiB storage rate
	var out, errOut string
	var code int
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, out, errOut = runCLI(t, carol+"\n\n", "wallet", "balance", "--peer", peer)
		if code == 0 && strings.Contains(out, "Waiting: "+earned.String()+" shells earned for storage by node "+identity.Address(targets[1].Key)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("balance never showed the earnings: exit %d\n%s%s", code, out, errOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, out, errOut = runCLI(t, carol+"\n\n", "wallet", "receive", "--peer", peer); code != 0 {
		t.Fatalf("receive: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, carol+"\n\n", "wallet", "balance", "--json", "--peer", peer)
	var m map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &m) != nil || m["earned"] != earned.String() || m["balance"] != (1000*ledger.MicroPerShell+earned).String() {
		t.Fatalf("balance after receive: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, carol+"\n\n", "wallet", "history", "--peer", peer)
	if code != 0 || !strings.Contains(out, "earned   "+earned.String()+" for storage by node "+identity.Address(targets[1].Key)+" (credited)") {
		t.Fatalf("history: exit %d\n%s%s", code, out, errOut)
	}
}
