package ledgercell

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/wire"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	Genesis *ledger.Genesis
	// Caller signs and sends requests and verifies answers. Its Key also
	// signs blocks unless Key is set.
	Caller *cell.Client
	// Key is the account key blocks are signed with (default Caller.Key).
	Key ed25519.PrivateKey
	// Witnesses finds the witnesses' endpoints: StaticWitnesses, or
	// LookupWitnesses/RegistryWitnesses for the registry.
	Witnesses func(ctx context.Context) ([]cell.Target, error)
	// Peers are nodes to ask queries (balance, chain, certificates);
	// default the witnesses.
	Peers []cell.Target
	// Timeout bounds one certification and one request (default 10 s).
	Timeout time.Duration
	// Submit, when set, is a node that certifies blocks on the client's
	// behalf (its submit helper) instead of the client asking witnesses
	// itself: for a command line that can reach one node only. The
	// certificate it returns is verified all the same.
	Submit *cell.Target
	// MaxInFlight bounds the requests in flight to one witness; requests
	// that queue behind them share the next one (default 2: on a loaded
	// machine 1 measured 7-10 % less CPU per transfer, but on a quiet one
	// it left the cores idle waiting for round trips: 1,938/s against
	// 2,056/s at 128 senders; 4 cost more CPU than 2).
	MaxInFlight int
	// Linger is how long a small request waits for more calls to join it
	// while another request to the same witness is in flight (default
	// 5 ms; negative: never). LingerItems ends the wait early once that
	// many blocks and certificates are gathered (default 128). 5 ms/128
	// measured 5 % less CPU per transfer than 2 ms/64 at 128 senders
	// (side by side, same machine state) and no worse finality: every
	// request costs an envelope signature and check on each side.
	Linger      time.Duration
	LingerItems int
	// PushBehind makes Certify return as soon as the certificate is
	// assembled (it is final then) and leaves its push to the witnesses
	// to ride on the client's next requests, instead of waiting until a
	// quorum holds it; the price is that another client may read an
	// account from a witness a few milliseconds before that witness has
	// the certificate. Without it a client does this only while it is
	// busy (other Certify calls of its own in progress, as a gateway
	// certifying for many accounts has: the push rides on their requests,
	// 0.08 instead of 0.12 requests per transfer and 10-20 % more
	// transfers/s at 128 senders), and a client certifying one block at a
	// time (a person's conduit) waits for a quorum to hold it.
	PushBehind bool
}

// Client is an account owner's side of the ledger: it certifies blocks
// with the witnesses and verifies what nodes say about accounts. Safe for
// concurrent use; concurrent calls share vote and confirm requests.
type Client struct {
	cfg ClientConfig
	g   *ledger.Genesis

	mu    sync.Mutex
	pipes map[pipeKey]*pipe
	certs map[ledger.Hash]*ledger.Certificate // dependencies to push to lagging witnesses
	heads map[ledger.AccountID]*ledger.Certificate
	locks map[ledger.AccountID]*sync.Mutex
	down  map[string]time.Time // witness -> do not wait on it until

	closed chan struct{}
	once   sync.Once

	stats struct{ requests, blocks, certs atomic.Int64 }
	// certifying counts Certify calls in progress: more than one is a
	// busy client, whose pushes ride on its other requests.
	certifying atomic.Int64
}

// NewClient builds a client.
func NewClient(cfg ClientConfig) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 2
	}
	if cfg.Linger == 0 {
		cfg.Linger = 5 * time.Millisecond
	}
	if cfg.LingerItems <= 0 {
		cfg.LingerItems = 128
	}
	if cfg.Key == nil && cfg.Caller != nil {
		cfg.Key = cfg.Caller.Key
	}
	return &Client{cfg: cfg, g: cfg.Genesis, pipes: map[pipeKey]*pipe{}, certs: map[ledger.Hash]*ledger.Certificate{},
		heads: map[ledger.AccountID]*ledger.Certificate{}, locks: map[ledger.AccountID]*sync.Mutex{},
		down: map[string]time.Time{}, closed: make(chan struct{})}
}

