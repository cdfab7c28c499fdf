package shard

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/wire"
)

// DNA is the shard cell type.
var DNA = cell.DNA{Name: "shard", MaxChildren: 10, Protocol: "shard/1", Version: 1}

// Defaults for zero Config fields.
const (
	DefaultQuota         = 10 << 30
	DefaultScrubInterval = time.Hour
	DefaultDeleteWindow  = 10 * time.Minute
	DefaultCallTimeout   = 20 * time.Second
	// maxRequest fits a store request: a full shard, its grant, and the
	// envelope and CBOR around them.
	maxRequest = MaxShardSize + MaxAuthSize + 4096
)

// Config configures one node's shard cell.
type Config struct {
	// Host is the node's key, network, transport, verifier and clock.
	Host cell.Host
	// Dir holds the blobs and the index (e.g. <data-dir>/shard).
	Dir string
	// Members is the membership view (RegistryMembers on a node).
	Members Membership
	// K is the number of holders per shard (default 3).
	K int
	// Quota bounds each owner's bytes on this node (default 10 GiB).
	Quota int64
	// Capacity bounds all bytes on this node (0: unlimited).
	Capacity int64
	// ScrubInterval is the pause between two scrub passes over every shard
	// held here (default 1 h). The repair bound: a copy lost with its node
	// is back at k within the registry TTL (the dead node leaves the view)
	// plus one ScrubInterval plus one pass; a copy lost or corrupted on a
	// live node within one ScrubInterval plus one pass. Reads repair at
	// once.
	ScrubInterval time.Duration
	// DeleteWindow is how far a delete's time may lie from network time
	// (default 10 min); delete nonces are remembered twice that long.
	DeleteWindow time.Duration
	// CallTimeout bounds one request to another holder.
	CallTimeout time.Duration
	// Registerer receives the cell's metrics; nil disables them.
	Registerer prometheus.Registerer
	// MaxReads bounds the shard reads this node serves at once (bulk
	// streams and receptor reads together); a read beyond it is answered
	// "busy" with another holder of the shard to try. 0: unlimited.
	MaxReads int
	// ReadHook, if set, wraps every read of a held shard (bulk and
	// receptor): for accounting, throttling, or a test's fault injection.
	ReadHook func(next ReadFunc) ReadFunc
	// OnAudit, if set, is called after each storage challenge the scrub
	// puts to a co-holder (the ledger's storage rewards). It runs on the
	// scrub's goroutines and must not block.
	OnAudit func(AuditEvent)
}

// ReadFunc reads a held shard's bytes, appending them to buf.
type ReadFunc func(ctx context.Context, id ID, buf []byte) ([]byte, error)

// AuditEvent is one storage challenge put to a co-holder by the scrub.
type AuditEvent struct {
	// Holder is the challenged node.
	Holder ed25519.PublicKey
	Shard  ID
	// Size is the shard's size in bytes.
	Size int64
	// Passed: the holder's proof matched. An unreachable holder or a "not
	// held" answer fails, with Observed zero.
	Passed bool
	// Expected is the proof the auditor computed from its own verified
	// copy; Observed the one the holder answered.
	Expected, Observed [32]byte
	// Period is the scrub pass number on this node (1, 2, ...); a repair
	// between passes carries the number of the last pass started.
	Period uint64
}

// Cell is one node's shard cell: the holder store, the receptor serving
// store/read/delete/has/prove, and the scrub that audits and repairs.
type Cell struct {
	cfg    Config
	log    *slog.Logger
	store  *Store
	client *cell.Client
	self   ed25519.PublicKey
	m      *metrics

	rt       atomic.Pointer[cell.Runtime]
	attached atomic.Bool
	kick     chan struct{}
	repairQ  chan ID
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stop     sync.Once

	lastPass atomic.Pointer[ScrubReport]
	pass     atomic.Uint64 // scrub passes started

	read  ReadFunc
	reads atomic.Int64  // reads being served now
	turn  atomic.Uint64 // round robin over redirect targets
}

