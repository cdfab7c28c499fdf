package stream

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

const testNetwork = "stream-test"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func nowMs() int64 { return time.Now().UnixMilli() }

func newKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// view is a static membership shared by a test network's nodes and
// readers (placement needs only an agreed list; the registry is tested
// in node/shard).
type view struct {
	mu sync.Mutex
	ms []shard.Member
}

func (v *view) Members(context.Context) ([]shard.Member, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]shard.Member(nil), v.ms...), nil
}

func (v *view) set(ms []shard.Member) {
	v.mu.Lock()
	v.ms = ms
	v.mu.Unlock()
}

// tnode is a storage node: QUIC on 127.0.0.1 and a real shard cell.
type tnode struct {
	key  ed25519.PrivateKey
	tr   *transport.Transport
	sc   *shard.Cell
	rt   *cell.Runtime
	once sync.Once
}

func (n *tnode) member() shard.Member {
	return shard.Member{Key: n.key.Public().(ed25519.PublicKey), Addr: n.tr.Addr().String()}
}

func (n *tnode) kill() {
	n.once.Do(func() {
		n.tr.Close()
		n.sc.Close()
		n.rt.Close()
	})
}

// wrapRead lets a test make a holder misbehave on reads (corrupt, stall,
// refuse as busy) around the real store read, through the cell's
// ReadHook: the bulk streams and the receptor both go through it.
type wrapRead func(next shard.ReadFunc) shard.ReadFunc

// nodeMod adjusts one test node's shard cell configuration.
type nodeMod func(*shard.Config)

// reads makes a node's reads go through w.
func reads(w wrapRead) nodeMod { return func(c *shard.Config) { c.ReadHook = w } }

func startNode(t testing.TB, v *view, mod nodeMod) *tnode {
	t.Helper()
	key := newKey(t)
	tr, err := transport.Listen(transport.Config{Key: key, ListenAddr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	host := cell.Host{Key: key, Network: testNetwork, Transport: tr, Now: nowMs, Logger: quiet(),
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: nowMs})}
	cfg := shard.Config{Host: host, Dir: t.TempDir(), Members: v, ScrubInterval: time.Hour, CallTimeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	sc, err := shard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := cell.Start(host, sc.Type(), cell.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Attach(rt); err != nil {
		t.Fatal(err)
	}
	n := &tnode{key: key, tr: tr, sc: sc, rt: rt}
	t.Cleanup(n.kill)
	return n
}

// startNetwork starts size nodes (mods[i] adjusts node i) sharing one view.
func startNetwork(t testing.TB, size int, mods map[int]nodeMod) ([]*tnode, *view) {
	t.Helper()
	v := &view{}
	var nodes []*tnode
	var ms []shard.Member
	for i := range size {
		n := startNode(t, v, mods[i])
		nodes = append(nodes, n)
		ms = append(ms, n.member())
	}
	v.set(ms)
	return nodes, v
}

// person is a reader/owner with its own key, file root and transport.
type person struct {
	key    ed25519.PrivateKey
	root   [32]byte
	tr     *transport.Transport
	call   *cell.Client
	client *shard.Client
}

func newPerson(t testing.TB, v shard.Membership, k int) *person {
	t.Helper()
	tr, err := transport.Listen(transport.Config{Key: newKey(t), ListenAddr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	p := &person{key: newKey(t), tr: tr}
	rand.Read(p.root[:])
	p.call = &cell.Client{Transport: tr, Key: p.key, Network: testNetwork, Now: nowMs,
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: nowMs})}
	p.client, err = shard.NewClient(shard.ClientConfig{Call: p.call, FileRoot: &p.root, K: k, Members: v, CallTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *person) fetcher(t testing.TB, v shard.Membership, mod func(*Config)) *Fetcher {
	t.Helper()
	cfg := Config{Call: p.call, FileRoot: &p.root, Members: v}
	if mod != nil {
		mod(&cfg)
	}
	f, err := NewFetcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// put stores n random bytes and returns them with their manifest.
func (p *person) put(t testing.TB, n int) ([]byte, *shard.Manifest) {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	m, err := p.client.Put(context.Background(), bytesReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	return data, m
}

// memFile is an in-memory File for benchmarks, preallocated to the
// manifest's size.
type memFile struct{ b []byte }

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(f.b)) {
		return 0, io.ErrShortWrite
	}
	return copy(f.b[off:], p), nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(f.b)) {
		return 0, io.EOF
	}
	n := copy(p, f.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
