package mail

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

// DNA is the mail cell type.
var DNA = cell.DNA{Name: "mail", MaxChildren: 10, Protocol: "mail/1", Version: 1}

// Defaults for zero Config fields.
const (
	DefaultSyncInterval = time.Minute
	DefaultCallTimeout  = 10 * time.Second
	// DefaultDifficulty is the stamp's leading zero bits: about 2^20
	// hashes, a fraction of a second for one letter, hours for a million.
	DefaultDifficulty = 20
	// DefaultMaxMessages bounds one mailbox on one holder.
	DefaultMaxMessages = 10000
	maxRequest         = MaxSealedSize + 4096
)

var (
	bucketKeys   = []byte("keys")
	bucketMsgs   = []byte("msgs")
	bucketTombs  = []byte("tombs")
	bucketVaults = []byte("vaults")
)

// Config configures one node's mail cell.
type Config struct {
	// Host is the node's key, network, transport, verifier and clock.
	Host cell.Host
	// Dir holds the mailbox database (e.g. <data-dir>/mail).
	Dir string
	// Members is the mail cell's membership view (RegistryMembers).
	Members shard.Membership
	// K is the number of holders per mailbox (default shard.DefaultK).
	K int
	// Difficulty is the stamp's required leading zero bits (default
	// DefaultDifficulty; a negative value turns stamps off, for tests).
	Difficulty int
	// MaxMessages bounds one mailbox here (default DefaultMaxMessages).
	MaxMessages int
	// SyncInterval is the pause between passes pushing every record,
	// message and tombstone kept here to its current top k holders.
	SyncInterval time.Duration
	// CallTimeout bounds one request to another holder.
	CallTimeout time.Duration
}

// Cell is one node's mail cell: key records, sealed messages and
// tombstones per mailbox, the receptor, and the sync loop.
type Cell struct {
	cfg    Config
	log    *slog.Logger
	db     *bolt.DB
	client *cell.Client
	self   ed25519.PublicKey
	mu     sync.Mutex

	attached atomic.Bool
	kick     chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stop     sync.Once

	delivered, refused, synced atomic.Int64

	// pushed remembers which item each holder acknowledged since the last
	// full pass, so a steady mailbox costs a sync pass almost nothing;
	// every fullSyncEvery-th pass sends everything again (a holder may
	// have lost its disk).
	pushMu sync.Mutex
	pushed map[[32]byte]struct{}
	passes int
}

// fullSyncEvery is how often a sync pass sends every item regardless.
const fullSyncEvery = 10

