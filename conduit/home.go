package conduit

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/borgios/borgios/node/files"
	"github.com/borgios/borgios/web"
)

// homeWait bounds how long the Home page waits for its balance and
// storage figures; a slow network shows "—" rather than a slow page.
const homeWait = 3 * time.Second

// homeFresh is how long figures are reused: Home is the page people land
// on, and a walk of a large file tree costs a request per folder.
const homeFresh = 30 * time.Second

// homeFacts caches the Home page's figures for one identity.
type homeFacts struct {
	mu      sync.Mutex
	address string
	at      time.Time
	balance string
	storage string
}

// forget drops the cached figures: the tree or the balance just changed.
func (h *homeFacts) forget() {
	h.mu.Lock()
	h.at = time.Time{}
	h.mu.Unlock()
}

// lockTree takes the file-tree lock for a change, which also makes the
// Home page's storage figure stale.
func (s *Server) lockTree() {
	s.treeMu.Lock()
	s.home.forget()
}

// homeFigures returns the unlocked person's balance and the bytes their
// file tree holds, each "—" when the network could not tell in time.
func (s *Server) homeFigures(ctx context.Context, address string) (balance, storage string) {
	h := &s.home
	h.mu.Lock()
	if h.address == address && time.Since(h.at) < homeFresh {
		defer h.mu.Unlock()
		return h.balance, h.storage
	}
	h.mu.Unlock()

	balance, storage = "—", "—"
	if !s.connected() {
		return balance, storage
	}
	ctx, cancel := context.WithTimeout(ctx, homeWait)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if out, err := s.wallet(ctx); err == nil {
			balance = out.Balance.String() + " shells"
		} else {
			s.log.Debug("conduit: home balance", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if n, err := s.storageUsed(ctx); err == nil {
			storage = web.Bytes(n)
		} else {
			s.log.Debug("conduit: home storage", "err", err)
		}
	}()
	wg.Wait()
	if balance != "—" && storage != "—" {
		h.mu.Lock()
		h.address, h.at, h.balance, h.storage = address, time.Now(), balance, storage
		h.mu.Unlock()
	}
	return balance, storage
}

// storageUsed sums the sizes of every file in the person's tree (the
// plaintext bytes; holders keep k encrypted copies of each).
func (s *Server) storageUsed(ctx context.Context) (int64, error) {
	ns, err := s.openSession()
	if err != nil {
		return 0, err
	}
	defer ns.close()
	var total int64
	err = ns.files.Walk(ctx, "/", func(_ string, e files.Entry) error {
		if e.Kind == files.KindFile {
			total += e.Size
		}
		return nil
	})
	if errors.Is(err, files.ErrNotFound) {
		return 0, nil // nothing stored yet
	}
	return total, err
}
