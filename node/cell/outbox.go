package cell

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"sync"
	"time"

	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/transport"
)

const (
	// queueLen bounds the messages waiting for one peer; beyond it new
	// ones are dropped (the tree protocol tolerates loss), so a dead peer
	// costs bounded memory and never blocks the loop.
	queueLen = 256
	// sendTimeout bounds one send, dial included.
	sendTimeout = 3 * time.Second
	// idleExit ends a peer's sender goroutine after this long without work.
	idleExit = 30 * time.Second
)

// outbox sends tree messages without ever blocking the tree loop: one
// sender goroutine per peer keeps that peer's messages in order, and a slow
// or dead peer only fills its own queue.
type outbox struct {
	ctx   context.Context
	tr    *transport.Transport
	proto string
	log   *slog.Logger
	stats *stats

	mu     sync.Mutex
	queues map[peertree.NodeID]*peerQueue
	wg     sync.WaitGroup
}

type peerQueue struct {
	key  ed25519.PublicKey
	addr string // latest address, guarded by outbox.mu
	ch   chan []byte
}

func newOutbox(ctx context.Context, tr *transport.Transport, proto string, log *slog.Logger, st *stats) *outbox {
	return &outbox{ctx: ctx, tr: tr, proto: proto, log: log, stats: st, queues: map[peertree.NodeID]*peerQueue{}}
}

func (o *outbox) enqueue(to peertree.Member, raw []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.queues[to.ID]
	if q == nil {
		q = &peerQueue{key: ed25519.PublicKey(append([]byte(nil), to.ID[:]...)), ch: make(chan []byte, queueLen)}
		o.queues[to.ID] = q
		o.wg.Add(1)
		go o.run(to.ID, q)
	}
	if to.Addr != "" {
		q.addr = to.Addr
	}
	select {
	case q.ch <- raw:
	default:
		o.stats.sendDropped.Add(1)
	}
}

func (o *outbox) run(id peertree.NodeID, q *peerQueue) {
	defer o.wg.Done()
	idle := time.NewTimer(idleExit)
	defer idle.Stop()
	for {
		select {
		case <-o.ctx.Done():
			return
		case raw := <-q.ch:
			o.mu.Lock()
			addr := q.addr
			o.mu.Unlock()
			ctx, cancel := context.WithTimeout(o.ctx, sendTimeout)
			err := o.tr.Send(ctx, addr, q.key, o.proto, raw)
			cancel()
			if err != nil && o.ctx.Err() == nil {
				o.stats.sendFailed.Add(1)
				o.log.Debug("tree send failed", "to", id, "addr", addr, "err", err)
			}
			idle.Reset(idleExit)
		case <-idle.C:
			o.mu.Lock()
			if len(q.ch) == 0 {
				delete(o.queues, id)
				o.mu.Unlock()
				return
			}
			o.mu.Unlock()
			idle.Reset(idleExit)
		}
	}
}

func (o *outbox) wait() { o.wg.Wait() }
