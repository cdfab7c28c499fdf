package conduit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/borgios/borgios/node/identity"
)

// testPhrase is BIP39's all-zero-entropy 24-word vector.
const testPhrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon " +
	"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art"

func testKeys(t testing.TB) *identity.Keys {
	t.Helper()
	k, err := identity.KeysFromMnemonic(testPhrase, "")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func allZero(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }

func TestVaultLockWipes(t *testing.T) {
	for _, reason := range []LockReason{LockByUser, LockUnplug, LockShutdown} {
		v := NewVault(time.Minute, nil)
		k := testKeys(t)
		// The vault owns k now; the test keeps views of its secrets only
		// to see them zeroed.
		acct, x, root := k.Account, &k.X25519Private, &k.FileRoot
		id, err := v.Unlock(k)
		if err != nil {
			t.Fatal(err)
		}
		if id.Address != identity.Address(acct.Public().(ed25519.PublicKey)) {
			t.Fatal("identity does not match the keys")
		}
		changed := v.Changed()
		if !v.Lock(reason) {
			t.Fatal("Lock reported no keys")
		}
		select {
		case <-changed:
		default:
			t.Error("Lock did not signal a change")
		}
		if !allZero(acct) || !allZero(x[:]) || !allZero(root[:]) {
			t.Errorf("%s: secrets not wiped", reason)
		}
		if _, err := v.Identity(); !errors.Is(err, ErrLocked) {
			t.Errorf("Identity after lock: %v", err)
		}
		if _, err := v.Sign([]byte("m")); !errors.Is(err, ErrLocked) {
			t.Errorf("Sign after lock: %v", err)
		}
		if err := v.WithKeys(func(*identity.Keys) error { return nil }); !errors.Is(err, ErrLocked) {
			t.Errorf("WithKeys after lock: %v", err)
		}
		if id, unlocked, got := v.State(); unlocked || got != reason || id.Address != "" {
			t.Errorf("State = %+v %v %q", id, unlocked, got)
		}
		if v.Lock(reason) {
			t.Error("second Lock reported keys")
		}
	}
}

func TestVaultSignsAndRefusesSecondUnlock(t *testing.T) {
	v := NewVault(time.Minute, nil)
	id, err := v.Unlock(testKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := v.Sign([]byte("hello"))
	if err != nil || !ed25519.Verify(id.AccountPublic, []byte("hello"), sig) {
		t.Fatalf("Sign: %v", err)
	}
	other := testKeys(t)
	acct := other.Account
	if _, err := v.Unlock(other); !errors.Is(err, ErrAlreadyUnlocked) {
		t.Fatalf("second Unlock: %v", err)
	}
	if !allZero(acct) {
		t.Error("refused keys were not wiped")
	}
	if got, _ := v.Identity(); got.Address != id.Address {
		t.Error("second Unlock replaced the identity")
	}
}

func TestVaultIdleLock(t *testing.T) {
	clock := newFakeClock()
	v := NewVault(15*time.Minute, clock.Now)
	if v.CheckIdle() {
		t.Fatal("idle lock of a locked vault")
	}
	k := testKeys(t)
	acct := k.Account
	if _, err := v.Unlock(k); err != nil {
		t.Fatal(err)
	}
	clock.Advance(14 * time.Minute)
	if v.CheckIdle() {
		t.Fatal("locked before the idle period")
	}
	v.Touch() // use restarts the period
	clock.Advance(14 * time.Minute)
	if v.CheckIdle() {
		t.Fatal("Touch did not postpone the lock")
	}
	clock.Advance(time.Minute)
	if !v.CheckIdle() {
		t.Fatal("not locked after the idle period")
	}
	if !allZero(acct) {
		t.Error("idle lock did not wipe")
	}
	if _, _, reason := v.State(); reason != LockIdle {
		t.Errorf("reason %q", reason)
	}

	// Zero disables the idle lock.
	v = NewVault(0, clock.Now)
	if _, err := v.Unlock(testKeys(t)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(1000 * time.Hour)
	if v.CheckIdle() {
		t.Error("idle lock with idle = 0")
	}
}
