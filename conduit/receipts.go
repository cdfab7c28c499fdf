package conduit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"sync"
	"time"

	"github.com/borgios/borgios/conduit/netclient"
	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/ledgercell"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/stream"
)

// Receipts signs a reader's delivery receipts, the proof that earns a
// holder its bandwidth reward (node/ledger/DESIGN.md, "Earning"). Every
// shard a holder sent this conduit that matched its ID is counted per
// holder; every receiptInterval each holder gets one receipt for all its
// bytes, signed with the account key, which the holder claims from the
// treasury for its owner. One receipt per holder per interval rather than
// per shard: a 200 MB read is 800 shards, and every claim is a block on
// the holder's chain. Bytes that did not match their ID earn nothing.
type Receipts struct {
	who ed25519.PublicKey // the account signing them
	rw  *ledgercell.Rewarder
	key ed25519.PrivateKey // the rewarder's copy, wiped by close

	mu      sync.Mutex
	tallies map[string]*tally
	closed  bool

	stop chan struct{}
	done chan struct{}
}

// tally is what one holder delivered since the last receipt.
type tally struct {
	holder ed25519.PublicKey
	bytes  int64
	ids    hash.Hash // SHA-256 over the shard IDs delivered: the receipt's content
}

// receiptInterval is how often receipts are signed; a lock or shutdown
// signs what is pending at once.
const receiptInterval = 10 * time.Second

// receiptFlushBytes signs a holder's receipt early once it has delivered
// this much, so one long transfer pays as it goes.
const receiptFlushBytes = 1 << 30

// receiptDrain bounds how long closing waits for the last receipts to
// reach their holders.
const receiptDrain = 3 * time.Second

// ReceiptsConfig says who signs receipts and how they reach holders.
type ReceiptsConfig struct {
	// Genesis is the network's ledger genesis (receipts name it).
	Genesis *ledger.Genesis
	// Key is the reader's account key; Receipts signs with a copy and
	// wipes it on Close.
	Key ed25519.PrivateKey
	// Caller reaches the holders' ledger cells; Receipts calls through a
	// copy of it that signs with its own copy of Key.
	Caller *cell.Client
	// Resolve finds a holder's ledger endpoint.
	Resolve func(context.Context, ed25519.PublicKey) (cell.Target, error)
	// Now is network time in Unix ms.
	Now    func() int64
	Logger *slog.Logger
}

// NewReceipts starts signing receipts; Close signs what is pending.
func NewReceipts(cfg ReceiptsConfig) (*Receipts, error) {
	if cfg.Caller == nil {
		return nil, errors.New("conduit: delivery receipts: no Caller")
	}
	key := append(ed25519.PrivateKey(nil), cfg.Key...)
	caller := *cfg.Caller
	caller.Key = key
	rw, err := ledgercell.NewRewarder(ledgercell.RewarderConfig{
		Genesis: cfg.Genesis, Key: key, Caller: &caller, Now: cfg.Now, Logger: cfg.Logger, Resolve: cfg.Resolve,
	})
	if err != nil {
		clear(key)
		return nil, fmt.Errorf("conduit: delivery receipts: %w", err)
	}
	r := &Receipts{who: key.Public().(ed25519.PublicKey), rw: rw, key: key, tallies: map[string]*tally{}, stop: make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	return r, nil
}

// poolResolver finds a holder's ledger endpoint among the pool's.
func poolResolver(p *netclient.Pool) func(context.Context, ed25519.PublicKey) (cell.Target, error) {
	return func(_ context.Context, node ed25519.PublicKey) (cell.Target, error) {
		for _, t := range p.Endpoints(ledgercell.DNA.Name) {
			if bytes.Equal(t.Key, node) {
				return t, nil
			}
		}
		return cell.Target{}, fmt.Errorf("node %x: %w", node[:4], ledgercell.ErrUnknownNode)
	}
}

// add counts one delivery; a mismatch is dropped (it earns nothing).
func (r *Receipts) add(holder ed25519.PublicKey, id, observed [32]byte, n int64) {
	if r == nil || id != observed || n <= 0 || len(holder) != ed25519.PublicKeySize {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	t := r.tallies[string(holder)]
	if t == nil {
		t = &tally{holder: append(ed25519.PublicKey(nil), holder...), ids: sha256.New()}
		r.tallies[string(holder)] = t
	}
	t.bytes += n
	t.ids.Write(id[:])
	if t.bytes >= receiptFlushBytes {
		r.signLocked(string(holder), t)
	}
}

// FromStream and FromShard count deliveries as stream.Config.OnDelivery
// and shard.ClientConfig.OnDelivery report them.
func (r *Receipts) FromStream(e stream.DeliveryEvent) {
	r.add(e.Holder, e.Expected, e.Observed, e.Bytes)
}

func (r *Receipts) FromShard(d shard.Delivery) {
	r.add(d.Holder, d.Shard, d.Observed, int64(d.Bytes))
}

func (r *Receipts) signLocked(k string, t *tally) {
	var sum [32]byte
	t.ids.Sum(sum[:0])
	r.rw.Delivery(t.holder, t.bytes, sum, sum)
	delete(r.tallies, k)
}

func (r *Receipts) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, t := range r.tallies {
		r.signLocked(k, t)
	}
}

func (r *Receipts) loop() {
	defer close(r.done)
	tick := time.NewTicker(receiptInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
			r.flush()
		}
	}
}

