package mail

import (
	"crypto/ed25519"
	"testing"

	"github.com/borgios/borgios/node/wire"
)

func FuzzVerifyRecord(f *testing.F) {
	k, _ := keysFor(f)
	r, _ := newPrekey(f, k, 12345)
	f.Add(r.Raw())
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := VerifyRecord(b); err == nil {
			if _, err := VerifyRecord(r.Raw()); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzOpenSealed(f *testing.F) {
	a, _ := keysFor(f)
	b, _ := keysFor(f)
	rec, live := newPrekey(f, b, 1)
	raw, _, _ := SealLetter(a.Account, rec, Letter{Subject: "s", Body: "b"}, 1)
	f.Add(raw)
	f.Add([]byte{0xa1, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		OpenSealed(b, in, OpenOptions{Prekeys: live, Now: 1})
	})
}

func FuzzOpenInner(f *testing.F) {
	a, _ := keysFor(f)
	f.Add([]byte{0xa2, 0x01, 0x40, 0x02, 0x40})
	f.Fuzz(func(t *testing.T, in []byte) {
		openInner(in, a.Account.Public().(ed25519.PublicKey))
	})
}

func FuzzDecodeRequests(f *testing.F) {
	f.Add([]byte{0xa1, 0x01, 0x58, 0x20})
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, in []byte) {
		decodeDeliver(in)
		decodeMailboxReq(in)
		decodeTomb(in)
		decodeDelete(in)
		decodeAccountReq(in)
		decodeSyncMsg(in)
		decodeList(in)
		decodeReadAnswer(in)
		decodeVaultMsg(in)
		decodeArchiveReq(in)
		decodeArchive(in)
	})
}

// FuzzVerifyVault: a vault from the network either fails to verify or
// round-trips; the owner's OpenVault never panics on what verified.
func FuzzVerifyVault(f *testing.F) {
	k, _ := keysFor(f)
	_, live := newPrekey(f, k, 1)
	v, _ := SealVault(k, 3, 1, live)
	f.Add(v.Raw())
	f.Add([]byte{0xa2, 0x01, 0x40, 0x02, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := VerifyVault(b)
		if err != nil {
			return
		}
		if _, err := VerifyVault(v.Raw()); err != nil {
			t.Fatal(err)
		}
		OpenVault(k, v)
	})
}

// FuzzVaultContents: the decrypted contents decoder (a corrupt vault
// sealed by a buggy device) never panics and keeps its bounds.
func FuzzVaultContents(f *testing.F) {
	k, _ := keysFor(f)
	_, live := newPrekey(f, k, 1)
	b, _ := wire.Marshal(vaultPlain{Prekeys: live})
	f.Add(b)
	f.Add([]byte{0xa1, 0x01, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := decodeVaultPlain(b)
		if err == nil && len(ps) > MaxVaultPrekeys {
			t.Fatalf("%d prekeys", len(ps))
		}
	})
}

// FuzzOpenArchive: an archived message from a holder either fails to
// verify or opens (or fails to open) without panicking.
func FuzzOpenArchive(f *testing.F) {
	a, _ := keysFor(f)
	b, _ := keysFor(f)
	rec, live := newPrekey(f, b, 1)
	raw, id, _ := SealLetter(a.Account, rec, Letter{Subject: "s", Body: "b"}, 1)
	_, inner, _ := openSealed(b, raw, OpenOptions{Prekeys: live})
	ar, _ := sealArchive(b, id, inner, false, 2)
	f.Add(ar)
	f.Add([]byte{0xa2, 0x01, 0x40, 0x02, 0x40})
	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := decodeArchive(in)
		if err != nil {
			return
		}
		openArchive(b, x)
	})
}
