package netclock

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/crono"
	"github.com/borgios/borgios/node/wire"
)

// DNA is the crono cell's fixed description.
var DNA = cell.DNA{Name: "crono", MaxChildren: 10, Protocol: "crono/1", Version: 1}

// KindSync is the receptor request kind of a time exchange: a
// crono.Request in, a crono.Response out.
const KindSync = "sync"

// CellType is the crono cell: the receptor answers KindSync with this
// node's network time, OnView follows the node's place in the crono tree
// (root: SetRoot; new parent: SetParent and poll it), and Status feeds the
// monitor. Start it with Service.Start, not cell.Start directly, so that it
// gets the crono verifier and the poll loop.
func CellType(s *Service) cell.Type {
	return cell.Type{
		DNA:        DNA,
		Receptor:   map[string]cell.ReceptorFunc{KindSync: s.answer},
		MaxRequest: 1 << 10,
		OnView:     s.onView,
		Status:     func() any { return s.Status() },
	}
}

// Start runs the crono cell typ (normally CellType(s), possibly with a
// test's tree tuning) on host and starts polling the parent. It replaces
// host.Verifier with s.Verifier(host.Network) and host.Now with s.Now for
// this cell; the node's other cells keep the host it passes them. The
// returned runtime belongs to the caller, who closes it; Close stops the
// poll loop.
func (s *Service) Start(host cell.Host, typ cell.Type, opts cell.Options) (*cell.Runtime, error) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.started {
		return nil, ErrStarted
	}
	if host.Logger == nil {
		host.Logger = s.log
	}
	host.Verifier = s.Verifier(host.Network)
	host.Now = s.Now
	client := &cell.Client{
		Transport: host.Transport,
		Key:       host.Key,
		Network:   host.Network,
		Verifier:  host.Verifier,
		Now:       s.Now,
	}
	rt, err := cell.Start(host, typ, opts)
	if err != nil {
		return nil, fmt.Errorf("netclock: start cell: %w", err)
	}
	s.started = true
	go s.pollLoop(client, typ.DNA)
	return rt, nil
}

// Close stops the poll loop. Network time keeps running (Now stays usable)
// on the last estimate.
func (s *Service) Close() {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.stop)
	if s.started {
		<-s.done
	}
}

// target is a parent to poll.
type target struct {
	key  ed25519.PublicKey
	addr string
	hex  string
}

// onView runs on the cell's tree loop after every change of the node's
// place; it only updates state and nudges the poll loop.
func (s *Service) onView(v cell.View) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.local.Monotonic()
	st := s.clk.Status(l)
	switch {
	case v.Position == 1:
		if !st.Root {
			// The root of the tree, or its successor: continue the
			// current output, so nobody below sees a step.
			s.clk.SetRoot(l)
			s.parent = target{}
			s.gen++
			s.log.Info("network time: this node is the reference", "synced_before", st.Synced)
		}
		return
	case v.Parent.Key == "" || v.Position < 1:
		// Joining or repairing: hold over on the current frequency and
		// keep polling the last parent until the tree names another.
		return
	}
	if v.Parent.Key == s.parent.hex && !st.Root {
		if v.Parent.Addr != s.parent.addr {
			s.parent.addr = v.Parent.Addr
		}
		return
	}
	key, err := hex.DecodeString(v.Parent.Key)
	if err != nil || len(key) != ed25519.PublicKeySize {
		s.log.Warn("network time: parent with a malformed key", "key", v.Parent.Key)
		return
	}
	s.clk.SetParent(v.Parent.Key, l)
	if st.Synced && !s.learned {
		// Synced only as a root of its own (a lone node, or the root of
		// a tree that is now merging into a bigger one): its time is its
		// own guess, so the first estimate from the parent is a step.
		s.clk.Unsync(l)
	}
	s.parent = target{key: ed25519.PublicKey(key), addr: v.Parent.Addr, hex: v.Parent.Key}
	s.gen++
	s.log.Info("network time: new parent", "parent", v.Parent.Key[:16], "addr", v.Parent.Addr)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// answer is the parent's side of an exchange: t2 is taken as soon as the
// runtime hands over the verified request, t3 as late as possible.
func (s *Service) answer(_ context.Context, req *cell.Request) ([]byte, error) {
	recv := s.local.Monotonic()
	q, err := DecodeRequest(req.Env.Payload)
	if err != nil {
		return nil, cell.Errorf(cell.CodeBadRequest, "%v", err)
	}
	s.mu.Lock()
	resp := s.clk.Answer(q, recv, s.local.Monotonic())
	s.mu.Unlock()
	if s.met != nil {
		s.met.answers.Inc()
	}
	return wire.Marshal(resp)
}