// Close signs what is pending, gives the rewarder a moment to deliver it,
// stops, and wipes the key copy.
func (r *Receipts) Close() {
	if r == nil {
		return
	}
	close(r.stop)
	<-r.done
	r.flush()
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	for deadline := time.Now().Add(receiptDrain); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		st := r.rw.Stats()
		if st.Paid+st.Refused+st.Failed+st.Dropped >= st.Signed {
			break
		}
	}
	r.rw.Close()
	clear(r.key)
}

// Stats is the rewarder's counters: receipts signed, paid, refused.
func (r *Receipts) Stats() ledgercell.RewarderStats {
	if r == nil {
		return ledgercell.RewarderStats{}
	}
	return r.rw.Stats()
}

// receiptsFor is the running receipts of account who, or nil; when there
// are none yet it starts them in the background (they need the ledger's
// genesis from the network, and a read must not wait for that). Reads
// before they run, or on a network without a ledger, earn their holders
// nothing and work the same.
func (s *Server) receiptsFor(ns *netSession) *Receipts {
	s.rcptMu.Lock()
	defer s.rcptMu.Unlock()
	if s.rcpt != nil && s.rcpt.who.Equal(ns.who) {
		return s.rcpt
	}
	if s.rcptStarting || s.rcptGen != ns.gen {
		return nil
	}
	s.rcptStarting = true
	key := append(ed25519.PrivateKey(nil), ns.key...)
	bg := &netSession{pool: ns.pool, key: key, call: ns.pool.Client(key)}
	go func() {
		defer clear(key)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var r *Receipts
		g, err := s.ledgerGenesis(ctx, bg)
		if err == nil {
			r, err = NewReceipts(ReceiptsConfig{Genesis: g, Key: key, Caller: bg.call, Now: bg.call.Now,
				Resolve: poolResolver(bg.pool), Logger: s.log})
		}
		if err != nil {
			s.log.Debug("conduit: no delivery receipts", "err", err)
		}
		s.rcptMu.Lock()
		s.rcptStarting = false
		_, unlocked, _ := s.vault.State()
		if r != nil && unlocked && s.rcptGen == ns.gen {
			old := s.rcpt
			s.rcpt, r = r, old
		}
		s.rcptMu.Unlock()
		r.Close() // the one replaced, or this one if the person locked meanwhile
	}()
	return nil
}

// closeReceipts signs what is pending and wipes the key copy.
func (s *Server) closeReceipts() {
	s.rcptMu.Lock()
	r := s.rcpt
	s.rcpt = nil
	s.rcptGen++
	s.rcptMu.Unlock()
	r.Close()
}

// shardDelivered and streamDelivered are the delivery callbacks of one
// session's readers.
func (s *Server) shardDelivered(ns *netSession) func(shard.Delivery) {
	return func(d shard.Delivery) {
		if ns.onShard != nil {
			ns.onShard(d)
		}
		if r := s.receiptsFor(ns); r != nil {
			r.FromShard(d)
		}
	}
}

func (s *Server) streamDelivered(ns *netSession) func(stream.DeliveryEvent) {
	return func(e stream.DeliveryEvent) {
		if r := s.receiptsFor(ns); r != nil {
			r.FromStream(e)
		}
	}
}
