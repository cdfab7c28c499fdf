package conduit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/borgios/borgios/node/identity"
)

// Errors of the create flow.
var (
	// ErrNoPendingPhrase: confirm without a phrase created first (or
	// after a lock threw it away).
	ErrNoPendingPhrase = errors.New("conduit: no new phrase to confirm; create one first")
	// ErrConfirmMismatch: a word typed back differs from the phrase.
	ErrConfirmMismatch = errors.New("conduit: a confirmed word does not match")
)

// confirmWords is how many words the person types back: enough to catch a
// sloppy copy, few enough not to be a chore.
const confirmWords = 3

// pendingCreate is a phrase shown but not yet confirmed. It lives only in
// memory and is dropped on lock, confirm, or a new create. The phrase is
// kept as bytes so it can be zeroed; the strings made from it to render
// the page cannot be, which wiping narrows but does not close.
type pendingCreate struct {
	phrase []byte
	ask    []int // 1-based positions, ascending
}

func (p *pendingCreate) words() []string { return strings.Fields(string(p.phrase)) }

func (p *pendingCreate) wipe() { clear(p.phrase) }

// startCreate makes a new phrase and the positions to ask back.
func (s *Server) startCreate() (*pendingCreate, error) {
	if _, unlocked, _ := s.vault.State(); unlocked {
		return nil, ErrAlreadyUnlocked
	}
	m, err := identity.NewMnemonic()
	if err != nil {
		return nil, fmt.Errorf("conduit: creating a phrase: %w", err)
	}
	n := len(strings.Fields(m))
	ask := rand.Perm(n)[:confirmWords]
	for i := range ask {
		ask[i]++
	}
	slices.Sort(ask)
	p := &pendingCreate{phrase: []byte(m), ask: ask}
	s.createMu.Lock()
	if s.pending != nil {
		s.pending.wipe()
	}
	s.pending = p
	s.createMu.Unlock()
	return p, nil
}

// currentCreate returns the pending phrase, or nil.
func (s *Server) currentCreate() *pendingCreate {
	s.createMu.Lock()
	defer s.createMu.Unlock()
	return s.pending
}

func (s *Server) clearPending() {
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if s.pending != nil {
		s.pending.wipe()
		s.pending = nil
	}
}

// MismatchError says which asked-for word was wrong (not what was typed:
// the page shows the field again).
type MismatchError struct{ Position int }

func (e *MismatchError) Error() string {
	return fmt.Sprintf("word %d does not match the phrase shown; check what you wrote down", e.Position)
}

func (e *MismatchError) Unwrap() error { return ErrConfirmMismatch }

// finishCreate checks the typed-back words (position -> word) and, if all
// match, unlocks with the new phrase.
func (s *Server) finishCreate(answers map[int]string) (Identity, error) {
	s.createMu.Lock()
	defer s.createMu.Unlock()
	p := s.pending
	if p == nil {
		return Identity{}, ErrNoPendingPhrase
	}
	words := p.words()
	for _, pos := range p.ask {
		if identity.NormalizeMnemonic(answers[pos]) != words[pos-1] {
			return Identity{}, &MismatchError{Position: pos}
		}
	}
	keys, err := identity.KeysFromMnemonic(string(p.phrase), "")
	if err != nil {
		return Identity{}, fmt.Errorf("conduit: deriving keys: %w", err)
	}
	id, err := s.vault.Unlock(keys)
	if err != nil {
		return Identity{}, err
	}
	p.wipe()
	s.pending = nil
	s.afterUnlock()
	return id, nil
}

// unlockPhrase derives the keys from a typed phrase and unlocks.
func (s *Server) unlockPhrase(mnemonic, passphrase string) (Identity, error) {
	if _, unlocked, _ := s.vault.State(); unlocked {
		return Identity{}, ErrAlreadyUnlocked
	}
	keys, err := identity.KeysFromMnemonic(mnemonic, passphrase)
	if err != nil {
		return Identity{}, err
	}
	id, err := s.vault.Unlock(keys)
	if err != nil {
		return Identity{}, err
	}
	s.clearPending()
	s.afterUnlock()
	return id, nil
}

// afterUnlock publishes the mail key record in the background, so others
// can write to a person before they ever open Mail. It is best effort:
// Mail publishes again when opened.
func (s *Server) afterUnlock() {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.PublishMailKey(ctx); err != nil {
			s.log.Debug("conduit: publishing the mail key after unlock", "err", err)
		}
	}()
}

// lock wipes the keys and any phrase being created.
func (s *Server) lock(reason LockReason) {
	s.vault.Lock(reason)
	s.afterLock()
}

// afterLock forgets what the unlocked person left behind: a phrase being
// created, the delivery receipts' key copy (signing what is pending) and
// the opened mail headers. Every way of locking calls it.
func (s *Server) afterLock() {
	s.clearPending()
	s.closeReceipts()
	s.mailHeads.forget()
}
