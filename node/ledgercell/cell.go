package ledgercell

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/wire"
)

// DNA is the ledger cell type.
var DNA = cell.DNA{Name: "ledger", MaxChildren: 10, Protocol: "ledger/1", Version: 1}

// Config configures one node's ledger cell.
type Config struct {
	// Host is the node's key, network, transport, verifier, clock and
	// logger; the same Host the cell runtime gets.
	Host cell.Host
	// Genesis is the network's trust root; every node of a network must be
	// given the same one.
	Genesis *ledger.Genesis
	// DB is the node's open database; a witness keeps its votes in their
	// own buckets there. StorePath names a file of the witness's own
	// instead. One of them is required when Host.Key is a genesis witness;
	// other nodes use neither.
	DB        *bolt.DB
	StorePath string
	// Witnesses finds the witnesses' endpoints for the submit helper (the
	// node certifies a block on a client's behalf); nil disables submit.
	Witnesses func(ctx context.Context) ([]cell.Target, error)
	// Tree tunes the cell's PeerTree (passed to cell.Type).
	Tree peertree.Config
	// FlushInterval is how long new certificates wait to share one
	// broadcast (default 20 ms: every member checks every broadcast's
	// envelope, and witnesses already have the certificates from the
	// clients' pushes; only observers wait for it).
	FlushInterval time.Duration
	// SyncInterval is how often the node pulls certificates it may have
	// missed from a tree neighbour (default 30 s); joining a tree pulls at once.
	SyncInterval time.Duration
	// CallTimeout bounds one request to another node (default 10 s).
	CallTimeout time.Duration
	// BindingPath is the file holding this node's NodeBinding to its owner
	// (canonical bytes, <datadir>/owner.binding). Service proofs for this
	// node's work are claimed only while it holds a valid binding; it is
	// read at each claim, so binding a running node needs no restart.
	BindingPath string
}

type slotKey struct {
	acct ledger.AccountID
	seq  uint64
}

// Cell is one node's ledger cell: its verified certified state, its
// witness if it is one, the receptor, the broadcaster of new certificates
// and the catch-up from neighbours.
type Cell struct {
	cfg    Config
	g      *ledger.Genesis
	log    *slog.Logger
	caller *cell.Client
	submit *Client

	// mu guards the core objects, which are not safe for concurrent use,
	// and the indexes built beside them.
	mu       sync.Mutex
	wit      *ledger.Witness
	led      *ledger.Ledger
	store    *ledger.BoltStore
	indexed  int
	chains   map[ledger.AccountID][]ledger.Hash
	credits  map[ledger.AccountID][]ledger.Hash
	voted    map[slotKey]*ledger.Block // encoded only when a conflict is reported
	evidence []*ledger.Equivocation
	evSeen   map[[2]ledger.Hash]bool

	jobs  chan *job
	inbox chan spreadMsg

	spreadMu   sync.Mutex
	spreadQ    []*ledger.Certificate
	spreadWake chan struct{}

	me       ledger.AccountID    // this node's account (its key)
	book     *ledger.VoucherBook // vouchers for lanes paying this node; mu
	disputes chan ledger.Hash    // closed lanes to redeem before the window ends

	claimMu  sync.Mutex
	claiming map[ledger.Hash]bool // proof IDs being claimed right now

	rt   atomic.Pointer[cell.Runtime]
	view atomic.Pointer[cell.View]
	wake chan struct{}

	stats struct {
		votes, refused, batches, confirmed, spread, received, dropped, synced, fetched, rewards, vouchers, redeems, disputes atomic.Int64
	}

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	attached atomic.Bool
	stop     sync.Once
}