// New opens the store in cfg.Dir; Attach starts the scrub.
func New(cfg Config) (*Cell, error) {
	h := cfg.Host
	if len(h.Key) != ed25519.PrivateKeySize || h.Transport == nil || h.Verifier == nil || h.Now == nil || h.Network == "" {
		return nil, errors.New("shard: Host needs Key, Network, Transport, Verifier and Now")
	}
	if cfg.Dir == "" || cfg.Members == nil {
		return nil, errors.New("shard: Dir and Members are required")
	}
	if cfg.K <= 0 {
		cfg.K = DefaultK
	}
	if cfg.Quota <= 0 {
		cfg.Quota = DefaultQuota
	}
	if cfg.ScrubInterval <= 0 {
		cfg.ScrubInterval = DefaultScrubInterval
	}
	if cfg.DeleteWindow <= 0 {
		cfg.DeleteWindow = DefaultDeleteWindow
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	st, err := OpenStore(cfg.Dir, cfg.Quota, cfg.Capacity)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("shard: metrics: %w", err)
	}
	c := &Cell{
		cfg: cfg, log: log.With("cell", DNA.Name), store: st, m: m,
		client:  &cell.Client{Transport: h.Transport, Key: h.Key, Network: h.Network, Verifier: h.Verifier, Now: h.Now},
		self:    h.Key.Public().(ed25519.PublicKey),
		kick:    make(chan struct{}, 1),
		repairQ: make(chan ID, 1024),
	}
	c.read = func(_ context.Context, id ID, buf []byte) ([]byte, error) { return c.store.ReadTo(id, buf) }
	if cfg.ReadHook != nil {
		c.read = cfg.ReadHook(c.read)
	}
	return c, nil
}

// Type is the shard cell type to pass to cell.Start.
func (c *Cell) Type() cell.Type {
	return cell.Type{
		DNA: DNA,
		Receptor: map[string]cell.ReceptorFunc{
			KindStore:  c.handleStore,
			KindRead:   c.handleRead,
			KindDelete: c.handleDelete,
			KindHas:    c.handleHas,
			KindProve:  c.handleProve,
		},
		MaxRequest: maxRequest,
		Status:     func() any { return c.Status() },
	}
}

// Attach starts the scrub on rt, the runtime started with Type().
func (c *Cell) Attach(rt *cell.Runtime) error {
	if !c.attached.CompareAndSwap(false, true) {
		return errors.New("shard: already attached")
	}
	c.rt.Store(rt)
	c.cfg.Host.Transport.HandleStream(BulkProtocol, c.serveBulk)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(2)
	go c.scrubLoop(ctx)
	go c.repairLoop(ctx)
	return nil
}

// Close stops the scrub and closes the store; the runtime is its owner's.
func (c *Cell) Close() {
	c.stop.Do(func() {
		if c.attached.Load() {
			c.cfg.Host.Transport.HandleStream(BulkProtocol, nil)
		}
		if c.cancel != nil {
			c.cancel()
		}
		c.wg.Wait()
		c.store.Close()
	})
}

// Store is the cell's holder store.
func (c *Cell) Store() *Store { return c.store }

// ScrubNow asks the scrub loop for a pass at once.
func (c *Cell) ScrubNow() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *Cell) handleStore(_ context.Context, req *cell.Request) ([]byte, error) {
	r, err := decodeStore(req.Env.Payload)
	if err != nil {
		return nil, cell.Errorf(cell.CodeBadRequest, "%v", err)
	}
	a, err := VerifyAuth(r.Grant, c.cfg.Host.Network)
	if err != nil {
		return nil, c.authError(err, CodeForgedGrant)
	}
	if a.Kind != AuthStore {
		return nil, cell.Errorf(cell.CodeBadRequest, "a %d auth is not a store grant", a.Kind)
	}
	if err := c.store.Put(a, r.Data); err != nil {
		return nil, c.storeError(err)
	}
	c.m.stored.Inc()
	return nil, nil
}

func (c *Cell) handleRead(ctx context.Context, req *cell.Request) ([]byte, error) {
	id, err := decodeID(req.Env.Payload)
	if err != nil {
		return nil, cell.Errorf(cell.CodeBadRequest, "%v", err)
	}
	if !c.acquireRead() {
		return nil, cell.Errorf(CodeBusy, "at capacity; try another holder")
	}
	defer c.releaseRead()
	data, err := c.read(ctx, id, nil)
	if err != nil {
		if errors.Is(err, ErrBusy) {
			return nil, cell.Errorf(CodeBusy, "at capacity; try another holder")
		}
		if errors.Is(err, ErrCorrupt) {
			c.corrupt(id)
		}
		return nil, c.storeError(err)
	}
	in, _ := c.store.Info(id)
	ans := readAnswer{Data: data}
	if len(in.Grants) > 0 {
		ans.Grant = in.Grants[0]
	}
	c.m.served.Inc()
	return wire.Marshal(ans)
}

