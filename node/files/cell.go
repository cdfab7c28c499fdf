package files

import (
	"context"
	"crypto/ed25519"
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

// DNA is the files cell type.
var DNA = cell.DNA{Name: "files", MaxChildren: 10, Protocol: "files/1", Version: 1}

// Defaults for zero Config fields.
const (
	DefaultSyncInterval = time.Minute
	DefaultCallTimeout  = 10 * time.Second
	maxRequest          = MaxHeadSize + 4096
)

var bucketHeads = []byte("heads")

// Config configures one node's files cell.
type Config struct {
	// Host is the node's key, network, transport, verifier and clock.
	Host cell.Host
	// Dir holds the head database (e.g. <data-dir>/files).
	Dir string
	// Members is the files cell's membership view (RegistryMembers).
	Members shard.Membership
	// K is the number of holders per head (default shard.DefaultK).
	K int
	// SyncInterval is the pause between two passes pushing every head kept
	// here to its current top k holders (default 1 min). The repair bound:
	// a head copy lost with its node is back at k within the registry TTL
	// (the dead node leaves the view) plus one SyncInterval. Every client
	// read also pushes the newest head to holders that lack it.
	SyncInterval time.Duration
	// CallTimeout bounds one request to another holder.
	CallTimeout time.Duration
}

// Cell is one node's files cell: the head store and its receptor, and the
// sync loop that keeps each head on its k holders.
type Cell struct {
	cfg    Config
	log    *slog.Logger
	db     *bolt.DB
	client *cell.Client
	self   ed25519.PublicKey
	mu     sync.Mutex // serialises compare and swap per node

	attached atomic.Bool
	kick     chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stop     sync.Once

	accepted, conflicts, synced atomic.Int64
}

// New opens the head database in cfg.Dir; Attach starts the sync loop.
func New(cfg Config) (*Cell, error) {
	h := cfg.Host
	if len(h.Key) != ed25519.PrivateKeySize || h.Transport == nil || h.Verifier == nil || h.Now == nil || h.Network == "" {
		return nil, errors.New("files: Host needs Key, Network, Transport, Verifier and Now")
	}
	if cfg.Dir == "" || cfg.Members == nil {
		return nil, errors.New("files: Dir and Members are required")
	}
	if cfg.K <= 0 {
		cfg.K = shard.DefaultK
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
		return nil, fmt.Errorf("files: %w", err)
	}
	db, err := bolt.Open(filepath.Join(cfg.Dir, "heads.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("files: open head database: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketHeads)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("files: head database: %w", err)
	}
	return &Cell{
		cfg: cfg, log: log.With("cell", DNA.Name), db: db,
		client: &cell.Client{Transport: h.Transport, Key: h.Key, Network: h.Network, Verifier: h.Verifier, Now: h.Now},
		self:   h.Key.Public().(ed25519.PublicKey),
		kick:   make(chan struct{}, 1),
	}, nil
}

// Type is the files cell type to pass to cell.Start.
func (c *Cell) Type() cell.Type {
	return cell.Type{
		DNA: DNA,
		Receptor: map[string]cell.ReceptorFunc{
			KindPutHead:  c.handlePut,
			KindGetHead:  c.handleGet,
			KindSyncHead: c.handleSync,
		},
		MaxRequest: maxRequest,
		Status:     func() any { return c.Status() },
	}
}

// Attach starts the sync loop; rt is the runtime started with Type().
func (c *Cell) Attach(rt *cell.Runtime) error {
	if !c.attached.CompareAndSwap(false, true) {
		return errors.New("files: already attached")
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

// Head returns the head kept here for account, or nil.
func (c *Cell) Head(account ed25519.PublicKey) (*SignedHead, error) {
	var raw []byte
	if err := c.db.View(func(tx *bolt.Tx) error {
		raw = append(raw, tx.Bucket(bucketHeads).Get(account)...)
		return nil
	}); err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, nil
	}
	return VerifyHead(raw)
}

// swap stores h if accept(current) says so, atomically with the read.
func (c *Cell) swap(h *SignedHead, accept func(cur *SignedHead) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, err := c.Head(ed25519.PublicKey(h.Account))
	if err != nil {
		return err
	}
	if err := accept(cur); err != nil {
		return err
	}
	// bbolt fsyncs on commit: an acknowledged head survives kill -9.
	return c.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketHeads).Put(h.Account, h.raw) })
}

func headError(err error) error {
	if errors.Is(err, ErrBadSignature) {
		return cell.Errorf(CodeForgedHead, "%v", err)
	}
	return cell.Errorf(cell.CodeBadRequest, "%v", err)
}