// Close stops the client's request pipes.
func (c *Client) Close() { c.once.Do(func() { close(c.closed) }) }

// StaticWitnesses is a fixed list of witness endpoints.
func StaticWitnesses(ts []cell.Target) func(context.Context) ([]cell.Target, error) {
	return func(context.Context) ([]cell.Target, error) { return ts, nil }
}

// RegistryWitnesses finds witnesses in a node's own registry table: entries
// of nodes running the ledger cell whose key is a genesis witness.
func RegistryWitnesses(reg *registry.Registry, g *ledger.Genesis) func(context.Context) ([]cell.Target, error) {
	return func(context.Context) ([]cell.Target, error) {
		return witnessTargets(g, derefEntries(reg.Lookup(DNA.Name, registry.MaxLookupLimit))), nil
	}
}

// LookupWitnesses asks the registry cell of the node at peer (a conduit's
// way) and verifies every entry.
func LookupWitnesses(caller *cell.Client, peer cell.Target, g *ledger.Genesis) func(context.Context) ([]cell.Target, error) {
	return func(ctx context.Context) ([]cell.Target, error) {
		es, err := registry.Lookup(ctx, caller, peer, DNA.Name)
		if err != nil {
			return nil, err
		}
		return witnessTargets(g, es), nil
	}
}

func derefEntries(es []*registry.Entry) []registry.Entry {
	out := make([]registry.Entry, len(es))
	for i, e := range es {
		out[i] = *e
	}
	return out
}

func witnessTargets(g *ledger.Genesis, es []registry.Entry) []cell.Target {
	var out []cell.Target
	for _, e := range es {
		if _, ok := g.WitnessIndex(e.Node); ok && len(e.Addrs) > 0 {
			out = append(out, cell.Target{Key: e.Node, Addr: e.Addrs[0]})
		}
	}
	return out
}

func targetID(t cell.Target) string { return hex.EncodeToString(t.Key) + "@" + t.Addr }

// pipeKey names a witness endpoint without allocating (pipe runs for
// every vote and push).
type pipeKey struct {
	key  [ed25519.PublicKeySize]byte
	addr string
}

func keyOf(t cell.Target) pipeKey {
	var k pipeKey
	copy(k.key[:], t.Key)
	k.addr = t.Addr
	return k
}

