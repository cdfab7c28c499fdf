package ledgercell

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/wire"
)

// Earning, in two halves. The node that checked the work (a scrub auditor
// for storage, a reader for delivered bytes) turns each check into a
// ServiceProof signed with its own key (Rewarder) and sends it to the
// node that did the work. That node claims it (Cell.handleClaim): a
// Reward block on its own chain, with the NodeBinding its owner signed,
// certified by the witnesses. The ledger pays each proof once (the payment
// ID is derived from the work, not the signature) and never for bytes
// whose observed hash differs from the expected one; the owner credits the
// payout with an ordinary receive.

// bindingSize is the length of a NodeBinding's canonical bytes.
const bindingSize = 32 + 32 + 32 + 64 + 64

// MaxClaimBatch bounds the proofs in one claim request.
const MaxClaimBatch = 64

// KindClaim is the receptor kind a worker node takes service proofs on.
const KindClaim = "claim" // claimRequest -> claimAnswer

type claimRequest struct {
	Proofs [][]byte `cbor:"1,keyasint"`
}

// ClaimResult is what the worker did with one proof: paid (Code empty,
// Block the reward's certified block), or why not.
type ClaimResult struct {
	Proof []byte `cbor:"1,keyasint" json:"proof"` // the proof's payment ID
	Block []byte `cbor:"2,keyasint,omitempty" json:"block,omitempty"`
	Code  string `cbor:"3,keyasint,omitempty" json:"code,omitempty"`
	Msg   string `cbor:"4,keyasint,omitempty" json:"msg,omitempty"`
}

// Err is the result's refusal as an error (errors.Is-able against the
// ledger's and this package's sentinels), nil when paid.
func (r ClaimResult) Err() error {
	if r.Code == "" {
		return nil
	}
	if se := reasonErr(r.Code); se != nil {
		return fmt.Errorf("claim: %s: %w", r.Msg, se)
	}
	return fmt.Errorf("claim: %s (%s)", r.Msg, r.Code)
}

type claimAnswer struct {
	Results []ClaimResult `cbor:"1,keyasint"`
}

// Claim sends proofs to the worker node at t and returns what it did with
// each, in order.
func Claim(ctx context.Context, caller *cell.Client, t cell.Target, proofs []*ledger.ServiceProof) ([]ClaimResult, error) {
	if len(proofs) == 0 || len(proofs) > MaxClaimBatch {
		return nil, fmt.Errorf("claim: %d proofs, want 1..%d", len(proofs), MaxClaimBatch)
	}
	var q claimRequest
	for _, p := range proofs {
		q.Proofs = append(q.Proofs, p.Encode())
	}
	payload, err := marshal(q)
	if err != nil {
		return nil, err
	}
	raw, err := caller.Call(ctx, t, DNA, KindClaim, payload)
	if err != nil {
		return nil, fmt.Errorf("claim at %s: %w", t.Addr, err)
	}
	var a claimAnswer
	if err := wire.Unmarshal(raw, &a); err != nil || len(a.Results) != len(proofs) {
		return nil, cell.Errorf(cell.CodeBadAnswer, "claim answer from %s: %d results for %d proofs (%v)", t.Addr, len(a.Results), len(proofs), err)
	}
	return a.Results, nil
}

// binding reads and checks the node's owner binding. mu not held.
func (c *Cell) binding() (*ledger.NodeBinding, error) {
	if c.cfg.BindingPath == "" {
		return nil, fmt.Errorf("no binding file configured: %w", ErrNotBound)
	}
	raw, err := os.ReadFile(c.cfg.BindingPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s missing (run borgios node init): %w", c.cfg.BindingPath, ErrNotBound)
	}
	if err != nil {
		return nil, fmt.Errorf("read binding: %w", err)
	}
	// Canonical bytes as written by borgios node init; a hex text form
	// (someone pasting the countersigned binding) is read too. Never trim
	// the binary form: a signature may end in a whitespace byte.
	if len(raw) != bindingSize {
		if h, herr := hex.DecodeString(strings.TrimSpace(string(raw))); herr == nil {
			raw = h
		}
	}
	b, err := ledger.DecodeNodeBinding(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", c.cfg.BindingPath, ErrNotBound, err)
	}
	me := ledger.AccountID(c.cfg.Host.Key.Public().(ed25519.PublicKey))
	if b.Node != me || b.Genesis != c.g.Hash() {
		return nil, fmt.Errorf("%s binds another node or network: %w", c.cfg.BindingPath, ErrNotBound)
	}
	if err := b.Verify(); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", c.cfg.BindingPath, ErrNotBound, err)
	}
	return b, nil
}