// New opens the mailbox database in cfg.Dir; Attach starts the sync loop.
func New(cfg Config) (*Cell, error) {
	h := cfg.Host
	if len(h.Key) != ed25519.PrivateKeySize || h.Transport == nil || h.Verifier == nil || h.Now == nil || h.Network == "" {
		return nil, errors.New("mail: Host needs Key, Network, Transport, Verifier and Now")
	}
	if cfg.Dir == "" || cfg.Members == nil {
		return nil, errors.New("mail: Dir and Members are required")
	}
	if cfg.K <= 0 {
		cfg.K = shard.DefaultK
	}
	if cfg.Difficulty == 0 {
		cfg.Difficulty = DefaultDifficulty
	}
	if cfg.MaxMessages <= 0 {
		cfg.MaxMessages = DefaultMaxMessages
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	db, err := bolt.Open(filepath.Join(cfg.Dir, "mail.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("mail: open database: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketKeys, bucketMsgs, bucketTombs, bucketVaults} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("mail: database: %w", err)
	}
	return &Cell{
		cfg: cfg, log: log.With("cell", DNA.Name), db: db,
		client: &cell.Client{Transport: h.Transport, Key: h.Key, Network: h.Network, Verifier: h.Verifier, Now: h.Now},
		self:   h.Key.Public().(ed25519.PublicKey),
		kick:   make(chan struct{}, 1),
	}, nil
}

// Type is the mail cell type to pass to cell.Start.
func (c *Cell) Type() cell.Type {
	return cell.Type{
		DNA: DNA,
		Receptor: map[string]cell.ReceptorFunc{
			KindPublishKey: c.handlePublish,
			KindGetKey:     c.handleGetKey,
			KindDeliver:    c.handleDeliver,
			KindList:       c.handleList,
			KindRead:       c.handleRead,
			KindMark:       c.handleMark,
			KindDelete:     c.handleDelete,
			KindPutVault:   c.handlePutVault,
			KindGetVault:   c.handleGetVault,
			KindArchive:    c.handleArchive,
			KindSync:       c.handleSync,
		},
		MaxRequest: maxRequest,
		Status:     func() any { return c.Status() },
	}
}

// Attach starts the sync loop; rt is the runtime started with Type().
func (c *Cell) Attach(rt *cell.Runtime) error {
	if !c.attached.CompareAndSwap(false, true) {
		return errors.New("mail: already attached")
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(1)
	go c.syncLoop(ctx)
	return nil
}

// Close stops the sync loop and closes the database.
func (c *Cell) Close() {
	c.stop.Do(func() {
		if c.cancel != nil {
			c.cancel()
		}
		c.wg.Wait()
		c.db.Close()
	})
}

// SyncNow asks the sync loop for a pass at once.
func (c *Cell) SyncNow() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func msgKey(account []byte, id ID) []byte { return append(bytes.Clone(account), id[:]...) }

// storedMsg is a message kept here: as sealed by its sender (with its
// stamp), or, once its owner read it, only the owner's archived copy.
type storedMsg struct {
	Sealed   []byte `cbor:"1,keyasint,omitempty"`
	Stamp    uint64 `cbor:"2,keyasint"`
	Received int64  `cbor:"3,keyasint"`
	Read     bool   `cbor:"4,keyasint"`
	Archive  []byte `cbor:"5,keyasint,omitempty"`
}

// Record returns the key record kept here for account, or nil.
func (c *Cell) Record(account ed25519.PublicKey) (*SignedRecord, error) {
	var raw []byte
	if err := c.db.View(func(tx *bolt.Tx) error {
		raw = bytes.Clone(tx.Bucket(bucketKeys).Get(account))
		return nil
	}); err != nil || raw == nil {
		return nil, err
	}
	return VerifyRecord(raw)
}

// storeRecord keeps r if it is newer than the one kept here; an older
// one is refused (CodeStale), so a replayed record cannot point senders
// back to a retired prekey. bbolt fsyncs on commit: an acknowledged
// write survives kill -9.
func (c *Cell) storeRecord(r *SignedRecord) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, err := c.Record(ed25519.PublicKey(r.Account))
	if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
		return err
	}
	if cur != nil && !Newer(cur, r) {
		if bytes.Equal(cur.raw, r.raw) {
			return nil
		}
		return cell.Errorf(CodeStale, "a newer key record (time %d) is kept here", cur.Time)
	}
	return c.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketKeys).Put(r.Account, r.raw) })
}

// Vault returns the prekey vault kept here for account, or nil.
func (c *Cell) Vault(account ed25519.PublicKey) (*SignedVault, error) {
	var raw []byte
	if err := c.db.View(func(tx *bolt.Tx) error {
		raw = bytes.Clone(tx.Bucket(bucketVaults).Get(account))
		return nil
	}); err != nil || raw == nil {
		return nil, err
	}
	return VerifyVault(raw)
}

// storeVault keeps v if it is newer than the vault kept here. An older
// version is refused (CodeStale): a lagging holder or a replay cannot
// bring back a retired prekey's secret. The old bytes are overwritten in
// the same transaction (bbolt may keep the freed page until reused; see
// SECURITY.md).
func (c *Cell) storeVault(v *SignedVault) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, err := c.Vault(v.Account)
	if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
		return err
	}
	if cur != nil && !NewerVault(cur, v) {
		if bytes.Equal(cur.raw, v.raw) {
			return nil
		}
		return cell.Errorf(CodeStale, "vault version %d is kept here (offered %d)", cur.Version, v.Version)
	}
	return c.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketVaults).Put(v.Account, v.raw) })
}