// witnesses resolves the witness endpoints, keeping only genesis
// witnesses, one endpoint each.
func (c *Client) witnesses(ctx context.Context) ([]cell.Target, error) {
	if c.cfg.Witnesses == nil {
		return nil, ErrNoWitnesses
	}
	ts, err := c.cfg.Witnesses(ctx)
	if err != nil {
		return nil, fmt.Errorf("find witnesses: %w", err)
	}
	seen := map[int]bool{}
	var out []cell.Target
	for _, t := range ts {
		if i, ok := c.g.WitnessIndex(t.Key); ok && !seen[i] {
			seen[i] = true
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, ErrNoWitnesses
	}
	return out, nil
}

// ConflictError says witnesses hold votes for another block at the slot;
// Block is that block when a witness reported it (signed by the owner).
type ConflictError struct {
	Account ledger.AccountID
	Seq     uint64
	Block   *ledger.Block
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("account %s seq %d: %v", e.Account.Short(), e.Seq, ErrConflict)
}
func (e *ConflictError) Unwrap() error { return ErrConflict }

type voteOutcome struct {
	t   cell.Target
	r   voteResult
	err error
}

// Certify asks every witness to vote for b (in parallel, sharing requests
// with concurrent calls), assembles the certificate at quorum, pushes it
// to the witnesses (one of them spreads it through the cell) and returns
// it once a quorum of witnesses holds it, so the account's next block can
// be voted at once. A certified block is final.
func (c *Client) Certify(ctx context.Context, b *ledger.Block) (*ledger.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	c.certifying.Add(1)
	defer c.certifying.Add(-1)
	if c.cfg.Submit != nil {
		ct, err := Submit(ctx, c.cfg.Caller, *c.cfg.Submit, c.g, b)
		if err == nil {
			c.remember(ct)
		}
		return ct, err
	}
	ts, err := c.witnesses(ctx)
	if err != nil {
		return nil, err
	}
	q := c.g.Quorum()
	if len(ts) < q {
		return nil, fmt.Errorf("%d witness endpoints known, quorum is %d: %w", len(ts), q, ErrNoQuorum)
	}
	ts = c.preferUp(ts, q)
	enc := b.Encode()
	cb := ledger.NewCertBuilder(c.g, b)
	ch := make(chan voteOutcome, len(ts))
	for _, t := range ts {
		go func() {
			r, err := c.voteWithDeps(ctx, t, b, enc)
			ch <- voteOutcome{t, r, err}
		}()
	}
	var (
		cert                 *ledger.Certificate
		ok, conflicts        int
		voters               []cell.Target
		refusals, unreachble []error
		other                *ledger.Block
	)
	for i := range ts {
		var o voteOutcome
		select {
		case o = <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("certify %s/%d: %w: %w", b.Account.Short(), b.Seq, ErrNoQuorum, ctx.Err())
		}
		switch {
		case o.err != nil:
			c.markDown(o.t)
			unreachble = append(unreachble, o.err)
		case o.r.Code == voteConflict:
			conflicts++
			if other == nil && len(o.r.Voted) > 0 {
				if ob, err := ledger.DecodeBlock(o.r.Voted); err == nil && ob.Account == b.Account && ob.Seq == b.Seq && ob.VerifySignature() == nil {
					other = ob
				}
			}
		case o.r.Code != voteOK:
			e := fmt.Errorf("witness %x: %s", o.t.Key[:4], o.r.Msg)
			if se := reasonErr(o.r.Code); se != nil {
				e = fmt.Errorf("%w: %w", e, se)
			}
			refusals = append(refusals, e)
		default:
			v, err := ledger.DecodeVote(o.r.Vote)
			if err == nil {
				cert, err = cb.Add(v)
			}
			if err != nil {
				refusals = append(refusals, fmt.Errorf("witness %x: bad vote: %w", o.t.Key[:4], err))
				continue
			}
			ok++
			voters = append(voters, o.t)
		}
		if cert != nil {
			break
		}
		if ok+len(ts)-(i+1) < q {
			break // a quorum is out of reach
		}
	}
	if cert == nil {
		switch {
		case conflicts > 0:
			return nil, &ConflictError{Account: b.Account, Seq: b.Seq, Block: other}
		case len(refusals) > c.g.F():
			return nil, fmt.Errorf("certify %s/%d: %w: %w", b.Account.Short(), b.Seq, ErrRejected, errors.Join(refusals...))
		}
		return nil, fmt.Errorf("certify %s/%d: %d of %d votes: %w: %w", b.Account.Short(), b.Seq, ok, q, ErrNoQuorum, errors.Join(append(refusals, unreachble...)...))
	}
	c.remember(cert)
	sp := c.spreader(voters)
	if c.cfg.PushBehind || c.certifying.Load() > 1 {
		c.pushBehind(ts, sp, cert)
	} else {
		c.push(ctx, ts, sp, cert)
	}
	return cert, nil
}

// preferUp leaves out witnesses that failed a moment ago while enough
// others remain, so one dead witness does not tie up every request.
func (c *Client) preferUp(ts []cell.Target, q int) []cell.Target {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	var up []cell.Target
	for _, t := range ts {
		if c.down[targetID(t)].Before(now) {
			up = append(up, t)
		}
	}
	if len(up) < q {
		return ts
	}
	return up
}

func (c *Client) markDown(t cell.Target) {
	c.mu.Lock()
	c.down[targetID(t)] = time.Now().Add(2 * time.Second)
	c.mu.Unlock()
}

// push confirms cert at every witness and returns once a quorum holds it
// (or ctx ends); the spreader broadcasts it to the whole cell.
func (c *Client) push(ctx context.Context, ts []cell.Target, spreader cell.Target, cert *ledger.Certificate) {
	enc := [][]byte{cert.Encode()}
	acks := make(chan bool, len(ts))
	for _, t := range ts {
		spread := keyOf(t) == keyOf(spreader)
		go func() {
			// The push outlives Certify when a witness is slow: its own
			// timeout bounds it.
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
			defer cancel()
			_, err := c.pipe(t).confirm(pctx, enc, spread)
			acks <- err == nil
		}()
	}
	good := 0
	for range ts {
		select {
		case a := <-acks:
			if a {
				good++
			}
		case <-ctx.Done():
			return
		}
		if good >= c.g.Quorum() {
			return
		}
	}
}

// spreader picks the voter with the lowest witness index to broadcast a
// certificate: always the same one while it is up, so the certificates of
// many transfers share its broadcasts instead of every witness
// broadcasting a few of them (each broadcast costs every member of the
// cell an envelope check).
func (c *Client) spreader(voters []cell.Target) cell.Target {
	best, bi := voters[0], -1
	for _, t := range voters {
		if i, ok := c.g.WitnessIndex(t.Key); ok && (bi < 0 || i < bi) {
			best, bi = t, i
		}
	}
	return best
}

// idle reports whether every request this client queued has been
// answered (or failed): after it, no witness will still judge a block
// this client sent, even one whose Certify already returned because a
// quorum was out of reach without that witness's answer.
func (c *Client) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pipes {
		if p.pending.Load() != 0 {
			return false
		}
	}
	return true
}

