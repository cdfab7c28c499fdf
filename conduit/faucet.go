package conduit

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/ledger"
)

// errNoFaucet: only borgios demo has a faucet.
var errNoFaucet = errors.New("conduit: this network has no faucet (only borgios demo does)")

// faucet asks the demo faucet for shells for the unlocked identity.
func (s *Server) faucet(ctx context.Context) (ledger.Amount, error) {
	if s.cfg.Faucet == nil {
		return 0, errNoFaucet
	}
	var to ledger.AccountID
	if err := s.vault.WithKeys(func(k *identity.Keys) error {
		to = ledger.AccountID(k.AccountPublic())
		return nil
	}); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, walletTimeout)
	defer cancel()
	defer s.home.forget()
	return s.cfg.Faucet(ctx, to)
}

func (s *Server) postWalletFaucet(w http.ResponseWriter, r *http.Request) {
	amt, err := s.faucet(r.Context())
	if err != nil {
		_, e := walletError(err)
		seeOther(w, r, "/wallet?notice="+url.QueryEscape("The faucet did not pay: "+e.Error))
		return
	}
	seeOther(w, r, "/wallet?notice="+url.QueryEscape("The faucet sent you "+amt.String()+" shells: press Receive."))
}

// apiWalletFaucet is POST /api/wallet/faucet: {"amount": "100.000000"}.
func (s *Server) apiWalletFaucet(w http.ResponseWriter, r *http.Request) {
	if !s.unlocked() {
		writeJSON(w, http.StatusUnauthorized, apiError{Error: "locked: unlock first", Code: "locked"})
		return
	}
	amt, err := s.faucet(r.Context())
	if errors.Is(err, errNoFaucet) {
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error(), Code: "no_faucet"})
		return
	}
	if err != nil {
		s.writeWalletError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"amount": amt.String()})
}
