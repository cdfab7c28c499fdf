package mail

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/wire"
)

func phraseKeys(t *testing.T) (*identity.Keys, string) {
	t.Helper()
	m, err := identity.NewMnemonic()
	if err != nil {
		t.Fatal(err)
	}
	k, err := identity.KeysFromMnemonic(m, "")
	if err != nil {
		t.Fatal(err)
	}
	return k, m
}

func restore(t *testing.T, phrase string) *identity.Keys {
	t.Helper()
	k, err := identity.KeysFromMnemonic(phrase, "")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// storedOn is message id of account as node n keeps it, or nil.
func storedOn(t *testing.T, n *tnode, account ed25519.PublicKey, id ID) *storedMsg {
	t.Helper()
	m, err := n.mail.get(account, id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sealedTo says which prekey a stored message is sealed to (0: none, the
// long-term key or only an archived copy).
func sealedTo(m *storedMsg) uint64 {
	if m == nil || m.Sealed == nil {
		return 0
	}
	s, err := DecodeSealed(m.Sealed)
	if err != nil || !s.Prekey {
		return 0
	}
	return s.PrekeyIndex
}

// (a) A restore from the phrase alone, with no state of the old client,
// reads mail sealed to the current random prekey: its secret comes from
// the vault on the mailbox holders.
func testRestoreReadsCurrentPrekey(t *testing.T, nodes []*tnode) {
	ctx := context.Background()
	ka := testKeys(t)
	kb, phrase := phraseKeys(t)
	to := kb.AccountPublic()
	waitHolders(t, nodes, nodes[:3], to)
	b := newClient(t, kb, nodes[1])
	rep, err := b.Rotate(ctx)
	if err != nil || !rep.Created || rep.Prekey != 1 || rep.Vault != 1 {
		t.Fatalf("first publish: %+v %v", rep, err)
	}
	a := newClient(t, ka, nodes[0])
	id, _, err := a.Send(ctx, Draft{To: to, Subject: "current", Body: "sealed to prekey 1"})
	if err != nil {
		t.Fatal(err)
	}
	h := holdersOf(nodes, to)
	waitFor(t, 0, func() bool { return storedOn(t, h[0], to, id) != nil }, "the top holder keeps the message")
	if p := sealedTo(storedOn(t, h[0], to, id)); p != 1 {
		t.Fatalf("sealed to prekey %d, want the published random prekey 1", p)
	}
	// A second publish in the same period changes nothing.
	if rep, err := b.Rotate(ctx); err != nil || rep.Created || rep.Prekey != 1 || rep.Vault != 1 {
		t.Fatalf("second publish: %+v %v", rep, err)
	}

	fresh := newClient(t, restore(t, phrase), nodes[2])
	msg, err := fresh.Read(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !msg.Verified || msg.Body != "sealed to prekey 1" || msg.LongTerm || msg.Archived {
		t.Fatalf("restored read: %+v", msg.Opened)
	}
	// Reading re-sealed it into the archive: the holders drop the
	// prekey-sealed bytes (sync brings the archive to all of them).
	waitFor(t, 0, func() bool {
		for _, n := range h {
			if m := storedOn(t, n, to, id); m == nil || m.Archive == nil || m.Sealed != nil {
				return false
			}
		}
		return true
	}, "every holder keeps only the archived copy")
	again, err := fresh.Read(ctx, id)
	if err != nil || !again.Archived || !again.Verified || again.Body != "sealed to prekey 1" {
		t.Fatalf("archived read: %v %+v", err, again)
	}
}

// (b) After a rotation and the grace period, a thief holding the phrase
// and a copy of a deleted message sealed to the retired prekey cannot
// open it: the secret is gone from every node's store. Mail the owner had
// not deleted loses nothing: what was still sealed to the retiring prekey
// is archived first.
func testRetiredPrekeyIsGone(t *testing.T, nodes []*tnode) {
	ctx := context.Background()
	ka := testKeys(t)
	kb, phrase := phraseKeys(t)
	to := kb.AccountPublic()
	waitHolders(t, nodes, []*tnode{nodes[0], nodes[1], nodes[3]}, to)
	// B's client runs on a clock the test moves forward (the request
	// envelopes keep the real time, which the nodes check).
	var clock atomic.Int64
	clock.Store(nowMs())
	b := newClientWith(t, kb, clientOptions{clock: clock.Load}, nodes[1])
	if _, err := b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	a := newClient(t, ka, nodes[0])
	deleted, _, err := a.Send(ctx, Draft{To: to, Subject: "burn after reading", Body: "the secret plan"})
	if err != nil {
		t.Fatal(err)
	}
	unread, _, err := a.Send(ctx, Draft{To: to, Subject: "unread", Body: "still wanted"})
	if err != nil {
		t.Fatal(err)
	}
	h := holdersOf(nodes, to)
	// A holder that keeps copies (or anyone who took one off its disk).
	var stolen []byte
	waitFor(t, 0, func() bool {
		if m := storedOn(t, h[0], to, deleted); m != nil {
			stolen = m.Sealed
		}
		return stolen != nil
	}, "the message reaches the top holder")
	if msg, err := b.Read(ctx, deleted); err != nil || msg.Body != "the secret plan" {
		t.Fatalf("read: %v", err)
	}
	if err := b.Delete(ctx, deleted); err != nil {
		t.Fatal(err)
	}

	clock.Add(b.cfg.PrekeyPeriod)
	rep, err := b.Rotate(ctx)
	if err != nil || !rep.Created || rep.Prekey != 2 || len(rep.Retired) != 0 {
		t.Fatalf("rotation: %+v %v", rep, err)
	}
	after, _, err := a.Send(ctx, Draft{To: to, Subject: "new prekey", Body: "sealed to 2"})
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(b.cfg.PrekeyGrace)
	rep, err = b.Rotate(ctx)
	// (The grace is longer than a period, so prekey 3 is made as well.)
	if err != nil || !slices.Equal(rep.Retired, []uint64{1}) || rep.Archived != 1 || len(rep.Kept) != 0 {
		t.Fatalf("retirement: %+v %v", rep, err)
	}

	// Every node that keeps B's vault keeps the new version, without
	// prekey 1; no node keeps a message still sealed to prekey 1.
	waitFor(t, 0, func() bool {
		for _, n := range nodes {
			v, err := n.mail.Vault(to)
			if err != nil {
				t.Fatal(err)
			}
			if v == nil {
				continue
			}
			ps, err := OpenVault(kb, v)
			if err != nil {
				t.Fatal(err)
			}
			if v.Version != rep.Vault || slices.ContainsFunc(ps, func(p VaultPrekey) bool { return p.Index == 1 }) {
				return false
			}
			for _, id := range []ID{deleted, unread, after} {
				if sealedTo(storedOn(t, n, to, id)) == 1 {
					return false
				}
			}
		}
		return true
	}, "the retired prekey's secret is gone from every node")

	// The thief: the phrase and the stolen ciphertext.
	kt := restore(t, phrase)
	thief := newClient(t, kt, nodes[3])
	_, live, err := thief.FetchVault(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSealed(kt, stolen, OpenOptions{Prekeys: live, Now: clock.Load()}); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("the thief opened the deleted message sealed to a retired prekey: %v", err)
	}
	if _, err := thief.Read(ctx, deleted); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted message: %v", err)
	}
	// What B had not deleted still reads: archived before retirement, or
	// sealed to the current prekey.
	for id, body := range map[ID]string{unread: "still wanted", after: "sealed to 2"} {
		msg, err := thief.Read(ctx, id)
		if err != nil || msg.Body != body || !msg.Verified {
			t.Fatalf("%q after retirement: %v", body, err)
		}
	}
}

// (c) Holders refuse a forged or replayed vault or key record, from the
// owner's own client or from another holder's sync: a lagging holder or
// a replay cannot bring back a retired secret or point senders at it.
func testForgedAndReplayedRefused(t *testing.T, nodes []*tnode) {
	ctx := context.Background()
	kb := testKeys(t)
	kc := testKeys(t)
	to := kb.AccountPublic()
	waitHolders(t, nodes, nodes[1:2], to)
	var clock atomic.Int64
	clock.Store(nowMs())
	b := newClientWith(t, kb, clientOptions{clock: clock.Load}, nodes[1])
	if _, err := b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	h := holdersOf(nodes, to)[0]
	oldVault, err := h.mail.Vault(to)
	if err != nil || oldVault == nil {
		t.Fatalf("vault on the top holder: %v", err)
	}
	oldRecord, err := h.mail.Record(to)
	if err != nil || oldRecord == nil {
		t.Fatalf("record on the top holder: %v", err)
	}
	clock.Add(b.cfg.PrekeyPeriod)
	if _, err := b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 0, func() bool {
		v, _ := h.mail.Vault(to)
		r, _ := h.mail.Record(to)
		return v != nil && v.Version > oldVault.Version && r != nil && r.PrekeyIndex == 2
	}, "the rotation reaches the top holder")

	owner := b.cfg.Call
	node := nodes[4].Client()
	for _, tc := range []struct {
		name string
		call *cell.Client
		kind string
		msg  any
		code cell.Code
	}{
		{"replayed vault", owner, KindPutVault, vaultMsg{Vault: oldVault.Raw()}, CodeStale},
		{"replayed vault by sync", node, KindSync, syncMsg{Vault: oldVault.Raw()}, CodeStale},
		{"forged vault", owner, KindPutVault, vaultMsg{Vault: resign(t, oldVault.Raw(), kc.Account)}, CodeForged},
		{"forged vault by sync", node, KindSync, syncMsg{Vault: resign(t, oldVault.Raw(), kc.Account)}, CodeForged},
		{"replayed key record", owner, KindPublishKey, keyMsg{Record: oldRecord.Raw()}, CodeStale},
		{"replayed key record by sync", node, KindSync, syncMsg{Record: oldRecord.Raw()}, CodeStale},
		{"forged key record", owner, KindPublishKey, keyMsg{Record: resign(t, oldRecord.Raw(), kc.Account)}, CodeForged},
		{"vault stored by another key", newClient(t, kc).cfg.Call, KindPutVault, vaultMsg{Vault: oldVault.Raw()}, cell.CodeUnauthorized},
		{"vault read by another key", newClient(t, kc).cfg.Call, KindGetVault, accountReq{Account: to, Node: h.pub()}, cell.CodeUnauthorized},
	} {
		_, err := tc.call.Call(ctx, h.target(), DNA, tc.kind, mustMarshal(t, tc.msg))
		if !cell.HasCode(err, tc.code) {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	// A replayed get-vault envelope of the owner is refused too.
	env, _ := wire.SealEnvelope(kb.Account, wire.Header{Network: testNetwork, Cell: DNA.Name, Kind: KindGetVault, Time: nowMs()},
		mustMarshal(t, accountReq{Account: to, Node: h.pub()}))
	if _, err := owner.CallRaw(ctx, h.target(), DNA, env); err != nil {
		t.Fatal(err)
	}
	if _, err := node.CallRaw(ctx, h.target(), DNA, env); !cell.HasCode(err, cell.CodeReplay) {
		t.Fatalf("replayed vault read: %v", err)
	}
	// Nothing went back: the holder keeps the newest of both.
	if v, _ := h.mail.Vault(to); v == nil || v.Version <= oldVault.Version {
		t.Fatal("the holder went back to the old vault")
	}
	if r, _ := h.mail.Record(to); r == nil || r.PrekeyIndex != 2 {
		t.Fatal("the holder went back to the old key record")
	}
}

// resign replaces the signature of a signed record, vault (any
// body-and-signature item) with one by key: a forgery.
func resign(t *testing.T, raw []byte, key ed25519.PrivateKey) []byte {
	t.Helper()
	var s signedVault
	if err := wire.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	s.Sig = ed25519.Sign(key, s.Body)
	return mustMarshal(t, s)
}

func TestPlanRotation(t *testing.T) {
	p := PrekeyPolicy{Period: 10, Grace: 40}
	r, err := PlanRotation(nil, 100, p, rand.Reader)
	if err != nil || !r.Created || r.Current.Index != 1 || len(r.Keep) != 1 {
		t.Fatalf("first: %+v %v", r, err)
	}
	live := r.Keep
	for now := int64(101); now < 110; now++ {
		if r, _ := PlanRotation(live, now, p, rand.Reader); r.Changed() {
			t.Fatalf("changed within the period at %d", now)
		}
	}
	r, _ = PlanRotation(live, 110, p, rand.Reader)
	if !r.Created || r.Current.Index != 2 || len(r.Retired) != 0 {
		t.Fatalf("rotation: %+v", r)
	}
	live = r.Keep
	if r, _ := PlanRotation(live, 149, p, rand.Reader); len(r.Retired) != 0 {
		t.Fatal("retired within the grace period")
	}
	r, _ = PlanRotation(live, 150, p, rand.Reader)
	if len(r.Retired) != 1 || r.Retired[0].Index != 1 || r.Current.Index != 3 {
		t.Fatalf("retirement: %+v", r)
	}
	// A person away for long: one new prekey, every old one retired at
	// once only after the new one's grace.
	r, _ = PlanRotation(live, 1000, p, rand.Reader)
	if !r.Created || len(r.Retired) != 1 || len(r.Keep) != 2 {
		t.Fatalf("after an absence: %+v", r)
	}
}

func TestVaultOrder(t *testing.T) {
	k := testKeys(t)
	_, live := newPrekey(t, k, 1)
	v1, _ := SealVault(k, 1, 1, live)
	v2, _ := SealVault(k, 2, 1, nil)
	v2b, _ := SealVault(k, 2, 1, nil)
	if !NewerVault(v1, v2) || NewerVault(v2, v1) || !NewerVault(nil, v1) {
		t.Fatal("the higher version does not win")
	}
	if NewerVault(v2, v2b) == NewerVault(v2b, v2) {
		t.Fatal("a tie of versions is not decided")
	}
	// Version and time are inside the AEAD's associated data: a vault
	// re-signed with another version does not open.
	var s signedVault
	wire.Unmarshal(v1.Raw(), &s)
	var body vaultBody
	wire.Unmarshal(s.Body, &body)
	body.Version = 9
	s.Body, _ = wire.Marshal(body)
	s.Sig = ed25519.Sign(k.Account, append([]byte(vaultSigDomain), s.Body...))
	raw, _ := wire.Marshal(s)
	bumped, err := VerifyVault(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenVault(k, bumped); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("a re-versioned vault opened: %v", err)
	}
}