// pushBehind queues cert in every witness's pipe and returns at once: the
// certificate rides on the next request to each witness, ahead of any
// later block of this client (a pipe keeps its order, and a witness
// applies a request's certificates before it votes on its blocks).
func (c *Client) pushBehind(ts []cell.Target, spreader cell.Target, cert *ledger.Certificate) {
	enc := [][]byte{cert.Encode()}
	for _, t := range ts {
		pc := &pipeCall{items: enc, spread: keyOf(t) == keyOf(spreader), done: make(chan struct{})}
		if c.pipe(t).enqueue(context.Background(), pc) != nil {
			return
		}
	}
}

// voteWithDeps asks t for a vote; if t lacks a certificate the block
// depends on, it pushes the dependencies and asks once more.
func (c *Client) voteWithDeps(ctx context.Context, t cell.Target, b *ledger.Block, enc []byte) (voteResult, error) {
	r, err := c.pipe(t).vote(ctx, enc)
	if err != nil || !missingDep(r.Code) {
		return r, err
	}
	deps, derr := c.deps(ctx, b)
	if derr != nil || len(deps) == 0 {
		return r, nil
	}
	if _, err := c.pipe(t).confirm(ctx, encodeCerts(deps), false); err != nil {
		return r, nil
	}
	return c.pipe(t).vote(ctx, enc)
}

// deps are the certificates b builds on: its predecessor and what it
// credits.
func (c *Client) deps(ctx context.Context, b *ledger.Block) ([]*ledger.Certificate, error) {
	var hs []ledger.Hash
	if b.Seq > 0 {
		hs = append(hs, b.Prev)
	}
	switch op := b.Op.(type) {
	case *ledger.Receive:
		hs = append(hs, op.Sources...)
	case *ledger.LaneRedeem:
		hs = append(hs, op.Voucher.Lane)
	}
	var out []*ledger.Certificate
	for _, h := range hs {
		ct, err := c.Certificate(ctx, h)
		if err != nil {
			return out, err
		}
		out = append(out, ct)
	}
	return out, nil
}

// remember keeps a certificate this client made or verified: the head of
// its chain, and a dependency it may have to push.
func (c *Client) remember(ct *ledger.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.certs) > 1<<16 {
		clear(c.certs)
	}
	c.certs[ct.BlockHash()] = ct
	a := ct.Block.Account
	if h := c.heads[a]; h == nil || h.Block.Seq < ct.Block.Seq {
		c.heads[a] = ct
	}
}

func (c *Client) forgetHead(a ledger.AccountID) {
	c.mu.Lock()
	delete(c.heads, a)
	c.mu.Unlock()
}

