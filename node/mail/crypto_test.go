package mail

import (
	"crypto/ed25519"
	"crypto/rand"
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

// newPrekey makes a vault with one fresh prekey created at now and the
// record publishing it, as a first PublishKey does.
func newPrekey(t testing.TB, k *identity.Keys, now int64) (*SignedRecord, []VaultPrekey) {
	t.Helper()
	r, err := PlanRotation(nil, now, PrekeyPolicy{Period: DefaultPrekeyPeriod, Grace: DefaultPrekeyGrace}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := NewKeyRecord(k, r.Current, now+2*DefaultPrekeyPeriod, now)
	if err != nil {
		t.Fatal(err)
	}
	return rec, r.Keep
}

func TestSealOpenPrekeyAndRestore(t *testing.T) {
	a, _ := keysFor(t)
	b, phrase := keysFor(t)
	now := int64(1_800_000_000_000)
	rec, vault := newPrekey(t, b, now)
	sv, err := SealVault(b, 1, now, vault)
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
	// Restore: keys from the phrase alone open the vault and the message.
	b2, err := identity.KeysFromMnemonic(phrase, "")
	if err != nil {
		t.Fatal(err)
	}
	vb, err := VerifyVault(sv.Raw())
	if err != nil {
		t.Fatal(err)
	}
	live, err := OpenVault(b2, vb)
	if err != nil {
		t.Fatal(err)
	}
	o, err := OpenSealed(b2, raw, OpenOptions{Prekeys: live})
	if err != nil {
		t.Fatal(err)
	}
	if !o.Verified || o.Subject != "hi" || o.Body != "secret body" || string(o.From) != string(a.Account.Public().(ed25519.PublicKey)) {
		t.Fatalf("opened %+v", o)
	}
	// Not a third key (nor its vault), not without the prekey.
	c, _ := keysFor(t)
	if _, err := OpenSealed(c, raw, OpenOptions{Prekeys: live}); !errors.Is(err, ErrNotForMe) {
		t.Fatalf("third key: %v", err)
	}
	if _, err := OpenVault(c, vb); !errors.Is(err, ErrNotForMe) {
		t.Fatalf("third key opened the vault: %v", err)
	}
	if _, err := OpenSealed(b, raw, OpenOptions{}); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("opened without the prekey: %v", err)
	}
	if !StampValid(id, rec.Account, MintStamp(id, rec.Account, 12), 12) {
		t.Fatal("minted stamp invalid")
	}
	// Tampering with any byte fails.
	raw[len(raw)-1] ^= 1
	if _, err := OpenSealed(b, raw, OpenOptions{Prekeys: live}); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("tampered: %v", err)
	}
}

func TestLongTermFallbackAndForgery(t *testing.T) {
	a, _ := keysFor(t)
	b, _ := keysFor(t)
	m, _ := keysFor(t)
	now := int64(1_800_000_000_000)
	rec, live := newPrekey(t, b, now)
	after := rec.PrekeyExpiry + 1
	raw, _, err := SealLetter(a.Account, rec, Letter{Subject: "late"}, after)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := DecodeSealed(raw); s.Prekey {
		t.Fatal("expired prekey used")
	}
	// The recipient is told: the seal and the letter both say it.
	if o, err := OpenSealed(b, raw, OpenOptions{}); err != nil || !o.Verified || !o.LongTerm || !o.NoPrekey {
		t.Fatalf("long-term: %v %+v", err, o)
	}
	// Mallory signs a letter but claims to be A.
	forged, err := forgeLetter(m, a, rec, now)
	if err != nil {
		t.Fatal(err)
	}
	o, err := OpenSealed(b, forged, OpenOptions{Prekeys: live})
	if err != nil {
		t.Fatal(err)
	}
	if o.Verified || o.Problem == "" {
		t.Fatalf("forged letter not flagged: %+v", o)
	}
}

func TestKeyRecordVerify(t *testing.T) {
	b, _ := keysFor(t)
	r1, _ := newPrekey(t, b, 1000)
	r2, _ := newPrekey(t, b, 2000)
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
	rec, live := newPrekey(b, kb, 1)
	body := string(make([]byte, 16<<10))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		raw, _, err := SealLetter(ka.Account, rec, Letter{Body: body}, 1)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := OpenSealed(kb, raw, OpenOptions{Prekeys: live}); err != nil {
			b.Fatal(err)
		}
	}
}