// New checks cfg, opens the witness if this node is one, and builds the
// cell; Attach starts it on the runtime started with Type().
func New(cfg Config) (*Cell, error) {
	h := cfg.Host
	if len(h.Key) != ed25519.PrivateKeySize || h.Transport == nil || h.Verifier == nil || h.Now == nil || h.Network == "" {
		return nil, errors.New("ledger cell: Host needs Key, Network, Transport, Verifier and Now")
	}
	if cfg.Genesis == nil {
		return nil, errors.New("ledger cell: a genesis is required")
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 20 * time.Millisecond
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = 30 * time.Second
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &Cell{
		cfg: cfg, g: cfg.Genesis, log: log.With("cell", DNA.Name),
		caller:     &cell.Client{Transport: h.Transport, Key: h.Key, Network: h.Network, Verifier: h.Verifier, Now: h.Now},
		chains:     map[ledger.AccountID][]ledger.Hash{},
		credits:    map[ledger.AccountID][]ledger.Hash{},
		voted:      map[slotKey]*ledger.Block{},
		evSeen:     map[[2]ledger.Hash]bool{},
		claiming:   map[ledger.Hash]bool{},
		me:         ledger.AccountID(h.Key.Public().(ed25519.PublicKey)),
		book:       ledger.NewVoucherBook(cfg.Genesis),
		disputes:   make(chan ledger.Hash, 64),
		jobs:       make(chan *job, 1024),
		inbox:      make(chan spreadMsg, 256),
		spreadWake: make(chan struct{}, 1),
		wake:       make(chan struct{}, 1),
	}
	if _, ok := cfg.Genesis.WitnessIndex(h.Key.Public().(ed25519.PublicKey)); ok {
		var err error
		switch {
		case cfg.DB != nil:
			c.store, err = ledger.NewBoltStore(cfg.DB)
		case cfg.StorePath != "":
			c.store, err = ledger.OpenBoltStore(cfg.StorePath)
		default:
			err = errors.New("this node is a genesis witness but has no store (Config.DB or StorePath)")
		}
		if err != nil {
			return nil, fmt.Errorf("ledger cell: %w", err)
		}
		if c.wit, err = ledger.OpenWitness(cfg.Genesis, h.Key, c.store); err != nil {
			c.store.Close()
			return nil, fmt.Errorf("ledger cell: %w", err)
		}
		c.led = c.wit.Ledger()
	} else {
		c.led = ledger.NewLedger(cfg.Genesis)
	}
	c.indexNew()
	if cfg.Witnesses != nil {
		c.submit = NewClient(ClientConfig{Genesis: cfg.Genesis, Caller: c.caller, Witnesses: cfg.Witnesses, Timeout: cfg.CallTimeout})
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Type is the ledger cell type to pass to cell.Start.
func (c *Cell) Type() cell.Type {
	return cell.Type{
		DNA: DNA,
		Receptor: map[string]cell.ReceptorFunc{
			KindVote:        c.handleVote,
			KindConfirm:     c.handleConfirm,
			KindSubmit:      c.handleSubmit,
			KindBalance:     c.handleBalance,
			KindHead:        c.handleHead,
			KindChain:       c.handleChain,
			KindBlock:       c.handleBlock,
			KindCertificate: c.handleCertificate,
			KindHistory:     c.handleHistory,
			KindCerts:       c.handleCerts,
			KindGenesis:     c.handleGenesis,
			KindClaim:       c.handleClaim,
			KindPay:         c.handlePay,
			KindLane:        c.handleLane,
		},
		MaxRequest:  maxRequest,
		OnBroadcast: c.onBroadcast,
		OnView:      c.onView,
		Status:      func() any { return c.Status() },
		Tree:        c.cfg.Tree,
	}
}

// Attach starts the cell's goroutines on rt, the runtime started with Type().
func (c *Cell) Attach(rt *cell.Runtime) error {
	if !c.attached.CompareAndSwap(false, true) {
		return errors.New("ledger cell: already attached")
	}
	c.rt.Store(rt)
	if c.wit != nil {
		c.goLoop(c.witnessLoop)
	}
	c.goLoop(c.ingestLoop)
	c.goLoop(c.spreadLoop)
	c.goLoop(c.syncLoop)
	c.goLoop(c.laneLoop)
	return nil
}

func (c *Cell) goLoop(f func()) {
	c.wg.Add(1)
	go func() { defer c.wg.Done(); f() }()
}

// Start is New, cell.Start and Attach in one.
func Start(cfg Config, opts cell.Options) (*Cell, *cell.Runtime, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, nil, err
	}
	rt, err := cell.Start(cfg.Host, c.Type(), opts)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	if err := c.Attach(rt); err != nil {
		rt.Close()
		c.Close()
		return nil, nil, err
	}
	return c, rt, nil
}

// Close stops the cell's goroutines and closes a witness file it opened
// itself; the runtime is closed by its owner.
func (c *Cell) Close() {
	c.stop.Do(func() {
		c.cancel()
		c.wg.Wait()
		if c.submit != nil {
			c.submit.Close()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.store != nil {
			c.store.Close()
		}
	})
}

// Genesis is the cell's genesis.
func (c *Cell) Genesis() *ledger.Genesis { return c.g }

// IsWitness reports whether this node votes.
func (c *Cell) IsWitness() bool { return c.wit != nil }

// View runs f with the node's certified state under the cell's lock; f must
// not keep the Ledger nor block.
func (c *Cell) View(f func(*ledger.Ledger)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c.led)
}

// Equivocations returns the evidence against witnesses this node found in
// conflicting certificates.
func (c *Cell) Equivocations() []*ledger.Equivocation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*ledger.Equivocation(nil), c.evidence...)
}

