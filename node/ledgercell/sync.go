package ledgercell

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/ledger"
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

// syncFrom pages through t's certificate order from the remembered
// cursor: an inventory of block hashes per page, then only the
// certificates this node lacks (at a node that pushes and broadcasts
// reach, usually none), verified and applied in the peer's order.
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
		pg, err := fetchInventory(cctx, c.caller, t, from)
		cancel()
		if err != nil {
			return applied, err
		}
		if pg.total < from {
			// The peer restarted and rebuilt its order; read it again.
			from, end = 0, -1
			continue
		}
		if end < 0 {
			end = pg.total
		}
		certs := pg.certs // a peer without inventories sent them whole
		if pg.hashes != nil {
			if certs, err = c.fetchMissing(ctx, t, pg.hashes); err != nil {
				return applied, err
			}
		}
		res := c.ingest(ctx, certs)
		applied += res.applied
		c.stats.synced.Add(int64(res.applied))
		from = pg.next
		cursors[k] = from
		if from >= min(pg.total, end) || pg.n == 0 {
			return applied, nil
		}
	}
	return applied, fmt.Errorf("catch-up from %s did not end", t.Addr)
}

// invPage is one catch-up page: block hashes, or (from a peer that
// predates inventories) the certificates themselves, n of either.
type invPage struct {
	hashes         []ledger.Hash
	certs          []*ledger.Certificate
	n, next, total int
}

// fetchInventory gets one catch-up page of block hashes.
func fetchInventory(ctx context.Context, caller *cell.Client, t cell.Target, from int) (invPage, error) {
	payload, err := marshal(certsRequest{From: from, Limit: MaxInvPage, Inv: true})
	if err != nil {
		return invPage{}, err
	}
	ans, err := caller.Call(ctx, t, DNA, KindCerts, payload)
	if err != nil {
		return invPage{}, fmt.Errorf("certificates from %s: %w", t.Addr, err)
	}
	return parseInventory(ans, from, t)
}

// parseInventory decodes and checks an answer to an inventory request
// from position from.
func parseInventory(ans []byte, from int, t cell.Target) (invPage, error) {
	var a certsAnswer
	if err := wire.Unmarshal(ans, &a); err != nil {
		return invPage{}, cell.Errorf(cell.CodeBadAnswer, "certificates from %s: %v", t.Addr, err)
	}
	if a.Total < from {
		return invPage{next: a.Total, total: a.Total}, nil
	}
	pg := invPage{next: a.Next, total: a.Total}
	var err error
	switch {
	case len(a.Hashes) > 0 && len(a.Certs) > 0:
		return invPage{}, cell.Errorf(cell.CodeBadAnswer, "certificates from %s: hashes and certificates in one page", t.Addr)
	case len(a.Hashes) > 0:
		if len(a.Hashes) > MaxInvPage {
			return invPage{}, cell.Errorf(cell.CodeBadAnswer, "certificates from %s: %d hashes in one page", t.Addr, len(a.Hashes))
		}
		pg.hashes = make([]ledger.Hash, len(a.Hashes))
		for i, b := range a.Hashes {
			if pg.hashes[i], err = hashOf(b); err != nil {
				return invPage{}, cell.Errorf(cell.CodeBadAnswer, "certificates from %s: %v", t.Addr, err)
			}
		}
		pg.n = len(a.Hashes)
	default:
		if pg.certs, err = decodeCerts(a.Certs, MaxPage); err != nil {
			return invPage{}, cell.Errorf(cell.CodeBadAnswer, "certificates from %s: %v", t.Addr, err)
		}
		pg.n = len(a.Certs)
		if pg.n == 0 {
			pg.hashes = []ledger.Hash{} // an empty inventory
		}
	}
	if a.Next < from || a.Next > a.Total || (a.Next == from && a.Next < a.Total) || a.Next-from != pg.n {
		return invPage{}, cell.Errorf(cell.CodeBadAnswer, "certificates from %s: cursor %d->%d of %d with %d entries", t.Addr, from, a.Next, a.Total, pg.n)
	}
	return pg, nil
}