// pollLoop asks the current parent for the time whenever crono says so.
// Timers run on the machine's monotonic clock; crono's schedule is in
// local-clock ns, which differs from it by at most the injected rate error.
func (s *Service) pollLoop(client *cell.Client, dna cell.DNA) {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		l := s.local.Monotonic()
		at, ok := s.clk.NextPoll(l)
		t := s.parent
		s.mu.Unlock()
		wait := time.Hour
		if ok && t.key != nil {
			wait = time.Duration(at - l)
		}
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-s.stop:
				return
			case <-s.wake:
				timer.Stop()
				continue
			case <-timer.C:
				continue // re-read the schedule: the parent may have changed
			}
		}
		s.exchange(client, dna)
		select {
		case <-s.stop:
			return
		default:
		}
	}
}

// exchange runs one request/answer with the parent. t1 is taken before the
// request is signed and t4 after the answer is verified, so both directions
// include one signature and one verification and the delays stay
// symmetric.
func (s *Service) exchange(client *cell.Client, dna cell.DNA) {
	s.mu.Lock()
	t := s.parent
	if t.key == nil {
		s.mu.Unlock()
		return
	}
	gen := s.gen
	t1 := s.local.Monotonic()
	req := s.clk.MakeRequest(t1)
	s.mu.Unlock()
	payload, err := wire.Marshal(req)
	if err != nil {
		s.fail(gen, 0, "encode", err)
		return
	}
	env, err := wire.SealEnvelope(client.Key, wire.Header{Network: client.Network, Cell: dna.Name, Kind: KindSync, Time: s.Now()}, payload)
	if err != nil {
		s.fail(gen, 0, "seal", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ExchangeTimeout)
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	raw, err := client.CallRaw(ctx, cell.Target{Key: t.key, Addr: t.addr}, dna, env)
	t4 := s.local.Monotonic()
	cancel()
	rtt := time.Duration(t4 - t1)
	if err != nil {
		reason := "unavailable"
		var ce *cell.Error
		if errors.As(err, &ce) && ce.Code != cell.CodeUnavailable {
			reason = "refused"
			if ce.Code == cell.CodeBadAnswer {
				reason = "bad-answer"
			}
		}
		s.fail(gen, rtt, reason, err)
		return
	}
	resp, err := DecodeResponse(raw)
	if err != nil {
		s.fail(gen, rtt, "invalid", err)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen {
		s.count("stale")
		return // the parent changed while we waited; crono would refuse it too
	}
	wasSynced := s.clk.Synced()
	accepted, err := s.clk.OnResponse(resp, t4)
	s.last = exchangeInfo{at: time.Now(), rtt: rtt, accepted: accepted}
	switch {
	case errors.Is(err, crono.ErrParentNotSynced):
		s.count("parent-unsynced")
		return
	case err != nil:
		s.last.err = err.Error()
		s.countLocked(err)
		return
	case !accepted:
		s.count("filtered")
		return
	}
	s.count("accepted")
	if !s.clk.Synced() {
		return // the edge is still collecting its first samples
	}
	if !wasSynced {
		s.learned = true
		st := s.clk.Status(t4)
		s.log.Info("network time synced", "parent", t.hex[:16], "stratum", st.Stratum, "error", st.EstimatedError)
		return
	}
	s.learned = true
	if th := s.cfg.StepThreshold; th > 0 {
		if off := s.clk.Status(t4).Offset; off > th || off < -th {
			// Our time and the parent's are from different networks
			// (a merge after a partition with separate roots): slewing
			// an hour at 500 ppm would take 83 days. Step once instead.
			s.log.Warn("network time: parent disagrees beyond the step threshold; re-syncing with a step",
				"offset", off, "threshold", th)
			s.clk.Unsync(t4)
			s.count("resync")
		}
	}
}

func (s *Service) fail(gen uint64, rtt time.Duration, reason string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = exchangeInfo{at: time.Now(), rtt: rtt, err: err.Error()}
	s.count(reason)
	if gen == s.gen {
		s.log.Debug("network time exchange failed", "reason", reason, "err", err)
	}
}

func (s *Service) countLocked(err error) {
	switch {
	case errors.Is(err, crono.ErrUnexpectedResponse):
		s.count("stale")
	case errors.Is(err, crono.ErrTooLate):
		s.count("too-late")
	default:
		s.count("invalid")
	}
}

func (s *Service) count(result string) {
	if s.met != nil {
		s.met.exchanges.WithLabelValues(result).Inc()
	}
}