// indexNew records the certificates applied since the last call in the
// per-account indexes the queries use, and returns them. mu held.
func (c *Cell) indexNew() []*ledger.Certificate {
	news := c.led.Certificates(c.indexed)
	for _, ct := range news {
		b := ct.Block
		h := ct.BlockHash()
		c.chains[b.Account] = append(c.chains[b.Account], h)
		switch op := b.Op.(type) {
		case *ledger.Send:
			c.credits[op.To] = append(c.credits[op.To], h)
		case *ledger.Reward:
			c.credits[op.Binding.Owner] = append(c.credits[op.Binding.Owner], h)
		case *ledger.LaneClose:
			// The payer closed a lane this node holds a voucher for:
			// redeem it inside the window (a no-op if already redeemed).
			if _, ok := c.book.Best(op.Lane); ok {
				select {
				case c.disputes <- op.Lane:
				default:
					c.log.Error("dispute queue full", "lane", op.Lane)
				}
			}
		}
		delete(c.voted, slotKey{b.Account, b.Seq})
	}
	c.indexed += len(news)
	return news
}

// screen drops certificates already applied and turns one that conflicts
// with an applied or buffered certificate into equivocation evidence
// (after checking its quorum, so a forgery costs nothing). mu held.
func (c *Cell) screen(certs []*ledger.Certificate) (fresh []*ledger.Certificate, known int) {
	for _, ct := range certs {
		if _, ok := c.led.Certificate(ct.BlockHash()); ok {
			known++
			continue
		}
		if other, ok := c.led.Conflicting(ct); ok {
			if ct.Verify(c.g, -1) == nil {
				c.recordEquivocation(other, ct)
			}
			continue
		}
		fresh = append(fresh, ct)
	}
	return fresh, known
}

func (c *Cell) recordEquivocation(a, b *ledger.Certificate) {
	k := [2]ledger.Hash{a.BlockHash(), b.BlockHash()}
	if c.evSeen[k] {
		return
	}
	c.evSeen[k] = true
	evs := ledger.FindEquivocations(c.g, a, b)
	c.evidence = append(c.evidence, evs...)
	ws := make([]uint16, len(evs))
	for i, e := range evs {
		ws[i] = e.Witness
	}
	c.log.Error("two certificates for one slot: witnesses signed both", "account", a.Block.Account.Short(), "seq", a.Block.Seq, "witnesses", ws)
}

// ingestResult is what ingesting a batch of certificates did.
type ingestResult struct {
	applied, known int
	news           []*ledger.Certificate
	err            error
}

