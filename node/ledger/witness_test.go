package ledger

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// An owner who sends two conflicting blocks for one sequence to different
// witnesses gets at most one certified, in every interleaving: each of
// the four witnesses sees A then B, B then A, or nothing (3^4 = 81
// patterns, each on a fresh account). A witness's vote depends only on
// which block reaches it first, so these cover every combination of
// votes, and both orders of the refusal.
func TestConflictingBlocksAtMostOneCertificateExhaustive(t *testing.T) {
	const patterns = 81
	n := newMemNet(t, patterns+2)
	payee1, payee2 := testKey("user", patterns), testKey("user", patterns+1)
	fee := n.g.Params.TransferFee
	certified := 0
	for p := 0; p < patterns; p++ {
		owner := testKey("user", p)
		a := n.block(owner, &Send{To: idOf(payee1), Amount: 1 * MicroPerShell, Fee: fee})
		b := n.block(owner, &Send{To: idOf(payee2), Amount: 2 * MicroPerShell, Fee: fee})
		cbA, cbB := NewCertBuilder(n.g, a), NewCertBuilder(n.g, b)
		var certA, certB *Certificate
		code := p
		for i, w := range n.ws {
			mode := code % 3
			code /= 3
			order := [][]*Block{{a, b}, {b, a}, nil}[mode]
			for k, blk := range order {
				v, err := w.Vote(blk, n.now)
				if k == 1 {
					if !errors.Is(err, ErrConflictingVote) {
						t.Fatalf("pattern %d witness %d: second block got %v", p, i, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("pattern %d witness %d: %v", p, i, err)
				}
				if blk == a {
					if c, _ := cbA.Add(v); c != nil {
						certA = c
					}
				} else if c, _ := cbB.Add(v); c != nil {
					certB = c
				}
			}
		}
		if certA != nil && certB != nil {
			t.Fatalf("pattern %d: both conflicting blocks certified", p)
		}
		for _, c := range []*Certificate{certA, certB} {
			if c != nil {
				certified++
				n.confirm(c)
			}
		}
	}
	// A block is certified exactly when 3 or 4 witnesses saw it first:
	// 2 * (1 + 4*2) = 18 of the 81 patterns.
	if certified != 18 {
		t.Fatalf("%d patterns certified a block, want 18", certified)
	}
	t.Logf("%d of %d patterns certified one block, none certified two", certified, patterns)
}

// The same property with real concurrency and real files: two clients
// race their conflicting blocks to the four bbolt witnesses in random
// orders.
func TestConflictingBlocksConcurrentClients(t *testing.T) {
	const rounds = 12
	n := newTestNet(t, rounds+2)
	fee := n.g.Params.TransferFee
	var mu [numWitness]sync.Mutex
	for r := 0; r < rounds; r++ {
		owner := testKey("user", r)
		blocks := []*Block{
			n.block(owner, &Send{To: idOf(testKey("user", rounds)), Amount: 1, Fee: fee}),
			n.block(owner, &Send{To: idOf(testKey("user", rounds+1)), Amount: 2, Fee: fee}),
		}
		certs := make([]*Certificate, 2)
		var wg sync.WaitGroup
		for c := range blocks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cb := NewCertBuilder(n.g, blocks[c])
				for _, i := range shuffled(numWitness, int64(r*2+c)) {
					mu[i].Lock()
					v, err := n.ws[i].Vote(blocks[c], n.now)
					mu[i].Unlock()
					if err != nil {
						if !errors.Is(err, ErrConflictingVote) {
							t.Errorf("round %d witness %d: %v", r, i, err)
						}
						continue
					}
					if cert, _ := cb.Add(v); cert != nil {
						certs[c] = cert
					}
				}
			}()
		}
		wg.Wait()
		if certs[0] != nil && certs[1] != nil {
			t.Fatalf("round %d: both certified", r)
		}
		for _, c := range certs {
			if c != nil {
				n.confirm(c)
			}
		}
	}
}

