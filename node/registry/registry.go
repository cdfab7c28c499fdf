package registry

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/wire"
)

// DNA is the registry cell type.
var DNA = cell.DNA{Name: CellName, MaxChildren: 10, Protocol: "registry/1", Version: 1}

// Defaults for zero Config fields.
const (
	DefaultInterval   = 10 * time.Second
	DefaultMaxEntries = 100_000
	// TTLIntervals is the default TTL in Intervals: an entry survives two
	// lost or late refreshes.
	TTLIntervals = 3
)

// Config configures one node's registry.
type Config struct {
	// Host is the node's key, network, transport, verifier, clock and
	// logger, the same Host the cell runtime gets.
	Host cell.Host
	// Interval is how often the node signs and broadcasts its entry.
	Interval time.Duration
	// TTL is the lifetime of the node's own entries (default 3 Intervals).
	// A dead node leaves every answer within TTL of its death.
	TTL time.Duration
	// Policy is what this node accepts from others; MaxTTL defaults to the
	// larger of DefaultMaxTTL and TTL.
	Policy Policy
	// MaxEntries bounds the table (nodes held).
	MaxEntries int
	// Addrs returns the UDP endpoints to publish; default the transport's
	// listening address (which must then be a specific IP, not 0.0.0.0).
	Addrs func() []string
	// Cells returns the cell types this node runs; default just the
	// registry itself.
	Cells func() []CellRef
	// Load returns the node's load in 0..1; default 0.
	Load func() float64
	// Reach returns the node's reachability as NAT detection (node/relay)
	// found it; default ReachUnknown. Addrs should then return the
	// observed public address (ReachPublic) or the relayed address
	// (ReachNAT), which is how others reach the node.
	Reach func() Reachability
	// Registerer receives the registry's metrics; nil disables them.
	Registerer prometheus.Registerer
	// Tree tunes the registry cell's PeerTree (passed to cell.Type).
	Tree peertree.Config
	// CallTimeout bounds one catch-up request (default 10 s).
	CallTimeout time.Duration
}

// Registry is one node's registry cell: its table of verified entries,
// the publisher of its own entry, and the receptor that answers lookups.
type Registry struct {
	cfg    Config
	log    *slog.Logger
	tab    *table
	m      *metrics
	client *cell.Client

	rt   atomic.Pointer[cell.Runtime]
	view atomic.Pointer[cell.View]
	self atomic.Pointer[Entry]
	wake chan struct{}

	accepted atomic.Int64
	refMu    sync.Mutex
	refused  map[string]int64
	lastSync atomic.Int64 // network ms of the last complete catch-up

	seq      uint64 // loop goroutine only
	synced   string // tree ID the table was last caught up in; loop only
	attached atomic.Bool
	cancel   context.CancelFunc
	done     chan struct{}
	stop     sync.Once
}

// New checks cfg and builds a registry; Attach starts it on a runtime.
func New(cfg Config) (*Registry, error) {
	h := cfg.Host
	if len(h.Key) != ed25519.PrivateKeySize || h.Transport == nil || h.Verifier == nil || h.Now == nil || h.Network == "" {
		return nil, errors.New("registry: Host needs Key, Network, Transport, Verifier and Now")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.TTL <= 0 {
		cfg.TTL = TTLIntervals * cfg.Interval
	}
	if cfg.TTL <= cfg.Interval {
		return nil, fmt.Errorf("registry: TTL %v must exceed Interval %v, or live nodes flicker out", cfg.TTL, cfg.Interval)
	}
	if cfg.Policy.MaxTTL <= 0 {
		cfg.Policy.MaxTTL = max(DefaultMaxTTL, cfg.TTL)
	}
	if cfg.TTL > cfg.Policy.MaxTTL {
		return nil, fmt.Errorf("registry: TTL %v exceeds the accepted MaxTTL %v", cfg.TTL, cfg.Policy.MaxTTL)
	}
	cfg.Policy = cfg.Policy.withDefaults()
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.Addrs == nil {
		// Read on every publish: NAT detection may advertise another
		// address (transport.SetAdvertised) after the registry started.
		tr := h.Transport
		cfg.Addrs = func() []string { return []string{advertised(tr.Addr().String())} }
	}
	if cfg.Reach == nil {
		cfg.Reach = func() Reachability { return ReachUnknown }
	}
	if cfg.Cells == nil {
		cfg.Cells = func() []CellRef { return []CellRef{{Name: DNA.Name, Version: DNA.Version}} }
	}
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("registry: metrics: %w", err)
	}
	return &Registry{
		cfg: cfg, log: log.With("cell", CellName), tab: newTable(cfg.MaxEntries), m: m,
		client:  &cell.Client{Transport: h.Transport, Key: h.Key, Network: h.Network, Verifier: h.Verifier, Now: h.Now},
		wake:    make(chan struct{}, 1),
		refused: map[string]int64{},
		done:    make(chan struct{}),
	}, nil
}