// ingest verifies and applies certificates from any source. A witness
// applies them through its loop (one store write per batch).
func (c *Cell) ingest(ctx context.Context, certs []*ledger.Certificate) ingestResult {
	if len(certs) == 0 {
		return ingestResult{}
	}
	if c.wit != nil && c.attached.Load() {
		j := &job{certs: certs, done: make(chan struct{})}
		select {
		case c.jobs <- j:
		case <-ctx.Done():
			return ingestResult{err: ctx.Err()}
		case <-c.ctx.Done():
			return ingestResult{err: errors.New("ledger cell stopped")}
		}
		select {
		case <-j.done:
			return j.ingest
		case <-ctx.Done():
			return ingestResult{err: ctx.Err()}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ingestLocked(certs)
}

// ingestLocked applies certificates with mu held.
func (c *Cell) ingestLocked(certs []*ledger.Certificate) ingestResult {
	fresh, known := c.screen(certs)
	before := c.led.Len()
	var errs []error
	if c.wit != nil {
		if len(fresh) > 0 {
			if err := c.wit.ConfirmBatch(fresh); err != nil {
				errs = append(errs, err)
			}
		}
	} else {
		for _, ct := range fresh {
			if _, err := c.led.Add(ct); err != nil {
				errs = append(errs, err)
			}
		}
	}
	news := c.indexNew()
	c.stats.received.Add(int64(len(news)))
	return ingestResult{applied: c.led.Len() - before, known: known, news: news, err: errors.Join(errs...)}
}

// job is work for a witness's loop: certificates to confirm, then blocks
// to vote on, all from concurrent requests sharing one store write each.
type job struct {
	certs  []*ledger.Certificate
	blocks []*ledger.Block
	votes  []ledger.Vote
	errs   []error
	voted  [][]byte // for conflicts: the block voted at that slot, if known
	ingest ingestResult
	done   chan struct{}
}

// witnessLoop is group commit: whatever requests queued while the last
// batch was being written go into the next one.
func (c *Cell) witnessLoop() {
	for {
		var batch []*job
		select {
		case <-c.ctx.Done():
			return
		case j := <-c.jobs:
			batch = append(batch, j)
		}
		n := len(batch[0].blocks)
	more:
		for n < 4*MaxVoteBatch {
			select {
			case j := <-c.jobs:
				batch = append(batch, j)
				n += len(j.blocks)
			default:
				break more
			}
		}
		c.runBatch(batch)
	}
}

func (c *Cell) runBatch(batch []*job) {
	c.mu.Lock()
	var certs []*ledger.Certificate
	var blocks []*ledger.Block
	for _, j := range batch {
		certs = append(certs, j.certs...)
		blocks = append(blocks, j.blocks...)
	}
	// Certificates first (the blocks may build on them), then the votes,
	// with one store write for both.
	fresh, known := c.screen(certs)
	before := c.led.Len()
	cerr, votes, errs := c.wit.Step(fresh, blocks, uint64(max(c.cfg.Host.Now(), 0)))
	if len(blocks) > 0 {
		c.stats.batches.Add(1)
	}
	news := c.indexNew()
	c.stats.received.Add(int64(len(news)))
	res := ingestResult{applied: c.led.Len() - before, known: known, news: news, err: cerr}
	i := 0
	for _, j := range batch {
		j.ingest = res
		if len(j.blocks) > 0 {
			j.votes, j.errs = votes[i:i+len(j.blocks)], errs[i:i+len(j.blocks)]
			j.voted = make([][]byte, len(j.blocks))
			for k, b := range j.blocks {
				s := slotKey{b.Account, b.Seq}
				switch err := j.errs[k]; {
				case err == nil:
					if _, ok := c.voted[s]; !ok {
						c.voted[s] = b
					}
					c.stats.votes.Add(1)
				case errors.Is(err, ledger.ErrConflictingVote):
					if vb := c.voted[s]; vb != nil {
						j.voted[k] = vb.Encode()
					}
					c.stats.refused.Add(1)
				default:
					c.stats.refused.Add(1)
				}
			}
			i += len(j.blocks)
		}
	}
	c.mu.Unlock()
	for _, j := range batch {
		close(j.done)
	}
}

// vote hands certificates to confirm and then blocks to vote on to the
// witness loop, and waits for the results.
func (c *Cell) vote(ctx context.Context, certs []*ledger.Certificate, blocks []*ledger.Block) (*job, error) {
	j := &job{certs: certs, blocks: blocks, done: make(chan struct{})}
	select {
	case c.jobs <- j:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, errors.New("ledger cell stopped")
	}
	select {
	case <-j.done:
		return j, nil
	case <-ctx.Done():
		// The loop still finishes the job; the votes are persisted and a
		// retry gets the same signatures back.
		return nil, ctx.Err()
	}
}

// queueSpread schedules certificates for the next broadcast.
func (c *Cell) queueSpread(certs []*ledger.Certificate) {
	if len(certs) == 0 {
		return
	}
	c.spreadMu.Lock()
	c.spreadQ = append(c.spreadQ, certs...)
	c.spreadMu.Unlock()
	select {
	case c.spreadWake <- struct{}{}:
	default:
	}
}

// spreadLoop broadcasts queued certificates, many per envelope: a
// broadcast costs every member one envelope verification, so sharing it
// among the certificates of a few milliseconds saves most of that.
func (c *Cell) spreadLoop() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.spreadWake:
		}
		t.Reset(c.cfg.FlushInterval)
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		c.spreadMu.Lock()
		q := c.spreadQ
		c.spreadQ = nil
		c.spreadMu.Unlock()
		rt := c.rt.Load()
		for len(q) > 0 {
			// A witness announces block hashes, not certificates: every
			// witness already holds what the clients pushed, and a full
			// broadcast carried each certificate (about 1 KB) through
			// every hop of the tree to every node for nothing (16 % of
			// all CPU in the QUIC benchmark); a node that lacks one
			// fetches it, from the announcing witness if need be, whose
			// address any node can resolve. Another node (a client pushed
			// to it to spread) broadcasts the certificates themselves:
			// nobody may know where to fetch from it.
			var sp spreadPayload
			n := min(len(q), MaxPage)
			if c.wit != nil {
				n = min(len(q), MaxInvPage)
				sp.Hashes = make([][]byte, n)
				for i, ct := range q[:n] {
					h := ct.BlockHash()
					sp.Hashes[i] = h[:]
				}
			} else {
				sp.Certs = encodeCerts(q[:n])
			}
			payload, err := marshal(sp)
			if err == nil {
				err = rt.Broadcast(kindSpread, payload)
			}
			if err != nil {
				c.log.Warn("broadcast certificates", "n", n, "err", err)
			} else {
				c.stats.spread.Add(int64(n))
			}
			q = q[n:]
		}
	}
}