// storeMsg keeps a stamped message unless it was deleted or is here.
func (c *Cell) storeMsg(to []byte, id ID, m storedMsg) error {
	k := msgKey(to, id)
	return c.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketTombs).Get(k) != nil {
			return nil
		}
		msgs := tx.Bucket(bucketMsgs)
		if old := msgs.Get(k); old != nil {
			var o storedMsg
			if wire.Unmarshal(old, &o) == nil {
				// Merge: read marks and archives only ever win, so sync
				// cannot bring back the prekey-sealed copy of a message
				// the owner archived.
				n := o
				n.Read = o.Read || m.Read
				n.Received = min(m.Received, o.Received)
				if m.Archive != nil && o.Archive == nil {
					n.Archive, n.Sealed, n.Stamp = m.Archive, nil, 0
				}
				if n.Read == o.Read && n.Received == o.Received && bytes.Equal(n.Archive, o.Archive) {
					return nil
				}
				m = n
			}
		} else if c.count(tx, to) >= c.cfg.MaxMessages {
			return cell.Errorf(CodeMailboxFull, "the mailbox holds %d messages here", c.cfg.MaxMessages)
		}
		b, err := wire.Marshal(m)
		if err != nil {
			return err
		}
		return msgs.Put(k, b)
	})
}

func (c *Cell) count(tx *bolt.Tx, account []byte) int {
	n := 0
	cur := tx.Bucket(bucketMsgs).Cursor()
	for k, _ := cur.Seek(account); k != nil && bytes.HasPrefix(k, account); k, _ = cur.Next() {
		n++
	}
	return n
}

func (c *Cell) applyTomb(t *tomb) error {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(t.Time))
	return c.db.Update(func(tx *bolt.Tx) error {
		tombs := tx.Bucket(bucketTombs)
		for _, id := range t.IDs {
			k := msgKey(t.Account, id)
			if err := tx.Bucket(bucketMsgs).Delete(k); err != nil {
				return err
			}
			if err := tombs.Put(k, t.raw); err != nil {
				return err
			}
		}
		return nil
	})
}

func internal(log *slog.Logger, what string, err error) error {
	var ce *cell.Error
	if errors.As(err, &ce) {
		return err
	}
	log.Error("mail: "+what, "err", err)
	return cell.Errorf(cell.CodeInternal, "the node could not %s; try another node", what)
}

func badRequest(err error) error {
	if errors.Is(err, ErrBadSignature) {
		return cell.Errorf(CodeForged, "%v", err)
	}
	return cell.Errorf(cell.CodeBadRequest, "%v", err)
}

func (c *Cell) handlePublish(_ context.Context, req *cell.Request) ([]byte, error) {
	var m keyMsg
	if err := wire.Unmarshal(req.Env.Payload, &m); err != nil {
		return nil, cell.Errorf(cell.CodeBadRequest, "%v", err)
	}
	r, err := VerifyRecord(m.Record)
	if err != nil {
		return nil, badRequest(err)
	}
	if !req.Env.Sender.Equal(ed25519.PublicKey(r.Account)) {
		return nil, cell.Errorf(cell.CodeUnauthorized, "only the account itself publishes its key record")
	}
	if err := c.storeRecord(r); err != nil {
		return nil, internal(c.log, "store the key record", err)
	}
	return nil, nil
}

func (c *Cell) handleGetKey(_ context.Context, req *cell.Request) ([]byte, error) {
	ar, err := decodeAccountReq(req.Env.Payload)
	if err != nil {
		return nil, badRequest(err)
	}
	r, err := c.Record(ar.Account)
	if err != nil && !errors.Is(err, ErrMalformed) {
		return nil, internal(c.log, "read the key record", err)
	}
	// A record of an older format (version 1, derived prekeys) is as
	// good as none: the owner's next publish replaces it.
	if r == nil {
		return nil, cell.Errorf(cell.CodeNotFound, "no key record kept here for this account")
	}
	return wire.Marshal(keyMsg{Record: r.raw})
}

func (c *Cell) deliver(raw []byte, stamp uint64, received int64, read bool) error {
	s, err := DecodeSealed(raw)
	if err != nil {
		return badRequest(err)
	}
	id := ID(sha256Sum(raw))
	if c.cfg.Difficulty > 0 && !StampValid(id, s.To, stamp, c.cfg.Difficulty) {
		c.refused.Add(1)
		return cell.Errorf(CodeBadStamp, "the stamp needs %d leading zero bits", c.cfg.Difficulty)
	}
	if err := c.storeMsg(s.To, id, storedMsg{Sealed: raw, Stamp: stamp, Received: received, Read: read}); err != nil {
		return internal(c.log, "store the message", err)
	}
	return nil
}

