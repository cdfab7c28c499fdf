package conduit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/web"
)

// keyFileKDF is the cost of the key files Settings makes; tests lower it.
var keyFileKDF = identity.DefaultKDFParams

// keyFileName is the download's suggested name.
const keyFileName = "borgios.keyfile"

// earningsTimeout bounds the ledger lookup behind "Nodes I own", so that a
// slow network makes the page say "not available" rather than hang.
const earningsTimeout = 3 * time.Second

func (s *Server) keyFileWriter() (KeyFileWriter, bool) {
	w, ok := s.cfg.KeyFile.(KeyFileWriter)
	return w, ok && w != nil
}

func (s *Server) settingsView(ctx context.Context) (web.SettingsView, bool) {
	id, err := s.vault.Identity()
	if err != nil {
		return web.SettingsView{}, false
	}
	p := s.chrome("Settings", web.NavSettings)
	p.NeedsKeys = true
	p.Styles = append(p.Styles, "settings.css")
	_, canSave := s.keyFileWriter()
	v := web.SettingsView{Page: p, IdleLock: humanDuration(s.cfg.IdleLock), CanSaveKeyFile: canSave}
	v.Nodes.Owned, v.Nodes.EarningsNote = s.ownedView(ctx, id)
	return v, true
}

// settingsPage is GET /settings.
func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request) {
	v, ok := s.settingsView(r.Context())
	if !ok {
		seeOther(w, r, "/welcome")
		return
	}
	s.render(w, r, http.StatusOK, web.SettingsPage(v))
}

func (s *Server) parseSettingsForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	return true
}

// postSettingsKeyFile is POST /settings/keyfile: make a key file of the
// unlocked identity and save it on the stick (to=stick, when the conduit
// can) or send it as a download.
func (s *Server) postSettingsKeyFile(w http.ResponseWriter, r *http.Request) {
	if !s.parseSettingsForm(w, r) {
		return
	}
	f := r.PostForm
	data, err := s.sealKeyFile(f.Get("mnemonic"), f.Get("bip39"), f.Get("passphrase"), f.Get("passphrase2"), keyFileKDF)
	if errors.Is(err, ErrLocked) {
		seeOther(w, r, "/welcome")
		return
	}
	v, ok := s.settingsView(r.Context())
	if !ok {
		seeOther(w, r, "/welcome")
		return
	}
	if err != nil {
		v.KeyFileError = sealErrorMessage(f.Get("mnemonic"), err)
		s.render(w, r, http.StatusUnprocessableEntity, web.SettingsPage(v))
		return
	}
	if f.Get("to") == "stick" {
		kw, ok := s.keyFileWriter()
		if !ok {
			v.KeyFileError = "This conduit has no place on a stick to save to: download the key file instead."
			s.render(w, r, http.StatusUnprocessableEntity, web.SettingsPage(v))
			return
		}
		if err := kw.WriteKeyFile(data); err != nil {
			s.log.Error("conduit: saving key file", "err", err)
			v.KeyFileError = "The key file could not be saved on the stick: " + err.Error()
			s.render(w, r, http.StatusInternalServerError, web.SettingsPage(v))
			return
		}
		v.KeyFileNotice = "Key file saved on the stick. Next time, unlock with its passphrase."
		s.render(w, r, http.StatusOK, web.SettingsPage(v))
		return
	}
	sendKeyFile(w, data)
}

