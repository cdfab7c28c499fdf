package ledgercell

import (
	"context"
	"errors"
	"fmt"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/wire"
)

// pipe carries one client's requests to one witness. Calls that arrive
// while MaxInFlight requests are already out are merged into the next
// request, so a busy client sends few large requests (one envelope
// signature and one witness fsync for many blocks) and an idle one sends
// each block at once.
type pipe struct {
	c        *Client
	t        cell.Target
	votes    chan *pipeCall
	confirms chan *pipeCall
	sem      chan struct{}
}

type pipeCall struct {
	items  [][]byte
	spread bool
	// results
	vote    voteResult
	confirm confirmAnswer
	err     error
	done    chan struct{}
}

func (c *Client) pipe(t cell.Target) *pipe {
	id := targetID(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pipes[id]
	if p == nil {
		p = &pipe{c: c, t: t, votes: make(chan *pipeCall, 4096), confirms: make(chan *pipeCall, 4096), sem: make(chan struct{}, c.cfg.MaxInFlight)}
		c.pipes[id] = p
		go p.loop(p.votes, MaxVoteBatch, p.sendVotes)
		go p.loop(p.confirms, MaxConfirmBatch, p.sendConfirms)
	}
	return p
}

var errClientClosed = errors.New("ledger client closed")

func (p *pipe) call(ctx context.Context, ch chan *pipeCall, pc *pipeCall) error {
	select {
	case ch <- pc:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.c.closed:
		return errClientClosed
	}
	select {
	case <-pc.done:
		return pc.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pipe) vote(ctx context.Context, block []byte) (voteResult, error) {
	pc := &pipeCall{items: [][]byte{block}, done: make(chan struct{})}
	if err := p.call(ctx, p.votes, pc); err != nil {
		return voteResult{}, err
	}
	return pc.vote, nil
}

func (p *pipe) confirm(ctx context.Context, certs [][]byte, spread bool) (confirmAnswer, error) {
	pc := &pipeCall{items: certs, spread: spread, done: make(chan struct{})}
	if err := p.call(ctx, p.confirms, pc); err != nil {
		return confirmAnswer{}, err
	}
	return pc.confirm, nil
}

func (p *pipe) loop(ch chan *pipeCall, limit int, send func([]*pipeCall)) {
	for {
		var batch []*pipeCall
		select {
		case <-p.c.closed:
			return
		case pc := <-ch:
			batch = append(batch, pc)
		}
		// Wait for a free slot first: whatever queues meanwhile joins.
		select {
		case p.sem <- struct{}{}:
		case <-p.c.closed:
			return
		}
		n := len(batch[0].items)
	more:
		for n < limit {
			select {
			case pc := <-ch:
				if n+len(pc.items) > limit {
					go func() { send([]*pipeCall{pc}) }()
					break more
				}
				batch = append(batch, pc)
				n += len(pc.items)
			default:
				break more
			}
		}
		go func() {
			defer func() { <-p.sem }()
			send(batch)
		}()
	}
}

func finish(batch []*pipeCall, err error) {
	for _, pc := range batch {
		pc.err = err
		close(pc.done)
	}
}

func (p *pipe) sendVotes(batch []*pipeCall) {
	var req voteRequest
	for _, pc := range batch {
		req.Blocks = append(req.Blocks, pc.items...)
	}
	payload, err := marshal(req)
	if err != nil {
		finish(batch, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.c.cfg.Timeout)
	defer cancel()
	raw, err := p.c.cfg.Caller.Call(ctx, p.t, DNA, KindVote, payload)
	if err != nil {
		finish(batch, err)
		return
	}
	var ans voteAnswer
	if err := wire.Unmarshal(raw, &ans); err != nil || len(ans.Results) != len(req.Blocks) {
		finish(batch, cell.Errorf(cell.CodeBadAnswer, "vote answer from %s: %d results for %d blocks (%v)", p.t.Addr, len(ans.Results), len(req.Blocks), err))
		return
	}
	for i, pc := range batch {
		pc.vote = ans.Results[i]
		close(pc.done)
	}
}

func (p *pipe) sendConfirms(batch []*pipeCall) {
	var req confirmRequest
	for _, pc := range batch {
		req.Certs = append(req.Certs, pc.items...)
		req.Spread = req.Spread || pc.spread
	}
	payload, err := marshal(req)
	if err != nil {
		finish(batch, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.c.cfg.Timeout)
	defer cancel()
	raw, err := p.c.cfg.Caller.Call(ctx, p.t, DNA, KindConfirm, payload)
	if err != nil {
		finish(batch, err)
		return
	}
	var ans confirmAnswer
	if err := wire.Unmarshal(raw, &ans); err != nil {
		finish(batch, fmt.Errorf("confirm answer from %s: %w", p.t.Addr, err))
		return
	}
	for _, pc := range batch {
		pc.confirm = ans
		close(pc.done)
	}
}