// checkProof applies, before spending a certification on it, the rules a
// witness would refuse the reward for; the witnesses still decide.
func (c *Cell) checkProof(p *ledger.ServiceProof, bind *ledger.NodeBinding) (ledger.Amount, error) {
	me := ledger.AccountID(c.cfg.Host.Key.Public().(ed25519.PublicKey))
	switch {
	case p.Genesis != c.g.Hash():
		return 0, fmt.Errorf("proof: %w", ledger.ErrWrongNetwork)
	case p.Node != me:
		return 0, fmt.Errorf("proof names node %s: %w", p.Node.Short(), ErrNotForThisNode)
	case p.Expected != p.Observed:
		return 0, fmt.Errorf("proof: %w", ledger.ErrHashMismatch)
	case p.Kind == ledger.ProofStorage && !c.g.IsAuditor(p.Signer):
		return 0, fmt.Errorf("proof: %w", ledger.ErrUnknownAuditor)
	case p.Kind == ledger.ProofDelivery && (p.Signer == me || p.Signer == bind.Owner):
		return 0, fmt.Errorf("proof: %w", ledger.ErrSelfReceipt)
	}
	if err := p.Verify(); err != nil {
		return 0, err
	}
	amt, err := p.Earnings(c.g)
	if err == nil && amt == 0 {
		err = fmt.Errorf("proof earns nothing: %w", ledger.ErrZeroAmount)
	}
	return amt, err
}

func (c *Cell) handleClaim(ctx context.Context, req *cell.Request) ([]byte, error) {
	var q claimRequest
	if err := wire.Unmarshal(req.Env.Payload, &q); err != nil {
		return nil, badRequest(KindClaim, err)
	}
	if len(q.Proofs) == 0 || len(q.Proofs) > MaxClaimBatch {
		return nil, badRequest(KindClaim, errLimit(len(q.Proofs)))
	}
	proofs := make([]*ledger.ServiceProof, len(q.Proofs))
	for i, raw := range q.Proofs {
		p, err := ledger.DecodeServiceProof(raw)
		if err != nil {
			return nil, badRequest(KindClaim, fmt.Errorf("proof %d: %w", i, err))
		}
		proofs[i] = p
	}
	if c.submit == nil {
		return nil, cell.Errorf(cell.CodeUnavailable, "claim: this node knows no witnesses")
	}
	bind, err := c.binding()
	if err != nil {
		return nil, cell.Errorf(cell.CodeUnavailable, "claim: %v", err)
	}
	ans := claimAnswer{Results: make([]ClaimResult, len(proofs))}
	for i, p := range proofs {
		id := p.ID()
		ans.Results[i] = c.claimOne(ctx, p, bind)
		ans.Results[i].Proof = id[:]
	}
	return marshal(ans)
}

func failed(err error) ClaimResult { return ClaimResult{Code: reasonOf(err), Msg: err.Error()} }

// claimOne certifies one reward on this node's chain. Proofs already paid
// or being claimed right now are refused here; the witnesses refuse them
// all the same (ErrProofAlreadyPaid), so this only saves a round trip.
func (c *Cell) claimOne(ctx context.Context, p *ledger.ServiceProof, bind *ledger.NodeBinding) ClaimResult {
	amt, err := c.checkProof(p, bind)
	if err != nil {
		return failed(err)
	}
	id := p.ID()
	c.claimMu.Lock()
	busy := c.claiming[id]
	c.claiming[id] = true
	c.claimMu.Unlock()
	if busy {
		return failed(fmt.Errorf("proof %s is being claimed: %w", id, ledger.ErrProofAlreadyPaid))
	}
	defer func() {
		c.claimMu.Lock()
		delete(c.claiming, id)
		c.claimMu.Unlock()
	}()
	c.mu.Lock()
	paid := c.led.Paid(id)
	c.mu.Unlock()
	if paid {
		return failed(fmt.Errorf("proof %s: %w", id, ledger.ErrProofAlreadyPaid))
	}
	ct, err := c.submit.Append(ctx, &ledger.Reward{Proof: *p, Binding: *bind, Amount: amt})
	if err != nil {
		return failed(err)
	}
	c.stats.rewards.Add(1)
	c.ingest(ctx, []*ledger.Certificate{ct})
	h := ct.BlockHash()
	return ClaimResult{Block: h[:]}
}

