package ledger

import (
	"bytes"
	"testing"
)

// seedObjects returns one encoded example of every object kind, built
// from a small real network so the seeds are valid, signed values.
func seedObjects(f *testing.F) (blocks [][]byte, certs [][]byte, g *Genesis) {
	g = testGenesis(f, 3, DefaultParams())
	alice, bob := testKey("user", 0), testKey("user", 1)
	node := testKey("node", 0)
	proof := storageProof(g, testKey("auditor", 0), node, Hash{1}, gib, 1)
	v := &Voucher{Genesis: g.Hash(), Lane: Hash{5}, Nonce: 1, Cumulative: 7}
	v.Sign(alice)
	ops := []Op{
		&Send{To: idOf(bob), Amount: 5, Fee: g.Params.TransferFee},
		&Receive{Sources: []Hash{{1}, {2}}},
		&Reward{Proof: proof, Binding: NewNodeBinding(g.Hash(), node, alice), Amount: 100_000},
		&LaneOpen{Payee: idOf(bob), Amount: 9},
		&LaneRedeem{Voucher: *v},
		&LaneClose{Lane: Hash{5}, At: startTime},
		&LaneSettle{Lane: Hash{5}, Refund: 2},
	}
	for i, op := range ops {
		b := NewBlock(g, alice, uint64(i), Hash{byte(i)}, op)
		blocks = append(blocks, b.Encode())
		c := &Certificate{Block: b}
		for w := range 3 {
			vd := voteDigest(g.Hash(), b.Hash())
			ws := WitnessSig{Witness: uint16(w)}
			copy(ws.Sig[:], ed25519Sign(testKey("witness", w), vd[:]))
			if w == 2 && i%2 == 1 {
				ws.Path = []Hash{{9}, {byte(i)}} // a batched vote's path
			}
			c.Sigs = append(c.Sigs, ws)
		}
		certs = append(certs, c.Encode())
	}
	return blocks, certs, g
}

func FuzzDecodeBlock(f *testing.F) {
	blocks, _, _ := seedObjects(f)
	for _, b := range blocks {
		f.Add(b)
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBlock(data)
		if err != nil {
			return
		}
		// One block, one encoding.
		if !bytes.Equal(b.Encode(), data) {
			t.Fatalf("re-encoding differs")
		}
		_ = b.VerifySignature()
	})
}

func FuzzDecodeCertificate(f *testing.F) {
	_, certs, g := seedObjects(f)
	for _, c := range certs {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		peek, perr := CertificateBlockHash(data)
		c, err := DecodeCertificate(data)
		if err != nil {
			if _, kerr := DecodeCertificateKeep(bytes.Clone(data)); kerr == nil {
				t.Fatal("DecodeCertificateKeep accepted what DecodeCertificate refused")
			}
			return
		}
		if !bytes.Equal(c.Encode(), data) {
			t.Fatalf("re-encoding differs")
		}
		// The hash taken from the bytes is the decoded block's hash, and
		// so is the one a peek computes without decoding.
		if c.BlockHash() != c.Block.Hash() {
			t.Fatalf("hash from the bytes %s, from the block %s", c.BlockHash(), c.Block.Hash())
		}
		if perr != nil || peek != c.Block.Hash() {
			t.Fatalf("peeked hash %s (%v), block hash %s", peek, perr, c.Block.Hash())
		}
		k, err := DecodeCertificateKeep(bytes.Clone(data))
		if err != nil || !bytes.Equal(k.Encode(), data) || k.BlockHash() != c.BlockHash() {
			t.Fatalf("DecodeCertificateKeep: %v", err)
		}
		if c.Verify(g, -1) == nil {
			// Whatever verifies must apply cleanly or be refused, never panic.
			l := NewLedger(g)
			_, _ = l.Add(c)
		}
	})
}

func FuzzDecodeVoucher(f *testing.F) {
	g := testGenesis(f, 1, DefaultParams())
	v := &Voucher{Genesis: g.Hash(), Lane: Hash{5}, Nonce: 3, Cumulative: 7}
	v.Sign(testKey("user", 0))
	f.Add(v.Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := DecodeVoucher(data)
		if err != nil {
			return
		}
		if !bytes.Equal(v.Encode(), data) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzDecodeVote(f *testing.F) {
	f.Add(Vote{Witness: 2, Block: Hash{1}}.Encode())
	f.Add(Vote{Witness: 1, Block: Hash{1}, Path: []Hash{{2}, {3}}}.Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := DecodeVote(data)
		if err != nil {
			return
		}
		if !bytes.Equal(v.Encode(), data) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzDecodeEquivocation(f *testing.F) {
	blocks, _, g := seedObjects(f)
	a, _ := DecodeBlock(blocks[0])
	b, _ := DecodeBlock(blocks[1])
	f.Add((&Equivocation{Witness: 1, A: a, B: b}).Encode())
	f.Add((&Equivocation{Witness: 1, A: a, B: b, PathA: []Hash{{1}}, PathB: []Hash{{2}, {3}}}).Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEquivocation(data)
		if err != nil {
			return
		}
		if !bytes.Equal(e.Encode(), data) {
			t.Fatalf("re-encoding differs")
		}
		_ = e.Verify(g)
	})
}

func FuzzParseGenesis(f *testing.F) {
	g := testGenesis(f, 2, DefaultParams())
	js, _ := g.MarshalJSON()
	f.Add(js)
	f.Add([]byte(`{"network_id":"x","supply_shells":20000000,"witnesses":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseGenesis(data)
		if err != nil {
			return
		}
		// A valid file survives its own round trip with the same hash.
		js, err := g.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		g2, err := ParseGenesis(js)
		if err != nil || g2.Hash() != g.Hash() {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"0", "1.5", "-1", "20000000", "1e3", "0.000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAmount(s)
		if err != nil {
			return
		}
		if a > TotalSupply {
			t.Fatalf("%q parsed above the supply", s)
		}
		back, err := ParseAmount(a.String())
		if err != nil || back != a {
			t.Fatalf("%q: round trip %v %v", s, back, err)
		}
	})
}

func FuzzDecodeServiceProof(f *testing.F) {
	g := testGenesis(f, 1, DefaultParams())
	p := storageProof(g, testKey("auditor", 0), testKey("node", 0), Hash{1}, 5, 7)
	f.Add(p.Encode())
	d := ServiceProof{Genesis: g.Hash(), Kind: ProofDelivery, Node: idOf(testKey("node", 1)), Expected: Hash{2}, Observed: Hash{3}, Bytes: 1, Period: 2}
	d.Sign(testKey("user", 0))
	f.Add(d.Encode())
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeServiceProof(data)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Encode(), data) {
			t.Fatalf("re-encoding differs")
		}
	})
}
