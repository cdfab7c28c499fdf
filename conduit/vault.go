package conduit

import (
	"crypto/ed25519"
	"errors"
	"sync"
	"time"

	"github.com/borgios/borgios/node/identity"
)

// ErrLocked is returned by operations that need the keys while the vault
// holds none.
var ErrLocked = errors.New("conduit: locked")

// ErrAlreadyUnlocked is returned when unlocking over an unlocked identity;
// lock first.
var ErrAlreadyUnlocked = errors.New("conduit: already unlocked; lock first")

// LockReason says why the vault is locked, so the page can tell the person
// (an idle lock is a surprise unless explained).
type LockReason string

// Lock reasons.
const (
	LockNever    LockReason = ""         // never unlocked since start
	LockByUser   LockReason = "user"     // Lock pressed
	LockIdle     LockReason = "idle"     // no use for the idle period
	LockUnplug   LockReason = "unplug"   // Prepare to unplug pressed
	LockShutdown LockReason = "shutdown" // the conduit is exiting
)

// Identity is the public part of the unlocked keys: safe to show, log and
// hand to any goroutine.
type Identity struct {
	Address       string
	AccountPublic ed25519.PublicKey
	X25519Public  [32]byte
}

// Vault holds the unlocked keys in memory, and nowhere else. Lock wipes
// them (identity.Keys.Wipe) and drops the reference. The vault also keeps
// the idle clock: Touch on each use, CheckIdle to lock after the idle
// period; time comes from an injected clock so tests need not sleep.
type Vault struct {
	idle time.Duration
	now  func() time.Time

	mu      sync.Mutex
	keys    *identity.Keys
	id      Identity
	last    time.Time
	reason  LockReason
	changed chan struct{} // closed and replaced on every lock or unlock
}

// NewVault returns a locked vault that locks itself after idle without
// Touch (idle <= 0 disables the idle lock). now defaults to time.Now.
func NewVault(idle time.Duration, now func() time.Time) *Vault {
	if now == nil {
		now = time.Now
	}
	return &Vault{idle: idle, now: now, changed: make(chan struct{})}
}

// Unlock takes ownership of k: the caller must not keep or wipe it. If
// the vault already holds keys it wipes k and returns ErrAlreadyUnlocked:
// one identity at a time, never replaced by accident.
func (v *Vault) Unlock(k *identity.Keys) (Identity, error) {
	id := Identity{Address: k.Address(), AccountPublic: k.AccountPublic(), X25519Public: k.X25519Public}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys != nil {
		k.Wipe()
		return Identity{}, ErrAlreadyUnlocked
	}
	v.keys, v.id, v.last, v.reason = k, id, v.now(), ""
	v.notifyLocked()
	return id, nil
}

// Lock wipes the keys, if any, and reports whether there were any. The
// reason is recorded even when already locked, so that an unplug after an
// idle lock says "unplug" on the page.
func (v *Vault) Lock(reason LockReason) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.lockLocked(reason)
}

func (v *Vault) lockLocked(reason LockReason) bool {
	had := v.keys != nil
	if had {
		v.keys.Wipe()
		v.keys = nil
		v.id = Identity{}
	}
	v.reason = reason
	v.notifyLocked()
	return had
}

func (v *Vault) notifyLocked() {
	close(v.changed)
	v.changed = make(chan struct{})
}

// Changed returns a channel closed at the next lock or unlock, for the
// live status stream.
func (v *Vault) Changed() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.changed
}

// Touch records use now, postponing the idle lock.
func (v *Vault) Touch() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.last = v.now()
}

// CheckIdle locks the vault if it has not been touched for the idle
// period, and reports whether it did. The server calls it before every
// request and from a ticker, so keys go even if the browser is closed.
func (v *Vault) CheckIdle() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys == nil || v.idle <= 0 || v.now().Sub(v.last) < v.idle {
		return false
	}
	return v.lockLocked(LockIdle)
}

// Identity returns the unlocked identity, or ErrLocked.
func (v *Vault) Identity() (Identity, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys == nil {
		return Identity{}, ErrLocked
	}
	return v.id, nil
}

// State returns the identity (zero when locked), whether unlocked, and
// the reason for the last lock.
func (v *Vault) State() (id Identity, unlocked bool, reason LockReason) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.id, v.keys != nil, v.reason
}

// Sign signs msg with the account key. It is the one operation the signed
// network client needs, so that client never holds the private key.
func (v *Vault) Sign(msg []byte) ([]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys == nil {
		return nil, ErrLocked
	}
	return ed25519.Sign(v.keys.Account, msg), nil
}

// WithKeys runs f with the keys while holding the vault, so a lock cannot
// wipe them halfway through. f must not keep k or any slice of it, and
// must be quick: every request waits for it.
func (v *Vault) WithKeys(f func(k *identity.Keys) error) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys == nil {
		return ErrLocked
	}
	return f(v.keys)
}
