package netclient

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

// ErrUploadFailed: an upload gave up after its resume attempts; the error
// wraps the last attempt's cause. The Upload can still be resumed with Run.
var ErrUploadFailed = errors.New("netclient: upload failed")

// StorageConfig configures Storage.
type StorageConfig struct {
	Pool *Pool
	// Key is the person's account key: it signs every request and owns
	// the shards. The caller keeps it and wipes it after Storage is done.
	Key ed25519.PrivateKey
	// FileRoot is the phrase's file-key root (identity.Keys.FileRoot).
	FileRoot *[32]byte
	// K is the number of holders per shard (default shard.DefaultK).
	K int
	// ChunkSize is the plaintext chunk size (default shard.DefaultChunkSize).
	ChunkSize int
	// Parallel is how many shards move at once (default 8).
	Parallel int
	// Resumes is how many times Put resumes after an attempt fails
	// (default 5), waiting a little longer each time.
	Resumes int
	// ResumeBackoff is the first wait before resuming (default 500 ms).
	ResumeBackoff time.Duration
	// OnDelivery is the shard client's (shard.ClientConfig.OnDelivery):
	// every shard a holder sent, for the reader's delivery receipts.
	OnDelivery func(shard.Delivery)
}

// Storage puts and gets files on the shard cell through the pool: holders
// are chosen by placement over the pool's live shard endpoints, every
// store is cut off at its holder's score deadline and moved to the next
// holder, and a Put that fails resumes with the shards not yet stored.
type Storage struct {
	cfg   StorageConfig
	call  *cell.Client
	owner ed25519.PublicKey
	shard *shard.Client
}

