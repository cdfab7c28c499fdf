package cell

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

// Host is what a cell runtime needs from its node.
type Host struct {
	Key       ed25519.PrivateKey
	Network   string
	Transport *transport.Transport
	// Verifier is the node's one envelope verifier, shared by all cells so a
	// replay is caught whichever cell it is sent to.
	Verifier *wire.Verifier
	// Now is network time in Unix ms, for the envelopes the cell signs.
	Now    func() int64
	Logger *slog.Logger
	// Metrics is shared by all cells of the node; nil disables metrics.
	Metrics *Metrics
}

// Type is a cell type: DNA plus behaviour. Handlers run on transport
// goroutines and must be safe for concurrent use.
type Type struct {
	DNA DNA
	// Receptor handles client requests by envelope kind.
	Receptor map[string]ReceptorFunc
	// MaxRequest bounds a request envelope (default 64 KiB).
	MaxRequest int
	// OnBroadcast receives every verified broadcast of the cell once.
	OnBroadcast func(env *wire.Envelope)
	// OnView is called from the tree loop after every change of the node's
	// place in the tree; it must not block.
	OnView func(View)
	// OnTreeEvent sees every event of the cell's PeerTree core (a neighbour
	// confirmed dead, a commit, a rejected message); it runs on the tree
	// loop and must not block.
	OnTreeEvent func(peertree.Event)
	// Status adds cell-specific fields to the monitor.
	Status func() any
	// Tree tunes the PeerTree core (heartbeat, timeouts); Self and
	// MaxChildren are filled in by the runtime.
	Tree peertree.Config
}

// Options configure one runtime.
type Options struct {
	// Contacts are nodes to ask for this cell's tree at start.
	Contacts []peertree.Member
}

// Runtime drives one cell's PeerTree core over the transport and serves
// its receptor.
type Runtime struct {
	host Host
	typ  Type
	log  *slog.Logger
	self peertree.Member

	core    *peertree.Node
	started time.Time
	events  chan event
	view    atomic.Pointer[View]

	out *outbox

	stats  stats
	recent recentBroadcasts

	cancel context.CancelFunc
	done   chan struct{}
	stop   sync.Once
}

type event struct {
	from  peertree.NodeID
	msg   peertree.Message
	bcast *wire.Envelope // a broadcast to originate
	probe func(*peertree.Node)
}

// View is a read-only snapshot of the node's place in a cell's tree.
type View struct {
	Cell     string     `json:"cell"`
	Status   string     `json:"status"`
	Position int        `json:"position"`
	Size     int        `json:"size"`
	Epoch    string     `json:"epoch"`
	TreeID   string     `json:"tree_id"`
	Root     Endpoint   `json:"root"`
	Parent   Endpoint   `json:"parent,omitzero"`
	Children []Endpoint `json:"children"`

	epoch peertree.Epoch
}

// Endpoint names a node in a view.
type Endpoint struct {
	Key  string `json:"key"`
	Addr string `json:"addr"`
}

func endpoint(m peertree.Member) Endpoint {
	if m.IsZero() {
		return Endpoint{}
	}
	return Endpoint{Key: hex.EncodeToString(m.ID[:]), Addr: m.Addr}
}

// Start joins the cell's tree and serves its receptor until Close.
func Start(host Host, typ Type, opts Options) (*Runtime, error) {
	if err := typ.DNA.Validate(); err != nil {
		return nil, err
	}
	if typ.MaxRequest <= 0 {
		typ.MaxRequest = 64 << 10
	}
	var id peertree.NodeID
	copy(id[:], host.Key.Public().(ed25519.PublicKey))
	self := peertree.Member{ID: id, Addr: host.Transport.Addr().String()}
	tc := typ.Tree
	tc.Self = self
	tc.MaxChildren = typ.DNA.MaxChildren
	r := &Runtime{
		host:    host,
		typ:     typ,
		log:     host.Logger.With("cell", typ.DNA.Name),
		self:    self,
		core:    peertree.New(tc),
		started: time.Now(),
		events:  make(chan event, 1024),
		done:    make(chan struct{}),
	}
	r.stats.init(host.Metrics, typ.DNA.Name)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.out = newOutbox(ctx, host.Transport, typ.DNA.treeProtocol(), r.log, &r.stats)
	host.Transport.Handle(typ.DNA.treeProtocol(), r.handleTree)
	host.Transport.Handle(typ.DNA.Protocol, r.handleRequest)
	go r.loop(ctx, opts.Contacts)
	return r, nil
}