func sendKeyFile(w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+keyFileName+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// sealErrorMessage says what to fix. Like the unlock form's messages it
// may quote a mistyped word, so it goes to the page only, never the log.
func sealErrorMessage(mnemonic string, err error) string {
	switch {
	case errors.Is(err, ErrPassphraseMismatch):
		return "The two passphrases differ: type the same one twice."
	case errors.Is(err, ErrWeakPassphrase):
		return "Choose a passphrase of at least " + strconv.Itoa(minKeyFilePassphrase) + " characters: the key file may be copied and guessed at."
	case errors.Is(err, ErrOtherIdentity):
		return "These words (with this extra word) belong to another identity than the one unlocked. Check them."
	}
	return phraseErrorMessage(mnemonic, err)
}

// bindingError turns a binding problem into a sentence.
func bindingError(err error) string {
	switch {
	case errors.Is(err, ErrBindingText):
		return "That is not a binding request: paste the whole line `borgios node init --owner` printed, starting with " + BindingPrefix
	case errors.Is(err, ledger.ErrBadBinding):
		return "This request names another owner: run `borgios node init --owner` on the node again with your address."
	case errors.Is(err, ledger.ErrBadSignature):
		return "The node's signature on this request does not check out: it was changed on the way. Copy it from the node again."
	case errors.Is(err, ErrLocked):
		return "Locked: unlock first."
	}
	return "The request could not be approved: " + err.Error()
}

// reviewBinding decodes a pasted request and checks it is for the
// unlocked identity, without signing anything.
func (s *Server) reviewBinding(ctx context.Context, text string) (*ledger.NodeBinding, *web.BindingReview, error) {
	id, err := s.vault.Identity()
	if err != nil {
		return nil, nil, err
	}
	b, err := DecodeBinding(text)
	if err != nil {
		return nil, nil, err
	}
	if !ed25519.PublicKey(b.Owner[:]).Equal(id.AccountPublic) {
		return nil, nil, ledger.ErrBadBinding
	}
	rv := &web.BindingReview{NodeKey: hex.EncodeToString(b.Node[:]), Owner: id.Address, Genesis: hex.EncodeToString(b.Genesis[:8])}
	if g := s.knownGenesis(ctx); g != nil && g.Hash() != b.Genesis {
		rv.GenesisNote = "This node runs another ledger than the network this conduit is connected to (genesis " +
			func() string { h := g.Hash(); return hex.EncodeToString(h[:8]) }() + "): its rewards would not show here. Start the node with the network's --genesis and run init again."
	}
	return b, rv, nil
}

// knownGenesis is the connected network's ledger genesis, fetched once
// (the wallet shares it), or nil when there is no network to ask.
func (s *Server) knownGenesis(ctx context.Context) *ledger.Genesis {
	s.genesisMu.Lock()
	g := s.genesis
	s.genesisMu.Unlock()
	if g != nil || s.pool() == nil {
		return g
	}
	ns, err := s.openSession()
	if err != nil {
		return nil
	}
	defer ns.close()
	ctx, cancel := context.WithTimeout(ctx, earningsTimeout)
	defer cancel()
	g, err = s.ledgerGenesis(ctx, ns)
	if err != nil {
		return nil
	}
	return g
}

// approveBinding countersigns a pasted request with the unlocked account
// key and remembers the node.
func (s *Server) approveBinding(text string) (*ledger.NodeBinding, error) {
	id, err := s.vault.Identity()
	if err != nil {
		return nil, err
	}
	b, err := DecodeBinding(text)
	if err != nil {
		return nil, err
	}
	err = s.vault.WithKeys(func(k *identity.Keys) error { return b.SignOwner(k.Account) })
	if err != nil {
		return nil, err
	}
	if err := b.Verify(); err != nil {
		return nil, err
	}
	var owner ledger.AccountID
	copy(owner[:], id.AccountPublic)
	s.net().owned.add(owner, b.Node, s.cfg.Clock())
	return b, nil
}

func (s *Server) postNodeReview(w http.ResponseWriter, r *http.Request) {
	if !s.parseSettingsForm(w, r) {
		return
	}
	v, ok := s.settingsView(r.Context())
	if !ok {
		seeOther(w, r, "/welcome")
		return
	}
	text := r.PostForm.Get("request")
	v.Nodes.Request = text
	_, rv, err := s.reviewBinding(r.Context(), text)
	if err != nil {
		v.Nodes.Error = bindingError(err)
		s.render(w, r, http.StatusUnprocessableEntity, web.SettingsPage(v))
		return
	}
	v.Nodes.Review = rv
	s.render(w, r, http.StatusOK, web.SettingsPage(v))
}

func (s *Server) postNodeApprove(w http.ResponseWriter, r *http.Request) {
	if !s.parseSettingsForm(w, r) {
		return
	}
	text := r.PostForm.Get("request")
	if r.PostForm.Get("confirm") != "yes" {
		seeOther(w, r, "/settings#nodes")
		return
	}
	b, err := s.approveBinding(text)
	v, ok := s.settingsView(r.Context())
	if !ok {
		seeOther(w, r, "/welcome")
		return
	}
	if err != nil {
		v.Nodes.Request = text
		v.Nodes.Error = bindingError(err)
		s.render(w, r, http.StatusUnprocessableEntity, web.SettingsPage(v))
		return
	}
	v.Nodes.Completed = EncodeBinding(b)
	s.render(w, r, http.StatusOK, web.SettingsPage(v))
}

// ownedView lists the nodes bound to id: those approved here, and those
// the ledger shows earning for id. Treasury payouts in the account's
// history are rewards; each one's certificate (verified) names the node
// through its binding, as on the Wallet page.
func (s *Server) ownedView(ctx context.Context, id Identity) ([]web.OwnedNode, string) {
	var owner ledger.AccountID
	copy(owner[:], id.AccountPublic)
	type row struct {
		at      time.Time
		earned  ledger.Amount
		payouts int
	}
	rows := map[ledger.AccountID]*row{}
	for _, n := range s.net().owned.of(owner) {
		rows[n.node] = &row{at: n.at}
	}
	note := ""
	if s.pool() == nil {
		if len(rows) > 0 {
			note = "Earnings show once this conduit is connected to the network."
		}
	} else if err := s.ledgerEarnings(ctx, func(node ledger.AccountID, amount ledger.Amount) {
		r := rows[node]
		if r == nil {
			r = &row{}
			rows[node] = r
		}
		r.earned += amount
		r.payouts++
	}); err != nil {
		note = "Earnings are not available right now: " + err.Error()
	}
	out := make([]web.OwnedNode, 0, len(rows))
	for k, r := range rows {
		o := web.OwnedNode{Key: hex.EncodeToString(k[:]), Short: hex.EncodeToString(k[:4]), Earnings: "—", Payouts: r.payouts}
		if r.payouts > 0 {
			o.Earnings = r.earned.String() + " shells"
		}
		if !r.at.IsZero() {
			o.BoundAt = r.at.Format("2006-01-02 15:04")
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, note
}

// ledgerEarnings calls add for every reward paid to the unlocked account
// in its recent history, bounded in time.
func (s *Server) ledgerEarnings(ctx context.Context, add func(node ledger.AccountID, amount ledger.Amount)) error {
	ctx, cancel := context.WithTimeout(ctx, earningsTimeout)
	defer cancel()
	ws, err := s.openWallet(ctx)
	if err != nil {
		return err
	}
	defer ws.close()
	items, err := ws.ledger.History(ctx, ws.ledger.Account(), historyLimit)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.Kind != "incoming" || !bytes.Equal(it.Counterparty, ledger.Treasury[:]) {
			continue
		}
		e, err := s.earning(ctx, ws, it)
		if err != nil {
			s.log.Warn("conduit: settings: reward certificate", "err", err)
			continue
		}
		pub, err := identity.ParseAddress(e.Node)
		if err != nil {
			continue
		}
		var node ledger.AccountID
		copy(node[:], pub)
		add(node, e.Amount)
	}
	return nil
}

// --- JSON API ---

type keyFileRequest struct {
	Mnemonic   string `json:"mnemonic"`
	BIP39      string `json:"bip39,omitempty"`
	Passphrase string `json:"passphrase"`
	// Save stores the file on the stick (when the conduit can) instead of
	// returning its bytes.
	Save bool `json:"save,omitempty"`
}

// apiKeyFile is POST /api/keyfile: the key file's bytes, or {"saved":true}.
func (s *Server) apiKeyFile(w http.ResponseWriter, r *http.Request) {
	var q keyFileRequest
	if !decodeJSON(w, r, &q) {
		return
	}
	data, err := s.sealKeyFile(q.Mnemonic, q.BIP39, q.Passphrase, q.Passphrase, keyFileKDF)
	switch {
	case errors.Is(err, ErrLocked):
		writeJSON(w, http.StatusUnauthorized, apiError{Error: "locked: unlock first", Code: "locked"})
		return
	case err != nil:
		writeJSON(w, http.StatusBadRequest, apiError{Error: sealErrorMessage(q.Mnemonic, err), Code: "bad_key_file_request"})
		return
	}
	if !q.Save {
		sendKeyFile(w, data)
		return
	}
	kw, ok := s.keyFileWriter()
	if !ok {
		writeJSON(w, http.StatusConflict, apiError{Error: "no stick to save the key file on", Code: "cannot_save"})
		return
	}
	if err := kw.WriteKeyFile(data); err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error(), Code: "save_failed"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"saved": true})
}

