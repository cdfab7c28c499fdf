package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/shard"
)

// FetchVault returns the newest prekey vault the owner's mailbox holders
// keep (nil when none has one yet) and its prekeys.
func (c *Client) FetchVault(ctx context.Context) (*SignedVault, []VaultPrekey, error) {
	as, err := c.each(ctx, c.me, KindGetVault, func(m shard.Member) any { return accountReq{Account: c.me, Node: m.Key} })
	if err != nil {
		return nil, nil, fmt.Errorf("mail: vault: %w", err)
	}
	var best *SignedVault
	for _, a := range as {
		if a.err != nil {
			continue
		}
		v, err := decodeVaultMsg(a.b)
		if err != nil || !v.Account.Equal(c.me) {
			continue
		}
		if NewerVault(best, v) {
			best = v
		}
	}
	if best == nil {
		return nil, nil, nil
	}
	ps, err := OpenVault(c.cfg.Keys, best)
	if err != nil {
		return nil, nil, fmt.Errorf("mail: vault version %d: %w", best.Version, err)
	}
	c.mu.Lock()
	c.prekeys, c.fetched = ps, time.Now()
	c.mu.Unlock()
	return best, ps, nil
}

// vaultFor returns the cached prekeys, fetched again when stale or when
// they lack index.
func (c *Client) vaultFor(ctx context.Context, index uint64) ([]VaultPrekey, error) {
	c.mu.Lock()
	ps, at := c.prekeys, c.fetched
	c.mu.Unlock()
	has := slices.ContainsFunc(ps, func(p VaultPrekey) bool { return p.Index == index })
	if has && time.Since(at) < vaultCacheTTL {
		return ps, nil
	}
	_, ps, err := c.FetchVault(ctx)
	return ps, err
}

// RotateReport says what one PublishKey did.
type RotateReport struct {
	// Prekey is the published prekey's index; Created says it is new.
	Prekey  uint64 `json:"prekey"`
	Created bool   `json:"created"`
	// Retired lists the prekeys whose secrets were destroyed; Archived
	// counts the messages sealed to them re-sealed into the archive first.
	Retired  []uint64 `json:"retired,omitempty"`
	Archived int      `json:"archived"`
	// Kept lists retirements postponed because a message sealed to the
	// prekey could not be archived yet.
	Kept []uint64 `json:"kept,omitempty"`
	// Vault is the vault version now kept.
	Vault uint64 `json:"vault"`
}

// PublishKey rotates the prekeys as the policy says and publishes the key
// record for the current one. Run it at start and at least once per
// PrekeyPeriod.
func (c *Client) PublishKey(ctx context.Context) error {
	_, err := c.Rotate(ctx)
	return err
}

// Rotate does the work of PublishKey: it reads the vault; makes a new
// random prekey when the newest is PrekeyPeriod old; for every prekey
// whose successor is PrekeyGrace old, re-seals the messages still sealed
// to it into the archive and then drops its secret; writes the next vault
// version to the holders before anything is sealed to a new prekey, reads
// it back (another device may have written the same version), and
// publishes the signed key record.
func (c *Client) Rotate(ctx context.Context) (RotateReport, error) {
	pol := PrekeyPolicy{Period: c.cfg.PrekeyPeriod, Grace: c.cfg.PrekeyGrace}
	for attempt := 0; attempt < 4; attempt++ {
		cur, live, err := c.FetchVault(ctx)
		if err != nil {
			return RotateReport{}, err
		}
		now := c.cfg.Clock()
		plan, err := PlanRotation(live, now, pol, rand.Reader)
		if err != nil {
			return RotateReport{}, err
		}
		rep := RotateReport{Prekey: plan.Current.Index, Created: plan.Created}
		if cur != nil {
			rep.Vault = cur.Version
		}
		if len(plan.Retired) > 0 {
			n, failed := c.archiveSealedTo(ctx, plan.Retired)
			rep.Archived = n
			for _, p := range plan.Retired {
				if failed[p.Index] {
					plan.Keep = append(plan.Keep, p)
					rep.Kept = append(rep.Kept, p.Index)
				} else {
					rep.Retired = append(rep.Retired, p.Index)
				}
			}
			sortPrekeys(plan.Keep)
		}
		if plan.Created || len(rep.Retired) > 0 {
			var version uint64 = 1
			if cur != nil {
				version = cur.Version + 1
			}
			nv, err := SealVault(c.cfg.Keys, version, now, plan.Keep)
			if err != nil {
				return rep, err
			}
			if err := c.putVault(ctx, nv); err != nil {
				if cell.HasCode(err, CodeStale) {
					continue
				}
				return rep, err
			}
			// Read it back: the same version from another device may
			// have won, and then our new prekey is not in it.
			back, _, err := c.FetchVault(ctx)
			if err != nil {
				return rep, err
			}
			if back == nil || !bytes.Equal(back.raw, nv.raw) {
				continue
			}
			rep.Vault = nv.Version
		}
		rec, err := NewKeyRecord(c.cfg.Keys, plan.Current, plan.Current.Created+2*pol.Period, now)
		if err != nil {
			return rep, err
		}
		if err := c.publishRecord(ctx, rec); err != nil {
			return rep, err
		}
		return rep, nil
	}
	return RotateReport{}, ErrVaultConflict
}