// Close leaves the loop; the transport is the node's and stays open.
func (r *Runtime) Close() {
	r.stop.Do(func() {
		r.cancel()
		<-r.done
		r.out.wait()
	})
}

// DNA returns the cell type's DNA.
func (r *Runtime) DNA() DNA { return r.typ.DNA }

// View returns the latest snapshot of the node's place in the tree.
func (r *Runtime) View() View {
	if v := r.view.Load(); v != nil {
		return *v
	}
	return View{Cell: r.typ.DNA.Name, Status: "starting"}
}

// Broadcast signs kind/payload as this node and sends it to every member
// of the cell's tree exactly once (including this node's own OnBroadcast).
func (r *Runtime) Broadcast(kind string, payload []byte) error {
	env, err := wire.SealEnvelope(r.host.Key, wire.Header{Network: r.host.Network, Cell: r.typ.DNA.Name, Kind: kind, Time: r.host.Now()}, payload)
	if err != nil {
		return fmt.Errorf("cell %s: seal broadcast: %w", r.typ.DNA.Name, err)
	}
	return r.BroadcastEnvelope(env)
}

// BroadcastEnvelope broadcasts an envelope someone signed (a client's
// announcement); its origin signature travels untouched to every member.
func (r *Runtime) BroadcastEnvelope(env *wire.Envelope) error {
	select {
	case r.events <- event{bcast: env}:
		return nil
	case <-r.done:
		return errors.New("cell " + r.typ.DNA.Name + " is stopped")
	}
}

// Members in the tree loop's view is not exported: the loop owns the core.
// inspect runs f on the loop goroutine and waits, for tests and status.
func (r *Runtime) inspect(f func(*peertree.Node)) {
	ran := make(chan struct{})
	select {
	case r.events <- event{probe: func(n *peertree.Node) { f(n); close(ran) }}:
		select {
		case <-ran:
		case <-r.done:
		}
	case <-r.done:
	}
}

func (r *Runtime) now() time.Duration { return time.Since(r.started) }

