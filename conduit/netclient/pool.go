package netclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/transport"
)

// Defaults for Config's zero values.
const (
	DefaultRefreshInterval = 10 * time.Second
	DefaultMinTimeout      = 3 * time.Second
	DefaultMaxTimeout      = 20 * time.Second
	DefaultSlowFactor      = 10
	DefaultProbeTimeout    = 10 * time.Second
	DefaultCooldown        = 15 * time.Second
	DefaultMaxAttempts     = 4
)

// registriesAsked is how many registry nodes a refresh takes the union of:
// one that has just rejoined its tree lists too few, and every entry is
// verified and signed by the node it describes, so the union only adds
// genuine live nodes.
const registriesAsked = 3

// downAfter consecutive failures take an endpoint out of rotation until
// its cooldown passes or a refresh hears from it again.
const downAfter = 2

// Config configures a Pool.
type Config struct {
	// Network is the network ID every envelope carries (default
	// node.DefaultNetwork).
	Network string
	// Bootstrap are the contacts tried first (--peers KEY@HOST:PORT).
	Bootstrap []node.Contact
	// Listen is the UDP address of the pool's own transport (default
	// "0.0.0.0:0"; tests use "127.0.0.1:0").
	Listen string
	// DataDir is where an embedded node keeps its state when no bootstrap
	// contact answers; empty disables the embedded node.
	DataDir string
	// EmbeddedListen is the embedded node's UDP address (default
	// "127.0.0.1:0": a one-stick network serves only this computer).
	EmbeddedListen string
	// Embedded tunes the embedded node beyond DataDir, Listen and Network
	// (heartbeat, cells, logger); nil uses node defaults.
	Embedded *node.Config
	// RefreshInterval is how often the registry is asked again.
	RefreshInterval time.Duration
	// MinTimeout and MaxTimeout bound one attempt's deadline; in between
	// it is SlowFactor times the endpoint's latency average.
	MinTimeout, MaxTimeout time.Duration
	SlowFactor             int
	// ProbeTimeout bounds the first contact with the bootstrap nodes.
	ProbeTimeout time.Duration
	// Cooldown is how long a failing endpoint stays out of rotation.
	Cooldown time.Duration
	// MaxAttempts bounds the endpoints one Do tries.
	MaxAttempts int
	// Now is this computer's clock in Unix ms (default time.Now). The
	// pool's own time (Pool.Now) starts from it and follows the nodes
	// once two of them agree that it is off; see doc.go.
	Now    func() int64
	Logger *slog.Logger
}

// Pool keeps the live endpoints of each cell type and sends calls to the
// best of them. It is safe for concurrent use.
type Pool struct {
	cfg      Config
	log      *slog.Logger
	tr       *transport.Transport
	verifier *swapVerifier
	start    time.Time // the monotonic origin of keeper
	keeper   *timeKeeper
	local    func() int64 // this computer's clock, ms
	anon     *cell.Client // signs infrastructure lookups with the transport's random key
	embedded *node.Node
	traffic  *traffic

	mu    sync.Mutex
	clock *ClockOffset         // last measurement, nil before the first
	votes map[string]clockVote // each node's latest word on the time
	syncs uint64               // clock bootstraps run
	// lastClockSync is when the last bootstrap ran, lastClockKick when a
	// refusal outside DoAt last asked the background loop for one.
	lastClockSync, lastClockKick time.Time
	endpoints                    map[string]*endpoint // by node key
	lastSync                     time.Time
	lastErr                      string

	syncMu     sync.Mutex // one clock bootstrap at a time
	refreshNow chan struct{}
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	closeOnce  sync.Once
}

// endpoint is one node as the pool sees it.
type endpoint struct {
	target    cell.Target
	cells     map[string]bool
	bootstrap bool
	ewma      time.Duration // 0 until the first answer
	fails     int           // consecutive failures
	errs      int64
	oks       int64
	downUntil time.Time
	lastErr   string
}

