package shard

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/borgios/borgios/node/cell"
)

// scrubParallel bounds the shards one node audits at once, so a scrub
// pass never crowds out the reads it shares the transport with.
const scrubParallel = 4

// ScrubReport summarises one scrub pass.
type ScrubReport struct {
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	Members  int           `json:"members"`
	Shards   int64         `json:"shards"`
	// Audits counts storage proofs asked of co-holders; AuditFailures
	// those answered wrongly or "not held".
	Audits        int64 `json:"audits"`
	AuditFailures int64 `json:"audit_failures"`
	// Unreachable counts holders that did not answer (not yet out of the
	// view); their shards are repaired once the view drops them.
	Unreachable int64 `json:"unreachable"`
	// Repaired counts copies pushed to holders that lacked them.
	Repaired int64 `json:"repaired"`
	// Corrupt counts local copies that failed their check; Refetched those
	// replaced from a good copy elsewhere.
	Corrupt   int64 `json:"corrupt"`
	Refetched int64 `json:"refetched"`
	// Handoffs counts copies dropped here after the k rightful holders
	// all proved theirs (this node had left the shard's top k).
	Handoffs int64 `json:"handoffs"`
}

func (c *Cell) scrubLoop(ctx context.Context) {
	defer c.wg.Done()
	timer := time.NewTimer(c.cfg.ScrubInterval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-c.kick:
			timer.Stop()
		}
		c.Scrub(ctx)
		timer.Reset(c.cfg.ScrubInterval)
	}
}

// repairLoop repairs at once what a read or proof found corrupt here,
// rather than waiting for the next pass.
func (c *Cell) repairLoop(ctx context.Context) {
	defer c.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-c.repairQ:
			in, ok := c.store.Info(id)
			if !ok {
				continue
			}
			members, err := c.cfg.Members.Members(ctx)
			if err != nil {
				continue
			}
			var rep ScrubReport
			c.scrubOne(ctx, in, members, &rep)
		}
	}
}

// Scrub runs one pass over every shard held here: each local copy is
// re-hashed (a bad one is dropped and fetched again from another holder),
// each co-holder in the shard's current top k is challenged for a storage
// proof, and a holder that fails or lacks the shard gets a copy under the
// owner's grant. A copy held here by a node no longer in the top k is
// handed off once all k rightful holders proved theirs.
func (c *Cell) Scrub(ctx context.Context) ScrubReport {
	rep := ScrubReport{Started: time.Now()}
	c.pass.Add(1)
	members, err := c.cfg.Members.Members(ctx)
	if err != nil {
		c.log.Warn("scrub skipped: no membership view", "err", err)
		return rep
	}
	rep.Members = len(members)
	c.store.PruneNonces(c.cfg.Host.Now() - 2*c.cfg.DeleteWindow.Milliseconds())
	list := c.store.List()
	sem := make(chan struct{}, scrubParallel)
	var wg sync.WaitGroup
	for _, in := range list {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c.scrubOne(ctx, in, members, &rep)
		}()
	}
	wg.Wait()
	rep.Duration = time.Since(rep.Started)
	c.lastPass.Store(&rep)
	c.m.passes.Inc()
	c.m.passSeconds.Set(rep.Duration.Seconds())
	if rep.AuditFailures+rep.Corrupt+rep.Repaired > 0 {
		c.log.Info("scrub pass", "shards", rep.Shards, "audit_failures", rep.AuditFailures, "repaired", rep.Repaired, "corrupt", rep.Corrupt, "took", rep.Duration)
	}
	return rep
}