func (c *Client) accountLock(a ledger.AccountID) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.locks[a]
	if l == nil {
		l = &sync.Mutex{}
		c.locks[a] = l
	}
	return l
}

// Account returns the client's account ID.
func (c *Client) Account() ledger.AccountID {
	return ledger.AccountID(c.cfg.Key.Public().(ed25519.PublicKey))
}

// Send transfers amount to another account (plus the genesis fee) and
// returns the send's certificate. If the witnesses hold an earlier,
// uncertified block of this account at the same sequence (a send whose
// certification was interrupted), Send finishes that block first and then
// sends this one after it.
func (c *Client) Send(ctx context.Context, to ledger.AccountID, amount ledger.Amount) (*ledger.Certificate, error) {
	op := &ledger.Send{To: to, Amount: amount, Fee: c.g.Params.TransferFee}
	return c.Append(ctx, op)
}

// Append signs op as the next block of the client's account and certifies it.
func (c *Client) Append(ctx context.Context, op ledger.Op) (*ledger.Certificate, error) {
	acct := c.Account()
	l := c.accountLock(acct)
	l.Lock()
	defer l.Unlock()
	for attempt := 0; ; attempt++ {
		seq, prev, err := c.Head(ctx, acct)
		if err != nil {
			return nil, err
		}
		b := ledger.NewBlock(c.g, c.cfg.Key, seq, prev, op)
		cert, err := c.Certify(ctx, b)
		var ce *ConflictError
		switch {
		case err == nil:
			return cert, nil
		case attempt < 2 && errors.As(err, &ce) && ce.Block != nil:
			// Finish the interrupted block, then go again after it.
			if _, ferr := c.Certify(ctx, ce.Block); ferr != nil {
				return nil, fmt.Errorf("finish the earlier block at seq %d: %w", ce.Seq, ferr)
			}
		case attempt < 2 && (errors.Is(err, ledger.ErrWrongSequence) || errors.Is(err, ledger.ErrWrongPrevious)):
			c.forgetHead(acct) // another device of the same owner moved the chain
		default:
			return nil, err
		}
	}
}

// Head returns the next sequence and previous hash of acct's chain: from
// the client's own last certificate, or else the highest head a node
// reports whose certificate verifies.
func (c *Client) Head(ctx context.Context, acct ledger.AccountID) (uint64, ledger.Hash, error) {
	c.mu.Lock()
	h := c.heads[acct]
	c.mu.Unlock()
	if h != nil {
		return h.Block.Seq + 1, h.BlockHash(), nil
	}
	peers, err := c.peers(ctx)
	if err != nil {
		return 0, ledger.Hash{}, err
	}
	payload, _ := marshal(accountRequest{Account: acct[:]})
	type ans struct {
		t cell.Target
		a accountAnswer
	}
	ch := make(chan *ans, len(peers))
	for _, t := range peers {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
			defer cancel()
			raw, err := c.cfg.Caller.Call(cctx, t, DNA, KindHead, payload)
			var a accountAnswer
			if err == nil && wire.Unmarshal(raw, &a) == nil {
				ch <- &ans{t, a}
				return
			}
			ch <- nil
		}()
	}
	var best *ledger.Certificate
	var errs []error
	for range peers {
		a := <-ch
		if a == nil || a.a.Next == 0 || (best != nil && a.a.Next <= best.Block.Seq+1) {
			continue
		}
		hh, err := hashOf(a.a.Head)
		if err != nil {
			continue
		}
		ct, err := c.fetchCert(ctx, a.t, hh)
		if err != nil || ct.Block.Account != acct || ct.Block.Seq != a.a.Next-1 {
			errs = append(errs, fmt.Errorf("head from %s does not verify: %v", a.t.Addr, err))
			continue
		}
		best = ct
	}
	if best == nil {
		return 0, ledger.Hash{}, nil
	}
	c.remember(best)
	return best.Block.Seq + 1, best.BlockHash(), nil
}

func (c *Client) peers(ctx context.Context) ([]cell.Target, error) {
	if len(c.cfg.Peers) > 0 {
		return c.cfg.Peers, nil
	}
	if c.cfg.Submit != nil {
		return []cell.Target{*c.cfg.Submit}, nil
	}
	return c.witnesses(ctx)
}

