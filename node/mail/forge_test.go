package mail

import (
	"crypto/ed25519"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/wire"
)

// forgeLetter seals to rec a letter claiming to be from claimed but
// signed by signer.
func forgeLetter(signer, claimed *identity.Keys, rec *SignedRecord, now int64) ([]byte, error) {
	l := Letter{From: claimed.Account.Public().(ed25519.PublicKey), To: rec.Account, Subject: "pay me", Time: now}
	body, err := wire.Marshal(l)
	if err != nil {
		return nil, err
	}
	inner, err := wire.Marshal(signedLetter{Letter: body, Sig: ed25519.Sign(signer.Account, append([]byte(letterSigDomain), body...))})
	if err != nil {
		return nil, err
	}
	raw, _, err := sealInner(rec, inner, now)
	return raw, err
}