func (c *Cell) scrubOne(ctx context.Context, in Info, members []Member, rep *ScrubReport) {
	atomic.AddInt64(&rep.Shards, 1)
	var data []byte
	if !in.Missing {
		var err error
		data, err = c.store.Get(in.ID)
		if errors.Is(err, ErrCorrupt) {
			atomic.AddInt64(&rep.Corrupt, 1)
			c.m.corrupt.Inc()
			c.log.Warn("scrub: local copy corrupt; dropped", "shard", in.ID.Short())
		} else if err != nil {
			return // deleted meanwhile
		}
	}
	if data == nil {
		data = c.fetchGood(ctx, in.ID, members)
		if data == nil {
			return // nobody has a good copy reachable now; next pass tries again
		}
		if c.restore(in, data) {
			atomic.AddInt64(&rep.Refetched, 1)
		}
	}
	holders := Holders(in.ID, members, c.cfg.K)
	confirmed, self := 0, false
	for _, h := range holders {
		if h.Key.Equal(c.self) {
			self = true
			confirmed++
			continue
		}
		atomic.AddInt64(&rep.Audits, 1)
		ok, reached := c.audit(ctx, h, in.ID, data, c.pass.Load())
		if ok {
			c.m.audits.WithLabelValues("ok").Inc()
			confirmed++
			continue
		}
		if !reached {
			c.m.audits.WithLabelValues("unreachable").Inc()
			atomic.AddInt64(&rep.Unreachable, 1)
			continue
		}
		c.m.audits.WithLabelValues("failed").Inc()
		atomic.AddInt64(&rep.AuditFailures, 1)
		if c.push(ctx, h, in.Grants, data) {
			c.m.repairs.Inc()
			atomic.AddInt64(&rep.Repaired, 1)
			confirmed++
		}
	}
	if !self && len(holders) == c.cfg.K && confirmed == c.cfg.K {
		if c.store.Drop(in.ID) == nil {
			atomic.AddInt64(&rep.Handoffs, 1)
		}
	}
}

// restore writes a good copy fetched from elsewhere under the grants kept.
func (c *Cell) restore(in Info, data []byte) bool {
	for _, g := range in.Grants {
		a, err := VerifyAuth(g, c.cfg.Host.Network)
		if err != nil {
			continue
		}
		if c.store.Put(a, data) == nil {
			return true
		}
	}
	return false
}

// audit challenges h for a storage proof of id; reached is false when h
// did not answer at all. Every challenge is reported to OnAudit.
func (c *Cell) audit(ctx context.Context, h Member, id ID, data []byte, period uint64) (ok, reached bool) {
	ch := NewChallenge()
	want := Prove(ch, id, data)
	var got [32]byte
	defer func() {
		if c.cfg.OnAudit != nil {
			c.cfg.OnAudit(AuditEvent{Holder: h.Key, Shard: id, Size: int64(len(data)), Passed: ok,
				Expected: want, Observed: got, Period: period})
		}
	}()
	ans, err := c.call(ctx, h, KindProve, proveRequest{ID: id[:], Challenge: ch[:]})
	if err != nil {
		return false, !cell.HasCode(err, cell.CodeUnavailable)
	}
	p, err := decodeProveAnswer(ans)
	if err != nil {
		return false, true
	}
	got = p
	if p != want {
		c.log.Warn("scrub: wrong storage proof; the holder's copy is bad", "shard", id.Short(), "holder", h.Addr)
		return false, true
	}
	return true, true
}

// push stores a copy at h under the first owner grant it accepts.
func (c *Cell) push(ctx context.Context, h Member, grants [][]byte, data []byte) bool {
	for _, g := range grants {
		if _, err := c.call(ctx, h, KindStore, storeRequest{Grant: g, Data: data}); err == nil {
			return true
		} else {
			c.log.Debug("scrub: push refused", "holder", h.Addr, "err", err)
		}
	}
	return false
}

// fetchGood reads id from the other members in HRW order until one copy
// hashes right.
func (c *Cell) fetchGood(ctx context.Context, id ID, members []Member) []byte {
	for _, m := range Rank(id, members) {
		if m.Key.Equal(c.self) {
			continue
		}
		ans, err := c.call(ctx, m, KindRead, idRequest{ID: id[:]})
		if err != nil {
			continue
		}
		r, err := decodeReadAnswer(ans)
		if err == nil && IDOf(r.Data) == id {
			return r.Data
		}
	}
	return nil
}
