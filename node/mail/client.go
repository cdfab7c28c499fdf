package mail

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

// ClientConfig configures a person's mail client.
type ClientConfig struct {
	// Call signs every request with the person's account key and
	// verifies every answer.
	Call *cell.Client
	// Keys are the person's keys from the phrase (X25519 and prekeys).
	Keys *identity.Keys
	// Members is the mail cell's membership view.
	Members shard.Membership
	// ShardMembers is the shard cell's view, for attachments (optional:
	// without it the client cannot send or fetch attachments).
	ShardMembers shard.Membership
	// K is the number of holders per mailbox (default shard.DefaultK).
	K int
	// Difficulty of the stamps minted (default DefaultDifficulty; it must
	// be at least the cells').
	Difficulty int
	// PrekeyPeriod, PrekeyGrace: see PrekeyPolicy (DefaultPrekeyPeriod,
	// DefaultPrekeyGrace; a Grace below the Period is raised to it).
	PrekeyPeriod int64
	PrekeyGrace  int64
	// PrekeyRetain: legacy derived prekeys still opened (DefaultPrekeyRetain).
	PrekeyRetain uint64
	// Clock is the network time (Unix ms) for prekey rotation, records
	// and seals (default Call.Now).
	Clock func() int64
	// CallTimeout bounds one request (default 10 s).
	CallTimeout time.Duration
	// HedgeAfter: when a holder has not answered this long, the next one
	// in the ranking is asked as well (default DefaultHedgeAfter).
	HedgeAfter time.Duration
}

// Client is a person's mailbox and outbox. It keeps no state of its own
// beyond a short-lived copy of the prekey vault: everything else derives
// from the phrase or lives on the mailbox holders, so a restore on a
// fresh machine reads the same mail. It is safe for concurrent use.
type Client struct {
	cfg ClientConfig
	me  ed25519.PublicKey

	mu      sync.Mutex
	prekeys []VaultPrekey
	fetched time.Time
	// suspect: holders that did not answer lately (no answer at all, not
	// an error answer) are asked last for a while, so a dead holder costs
	// one call timeout rather than one per request.
	suspect map[string]time.Time
}

// DefaultHedgeAfter is ClientConfig.HedgeAfter's default: well above a
// healthy holder's answer time, well below the call timeout.
const DefaultHedgeAfter = 2 * time.Second

// suspectFor is how long a holder that did not answer is asked last.
const suspectFor = time.Minute

// vaultCacheTTL is how long Read trusts its copy of the vault before
// fetching it again (a prekey missing from it is fetched at once).
const vaultCacheTTL = time.Minute

// NewClient checks cfg and fills defaults.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Call == nil || cfg.Keys == nil || cfg.Members == nil {
		return nil, errors.New("mail client: Call, Keys and Members are required")
	}
	if !bytes.Equal(cfg.Call.Key, cfg.Keys.Account) {
		return nil, errors.New("mail client: Call must sign with Keys.Account")
	}
	if cfg.K <= 0 {
		cfg.K = shard.DefaultK
	}
	if cfg.Difficulty == 0 {
		cfg.Difficulty = DefaultDifficulty
	}
	if cfg.PrekeyPeriod <= 0 {
		cfg.PrekeyPeriod = DefaultPrekeyPeriod
	}
	if cfg.PrekeyGrace < cfg.PrekeyPeriod {
		if cfg.PrekeyGrace <= 0 {
			cfg.PrekeyGrace = 4 * cfg.PrekeyPeriod
		} else {
			cfg.PrekeyGrace = cfg.PrekeyPeriod
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = cfg.Call.Now
	}
	if cfg.PrekeyRetain == 0 {
		cfg.PrekeyRetain = DefaultPrekeyRetain
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.HedgeAfter <= 0 {
		cfg.HedgeAfter = DefaultHedgeAfter
	}
	return &Client{cfg: cfg, me: cfg.Keys.Account.Public().(ed25519.PublicKey)}, nil
}

// Account is the mailbox owner.
func (c *Client) Account() ed25519.PublicKey { return c.me }

func (c *Client) call(ctx context.Context, m shard.Member, kind string, v any) ([]byte, error) {
	payload, err := wire.Marshal(v)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	return c.cfg.Call.Call(ctx, cell.Target{Key: m.Key, Addr: m.Addr}, DNA, kind, payload)
}

type answer struct {
	m   shard.Member
	b   []byte
	err error
}

// each sends one request per holder of account's mailbox, to the first k
// in rendezvous order (holders that did not answer lately last), and to
// the next one down for every one that fails or has not answered after
// HedgeAfter, until k answered (or said not-found or stale) or the
// ranking ends.
func (c *Client) each(ctx context.Context, account ed25519.PublicKey, kind string, req func(shard.Member) any) ([]answer, error) {
	members, err := c.cfg.Members.Members(ctx)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	rank := c.demoteSuspects(shard.Rank(MailboxID(account), members))
	if len(rank) == 0 {
		return nil, fmt.Errorf("%w: no node runs the mail cell", ErrUnavailable)
	}
	var out []answer
	var errs []error
	// Buffered for every call: calls still running when k answered
	// finish into it after we return.
	results := make(chan answer, len(rank))
	good, next, inflight := 0, 0, 0
	launch := func() {
		m := rank[next]
		next++
		inflight++
		go func() {
			b, err := c.call(ctx, m, kind, req(m))
			results <- answer{m: m, b: b, err: err}
		}()
	}
	for inflight < c.cfg.K && next < len(rank) {
		launch()
	}
	// A holder that has not answered after HedgeAfter is probably gone:
	// ask the next one too rather than wait out the call timeout.
	hedge := time.NewTimer(c.cfg.HedgeAfter)
	defer hedge.Stop()
	for inflight > 0 && good < c.cfg.K {
		select {
		case a := <-results:
			inflight--
			if ctx.Err() == nil {
				c.note(a.m, a.err)
			}
			// Not-found and stale are answers about the data, not a
			// holder failing: asking further down would not change them.
			if a.err == nil || cell.HasCode(a.err, cell.CodeNotFound) || cell.HasCode(a.err, CodeStale) {
				good++
				out = append(out, a)
			} else {
				errs = append(errs, a.err)
			}
			for good+inflight < c.cfg.K && next < len(rank) {
				launch()
			}
		case <-hedge.C:
			if next < len(rank) {
				launch()
			}
			hedge.Reset(c.cfg.HedgeAfter)
		}
	}
	if good == 0 {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errs...))
	}
	return out, nil
}