// onBroadcast runs on the tree loop, so it only queues the payload.
func (c *Cell) onBroadcast(env *wire.Envelope) {
	if env.Kind != kindSpread {
		return
	}
	select {
	case c.inbox <- spreadMsg{payload: env.Payload, from: env.Sender}:
	default:
		// Dropped certificates come back with the next catch-up.
		c.stats.dropped.Add(1)
	}
}

// spreadMsg is a received broadcast and its sender.
type spreadMsg struct {
	payload []byte
	from    ed25519.PublicKey
}

func (c *Cell) ingestLoop() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case m := <-c.inbox:
			var sp spreadPayload
			if err := wire.Unmarshal(m.payload, &sp); err != nil {
				c.log.Warn("undecodable certificate broadcast", "err", err)
				continue
			}
			certs, _, err := c.decodeFresh(sp.Certs, MaxPage)
			if err != nil {
				c.log.Warn("certificate broadcast", "err", err)
				continue
			}
			if len(sp.Hashes) > 0 {
				more, err := c.fetchAnnounced(sp.Hashes, m.from)
				if err != nil {
					c.log.Debug("announced certificates", "err", err)
				}
				certs = append(certs, more...)
			}
			if res := c.ingest(c.ctx, certs); res.err != nil {
				c.log.Debug("broadcast certificates refused", "err", res.err)
			}
		}
	}
}

// Status is the ledger cell's monitor section.
type Status struct {
	Genesis       string `json:"genesis"`
	Witness       int    `json:"witness"` // index, -1 for none
	Certificates  int    `json:"certificates"`
	Pending       int    `json:"pending"`
	Accounts      int    `json:"accounts"`
	Votes         int64  `json:"votes"`
	Refused       int64  `json:"refused"`
	VoteBatches   int64  `json:"vote_batches"`
	Spread        int64  `json:"spread"`
	Received      int64  `json:"received"`
	Dropped       int64  `json:"dropped_broadcasts"`
	Synced        int64  `json:"synced_from_peers"`
	Fetched       int64  `json:"fetched_announced"` // certificates fetched after an announcement
	Equivocations int    `json:"equivocations"`
	Rewards       int64  `json:"rewards_claimed"`
	Vouchers      int64  `json:"vouchers_accepted"`
	Redeems       int64  `json:"redeems"`
	Disputes      int64  `json:"disputes"`
	Conservation  string `json:"conservation"`
}

// Status returns the monitor section.
func (c *Cell) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Status{Genesis: c.g.Hash().String(), Witness: -1, Certificates: c.led.Len(), Pending: c.led.Pending(),
		Accounts: len(c.chains), Votes: c.stats.votes.Load(), Refused: c.stats.refused.Load(),
		VoteBatches: c.stats.batches.Load(), Spread: c.stats.spread.Load(), Received: c.stats.received.Load(),
		Dropped: c.stats.dropped.Load(), Synced: c.stats.synced.Load(), Fetched: c.stats.fetched.Load(), Equivocations: len(c.evidence), Rewards: c.stats.rewards.Load(),
		Vouchers: c.stats.vouchers.Load(), Redeems: c.stats.redeems.Load(), Disputes: c.stats.disputes.Load(), Conservation: "ok"}
	if c.wit != nil {
		st.Witness = int(c.wit.Index())
	}
	if err := c.led.CheckConservation(); err != nil {
		st.Conservation = err.Error()
	}
	return st
}