func (r *Runtime) loop(ctx context.Context, contacts []peertree.Member) {
	defer close(r.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	rd := r.core.Start(r.now(), contacts)
	for {
		next := r.apply(rd)
		wait := next - r.now()
		if wait < time.Millisecond {
			wait = time.Millisecond
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			rd = r.core.Tick(r.now())
		case ev := <-r.events:
			timer.Stop()
			switch {
			case ev.probe != nil:
				ev.probe(r.core)
				rd = peertree.Ready{NextTick: next}
			case ev.bcast != nil:
				rd = r.core.Broadcast(r.now(), ev.bcast.ID(), ev.bcast.Bytes())
			default:
				rd = r.core.Step(r.now(), ev.from, ev.msg)
			}
		}
	}
}

// apply carries out what the core asked for and returns its next tick.
func (r *Runtime) apply(rd peertree.Ready) time.Duration {
	for _, o := range rd.Messages {
		r.send(o)
	}
	for _, d := range rd.Delivered {
		r.deliver(d)
	}
	for _, e := range rd.Events {
		r.logEvent(e)
		if r.typ.OnTreeEvent != nil {
			r.typ.OnTreeEvent(e)
		}
	}
	r.publishView()
	if rd.NextTick <= 0 {
		return r.now() + time.Second
	}
	return rd.NextTick
}

func (r *Runtime) send(o peertree.Outbound) {
	payload, err := peertree.EncodeMessage(o.Msg)
	if err != nil {
		r.log.Error("encode tree message", "kind", o.Msg.Kind(), "err", err)
		return
	}
	raw, err := wire.Seal(r.host.Key, wire.Header{Network: r.host.Network, Cell: r.typ.DNA.Name, Kind: kindTree, Time: r.host.Now()}, payload)
	if err != nil {
		r.log.Error("seal tree message", "err", err)
		return
	}
	r.stats.treeOut(o.Msg.Kind())
	r.out.enqueue(o.To, raw)
}

func (r *Runtime) deliver(d peertree.Delivery) {
	r.stats.delivered.Add(1)
	if r.stats.m != nil {
		r.stats.m.delivered.WithLabelValues(r.typ.DNA.Name).Inc()
	}
	// The origin's envelope was verified when it entered this node (or was
	// made here), so decoding its exact bytes again is enough.
	env, err := wire.Decode(d.Payload, wire.DefaultMaxSize)
	if err != nil {
		r.log.Warn("undecodable broadcast delivered", "err", err)
		return
	}
	r.recent.delivered(d.ID, env.Kind)
	if r.typ.OnBroadcast != nil {
		r.typ.OnBroadcast(env)
	}
}

func (r *Runtime) logEvent(e peertree.Event) {
	switch e.Kind {
	case peertree.EventRejected:
		r.stats.rejected.Add(1)
		r.log.Warn("tree message rejected", "peer", e.Peer, "why", e.Detail)
	case peertree.EventSuspect:
		r.log.Debug("tree", "event", e.Kind.String(), "peer", e.Peer, "detail", e.Detail)
	default:
		r.log.Info("tree", "event", e.Kind.String(), "peer", e.Peer, "detail", e.Detail)
	}
}

func (r *Runtime) publishView() {
	c := r.core
	v := &View{
		Cell:     r.typ.DNA.Name,
		Status:   c.Status().String(),
		Position: c.Position(),
		Size:     c.Size(),
		Epoch:    c.Epoch().String(),
		TreeID:   hex.EncodeToString(func() []byte { t := c.TreeID(); return t[:8] }()),
		Root:     endpoint(c.Root()),
		epoch:    c.Epoch(),
	}
	if p, ok := c.Parent(); ok {
		v.Parent = endpoint(p)
	}
	for _, ch := range c.Children() {
		v.Children = append(v.Children, endpoint(ch))
	}
	old := r.view.Load()
	r.view.Store(v)
	r.stats.setView(v)
	if r.typ.OnView != nil && (old == nil || old.Position != v.Position || old.Parent != v.Parent || old.Root != v.Root || old.Status != v.Status) {
		r.typ.OnView(*v)
	}
}

const (
	kindTree = "tree"
	// maxTreeMessage bounds a tree envelope; snapshots are the largest.
	maxTreeMessage = peertree.MaxMessageSize + 1024
)

// handleTree receives one tree message: it must be a valid envelope of
// this cell signed by the very key the connection authenticated, so a node
// can only ever speak for itself in the tree. Broadcast payloads are
// verified as envelopes of their own before the core may forward them.
func (r *Runtime) handleTree(ctx context.Context, peer transport.Peer, raw []byte) ([]byte, error) {
	env, err := r.host.Verifier.Verify(raw)
	if err != nil {
		r.stats.treeDropped("verify")
		return nil, err
	}
	if env.Cell != r.typ.DNA.Name || env.Kind != kindTree || !env.Sender.Equal(peer.Key) {
		r.stats.treeDropped("mismatch")
		return nil, errors.New("tree message for another cell or from another key")
	}
	msg, err := peertree.DecodeMessage(env.Payload)
	if err != nil {
		r.stats.treeDropped("decode")
		return nil, err
	}
	if b, ok := msg.(*peertree.Broadcast); ok {
		// Count every copy that arrives, before verification drops
		// duplicates, so /status shows whether the tree sent any.
		r.recent.received(b.ID)
		if err := r.checkBroadcast(b); err != nil {
			r.stats.treeDropped("broadcast")
			r.log.Warn("forged or broken broadcast dropped", "from", peer.Addr, "err", err)
			return nil, err
		}
	}
	r.stats.treeIn(msg.Kind())
	var from peertree.NodeID
	copy(from[:], env.Sender)
	select {
	case r.events <- event{from: from, msg: msg}:
	default:
		r.stats.treeDropped("busy")
	}
	return nil, nil
}

// checkBroadcast verifies the origin's envelope inside a broadcast with the
// node's one Verify (origin signature, freshness, replay), and checks that
// it belongs to this cell and that the ID the core deduplicates on is the
// envelope's own, so nobody can re-inject a message under a new ID. A copy
// that arrives twice fails as a replay, which is what duplicate suppression
// wants anyway.
func (r *Runtime) checkBroadcast(b *peertree.Broadcast) error {
	env, err := r.host.Verifier.Verify(b.Payload)
	if err != nil {
		return err
	}
	if env.Cell != r.typ.DNA.Name {
		return fmt.Errorf("broadcast for cell %q", env.Cell)
	}
	if env.ID() != b.ID {
		return errors.New("broadcast ID does not match its envelope")
	}
	return nil
}