// KeyRecord fetches account's newest key record from its holders.
func (c *Client) KeyRecord(ctx context.Context, account ed25519.PublicKey) (*SignedRecord, error) {
	as, err := c.each(ctx, account, KindGetKey, func(shard.Member) any { return accountReq{Account: account} })
	if err != nil {
		return nil, err
	}
	var best *SignedRecord
	for _, a := range as {
		if a.err != nil {
			continue
		}
		var m keyMsg
		if wire.Unmarshal(a.b, &m) != nil {
			continue
		}
		r, err := VerifyRecord(m.Record)
		if err != nil || !ed25519.PublicKey(r.Account).Equal(account) {
			continue
		}
		if Newer(best, r) {
			best = r
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoKey, identity.Address(account))
	}
	return best, nil
}

// File is an attachment to send.
type File struct {
	Name string
	R    io.Reader
}

// Draft is a message to send.
type Draft struct {
	To          ed25519.PublicKey
	Subject     string
	Body        string
	Attachments []File
	// Stored are attachments already in the shard store (PutAttachment),
	// for callers that receive files one at a time, such as a multipart
	// upload that cannot hold every part open at once. They come first.
	Stored []Attachment
}

// Send stores attachments in the shard store (each under a fresh random
// file-key root that only the sealed letter carries), seals the letter
// to the recipient's key record, mints a stamp and delivers it to the
// recipient's k mailbox holders. It succeeds when at least one holder
// acknowledged (fsynced); the holders' sync brings it to k.
func (c *Client) Send(ctx context.Context, d Draft) (ID, int, error) {
	rec, err := c.KeyRecord(ctx, d.To)
	if err != nil {
		return ID{}, 0, err
	}
	now := c.cfg.Clock()
	l := Letter{Subject: d.Subject, Body: d.Body, Time: now, Attachments: append([]Attachment(nil), d.Stored...)}
	for _, f := range d.Attachments {
		a, err := c.PutAttachment(ctx, f)
		if err != nil {
			return ID{}, 0, err
		}
		l.Attachments = append(l.Attachments, a)
	}
	raw, id, err := SealLetter(c.cfg.Keys.Account, rec, l, now)
	if err != nil {
		return ID{}, 0, err
	}
	stamp := MintStamp(id, d.To, c.cfg.Difficulty)
	as, err := c.each(ctx, d.To, KindDeliver, func(shard.Member) any { return deliverReq{Sealed: raw, Stamp: stamp} })
	if err != nil {
		return id, 0, fmt.Errorf("mail: deliver: %w", err)
	}
	n := 0
	for _, a := range as {
		if a.err == nil {
			n++
		}
	}
	if n == 0 {
		return id, 0, fmt.Errorf("mail: deliver: %w", ErrUnavailable)
	}
	return id, n, nil
}

