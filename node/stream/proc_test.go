package stream

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

// The holder helper: when this test binary runs with STREAM_HOLDER_SEED
// set, TestMain runs a storage node (QUIC on 127.0.0.1, a real shard cell
// in STREAM_HOLDER_DIR), prints its address and serves until killed.
func TestMain(m *testing.M) {
	if seed := os.Getenv("STREAM_HOLDER_SEED"); seed != "" {
		os.Exit(runHolder(seed, os.Getenv("STREAM_HOLDER_DIR")))
	}
	if args := os.Getenv("STREAM_READER"); args != "" {
		os.Exit(runReader(args))
	}
	os.Exit(m.Run())
}

func runHolder(seedHex, dir string) int {
	seed, err := hex.DecodeString(seedHex)
	if err != nil || len(seed) != ed25519.SeedSize {
		fmt.Fprintln(os.Stderr, "bad seed")
		return 2
	}
	key := ed25519.NewKeyFromSeed(seed)
	tr, err := transport.Listen(transport.Config{Key: key, ListenAddr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	host := cell.Host{Key: key, Network: testNetwork, Transport: tr, Now: nowMs, Logger: quiet(),
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: nowMs})}
	self := &view{}
	self.set([]shard.Member{{Key: key.Public().(ed25519.PublicKey), Addr: tr.Addr().String()}})
	sc, err := shard.New(shard.Config{Host: host, Dir: dir, Members: self, ScrubInterval: time.Hour})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rt, err := cell.Start(host, sc.Type(), cell.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := sc.Attach(rt); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("ADDR %s\n", tr.Addr())
	select {} // until killed
}

// holderProc is a holder in its own process.
type holderProc struct {
	cmd *exec.Cmd
	m   shard.Member
}

func startHolderProc(t *testing.T) *holderProc {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(nil)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STREAM_HOLDER_SEED="+hex.EncodeToString(priv.Seed()), "STREAM_HOLDER_DIR="+t.TempDir())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				line <- a
			}
		}
	}()
	select {
	case addr := <-line:
		return &holderProc{cmd: cmd, m: shard.Member{Key: pub, Addr: addr}}
	case <-time.After(120 * time.Second):
		t.Fatal("holder process did not start")
	}
	return nil
}

// kill -9 one of three holder processes once the transfer is under way:
// the transfer completes from the other two, verified end to end.
func TestHolderProcessKilled(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts processes")
	}
	var procs []*holderProc
	var ms []shard.Member
	for range 3 {
		p := startHolderProc(t)
		procs = append(procs, p)
		ms = append(ms, p.m)
	}
	v := &view{}
	v.set(ms)
	p := newPerson(t, v, 3)
	data, m := p.put(t, testFileBytes)
	out := filepath.Join(t.TempDir(), "file")
	var once sync.Once
	killed := make(chan struct{})
	kill := func() {
		once.Do(func() {
			procs[0].cmd.Process.Kill() // SIGKILL
			close(killed)
		})
	}
	var fromVictim atomic.Int64
	f := p.fetcher(t, v, func(c *Config) {
		c.InitialWindow, c.HolderWindow = 2, 4
		// Killed right after it delivered its second piece, with more of
		// its requests in flight.
		c.OnDelivery = func(e DeliveryEvent) {
			if e.Holder.Equal(procs[0].m.Key) && fromVictim.Add(1) == 2 {
				kill()
			}
		}
	})
	rep, err := f.FetchFile(context.Background(), m, out, func(pr Progress) {
		if pr.Pieces > len(m.Shards)/2 {
			kill() // had the victim not been asked by then
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-killed:
	default:
		t.Fatal("the holder was never killed")
	}
	checkFile(t, out, data)
	if err := procs[0].cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("holder exit: %v", err)
	}
	t.Logf("report: %+v", rep)
}

// readerArgs is what a reader process gets: the person's keys, the sealed
// manifest, the holders and where to write.
type readerArgs struct {
	Seed, Root, Manifest, Out string
	Holders                   []shard.Member
}