// RewarderConfig configures a Rewarder.
type RewarderConfig struct {
	Genesis *ledger.Genesis
	// Key signs the proofs: the local node's key, which must be a genesis
	// auditor for storage proofs to pay.
	Key ed25519.PrivateKey
	// Caller sends the claims (any cell.Client of this node).
	Caller *cell.Client
	// Resolve finds a worker node's endpoint by its key
	// (RegistryResolver for a node's registry).
	Resolve func(ctx context.Context, node ed25519.PublicKey) (cell.Target, error)
	Logger  *slog.Logger
	// Timeout bounds one claim (default 30 s: the worker certifies
	// each reward before answering).
	Timeout time.Duration
	// Now is network time in Unix ms (the node's crono clock).
	Now func() int64
	// Epoch is the storage reward period (default 24 h): a holder is paid
	// at most once per shard per epoch, however many auditors check it
	// and however often they scrub. The genesis storage rate is per GiB
	// per epoch.
	Epoch time.Duration
}

// Rewarder turns verified work this node observed into signed service
// proofs and delivers them to the nodes that did the work. Audit and
// Delivery never block: they queue, and a full queue drops (unpaid work,
// never a wrong payment).
type Rewarder struct {
	cfg    RewarderConfig
	me     ledger.AccountID
	log    *slog.Logger
	q      chan *ledger.ServiceProof
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	signed, skipped, dropped, paid, refused, failedN atomic.Int64
	lastErr                                          atomic.Pointer[string]
	receipt                                          atomic.Uint64
}

// RewarderStats counts what the rewarder did.
type RewarderStats struct {
	Signed  int64 `json:"signed"`  // proofs signed and queued
	Skipped int64 `json:"skipped"` // events that earn nothing (failed check, hash mismatch, self, not an auditor)
	Dropped int64 `json:"dropped"` // queue full
	Paid    int64 `json:"paid"`    // proofs the worker was paid for
	Refused int64 `json:"refused"` // proofs the worker or witnesses refused (paid before, ...)
	Failed  int64 `json:"failed"`  // proofs that could not be delivered
	// LastError is the last refusal or delivery failure, for the monitor.
	LastError string `json:"last_error,omitempty"`
}

