package ledgercell

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

const childEnv = "LEDGERCELL_WITNESS_CHILD_DB"

const killUsers = 300

func killBlocks(g *ledger.Genesis, i int) (a, b *ledger.Block) {
	key := testKey("user", i)
	to := idOf(testKey("user", (i+1)%killUsers))
	a = ledger.NewBlock(g, key, 0, ledger.Hash{}, &ledger.Send{To: to, Amount: 1, Fee: g.Params.TransferFee})
	b = ledger.NewBlock(g, key, 0, ledger.Hash{}, &ledger.Send{To: to, Amount: 2, Fee: g.Params.TransferFee})
	return a, b
}

// TestWitnessCellChild is the witness node of the kill -9 test: a real
// ledger cell on QUIC with its bbolt file, run as a child process.
func TestWitnessCellChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("only runs as the child of TestKill9WitnessCellNeverSignsTwice")
	}
	g := testGenesis(t, killUsers)
	key := testKey("witness", 0)
	tr, err := transport.Listen(transport.Config{Key: key, ListenAddr: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	host := cell.Host{Key: key, Network: testNetwork, Transport: tr, Now: nowMs, Logger: quietLogger(),
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: nowMs})}
	if _, _, err := Start(Config{Host: host, Genesis: g, StorePath: path}, cell.Options{}); err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	fmt.Println("ADDR", tr.Addr().String())
	select {} // serve until killed
}

func startChild(t *testing.T, path string) (*exec.Cmd, string) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestWitnessCellChild$", "-test.count=1")
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
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "ADDR" {
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd, f[1]
		}
		if len(f) > 0 && f[0] == "ERR" {
			t.Fatalf("child: %s", sc.Text())
		}
	}
	t.Fatal("child exited before serving")
	return nil, ""
}

// kill -9 a witness node while clients are asking it for votes, restart
// it on the same bbolt file: it never signs a second block for a slot it
// signed before, and re-signs the first identically.
func TestKill9WitnessCellNeverSignsTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	g := testGenesis(t, killUsers)
	path := t.TempDir() + "/witness.db"
	_, trKey, _ := ed25519.GenerateKey(nil)
	tr, err := transport.Listen(transport.Config{Key: trKey, ListenAddr: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	caller := &cell.Client{Transport: tr, Key: testKey("user", 0), Network: testNetwork, Now: nowMs,
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: nowMs})}
	wkey := testKey("witness", 0).Public().(ed25519.PublicKey)
	vote := func(ctx context.Context, addr string, b *ledger.Block) (voteResult, error) {
		payload, _ := marshal(voteRequest{Blocks: [][]byte{b.Encode()}})
		raw, err := caller.Call(ctx, cell.Target{Key: wkey, Addr: addr}, DNA, KindVote, payload)
		if err != nil {
			return voteResult{}, err
		}
		var a voteAnswer
		if err := wire.Unmarshal(raw, &a); err != nil || len(a.Results) != 1 {
			return voteResult{}, fmt.Errorf("bad answer: %v", err)
		}
		return a.Results[0], nil
	}
	signed := map[int]string{}
	next := 0
	for round, killAfter := range []int{8, 24} {
		cmd, addr := startChild(t, path)
		var mu sync.Mutex
		fresh := 0
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var wg sync.WaitGroup
		killed := make(chan struct{})
		var once sync.Once
		// Eight clients vote at once, so the kill lands with votes in
		// every stage: queued, being persisted, being signed, in flight.
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					mu.Lock()
					i := next
					next++
					mu.Unlock()
					if i >= killUsers {
						return
					}
					a, _ := killBlocks(g, i)
					r, err := vote(ctx, addr, a)
					if err != nil {
						return // the child is gone
					}
					if r.Code != voteOK {
						t.Errorf("worker %d: slot %d: %s %s", w, i, r.Code, r.Msg)
						return
					}
					mu.Lock()
					signed[i] = hex.EncodeToString(r.Vote)
					fresh++
					if fresh == killAfter {
						once.Do(func() { cmd.Process.Kill(); cancel(); close(killed) })
					}
					mu.Unlock()
				}
			}()
		}
		<-killed
		wg.Wait()
		cancel()
		cmd.Wait()
		t.Logf("round %d: killed after %d answered votes, %d signed in total", round, fresh, len(signed))

		cmd, addr = startChild(t, path)
		ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
		var check sync.WaitGroup
		for i, sig := range signed {
			check.Add(1)
			go func() {
				defer check.Done()
				a, b := killBlocks(g, i)
				r, err := vote(ctx, addr, b)
				if err != nil || r.Code != voteConflict {
					t.Errorf("round %d: after kill -9, conflicting block for slot %d got %+v %v", round, i, r, err)
					return
				}
				if r.Voted != nil && hex.EncodeToString(r.Voted) != hex.EncodeToString(a.Encode()) {
					t.Errorf("round %d: slot %d reports another voted block", round, i)
				}
				// Votes are signed in batches (one signature over a root of
				// the batch), so the bytes of a repeated vote depend on what
				// it was batched with; what may never change is the block.
				r, err = vote(ctx, addr, a)
				if err != nil || r.Code != voteOK {
					t.Errorf("round %d: slot %d: voted block refused after restart: %+v %v", round, i, r, err)
					return
				}
				for _, raw := range []string{sig, hex.EncodeToString(r.Vote)} {
					b, _ := hex.DecodeString(raw)
					v, err := ledger.DecodeVote(b)
					if err == nil {
						err = ledger.VerifyVote(g, v)
					}
					if err != nil || v.Block != a.Hash() {
						t.Errorf("round %d: slot %d: vote %s is not a valid vote for the voted block: %v", round, i, raw, err)
					}
				}
			}()
		}
		check.Wait()
		cancel()
		cmd.Process.Kill()
		cmd.Wait()
	}
}