func (c *Cell) handleHas(_ context.Context, req *cell.Request) ([]byte, error) {
	ids, err := decodeHas(req.Env.Payload)
	if err != nil {
		return nil, cell.Errorf(cell.CodeBadRequest, "%v", err)
	}
	held := make([]bool, len(ids))
	for i, id := range ids {
		held[i] = c.store.Has(id)
	}
	return wire.Marshal(hasAnswer{Held: held})
}

func (c *Cell) handleProve(_ context.Context, req *cell.Request) ([]byte, error) {
	id, ch, err := decodeProve(req.Env.Payload)
	if err != nil {
		return nil, cell.Errorf(cell.CodeBadRequest, "%v", err)
	}
	data, err := c.store.Get(id)
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			c.corrupt(id)
		}
		return nil, c.storeError(err)
	}
	p := Prove(ch, id, data)
	return wire.Marshal(proveAnswer{Proof: p[:]})
}

func (c *Cell) handleDelete(_ context.Context, req *cell.Request) ([]byte, error) {
	raw, err := decodeDelete(req.Env.Payload)
	if err != nil {
		return nil, cell.Errorf(cell.CodeBadRequest, "%v", err)
	}
	a, err := VerifyAuth(raw, c.cfg.Host.Network)
	if err != nil {
		return nil, c.authError(err, CodeForgedDelete)
	}
	if err := c.store.Delete(a, c.cfg.Host.Now(), c.cfg.DeleteWindow); err != nil {
		return nil, c.storeError(err)
	}
	c.m.deleted.Inc()
	return nil, nil
}

func (c *Cell) authError(err error, forged cell.Code) error {
	if errors.Is(err, ErrBadSignature) {
		c.m.refused.WithLabelValues(string(forged)).Inc()
		return cell.Errorf(forged, "%v", err)
	}
	c.m.refused.WithLabelValues(string(cell.CodeBadRequest)).Inc()
	return cell.Errorf(cell.CodeBadRequest, "%v", err)
}

func (c *Cell) storeError(err error) error {
	code := cell.CodeInternal
	for _, e := range []struct {
		err  error
		code cell.Code
	}{
		{ErrNotFound, cell.CodeNotFound}, {ErrCorrupt, CodeCorrupt}, {ErrQuota, CodeQuota}, {ErrFull, CodeFull},
		{ErrRevoked, CodeRevoked}, {ErrReplayedDelete, CodeReplayedDelete}, {ErrStaleDelete, CodeStaleDelete},
		{ErrHashMismatch, CodeHashMismatch}, {ErrWrongKind, cell.CodeBadRequest},
	} {
		if errors.Is(err, e.err) {
			code = e.code
			break
		}
	}
	if code == cell.CodeInternal {
		c.log.Error("shard store failed", "err", err)
		return cell.Errorf(code, "the node could not store this shard; try another node")
	}
	if code != cell.CodeNotFound {
		c.m.refused.WithLabelValues(string(code)).Inc()
	}
	return cell.Errorf(code, "%v", err)
}

// corrupt notes a local copy that failed its check and queues its repair.
func (c *Cell) corrupt(id ID) {
	c.m.corrupt.Inc()
	c.log.Warn("local shard copy corrupt; dropped, fetching a good copy", "shard", id.Short())
	select {
	case c.repairQ <- id:
	default:
	}
}

func (c *Cell) target(m Member) cell.Target { return cell.Target{Key: m.Key, Addr: m.Addr} }

func (c *Cell) call(ctx context.Context, m Member, kind string, v any) ([]byte, error) {
	payload, err := wire.Marshal(v)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	return c.client.Call(ctx, c.target(m), DNA, kind, payload)
}

// Status is the cell's monitor section.
type Status struct {
	Shards    int          `json:"shards"`
	Missing   int          `json:"missing"`
	Bytes     int64        `json:"bytes"`
	LastScrub *ScrubReport `json:"last_scrub,omitempty"`
}

// Status returns the monitor section.
func (c *Cell) Status() Status {
	var st Status
	for _, in := range c.store.List() {
		st.Shards++
		st.Bytes += int64(in.Size)
		if in.Missing {
			st.Missing++
		}
	}
	st.LastScrub = c.lastPass.Load()
	return st
}