// Certificate returns a verified certificate by block hash, from the
// client's memory or from the first peer that has it.
func (c *Client) Certificate(ctx context.Context, h ledger.Hash) (*ledger.Certificate, error) {
	c.mu.Lock()
	ct := c.certs[h]
	c.mu.Unlock()
	if ct != nil {
		return ct, nil
	}
	peers, err := c.peers(ctx)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, t := range peers {
		ct, err := c.fetchCert(ctx, t, h)
		if err == nil {
			c.remember(ct)
			return ct, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("certificate %s: %w", h, errors.Join(errs...))
}

// fetchCert gets a certificate from t and verifies it completely.
func (c *Client) fetchCert(ctx context.Context, t cell.Target, h ledger.Hash) (*ledger.Certificate, error) {
	payload, _ := marshal(hashRequest{Hash: h[:]})
	cctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	raw, err := c.cfg.Caller.Call(cctx, t, DNA, KindCertificate, payload)
	if err != nil {
		return nil, err
	}
	ct, err := ledger.DecodeCertificate(raw)
	if err != nil {
		return nil, fmt.Errorf("certificate from %s: %w: %w", t.Addr, ErrBadChain, err)
	}
	if ct.BlockHash() != h {
		return nil, fmt.Errorf("certificate from %s is for another block: %w", t.Addr, ErrBadChain)
	}
	if err := verifyCert(c.g, ct); err != nil {
		return nil, fmt.Errorf("certificate from %s: %w", t.Addr, err)
	}
	return ct, nil
}

// query asks the peers in turn until one answers.
func (c *Client) query(ctx context.Context, kind string, req any) ([]byte, cell.Target, error) {
	peers, err := c.peers(ctx)
	if err != nil {
		return nil, cell.Target{}, err
	}
	payload, err := marshal(req)
	if err != nil {
		return nil, cell.Target{}, err
	}
	var errs []error
	for _, t := range peers {
		cctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		raw, err := c.cfg.Caller.Call(cctx, t, DNA, kind, payload)
		cancel()
		if err == nil {
			return raw, t, nil
		}
		errs = append(errs, err)
	}
	return nil, cell.Target{}, fmt.Errorf("ledger %s: %w", kind, errors.Join(errs...))
}

// AccountInfo is an account as the client verified it.
type AccountInfo struct {
	AccountState
	// Pending are certified sends to the account not yet credited, as the
	// node reported them; Receive verifies each before crediting it.
	Pending []PendingSend
}

// Balance fetches acct's whole chain from a peer and verifies it from the
// certificates alone (VerifyAccount): the peer is trusted for nothing but
// completeness, and only up to the head it chose to show.
func (c *Client) Balance(ctx context.Context, acct ledger.AccountID) (AccountInfo, error) {
	var certs []*ledger.Certificate
	sources := map[ledger.Hash]*ledger.Certificate{}
	var from uint64
	var t cell.Target
	for {
		raw, tt, err := c.query(ctx, KindChain, chainRequest{Account: acct[:], From: from})
		if err != nil {
			return AccountInfo{}, err
		}
		t = tt
		var a chainAnswer
		if err := wire.Unmarshal(raw, &a); err != nil {
			return AccountInfo{}, fmt.Errorf("chain from %s: %w: %w", tt.Addr, ErrBadChain, err)
		}
		cs, err := decodeCerts(a.Certs, MaxPage)
		if err != nil {
			return AccountInfo{}, fmt.Errorf("chain from %s: %w: %w", tt.Addr, ErrBadChain, err)
		}
		ss, err := decodeCerts(a.Sources, MaxPage*ledger.MaxReceiveSources)
		if err != nil {
			return AccountInfo{}, fmt.Errorf("chain from %s: %w: %w", tt.Addr, ErrBadChain, err)
		}
		for _, s := range ss {
			sources[s.BlockHash()] = s
		}
		certs = append(certs, cs...)
		if !a.More || len(cs) == 0 {
			break
		}
		from = a.Next
	}
	st, err := VerifyAccount(c.g, acct, certs, sources)
	if err != nil {
		return AccountInfo{}, fmt.Errorf("chain from %s: %w", t.Addr, err)
	}
	if len(certs) > 0 {
		c.remember(certs[len(certs)-1])
	}
	info := AccountInfo{AccountState: st}
	raw, _, err := c.query(ctx, KindBalance, accountRequest{Account: acct[:]})
	if err == nil {
		var a accountAnswer
		if wire.Unmarshal(raw, &a) == nil && len(a.Pending) <= maxPending {
			info.Pending = a.Pending
		}
	}
	return info, nil
}

// Receive credits up to 64 certified sends waiting for the client's
// account, verifying each send's certificate first. It returns nil and no
// error when nothing is waiting.
func (c *Client) Receive(ctx context.Context) (*ledger.Certificate, error) {
	me := c.Account()
	raw, _, err := c.query(ctx, KindBalance, accountRequest{Account: me[:]})
	if err != nil {
		return nil, err
	}
	var a accountAnswer
	if err := wire.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("balance: %w: %w", ErrBadChain, err)
	}
	var sources []ledger.Hash
	for _, p := range a.Pending {
		h, err := hashOf(p.Hash)
		if err != nil {
			continue
		}
		ct, err := c.Certificate(ctx, h)
		if err != nil {
			return nil, err
		}
		if creditTo(ct.Block) != me {
			return nil, fmt.Errorf("pending %s pays another account: %w", h, ErrBadChain)
		}
		sources = append(sources, h)
		if len(sources) == ledger.MaxReceiveSources {
			break
		}
	}
	if len(sources) == 0 {
		return nil, nil
	}
	return c.Append(ctx, &ledger.Receive{Sources: sources})
}

// History returns the account's history as a node reports it (newest
// first); Balance is the verified view.
func (c *Client) History(ctx context.Context, acct ledger.AccountID, limit int) ([]HistoryItem, error) {
	raw, t, err := c.query(ctx, KindHistory, historyRequest{Account: acct[:], Limit: min(max(limit, 0), MaxHistory)})
	if err != nil {
		return nil, err
	}
	var a historyAnswer
	if err := wire.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("history from %s: %w: %w", t.Addr, ErrBadChain, err)
	}
	return a.Items, nil
}