// New binds the pool's transport (with its own random key), contacts the
// bootstrap nodes and, if none answers within ProbeTimeout (or none was
// given), starts the embedded node. The pool refreshes in the background
// until Close.
func New(ctx context.Context, cfg Config) (*Pool, error) {
	if cfg.Network == "" {
		cfg.Network = node.DefaultNetwork
	}
	if cfg.Listen == "" {
		cfg.Listen = "0.0.0.0:0"
	}
	if cfg.EmbeddedListen == "" {
		cfg.EmbeddedListen = "127.0.0.1:0"
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.MinTimeout <= 0 {
		cfg.MinTimeout = DefaultMinTimeout
	}
	if cfg.MaxTimeout < cfg.MinTimeout {
		cfg.MaxTimeout = max(DefaultMaxTimeout, cfg.MinTimeout)
	}
	if cfg.SlowFactor <= 0 {
		cfg.SlowFactor = DefaultSlowFactor
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = DefaultProbeTimeout
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = DefaultCooldown
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	start := time.Now()
	base := start.UnixNano()
	if cfg.Now != nil {
		base = cfg.Now() * 1e6
	} else {
		cfg.Now = func() int64 { return time.Now().UnixMilli() }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("netclient: transport key: %w", err)
	}
	tr, err := transport.Listen(transport.Config{Key: key, ListenAddr: cfg.Listen, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("netclient: %w", err)
	}
	p := &Pool{
		cfg: cfg, log: cfg.Logger, tr: tr,
		start: start, keeper: newTimeKeeper(base), local: cfg.Now,
		votes:      map[string]clockVote{},
		endpoints:  map[string]*endpoint{},
		refreshNow: make(chan struct{}, 1),
		traffic:    newTraffic(),
	}
	p.verifier = newSwapVerifier(cfg.Network, p.Now)
	p.anon = p.Client(key)
	for _, c := range cfg.Bootstrap {
		p.endpoints[string(c.Key)] = &endpoint{
			target: cell.Target{Key: c.Key, Addr: c.Addr}, bootstrap: true,
			cells: map[string]bool{registry.DNA.Name: true},
		}
	}
	if len(cfg.Bootstrap) > 0 {
		pctx, cancel := context.WithTimeout(ctx, cfg.ProbeTimeout)
		err = p.Refresh(pctx)
		cancel()
	}
	if len(cfg.Bootstrap) == 0 || err != nil {
		if cfg.DataDir == "" {
			if len(cfg.Bootstrap) == 0 {
				tr.Close()
				return nil, ErrUnreachable
			}
			// Keep trying the contacts in the background: the network may
			// come back (a laptop that wakes up without Wi-Fi).
			p.log.Warn("no bootstrap node answered; retrying in the background", "err", err)
		} else {
			if len(cfg.Bootstrap) > 0 {
				p.log.Warn("no bootstrap node answered; starting the embedded node", "err", err)
			}
			if err := p.startEmbedded(ctx); err != nil {
				tr.Close()
				return nil, err
			}
		}
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	p.wg.Add(2)
	go p.refreshLoop(bg)
	go p.rateLoop(bg)
	return p, nil
}

// startEmbedded runs a node in this process and makes it the only endpoint.
func (p *Pool) startEmbedded(ctx context.Context) error {
	var ncfg node.Config
	if p.cfg.Embedded != nil {
		ncfg = *p.cfg.Embedded
	}
	ncfg.DataDir, ncfg.Listen, ncfg.Network = p.cfg.DataDir, p.cfg.EmbeddedListen, p.cfg.Network
	if ncfg.Logger == nil {
		ncfg.Logger = p.log
	}
	n, err := node.Start(ctx, ncfg)
	if err != nil {
		return fmt.Errorf("netclient: embedded node: %w", err)
	}
	p.embedded = n
	c := n.Contact()
	p.mu.Lock()
	p.endpoints = map[string]*endpoint{string(c.Key): {
		target: cell.Target{Key: c.Key, Addr: c.Addr}, bootstrap: true,
		cells: map[string]bool{registry.DNA.Name: true},
	}}
	p.mu.Unlock()
	// Learn which cells it serves now rather than at the first tick. Its
	// registry may need a moment to publish its own entry, so a failure
	// here is only logged; the background refresh keeps trying.
	rctx, cancel := context.WithTimeout(ctx, p.cfg.ProbeTimeout)
	defer cancel()
	if err := p.Refresh(rctx); err != nil {
		p.log.Debug("embedded node: first refresh", "err", err)
	}
	return nil
}

// Embedded is the in-process node, or nil when the pool reaches remote
// nodes.
func (p *Pool) Embedded() *node.Node { return p.embedded }

// Network is the network ID the pool's envelopes carry.
func (p *Pool) Network() string { return p.cfg.Network }

// Client returns a client that signs with key (the person's account key)
// over the pool's transport, whose own random key only secures the
// connections. Answers are verified against the pool's one replay guard.
func (p *Pool) Client(key ed25519.PrivateKey) *cell.Client {
	return &cell.Client{
		Transport: p.tr, Key: key, Network: p.cfg.Network, Verifier: p.verifier, Now: p.Now,
		Meter: p.traffic, OnClockError: p.onClockError,
	}
}

// Close stops the refresh, the transport and the embedded node.
func (p *Pool) Close() error {
	var errs []error
	p.closeOnce.Do(func() {
		p.cancel()
		p.wg.Wait()
		if err := p.tr.Close(); err != nil {
			errs = append(errs, err)
		}
		if p.embedded != nil {
			if err := p.embedded.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

func (p *Pool) refreshLoop(ctx context.Context) {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.refreshNow:
		}
		rctx, cancel := context.WithTimeout(ctx, p.cfg.MaxTimeout)
		if err := p.Refresh(rctx); err != nil && ctx.Err() == nil {
			p.log.Debug("endpoint refresh", "err", err)
		}
		// The offset to network time is shown on the Network page; once
		// per refresh keeps it current at the cost of a few tiny requests.
		if _, err := p.MeasureClock(rctx); err != nil && ctx.Err() == nil {
			p.log.Debug("clock offset", "err", err)
		}
		cancel()
	}
}

// rateLoop turns the byte counts into per-node rates once a second.
func (p *Pool) rateLoop(ctx context.Context) {
	defer p.wg.Done()
	t := time.NewTicker(rateInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			p.traffic.sample(now)
		}
	}
}

// kick asks the background loop for a refresh soon, without waiting.
func (p *Pool) kick() {
	select {
	case p.refreshNow <- struct{}{}:
	default:
	}
}

// Refresh asks up to three registry endpoints (best first, through the
// same failover as Do) for their verified tables and replaces the pool's
// view with the union. Bootstrap contacts stay as registry candidates even
// when no registry lists them, so the pool can always start over.
func (p *Pool) Refresh(ctx context.Context) error {
	var (
		entries []registry.Entry
		asked   int
		errs    []error
		tried   = map[string]bool{}
	)
	for asked < registriesAsked {
		cands := p.candidates(registry.DNA.Name, tried)
		if len(cands) == 0 {
			break
		}
		t := cands[0]
		tried[string(t.Key)] = true
		err := p.DoAt(ctx, t, func(ctx context.Context, t cell.Target) error {
			es, err := registry.Dump(ctx, p.anon, t)
			if err == nil {
				entries = append(entries, es...)
			}
			return err
		})
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		asked++
	}
	if asked == 0 {
		err := fmt.Errorf("netclient: refresh: %w", errors.Join(append([]error{ErrAllFailed}, errs...)...))
		p.mu.Lock()
		p.lastErr = err.Error()
		p.mu.Unlock()
		return err
	}
	p.merge(entries)
	return nil
}

// merge replaces the registry-derived view with entries, keeping the
// scores of endpoints already known.
func (p *Pool) merge(entries []registry.Entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := map[string]*endpoint{}
	for _, e := range entries {
		if len(e.Addrs) == 0 || len(e.Node) != ed25519.PublicKeySize {
			continue
		}
		k := string(e.Node)
		ep := next[k]
		if ep == nil {
			ep = p.endpoints[k]
			if ep == nil {
				ep = &endpoint{target: cell.Target{Key: e.Node, Addr: e.Addrs[0]}}
			}
			ep.cells = map[string]bool{}
			next[k] = ep
		}
		// A node that moved (new port after a restart) keeps its key;
		// the newest entry wins.
		ep.target.Addr = e.Addrs[0]
		for _, c := range e.Cells {
			ep.cells[c.Name] = true
		}
	}
	for k, ep := range p.endpoints {
		if ep.bootstrap && next[k] == nil {
			ep.cells = map[string]bool{registry.DNA.Name: true}
			next[k] = ep
		}
		if ep.bootstrap && next[k] != nil {
			next[k].bootstrap = true
		}
	}
	p.endpoints = next
	p.lastSync = time.Now()
	p.lastErr = ""
}

// candidates returns the endpoints serving cellName, best first, skipping
// those in skip. Endpoints that are down come last, so a call still has
// somewhere to go when everything is failing.
func (p *Pool) candidates(cellName string, skip map[string]bool) []cell.Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	var eps []*endpoint
	for k, ep := range p.endpoints {
		if ep.cells[cellName] && !skip[k] {
			eps = append(eps, ep)
		}
	}
	sort.Slice(eps, func(i, j int) bool {
		di, dj := eps[i].isDown(now), eps[j].isDown(now)
		if di != dj {
			return !di
		}
		si, sj := eps[i].score(), eps[j].score()
		if si != sj {
			return si < sj
		}
		return bytes.Compare(eps[i].target.Key, eps[j].target.Key) < 0
	})
	out := make([]cell.Target, len(eps))
	for i, ep := range eps {
		out[i] = ep.target
	}
	return out
}

// Endpoints returns the live (not down) endpoints serving cellName, best
// first.
func (p *Pool) Endpoints(cellName string) []cell.Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	var eps []*endpoint
	for _, ep := range p.endpoints {
		if ep.cells[cellName] && !ep.isDown(now) {
			eps = append(eps, ep)
		}
	}
	sort.Slice(eps, func(i, j int) bool { return bytes.Compare(eps[i].target.Key, eps[j].target.Key) < 0 })
	out := make([]cell.Target, len(eps))
	for i, ep := range eps {
		out[i] = ep.target
	}
	return out
}

// Best returns the endpoint Do would try first for cellName: the one "in
// use".
func (p *Pool) Best(cellName string) (cell.Target, bool) {
	c := p.candidates(cellName, nil)
	if len(c) == 0 {
		return cell.Target{}, false
	}
	return c[0], true
}

// unknownLatency ranks endpoints never measured behind measured fast ones
// but ahead of slow or failing ones.
const unknownLatency = 50 * time.Millisecond

// score is the expected cost of a call: the latency average, doubled per
// consecutive failure.
func (ep *endpoint) score() time.Duration {
	l := ep.ewma
	if l == 0 {
		l = unknownLatency
		if transport.IsRelayed(ep.target.Addr) {
			// Unmeasured and behind a relay: every call crosses the relay
			// too, so try direct nodes first. Once measured, the averaged
			// call time already includes the relay hop.
			l *= 2
		}
	}
	return l << min(ep.fails, 10)
}

func (ep *endpoint) isDown(now time.Time) bool { return now.Before(ep.downUntil) }

// timeout is one attempt's deadline at ep: SlowFactor times its average,
// clamped. An endpoint never measured gets the maximum.
func (p *Pool) timeout(t cell.Target) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	ep := p.endpoints[string(t.Key)]
	if ep == nil || ep.ewma == 0 {
		return p.cfg.MaxTimeout
	}
	return min(max(time.Duration(p.cfg.SlowFactor)*ep.ewma, p.cfg.MinTimeout), p.cfg.MaxTimeout)
}

// record updates t's score after a call that took d.
func (p *Pool) record(t cell.Target, d time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ep := p.endpoints[string(t.Key)]
	if ep == nil {
		// A holder placement chose that the registry view no longer has:
		// track it anyway so that a dead one is avoided.
		ep = &endpoint{target: t, cells: map[string]bool{}}
		p.endpoints[string(t.Key)] = ep
	}
	if err != nil && Retryable(err) {
		ep.errs++
		ep.fails++
		ep.lastErr = err.Error()
		if ep.fails >= downAfter {
			// Each failure after coming back doubles the time out of
			// rotation (capped): a dead node the registry still lists until
			// its entry expires costs one probe now and then, not a stall
			// every cooldown.
			ep.downUntil = time.Now().Add(min(p.cfg.Cooldown<<min(ep.fails-downAfter, 5), 5*time.Minute))
		}
		return
	}
	ep.oks++
	ep.fails = 0
	ep.downUntil = time.Time{}
	// EWMA with weight 1/4: a few calls move it, one outlier does not.
	if ep.ewma == 0 {
		ep.ewma = d
	} else {
		ep.ewma += (d - ep.ewma) / 4
	}
}

// DoAt runs f against t under t's score deadline and records the outcome.
// It is the building block of Do, and what callers use when they choose
// the node themselves (shard placement) but still want scoring and a dead
// node cut off early.
func (p *Pool) DoAt(ctx context.Context, t cell.Target, f func(context.Context, cell.Target) error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	gen := p.keeper.generation()
	p.mu.Lock()
	syncs := p.syncs
	p.mu.Unlock()
	attempt := func() (time.Time, bool, error) {
		actx, cancel := context.WithTimeout(ctx, p.timeout(t))
		defer cancel()
		start := time.Now()
		err := f(actx, t)
		return start, err != nil && actx.Err() != nil, err
	}
	start, cut, err := attempt()
	var ce *cell.ClockError
	if errors.As(err, &ce) && ctx.Err() == nil && p.fixClock(ctx, gen, syncs) {
		// The nodes agreed on a time other than ours and the clock moved
		// (or was already moved by another caller): once more, signed with
		// the new time.
		start, cut, err = attempt()
	}
	if err != nil && ctx.Err() != nil {
		// The caller gave up: says nothing about the endpoint.
		return err
	}
	if cut && !errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w (%w after %v)", err, context.DeadlineExceeded, time.Since(start).Round(time.Millisecond))
	}
	p.record(t, time.Since(start), err)
	return err
}

// Do runs the idempotent call f on the best endpoint serving cellName and,
// when it fails in a way another endpoint might not (see Retryable) or
// runs past the deadline its score allows, on the next best, up to
// MaxAttempts endpoints. It returns nil or the last error; when every
// attempt failed the error wraps ErrAllFailed.
func (p *Pool) Do(ctx context.Context, cellName string, f func(context.Context, cell.Target) error) error {
	tried := map[string]bool{}
	var errs []error
	for attempt := 0; attempt < p.cfg.MaxAttempts; attempt++ {
		cands := p.candidates(cellName, tried)
		if len(cands) == 0 {
			break
		}
		t := cands[0]
		tried[string(t.Key)] = true
		err := p.DoAt(ctx, t, f)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if !Retryable(err) {
			return err
		}
		errs = append(errs, fmt.Errorf("%s: %w", shortKey(t.Key), err))
	}
	if len(errs) == 0 {
		p.kick()
		return fmt.Errorf("%w %q", ErrNoEndpoints, cellName)
	}
	// Everything we knew failed: perhaps the view is stale.
	p.kick()
	return fmt.Errorf("netclient: %s: %w", cellName, errors.Join(append([]error{ErrAllFailed}, errs...)...))
}

func shortKey(k ed25519.PublicKey) string {
	if len(k) < 6 {
		return hex.EncodeToString(k)
	}
	return hex.EncodeToString(k[:6])
}
