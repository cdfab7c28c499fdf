package mail

import (
	"crypto/ed25519"
	"testing"
)

func FuzzVerifyRecord(f *testing.F) {
	k, _ := keysFor(f)
	r, _ := NewKeyRecord(k, 12345, DefaultPrekeyPeriod)
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
	rec, _ := NewKeyRecord(b, 1, DefaultPrekeyPeriod)
	raw, _, _ := SealLetter(a.Account, rec, Letter{Subject: "s", Body: "b"}, 1)
	f.Add(raw)
	f.Add([]byte{0xa1, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		OpenSealed(b, in, OpenOptions{Now: 1})
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
	})
}