// NewStorage checks cfg and fills defaults.
func NewStorage(cfg StorageConfig) (*Storage, error) {
	if cfg.Pool == nil || len(cfg.Key) != ed25519.PrivateKeySize || cfg.FileRoot == nil {
		return nil, errors.New("netclient storage: Pool, Key (the account key) and FileRoot are required")
	}
	if cfg.K <= 0 {
		cfg.K = shard.DefaultK
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = shard.DefaultChunkSize
	}
	if cfg.ChunkSize > shard.MaxChunkSize {
		return nil, fmt.Errorf("netclient storage: chunk size %d exceeds %d", cfg.ChunkSize, shard.MaxChunkSize)
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	if cfg.Resumes <= 0 {
		cfg.Resumes = 5
	}
	if cfg.ResumeBackoff <= 0 {
		cfg.ResumeBackoff = 500 * time.Millisecond
	}
	s := &Storage{cfg: cfg, call: cfg.Pool.Client(cfg.Key), owner: cfg.Key.Public().(ed25519.PublicKey)}
	var err error
	s.shard, err = shard.NewClient(shard.ClientConfig{
		Call: s.call, FileRoot: cfg.FileRoot, Members: shard.MembersFunc(s.Members),
		K: cfg.K, ChunkSize: cfg.ChunkSize, Parallel: cfg.Parallel, CallTimeout: cfg.Pool.cfg.MaxTimeout,
		OnDelivery: cfg.OnDelivery,
	})
	if err != nil {
		return nil, fmt.Errorf("netclient storage: %w", err)
	}
	return s, nil
}

// Members is the placement view: the pool's live shard endpoints. Nodes
// that just failed are left out until they answer again, so placement
// moves their shards to the next holders instead of waiting on them.
func (s *Storage) Members(ctx context.Context) ([]shard.Member, error) {
	ts := s.cfg.Pool.Endpoints(shard.DNA.Name)
	if len(ts) == 0 {
		if err := s.cfg.Pool.Refresh(ctx); err != nil {
			return nil, fmt.Errorf("%w: %w", shard.ErrNoMembers, err)
		}
		ts = s.cfg.Pool.Endpoints(shard.DNA.Name)
	}
	if len(ts) == 0 {
		return nil, shard.ErrNoMembers
	}
	out := make([]shard.Member, len(ts))
	for i, t := range ts {
		out[i] = shard.Member{Key: t.Key, Addr: t.Addr}
	}
	return out, nil
}

// Shard is the underlying shard client (over the same pool membership),
// for reads, deletes and manifests.
func (s *Storage) Shard() *shard.Client { return s.shard }

// Get writes the file of m to w; the shard client fails over between a
// shard's holders, over the pool's live membership.
func (s *Storage) Get(ctx context.Context, m *shard.Manifest, w io.Writer) (shard.GetReport, error) {
	return s.shard.Get(ctx, m, w)
}

// Put stores size bytes of r and returns the manifest. When an attempt
// fails (every holder of some shard unreachable) it refreshes the pool and
// resumes, skipping the shards already stored, up to Resumes times.
func (s *Storage) Put(ctx context.Context, r io.ReaderAt, size int64, progress func(stored int64)) (*shard.Manifest, error) {
	u := s.NewUpload(r, size)
	var err error
	wait := s.cfg.ResumeBackoff
	for attempt := 0; attempt <= s.cfg.Resumes; attempt++ {
		var m *shard.Manifest
		if m, err = u.Run(ctx, progress); err == nil {
			return m, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		s.cfg.Pool.kick()
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, err
		}
		wait *= 2
	}
	return nil, fmt.Errorf("%w after %d resumes: %w", ErrUploadFailed, s.cfg.Resumes, err)
}

// Upload is one file on its way to the network. Run stores what is not
// stored yet; after a failed Run, the next Run resumes.
type Upload struct {
	s     *Storage
	r     io.ReaderAt
	size  int64
	id    shard.FileID
	key   [32]byte
	n     int // chunks
	hash  hash.Hash
	read  int // chunks read (and hashed) so far, in order
	refs  []shard.ShardRef
	plain []int // plaintext length per chunk read

	mu      sync.Mutex
	done    []bool
	sealed  map[int][]byte // read, not yet confirmed stored: kept for a resume
	stored  atomic.Int64
	progMu  sync.Mutex
	resumed int
	skipped int
}

// NewUpload prepares an upload of size bytes of r under a fresh file ID.
func (s *Storage) NewUpload(r io.ReaderAt, size int64) *Upload {
	id := shard.NewFileID()
	cs := int64(s.cfg.ChunkSize)
	n := int((size + cs - 1) / cs)
	return &Upload{
		s: s, r: r, size: size, id: id, key: shard.FileKey(s.cfg.FileRoot, id), n: n,
		hash: shard.NewWholeHash(), refs: make([]shard.ShardRef, n), plain: make([]int, n),
		done: make([]bool, n), sealed: map[int][]byte{},
	}
}

// Resumed is how many times Run resumed after a failure, and Skipped how
// many shards a resume found already held (stored by an attempt whose
// answer was lost).
func (u *Upload) Resumed() (resumes, skipped int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.resumed, u.skipped
}

// Run stores every shard not yet stored and returns the manifest. progress,
// if not nil, gets the plaintext bytes stored so far (one call at a time).
func (u *Upload) Run(ctx context.Context, progress func(stored int64)) (*shard.Manifest, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	u.mu.Lock()
	var retry []int
	for i := range u.read {
		if !u.done[i] {
			retry = append(retry, i)
		}
	}
	if u.read > 0 && len(retry) > 0 {
		u.resumed++
	}
	u.mu.Unlock()
	if len(retry) > 0 {
		retry = u.skipHeld(ctx, retry)
	}
	sem := make(chan struct{}, u.s.cfg.Parallel)
	var wg sync.WaitGroup
	start := func(i int, sealed []byte) bool {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := u.storeShard(ctx, u.refs[i].ID, sealed); err != nil {
				cancel(fmt.Errorf("shard %d: %w", i, err))
				return
			}
			u.mu.Lock()
			u.done[i] = true
			delete(u.sealed, i)
			u.mu.Unlock()
			// One call at a time and in increasing order, so a progress
			// bar needs no locking of its own.
			u.progMu.Lock()
			if s := u.stored.Add(int64(u.plain[i])); progress != nil {
				progress(s)
			}
			u.progMu.Unlock()
		}()
		return true
	}
	for _, i := range retry {
		u.mu.Lock()
		sealed := u.sealed[i]
		u.mu.Unlock()
		if !start(i, sealed) {
			break
		}
	}
	buf := make([]byte, u.s.cfg.ChunkSize)
	for ctx.Err() == nil && u.read < u.n {
		i := u.read
		off := int64(i) * int64(u.s.cfg.ChunkSize)
		n := int(min(int64(len(buf)), u.size-off))
		if _, err := u.r.ReadAt(buf[:n], off); err != nil && !(errors.Is(err, io.EOF) && n > 0) {
			cancel(fmt.Errorf("read at %d: %w", off, err))
			break
		}
		u.hash.Write(buf[:n])
		sealed := shard.SealChunk(&u.key, u.id, uint64(i), buf[:n])
		u.mu.Lock()
		u.refs[i] = shard.ShardRef{ID: shard.IDOf(sealed), Size: uint32(len(sealed))}
		u.plain[i] = n
		u.sealed[i] = sealed
		u.read++
		u.mu.Unlock()
		if !start(i, sealed) {
			break
		}
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("netclient put: %w", err)
	}
	m := &shard.Manifest{FileID: u.id, Size: u.size, ChunkSize: u.s.cfg.ChunkSize, Created: u.s.cfg.Pool.Now(),
		Shards: append([]shard.ShardRef(nil), u.refs...), Owner: u.s.owner}
	m.SetWhole(u.hash.Sum(nil))
	return m, nil
}