// Type is the registry cell type to pass to cell.Start.
func (r *Registry) Type() cell.Type {
	return cell.Type{
		DNA: DNA,
		Receptor: map[string]cell.ReceptorFunc{
			KindLookup: r.handleLookup,
			KindDump:   r.handleDump,
			KindSelf:   r.handleSelf,
		},
		MaxRequest:  MaxEntrySize + 1024, // an announce carries a whole entry
		OnBroadcast: r.onBroadcast,
		OnView:      r.onView,
		Status:      func() any { return r.Status() },
		Tree:        r.cfg.Tree,
	}
}

// Attach starts publishing through rt, the runtime started with Type().
func (r *Registry) Attach(rt *cell.Runtime) error {
	if !r.attached.CompareAndSwap(false, true) {
		return errors.New("registry: already attached")
	}
	r.rt.Store(rt)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.loop(ctx)
	return nil
}

// Start is New, cell.Start and Attach in one.
func Start(cfg Config, opts cell.Options) (*Registry, *cell.Runtime, error) {
	r, err := New(cfg)
	if err != nil {
		return nil, nil, err
	}
	rt, err := cell.Start(cfg.Host, r.Type(), opts)
	if err != nil {
		return nil, nil, err
	}
	if err := r.Attach(rt); err != nil {
		rt.Close()
		return nil, nil, err
	}
	return r, rt, nil
}

// Close stops publishing; the runtime is closed by its owner.
func (r *Registry) Close() {
	r.stop.Do(func() {
		if r.cancel != nil {
			r.cancel()
			<-r.done
		}
	})
}

// Lookup returns up to limit live entries of nodes serving cell, best first.
func (r *Registry) Lookup(cellName string, limit int) []*Entry {
	return r.tab.lookup(cellName, limit, r.cfg.Host.Now())
}

// Get returns the entry held for a node, or nil.
func (r *Registry) Get(node ed25519.PublicKey) *Entry {
	if len(node) != ed25519.PublicKeySize {
		return nil
	}
	e := r.tab.get(nodeKey(node))
	if e == nil || e.ExpiresAt <= r.cfg.Host.Now() {
		return nil
	}
	return e
}

// Self returns this node's latest signed entry, nil before the first.
func (r *Registry) Self() *Entry { return r.self.Load() }

// Accept verifies signed entry bytes from any source and stores them if
// they are the newest of their node. ErrDuplicate means it was held already.
func (r *Registry) Accept(raw []byte) error {
	now := r.cfg.Host.Now()
	e, err := Verify(raw, r.cfg.Host.Network, now, r.cfg.Policy)
	return r.ingest(e, err, now)
}

// Forget drops a node confirmed dead (for instance by the cell's tree),
// without waiting for its entry to expire; replays of the entry held are
// refused until it would have expired. Its next genuine entry (a higher
// sequence) brings it back.
func (r *Registry) Forget(node ed25519.PublicKey) bool {
	if len(node) != ed25519.PublicKeySize {
		return false
	}
	if !r.tab.forget(nodeKey(node)) {
		return false
	}
	r.log.Info("node dropped before expiry", "node", hex.EncodeToString(node[:4]))
	if r.m != nil {
		r.m.expired.Inc()
		r.m.entries.Dec()
	}
	return true
}