func (c *Client) putVault(ctx context.Context, v *SignedVault) error {
	as, err := c.each(ctx, c.me, KindPutVault, func(shard.Member) any { return vaultMsg{Vault: v.raw} })
	if err != nil {
		return fmt.Errorf("mail: store vault: %w", err)
	}
	var errs []error
	ok := 0
	for _, a := range as {
		switch {
		case a.err == nil:
			ok++
		case cell.HasCode(a.err, CodeStale):
			return fmt.Errorf("mail: store vault: %w", a.err)
		default:
			errs = append(errs, a.err)
		}
	}
	if ok == 0 {
		return fmt.Errorf("mail: store vault: %w: %w", ErrUnavailable, errors.Join(errs...))
	}
	return nil
}

func (c *Client) publishRecord(ctx context.Context, r *SignedRecord) error {
	as, err := c.each(ctx, c.me, KindPublishKey, func(shard.Member) any { return keyMsg{Record: r.raw} })
	if err != nil {
		return fmt.Errorf("mail: publish key: %w", err)
	}
	for _, a := range as {
		// Stale: the holder keeps a newer record of ours (another device,
		// or a concurrent publish of this one, was a moment later).
		if a.err == nil || cell.HasCode(a.err, CodeStale) {
			return nil
		}
	}
	return fmt.Errorf("mail: publish key: %w", ErrUnavailable)
}

// archiveSealedTo re-seals every message in the mailbox still sealed to
// one of the retiring prekeys into the archive; failed names the prekeys
// with a message it could not archive (they must not retire yet).
func (c *Client) archiveSealedTo(ctx context.Context, retiring []VaultPrekey) (int, map[uint64]bool) {
	failed := map[uint64]bool{}
	all := func() map[uint64]bool {
		for _, p := range retiring {
			failed[p.Index] = true
		}
		return failed
	}
	es, err := c.List(ctx)
	if err != nil {
		return 0, all()
	}
	n := 0
	for _, e := range es {
		// The listing does not say how a message is sealed: read it raw
		// from a holder to see.
		s, err := c.sealedOf(ctx, e.ID)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue
			}
			return n, all()
		}
		if s == nil || !s.Prekey || s.Version < 2 || !slices.ContainsFunc(retiring, func(p VaultPrekey) bool { return p.Index == s.PrekeyIndex }) {
			continue
		}
		// The retiring secrets are still in the vault: Read opens and
		// archives.
		if _, done, err := c.read(ctx, e.ID, true); err != nil || !done {
			failed[s.PrekeyIndex] = true
			continue
		}
		n++
	}
	return n, failed
}

// sealedOf returns how message id is sealed, or nil when the holders keep
// only its archived copy.
func (c *Client) sealedOf(ctx context.Context, id ID) (*Sealed, error) {
	as, err := c.each(ctx, c.me, KindRead, func(m shard.Member) any {
		return mailboxReq{Account: c.me, ID: id[:], Node: m.Key}
	})
	if err != nil {
		return nil, err
	}
	var out *Sealed
	found := false
	for _, a := range as {
		if a.err != nil {
			continue
		}
		ra, err := decodeReadAnswer(a.b)
		if err != nil {
			continue
		}
		found = true
		if ra.Sealed != nil && ID(sha256Sum(ra.Sealed)) == id {
			if s, err := DecodeSealed(ra.Sealed); err == nil {
				out = s
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: %x", ErrNotFound, id[:6])
	}
	return out, nil
}