// skipHeld asks the current holders of the shards in retry whether they
// already hold them (a store can succeed at the holder while its answer
// is lost) and returns those still to store.
func (u *Upload) skipHeld(ctx context.Context, retry []int) []int {
	members, err := u.s.Members(ctx)
	if err != nil {
		return retry
	}
	k := min(u.s.cfg.K, len(members))
	type ask struct {
		m   shard.Member
		idx []int
	}
	asks := map[string]*ask{}
	for _, i := range retry {
		for _, h := range shard.Rank(u.refs[i].ID, members)[:k] {
			a := asks[string(h.Key)]
			if a == nil {
				a = &ask{m: h}
				asks[string(h.Key)] = a
			}
			a.idx = append(a.idx, i)
		}
	}
	held := map[int]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, a := range asks {
		for lo := 0; lo < len(a.idx); lo += shard.MaxHasIDs {
			idx := a.idx[lo:min(lo+shard.MaxHasIDs, len(a.idx))]
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids := make([]shard.ID, len(idx))
				for j, i := range idx {
					ids[j] = u.refs[i].ID
				}
				payload, err := hasPayload(ids)
				if err != nil {
					return
				}
				var yes []bool
				t := cell.Target{Key: a.m.Key, Addr: a.m.Addr}
				err = u.s.cfg.Pool.DoAt(ctx, t, func(ctx context.Context, t cell.Target) error {
					ans, err := u.s.call.Call(ctx, t, shard.DNA, shard.KindHas, payload)
					if err != nil {
						return err
					}
					yes, err = decodeHasAnswer(ans, len(ids))
					return err
				})
				if err != nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for j, ok := range yes {
					if ok {
						held[idx[j]] = true
					}
				}
			}()
		}
	}
	wg.Wait()
	var out []int
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, i := range retry {
		if held[i] {
			u.done[i] = true
			delete(u.sealed, i)
			u.skipped++
			u.stored.Add(int64(u.plain[i]))
			continue
		}
		out = append(out, i)
	}
	return out
}

// storeShard stores one sealed chunk on its k holders among the live
// members, moving down the placement ranking past each holder that fails
// or is too slow. One copy is enough to go on: the holders' scrub
// re-replicates a shard stored on fewer than k.
func (u *Upload) storeShard(ctx context.Context, id shard.ID, sealed []byte) error {
	members, err := u.s.Members(ctx)
	if err != nil {
		return err
	}
	call := u.s.call
	grant, err := shard.SignStore(call.Key, call.Network, id, len(sealed), call.Now())
	if err != nil {
		return err
	}
	payload, err := wire.Marshal(storeRequest{Grant: grant.Raw(), Data: sealed})
	if err != nil {
		return err
	}
	rank := shard.Rank(id, members)
	want := min(u.s.cfg.K, len(rank))
	acks, next := 0, 0
	var errs []error
	for acks < want && next < len(rank) {
		batch := rank[next:min(next+want-acks, len(rank))]
		next += len(batch)
		results := make(chan error, len(batch))
		for _, h := range batch {
			go func() {
				results <- u.s.cfg.Pool.DoAt(ctx, cell.Target{Key: h.Key, Addr: h.Addr}, func(ctx context.Context, t cell.Target) error {
					_, err := call.Call(ctx, t, shard.DNA, shard.KindStore, payload)
					return err
				})
			}()
		}
		for range batch {
			if err := <-results; err != nil {
				errs = append(errs, err)
			} else {
				acks++
			}
		}
	}
	if acks == 0 {
		return fmt.Errorf("shard %s stored nowhere (%d members): %w", id.Short(), len(members), errors.Join(errs...))
	}
	return nil
}
