package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

const network = "relay-test"

type tnode struct {
	key  ed25519.PrivateKey
	tr   *transport.Transport
	svc  *Service
	hits atomic.Int64 // echo requests handled
}

func newNode(t *testing.T, serve bool) *tnode {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	tr, err := transport.Listen(transport.Config{Key: key, ListenAddr: "127.0.0.1:0", HandshakeTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := func() int64 { return time.Now().UnixMilli() }
	svc, err := New(Config{Transport: tr, Key: key, Network: network, Now: now, Serve: serve,
		Verifier: wire.NewVerifier(wire.Config{Network: network, Now: now}), DiscoveryPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	n := &tnode{key: key, tr: tr, svc: svc}
	tr.Handle("echo", func(_ context.Context, _ transport.Peer, req []byte) ([]byte, error) {
		n.hits.Add(1)
		return append([]byte("echo:"), req...), nil
	})
	t.Cleanup(func() {
		svc.Close()
		tr.Close()
	})
	return n
}

func (n *tnode) pub() ed25519.PublicKey { return n.key.Public().(ed25519.PublicKey) }
func (n *tnode) target() cell.Target {
	return cell.Target{Key: n.pub(), Addr: n.tr.LocalAddr().String()}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestDetectPublic(t *testing.T) {
	a, b := newNode(t, false), newNode(t, false)
	res, err := a.svc.Detect(ctxT(t, 60*time.Second), []cell.Target{b.target()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Reach != registry.ReachPublic || !res.DialedBack || res.Observed != a.tr.LocalAddr().String() {
		t.Fatalf("result %+v, want public at %s", res, a.tr.LocalAddr())
	}
	if got := a.tr.Addr().String(); got != res.Observed {
		t.Fatalf("advertised %s, want %s", got, res.Observed)
	}
}

func TestDetectNoPeers(t *testing.T) {
	a := newNode(t, false)
	_, err := a.svc.Detect(ctxT(t, 30*time.Second), nil)
	if err != ErrNoPeers {
		t.Fatalf("err %v, want ErrNoPeers", err)
	}
}

// relayed sets up relay r (found public by b) and n registered with it.
func relayed(t *testing.T, r, b, n *tnode) string {
	t.Helper()
	ctx := ctxT(t, 60*time.Second)
	if res, err := r.svc.Detect(ctx, []cell.Target{b.target()}); err != nil || res.Reach != registry.ReachPublic {
		t.Fatalf("relay detection: %+v %v", res, err)
	}
	addr, err := n.svc.UseRelay(ctx, r.target())
	if err != nil {
		t.Fatal(err)
	}
	if n.tr.Addr().String() != addr || n.svc.Reach() != registry.ReachNAT {
		t.Fatalf("advertised %s reach %v after UseRelay(%s)", n.tr.Addr(), n.svc.Reach(), addr)
	}
	return addr
}

func TestRelayedRequest(t *testing.T) {
	r, b, n, d := newNode(t, true), newNode(t, false), newNode(t, false), newNode(t, false)
	addr := relayed(t, r, b, n)
	ctx := ctxT(t, 60*time.Second)
	for i := range 3 {
		ans, err := d.tr.Request(ctx, addr, n.pub(), "echo", []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ans, []byte{'e', 'c', 'h', 'o', ':', byte(i)}) {
			t.Fatalf("answer %q", ans)
		}
	}
	// A big request crosses the relay in many packets.
	big := bytes.Repeat([]byte("x"), 1<<20)
	ans, err := d.tr.Request(ctx, addr, n.pub(), "echo", big)
	if err != nil || len(ans) != len(big)+5 {
		t.Fatalf("big request: %d bytes, %v", len(ans), err)
	}
	if st := d.tr.Stats(); st.RelayedOut != 1 {
		t.Fatalf("dialler stats %+v, want one relayed connection", st)
	}
	if st := n.tr.Stats(); st.RelayedIn != 1 {
		t.Fatalf("node stats %+v, want one relayed connection", st)
	}
	st := r.svc.Status()
	if st.RelayedBytes < 1<<20 || len(st.Clients) != 1 {
		t.Fatalf("relay status %+v", st)
	}
	// The wrong key at a relayed address is refused by the relay.
	if _, err := d.tr.Request(ctx, addr, b.pub(), "echo", nil); err == nil {
		t.Fatal("request to an unregistered key through the relay succeeded")
	}
}

func TestRelayRefusesWhenNotPublic(t *testing.T) {
	r, n := newNode(t, true), newNode(t, false)
	if _, err := n.svc.UseRelay(ctxT(t, 30*time.Second), r.target()); err == nil {
		t.Fatal("a relay that never confirmed its reachability accepted a client")
	}
}

func TestRelayLimits(t *testing.T) {
	r, b := newNode(t, true), newNode(t, false)
	r.svc.cfg.MaxClients = 1
	n1, n2 := newNode(t, false), newNode(t, false)
	relayed(t, r, b, n1)
	if _, err := n2.svc.UseRelay(ctxT(t, 30*time.Second), r.target()); err == nil {
		t.Fatal("second client accepted over MaxClients=1")
	}
}

// TestRelayTamperDetected: a relay that flips bits in the tunnel after the
// handshake gets nothing altered through; the requests fail instead.
func TestRelayTamperDetected(t *testing.T) {
	r, b, n, d := newNode(t, true), newNode(t, false), newNode(t, false), newNode(t, false)
	addr := relayed(t, r, b, n)
	ctx := ctxT(t, 60*time.Second)
	if _, err := d.tr.Request(ctx, addr, n.pub(), "echo", []byte("before")); err != nil {
		t.Fatal(err)
	}
	// Flip one bit in the last byte (inside QUIC's authentication tag) of
	// every datagram from now on, both directions.
	fl := &replayer{buf: map[bool][]byte{}, old: map[bool][][]byte{}, flip: true}
	r.svc.mu.Lock()
	r.svc.tamper = fl.tamper
	r.svc.mu.Unlock()
	hits := n.hits.Load()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ans, err := d.tr.Request(rctx, addr, n.pub(), "echo", bytes.Repeat([]byte("y"), 4000))
	if err == nil {
		t.Fatalf("a request through a tampering relay succeeded: %q", ans)
	}
	if fl.sent.Load() == 0 {
		t.Fatal("the relay never tampered")
	}
	if n.hits.Load() != hits {
		t.Fatal("the node handled a request through a tampering relay")
	}
	t.Logf("tampered with %d datagrams; request failed: %v", fl.sent.Load(), err)
}

// replayer re-frames the tunnel's byte stream into datagrams and sends each
// one twice, plus every earlier datagram again now and then.
type replayer struct {
	flip bool // instead of replaying, alter every datagram
	mu   sync.Mutex
	buf  map[bool][]byte
	old  map[bool][][]byte
	sent atomic.Int64
}

func (rp *replayer) tamper(fromDialer bool, b []byte) [][]byte {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.buf[fromDialer] = append(rp.buf[fromDialer], b...)
	var out [][]byte
	for {
		p := rp.buf[fromDialer]
		if len(p) < 2 {
			break
		}
		size := int(binary.BigEndian.Uint16(p))
		if len(p) < 2+size {
			break
		}
		dg := bytes.Clone(p[:2+size])
		rp.buf[fromDialer] = p[2+size:]
		if rp.flip {
			dg[len(dg)-1] ^= 0x01
			out = append(out, dg)
			rp.sent.Add(1)
			continue
		}
		out = append(out, dg, dg)
		rp.old[fromDialer] = append(rp.old[fromDialer], dg)
		if olds := rp.old[fromDialer]; len(olds)%5 == 0 {
			out = append(out, olds[:len(olds)/2]...)
		}
		rp.sent.Add(int64(len(out)))
	}
	if len(out) == 0 {
		return [][]byte{}
	}
	return out
}

// TestRelayReplayHarmless: a relay that replays datagrams (each twice and
// old ones again) changes nothing: QUIC drops the duplicates, each request
// is handled exactly once.
func TestRelayReplayHarmless(t *testing.T) {
	r, b, n, d := newNode(t, true), newNode(t, false), newNode(t, false), newNode(t, false)
	rp := &replayer{buf: map[bool][]byte{}, old: map[bool][][]byte{}}
	r.svc.tamper = rp.tamper
	addr := relayed(t, r, b, n)
	ctx := ctxT(t, 60*time.Second)
	const reqs = 10
	for i := range reqs {
		ans, err := d.tr.Request(ctx, addr, n.pub(), "echo", []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ans, []byte{'e', 'c', 'h', 'o', ':', byte(i)}) {
			t.Fatalf("answer %q", ans)
		}
	}
	if got := n.hits.Load(); got != reqs {
		t.Fatalf("handled %d requests, sent %d", got, reqs)
	}
	t.Logf("relay sent %d datagram copies for %d requests", rp.sent.Load(), reqs)
}

func TestRelayAddrRoundTrip(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	pub := k.Public().(ed25519.PublicKey)
	a, err := transport.RelayAddr(pub, "203.0.113.7:7446")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkRegistryAddr(a); err != nil {
		t.Fatalf("registry refuses %q: %v", a, err)
	}
	key, hp, ok, err := transport.ParseRelayAddr(a)
	if !ok || err != nil || !key.Equal(pub) || hp != "203.0.113.7:7446" {
		t.Fatalf("parse %q: %x %s %v %v", a, key, hp, ok, err)
	}
	if _, err := transport.RelayAddr(pub, "[::1]:7446"); err == nil {
		t.Fatal("IPv6 relay host accepted")
	}
	if _, err := transport.RelayAddr(pub, a); err == nil {
		t.Fatal("relay of a relayed address accepted")
	}
}

// checkRegistryAddr signs an entry with the address: the registry must
// carry relayed addresses unchanged.
func checkRegistryAddr(addr string) error {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	_, err := registry.Seal(k, network, registry.Entry{Addrs: []string{addr},
		Cells: []registry.CellRef{{Name: "registry", Version: 1}}, Reach: registry.ReachNAT, IssuedAt: 1, Seq: 1, ExpiresAt: 2})
	return err
}