// runReader is the reader helper: one FetchFile with progress fsynced
// every few milliseconds, exit 0 on success.
func runReader(raw string) int {
	var a readerArgs
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	seed, _ := hex.DecodeString(a.Seed)
	rootb, _ := hex.DecodeString(a.Root)
	sealed, _ := hex.DecodeString(a.Manifest)
	key := ed25519.NewKeyFromSeed(seed)
	var root [32]byte
	copy(root[:], rootb)
	m, err := shard.OpenManifest(sealed, key.Public().(ed25519.PublicKey), &root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_, trKey, _ := ed25519.GenerateKey(nil)
	tr, err := transport.Listen(transport.Config{Key: trKey, ListenAddr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	v := &view{}
	v.set(a.Holders)
	call := &cell.Client{Transport: tr, Key: key, Network: testNetwork, Now: nowMs,
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: nowMs})}
	f, err := NewFetcher(Config{Call: call, FileRoot: &root, Members: v, SyncEvery: 5 * time.Millisecond, InitialWindow: 2, HolderWindow: 2})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rep, err := f.FetchFile(context.Background(), m, a.Out, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("RESUMED %d\n", rep.Resumed)
	return 0
}

// kill -9 a reader process mid-transfer and start another on the same
// output: it resumes from the fsynced progress file and reads only the
// pieces that were missing.
func TestReaderProcessKilledResumes(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts processes")
	}
	var served atomic.Int64
	var gate atomic.Int64 // reads served before the holder stalls; <0: no limit
	gated := func(next shard.ReadFunc) shard.ReadFunc {
		return func(ctx context.Context, id shard.ID, buf []byte) ([]byte, error) {
			if n := served.Add(1); gate.Load() >= 0 && n > gate.Load() {
				<-ctx.Done()
				return buf, errors.New("stalled")
			}
			return next(ctx, id, buf)
		}
	}
	gate.Store(-1)
	_, v := startNetwork(t, 1, map[int]nodeMod{0: reads(gated)})
	p := newPerson(t, v, 1)
	data, m := p.put(t, testFileBytes)
	sealed, err := m.Seal(p.key, &p.root)
	if err != nil {
		t.Fatal(err)
	}
	holders, _ := v.Members(context.Background())
	out := filepath.Join(t.TempDir(), "file")
	args, _ := json.Marshal(readerArgs{Seed: hex.EncodeToString(p.key.Seed()), Root: hex.EncodeToString(p.root[:]),
		Manifest: hex.EncodeToString(sealed), Out: out, Holders: holders})
	reader := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "STREAM_READER="+string(args))
		cmd.Stderr = os.Stderr
		return cmd
	}
	half := len(m.Shards) / 2
	gate.Store(int64(half))
	first := reader()
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Process.Kill(); first.Wait() })
	// Wait until the progress file lists the pieces served, then kill -9.
	deadline := time.Now().Add(120 * time.Second)
	have := 0
	for have < half {
		if time.Now().After(deadline) {
			t.Fatalf("progress file lists %d of %d pieces", have, half)
		}
		time.Sleep(10 * time.Millisecond)
		if raw, err := os.ReadFile(out + ".progress"); err == nil {
			if b, err := decodeBitmap(raw, m); err == nil {
				have = b.count()
			}
		}
	}
	first.Process.Kill()
	first.Wait()
	served.Store(0)
	gate.Store(-1)
	second := reader()
	var stdout strings.Builder
	second.Stdout = &stdout
	if err := second.Run(); err != nil {
		t.Fatalf("second reader: %v", err)
	}
	checkFile(t, out, data)
	var resumed int
	fmt.Sscanf(strings.TrimSpace(stdout.String()), "RESUMED %d", &resumed)
	// A piece may have been written before the kill without being
	// recorded; it is fetched again, never more than the missing ones.
	if resumed < half || served.Load() > int64(len(m.Shards)-half) {
		t.Fatalf("resumed %d of %d recorded; the second reader read %d pieces for %d missing", resumed, half, served.Load(), len(m.Shards)-half)
	}
	t.Logf("killed with %d/%d recorded; resumed %d, read %d", have, len(m.Shards), resumed, served.Load())
}