func (c *Cell) handlePut(_ context.Context, req *cell.Request) ([]byte, error) {
	h, err := decodeHeadMsg(req.Env.Payload)
	if err != nil {
		return nil, headError(err)
	}
	if !req.Env.Sender.Equal(ed25519.PublicKey(h.Account)) {
		return nil, cell.Errorf(cell.CodeUnauthorized, "only the account itself updates its head")
	}
	err = c.swap(h, func(cur *SignedHead) error {
		if cur != nil && cur.hash == h.hash {
			return errSame
		}
		if !Successor(cur, h) {
			seq := uint64(0)
			if cur != nil {
				seq = cur.Seq
			}
			return cell.Errorf(CodeConflict, "head %d does not follow the head kept here (seq %d); re-read and retry", h.Seq, seq)
		}
		return nil
	})
	switch {
	case errors.Is(err, errSame):
		return nil, nil
	case cell.HasCode(err, CodeConflict):
		c.conflicts.Add(1)
		return nil, err
	case err != nil:
		c.log.Error("files: store head", "err", err)
		return nil, cell.Errorf(cell.CodeInternal, "the node could not store the head; try another node")
	}
	c.accepted.Add(1)
	return nil, nil
}

var errSame = errors.New("same head")

func (c *Cell) handleSync(_ context.Context, req *cell.Request) ([]byte, error) {
	h, err := decodeHeadMsg(req.Env.Payload)
	if err != nil {
		return nil, headError(err)
	}
	err = c.swap(h, func(cur *SignedHead) error {
		if cur != nil && cur.Seq >= h.Seq {
			return errSame
		}
		return nil
	})
	if err != nil && !errors.Is(err, errSame) {
		c.log.Error("files: store synced head", "err", err)
		return nil, cell.Errorf(cell.CodeInternal, "the node could not store the head")
	}
	if err == nil {
		c.synced.Add(1)
	}
	return nil, nil
}

func (c *Cell) handleGet(_ context.Context, req *cell.Request) ([]byte, error) {
	acct, err := decodeAccount(req.Env.Payload)
	if err != nil {
		return nil, cell.Errorf(cell.CodeBadRequest, "%v", err)
	}
	h, err := c.Head(acct)
	if err != nil {
		c.log.Error("files: read head", "err", err)
		return nil, cell.Errorf(cell.CodeInternal, "the node could not read its heads")
	}
	if h == nil {
		return nil, cell.Errorf(cell.CodeNotFound, "no head kept here for this account")
	}
	return wire.Marshal(headMsg{Head: h.raw})
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
	Heads  int `json:"heads"`
	Pushed int `json:"pushed"`
	Failed int `json:"failed"`
}

// Sync pushes every head kept here to its current top k holders. A
// holder that has it already answers at once; one that is new to the set
// (a holder died and the view moved) gets its copy here.
func (c *Cell) Sync(ctx context.Context) SyncReport {
	var rep SyncReport
	members, err := c.cfg.Members.Members(ctx)
	if err != nil || len(members) == 0 {
		return rep
	}
	var heads [][]byte
	c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHeads).ForEach(func(_, v []byte) error {
			heads = append(heads, append([]byte(nil), v...))
			return nil
		})
	})
	for _, raw := range heads {
		if ctx.Err() != nil {
			return rep
		}
		h, err := VerifyHead(raw)
		if err != nil {
			continue
		}
		rep.Heads++
		payload, _ := wire.Marshal(headMsg{Head: raw})
		for _, m := range shard.Holders(HeadID(ed25519.PublicKey(h.Account)), members, c.cfg.K) {
			if m.Key.Equal(c.self) {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
			_, err := c.client.Call(cctx, cell.Target{Key: m.Key, Addr: m.Addr}, DNA, KindSyncHead, payload)
			cancel()
			if err != nil {
				rep.Failed++
			} else {
				rep.Pushed++
			}
		}
	}
	return rep
}

// Status is the cell's monitor section.
type Status struct {
	Heads     int   `json:"heads"`
	Accepted  int64 `json:"accepted"`
	Conflicts int64 `json:"conflicts"`
	Synced    int64 `json:"synced"`
}

// Status returns the monitor section.
func (c *Cell) Status() Status {
	st := Status{Accepted: c.accepted.Load(), Conflicts: c.conflicts.Load(), Synced: c.synced.Load()}
	c.db.View(func(tx *bolt.Tx) error {
		st.Heads = tx.Bucket(bucketHeads).Stats().KeyN
		return nil
	})
	return st
}
