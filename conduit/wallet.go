package conduit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/ledgercell"
	"github.com/borgios/borgios/web"
)

// walletTimeout bounds one wallet operation (a send waits for witness
// votes).
const walletTimeout = 60 * time.Second

// historyLimit is how many lines of history the wallet shows.
const historyLimit = 50

// errBadSend: the send form or request is not a valid send.
var errBadSend = errors.New("conduit: bad send")

// walletSession is a ledger client for the unlocked person over the pool.
type walletSession struct {
	*netSession
	ledger *ledgercell.Client
}

func (w *walletSession) close() {
	w.ledger.Close()
	w.netSession.close()
}

// openWallet connects to the ledger through the pool's best ledger
// endpoint, which certifies blocks on the person's behalf; queries may go
// to any ledger endpoint. The genesis is fetched once and kept: it is the
// network's root of trust for every balance shown.
func (s *Server) openWallet(ctx context.Context) (*walletSession, error) {
	ns, err := s.openSession()
	if err != nil {
		return nil, err
	}
	targets := ns.pool.Endpoints(ledgercell.DNA.Name)
	if len(targets) == 0 {
		ns.close()
		return nil, fmt.Errorf("%w: no node serves the ledger", ErrNotConnected)
	}
	g, err := s.ledgerGenesis(ctx, ns)
	if err != nil {
		ns.close()
		return nil, err
	}
	cfg := ledgercell.ClientConfig{Genesis: g, Caller: ns.call, Peers: targets, Timeout: 20 * time.Second}
	// With a quorum of witnesses among the pool's ledger endpoints the
	// conduit collects the votes itself, from the endpoints it measured;
	// otherwise it asks the best endpoint to certify on its behalf, which
	// depends on that node's view of the witnesses (right after a start
	// it may know too few).
	if ws := witnessesIn(g, targets); len(ws) >= g.Quorum() {
		cfg.Witnesses = ledgercell.StaticWitnesses(ws)
	} else {
		submit := targets[0]
		cfg.Submit = &submit
	}
	c := ledgercell.NewClient(cfg)
	return &walletSession{netSession: ns, ledger: c}, nil
}

// witnessesIn are the endpoints among ts whose key is a witness of g.
func witnessesIn(g *ledger.Genesis, ts []cell.Target) []cell.Target {
	var out []cell.Target
	for _, t := range ts {
		if _, ok := g.WitnessIndex(t.Key); ok {
			out = append(out, t)
		}
	}
	return out
}

