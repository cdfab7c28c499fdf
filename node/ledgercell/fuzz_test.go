package ledgercell

import (
	"context"
	"testing"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/wire"
)

// FuzzReceptor feeds arbitrary payloads to every receptor kind of a
// non-witness cell (no network): each must answer or refuse, never panic,
// and refusals of undecodable input are bad-request.
func FuzzReceptor(f *testing.F) {
	g := testGenesis(f, 2)
	key := testKey("user", 0)
	blk := ledger.NewBlock(g, key, 0, ledger.Hash{}, &ledger.Send{To: idOf(testKey("user", 1)), Amount: 1, Fee: g.Params.TransferFee})
	acct := idOf(key)
	proof := &ledger.ServiceProof{Genesis: g.Hash(), Kind: ledger.ProofStorage, Node: acct, Bytes: 1}
	proof.Sign(testKey("witness", 0))
	for _, v := range []any{
		voteRequest{Blocks: [][]byte{blk.Encode()}},
		confirmRequest{Certs: [][]byte{{1, 2, 3}}},
		accountRequest{Account: acct[:]},
		chainRequest{Account: acct[:], Limit: 3},
		hashRequest{Hash: make([]byte, 32)},
		historyRequest{Account: acct[:]},
		certsRequest{From: 0, Limit: 10},
		certsRequest{From: 0, Inv: true},
		certsRequest{Want: [][]byte{make([]byte, 32), {1}}},
		claimRequest{Proofs: [][]byte{proof.Encode()}},
		payRequest{Voucher: (&ledger.Voucher{Genesis: g.Hash(), Nonce: 1, Cumulative: 1}).Encode()},
	} {
		b, _ := marshal(v)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xa1, 0x01, 0x9f})
	c := &Cell{g: g, led: ledger.NewLedger(g), chains: map[ledger.AccountID][]ledger.Hash{}, credits: map[ledger.AccountID][]ledger.Hash{},
		voted: map[slotKey]*ledger.Block{}, evSeen: map[[2]ledger.Hash]bool{}, spreadWake: make(chan struct{}, 1),
		book: ledger.NewVoucherBook(g), disputes: make(chan ledger.Hash, 1)}
	handlers := []cell.ReceptorFunc{c.handleConfirm, c.handleBalance, c.handleHead, c.handleChain, c.handleBlock,
		c.handleCertificate, c.handleHistory, c.handleCerts, c.handleVote, c.handleClaim, c.handlePay, c.handleLane}
	f.Fuzz(func(t *testing.T, payload []byte) {
		env, err := wire.SealEnvelope(key, wire.Header{Network: testNetwork, Cell: DNA.Name, Kind: "x", Time: 1}, payload)
		if err != nil {
			return
		}
		for _, h := range handlers {
			_, _ = h(context.Background(), &cell.Request{Env: env})
		}
	})
}

// FuzzChainAnswer decodes a chain page as a client does and verifies the
// account from it: garbage must be refused, never accepted or panic.
func FuzzChainAnswer(f *testing.F) {
	g := testGenesis(f, 2)
	key := testKey("user", 0)
	blk := ledger.NewBlock(g, key, 0, ledger.Hash{}, &ledger.Send{To: idOf(testKey("user", 1)), Amount: 1, Fee: g.Params.TransferFee})
	fake := &ledger.Certificate{Block: blk, Sigs: []ledger.WitnessSig{{Witness: 0}, {Witness: 1}, {Witness: 2}}}
	b, _ := marshal(chainAnswer{Certs: [][]byte{fake.Encode()}, Next: 1})
	f.Add(b)
	b, _ = marshal(spreadPayload{Certs: [][]byte{fake.Encode()}})
	f.Add(b)
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		var a chainAnswer
		if wire.Unmarshal(data, &a) != nil {
			return
		}
		cs, err := decodeCerts(a.Certs, MaxPage)
		if err != nil {
			return
		}
		ss, _ := decodeCerts(a.Sources, MaxPage)
		src := map[ledger.Hash]*ledger.Certificate{}
		for _, s := range ss {
			src[s.BlockHash()] = s
		}
		if _, err := VerifyAccount(g, idOf(key), cs, src); err == nil && len(cs) > 0 {
			t.Fatal("unsigned chain verified")
		}
		var sp spreadPayload
		_ = wire.Unmarshal(data, &sp)
		_, _ = decodeCerts(sp.Certs, MaxPage)
	})
}

// FuzzInventoryAnswer decodes a catch-up inventory page as syncFrom does:
// garbage and inconsistent cursors are refused, never panic.
func FuzzInventoryAnswer(f *testing.F) {
	g := testGenesis(f, 2)
	key := testKey("user", 0)
	blk := ledger.NewBlock(g, key, 0, ledger.Hash{}, &ledger.Send{To: idOf(testKey("user", 1)), Amount: 1, Fee: g.Params.TransferFee})
	fake := &ledger.Certificate{Block: blk, Sigs: []ledger.WitnessSig{{Witness: 0}, {Witness: 1}, {Witness: 2}}}
	h := blk.Hash()
	for _, a := range []certsAnswer{
		{Hashes: [][]byte{h[:], h[:]}, Next: 2, Total: 5},
		{Certs: [][]byte{fake.Encode()}, Next: 1, Total: 1},
		{Next: 0, Total: 0},
		{Hashes: [][]byte{{1, 2}}, Next: 1, Total: 1},
	} {
		b, _ := marshal(a)
		f.Add(b, 0)
	}
	f.Fuzz(func(t *testing.T, data []byte, from int) {
		from = max(from, 0)
		pg, err := parseInventory(data, from, cell.Target{Addr: "fuzz"})
		if err != nil {
			return
		}
		if pg.total >= from && (pg.next < from || pg.next > pg.total || pg.next-from != pg.n) {
			t.Fatalf("accepted cursor %d->%d of %d with %d entries", from, pg.next, pg.total, pg.n)
		}
		if len(pg.hashes) > MaxInvPage || len(pg.certs) > MaxPage {
			t.Fatalf("accepted %d hashes, %d certificates", len(pg.hashes), len(pg.certs))
		}
	})
}

// FuzzSpreadPayload decodes a certificate broadcast as ingestLoop does:
// certificates from an older node, or an announcement of block hashes.
func FuzzSpreadPayload(f *testing.F) {
	g := testGenesis(f, 2)
	key := testKey("user", 0)
	blk := ledger.NewBlock(g, key, 0, ledger.Hash{}, &ledger.Send{To: idOf(testKey("user", 1)), Amount: 1, Fee: g.Params.TransferFee})
	fake := &ledger.Certificate{Block: blk, Sigs: []ledger.WitnessSig{{Witness: 0}, {Witness: 1}, {Witness: 2}}}
	h := blk.Hash()
	for _, sp := range []spreadPayload{{Hashes: [][]byte{h[:]}}, {Certs: [][]byte{fake.Encode()}}, {Hashes: [][]byte{{1}}}} {
		b, _ := marshal(sp)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var sp spreadPayload
		if wire.Unmarshal(data, &sp) != nil {
			return
		}
		_, _ = decodeCerts(sp.Certs, MaxPage)
		hs, err := parseAnnounced(sp.Hashes)
		if err == nil && len(hs) != len(sp.Hashes) {
			t.Fatalf("%d hashes parsed from %d", len(hs), len(sp.Hashes))
		}
	})
}
