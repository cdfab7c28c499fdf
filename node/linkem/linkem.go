package linkem

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Config describes the emulated link. Both directions get the same
// delay, rate and queue; each direction has its own.
type Config struct {
	// Target is the UDP address the link forwards to (host:port).
	Target string
	// Listen is the address to bind (default "127.0.0.1:0").
	Listen string
	// Delay is the one-way propagation delay of each direction (e.g.
	// 35 ms for a 70 ms round trip).
	Delay time.Duration
	// Rate is the bottleneck rate of each direction in bits per second
	// (0: unlimited), enforced by a token bucket.
	Rate float64
	// Burst is the token bucket's depth in bytes (default 2 datagrams
	// of 1500 bytes: a router's line, not a policer's allowance).
	Burst int
	// Queue bounds the bytes waiting for tokens in each direction; a
	// datagram that would overflow it is dropped, as a router's tail drop
	// (default: 1 bandwidth-delay product of Rate and 2*Delay, at least
	// 64 KiB; unlimited when Rate is 0).
	Queue int
	// Loss is the probability (0..1) that a datagram is dropped at random,
	// independently in each direction.
	Loss float64
	// Seed seeds the loss decisions, for repeatable runs (0: random).
	Seed uint64
}

// Stats counts what the link did, per direction: Up is client to target,
// Down target to client.
type Stats struct {
	UpPackets, DownPackets       uint64
	UpBytes, DownBytes           uint64
	UpQueueDrops, DownQueueDrops uint64
	UpLossDrops, DownLossDrops   uint64
}

// Link is a running emulated link: datagrams sent to Addr reach Target
// after the link's delay, rate and queue, and the target's answers come
// back the same way. Each client address gets its own socket towards the
// target, so the target sees distinct peers, as through a NAT.
type Link struct {
	cfg    Config
	conn   *net.UDPConn
	target *net.UDPAddr
	up     *pipe
	down   *pipe

	mu     sync.Mutex
	flows  map[netip.AddrPort]*flow
	closed bool
	wg     sync.WaitGroup

	shared bool    // a route: the pipes belong to the link it came from
	routes []*Link // the routes opened from this link, closed with it
}

type flow struct {
	client netip.AddrPort
	conn   *net.UDPConn // towards the target
}

// maxDatagram is the largest datagram the link carries.
const maxDatagram = 64 << 10

// ErrClosed is returned by a closed Link.
var ErrClosed = errors.New("linkem: link closed")

// New starts a link forwarding to cfg.Target.
func New(cfg Config) (*Link, error) {
	if cfg.Target == "" {
		return nil, errors.New("linkem: Target is required")
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Loss < 0 || cfg.Loss > 1 || cfg.Rate < 0 || cfg.Delay < 0 {
		return nil, fmt.Errorf("linkem: loss %v, rate %v, delay %v out of range", cfg.Loss, cfg.Rate, cfg.Delay)
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 3000
	}
	if cfg.Queue <= 0 && cfg.Rate > 0 {
		cfg.Queue = max(64<<10, int(cfg.Rate/8*(2*cfg.Delay).Seconds()))
	}
	target, err := net.ResolveUDPAddr("udp", cfg.Target)
	if err != nil {
		return nil, fmt.Errorf("linkem: target: %w", err)
	}
	laddr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("linkem: listen: %w", err)
	}
	conn, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("linkem: %w", err)
	}
	// Big socket buffers: the emulated queue, not the kernel's, should
	// be what drops.
	conn.SetReadBuffer(8 << 20)
	conn.SetWriteBuffer(8 << 20)
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	l := &Link{cfg: cfg, conn: conn, target: target, flows: map[netip.AddrPort]*flow{}}
	l.up = newPipe(cfg, seed)
	l.down = newPipe(cfg, seed^0x9e3779b97f4a7c15)
	l.wg.Add(3)
	go l.readClients()
	go l.up.run(&l.wg)
	go l.down.run(&l.wg)
	return l, nil
}