// HandleTreeEvent drops a tree neighbour that the PeerTree core confirmed
// dead. Only this node drops it (others hold it until it expires): a
// confirmed death is the tree's verdict, not a claim we could forward.
func (r *Registry) HandleTreeEvent(e peertree.Event) {
	if e.Kind == peertree.EventDead {
		r.Forget(e.Peer[:])
	}
}

func (r *Registry) ingest(e *Entry, err error, now int64) error {
	if err == nil {
		err = r.tab.accept(e, now)
	}
	if err != nil {
		reason := Reason(err)
		r.refMu.Lock()
		r.refused[reason]++
		r.refMu.Unlock()
		if r.m != nil {
			r.m.refused.WithLabelValues(reason).Inc()
		}
		if !errors.Is(err, ErrDuplicate) && !errors.Is(err, ErrStale) {
			r.log.Debug("entry refused", "reason", reason, "err", err)
		}
		return err
	}
	r.accepted.Add(1)
	if r.m != nil {
		r.m.accepted.Inc()
	}
	return nil
}

func (r *Registry) onBroadcast(env *wire.Envelope) {
	now := r.cfg.Host.Now()
	e, err := Check(env, now, r.cfg.Policy)
	if err := r.ingest(e, err, now); errors.Is(err, ErrForged) {
		r.log.Warn("forged entry broadcast refused", "signer", hex.EncodeToString(env.Sender[:4]), "err", err)
	}
}

func (r *Registry) onView(v cell.View) {
	r.view.Store(&v)
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Registry) loop(ctx context.Context) {
	defer close(r.done)
	tick := time.NewTicker(r.cfg.Interval)
	defer tick.Stop()
	r.publish()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.sweep()
			r.catchUp(ctx)
			r.publish()
		case <-r.wake:
			// A new tree (joined, merged, rejoined): learn its table now
			// rather than over a TTL, and let it learn us now.
			if r.catchUp(ctx) {
				r.publish()
			}
		}
	}
}

func (r *Registry) sweep() {
	n := r.tab.sweep(r.cfg.Host.Now())
	if r.m != nil {
		r.m.expired.Add(float64(n))
	}
	r.updateGauge()
}

func (r *Registry) updateGauge() {
	if r.m != nil {
		total, _, _ := r.tab.status(r.cfg.Host.Now())
		r.m.entries.Set(float64(total))
	}
}

// publish signs and broadcasts a fresh entry about this node.
func (r *Registry) publish() {
	now := r.cfg.Host.Now()
	r.seq = max(r.seq+1, uint64(max(now, 1)))
	load := 0.0
	if r.cfg.Load != nil {
		load = r.cfg.Load()
	}
	if math.IsNaN(load) {
		load = 0
	}
	e, err := Seal(r.cfg.Host.Key, r.cfg.Host.Network, Entry{
		Addrs: r.cfg.Addrs(), Cells: r.cfg.Cells(), Reach: r.cfg.Reach(), Load: uint16(math.Round(min(max(load, 0), 1) * MaxLoad)),
		IssuedAt: now, Seq: r.seq, ExpiresAt: now + r.cfg.TTL.Milliseconds(),
	})
	if err != nil {
		r.log.Error("cannot sign own entry; this node stays out of the registry", "err", err)
		return
	}
	r.self.Store(e)
	_ = r.ingest(e, nil, now)
	if v := r.view.Load(); v == nil || v.Position < 1 {
		return // not in a tree yet: joining triggers a publish
	}
	env, err := wire.Decode(e.raw, MaxEntrySize)
	if err == nil {
		err = r.rt.Load().BroadcastEnvelope(env)
	}
	if err != nil {
		r.log.Warn("broadcast own entry", "err", err)
		return
	}
	if r.m != nil {
		r.m.published.Inc()
	}
	r.updateGauge()
}