// Submit asks the node at t to certify b on the client's behalf (the
// node's submit helper) and verifies the certificate it returns.
func Submit(ctx context.Context, caller *cell.Client, t cell.Target, g *ledger.Genesis, b *ledger.Block) (*ledger.Certificate, error) {
	payload, err := marshal(submitRequest{Block: b.Encode()})
	if err != nil {
		return nil, err
	}
	raw, err := caller.Call(ctx, t, DNA, KindSubmit, payload)
	if err != nil {
		return nil, fmt.Errorf("submit to %s: %w", t.Addr, err)
	}
	ct, err := ledger.DecodeCertificate(raw)
	if err != nil {
		return nil, fmt.Errorf("submit to %s: %w: %w", t.Addr, ErrBadChain, err)
	}
	if ct.BlockHash() != b.Hash() {
		return nil, fmt.Errorf("submit to %s: certificate for another block: %w", t.Addr, ErrBadChain)
	}
	if err := verifyCert(g, ct); err != nil {
		return nil, fmt.Errorf("submit to %s: %w", t.Addr, err)
	}
	return ct, nil
}

// FetchGenesis asks the node at t for its genesis. The answer is only as
// trustworthy as the node the caller pinned; compare its Hash with a known
// one where possible.
func FetchGenesis(ctx context.Context, caller *cell.Client, t cell.Target) (*ledger.Genesis, error) {
	raw, err := caller.Call(ctx, t, DNA, KindGenesis, nil)
	if err != nil {
		return nil, fmt.Errorf("genesis from %s: %w", t.Addr, err)
	}
	g, err := ledger.ParseGenesis(raw)
	if err != nil {
		return nil, fmt.Errorf("genesis from %s: %w", t.Addr, err)
	}
	return g, nil
}