// NewRewarder starts a rewarder; Close stops it.
func NewRewarder(cfg RewarderConfig) (*Rewarder, error) {
	if cfg.Genesis == nil || len(cfg.Key) != ed25519.PrivateKeySize || cfg.Caller == nil || cfg.Resolve == nil || cfg.Now == nil {
		return nil, errors.New("rewarder: Genesis, Key, Caller, Resolve and Now are required")
	}
	if cfg.Epoch <= 0 {
		cfg.Epoch = 24 * time.Hour
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	r := &Rewarder{cfg: cfg, me: ledger.AccountID(cfg.Key.Public().(ed25519.PublicKey)), log: log.With("part", "rewarder"),
		q: make(chan *ledger.ServiceProof, 4096)}
	// Receipt numbers start from the clock, so a restarted reader never
	// reuses the payment identity of a receipt it signed before.
	r.receipt.Store(uint64(max(cfg.Now(), 0)) << 10)
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wg.Add(1)
	go r.loop()
	return r, nil
}

// Close stops the rewarder; queued proofs are dropped.
func (r *Rewarder) Close() { r.cancel(); r.wg.Wait() }

// Stats returns the counters.
func (r *Rewarder) Stats() RewarderStats {
	st := RewarderStats{Signed: r.signed.Load(), Skipped: r.skipped.Load(), Dropped: r.dropped.Load(),
		Paid: r.paid.Load(), Refused: r.refused.Load(), Failed: r.failedN.Load()}
	if e := r.lastErr.Load(); e != nil {
		st.LastError = *e
	}
	return st
}

// Audit reports a storage challenge of holder for one shard (node/shard's
// AuditEvent as plain values: shard ID, size, passed, and the proof the
// auditor expected and the one the holder answered). Only a passed
// challenge whose answer matched, by a genesis auditor, of another node,
// earns anything. The proof names the shard's content and the current
// epoch, so its payment identity is one per (holder, shard, epoch).
func (r *Rewarder) Audit(holder ed25519.PublicKey, shard [32]byte, size int64, passed bool, expected, observed [32]byte) {
	if !passed || expected != observed || !r.cfg.Genesis.IsAuditor(r.me) {
		r.skipped.Add(1)
		return
	}
	epoch := uint64(max(r.cfg.Now(), 0)) / uint64(r.cfg.Epoch.Milliseconds())
	r.proof(ledger.ProofStorage, holder, size, shard, shard, epoch)
}

// Delivery reports bytes holder delivered to this node as a reader
// (node/stream's DeliveryEvent as plain values: expected is the shard ID
// in the manifest, observed the SHA-256 of the bytes received). Each
// receipt gets its own number from this rewarder, so the fetcher's
// request counter restarting does not matter.
func (r *Rewarder) Delivery(holder ed25519.PublicKey, n int64, expected, observed [32]byte) {
	r.proof(ledger.ProofDelivery, holder, n, expected, observed, r.receipt.Add(1))
}

func (r *Rewarder) proof(kind ledger.ProofKind, holder ed25519.PublicKey, n int64, expected, observed [32]byte, period uint64) {
	if len(holder) != ed25519.PublicKeySize || n <= 0 || uint64(n) > uint64(ledger.MaxProofBytes) ||
		expected != observed || ledger.AccountID(holder) == r.me {
		r.skipped.Add(1)
		return
	}
	p := &ledger.ServiceProof{Genesis: r.cfg.Genesis.Hash(), Kind: kind, Node: ledger.AccountID(holder),
		Expected: expected, Observed: observed, Bytes: uint64(n), Period: period}
	p.Sign(r.cfg.Key)
	select {
	case r.q <- p:
		r.signed.Add(1)
	default:
		r.dropped.Add(1)
	}
}

// loop delivers queued proofs, grouped per worker.
func (r *Rewarder) loop() {
	defer r.wg.Done()
	for {
		var first *ledger.ServiceProof
		select {
		case <-r.ctx.Done():
			return
		case first = <-r.q:
		}
		groups := map[ledger.AccountID][]*ledger.ServiceProof{first.Node: {first}}
	more:
		for n := 1; n < 4*MaxClaimBatch; n++ {
			select {
			case p := <-r.q:
				groups[p.Node] = append(groups[p.Node], p)
			default:
				break more
			}
		}
		for node, ps := range groups {
			for len(ps) > 0 {
				k := min(len(ps), MaxClaimBatch)
				r.deliver(node, ps[:k])
				ps = ps[k:]
			}
		}
	}
}

// deliver sends one batch, retrying a few times while the worker is
// unreachable (a refusal is final).
func (r *Rewarder) deliver(node ledger.AccountID, ps []*ledger.ServiceProof) {
	var err error
	for try := 0; try < 3; try++ {
		if try > 0 {
			select {
			case <-r.ctx.Done():
				return
			case <-time.After(time.Duration(try) * time.Second):
			}
		}
		ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Timeout)
		var t cell.Target
		t, err = r.cfg.Resolve(ctx, ed25519.PublicKey(node[:]))
		var res []ClaimResult
		if err == nil {
			res, err = Claim(ctx, r.cfg.Caller, t, ps)
		}
		cancel()
		if err == nil {
			for _, cr := range res {
				if cr.Code == "" {
					r.paid.Add(1)
				} else {
					r.refused.Add(1)
					msg := cr.Code + ": " + cr.Msg
					r.lastErr.Store(&msg)
					r.log.Debug("proof refused", "node", node.Short(), "code", cr.Code, "msg", cr.Msg)
				}
			}
			return
		}
	}
	r.failedN.Add(int64(len(ps)))
	msg := err.Error()
	r.lastErr.Store(&msg)
	r.log.Info("service proofs not delivered", "node", node.Short(), "n", len(ps), "err", err)
}

// RegistryResolver finds a node's endpoint in a node's registry table
// among the ledger cell's members.
func RegistryResolver(reg *registry.Registry) func(context.Context, ed25519.PublicKey) (cell.Target, error) {
	return func(_ context.Context, node ed25519.PublicKey) (cell.Target, error) {
		for _, e := range reg.Lookup(DNA.Name, registry.MaxLookupLimit) {
			if bytes.Equal(e.Node, node) && len(e.Addrs) > 0 {
				return cell.Target{Key: e.Node, Addr: e.Addrs[0]}, nil
			}
		}
		return cell.Target{}, fmt.Errorf("node %x: %w", node[:4], ErrUnknownNode)
	}
}

// LookupResolver finds a node's endpoint by asking the registry cell of the
// node at peer (a conduit's way, like LookupWitnesses), verifying every
// entry.
func LookupResolver(caller *cell.Client, peer cell.Target) func(context.Context, ed25519.PublicKey) (cell.Target, error) {
	return func(ctx context.Context, node ed25519.PublicKey) (cell.Target, error) {
		es, err := registry.Lookup(ctx, caller, peer, DNA.Name)
		if err != nil {
			return cell.Target{}, fmt.Errorf("find node %x: %w", node[:4], err)
		}
		for _, e := range es {
			if bytes.Equal(e.Node, node) && len(e.Addrs) > 0 {
				return cell.Target{Key: e.Node, Addr: e.Addrs[0]}, nil
			}
		}
		return cell.Target{}, fmt.Errorf("node %x: %w", node[:4], ErrUnknownNode)
	}
}