// catchUp fetches the full table from a tree neighbour once per tree the
// node finds itself in, and reports whether it did.
func (r *Registry) catchUp(ctx context.Context) bool {
	v := r.view.Load()
	if v == nil || v.TreeID == "" || v.TreeID == r.synced || v.Position < 1 {
		return false
	}
	if v.Size <= 1 {
		r.synced = v.TreeID // alone: nothing to learn, others will ask us
		return true
	}
	var peers []cell.Endpoint
	if v.Parent.Key != "" {
		peers = append(peers, v.Parent)
	}
	peers = append(peers, v.Children...)
	for _, p := range peers {
		key, err := hex.DecodeString(p.Key)
		if err != nil || len(key) != ed25519.PublicKeySize {
			continue
		}
		n, err := r.syncFrom(ctx, cell.Target{Key: key, Addr: p.Addr})
		if err != nil {
			r.syncResult("error")
			r.log.Info("catch-up failed; trying the next neighbour", "from", p.Addr, "err", err)
			continue
		}
		r.syncResult("ok")
		r.synced = v.TreeID
		r.lastSync.Store(r.cfg.Host.Now())
		r.log.Debug("caught up", "from", p.Addr, "entries", n)
		return true
	}
	return false
}

func (r *Registry) syncResult(res string) {
	if r.m != nil {
		r.m.syncs.WithLabelValues(res).Inc()
	}
}

// syncFrom pages through t's dump, verifying and storing every entry.
func (r *Registry) syncFrom(ctx context.Context, t cell.Target) (int, error) {
	var after []byte
	n := 0
	for pages := 0; pages <= r.cfg.MaxEntries/MaxDumpLimit+1; pages++ {
		cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
		start := time.Now()
		items, next, err := dumpPage(cctx, r.client, t, after, MaxDumpLimit)
		cancel()
		if err != nil {
			return n, err
		}
		rtt := time.Since(start)
		now := r.cfg.Host.Now()
		for _, it := range items {
			e, err := Verify(it.Entry, r.cfg.Host.Network, now, r.cfg.Policy)
			if r.ingest(e, err, now) == nil {
				n++
			}
		}
		r.tab.observeRTT(nodeKey(t.Key), rtt)
		if next == nil {
			r.updateGauge()
			return n, nil
		}
		after = next
	}
	return n, errors.New("registry: dump did not end")
}

// Status is the registry's monitor section.
type Status struct {
	Entries    int                   `json:"entries"`
	Tombstones int                   `json:"tombstones"`
	Cells      map[string]CellStatus `json:"cells"`
	SelfSeq    uint64                `json:"self_seq"`
	Accepted   int64                 `json:"accepted"`
	Refused    map[string]int64      `json:"refused"`
	LastSync   int64                 `json:"last_sync_ms"`
	Interval   string                `json:"interval"`
	TTL        string                `json:"ttl"`
}

// Status returns the monitor section.
func (r *Registry) Status() Status {
	total, tombs, cells := r.tab.status(r.cfg.Host.Now())
	st := Status{Entries: total, Tombstones: tombs, Cells: cells, Accepted: r.accepted.Load(),
		LastSync: r.lastSync.Load(), Interval: r.cfg.Interval.String(), TTL: r.cfg.TTL.String(), Refused: map[string]int64{}}
	if e := r.self.Load(); e != nil {
		st.SelfSeq = e.Seq
	}
	r.refMu.Lock()
	for k, v := range r.refused {
		st.Refused[k] = v
	}
	r.refMu.Unlock()
	return st
}

// advertised turns a wildcard listening address (0.0.0.0:7446) into one
// others can send to, using the source address the system would pick for
// an outside destination (a UDP "connect" sends no packet). Nodes behind
// NAT or with several interfaces should set Config.Addrs instead.
func advertised(listen string) string {
	ap, err := netip.ParseAddrPort(listen)
	if err != nil || !ap.Addr().IsUnspecified() {
		return listen
	}
	probe := "192.0.2.1:9" // TEST-NET-1: never routed, nothing is sent
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		probe = "[2001:db8::1]:9"
	}
	c, err := net.Dial("udp", probe)
	if err != nil {
		return listen
	}
	defer c.Close()
	local, ok := c.LocalAddr().(*net.UDPAddr)
	if !ok {
		return listen
	}
	ip, _ := netip.AddrFromSlice(local.IP)
	return netip.AddrPortFrom(ip.Unmap(), ap.Port()).String()
}