func (c *Cell) handleDeliver(_ context.Context, req *cell.Request) ([]byte, error) {
	_, raw, _, stamp, err := decodeDeliver(req.Env.Payload)
	if err != nil {
		return nil, badRequest(err)
	}
	if err := c.deliver(raw, stamp, c.cfg.Host.Now(), false); err != nil {
		return nil, err
	}
	c.delivered.Add(1)
	return nil, nil
}

// owner checks that the request was signed by the mailbox's account and
// addressed to this node: the envelope is fresh and not replayed here
// (the node's verifier saw to that), and naming the node stops a holder
// that received it from replaying it to another holder.
func (c *Cell) owner(req *cell.Request, account, node []byte) error {
	if !req.Env.Sender.Equal(ed25519.PublicKey(account)) {
		return cell.Errorf(cell.CodeUnauthorized, "only the mailbox owner may do this")
	}
	if !c.self.Equal(ed25519.PublicKey(node)) {
		return cell.Errorf(cell.CodeUnauthorized, "the request is addressed to another node")
	}
	return nil
}

func (c *Cell) handleList(_ context.Context, req *cell.Request) ([]byte, error) {
	ar, err := decodeAccountReq(req.Env.Payload)
	if err != nil {
		return nil, badRequest(err)
	}
	acct := ar.Account
	if err := c.owner(req, acct, ar.Node); err != nil {
		return nil, err
	}
	var out listAnswer
	err = c.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketMsgs).Cursor()
		for k, v := cur.Seek(acct); k != nil && bytes.HasPrefix(k, acct); k, v = cur.Next() {
			var m storedMsg
			if wire.Unmarshal(v, &m) != nil {
				continue
			}
			out.Entries = append(out.Entries, Entry{ID: ID(k[len(acct):]), Size: len(m.Sealed) + len(m.Archive), Received: m.Received, Read: m.Read})
		}
		return nil
	})
	if err != nil {
		return nil, internal(c.log, "list the mailbox", err)
	}
	return wire.Marshal(out)
}

func (c *Cell) get(acct []byte, id ID) (*storedMsg, error) {
	var m *storedMsg
	err := c.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMsgs).Get(msgKey(acct, id))
		if v == nil {
			return nil
		}
		m = new(storedMsg)
		return wire.Unmarshal(v, m)
	})
	return m, err
}

func (c *Cell) handleRead(_ context.Context, req *cell.Request) ([]byte, error) {
	r, id, err := decodeMailboxReq(req.Env.Payload)
	if err != nil {
		return nil, badRequest(err)
	}
	if err := c.owner(req, r.Account, r.Node); err != nil {
		return nil, err
	}
	m, err := c.get(r.Account, id)
	if err != nil {
		return nil, internal(c.log, "read the message", err)
	}
	if m == nil {
		return nil, cell.Errorf(cell.CodeNotFound, "no such message kept here")
	}
	return wire.Marshal(readAnswer{Sealed: m.Sealed, Archive: m.Archive, Received: m.Received, Read: m.Read})
}

func (c *Cell) handleMark(_ context.Context, req *cell.Request) ([]byte, error) {
	r, id, err := decodeMailboxReq(req.Env.Payload)
	if err != nil {
		return nil, badRequest(err)
	}
	if err := c.owner(req, r.Account, r.Node); err != nil {
		return nil, err
	}
	err = c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMsgs)
		k := msgKey(r.Account, id)
		v := b.Get(k)
		if v == nil {
			return cell.Errorf(cell.CodeNotFound, "no such message kept here")
		}
		var m storedMsg
		if err := wire.Unmarshal(v, &m); err != nil {
			return err
		}
		m.Read = r.Read
		nv, err := wire.Marshal(m)
		if err != nil {
			return err
		}
		return b.Put(k, nv)
	})
	if err != nil {
		return nil, internal(c.log, "mark the message", err)
	}
	return nil, nil
}

func (c *Cell) handleDelete(_ context.Context, req *cell.Request) ([]byte, error) {
	t, err := decodeDelete(req.Env.Payload)
	if err != nil {
		return nil, badRequest(err)
	}
	if !req.Env.Sender.Equal(t.Account) {
		return nil, cell.Errorf(cell.CodeUnauthorized, "only the mailbox owner may delete")
	}
	if err := c.applyTomb(t); err != nil {
		return nil, internal(c.log, "delete the messages", err)
	}
	return nil, nil
}

