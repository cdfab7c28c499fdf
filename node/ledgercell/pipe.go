package ledgercell

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/wire"
)

// pipe carries one client's requests to one witness. Calls that arrive
// while MaxInFlight requests are already out are merged into the next
// request, so a busy client sends few large requests (one envelope
// signature and one witness fsync for many blocks) and an idle one sends
// each block at once. Votes and confirms share one queue: certificates
// waiting to be pushed ride on the next vote request to the same witness
// (which applies them before it votes, in one batch), so under load a
// transfer costs about one envelope per witness instead of two.
type pipe struct {
	c     *Client
	t     cell.Target
	calls chan *pipeCall
	sem   chan struct{}
	// last is when the loop last sent a request that merged several
	// calls: evidence of concurrent callers.
	last time.Time
	// pending counts calls queued or in flight, answered or not by
	// their callers' deadlines.
	pending atomic.Int64
}

// busyWindow: a pipe that sent a merged request this recently is busy,
// and its next small batch lingers for company.
const busyWindow = 20 * time.Millisecond

type pipeCall struct {
	items  [][]byte
	vote   bool // items are blocks to vote on; else certificates to confirm
	spread bool
	// results
	voted   voteResult
	confirm confirmAnswer
	err     error
	done    chan struct{}
}

func (c *Client) pipe(t cell.Target) *pipe {
	id := keyOf(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pipes[id]
	if p == nil {
		p = &pipe{c: c, t: t, calls: make(chan *pipeCall, 8192), sem: make(chan struct{}, c.cfg.MaxInFlight)}
		c.pipes[id] = p
		go p.loop()
	}
	return p
}

var errClientClosed = errors.New("ledger client closed")

func (p *pipe) call(ctx context.Context, pc *pipeCall) error {
	if err := p.enqueue(ctx, pc); err != nil {
		return err
	}
	select {
	case <-pc.done:
		return pc.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pipe) vote(ctx context.Context, block []byte) (voteResult, error) {
	pc := &pipeCall{items: [][]byte{block}, vote: true, done: make(chan struct{})}
	if err := p.call(ctx, pc); err != nil {
		return voteResult{}, err
	}
	return pc.voted, nil
}

func (p *pipe) confirm(ctx context.Context, certs [][]byte, spread bool) (confirmAnswer, error) {
	pc := &pipeCall{items: certs, spread: spread, done: make(chan struct{})}
	if err := p.call(ctx, pc); err != nil {
		return confirmAnswer{}, err
	}
	return pc.confirm, nil
}

// mergedBytes bounds what one merged request carries, well inside the
// receptor's request limit.
const mergedBytes = 384 << 10

// fits reports whether pc can join a request that holds blocks, certs
// and size bytes so far.
func fits(pc *pipeCall, blocks, certs, size int) bool {
	n := 0
	for _, it := range pc.items {
		n += len(it)
	}
	if pc.vote {
		blocks += len(pc.items)
	} else {
		certs += len(pc.items)
	}
	return blocks <= MaxVoteBatch && certs <= MaxConfirmBatch && size+n <= mergedBytes
}

func (p *pipe) loop() {
	var next *pipeCall // a call that did not fit the last batch
	for {
		var batch []*pipeCall
		if next != nil {
			batch, next = append(batch, next), nil
		} else {
			select {
			case <-p.c.closed:
				return
			case pc := <-p.calls:
				batch = append(batch, pc)
			}
		}
		// Wait for a free slot first: whatever queues meanwhile joins.
		select {
		case p.sem <- struct{}{}:
		case <-p.c.closed:
			return
		}
		var blocks, certs, size int
		for _, pc := range batch {
			if pc.vote {
				blocks += len(pc.items)
			} else {
				certs += len(pc.items)
			}
			for _, it := range pc.items {
				size += len(it)
			}
		}
		// Linger: while the client is busy (another request to this
		// witness is out, or the last one merged several calls a moment
		// ago, so more calls are surely coming), a small batch waits up
		// to Linger for company. One request costs one envelope
		// signature and check on each side, one QUIC exchange, one
		// witness fsync and one vote signature whatever its size. A
		// client with one caller at a time never waits.
		var linger <-chan time.Time
		var timer *time.Timer
		if d := p.c.cfg.Linger; d > 0 && (len(p.sem) > 1 || time.Since(p.last) < busyWindow) {
			timer = time.NewTimer(d)
			linger = timer.C
		}
	more:
		for {
			var pc *pipeCall
			select {
			case pc = <-p.calls:
			default:
				if linger == nil || blocks+certs >= p.c.cfg.LingerItems {
					break more
				}
				select {
				case pc = <-p.calls:
				case <-linger:
					break more
				case <-p.c.closed:
					timer.Stop()
					return
				}
			}
			if !fits(pc, blocks, certs, size) {
				next = pc
				break more
			}
			batch = append(batch, pc)
			if pc.vote {
				blocks += len(pc.items)
			} else {
				certs += len(pc.items)
			}
			for _, it := range pc.items {
				size += len(it)
			}
		}
		if timer != nil {
			timer.Stop()
		}
		if len(batch) > 1 {
			p.last = time.Now()
		}
		go func() {
			defer func() { <-p.sem }()
			p.send(batch)
		}()
	}
}

func (p *pipe) finish(batch []*pipeCall, err error) {
	for _, pc := range batch {
		pc.err = err
		p.done(pc)
	}
}

// done hands a call its result.
func (p *pipe) done(pc *pipeCall) {
	close(pc.done)
	p.pending.Add(-1)
}

// enqueue queues pc behind the calls already in the pipe.
func (p *pipe) enqueue(ctx context.Context, pc *pipeCall) error {
	p.pending.Add(1)
	select {
	case p.calls <- pc:
		return nil
	case <-ctx.Done():
		p.pending.Add(-1)
		return ctx.Err()
	case <-p.c.closed:
		p.pending.Add(-1)
		return errClientClosed
	}
}

// send carries a batch: as a vote request (with any certificates riding
// along) when it holds blocks, else as a confirm request.
func (p *pipe) send(batch []*pipeCall) {
	var vr voteRequest
	var cr confirmRequest
	for _, pc := range batch {
		if pc.vote {
			vr.Blocks = append(vr.Blocks, pc.items...)
		} else {
			cr.Certs = append(cr.Certs, pc.items...)
			cr.Spread = cr.Spread || pc.spread
		}
	}
	if len(vr.Blocks) == 0 {
		p.sendConfirms(batch, cr)
		return
	}
	vr.Certs, vr.Spread = cr.Certs, cr.Spread
	payload, err := marshal(vr)
	if err != nil {
		p.finish(batch, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.c.cfg.Timeout)
	defer cancel()
	p.c.stats.requests.Add(1)
	p.c.stats.blocks.Add(int64(len(vr.Blocks)))
	p.c.stats.certs.Add(int64(len(vr.Certs)))
	raw, err := p.c.cfg.Caller.Call(ctx, p.t, DNA, KindVote, payload)
	if err != nil {
		p.finish(batch, err)
		return
	}
	var ans voteAnswer
	if err := wire.Unmarshal(raw, &ans); err != nil || len(ans.Results) != len(vr.Blocks) {
		p.finish(batch, cell.Errorf(cell.CodeBadAnswer, "vote answer from %s: %d results for %d blocks (%v)", p.t.Addr, len(ans.Results), len(vr.Blocks), err))
		return
	}
	i := 0
	for _, pc := range batch {
		if pc.vote {
			pc.voted = ans.Results[i]
			i++
		} else if ans.Confirm != nil {
			pc.confirm = *ans.Confirm
		}
		p.done(pc)
	}
}

func (p *pipe) sendConfirms(batch []*pipeCall, req confirmRequest) {
	payload, err := marshal(req)
	if err != nil {
		p.finish(batch, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.c.cfg.Timeout)
	defer cancel()
	p.c.stats.requests.Add(1)
	p.c.stats.certs.Add(int64(len(req.Certs)))
	raw, err := p.c.cfg.Caller.Call(ctx, p.t, DNA, KindConfirm, payload)
	if err != nil {
		p.finish(batch, err)
		return
	}
	var ans confirmAnswer
	if err := wire.Unmarshal(raw, &ans); err != nil {
		p.finish(batch, fmt.Errorf("confirm answer from %s: %w", p.t.Addr, err))
		return
	}
	for _, pc := range batch {
		pc.confirm = ans
		p.done(pc)
	}
}
