package mail

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/borgios/borgios/node/identity"
)

func keysFor(t testing.TB) (*identity.Keys, string) {
	t.Helper()
	m, err := identity.NewMnemonic()
	if err != nil {
		t.Fatal(err)
	}
	k, err := identity.KeysFromMnemonic(m, "")
	if err != nil {
		t.Fatal(err)
	}
	return k, m
}

const day = 24 * 3600 * 1000

func TestSealOpenPrekeyAndRestore(t *testing.T) {
	a, _ := keysFor(t)
	b, phrase := keysFor(t)
	now := int64(1_800_000_000_000)
	rec, err := NewKeyRecord(b, now, DefaultPrekeyPeriod)
	if err != nil {
		t.Fatal(err)
	}
	raw, id, err := SealLetter(a.Account, rec, Letter{Subject: "hi", Body: "secret body", Time: now}, now)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := DecodeSealed(raw)
	if !s.Prekey {
		t.Fatal("sealed to the long-term key although the prekey is current")
	}
	// Restore: keys from the phrase alone open it.
	b2, err := identity.KeysFromMnemonic(phrase, "")
	if err != nil {
		t.Fatal(err)
	}
	o, err := OpenSealed(b2, raw, OpenOptions{Now: now + day})
	if err != nil {
		t.Fatal(err)
	}
	if !o.Verified || o.Subject != "hi" || o.Body != "secret body" || string(o.From) != string(a.Account.Public().(ed25519.PublicKey)) {
		t.Fatalf("opened %+v", o)
	}
	// Not a third key, not a past the retention window.
	c, _ := keysFor(t)
	if _, err := OpenSealed(c, raw, OpenOptions{Now: now}); !errors.Is(err, ErrNotForMe) {
		t.Fatalf("third key: %v", err)
	}
	late := now + int64(DefaultPrekeyRetain+2)*DefaultPrekeyPeriod
	if _, err := OpenSealed(b, raw, OpenOptions{Now: late}); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("retired prekey still opens: %v", err)
	}
	if !StampValid(id, rec.Account, MintStamp(id, rec.Account, 12), 12) {
		t.Fatal("minted stamp invalid")
	}
	// Tampering with any byte fails.
	raw[len(raw)-1] ^= 1
	if _, err := OpenSealed(b, raw, OpenOptions{Now: now}); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("tampered: %v", err)
	}
}

func TestLongTermFallbackAndForgery(t *testing.T) {
	a, _ := keysFor(t)
	b, _ := keysFor(t)
	m, _ := keysFor(t)
	now := int64(1_800_000_000_000)
	rec, _ := NewKeyRecord(b, now, DefaultPrekeyPeriod)
	after := rec.PrekeyExpiry + 1
	raw, _, err := SealLetter(a.Account, rec, Letter{Subject: "late"}, after)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := DecodeSealed(raw); s.Prekey {
		t.Fatal("expired prekey used")
	}
	if o, err := OpenSealed(b, raw, OpenOptions{Now: after}); err != nil || !o.Verified {
		t.Fatalf("long-term: %v %+v", err, o)
	}
	// Mallory signs a letter but claims to be A.
	forged, err := forgeLetter(m, a, rec, now)
	if err != nil {
		t.Fatal(err)
	}
	o, err := OpenSealed(b, forged, OpenOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if o.Verified || o.Problem == "" {
		t.Fatalf("forged letter not flagged: %+v", o)
	}
}

func TestKeyRecordVerify(t *testing.T) {
	b, _ := keysFor(t)
	r1, _ := NewKeyRecord(b, 1000, DefaultPrekeyPeriod)
	r2, _ := NewKeyRecord(b, 2000, DefaultPrekeyPeriod)
	if !Newer(r1, r2) || Newer(r2, r1) || !Newer(nil, r1) {
		t.Fatal("newest does not win")
	}
	bad := append([]byte(nil), r1.Raw()...)
	bad[len(bad)-3] ^= 1
	if _, err := VerifyRecord(bad); !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrMalformed) {
		t.Fatalf("tampered record: %v", err)
	}
}

func BenchmarkMintStamp16(b *testing.B) {
	var id ID
	to := make([]byte, 32)
	for i := 0; b.Loop(); i++ {
		id[0] = byte(i)
		MintStamp(id, to, 16)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/stamp")
}

func BenchmarkSealOpen(b *testing.B) {
	ka, _ := keysFor(b)
	kb, _ := keysFor(b)
	rec, _ := NewKeyRecord(kb, 1, DefaultPrekeyPeriod)
	body := string(make([]byte, 16<<10))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		raw, _, err := SealLetter(ka.Account, rec, Letter{Body: body}, 1)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := OpenSealed(kb, raw, OpenOptions{Now: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
