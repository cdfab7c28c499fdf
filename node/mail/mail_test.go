package mail

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

// TestMail runs every network test of the package on one network of five
// nodes (starting one is most of a test's time under -race); each part
// uses accounts of its own. The part that kills a node runs last.
func TestMail(t *testing.T) {
	nodes := startNetwork(t, 5)
	t.Run("EndToEnd", func(t *testing.T) { testEndToEnd(t, nodes) })
	t.Run("RestoreReadsCurrentPrekey", func(t *testing.T) { testRestoreReadsCurrentPrekey(t, nodes) })
	t.Run("RetiredPrekeyIsGone", func(t *testing.T) { testRetiredPrekeyIsGone(t, nodes) })
	t.Run("ForgedAndReplayedRefused", func(t *testing.T) { testForgedAndReplayedRefused(t, nodes) })
	t.Run("SurvivesHolderLoss", func(t *testing.T) { testSurvivesHolderLoss(t, nodes) })
}

func testEndToEnd(t *testing.T, nodes []*tnode) {
	ctx := context.Background()
	ka := testKeys(t)
	m, _ := identity.NewMnemonic()
	kb, _ := identity.KeysFromMnemonic(m, "")
	// What this test needs: the registries the clients ask and every
	// node's sync agree on who holds B's mailbox, and attachments can be
	// placed.
	waitHolders(t, nodes, nodes[:4], kb.AccountPublic())
	waitShards(t, nodes[:3], shard.DefaultK)
	a, b := newClient(t, ka, nodes[0]), newClient(t, kb, nodes[1])
	if err := b.PublishKey(ctx); err != nil {
		t.Fatal(err)
	}
	att := bytes.Repeat([]byte("attachment "), 5000)
	id, n, err := a.Send(ctx, Draft{To: kb.Account.Public().(ed25519.PublicKey), Subject: "lunch?", Body: "at noon",
		Attachments: []File{{Name: "menu.txt", R: bytes.NewReader(att)}}})
	if err != nil || n == 0 {
		t.Fatalf("send: %v (%d holders)", err, n)
	}

	// B restores from the phrase on a fresh client and reads.
	kb2, err := identity.KeysFromMnemonic(m, "")
	if err != nil {
		t.Fatal(err)
	}
	b2 := newClient(t, kb2, nodes[2])
	es, err := b2.List(ctx)
	if err != nil || len(es) != 1 || es[0].ID != id {
		t.Fatalf("list: %v %+v", err, es)
	}
	msg, err := b2.Read(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !msg.Verified || msg.Subject != "lunch?" || msg.Body != "at noon" || !ed25519.PublicKey(msg.From).Equal(ka.Account.Public().(ed25519.PublicKey)) {
		t.Fatalf("read %+v", msg.Opened)
	}
	var got bytes.Buffer
	if err := b2.FetchAttachment(ctx, msg.Attachments[0], &got); err != nil || !bytes.Equal(got.Bytes(), att) {
		t.Fatalf("attachment: %v (%d bytes)", err, got.Len())
	}

	// A third key can neither list, read nor delete B's mail.
	kc := testKeys(t)
	c := newClient(t, kc, nodes[3])
	c.me = kb.Account.Public().(ed25519.PublicKey) // C asks for B's mailbox with C's signature
	if _, err := c.List(ctx); err == nil || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("third key listed B's mail")
	}
	if _, err := c.Read(ctx, id); err == nil {
		t.Fatal("third key read B's mail")
	}
	tm, _ := signTomb(kc.Account, []ID{id}, nowMs())
	h := holdersOf(nodes, c.me)[0]
	payload, _ := wire.Marshal(deleteReq{Tomb: tm})
	// C's own tombstone only ever names C's mailbox.
	c.cfg.Call.Call(ctx, h.target(), DNA, KindDelete, payload)
	if es, _ := b2.List(ctx); len(es) != 1 {
		t.Fatal("mail lost to a third key")
	}

	// A replayed read (and delete) envelope is refused.
	rp, _ := wire.Marshal(mailboxReq{Account: c.me, ID: id[:], Node: h.pub()})
	env, _ := wire.SealEnvelope(kb2.Account, wire.Header{Network: testNetwork, Cell: DNA.Name, Kind: KindRead, Time: nowMs()}, rp)
	if _, err := b2.cfg.Call.CallRaw(ctx, h.target(), DNA, env); err != nil {
		t.Fatal(err)
	}
	if _, err := c.cfg.Call.CallRaw(ctx, h.target(), DNA, env); !cell.HasCode(err, cell.CodeReplay) {
		t.Fatalf("replayed read: %v", err)
	}
	// Any holder but h: membership may shift under load between two
	// rankings, so pick by key rather than by rank.
	var other *tnode
	for _, n := range holdersOf(nodes, c.me) {
		if !n.pub().Equal(h.pub()) {
			other = n
			break
		}
	}
	if _, err := c.cfg.Call.CallRaw(ctx, other.target(), DNA, env); !cell.HasCode(err, cell.CodeUnauthorized) {
		t.Fatalf("read replayed to another holder: %v", err)
	}
	tm, _ = signTomb(kb2.Account, []ID{id}, nowMs())
	dp, _ := wire.Marshal(deleteReq{Tomb: tm})
	denv, _ := wire.SealEnvelope(kb2.Account, wire.Header{Network: testNetwork, Cell: DNA.Name, Kind: KindDelete, Time: nowMs()}, dp)
	if _, err := b2.cfg.Call.CallRaw(ctx, h.target(), DNA, denv); err != nil {
		t.Fatal(err)
	}
	if _, err := c.cfg.Call.CallRaw(ctx, h.target(), DNA, denv); !cell.HasCode(err, cell.CodeReplay) {
		t.Fatalf("replayed delete: %v", err)
	}
	// The tombstone reaches the other holders by sync.
	waitFor(t, 90e9, func() bool { es, _ := b2.List(ctx); return len(es) == 0 }, "the delete reaches every holder")

	// A forged-sender letter is delivered but flagged.
	rec, err := a.KeyRecord(ctx, c.me)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := forgeLetter(kc, ka, rec, nowMs())
	if err != nil {
		t.Fatal(err)
	}
	fid := ID(sha256Sum(forged))
	if _, err := c.each(ctx, c.me, KindDeliver, func(shard.Member) any {
		return deliverReq{Sealed: forged, Stamp: MintStamp(fid, c.me, testDifficulty)}
	}); err != nil {
		t.Fatal(err)
	}
	fm, err := b2.Read(ctx, fid)
	if err != nil {
		t.Fatal(err)
	}
	if fm.Verified || fm.Problem == "" {
		t.Fatalf("forged letter not flagged: %+v", fm.Opened)
	}
	// No stamp, no delivery.
	if _, err := c.cfg.Call.Call(ctx, h.target(), DNA, KindDeliver, mustMarshal(t, deliverReq{Sealed: forged})); !cell.HasCode(err, CodeBadStamp) {
		t.Fatalf("unstamped delivery: %v", err)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	b, err := wire.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testSurvivesHolderLoss(t *testing.T, nodes []*tnode) {
	ctx := context.Background()
	ka, kb := testKeys(t), testKeys(t)
	to := kb.Account.Public().(ed25519.PublicKey)
	waitHolders(t, nodes, nodes, to)
	hs := holdersOf(nodes, to)
	var entry *tnode
	for _, n := range nodes {
		if n != hs[0] {
			entry = n
			break
		}
	}
	b := newClient(t, kb, entry)
	if err := b.PublishKey(ctx); err != nil {
		t.Fatal(err)
	}
	a := newClient(t, ka, entry)
	hs[0].kill()
	id, _, err := a.Send(ctx, Draft{To: to, Subject: "still here", Body: "x"})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := b.Read(ctx, id)
	if err != nil || msg.Subject != "still here" {
		t.Fatalf("read after a holder died: %v", err)
	}
}