func (s *Server) ledgerGenesis(ctx context.Context, ns *netSession) (*ledger.Genesis, error) {
	s.genesisMu.Lock()
	defer s.genesisMu.Unlock()
	if s.genesis != nil {
		return s.genesis, nil
	}
	err := ns.pool.Do(ctx, ledgercell.DNA.Name, func(ctx context.Context, t cell.Target) error {
		g, err := ledgercell.FetchGenesis(ctx, ns.call, t)
		if err == nil {
			s.genesis = g
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("conduit: fetching the ledger genesis: %w", err)
	}
	return s.genesis, nil
}

// walletJSON is GET /api/wallet.
type walletJSON struct {
	Address string        `json:"address"`
	Balance ledger.Amount `json:"balance"`
	Blocks  uint64        `json:"blocks"`
	Pending []pendingJSON `json:"pending"`
	History []historyJSON `json:"history"`
	Sum     ledger.Amount `json:"pending_total"`
	// Earnings are the rewards the person's nodes earned (paid to them as
	// the owner the node is bound to), newest first, within the history
	// shown.
	Earnings []earningJSON `json:"earnings"`
	items    []web.WalletItem
}

// earningJSON is one reward a node of the person's earned: the node that
// did the work, what for, and whether the payout is credited yet.
type earningJSON struct {
	Block    string        `json:"block"`
	Node     string        `json:"node"`
	Amount   ledger.Amount `json:"amount"`
	Work     string        `json:"work"` // "storage" or "delivery"
	Bytes    uint64        `json:"bytes"`
	Credited bool          `json:"credited"`
}

type pendingJSON struct {
	From   string        `json:"from"`
	Amount ledger.Amount `json:"amount"`
}

type historyJSON struct {
	Seq      uint64        `json:"seq"`
	Kind     string        `json:"kind"`
	Amount   ledger.Amount `json:"amount"`
	Fee      ledger.Amount `json:"fee,omitempty"`
	With     string        `json:"with,omitempty"`
	Credited bool          `json:"credited,omitempty"`
}

func accountAddress(b []byte) string {
	if len(b) != ed25519.PublicKeySize {
		return ""
	}
	return identity.Address(ed25519.PublicKey(b))
}

// wallet reads the person's verified balance, pending sends and history.
func (s *Server) wallet(ctx context.Context) (walletJSON, error) {
	ctx, cancel := context.WithTimeout(ctx, walletTimeout)
	defer cancel()
	ws, err := s.openWallet(ctx)
	if err != nil {
		return walletJSON{}, err
	}
	defer ws.close()
	me := ws.ledger.Account()
	info, err := s.balanceSince(ctx, ws, me)
	if err != nil {
		return walletJSON{}, fmt.Errorf("conduit: balance: %w", err)
	}
	out := walletJSON{Address: accountAddress(me[:]), Balance: info.Balance, Blocks: info.Next, Pending: []pendingJSON{}, History: []historyJSON{}}
	for _, p := range info.Pending {
		out.Pending = append(out.Pending, pendingJSON{From: accountAddress(p.From), Amount: ledger.Amount(p.Amount)})
		out.Sum += ledger.Amount(p.Amount)
	}
	items, err := ws.ledger.History(ctx, me, historyLimit)
	if err != nil {
		return walletJSON{}, fmt.Errorf("conduit: history: %w", err)
	}
	out.Earnings = []earningJSON{}
	for _, it := range items {
		if it.Kind == "earned" || (it.Kind == "incoming" && bytes.Equal(it.Counterparty, ledger.Treasury[:])) {
			// A reward for a node's work (older nodes report it as a
			// payout from the treasury). The history is only what one
			// node says; the certificate, verified against the genesis,
			// is what names the node, the work and the amount shown.
			e, err := s.earning(ctx, ws, it)
			if err != nil {
				s.log.Warn("conduit: wallet: reward certificate", "err", err)
			} else {
				out.Earnings = append(out.Earnings, e)
				wi := web.WalletItem{Kind: "earned by node", Amount: "+" + e.Amount.String(), Who: e.Node, State: "waiting"}
				if e.Credited {
					wi.State = "credited"
				}
				out.History = append(out.History, historyJSON{Kind: "reward", Amount: e.Amount, With: e.Node, Credited: e.Credited})
				out.items = append(out.items, wi)
				continue
			}
		}
		h := historyJSON{Seq: it.Seq, Kind: it.Kind, Amount: ledger.Amount(it.Amount), Fee: ledger.Amount(it.Fee), With: accountAddress(it.Counterparty), Credited: it.Credited}
		if it.Kind == "receive" {
			h.Amount = 0 // Amount counts the sends credited, not shells
		}
		out.History = append(out.History, h)
		wi := web.WalletItem{Seq: it.Seq, Kind: it.Kind, Who: h.With}
		switch it.Kind {
		case "send":
			wi.Kind, wi.Amount, wi.Fee = "sent", "−"+h.Amount.String(), h.Fee.String()
		case "receive":
			wi.Kind = fmt.Sprintf("received %d send(s)", it.Amount)
		case "incoming":
			wi.Amount = "+" + h.Amount.String()
			wi.State = "waiting"
			if it.Credited {
				wi.State = "credited"
			}
		default:
			if h.Amount > 0 {
				wi.Amount = h.Amount.String()
			}
		}
		out.items = append(out.items, wi)
	}
	return out, nil
}

// earning reads the reward behind a treasury payout from its verified
// certificate.
func (s *Server) earning(ctx context.Context, ws *walletSession, it ledgercell.HistoryItem) (earningJSON, error) {
	var h ledger.Hash
	if len(it.Hash) != len(h) {
		return earningJSON{}, fmt.Errorf("reward with a %d-byte hash", len(it.Hash))
	}
	copy(h[:], it.Hash)
	ct, err := ws.ledger.Certificate(ctx, h)
	if err != nil {
		return earningJSON{}, err
	}
	rw, ok := ct.Block.Op.(*ledger.Reward)
	if !ok {
		return earningJSON{}, fmt.Errorf("treasury payout %s is a %s block, not a reward", h, ct.Block.Op.Kind())
	}
	e := earningJSON{Block: h.String(), Node: accountAddress(rw.Binding.Node[:]), Amount: rw.Amount,
		Bytes: rw.Proof.Bytes, Credited: it.Credited, Work: "delivery"}
	if rw.Proof.Kind == ledger.ProofStorage {
		e.Work = "storage"
	}
	return e, nil
}

// nodeEarnings sums the earnings per node for the page, biggest first.
func nodeEarnings(es []earningJSON) []web.NodeEarning {
	idx := map[string]int{}
	var out []web.NodeEarning
	sums := []ledger.Amount{}
	for _, e := range es {
		i, ok := idx[e.Node]
		if !ok {
			i = len(out)
			idx[e.Node] = i
			out = append(out, web.NodeEarning{Node: e.Node})
			sums = append(sums, 0)
		}
		sums[i] += e.Amount
		out[i].Rewards++
		out[i].Bytes += e.Bytes
	}
	for i := range out {
		out[i].Total = sums[i].String()
		out[i].Sum = uint64(sums[i])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Sum > out[j].Sum })
	return out
}

// parseSend checks a send's recipient and amount.
func parseSend(to, amount string) (ledger.AccountID, ledger.Amount, error) {
	to = strings.TrimSpace(to)
	var acct ledger.AccountID
	if strings.HasPrefix(strings.ToLower(to), identity.AddressHRP) {
		pub, err := identity.ParseAddress(to)
		if err != nil {
			return acct, 0, fmt.Errorf("%w: that address is not valid (%v)", errBadSend, err)
		}
		acct = ledger.AccountID(pub)
	} else {
		a, err := ledger.ParseAccount(to)
		if err != nil {
			return acct, 0, fmt.Errorf("%w: give a borg1… address", errBadSend)
		}
		acct = a
	}
	amt, err := ledger.ParseAmount(strings.TrimSpace(amount))
	if err != nil || amt == 0 {
		return acct, 0, fmt.Errorf("%w: the amount must be a positive number of shells with at most six decimals", errBadSend)
	}
	return acct, amt, nil
}

// send certifies a send block. It is not retried on another node: a
// certificate whose answer was lost would make a retry a second send.
func (s *Server) send(ctx context.Context, to ledger.AccountID, amt ledger.Amount) (*ledger.Certificate, error) {
	defer s.home.forget()
	ctx, cancel := context.WithTimeout(ctx, walletTimeout)
	defer cancel()
	ws, err := s.openWallet(ctx)
	if err != nil {
		return nil, err
	}
	defer ws.close()
	if to == ws.ledger.Account() {
		return nil, fmt.Errorf("%w: that is your own address", errBadSend)
	}
	ct, err := ws.ledger.Send(ctx, to, amt)
	s.wrote(ct)
	return ct, err
}

func (s *Server) receive(ctx context.Context) (*ledger.Certificate, error) {
	defer s.home.forget()
	ctx, cancel := context.WithTimeout(ctx, walletTimeout)
	defer cancel()
	ws, err := s.openWallet(ctx)
	if err != nil {
		return nil, err
	}
	defer ws.close()
	ct, err := ws.ledger.Receive(ctx)
	s.wrote(ct)
	return ct, err
}

// wrote remembers the newest block this conduit certified for an
// account, so the next balance shown is never older (read your own
// writes): certificates reach the other nodes a moment after the quorum.
func (s *Server) wrote(ct *ledger.Certificate) {
	if ct == nil || ct.Block == nil {
		return
	}
	s.headsMu.Lock()
	defer s.headsMu.Unlock()
	if s.heads == nil {
		s.heads = map[ledger.AccountID]uint64{}
	}
	if a := ct.Block.Account; ct.Block.Seq+1 > s.heads[a] {
		s.heads[a] = ct.Block.Seq + 1
	}
}

// balanceSince reads acct's verified balance, and when the node asked
// has not yet got the newest block this conduit certified for it, asks
// again (up to about two seconds) rather than show an older balance.
func (s *Server) balanceSince(ctx context.Context, ws *walletSession, acct ledger.AccountID) (ledgercell.AccountInfo, error) {
	s.headsMu.Lock()
	want := s.heads[acct]
	s.headsMu.Unlock()
	for try := 1; ; try++ {
		info, err := ws.ledger.Balance(ctx, acct)
		if err != nil || info.Next >= want || try == 6 {
			return info, err
		}
		select {
		case <-ctx.Done():
			return info, nil
		case <-time.After(time.Duration(try) * 100 * time.Millisecond):
		}
	}
}

func walletError(err error) (int, apiError) {
	switch {
	case errors.Is(err, ErrLocked):
		return http.StatusUnauthorized, apiError{Error: "locked: unlock first", Code: "locked"}
	case errors.Is(err, ErrNotConnected):
		return http.StatusServiceUnavailable, apiError{Error: "not connected to a network yet", Code: "not_connected"}
	case errors.Is(err, errBadSend):
		return http.StatusBadRequest, apiError{Error: strings.TrimPrefix(err.Error(), errBadSend.Error()+": "), Code: "bad_send"}
	}
	return http.StatusBadGateway, apiError{Error: "the ledger could not do it: " + err.Error(), Code: "network"}
}

func (s *Server) writeWalletError(w http.ResponseWriter, err error) {
	status, e := walletError(err)
	if status == http.StatusBadGateway {
		s.log.Warn("conduit: wallet", "err", err)
	}
	writeJSON(w, status, e)
}

func (s *Server) apiWallet(w http.ResponseWriter, r *http.Request) {
	out, err := s.wallet(r.Context())
	if err != nil {
		s.writeWalletError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// sendRequest is POST /api/wallet/send. The API has no separate confirm
// step: a script confirms by calling it.
type sendRequest struct {
	To     string `json:"to"`
	Amount string `json:"amount"`
}

type certJSON struct {
	Block     string        `json:"block"`
	Seq       uint64        `json:"seq"`
	Kind      string        `json:"kind"`
	Amount    ledger.Amount `json:"amount,omitempty"`
	To        string        `json:"to,omitempty"`
	Witnesses int           `json:"witnesses"`
}

func certOut(ct *ledger.Certificate) certJSON {
	o := certJSON{Block: ct.BlockHash().String(), Seq: ct.Block.Seq, Kind: ct.Block.Op.Kind().String(), Witnesses: len(ct.Sigs)}
	if sd, ok := ct.Block.Op.(*ledger.Send); ok {
		o.Amount, o.To = sd.Amount, accountAddress(sd.To[:])
	}
	return o
}

func (s *Server) apiWalletSend(w http.ResponseWriter, r *http.Request) {
	var req sendRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	to, amt, err := parseSend(req.To, req.Amount)
	if err != nil {
		s.writeWalletError(w, err)
		return
	}
	ct, err := s.send(r.Context(), to, amt)
	if err != nil {
		s.writeWalletError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, certOut(ct))
}

func (s *Server) apiWalletReceive(w http.ResponseWriter, r *http.Request) {
	ct, err := s.receive(r.Context())
	if err != nil {
		s.writeWalletError(w, err)
		return
	}
	if ct == nil {
		writeJSON(w, http.StatusOK, struct {
			Received bool `json:"received"`
		}{})
		return
	}
	writeJSON(w, http.StatusOK, certOut(ct))
}

func (s *Server) walletView(r *http.Request) web.WalletView {
	p := s.chrome("Wallet", web.NavWallet)
	p.NeedsKeys = true
	v := web.WalletView{Page: p, Address: p.Address, Balance: "—", Faucet: s.cfg.Faucet != nil}
	out, err := s.wallet(r.Context())
	if err != nil {
		_, e := walletError(err)
		v.Error = "Could not read your wallet: " + e.Error
		return v
	}
	v.Balance = out.Balance.String()
	if out.Sum > 0 {
		v.Pending = out.Sum.String()
	}
	v.History = out.items
	v.Earnings = nodeEarnings(out.Earnings)
	return v
}

func (s *Server) pageWallet(w http.ResponseWriter, r *http.Request) {
	if !s.unlocked() {
		seeOther(w, r, "/welcome")
		return
	}
	v := s.walletView(r)
	v.Notice = r.URL.Query().Get("notice")
	if len(v.Notice) > 200 {
		v.Notice = v.Notice[:200]
	}
	s.render(w, r, http.StatusOK, web.WalletPage(v))
}

// postWalletSend is the form: without confirm=yes it shows the
// confirmation page; with it, it sends.
func (s *Server) postWalletSend(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	toText, amtText := strings.TrimSpace(r.PostForm.Get("to")), strings.TrimSpace(r.PostForm.Get("amount"))
	to, amt, err := parseSend(toText, amtText)
	fail := func(status int, err error) {
		v := s.walletView(r)
		_, e := walletError(err)
		v.Error, v.To, v.Amount = "Not sent: "+e.Error, toText, amtText
		s.render(w, r, status, web.WalletPage(v))
	}
	if err != nil {
		fail(http.StatusUnprocessableEntity, err)
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		p := s.chrome("Confirm the send", web.NavWallet)
		p.NeedsKeys = true
		bal := "—"
		if out, err := s.wallet(r.Context()); err == nil {
			bal = out.Balance.String()
		}
		s.render(w, r, http.StatusOK, web.WalletConfirmPage(web.WalletConfirmView{
			Page: p, To: accountAddress(to[:]), Amount: amt.String(), Balance: bal}))
		return
	}
	if _, err := s.send(r.Context(), to, amt); err != nil {
		status, _ := walletError(err)
		fail(status, err)
		return
	}
	seeOther(w, r, "/wallet?notice="+url.QueryEscape("Sent "+amt.String()+" shells to "+accountAddress(to[:])+"."))
}

func (s *Server) postWalletReceive(w http.ResponseWriter, r *http.Request) {
	ct, err := s.receive(r.Context())
	if err != nil {
		_, e := walletError(err)
		seeOther(w, r, "/wallet?notice="+url.QueryEscape("Could not receive: "+e.Error))
		return
	}
	msg := "Nothing was waiting."
	if ct != nil {
		msg = "Received."
	}
	seeOther(w, r, "/wallet?notice="+url.QueryEscape(msg))
}
