package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/mail"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/shard"
)

// runMail runs "borgios mail ARGS..." with the phrase on stdin and
// returns its standard output.
func runMail(t testing.TB, phrase string, peers []string, args ...string) string {
	t.Helper()
	full := []string{"mail", "--network", testNetwork}
	for _, p := range peers {
		full = append(full, "--peer", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append(full, args...)...)
	cmd.Stdin = strings.NewReader(phrase + "\n")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("borgios mail %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	return out.String()
}

// mailMembers is the mail members a node's registry lists.
func mailMembers(t testing.TB, c *cell.Client, n *filesNode) ([]shard.Member, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	es, err := registry.Dump(ctx, c, cell.Target{Key: n.key, Addr: n.addr})
	if err != nil {
		return nil, 0
	}
	var out []shard.Member
	sh := 0
	for _, e := range es {
		if e.Serves(mail.DNA.Name) && len(e.Addrs) > 0 {
			out = append(out, shard.Member{Key: e.Node, Addr: e.Addrs[0]})
		}
		if e.Serves(shard.DNA.Name) {
			sh++
		}
	}
	return out, sh
}

// TestMailSurvivesKill9 runs five `borgios node` processes with the mail
// cell. Alice sends Bob a message with an attachment through `borgios
// mail send`; the top holder of Bob's mailbox is killed with SIGKILL at
// once; Bob's `borgios mail read` still opens the message, verified, and
// saves the attachment bit-identical. The killed node then restarts on
// its data directory and still holds the message it acknowledged.
func TestMailSurvivesKill9(t *testing.T) {
	const n = 5
	base := t.TempDir()
	start := func(dir string, peers ...string) *filesNode {
		args := []string{"node", "--listen", "127.0.0.1:0", "--monitor", "127.0.0.1:0", "--data-dir", dir,
			"--cells", "registry,shard,mail,crono", "--heartbeat", filesHeartbeat.String(), "--log-level", "error"}
		for _, c := range peers {
			args = append(args, "--peers", c)
		}
		p := startProcQuiet(t, args...)
		contact := p.value(t, "contact")
		c, err := node.ParseContact(contact)
		if err != nil {
			t.Fatal(err)
		}
		return &filesNode{p: p, dir: dir, contact: contact, key: c.Key, addr: c.Addr}
	}
	dir := func(i int) string { return filepath.Join(base, "node"+string(rune('0'+i))) }
	nodes := []*filesNode{start(dir(0))}
	for i := 1; i < n; i++ {
		nodes = append(nodes, start(dir(i), nodes[0].contact))
	}
	pc := probe(t)
	deadline := time.Now().Add(120 * time.Second)
	for {
		ok := true
		for _, nd := range nodes {
			if ms, sh := mailMembers(t, pc, nd); len(ms) != n || sh != n {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the registries never listed every node as a mail and shard member")
		}
		time.Sleep(250 * time.Millisecond)
	}
	var peers []string
	for _, nd := range nodes {
		peers = append(peers, nd.contact)
	}

	alice, _ := identity.NewMnemonic()
	bob, _ := identity.NewMnemonic()
	bobKeys, err := identity.KeysFromMnemonic(bob, "")
	if err != nil {
		t.Fatal(err)
	}
	runMail(t, bob, peers, "publish")
	att := filepath.Join(t.TempDir(), "scan.bin")
	data := make([]byte, 300_000)
	rand.Read(data)
	if err := os.WriteFile(att, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var sent struct {
		ID      string `json:"id"`
		Holders int    `json:"holders"`
	}
	out := runMail(t, alice, peers, "send", bobKeys.Address(), "--subject", "before the crash", "--body", "still here?", "--attach", att, "--json")
	if err := json.Unmarshal([]byte(out), &sent); err != nil || len(sent.ID) != 64 {
		t.Fatalf("send output %q: %v", out, err)
	}
	t.Logf("sent %s to %d holders", sent.ID[:12], sent.Holders)

	// Kill -9 the first holder of Bob's mailbox, the one every reader
	// asks first.
	members, _ := mailMembers(t, pc, nodes[0])
	holders := shard.Holders(mail.MailboxID(ed25519.PublicKey(bobKeys.AccountPublic())), members, shard.DefaultK)
	var victim *filesNode
	for _, nd := range nodes {
		if nd.key.Equal(holders[0].Key) {
			victim = nd
		}
	}
	if victim == nil {
		t.Fatal("the top holder is not one of our nodes")
	}
	victim.p.kill()
	victim.dead = true
	var live []string
	for _, nd := range nodes {
		if !nd.dead {
			live = append(live, nd.contact)
		}
	}

	saveDir := t.TempDir()
	var msg struct {
		ID          string `json:"id"`
		From        string `json:"from"`
		Subject     string `json:"subject"`
		Body        string `json:"body"`
		Flagged     bool   `json:"flagged"`
		Attachments []struct {
			Name string `json:"name"`
		} `json:"attachments"`
	}
	out = runMail(t, bob, live, "read", sent.ID, "--save-attachments", saveDir, "--json")
	if err := json.Unmarshal([]byte(out), &msg); err != nil {
		t.Fatalf("read output %q: %v", out, err)
	}
	aliceKeys, _ := identity.KeysFromMnemonic(alice, "")
	if msg.ID != sent.ID || msg.From != aliceKeys.Address() || msg.Flagged || msg.Subject != "before the crash" || msg.Body != "still here?" {
		t.Fatalf("read after kill -9: %+v", msg)
	}
	got, err := os.ReadFile(filepath.Join(saveDir, "scan.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("attachment after kill -9: %d bytes, %v", len(got), err)
	}

	// The killed node acknowledged the delivery, so its database kept
	// the message through SIGKILL: restarted alone on its data directory
	// (no peers, so nothing can have synced it back), it still answers
	// Bob's read.
	alone := start(victim.dir)
	for {
		if ms, _ := mailMembers(t, pc, alone); len(ms) == 1 {
			break
		}
		if time.Now().After(deadline.Add(time.Minute)) {
			t.Fatal("the restarted node never listed itself as a mail member")
		}
		time.Sleep(250 * time.Millisecond)
	}
	if !alone.key.Equal(victim.key) {
		t.Fatal("the restarted node has another key")
	}
	out = runMail(t, bob, []string{alone.contact}, "read", sent.ID, "--json")
	if err := json.Unmarshal([]byte(out), &msg); err != nil || msg.Subject != "before the crash" {
		t.Fatalf("read from the restarted node %q: %v", out, err)
	}
}
