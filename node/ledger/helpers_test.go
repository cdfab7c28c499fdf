package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// testKey derives a deterministic key, so subprocesses and reruns agree.
func testKey(label string, i int) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", label, i)))
	return ed25519.NewKeyFromSeed(seed[:])
}

func idOf(k ed25519.PrivateKey) AccountID { return AccountID(k.Public().(ed25519.PublicKey)) }

const (
	startTime  = 1_700_000_000_000
	userFunds  = 1_000 * MicroPerShell
	numWitness = 4
)

// testGenesis makes a network of 4 witnesses (f = 1), witness 0 also an
// auditor, and nUsers accounts holding userFunds each.
func testGenesis(tb testing.TB, nUsers int, p Params) *Genesis {
	tb.Helper()
	var wits, auds []ed25519.PublicKey
	for i := range numWitness {
		wits = append(wits, testKey("witness", i).Public().(ed25519.PublicKey))
	}
	auds = append(auds, testKey("auditor", 0).Public().(ed25519.PublicKey))
	var allocs []Allocation
	for i := range nUsers {
		allocs = append(allocs, Allocation{Account: idOf(testKey("user", i)), Amount: userFunds})
	}
	g, err := NewGenesis("borgios-test", wits, auds, p, allocs)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// testNet is four real witnesses on bbolt files plus an observer Ledger
// that every certificate is fed to, as a conduit or a new node would.
type testNet struct {
	tb     testing.TB
	g      *Genesis
	dir    string
	ws     []*Witness
	stores []*BoltStore
	up     []bool
	mem    []*MemStore // non-nil: witnesses keep state in memory
	loaded []int       // certificates each witness loaded from its own store at start
	obs    *Ledger
	now    uint64
}

func newTestNet(tb testing.TB, nUsers int) *testNet {
	return newTestNetParams(tb, nUsers, DefaultParams())
}

func newTestNetParams(tb testing.TB, nUsers int, p Params) *testNet {
	tb.Helper()
	return newTestNetGenesis(tb, testGenesis(tb, nUsers, p))
}

func newTestNetGenesis(tb testing.TB, g *Genesis) *testNet {
	tb.Helper()
	n := &testNet{tb: tb, g: g, dir: tb.TempDir(), now: startTime}
	n.obs = NewLedger(n.g)
	n.ws = make([]*Witness, numWitness)
	n.stores = make([]*BoltStore, numWitness)
	n.up = make([]bool, numWitness)
	n.loaded = make([]int, numWitness)
	for i := range numWitness {
		n.start(i)
	}
	tb.Cleanup(func() {
		// Conservation after every scenario, in every honest view.
		n.checkConservation()
		for i := range numWitness {
			if n.up[i] {
				n.stores[i].Close()
			}
		}
	})
	return n
}

func (n *testNet) path(i int) string { return filepath.Join(n.dir, fmt.Sprintf("witness%d.db", i)) }

// start opens witness i from its file and lets it catch up from the
// observer, as a restarted node does from its peers.
func (n *testNet) start(i int) {
	n.tb.Helper()
	var store Store
	if n.mem != nil {
		if n.mem[i] == nil {
			n.mem[i] = NewMemStore()
		}
		store = n.mem[i]
	} else {
		st, err := OpenBoltStore(n.path(i))
		if err != nil {
			n.tb.Fatal(err)
		}
		n.stores[i] = st
		store = st
	}
	w, err := OpenWitness(n.g, testKey("witness", i), store)
	if err != nil {
		n.tb.Fatal(err)
	}
	n.loaded[i] = w.Ledger().Len()
	if err := w.ConfirmBatch(n.obs.Certificates(0)); err != nil {
		n.tb.Fatalf("witness %d catch-up: %v", i, err)
	}
	n.ws[i], n.up[i] = w, true
}

// newMemNet is a testNet whose witnesses keep their state in MemStores:
// the same state machine, for tests that run thousands of scenarios.
func newMemNet(tb testing.TB, nUsers int) *testNet {
	tb.Helper()
	n := &testNet{tb: tb, g: testGenesis(tb, nUsers, DefaultParams()), now: startTime}
	n.obs = NewLedger(n.g)
	n.ws = make([]*Witness, numWitness)
	n.stores = make([]*BoltStore, numWitness)
	n.up = make([]bool, numWitness)
	n.loaded = make([]int, numWitness)
	n.mem = make([]*MemStore, numWitness)
	for i := range numWitness {
		n.start(i)
	}
	tb.Cleanup(n.checkConservation)
	return n
}

// stop takes witness i down as a crash would: its file stays as it is.
func (n *testNet) stop(i int) {
	n.tb.Helper()
	if n.mem == nil {
		if err := n.stores[i].Close(); err != nil {
			n.tb.Fatal(err)
		}
	}
	n.ws[i], n.up[i] = nil, false
}

// submit asks every live witness to vote, builds a certificate if a
// quorum agreed and confirms it everywhere. errs[i] is witness i's answer.
func (n *testNet) submit(b *Block) (*Certificate, []error) {
	n.tb.Helper()
	errs := make([]error, numWitness)
	cb := NewCertBuilder(n.g, b)
	var cert *Certificate
	for i, w := range n.ws {
		if !n.up[i] {
			errs[i] = errors.New("down")
			continue
		}
		v, err := w.Vote(b, n.now)
		if err != nil {
			errs[i] = err
			continue
		}
		c, err := cb.Add(v)
		if err != nil {
			n.tb.Fatalf("witness %d gave a bad vote: %v", i, err)
		}
		if c != nil {
			cert = c
		}
	}
	if cert != nil {
		n.confirm(cert)
	}
	return cert, errs
}

func (n *testNet) confirm(c *Certificate) {
	n.tb.Helper()
	if _, err := n.obs.Add(c); err != nil {
		n.tb.Fatalf("observer refused certificate: %v", err)
	}
	for i, w := range n.ws {
		if n.up[i] {
			if err := w.Confirm(c); err != nil {
				n.tb.Fatalf("witness %d refused certificate: %v", i, err)
			}
		}
	}
}

// block builds the next block of k's chain as the observer sees it.
func (n *testNet) block(k ed25519.PrivateKey, op Op) *Block {
	seq, prev := n.obs.Head(idOf(k))
	return NewBlock(n.g, k, seq, prev, op)
}

// mustCertify submits b and fails unless it is certified.
func (n *testNet) mustCertify(b *Block) *Certificate {
	n.tb.Helper()
	c, errs := n.submit(b)
	if c == nil {
		n.tb.Fatalf("%s not certified: %v", b.Op.Kind(), errs)
	}
	return c
}

func (n *testNet) send(from, to ed25519.PrivateKey, amt Amount) *Certificate {
	n.tb.Helper()
	return n.mustCertify(n.block(from, &Send{To: idOf(to), Amount: amt, Fee: n.g.Params.TransferFee}))
}

func (n *testNet) receive(k ed25519.PrivateKey, sources ...*Certificate) *Certificate {
	n.tb.Helper()
	op := &Receive{}
	for _, c := range sources {
		op.Sources = append(op.Sources, c.BlockHash())
	}
	return n.mustCertify(n.block(k, op))
}

// refused submits b and checks every live witness refuses it with want.
func (n *testNet) refused(b *Block, want error) {
	n.tb.Helper()
	c, errs := n.submit(b)
	if c != nil {
		n.tb.Fatalf("%s certified, want refusal with %v", b.Op.Kind(), want)
	}
	for i, err := range errs {
		if n.up[i] && !errors.Is(err, want) {
			n.tb.Fatalf("witness %d: got %v, want %v", i, err, want)
		}
	}
}

// checkConservation checks the supply in the observer and every live
// witness, and that they agree on every balance the observer knows.
func (n *testNet) checkConservation() {
	n.tb.Helper()
	if err := n.obs.CheckConservation(); err != nil {
		n.tb.Errorf("observer: %v", err)
	}
	for i, w := range n.ws {
		if !n.up[i] {
			continue
		}
		if err := w.Ledger().CheckConservation(); err != nil {
			n.tb.Errorf("witness %d: %v", i, err)
		}
		for a, acc := range n.obs.accounts {
			if got := w.Ledger().Balance(a); got != acc.balance {
				n.tb.Errorf("witness %d: balance of %s is %s, observer says %s", i, a.Short(), got, acc.balance)
			}
		}
		if w.Ledger().Treasury() != n.obs.Treasury() {
			n.tb.Errorf("witness %d: treasury %s, observer %s", i, w.Ledger().Treasury(), n.obs.Treasury())
		}
	}
}

// shuffled is a seeded permutation of 0..n-1.
func shuffled(n int, seed int64) []int {
	r := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	return r.Perm(n)
}

func ed25519Sign(k ed25519.PrivateKey, m []byte) []byte { return ed25519.Sign(k, m) }
