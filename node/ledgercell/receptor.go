package ledgercell

import (
	"context"
	"encoding/json"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/wire"
)

func badRequest(kind string, err error) error {
	return cell.Errorf(cell.CodeBadRequest, "%s: %v", kind, err)
}

func (c *Cell) handleVote(ctx context.Context, req *cell.Request) ([]byte, error) {
	if c.wit == nil {
		return nil, cell.Errorf(cell.CodeUnknownKind, "vote: %v", ErrNotWitness)
	}
	var q voteRequest
	if err := wire.Unmarshal(req.Env.Payload, &q); err != nil {
		return nil, badRequest(KindVote, err)
	}
	blocks, err := decodeBlocks(q.Blocks, MaxVoteBatch)
	if err != nil {
		return nil, badRequest(KindVote, err)
	}
	certs, err := decodeCerts(q.Certs, MaxConfirmBatch)
	if err != nil {
		return nil, badRequest(KindVote, err)
	}
	j, err := c.vote(ctx, certs, blocks)
	if err != nil {
		return nil, cell.Errorf(cell.CodeUnavailable, "vote: %v", err)
	}
	ans := voteAnswer{Results: make([]voteResult, len(blocks))}
	if len(certs) > 0 {
		res := j.ingest
		if q.Spread && len(res.news) > 0 {
			c.queueSpread(res.news)
		}
		c.stats.confirmed.Add(int64(res.applied))
		ca := confirmAnswer{Applied: res.applied, Known: res.known}
		if res.err != nil {
			ca.Errors = []string{res.err.Error()}
		}
		ans.Confirm = &ca
	}
	for i := range blocks {
		if err := j.errs[i]; err != nil {
			ans.Results[i] = voteResult{Code: reasonOf(err), Msg: err.Error(), Voted: j.voted[i]}
			continue
		}
		ans.Results[i] = voteResult{Vote: j.votes[i].Encode()}
	}
	return marshal(ans)
}

func (c *Cell) handleConfirm(ctx context.Context, req *cell.Request) ([]byte, error) {
	var q confirmRequest
	if err := wire.Unmarshal(req.Env.Payload, &q); err != nil {
		return nil, badRequest(KindConfirm, err)
	}
	certs, err := decodeCerts(q.Certs, MaxConfirmBatch)
	if err != nil {
		return nil, badRequest(KindConfirm, err)
	}
	res := c.ingest(ctx, certs)
	if q.Spread && len(res.news) > 0 {
		// Spread what this request taught the node (and what it unblocked),
		// not the certificates it already had: those were spread before.
		c.queueSpread(res.news)
	}
	c.stats.confirmed.Add(int64(res.applied))
	ans := confirmAnswer{Applied: res.applied, Known: res.known}
	if res.err != nil {
		ans.Errors = []string{res.err.Error()}
	}
	return marshal(ans)
}

func (c *Cell) handleSubmit(ctx context.Context, req *cell.Request) ([]byte, error) {
	if c.submit == nil {
		return nil, cell.Errorf(cell.CodeUnknownKind, "submit: this node knows no witnesses")
	}
	var q submitRequest
	if err := wire.Unmarshal(req.Env.Payload, &q); err != nil {
		return nil, badRequest(KindSubmit, err)
	}
	b, err := ledger.DecodeBlock(q.Block)
	if err != nil {
		return nil, badRequest(KindSubmit, err)
	}
	if err := b.VerifySignature(); err != nil {
		return nil, badRequest(KindSubmit, err)
	}
	cert, err := c.submit.Certify(ctx, b)
	if err != nil {
		return nil, submitError(err)
	}
	return cert.Encode(), nil
}

// submitError keeps the reason a client must see (refused, conflict, no
// quorum) in the receptor error's message and code.
func submitError(err error) error {
	switch {
	case errorsIs(err, ErrConflict), errorsIs(err, ErrRejected):
		return cell.Errorf(cell.CodeBadRequest, "submit: %v", err)
	case errorsIs(err, ErrNoQuorum), errorsIs(err, ErrNoWitnesses):
		return cell.Errorf(cell.CodeUnavailable, "submit: %v", err)
	}
	return err
}

func (c *Cell) accountReq(kind string, payload []byte) (ledger.AccountID, error) {
	var q accountRequest
	if err := wire.Unmarshal(payload, &q); err != nil {
		return ledger.AccountID{}, badRequest(kind, err)
	}
	a, err := accountOf(q.Account)
	if err != nil {
		return a, badRequest(kind, err)
	}
	return a, nil
}

func (c *Cell) handleBalance(_ context.Context, req *cell.Request) ([]byte, error) {
	a, err := c.accountReq(KindBalance, req.Env.Payload)
	if err != nil {
		return nil, err
	}
	return marshal(c.account(a, true))
}

