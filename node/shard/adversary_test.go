package shard

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/wire"
)

func flipByte(t *testing.T, n *tnode, id ID) {
	t.Helper()
	p := n.shard.Store().blobPath(id)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func waitGood(t *testing.T, n *tnode, id ID) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !n.shard.Store().blobOK(id) || !n.shard.Store().Has(id) {
		if time.Now().After(deadline) {
			t.Fatalf("shard %s never repaired on its holder", id.Short())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func call(t *testing.T, p *person, n *tnode, kind string, v any) error {
	t.Helper()
	payload, err := wire.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = p.call.Call(ctx, n.target(), DNA, kind, payload)
	return err
}

// TestCorruptionAndAbuse: a flipped bit on a holder's disk is caught (by
// its co-holders' storage proofs and by its own scrub) and repaired, and
// the person never receives the bad bytes; forged stores, forged deletes
// and replayed deletes are refused with distinct codes.
func TestCorruptionAndAbuse(t *testing.T) {
	nodes := startNetwork(t, 5, nodeOpts{})
	p := newPerson(t, nodes[0])
	ctx := context.Background()
	data := make([]byte, 4*DefaultChunkSize+100)
	rand.Read(data)
	m, err := p.client.Put(ctx, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	members, _ := RegistryMembers(nodes[0].reg).Members(ctx)
	holders := func(i int) []*tnode {
		var out []*tnode
		for _, h := range Holders(m.Shards[i].ID, members, DefaultK) {
			out = append(out, nodeByKey(nodes, h.Key))
		}
		return out
	}

	t.Run("proof catches a co-holder", func(t *testing.T) {
		id := m.Shards[0].ID
		hs := holders(0)
		flipByte(t, hs[0], id)
		rep := hs[1].shard.Scrub(ctx)
		if rep.AuditFailures < 1 {
			t.Fatalf("scrub missed the bad copy: %+v", rep)
		}
		waitGood(t, hs[0], id)
	})

	t.Run("own scrub catches its copy", func(t *testing.T) {
		id := m.Shards[1].ID
		hs := holders(1)
		flipByte(t, hs[2], id)
		rep := hs[2].shard.Scrub(ctx)
		if rep.Corrupt != 1 {
			t.Fatalf("own scrub: %+v", rep)
		}
		waitGood(t, hs[2], id)
	})

	t.Run("reader never gets bad bytes", func(t *testing.T) {
		id := m.Shards[2].ID
		hs := holders(2)
		flipByte(t, hs[0], id)
		flipByte(t, hs[1], id)
		// Straight from a bad holder: holders do not re-hash on every
		// read (the store and the scrub check), so the reader's own check
		// against the shard ID refuses it.
		if _, _, err := p.client.readFrom(ctx, Member{Key: hs[0].pub(), Addr: hs[0].tr.Addr().String()}, m.Shards[2]); !errors.Is(err, ErrHashMismatch) {
			t.Fatalf("corrupt copy read: %v", err)
		}
		var out bytes.Buffer
		if _, err := p.client.Get(ctx, m, &out); err != nil || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("get with two bad copies: %v", err)
		}
		// The holders' own scrub finds and replaces their bad copies.
		hs[0].shard.Scrub(ctx)
		hs[1].shard.Scrub(ctx)
		waitGood(t, hs[0], id)
		waitGood(t, hs[1], id)
	})

	id := m.Shards[3].ID
	h := holders(3)[0]
	mallory := newKey(t)

	t.Run("forged store", func(t *testing.T) {
		junk := make([]byte, 1000)
		rand.Read(junk)
		g, _ := SignStore(p.key, testNetwork, IDOf(junk), len(junk), nowMs())
		var s signedAuth
		wire.Unmarshal(g.Raw(), &s)
		s.Sig = ed25519.Sign(mallory, append([]byte(authDomain), s.Body...))
		forged, _ := wire.Marshal(s)
		if err := call(t, p, h, KindStore, storeRequest{Grant: forged, Data: junk}); !cell.HasCode(err, CodeForgedGrant) {
			t.Fatalf("forged grant: %v", err)
		}
		other := append([]byte{}, junk...)
		other[0] ^= 1
		if err := call(t, p, h, KindStore, storeRequest{Grant: g.Raw(), Data: other}); !cell.HasCode(err, CodeHashMismatch) {
			t.Fatalf("wrong bytes under a grant: %v", err)
		}
		if h.shard.Store().Has(IDOf(junk)) || h.shard.Store().Has(IDOf(other)) {
			t.Fatal("refused shard stored")
		}
	})

	t.Run("forged delete", func(t *testing.T) {
		d, _ := SignDelete(p.key, testNetwork, id, nowMs())
		var s signedAuth
		wire.Unmarshal(d.Raw(), &s)
		s.Sig = ed25519.Sign(mallory, append([]byte(authDomain), s.Body...))
		forged, _ := wire.Marshal(s)
		if err := call(t, p, h, KindDelete, deleteRequest{Auth: forged}); !cell.HasCode(err, CodeForgedDelete) {
			t.Fatalf("forged delete: %v", err)
		}
		// Mallory's own genuine delete removes only Mallory's claim: none.
		own, _ := SignDelete(mallory, testNetwork, id, nowMs())
		if err := call(t, p, h, KindDelete, deleteRequest{Auth: own.Raw()}); err != nil {
			t.Fatalf("a stranger's delete: %v", err)
		}
		if !h.shard.Store().Has(id) {
			t.Fatal("a stranger deleted the owner's shard")
		}
		stale, _ := SignDelete(p.key, testNetwork, id, nowMs()-time.Hour.Milliseconds())
		if err := call(t, p, h, KindDelete, deleteRequest{Auth: stale.Raw()}); !cell.HasCode(err, CodeStaleDelete) {
			t.Fatalf("stale delete: %v", err)
		}
		if !h.shard.Store().Has(id) {
			t.Fatal("refused delete deleted")
		}
	})

	t.Run("replayed delete", func(t *testing.T) {
		in, _ := h.shard.Store().Info(id)
		d, _ := SignDelete(p.key, testNetwork, id, nowMs())
		if err := call(t, p, h, KindDelete, deleteRequest{Auth: d.Raw()}); err != nil {
			t.Fatal(err)
		}
		if h.shard.Store().Has(id) {
			t.Fatal("delete did not delete")
		}
		// The same signed delete in a fresh envelope: the nonce record.
		if err := call(t, p, h, KindDelete, deleteRequest{Auth: d.Raw()}); !cell.HasCode(err, CodeReplayedDelete) {
			t.Fatalf("replayed delete: %v", err)
		}
		// The very same envelope again: the envelope replay guard.
		payload, _ := wire.Marshal(deleteRequest{Auth: d.Raw()})
		env, _ := wire.Seal(p.key, wire.Header{Network: testNetwork, Cell: DNA.Name, Kind: KindDelete, Time: nowMs()}, payload)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ans1, err := p.call.SendRaw(cctx, h.target(), DNA, env)
		if err != nil || !cell.HasCode(cell.AnswerError(ans1), CodeReplayedDelete) {
			t.Fatalf("first send: %v %v", err, cell.AnswerError(ans1))
		}
		ans2, err := p.call.SendRaw(cctx, h.target(), DNA, env)
		if err != nil || !cell.HasCode(cell.AnswerError(ans2), cell.CodeReplay) {
			t.Fatalf("replayed envelope: %v %v", err, cell.AnswerError(ans2))
		}
		// The grant the shard was stored under is revoked: a repair or a
		// replayed store cannot bring it back; a fresh grant can.
		data, _ := holders(3)[1].shard.Store().Get(id)
		if err := call(t, p, h, KindStore, storeRequest{Grant: in.Grants[0], Data: data}); !cell.HasCode(err, CodeRevoked) {
			t.Fatalf("store under a revoked grant: %v", err)
		}
		g, _ := SignStore(p.key, testNetwork, id, len(data), nowMs()+1)
		if err := call(t, p, h, KindStore, storeRequest{Grant: g.Raw(), Data: data}); err != nil {
			t.Fatalf("fresh grant: %v", err)
		}
	})

	t.Run("client delete", func(t *testing.T) {
		if err := p.client.Delete(ctx, m); err != nil {
			t.Fatal(err)
		}
		for _, s := range m.Shards {
			if hs := holdersOf(nodes, s.ID); len(hs) != 0 {
				t.Fatalf("shard %s still on %d nodes", s.ID.Short(), len(hs))
			}
		}
		for _, n := range nodes {
			if u := n.shard.Store().Usage(p.key.Public().(ed25519.PublicKey)); u != 0 {
				t.Fatalf("usage %d after delete", u)
			}
		}
		_, err := p.client.Get(ctx, m, &bytes.Buffer{})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("get after delete: %v", err)
		}
	})
}