// Route opens another entrance to the same link that forwards to another
// target: the reader's one access link in front of several holders.
// Datagrams of every route share the link's rate, queue and delay in each
// direction, as flows through one router do, so several holders together
// get no more than the link (Stats of a route count the whole link).
// Closing the link closes its routes.
func (l *Link) Route(target string) (*Link, error) {
	if l.shared {
		return nil, errors.New("linkem: open routes from the link itself")
	}
	t, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, fmt.Errorf("linkem: route target: %w", err)
	}
	laddr := *l.conn.LocalAddr().(*net.UDPAddr)
	laddr.Port = 0
	conn, err := net.ListenUDP("udp", &laddr)
	if err != nil {
		return nil, fmt.Errorf("linkem: route: %w", err)
	}
	conn.SetReadBuffer(8 << 20)
	conn.SetWriteBuffer(8 << 20)
	r := &Link{cfg: l.cfg, conn: conn, target: t, up: l.up, down: l.down, flows: map[netip.AddrPort]*flow{}, shared: true}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		conn.Close()
		return nil, ErrClosed
	}
	l.routes = append(l.routes, r)
	l.mu.Unlock()
	r.wg.Add(1)
	go r.readClients()
	return r, nil
}

// Addr is the address to dial instead of the target.
func (l *Link) Addr() net.Addr { return l.conn.LocalAddr() }

// Stats returns the counters so far.
func (l *Link) Stats() Stats {
	return Stats{
		UpPackets: l.up.packets.Load(), DownPackets: l.down.packets.Load(),
		UpBytes: l.up.bytes.Load(), DownBytes: l.down.bytes.Load(),
		UpQueueDrops: l.up.qdrops.Load(), DownQueueDrops: l.down.qdrops.Load(),
		UpLossDrops: l.up.ldrops.Load(), DownLossDrops: l.down.ldrops.Load(),
	}
}

// Close stops the link and releases its sockets; datagrams in flight are
// dropped.
func (l *Link) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	flows, routes := l.flows, l.routes
	l.mu.Unlock()
	for _, r := range routes {
		r.Close()
	}
	err := l.conn.Close()
	for _, f := range flows {
		f.conn.Close()
	}
	if !l.shared {
		l.up.close()
		l.down.close()
	}
	l.wg.Wait()
	return err
}

// readClients takes datagrams from clients into the up pipe.
func (l *Link) readClients() {
	defer l.wg.Done()
	for {
		b := getBuf()
		n, from, err := l.conn.ReadFromUDPAddrPort(*b)
		if err != nil {
			putBuf(b)
			return
		}
		f := l.flowFor(from)
		if f == nil {
			putBuf(b)
			continue
		}
		l.up.push(b, n, func(p []byte) { f.conn.Write(p) })
	}
}

// flowFor returns the flow of a client, dialling a socket towards the
// target for a new one.
func (l *Link) flowFor(client netip.AddrPort) *flow {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	if f := l.flows[client]; f != nil {
		return f
	}
	c, err := net.DialUDP("udp", nil, l.target)
	if err != nil {
		return nil
	}
	c.SetReadBuffer(8 << 20)
	c.SetWriteBuffer(8 << 20)
	f := &flow{client: client, conn: c}
	l.flows[client] = f
	l.wg.Add(1)
	go l.readTarget(f)
	return f
}

// readTarget takes the target's datagrams to one client into the down pipe.
func (l *Link) readTarget(f *flow) {
	defer l.wg.Done()
	for {
		b := getBuf()
		n, err := f.conn.Read(*b)
		if err != nil {
			putBuf(b)
			return
		}
		l.down.push(b, n, func(p []byte) { l.conn.WriteToUDPAddrPort(p, f.client) })
	}
}

var bufs = sync.Pool{New: func() any { b := make([]byte, maxDatagram); return &b }}

func getBuf() *[]byte  { return bufs.Get().(*[]byte) }
func putBuf(b *[]byte) { bufs.Put(b) }