func (c *Cell) handleHead(_ context.Context, req *cell.Request) ([]byte, error) {
	a, err := c.accountReq(KindHead, req.Env.Payload)
	if err != nil {
		return nil, err
	}
	return marshal(c.account(a, false))
}

func (c *Cell) account(a ledger.AccountID, pending bool) accountAnswer {
	c.mu.Lock()
	defer c.mu.Unlock()
	next, head := c.led.Head(a)
	ans := accountAnswer{Balance: uint64(c.led.Balance(a)), Next: next}
	if next > 0 {
		ans.Head = head[:]
	}
	if pending {
		for _, h := range c.credits[a] {
			s, ok := c.led.Send(h)
			if !ok || s.Credited {
				continue
			}
			node, work := c.rewardSource(h)
			ans.Pending = append(ans.Pending, PendingSend{Hash: append([]byte(nil), h[:]...), From: append([]byte(nil), s.From[:]...),
				Amount: uint64(s.Amount), Work: work, Node: node})
			if len(ans.Pending) == maxPending {
				break
			}
		}
	}
	return ans
}

func (c *Cell) handleChain(_ context.Context, req *cell.Request) ([]byte, error) {
	var q chainRequest
	if err := wire.Unmarshal(req.Env.Payload, &q); err != nil {
		return nil, badRequest(KindChain, err)
	}
	a, err := accountOf(q.Account)
	if err != nil {
		return nil, badRequest(KindChain, err)
	}
	if q.Limit < 0 || q.Limit > MaxPage {
		return nil, badRequest(KindChain, errLimit(q.Limit))
	}
	if q.Limit == 0 {
		q.Limit = MaxPage
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	chain := c.chains[a]
	ans := chainAnswer{Next: q.From}
	size := 0
	seen := map[ledger.Hash]bool{}
	for s := q.From; s < uint64(len(chain)) && len(ans.Certs) < q.Limit && size < maxPageBytes; s++ {
		ct, _ := c.led.Certificate(chain[s])
		enc := ct.Encode()
		size += len(enc)
		ans.Certs = append(ans.Certs, enc)
		if r, ok := ct.Block.Op.(*ledger.Receive); ok {
			for _, src := range r.Sources {
				if sc, ok := c.led.Certificate(src); ok && !seen[src] {
					seen[src] = true
					e := sc.Encode()
					size += len(e)
					ans.Sources = append(ans.Sources, e)
				}
			}
		}
		ans.Next = s + 1
	}
	if ans.Next < q.From {
		ans.Next = q.From
	}
	ans.More = ans.Next < uint64(len(chain))
	return marshal(ans)
}

func (c *Cell) hashReq(kind string, payload []byte) (*ledger.Certificate, error) {
	var q hashRequest
	if err := wire.Unmarshal(payload, &q); err != nil {
		return nil, badRequest(kind, err)
	}
	h, err := hashOf(q.Hash)
	if err != nil {
		return nil, badRequest(kind, err)
	}
	c.mu.Lock()
	ct, ok := c.led.Certificate(h)
	c.mu.Unlock()
	if !ok {
		return nil, cell.Errorf(cell.CodeNotFound, "%s: no certified block %s here", kind, h)
	}
	return ct, nil
}

func (c *Cell) handleBlock(_ context.Context, req *cell.Request) ([]byte, error) {
	ct, err := c.hashReq(KindBlock, req.Env.Payload)
	if err != nil {
		return nil, err
	}
	return ct.Block.Encode(), nil
}

func (c *Cell) handleCertificate(_ context.Context, req *cell.Request) ([]byte, error) {
	ct, err := c.hashReq(KindCertificate, req.Env.Payload)
	if err != nil {
		return nil, err
	}
	return ct.Encode(), nil
}

// MaxHistory bounds a history answer.
const MaxHistory = 256

func (c *Cell) handleHistory(_ context.Context, req *cell.Request) ([]byte, error) {
	var q historyRequest
	if err := wire.Unmarshal(req.Env.Payload, &q); err != nil {
		return nil, badRequest(KindHistory, err)
	}
	a, err := accountOf(q.Account)
	if err != nil {
		return nil, badRequest(KindHistory, err)
	}
	if q.Limit < 0 || q.Limit > MaxHistory {
		return nil, badRequest(KindHistory, errLimit(q.Limit))
	}
	if q.Limit == 0 {
		q.Limit = MaxHistory
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var items []HistoryItem
	chain := c.chains[a]
	for i := len(chain) - 1; i >= 0 && len(items) < q.Limit; i-- {
		ct, _ := c.led.Certificate(chain[i])
		items = append(items, historyItem(ct))
	}
	credits := c.credits[a]
	for i := len(credits) - 1; i >= 0 && len(items) < 2*q.Limit; i-- {
		s, _ := c.led.Send(credits[i])
		node, work := c.rewardSource(credits[i])
		items = append(items, HistoryItem{Hash: append([]byte(nil), credits[i][:]...), Kind: "incoming",
			Counterparty: append([]byte(nil), s.From[:]...), Amount: uint64(s.Amount), Credited: s.Credited, Work: work, Node: node})
	}
	if len(items) > q.Limit {
		items = items[:q.Limit]
	}
	return marshal(historyAnswer{Items: items})
}

// rewardSource names, for a credit that is a reward payout (paid by the
// treasury), the node whose work earned it and the kind of work; nothing
// for a send. mu held.
func (c *Cell) rewardSource(h ledger.Hash) (node []byte, work string) {
	if ct, ok := c.led.Certificate(h); ok {
		if r, ok := ct.Block.Op.(*ledger.Reward); ok {
			return append([]byte(nil), r.Binding.Node[:]...), workName(r.Proof.Kind)
		}
	}
	return nil, ""
}

func workName(k ledger.ProofKind) string {
	switch k {
	case ledger.ProofStorage:
		return "storage"
	case ledger.ProofDelivery:
		return "delivery"
	}
	return "work"
}

func historyItem(ct *ledger.Certificate) HistoryItem {
	b := ct.Block
	h := ct.BlockHash()
	it := HistoryItem{Hash: h[:], Seq: b.Seq, Kind: b.Op.Kind().String()}
	switch op := b.Op.(type) {
	case *ledger.Send:
		it.Counterparty, it.Amount, it.Fee = op.To[:], uint64(op.Amount), uint64(op.Fee)
	case *ledger.Receive:
		it.Amount = uint64(len(op.Sources)) // number of sends credited
	case *ledger.LaneOpen:
		it.Counterparty, it.Amount = op.Payee[:], uint64(op.Amount)
	case *ledger.Reward:
		it.Counterparty, it.Amount, it.Work = op.Binding.Owner[:], uint64(op.Amount), workName(op.Proof.Kind)
	case *ledger.LaneRedeem:
		it.Amount = uint64(op.Voucher.Cumulative) // cumulative on the lane
	case *ledger.LaneSettle:
		it.Amount = uint64(op.Refund)
	}
	return it
}

func (c *Cell) handleCerts(_ context.Context, req *cell.Request) ([]byte, error) {
	var q certsRequest
	if err := wire.Unmarshal(req.Env.Payload, &q); err != nil {
		return nil, badRequest(KindCerts, err)
	}
	if len(q.Want) > 0 {
		return c.serveWanted(q.Want)
	}
	maxLimit := MaxPage
	if q.Inv {
		maxLimit = MaxInvPage
	}
	if q.From < 0 || q.Limit < 0 || q.Limit > maxLimit {
		return nil, badRequest(KindCerts, errLimit(q.Limit))
	}
	if q.Limit == 0 {
		q.Limit = maxLimit
	}
	c.mu.Lock()
	total := c.led.Len()
	var page []*ledger.Certificate
	if q.From < total {
		// Certificates(from) copies the tail; bound it to one page first.
		all := c.led.Certificates(q.From)
		page = all[:min(len(all), q.Limit)]
	}
	c.mu.Unlock()
	ans := certsAnswer{Total: total, Next: min(q.From, total)}
	if q.Inv {
		ans.Hashes = make([][]byte, len(page))
		for i, ct := range page {
			h := ct.BlockHash()
			ans.Hashes[i] = h[:]
		}
		ans.Next += len(page)
		return marshal(ans)
	}
	size := 0
	for _, ct := range page {
		if size >= maxPageBytes {
			break
		}
		e := ct.Encode()
		size += len(e)
		ans.Certs = append(ans.Certs, e)
		ans.Next++
	}
	return marshal(ans)
}

// serveWanted answers a catch-up request for certificates by block hash,
// in the order asked, leaving out those the node does not hold; Next
// says how many of the hashes the answer covers (the rest did not fit).
func (c *Cell) serveWanted(want [][]byte) ([]byte, error) {
	if len(want) > MaxPage {
		return nil, badRequest(KindCerts, errLimit(len(want)))
	}
	hs := make([]ledger.Hash, len(want))
	for i, w := range want {
		h, err := hashOf(w)
		if err != nil {
			return nil, badRequest(KindCerts, err)
		}
		hs[i] = h
	}
	var ans certsAnswer
	size := 0
	c.mu.Lock()
	ans.Total = c.led.Len()
	for _, h := range hs {
		if size >= maxPageBytes {
			break
		}
		ans.Next++
		ct, ok := c.led.Certificate(h)
		if !ok {
			continue
		}
		e := ct.Encode()
		size += len(e)
		ans.Certs = append(ans.Certs, e)
	}
	c.mu.Unlock()
	return marshal(ans)
}

func (c *Cell) handleGenesis(context.Context, *cell.Request) ([]byte, error) {
	return json.Marshal(c.g)
}