// fetchMissing asks t for the certificates among hs that this node does
// not hold, MaxPage at a time, and returns them in hs's order.
func (c *Cell) fetchMissing(ctx context.Context, t cell.Target, hs []ledger.Hash) ([]*ledger.Certificate, error) {
	var want [][]byte
	c.mu.Lock()
	for i := range hs {
		if _, ok := c.led.Certificate(hs[i]); !ok {
			want = append(want, hs[i][:])
		}
	}
	c.mu.Unlock()
	var out []*ledger.Certificate
	for len(want) > 0 {
		n := min(len(want), MaxPage)
		payload, err := marshal(certsRequest{Want: want[:n]})
		if err != nil {
			return out, err
		}
		cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		ans, err := c.caller.Call(cctx, t, DNA, KindCerts, payload)
		cancel()
		if err != nil {
			return out, fmt.Errorf("certificates from %s: %w", t.Addr, err)
		}
		var a certsAnswer
		if err := wire.Unmarshal(ans, &a); err != nil {
			return out, cell.Errorf(cell.CodeBadAnswer, "certificates from %s: %v", t.Addr, err)
		}
		if len(a.Certs) > a.Next || a.Next > n || a.Next < 1 {
			return out, cell.Errorf(cell.CodeBadAnswer, "certificates from %s: %d covering %d of %d asked", t.Addr, len(a.Certs), a.Next, n)
		}
		cs, _, err := c.decodeFresh(a.Certs, n)
		if err != nil {
			return out, cell.Errorf(cell.CodeBadAnswer, "certificates from %s: %v", t.Addr, err)
		}
		out = append(out, cs...)
		// A hash the answer covers but left out is one the peer no
		// longer holds (it restarted); what did not fit is asked again.
		want = want[a.Next:]
	}
	return out, nil
}

// fetchAnnounced fetches the announced certificates (block hashes from a
// spread broadcast by from) that this node lacks: none at a witness,
// which the clients' pushes reached. It asks the tree neighbours first,
// witnesses among them before others (a neighbour that relayed the
// announcement has usually fetched it by now, and this keeps the load on
// the tree's edges), and the announcing witness last, which holds them
// all. What no one gives, the next catch-up round brings.
func (c *Cell) fetchAnnounced(raw [][]byte, from ed25519.PublicKey) ([]*ledger.Certificate, error) {
	hs, err := parseAnnounced(raw)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	missing := hs[:0]
	for _, h := range hs {
		if _, ok := c.led.Certificate(h); !ok {
			missing = append(missing, h)
		}
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return nil, nil
	}
	var out []*ledger.Certificate
	for _, t := range c.announceSources(from) {
		got, err := c.fetchMissing(c.ctx, t, missing)
		if err != nil {
			c.log.Debug("fetch announced certificates", "from", t.Addr, "err", err)
		}
		if len(got) == 0 {
			continue
		}
		out = append(out, got...)
		c.stats.fetched.Add(int64(len(got)))
		have := make(map[ledger.Hash]bool, len(got))
		for _, ct := range got {
			have[ct.BlockHash()] = true
		}
		left := missing[:0]
		for _, h := range missing {
			if !have[h] {
				left = append(left, h)
			}
		}
		if missing = left; len(missing) == 0 {
			return out, nil
		}
	}
	return out, fmt.Errorf("%d announced certificates found nowhere yet", len(missing))
}

// announceSources lists where to fetch announced certificates: tree
// neighbours that are witnesses, other neighbours, then the announcer.
func (c *Cell) announceSources(from ed25519.PublicKey) []cell.Target {
	var wit, other []cell.Target
	seen := map[string]bool{}
	add := func(key ed25519.PublicKey, addr string) {
		id := string(key)
		if seen[id] || addr == "" || len(key) != ed25519.PublicKeySize {
			return
		}
		seen[id] = true
		t := cell.Target{Key: key, Addr: addr}
		if _, ok := c.g.WitnessIndex(key); ok {
			wit = append(wit, t)
		} else {
			other = append(other, t)
		}
	}
	if v := c.view.Load(); v != nil {
		eps := append([]cell.Endpoint{v.Parent}, v.Children...)
		for _, e := range eps {
			if k, err := hex.DecodeString(e.Key); err == nil {
				add(k, e.Addr)
			}
		}
	}
	out := append(wit, other...)
	if _, ok := c.g.WitnessIndex(from); ok && !seen[string(from)] && c.cfg.Witnesses != nil {
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.CallTimeout)
		ts, err := c.cfg.Witnesses(ctx)
		cancel()
		if err == nil {
			for _, t := range ts {
				if string(t.Key) == string(from) {
					out = append(out, t)
					break
				}
			}
		}
	}
	return out
}

// parseAnnounced checks an announcement's block hashes.
func parseAnnounced(raw [][]byte) ([]ledger.Hash, error) {
	if len(raw) > MaxInvPage {
		return nil, fmt.Errorf("%d announced certificates, at most %d", len(raw), MaxInvPage)
	}
	hs := make([]ledger.Hash, 0, len(raw))
	for _, b := range raw {
		h, err := hashOf(b)
		if err != nil {
			return nil, fmt.Errorf("announcement: %w", err)
		}
		hs = append(hs, h)
	}
	return hs, nil
}