func (c *Cell) handlePutVault(_ context.Context, req *cell.Request) ([]byte, error) {
	v, err := decodeVaultMsg(req.Env.Payload)
	if err != nil {
		return nil, badRequest(err)
	}
	if !req.Env.Sender.Equal(v.Account) {
		return nil, cell.Errorf(cell.CodeUnauthorized, "only the account itself stores its vault")
	}
	if err := c.storeVault(v); err != nil {
		return nil, internal(c.log, "store the vault", err)
	}
	return nil, nil
}

func (c *Cell) handleGetVault(_ context.Context, req *cell.Request) ([]byte, error) {
	ar, err := decodeAccountReq(req.Env.Payload)
	if err != nil {
		return nil, badRequest(err)
	}
	if err := c.owner(req, ar.Account, ar.Node); err != nil {
		return nil, err
	}
	v, err := c.Vault(ar.Account)
	if err != nil {
		return nil, internal(c.log, "read the vault", err)
	}
	if v == nil {
		return nil, cell.Errorf(cell.CodeNotFound, "no vault kept here for this account")
	}
	return wire.Marshal(vaultMsg{Vault: v.raw})
}

func (c *Cell) handleArchive(_ context.Context, req *cell.Request) ([]byte, error) {
	a, err := decodeArchiveReq(req.Env.Payload)
	if err != nil {
		return nil, badRequest(err)
	}
	if !req.Env.Sender.Equal(a.Account) {
		return nil, cell.Errorf(cell.CodeUnauthorized, "only the mailbox owner archives its mail")
	}
	if err := c.storeMsg(a.Account, a.ID, storedMsg{Archive: a.raw, Received: c.cfg.Host.Now(), Read: true}); err != nil {
		return nil, internal(c.log, "archive the message", err)
	}
	return nil, nil
}

func (c *Cell) handleSync(_ context.Context, req *cell.Request) ([]byte, error) {
	m, err := decodeSyncMsg(req.Env.Payload)
	if err != nil {
		return nil, badRequest(err)
	}
	if m.Record != nil {
		r, err := VerifyRecord(m.Record)
		if err != nil {
			return nil, badRequest(err)
		}
		if err := c.storeRecord(r); err != nil {
			return nil, internal(c.log, "store the key record", err)
		}
	}
	if m.Vault != nil {
		v, err := VerifyVault(m.Vault)
		if err != nil {
			return nil, badRequest(err)
		}
		if err := c.storeVault(v); err != nil {
			return nil, internal(c.log, "store the vault", err)
		}
	}
	if m.Archive != nil {
		a, err := decodeArchive(m.Archive)
		if err != nil {
			return nil, badRequest(err)
		}
		if err := c.storeMsg(a.Account, a.ID, storedMsg{Archive: a.raw, Received: min(m.Received, c.cfg.Host.Now()), Read: m.Read}); err != nil {
			return nil, internal(c.log, "store the archived message", err)
		}
	}
	if m.Tomb != nil {
		t, err := decodeTomb(m.Tomb)
		if err != nil {
			return nil, badRequest(err)
		}
		if err := c.applyTomb(t); err != nil {
			return nil, internal(c.log, "apply the tombstone", err)
		}
	}
	if m.Sealed != nil {
		if err := c.deliver(m.Sealed, m.Stamp, min(m.Received, c.cfg.Host.Now()), m.Read); err != nil {
			return nil, err
		}
	}
	c.synced.Add(1)
	return nil, nil
}

func (c *Cell) syncLoop(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTimer(c.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
		c.Sync(ctx)
		t.Reset(c.cfg.SyncInterval)
	}
}

// SyncReport says what one sync pass did.
type SyncReport struct {
	Items  int `json:"items"`
	Pushed int `json:"pushed"`
	Failed int `json:"failed"`
	// HandedOff counts vaults dropped here after every holder took them.
	HandedOff int `json:"handed_off"`
}

type syncItem struct {
	account []byte
	msg     syncMsg
}