func (c *Client) shardClient(root *[32]byte) (*shard.Client, error) {
	if c.cfg.ShardMembers == nil {
		return nil, errors.New("mail: attachments need ShardMembers")
	}
	return shard.NewClient(shard.ClientConfig{Call: c.cfg.Call, FileRoot: root, Members: c.cfg.ShardMembers, CallTimeout: 2 * c.cfg.CallTimeout})
}

// PutAttachment stores f in the shard store under a fresh random
// file-key root, for Draft.Stored. Until a letter carrying it is sent,
// nobody but this client can read it.
func (c *Client) PutAttachment(ctx context.Context, f File) (Attachment, error) {
	var root [32]byte
	rand.Read(root[:])
	sc, err := c.shardClient(&root)
	if err != nil {
		return Attachment{}, err
	}
	m, err := sc.Put(ctx, f.R, nil)
	if err != nil {
		return Attachment{}, fmt.Errorf("mail: attachment %s: %w", f.Name, err)
	}
	mb, err := wire.Marshal(m)
	if err != nil {
		return Attachment{}, err
	}
	return Attachment{Name: f.Name, Size: m.Size, Root: root[:], Manifest: mb}, nil
}

// FetchAttachment reads an attachment of an opened letter into w; its
// shards are checked against the manifest's hash.
func (c *Client) FetchAttachment(ctx context.Context, a Attachment, w io.Writer) error {
	if len(a.Root) != 32 {
		return fmt.Errorf("%w: attachment root", ErrMalformed)
	}
	var m shard.Manifest
	if err := wire.Unmarshal(a.Manifest, &m); err != nil {
		return fmt.Errorf("%w: attachment manifest: %v", ErrMalformed, err)
	}
	if err := m.Check(); err != nil {
		return fmt.Errorf("%w: attachment manifest: %v", ErrMalformed, err)
	}
	root := [32]byte(a.Root)
	sc, err := c.shardClient(&root)
	if err != nil {
		return err
	}
	if _, err := sc.Get(ctx, &m, w); err != nil {
		return fmt.Errorf("mail: attachment %s: %w", a.Name, err)
	}
	return nil
}

// List is the union of the mailbox listings of its holders, oldest first.
func (c *Client) List(ctx context.Context) ([]Entry, error) {
	as, err := c.each(ctx, c.me, KindList, func(m shard.Member) any { return accountReq{Account: c.me, Node: m.Key} })
	if err != nil {
		return nil, err
	}
	byID := map[ID]Entry{}
	for _, a := range as {
		if a.err != nil {
			continue
		}
		es, err := decodeList(a.b)
		if err != nil {
			continue
		}
		for _, e := range es {
			if o, ok := byID[e.ID]; ok {
				e.Read = e.Read || o.Read
				e.Received = min(e.Received, o.Received)
			}
			byID[e.ID] = e
		}
	}
	out := make([]Entry, 0, len(byID))
	for _, e := range byID {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Received != out[j].Received {
			return out[i].Received < out[j].Received
		}
		return bytes.Compare(out[i].ID[:], out[j].ID[:]) < 0
	})
	return out, nil
}

// Message is a read message: the opened letter, or only Err when it
// cannot be opened (sealed to a retired prekey, damaged).
type Message struct {
	ID       ID
	Received int64
	Read     bool
	*Opened
}

// Read fetches message id from a holder that has it (checked against its
// ID) and opens it. A message sealed to a prekey is re-sealed into the
// owner's archive on the holders, so retiring the prekey later loses
// nothing read (a failure to archive is not an error: the next read or
// rotation tries again). A flagged message (Opened.Verified false) is
// returned without error.
func (c *Client) Read(ctx context.Context, id ID) (*Message, error) {
	m, _, err := c.read(ctx, id, true)
	return m, err
}

