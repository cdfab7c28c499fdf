package ledgercell

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/wire"
)

func (c *Cell) onView(v cell.View) {
	c.view.Store(&v)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// syncLoop pulls certificates from a tree neighbour when the node joins a
// tree and every SyncInterval after, so a node that was down, new, or
// missed a broadcast converges. Each neighbour's certificate order is
// append-only, so the loop remembers how far it read each one and asks
// only for what is new.
func (c *Cell) syncLoop() {
	tick := time.NewTicker(c.cfg.SyncInterval)
	defer tick.Stop()
	cursors := map[string]int{}
	tree := ""
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		case <-c.wake:
			if v := c.view.Load(); v == nil || v.TreeID == tree {
				continue
			}
		}
		v := c.view.Load()
		if v == nil || v.Position < 1 || v.Size <= 1 {
			continue
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
			n, err := c.syncFrom(c.ctx, cell.Target{Key: key, Addr: p.Addr}, cursors)
			if err != nil {
				c.log.Info("catch-up failed; trying the next neighbour", "from", p.Addr, "err", err)
				continue
			}
			tree = v.TreeID
			if n > 0 {
				c.log.Debug("caught up", "from", p.Addr, "applied", n)
			}
			break
		}
	}
}

// syncFrom pages through t's certificates from the remembered cursor,
// verifying and applying every one.
func (c *Cell) syncFrom(ctx context.Context, t cell.Target, cursors map[string]int) (int, error) {
	k := hex.EncodeToString(t.Key)
	from := cursors[k]
	applied := 0
	// One round reads up to the peer's count at its first page: what the
	// peer applies meanwhile is live traffic that pushes and broadcasts
	// deliver, and the cursor keeps it for the next round. Without the
	// bound a node under load chases the head and pulls every new
	// certificate a second time.
	end := -1
	for pages := 0; pages < 1<<20; pages++ {
		cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		raw, next, total, err := fetchCerts(cctx, c.caller, t, from)
		cancel()
		if err != nil {
			return applied, err
		}
		certs, _, err := c.decodeFresh(raw, MaxPage)
		if err != nil {
			return applied, cell.Errorf(cell.CodeBadAnswer, "certificates from %s: %v", t.Addr, err)
		}
		if total < from {
			// The peer restarted and rebuilt its order; read it again.
			from, end = 0, -1
			continue
		}
		if end < 0 {
			end = total
		}
		res := c.ingest(ctx, certs)
		applied += res.applied
		c.stats.synced.Add(int64(res.applied))
		from = next
		cursors[k] = from
		if from >= min(total, end) || len(raw) == 0 {
			return applied, nil
		}
	}
	return applied, fmt.Errorf("catch-up from %s did not end", t.Addr)
}

// fetchCerts gets one catch-up page, undecoded (the caller drops what it
// holds before decoding the rest).
func fetchCerts(ctx context.Context, caller *cell.Client, t cell.Target, from int) (certs [][]byte, next, total int, err error) {
	payload, err := marshal(certsRequest{From: from, Limit: MaxPage})
	if err != nil {
		return nil, 0, 0, err
	}
	ans, err := caller.Call(ctx, t, DNA, KindCerts, payload)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("certificates from %s: %w", t.Addr, err)
	}
	var a certsAnswer
	if err := wire.Unmarshal(ans, &a); err != nil {
		return nil, 0, 0, cell.Errorf(cell.CodeBadAnswer, "certificates from %s: %v", t.Addr, err)
	}
	if len(a.Certs) > MaxPage {
		return nil, 0, 0, cell.Errorf(cell.CodeBadAnswer, "certificates from %s: %d in one page", t.Addr, len(a.Certs))
	}
	cs := a.Certs
	if a.Total < from {
		return nil, a.Total, a.Total, nil
	}
	if a.Next < from || a.Next > a.Total || (a.Next == from && a.Next < a.Total) || a.Next-from != len(cs) {
		return nil, 0, 0, cell.Errorf(cell.CodeBadAnswer, "certificates from %s: cursor %d->%d of %d with %d certificates", t.Addr, from, a.Next, a.Total, len(cs))
	}
	return cs, a.Next, a.Total, nil
}