// Sync pushes every key record, vault, message and tombstone kept here
// to the current top k holders of its mailbox, skipping what a holder
// already acknowledged since the last full pass (every fullSyncEvery-th
// pass is full). Pushes are idempotent; a digest exchange is the next
// step when mailboxes grow.
func (c *Cell) Sync(ctx context.Context) SyncReport {
	c.pushMu.Lock()
	defer c.pushMu.Unlock()
	if c.passes%fullSyncEvery == 0 || c.pushed == nil {
		c.pushed = map[[32]byte]struct{}{}
	}
	c.passes++
	var rep SyncReport
	members, err := c.cfg.Members.Members(ctx)
	if err != nil || len(members) == 0 {
		return rep
	}
	var items []syncItem
	c.db.View(func(tx *bolt.Tx) error {
		tx.Bucket(bucketKeys).ForEach(func(k, v []byte) error {
			items = append(items, syncItem{bytes.Clone(k), syncMsg{Record: bytes.Clone(v)}})
			return nil
		})
		tx.Bucket(bucketVaults).ForEach(func(k, v []byte) error {
			items = append(items, syncItem{bytes.Clone(k), syncMsg{Vault: bytes.Clone(v)}})
			return nil
		})
		tx.Bucket(bucketMsgs).ForEach(func(k, v []byte) error {
			var m storedMsg
			if len(k) == 64 && wire.Unmarshal(v, &m) == nil {
				items = append(items, syncItem{bytes.Clone(k[:32]), syncMsg{Sealed: m.Sealed, Stamp: m.Stamp, Archive: m.Archive, Received: m.Received, Read: m.Read}})
			}
			return nil
		})
		seen := map[string]bool{}
		tx.Bucket(bucketTombs).ForEach(func(k, v []byte) error {
			if len(k) == 64 && !seen[string(v)] {
				seen[string(v)] = true
				items = append(items, syncItem{bytes.Clone(k[:32]), syncMsg{Tomb: bytes.Clone(v)}})
			}
			return nil
		})
		return nil
	})
	for _, it := range items {
		if ctx.Err() != nil {
			return rep
		}
		rep.Items++
		payload, err := wire.Marshal(it.msg)
		if err != nil {
			continue
		}
		holder, handed := false, true
		for _, m := range shard.Holders(MailboxID(ed25519.PublicKey(it.account)), members, c.cfg.K) {
			if m.Key.Equal(c.self) {
				holder = true
				continue
			}
			h := sha256.New()
			h.Write(m.Key)
			h.Write(payload)
			var key [32]byte
			h.Sum(key[:0])
			if _, ok := c.pushed[key]; ok {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
			_, err := c.client.Call(cctx, cell.Target{Key: m.Key, Addr: m.Addr}, DNA, KindSync, payload)
			cancel()
			switch {
			case err == nil:
				rep.Pushed++
				c.pushed[key] = struct{}{}
			case cell.HasCode(err, CodeStale):
				// The holder keeps a newer one: ours is handed off too.
				rep.Failed++
			default:
				rep.Failed++
				handed = false
			}
		}
		// A vault kept by a node that is not one of its holders (a client
		// fell back to it while a holder was down) is handed off and
		// dropped: no holder would ever send it the next version, so it
		// would keep retired prekey secrets forever.
		if it.msg.Vault != nil && !holder && handed {
			if err := c.dropVault(ed25519.PublicKey(it.account), it.msg.Vault); err != nil {
				c.log.Warn("mail: dropping a handed-off vault", "err", err)
			} else {
				rep.HandedOff++
			}
		}
	}
	return rep
}

// dropVault deletes account's vault if it still is raw.
func (c *Cell) dropVault(account ed25519.PublicKey, raw []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVaults)
		if !bytes.Equal(b.Get(account), raw) {
			return nil
		}
		return b.Delete(account)
	})
}

// Status is the cell's monitor section.
type Status struct {
	Records   int   `json:"records"`
	Messages  int   `json:"messages"`
	Tombs     int   `json:"tombstones"`
	Vaults    int   `json:"vaults"`
	Delivered int64 `json:"delivered"`
	Refused   int64 `json:"refused_stamps"`
	Synced    int64 `json:"synced"`
}

// Status returns the monitor section.
func (c *Cell) Status() Status {
	st := Status{Delivered: c.delivered.Load(), Refused: c.refused.Load(), Synced: c.synced.Load()}
	c.db.View(func(tx *bolt.Tx) error {
		st.Records = tx.Bucket(bucketKeys).Stats().KeyN
		st.Messages = tx.Bucket(bucketMsgs).Stats().KeyN
		st.Tombs = tx.Bucket(bucketTombs).Stats().KeyN
		st.Vaults = tx.Bucket(bucketVaults).Stats().KeyN
		return nil
	})
	return st
}