// read is Read; archived reports whether the message is in the archive
// after it (or needs none: sealed to the long-term key).
func (c *Client) read(ctx context.Context, id ID, archive bool) (*Message, bool, error) {
	as, err := c.each(ctx, c.me, KindRead, func(m shard.Member) any {
		return mailboxReq{Account: c.me, ID: id[:], Node: m.Key}
	})
	if err != nil {
		return nil, false, err
	}
	var sealed *readAnswer
	for _, a := range as {
		if a.err != nil {
			continue
		}
		ra, err := decodeReadAnswer(a.b)
		if err != nil {
			continue
		}
		if ra.Archive != nil {
			// An archived copy is the owner's own: prefer it.
			ar, err := decodeArchive(ra.Archive)
			if err != nil || ar.ID != id || !ar.Account.Equal(c.me) {
				continue
			}
			o, err := openArchive(c.cfg.Keys, ar)
			if err != nil {
				return nil, false, fmt.Errorf("mail: message %x: %w", id[:6], err)
			}
			return &Message{ID: id, Received: ra.Received, Read: ra.Read, Opened: o}, true, nil
		}
		if sealed == nil && ID(sha256Sum(ra.Sealed)) == id {
			sealed = ra
		}
	}
	if sealed == nil {
		return nil, false, fmt.Errorf("%w: %x", ErrNotFound, id[:6])
	}
	s, err := DecodeSealed(sealed.Sealed)
	if err != nil {
		return nil, false, err
	}
	var prekeys []VaultPrekey
	if s.Prekey && s.Version >= 2 {
		if prekeys, err = c.vaultFor(ctx, s.PrekeyIndex); err != nil {
			return nil, false, fmt.Errorf("mail: message %x: %w", id[:6], err)
		}
	}
	o, inner, err := openSealed(c.cfg.Keys, sealed.Sealed, OpenOptions{Prekeys: prekeys, Now: c.cfg.Clock(), Period: c.cfg.PrekeyPeriod, Retain: c.cfg.PrekeyRetain})
	if err != nil {
		return nil, false, fmt.Errorf("mail: message %x: %w", id[:6], err)
	}
	done := !s.Prekey
	if archive && s.Prekey {
		done = c.archive(ctx, id, inner, false) == nil
	}
	clear(inner)
	return &Message{ID: id, Received: sealed.Received, Read: sealed.Read, Opened: o}, done, nil
}

// archive re-seals a message's signed letter to the owner's archive and
// stores it on the mailbox holders in place of the prekey-sealed bytes.
func (c *Client) archive(ctx context.Context, id ID, inner []byte, longTerm bool) error {
	raw, err := sealArchive(c.cfg.Keys, id, inner, longTerm, c.cfg.Clock())
	if err != nil {
		return err
	}
	as, err := c.each(ctx, c.me, KindArchive, func(shard.Member) any { return archiveReq{Archive: raw} })
	if err != nil {
		return fmt.Errorf("mail: archive: %w", err)
	}
	for _, a := range as {
		if a.err == nil {
			return nil
		}
	}
	return fmt.Errorf("mail: archive: %w", ErrUnavailable)
}

// Mark sets or clears the read mark on every holder that has the message.
func (c *Client) Mark(ctx context.Context, id ID, read bool) error {
	as, err := c.each(ctx, c.me, KindMark, func(m shard.Member) any {
		return mailboxReq{Account: c.me, ID: id[:], Read: read, Node: m.Key}
	})
	if err != nil {
		return err
	}
	for _, a := range as {
		if a.err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %x", ErrNotFound, id[:6])
}

// Delete removes messages from every holder reached; the owner-signed
// tombstone travels with sync to holders that missed it, so the message
// does not come back.
func (c *Client) Delete(ctx context.Context, ids ...ID) error {
	if len(ids) == 0 || len(ids) > MaxTombIDs {
		return fmt.Errorf("mail: delete %d messages: between 1 and %d", len(ids), MaxTombIDs)
	}
	t, err := signTomb(c.cfg.Keys.Account, ids, c.cfg.Clock())
	if err != nil {
		return err
	}
	as, err := c.each(ctx, c.me, KindDelete, func(shard.Member) any { return deleteReq{Tomb: t} })
	if err != nil {
		return fmt.Errorf("mail: delete: %w", err)
	}
	for _, a := range as {
		if a.err == nil {
			return nil
		}
	}
	return fmt.Errorf("mail: delete: %w", ErrUnavailable)
}

// demoteSuspects moves holders that did not answer lately to the end of
// the ranking, keeping the order otherwise.
func (c *Client) demoteSuspects(rank []shard.Member) []shard.Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.suspect) == 0 {
		return rank
	}
	now := time.Now()
	out := make([]shard.Member, 0, len(rank))
	var late []shard.Member
	for _, m := range rank {
		if at, ok := c.suspect[string(m.Key)]; ok && now.Sub(at) < suspectFor {
			late = append(late, m)
		} else {
			out = append(out, m)
		}
	}
	return append(out, late...)
}

// note remembers whether m answered: any answer, even an error code,
// clears it; no answer (timeout, unreachable) makes it a suspect.
func (c *Client) note(m shard.Member, err error) {
	var ce *cell.Error
	answered := err == nil || errors.As(err, &ce)
	c.mu.Lock()
	defer c.mu.Unlock()
	if answered {
		delete(c.suspect, string(m.Key))
		return
	}
	if c.suspect == nil {
		c.suspect = map[string]time.Time{}
	}
	c.suspect[string(m.Key)] = time.Now()
}