type bindingRequest struct {
	Request string `json:"request"`
}

type bindingJSON struct {
	Node    string `json:"node"`
	Owner   string `json:"owner"`
	Genesis string `json:"genesis"`
	Binding string `json:"binding"`
}

// apiNodeApprove is POST /api/nodes/approve: countersign a request.
func (s *Server) apiNodeApprove(w http.ResponseWriter, r *http.Request) {
	var q bindingRequest
	if !decodeJSON(w, r, &q) {
		return
	}
	b, err := s.approveBinding(q.Request)
	switch {
	case errors.Is(err, ErrLocked):
		writeJSON(w, http.StatusUnauthorized, apiError{Error: "locked: unlock first", Code: "locked"})
		return
	case err != nil:
		writeJSON(w, http.StatusBadRequest, apiError{Error: bindingError(err), Code: "bad_binding"})
		return
	}
	writeJSON(w, http.StatusOK, bindingJSON{Node: hex.EncodeToString(b.Node[:]), Owner: identity.Address(b.Owner[:]),
		Genesis: hex.EncodeToString(b.Genesis[:]), Binding: EncodeBinding(b)})
}

// apiNodes is GET /api/nodes: the nodes bound to the unlocked identity.
func (s *Server) apiNodes(w http.ResponseWriter, r *http.Request) {
	id, err := s.vault.Identity()
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, apiError{Error: "locked: unlock first", Code: "locked"})
		return
	}
	owned, note := s.ownedView(r.Context(), id)
	writeJSON(w, http.StatusOK, map[string]any{"nodes": owned, "note": note})
}