// A witness that signs two conflicting blocks is caught by its own
// signatures; beyond f such witnesses, two certificates can exist, and
// any verifier that sees both extracts evidence against at least f+1.
func TestWitnessEquivocationIsDetectable(t *testing.T) {
	n := newMemNet(t, 3)
	owner, x, y := testKey("user", 0), testKey("user", 1), testKey("user", 2)
	fee := n.g.Params.TransferFee
	a := n.block(owner, &Send{To: idOf(x), Amount: 1, Fee: fee})
	b := n.block(owner, &Send{To: idOf(y), Amount: 1, Fee: fee})
	// A Byzantine witness signs whatever it is given, bypassing its rules.
	byz := func(i int, blk *Block) Vote {
		d := voteDigest(n.g.Hash(), blk.Hash())
		v := Vote{Witness: uint16(i), Block: blk.Hash()}
		copy(v.Sig[:], ed25519Sign(testKey("witness", i), d[:]))
		return v
	}
	va, vb := byz(3, a), byz(3, b)
	ev := &Equivocation{Witness: 3, A: a, B: b, SigA: va.Sig, SigB: vb.Sig}
	if err := ev.Verify(n.g); err != nil {
		t.Fatal(err)
	}
	back, err := DecodeEquivocation(ev.Encode())
	if err != nil || back.Verify(n.g) != nil || !bytes.Equal(back.Encode(), ev.Encode()) {
		t.Fatalf("evidence round trip: %v", err)
	}
	// Not evidence: same block twice, or one forged signature.
	if err := (&Equivocation{Witness: 3, A: a, B: a, SigA: va.Sig, SigB: va.Sig}).Verify(n.g); !errors.Is(err, ErrNotEquivocation) {
		t.Fatalf("same block: %v", err)
	}
	if err := (&Equivocation{Witness: 2, A: a, B: b, SigA: va.Sig, SigB: vb.Sig}).Verify(n.g); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong witness: %v", err)
	}

	// Two Byzantine witnesses (more than f = 1): honest 0 votes a, honest
	// 1 votes b, 2 and 3 sign both.
	va0, err := n.ws[0].Vote(a, n.now)
	if err != nil {
		t.Fatal(err)
	}
	vb1, err := n.ws[1].Vote(b, n.now)
	if err != nil {
		t.Fatal(err)
	}
	build := func(blk *Block, votes ...Vote) *Certificate {
		cb := NewCertBuilder(n.g, blk)
		var c *Certificate
		for _, v := range votes {
			if c, err = cb.Add(v); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	certA := build(a, va0, byz(2, a), byz(3, a))
	certB := build(b, vb1, byz(2, b), byz(3, b))
	n.confirm(certA)
	l := n.obs
	if _, err := l.Add(certB); !errors.Is(err, ErrConflictingCertificate) {
		t.Fatalf("second certificate: %v", err)
	}
	other, ok := l.Conflicting(certB)
	if !ok {
		t.Fatal("Conflicting did not return the applied certificate")
	}
	evs := FindEquivocations(n.g, other, certB)
	if len(evs) < n.g.F()+1 {
		t.Fatalf("%d pieces of evidence, want at least f+1 = %d", len(evs), n.g.F()+1)
	}
	for _, e := range evs {
		if e.Witness != 2 && e.Witness != 3 {
			t.Fatalf("evidence against honest witness %d", e.Witness)
		}
	}
	// The honest witnesses refuse the second certificate too.
	if err := n.ws[0].Confirm(certB); !errors.Is(err, ErrConflictingCertificate) {
		t.Fatalf("witness 0: %v", err)
	}
}

func TestOneWitnessDownChangesNothing(t *testing.T) {
	n := newTestNet(t, 2)
	alice, bob := testKey("user", 0), testKey("user", 1)
	n.send(alice, bob, 1*MicroPerShell)
	n.stop(3)
	var sends []*Certificate
	for i := 0; i < 5; i++ {
		sends = append(sends, n.send(alice, bob, 1*MicroPerShell))
	}
	n.receive(bob, sends...)
	n.start(3)
	if n.loaded[3] != 1 {
		t.Fatalf("restarted witness loaded %d certificates from its file, want 1", n.loaded[3])
	}
	// Caught up, it takes part again.
	n.stop(0)
	n.send(bob, alice, 1*MicroPerShell)
	n.start(0)
}

func TestTwoWitnessesDownStopsCertificatesButLosesNothing(t *testing.T) {
	n := newTestNet(t, 2)
	alice, bob := testKey("user", 0), testKey("user", 1)
	c := n.send(alice, bob, 3*MicroPerShell)
	before := n.obs.Balance(idOf(alice))
	n.stop(2)
	n.stop(3)
	blk := n.block(alice, &Send{To: idOf(bob), Amount: 1 * MicroPerShell, Fee: n.g.Params.TransferFee})
	if cert, errs := n.submit(blk); cert != nil {
		t.Fatal("certified with two of four witnesses")
	} else if errs[0] != nil || errs[1] != nil {
		t.Fatalf("live witnesses refused: %v", errs)
	}
	if n.obs.Balance(idOf(alice)) != before {
		t.Fatal("an uncertified block changed a balance")
	}
	n.start(2)
	if n.loaded[2] != 1 {
		t.Fatalf("witness 2 loaded %d certificates, want 1", n.loaded[2])
	}
	// The same block, resubmitted: the two witnesses that voted give the
	// same vote again, the restarted one adds the third.
	n.mustCertify(blk)
	n.start(3)
	n.receive(bob, c)
}

// A vote survives closing and reopening the file: the witness refuses a
// conflicting block afterwards and re-signs the one it voted for.
func TestVoteSurvivesReopen(t *testing.T) {
	n := newTestNet(t, 3)
	owner := testKey("user", 0)
	fee := n.g.Params.TransferFee
	a := n.block(owner, &Send{To: idOf(testKey("user", 1)), Amount: 1, Fee: fee})
	b := n.block(owner, &Send{To: idOf(testKey("user", 2)), Amount: 1, Fee: fee})
	va, err := n.ws[0].Vote(a, n.now)
	if err != nil {
		t.Fatal(err)
	}
	n.stop(0)
	n.start(0)
	if _, err := n.ws[0].Vote(b, n.now); !errors.Is(err, ErrConflictingVote) {
		t.Fatalf("after reopen, conflicting block: %v", err)
	}
	again, err := n.ws[0].Vote(a, n.now)
	if err != nil || !bytes.Equal(again.Encode(), va.Encode()) {
		t.Fatalf("after reopen, same block: %v", err)
	}
}

// failingStore refuses every write, as a full or broken disk does.
type failingStore struct{ MemStore }

func (*failingStore) SaveVotes([]*Block) error { return errors.New("disk full") }

func TestVoteNotSignedWhenItCannotBePersisted(t *testing.T) {
	g := testGenesis(t, 2, DefaultParams())
	w, err := OpenWitness(g, testKey("witness", 0), &failingStore{MemStore: *NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	blk := NewBlock(g, testKey("user", 0), 0, Hash{}, &Send{To: idOf(testKey("user", 1)), Amount: 1, Fee: g.Params.TransferFee})
	if v, err := w.Vote(blk, startTime); !errors.Is(err, ErrWitnessFailed) || v.Sig != (Signature{}) {
		t.Fatalf("vote with a failing disk: %v", err)
	}
	if _, err := w.Vote(blk, startTime); !errors.Is(err, ErrWitnessFailed) {
		t.Fatalf("witness kept voting after a disk failure: %v", err)
	}
}

const childEnv = "LEDGER_WITNESS_CHILD_DB"

// killUsers is how many accounts the kill -9 child votes for.
const killUsers = 400

func killBlocks(g *Genesis, i int) (a, b *Block) {
	owner := testKey("user", i)
	to := idOf(testKey("user", (i+1)%killUsers))
	a = NewBlock(g, owner, 0, Hash{}, &Send{To: to, Amount: 1, Fee: g.Params.TransferFee})
	b = NewBlock(g, owner, 0, Hash{}, &Send{To: to, Amount: 2, Fee: g.Params.TransferFee})
	return a, b
}

// TestWitnessChildProcess is the "witness main" of the kill -9 test: run
// as a child process, it votes in a loop and prints each signature the
// moment Vote returns it, as a real witness would send it.
func TestWitnessChildProcess(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("only runs as the child of TestKill9WitnessNeverSignsTwice")
	}
	g := testGenesis(t, killUsers, DefaultParams())
	st, err := OpenBoltStore(path)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	w, err := OpenWitness(g, testKey("witness", 0), st)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	for i := 0; i < killUsers; i++ {
		a, _ := killBlocks(g, i)
		v, err := w.Vote(a, startTime)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
		fmt.Printf("VOTED %d %x\n", i, v.Sig)
	}
	fmt.Println("DONE")
	select {} // wait for the kill
}

// kill -9 a witness while it votes, restart it from its file, and it
// never signs a second block for a slot it already signed.
func TestKill9WitnessNeverSignsTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	g := testGenesis(t, killUsers, DefaultParams())
	path := t.TempDir() + "/witness.db"
	signed := map[int]string{}
	for round, killAfter := range []int{7, 40, 90} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWitnessChildProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		fresh := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 {
				continue
			}
			if f[0] == "ERR" {
				t.Fatalf("child: %s", sc.Text())
			}
			if f[0] != "VOTED" {
				continue
			}
			i, _ := strconv.Atoi(f[1])
			if old, ok := signed[i]; ok && old != f[2] {
				t.Fatalf("round %d: slot %d signed with two different signatures", round, i)
			}
			if _, ok := signed[i]; !ok {
				fresh++
			}
			signed[i] = f[2]
			if fresh == killAfter {
				// SIGKILL in the middle of the voting loop: the child is
				// already judging, persisting or signing the next vote.
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		cmd.Wait()
		t.Logf("round %d: killed after %d new votes, %d signed in total", round, fresh, len(signed))

		st, err := OpenBoltStore(path)
		if err != nil {
			t.Fatal(err)
		}
		w, err := OpenWitness(g, testKey("witness", 0), st)
		if err != nil {
			t.Fatal(err)
		}
		for i, sig := range signed {
			a, b := killBlocks(g, i)
			if _, err := w.Vote(b, startTime); !errors.Is(err, ErrConflictingVote) {
				t.Fatalf("round %d: after kill -9, conflicting block for slot %d got %v", round, i, err)
			}
			v, err := w.Vote(a, startTime)
			if err != nil || hex.EncodeToString(v.Sig[:]) != sig {
				t.Fatalf("round %d: slot %d re-signed differently: %v", round, i, err)
			}
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStepOneWriteSurvivesReopen: a certificate and the votes that build
// on it go to disk in one transaction (BoltStore.SaveBatch); after a
// restart the witness holds both, one bad block in the batch failed
// alone, and a conflicting block at the voted slot is refused.
func TestStepOneWriteSurvivesReopen(t *testing.T) {
	n := newTestNet(t, 3)
	owner := testKey("user", 0)
	fee := n.g.Params.TransferFee
	n.stop(0)
	c0 := n.mustCertify(n.block(owner, &Send{To: idOf(testKey("user", 1)), Amount: 1, Fee: fee}))
	b1 := n.block(owner, &Send{To: idOf(testKey("user", 1)), Amount: 2, Fee: fee})
	other := n.block(owner, &Send{To: idOf(testKey("user", 2)), Amount: 2, Fee: fee})
	bad := NewBlock(n.g, testKey("user", 1), 5, Hash{}, &Send{To: idOf(owner), Amount: 1, Fee: fee})

	open := func() (*BoltStore, *Witness) {
		st, err := OpenBoltStore(n.path(0))
		if err != nil {
			t.Fatal(err)
		}
		w, err := OpenWitness(n.g, testKey("witness", 0), st)
		if err != nil {
			t.Fatal(err)
		}
		return st, w
	}
	st, w := open()
	cerr, votes, errs := w.Step([]*Certificate{c0}, []*Block{bad, b1}, n.now)
	if cerr != nil || errs[1] != nil || VerifyVote(n.g, votes[1]) != nil || votes[1].Block != b1.Hash() {
		t.Fatalf("step: %v %v", cerr, errs)
	}
	if errs[0] == nil || votes[0].Sig != (Signature{}) {
		t.Fatalf("bad block in the batch: %v", errs[0])
	}
	st.Close()

	st, w = open()
	defer st.Close()
	if _, ok := w.Ledger().Certificate(c0.BlockHash()); !ok {
		t.Fatal("the certificate saved with the votes is gone after reopen")
	}
	if _, err := w.Vote(other, n.now); !errors.Is(err, ErrConflictingVote) {
		t.Fatalf("after reopen, conflicting block at the voted slot: %v", err)
	}
}

// TestLegacySlotKeyedVote: a vote saved under the slot key (the layout
// before votes were appended by sequence) still locks its slot after an
// upgrade.
func TestLegacySlotKeyedVote(t *testing.T) {
	g := testGenesis(t, 3, DefaultParams())
	owner := testKey("user", 0)
	fee := g.Params.TransferFee
	a := NewBlock(g, owner, 0, Hash{}, &Send{To: idOf(testKey("user", 1)), Amount: 1, Fee: fee})
	b := NewBlock(g, owner, 0, Hash{}, &Send{To: idOf(testKey("user", 2)), Amount: 1, Fee: fee})
	path := filepath.Join(t.TempDir(), "w.db")
	st, err := OpenBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketVotes).Put(voteKey(a.Account, a.Seq), a.Encode())
	}); err != nil {
		t.Fatal(err)
	}
	w, err := OpenWitness(g, testKey("witness", 0), st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Vote(b, startTime); !errors.Is(err, ErrConflictingVote) {
		t.Fatalf("conflicting block at a slot voted in the old layout: %v", err)
	}
	if _, err := w.Vote(a, startTime); err != nil {
		t.Fatalf("the block voted in the old layout: %v", err)
	}
	st.Close()
}
